"""Tests of the bias report and model card: sections, caveats, self-containment, determinism."""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest
from audit_inputs import make_metrics
from stage_files import data_quality

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.audit import AuditReport, CoverageSensitivity
from models.audit import (
    AttributeSpec,
    AuditConfig,
    AuditOverride,
    AuditResult,
    GranularityCheck,
    GroupSpec,
    StratumSpec,
    TargetDefinition,
    check_documentation,
    run_audit,
)
from models.report import (
    ECOLOGICAL_CAVEAT,
    FEEDBACK_LOOP_CAVEAT,
    REQUIRED_CARD_SECTIONS,
    REQUIRED_REPORT_SECTIONS,
    DataQualitySummary,
    ReportContext,
    performance_rows,
    render_bias_report,
    render_model_card,
)

METRICS = make_metrics()
DATA_QUALITY = DataQualitySummary.from_dict(
    {
        "rows_in": 120_000,
        "rows_quarantined": 37,
        "quarantined_by_reason": {"latitude_out_of_range": 30, "unknown_crime_type": 7},
        "quarantined_by_source_and_reason": {
            "2024-01-street.csv": {"latitude_out_of_range": 30},
            "2024-02-street.csv": {"unknown_crime_type": 7},
        },
    }
)
VOID = {"meta", "img", "br", "hr", "input", "link", "col", "area", "base", "source", "wbr"}


def _context(**kw: Any) -> ReportContext:
    base: dict[str, Any] = {
        "model_version": "v1.2.3",
        "run_id": "run-42",
        "report_date": dt.date(2025, 1, 6),
        "study_area": "Toy City",
        "target_types": ("burglary", "robbery"),
        "published_resolution": 8,
        "backtest_period": "2024-W01 to 2024-W12",
        "training_data": "Synthetic events before the backtest.",
        "evaluation_data": "Synthetic events in the backtest weeks.",
        "model_params": {"num_leaves": 31, "learning_rate": 0.05},
    }
    base.update(kw)
    return ReportContext(**base)


def _cells_and_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_weeks, n_cells = 12, 400
    lam = rng.lognormal(-0.2, 0.6, n_cells)
    share = rng.uniform(0.05, 0.7, n_cells)
    residents = np.full(n_cells, 300.0)
    cells = pd.DataFrame(
        {
            "residents": residents,
            "area_km2": np.full(n_cells, 0.1),
            "lat": 51.5 + rng.uniform(-0.05, 0.05, n_cells),
            "lon": -0.1 + rng.uniform(-0.08, 0.08, n_cells),
            "res_minority": residents * share,
            "res_majority": residents * (1 - share),
            "minority_share": share,
        }
    )
    y = rng.poisson(lam, size=(n_weeks, n_cells)).astype(float)
    scores = np.tile(lam, (n_weeks, 1))
    top = np.argsort(-lam, kind="stable")[: n_cells // 20]
    flagged = np.zeros((n_weeks, n_cells), dtype=bool)
    flagged[:, top] = True
    return flagged, y, scores, cells


def _audit_result(
    *, override: AuditOverride | None = None, drugs: bool = False, period: str = "week"
) -> AuditResult:
    flagged, y, scores, cells = _cells_and_arrays()
    config = AuditConfig(
        attributes=(
            AttributeSpec(
                name="ethnicity",
                groups={
                    "minority": GroupSpec(
                        column="res_minority", label="residents of ethnic minority groups"
                    ),
                    "majority": GroupSpec(
                        column="res_majority", label="residents of the ethnic majority"
                    ),
                },
            ),
        ),
        strata=(
            StratumSpec(name="minority_share", column="minority_share", label="minority share"),
        ),
        min_flagged_cell_periods=5,
        min_residents=1000,
        n_boot=200,
    )
    target = TargetDefinition(
        target_types=("burglary", "drugs") if drugs else ("burglary", "robbery")
    )
    return run_audit(
        flagged,
        y,
        scores,
        cells,
        config=config,
        target=target,
        granularity=GranularityCheck(
            published_resolution=8, max_resolution=8, event_level_rows=False
        ),
        lift=METRICS.lift,
        override=override,
        period=period,  # type: ignore[arg-type]
    )


def _audit(*, override: AuditOverride | None = None, drugs: bool = False) -> AuditReport:
    return _audit_result(override=override, drugs=drugs).to_report()


def _with(audit: AuditReport, **fields: Any) -> AuditReport:
    """The audit with ``fields`` added, validated as audit.json is."""
    return AuditReport.model_validate({**audit.model_dump(), **fields})


def _cell_map() -> pd.DataFrame:
    flagged, _, _, cells = _cells_and_arrays()
    return pd.DataFrame({"lon": cells["lon"], "lat": cells["lat"], "flag_share": flagged.mean(0)})


def _render(audit: AuditReport, **kw: Any) -> str:
    args: dict[str, Any] = {
        "metrics": METRICS,
        "data_quality": DATA_QUALITY,
        "context": _context(),
        "cell_map": _cell_map(),
    }
    args.update(kw)
    return render_bias_report(audit, **args)


class _Checker(HTMLParser):
    """Collects ids and URL attributes, and checks that non-void tags are balanced."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.urls: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" and value:
                self.ids.append(value)
            if key in {"src", "href"} and value:
                self.urls.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker


@pytest.fixture(scope="module")
def audit() -> AuditReport:
    return _audit()


def test_report_has_every_required_section_and_parses(audit: AuditReport) -> None:
    html = _render(audit)
    checker = _parse(html)
    assert checker.errors == [] and checker.stack == []
    for section in REQUIRED_REPORT_SECTIONS:
        assert section in checker.ids, section
    assert len(checker.ids) == len(set(checker.ids)), "ids must be unique"
    assert html.startswith("<!DOCTYPE html>")


def test_report_is_self_contained(audit: AuditReport) -> None:
    html = _render(audit)
    urls = _parse(html).urls
    assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?https?://""", html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html


def test_report_carries_caveats_and_scope(audit: AuditReport) -> None:
    html = unescape(_render(audit))
    assert FEEDBACK_LOOP_CAVEAT in html
    assert ECOLOGICAL_CAVEAT in html
    assert "No stop-and-search authorisation" in html
    assert "No automated decisions" in html
    assert "No individuals" in html
    assert "unbiased" not in html.lower() and "debiased" not in html.lower()


def test_report_shows_gates_with_colour_and_text(audit: AuditReport) -> None:
    html = _render(audit)
    for gid in ("G1", "G5", "G10"):
        assert f'id="gate-{gid}"' in html
    assert '<span class="status status-pass">PASS</span>' in html
    assert '<span class="status status-not-checked">NOT CHECKED</span>' in html


def test_report_shows_target_performance_and_data_quality(audit: AuditReport) -> None:
    html = _render(audit)
    assert "Burglary, Robbery" in html
    assert "Drugs, Possession of weapons, Public order, Anti-social behaviour" in html
    assert "b4_all_history" in html and "1.120" in html and "1.040 – 1.210" in html  # lift: 3 dp
    assert "6.20" in html  # model PAI
    assert "2024-02-street.csv" in html and "unknown_crime_type" in html


def test_blocked_report_names_the_gate_in_plain_words() -> None:
    html = _render(_audit(drugs=True))
    section = html.split('id="decision"')[1].split("</section>")[0]
    assert "Blocked." in section
    assert "G1 Target purity" in section and "drugs" in section


def test_override_notice_is_printed() -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2025, 1, 10),
        reason="Pilot with weekly human review.",
        gates=("G1",),
    )
    result = _audit_result(override=override, drugs=True)
    draft = result.to_report()
    result = result.with_documentation(
        report_html=_render(draft),
        model_card_md=render_model_card(draft, metrics=METRICS, context=_context()),
        model_version="v1.2.3",
    )
    final = result.to_report()
    assert final.publishable is True and final.override_applied is not None
    html = _render(final)
    section = html.split('id="override"')[1].split("</section>")[0]
    assert "Toy City Ethics Board" in section and "2025-01-10" in section
    assert "Pilot with weekly human review." in section and "G1" in section
    assert "Publishable by override." in html
    card = render_model_card(final, metrics=METRICS, context=_context())
    assert "publishable by override" in card and "Toy City Ethics Board" in card


def test_output_is_deterministic(audit: AuditReport) -> None:
    assert _render(audit) == _render(audit)
    card = render_model_card(audit, metrics=METRICS, context=_context())
    assert card == render_model_card(audit, metrics=METRICS, context=_context())


def test_text_is_escaped(audit: AuditReport) -> None:
    html = _render(audit, context=_context(study_area="<script>alert(1)</script>"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_report_without_map_or_data_quality_still_has_sections(audit: AuditReport) -> None:
    html = render_bias_report(
        audit, metrics=METRICS, data_quality=DataQualitySummary(), context=_context()
    )
    ids = _parse(html).ids
    assert all(s in ids for s in REQUIRED_REPORT_SECTIONS)
    assert "No cell map was supplied" in html
    assert "No data-quality summary was supplied." in html


def test_model_card_has_every_section(audit: AuditReport) -> None:
    card = render_model_card(audit, metrics=METRICS, context=_context())
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert headings == list(REQUIRED_CARD_SECTIONS)
    assert "v1.2.3" in card and "run-42" in card and "2025-01-06" in card
    assert "`num_leaves`: 31" in card
    assert "| Residents of ethnic minority groups (minority) |" in card
    assert "  - minority: residents of ethnic minority groups" in card
    assert FEEDBACK_LOOP_CAVEAT in card


def test_documentation_gate_on_rendered_documents(audit: AuditReport) -> None:
    html = _render(audit)
    card = render_model_card(audit, metrics=METRICS, context=_context())
    assert check_documentation(html, card, model_version="v1.2.3").status == "PASS"
    for section in ("gates", "ecological-caveat", "chart-map"):
        broken = html.replace(f'id="{section}"', 'id="x"')
        gate = check_documentation(broken, card)
        assert gate.status == "FAIL" and section in gate.explanation


def test_performance_rows_read_the_typed_metrics() -> None:
    rows = performance_rows(METRICS, coverage=0.05)
    assert [r["name"] for r in rows] == ["model", "b1_last_week", "b4_all_history"]
    assert rows[0]["pai"] == pytest.approx(6.2)
    assert rows[2]["lift"].estimate == pytest.approx(1.12)  # the one lift: over the best
    assert rows[1]["lift"] is None
    half = make_metrics(coverage=0.005)
    assert performance_rows(half, coverage=0.005)[0]["hit_rate"] == pytest.approx(0.31)
    with pytest.raises(ValueError, match=r"no figures at the audited coverage 0\.1"):
        performance_rows(METRICS, coverage=0.1)


def test_cell_map_needs_its_columns(audit: AuditReport) -> None:
    with pytest.raises(ValueError, match="cell_map must have columns lon, lat, flag_share"):
        _render(audit, cell_map=pd.DataFrame({"x": [1.0]}))


def test_counterfactual_table_only_when_the_truth_is_known() -> None:
    audit = _audit()
    assert 'id="counterfactuals"' not in _render(audit)  # real data: no truth, no table
    gates = audit.gates
    counterfactuals = {
        "true risk": {g: {"status": "FAIL", "value": 0.46} for g in ("G2", "G3")},
    }
    html = _render(_with(audit, counterfactuals=counterfactuals, counterfactual_gates=["G2", "G3"]))
    section = html[html.index('id="counterfactuals"') :]
    section = section[: section.index("</table>")]
    assert "true risk" in section and "0.46" in section
    assert gates["G3"].title in section


def _sensitivity(audit: AuditReport) -> AuditReport:
    """A coverage table as the audit writes it: the model at 5% and 10%, truth at both."""
    cell = {"G2": {"status": "REVIEW", "value": 0.38}, "G3": {"status": "FAIL", "value": 0.46}}
    wide = {"G2": {"status": "PASS", "value": 0.91}, "G3": {"status": "FAIL", "value": 0.41}}
    table = CoverageSensitivity(
        coverages=(audit.coverage, 0.1),
        gates=("G2", "G3"),
        rankings={"this model": {"5": cell, "10": wide}, "true risk": {"5": cell, "10": wide}},
    )
    return _with(audit, coverage_sensitivity=table)


def test_coverage_table_rows_mark_the_operational_coverage(audit: AuditReport) -> None:
    from models.report import coverage_sensitivity_rows

    assert audit.coverage == pytest.approx(0.05)
    assert coverage_sensitivity_rows(audit) == []  # no table in the audit: no rows
    rows = coverage_sensitivity_rows(_sensitivity(audit))
    assert [(r["coverage"], r["ranking"], r["operational"]) for r in rows] == [
        (0.05, "this model", True),
        (0.05, "true risk", True),
        (0.1, "this model", False),
        (0.1, "true risk", False),
    ]
    assert [g.value for g in rows[2]["gates"]] == [0.91, 0.41]


def test_coverage_table_in_the_report(audit: AuditReport) -> None:
    assert 'id="coverage-sensitivity"' not in _render(audit)
    html = _render(_sensitivity(audit))
    checker = _parse(html)
    assert checker.errors == [] and checker.stack == []
    section = html[html.index('id="coverage-sensitivity"') :]
    section = section[: section.index("</table>")]
    assert section.count("<tr") == 5  # header and four rows
    bold = [line for line in section.splitlines() if "font-weight:bold" in line]
    assert len(bold) == 2 and all("5.0%" in line for line in bold)
    assert "10.0%" in section and "0.91" in section and audit.gates["G3"].title in section


def test_data_quality_tables_from_the_ingest_summary() -> None:
    from models.report import MAX_FILES_LISTED
    from models.report._quality import _data_quality_tables

    files = {
        f"2016-{m:02d}/f{m}.json": {
            "read": 100,
            "accepted": 100 - m,
            "quarantined": m,
            "by_reason": {"duplicate_id": m},
        }
        for m in range(1, MAX_FILES_LISTED + 4)
    }
    dq = {
        "source": "police_uk_api",
        "time_resolution": "month",
        "rows_read": 1800,
        "rows_accepted": 1800 - 171,
        "rows_quarantined": 171,
        "by_reason": {"duplicate_id": 171},
        "reason_meanings": {"duplicate_id": "an earlier row already has this event id"},
        "by_source_file": files,
        "areas": {
            "kind": "mapped",
            "n_areas": 2,
            "residents": 3000.0,
            "attributes": ["deprivation_decile"],
            "coverage": {
                "rule": "a district is in the study area when ...",
                "covered": ["Camden"],
                "uncovered": ["Hackney"],
                "events_outside_areas": 3,
                "districts": {
                    "Camden": {
                        "events": 1600,
                        "residents": 2000.0,
                        "ratio_residents": 1.0,
                        "ratio_area": 1.0,
                        "covered": True,
                    },
                    "Hackney": {
                        "events": 2,
                        "residents": 1000.0,
                        "ratio_residents": 0.01,
                        "ratio_area": 0.02,
                        "covered": False,
                    },
                },
            },
        },
        "accepted_by_type": {"burglary": 1629},
        "extra_figure": 7,
    }
    tables = {t["title"]: t for t in _data_quality_tables(dq)}
    summary = dict(map(tuple, tables["Summary"]["rows"]))
    assert summary["time resolution of the timestamps"] == "month"
    assert summary["rows read"] == "1,800"
    reasons = tables["Rows quarantined, by reason"]["rows"]
    assert reasons == [["duplicate_id", "an earlier row already has this event id", "171", "9.50%"]]
    (file_title,) = [t for t in tables if t.startswith("Source files")]
    file_rows = tables[file_title]["rows"]
    assert "18 in all" in file_title
    assert len(file_rows) == MAX_FILES_LISTED + 1
    assert file_rows[0][0] == "2016-18/f18.json"  # most quarantined first
    # 3 files left: months 1-3 with 1 + 2 + 3 quarantined rows
    assert file_rows[-1][:4] == ["3 other files", "300", "294", "6"]
    districts = tables["Districts the data cover (rates relative to the median district)"]["rows"]
    assert [r[-1] for r in districts] == ["kept", "left out"]
    study = dict(map(tuple, tables["Study area"]["rows"]))
    assert study["districts left out"] == "Hackney"
    assert tables["Events accepted, by crime type"]["rows"] == [["burglary", "1,629"]]
    assert dict(map(tuple, tables["Other figures"]["rows"])) == {"extra_figure": "7"}


def test_data_quality_with_nothing_quarantined_says_so() -> None:
    from models.report._quality import _data_quality_tables

    tables = {t["title"]: t for t in _data_quality_tables({"rows_read": 5, "by_reason": {}})}
    assert tables["Rows quarantined, by reason"]["rows"][0][:2] == [
        "none",
        "every row read was accepted",
    ]


def test_monthly_documents_say_month() -> None:
    audit = _audit_result(period="month").to_report()
    context = _context(
        period="month",
        backtest_period="2024-01-01 to 2024-12-01 (12 months)",
        evaluation_data="rolling-origin backtest: each month forecast by a model trained on "
        "earlier months only (refit every 3 months)",
    )
    metrics = make_metrics(last_week="b1_last_month", period="month")
    html = _render(audit, context=context, metrics=metrics)
    card = render_model_card(audit, metrics=metrics, context=context)
    assert "in the coming month" in html and "Each month's forecast" in html
    assert "Flagged cell-months" in html and "averaged over months" in html
    assert "the monthly count of recorded offences" in html
    assert "(12 months, 400 cells)" in html
    assert card.startswith("# Model card: monthly crime-risk forecast")
    assert "per H3 cell and calendar month" in card
    assert "each month forecast by a model trained only on earlier months" in card
    # nothing says week (the override reason and caveats of this fixture do not either)
    assert "week" not in card.lower()
    assert "week" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html).lower()
    weekly_card = render_model_card(_audit(), metrics=METRICS, context=_context())
    assert weekly_card.startswith("# Model card: weekly crime-risk forecast")
    assert "per H3 cell and ISO week" in weekly_card


def _img(html: str, figure_id: str) -> str:
    section = html[html.index(f'id="{figure_id}"') :]
    start = section.index('src="') + len('src="')
    return section[start : section.index('"', start)]


def test_calibration_band_reaches_the_chart(audit: AuditReport) -> None:
    # audit.calibration_band is what the chart shades (it used to be fixed at the default).
    default = _render(audit)
    assert _render(audit, calibration_band=(0.9, 1.1)) == default
    wide = _render(audit, calibration_band=(0.5, 1.5))
    assert _img(wide, "chart-calibration") != _img(default, "chart-calibration")
    assert _img(wide, "chart-coverage") == _img(default, "chart-coverage")


def test_interval_chart_is_one_helper_for_bars_and_dots() -> None:
    from models.report import IntervalPanel, interval_chart

    panel = IntervalPanel(
        title="t", labels=["a", "b"], values=[0.5, None], intervals=[(0.4, 0.6), (None, None)]
    )
    bars = interval_chart([panel], style="bar", ylabel="share")
    dots = interval_chart([panel], style="dot", ylabel="O/E", band=(0.9, 1.1))
    assert bars != dots and bars == interval_chart([panel], style="bar", ylabel="share")


def test_data_quality_summary_is_read_from_one_place(tmp_path) -> None:
    from models.report import read_data_quality

    path = tmp_path / "data_quality.json"
    path.write_text(json.dumps(data_quality(accepted=9)))
    summary = read_data_quality(path)
    assert (summary.rows_read, summary.rows_accepted) == (10, 9)
    assert summary.accepted_by_type == {"burglary": 9}
    assert summary.date_min == "2024-01-01 00:00" and summary.tables[0]["title"] == "Summary"
    with pytest.raises(FileNotFoundError, match=r"absent\.json"):
        read_data_quality(tmp_path / "absent.json")
    path.write_text('{"rows_read": 10, "rows_accepted": 9}')
    with pytest.raises(ArtefactError, match=r"data_quality\.json: key 'source': Field required"):
        read_data_quality(path)


def _labelled_audit() -> AuditReport:
    """An audit of both default attributes (ethnicity; deprivation fifths q1-q5) and both default
    strata, with the labels params ship, on a toy city whose cells hold every group."""
    flagged, y, scores, cells = _cells_and_arrays()
    rng = np.random.default_rng(1)
    fifth = rng.integers(1, 6, len(cells))
    for q in range(1, 6):
        cells[f"res_dep_q{q}"] = np.where(fifth == q, cells["residents"], 0.0)
    cells["deprivation_score"] = rng.gamma(3.0, 8.0, len(cells))
    config = AuditConfig(  # the default attributes and strata, with the labels params ship
        min_flagged_cell_periods=5,
        min_residents=1000,
        n_boot=200,
    )
    return run_audit(
        flagged,
        y,
        scores,
        cells,
        config=config,
        target=TargetDefinition(target_types=("burglary", "robbery")),
        granularity=GranularityCheck(
            published_resolution=8, max_resolution=8, event_level_rows=False
        ),
        lift=METRICS.lift,
    ).to_report()


_BLOCK_END = re.compile(r"</(?:tr|p|li|h[1-6]|summary|figcaption|caption|div|section)>|<br>")


def _units(text: str, *, html: bool) -> list[str]:
    """The units a reader takes in at once: table rows, and sentences elsewhere."""
    units = []
    for block in _BLOCK_END.split(text) if html else text.splitlines():
        plain = unescape(re.sub(r"<[^>]+>", " ", block)) if html else block
        plain = " ".join(plain.split())
        if plain.startswith("|"):  # a markdown table row
            units.append(plain)
        elif plain:
            units.extend(re.split(r"(?<=[.!?])\s+(?=[A-Z])", plain))
    return units


def _codes_without_labels(units: list[str], labels: dict[str, set[str]]) -> list[str]:
    """Units where a key appears (as a word, outside any label) without one of its labels."""
    every_label = sorted({lb for own in labels.values() for lb in own}, key=len, reverse=True)
    bad = []
    for unit in units:
        rest = unit
        for label in every_label:
            rest = re.sub(re.escape(label), " ", rest, flags=re.IGNORECASE)
        for code, own in labels.items():
            if re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", rest) and not any(
                lb.casefold() in unit.casefold() for lb in own
            ):
                bad.append(f"{code!r} without {sorted(own)} in: {unit}")
    return bad


def test_every_group_key_in_the_documents_comes_with_its_label() -> None:
    """The bias report, the model card and audit.json's explanations never name a group of
    residents or a stratum of cells by its key alone: every sentence or table row with a key
    also carries its label."""
    audit = _labelled_audit()
    labels: dict[str, set[str]] = {}
    for attr in audit.groups.values():
        for code, g in attr.groups.items():
            labels.setdefault(code, set()).add(g.label)
    for name, spec in audit.strata.items():
        labels.setdefault(name, set()).add(spec.label)
        for code, st in spec.strata.items():
            labels.setdefault(code, set()).add(st.label)
    assert set(labels) == {"minority", "majority", "q1", "q2", "q3", "q4", "q5"} | {
        f"Q{i}" for i in range(1, 6)
    } | {"minority_share", "deprivation_score"}
    assert all(len(own) == 2 for code, own in labels.items() if code.startswith("Q"))
    html = _render(audit)
    card = render_model_card(audit, metrics=METRICS, context=_context())
    explanations = [g.explanation for g in audit.gates.values()]
    for name, units in (
        ("bias report", _units(html, html=True)),
        ("model card", _units(card, html=False)),
        ("audit.json explanations", [u for e in explanations for u in _units(e, html=False)]),
    ):
        bad = _codes_without_labels(units, labels)
        assert not bad, f"{name}: " + "\n".join(bad[:10])
    # every group is named in words somewhere in both documents (not only in a chart)
    text = unescape(html).casefold() + card.casefold()
    for own in labels.values():
        assert all(label.casefold() in text for label in own), own
    # ... and the check itself catches a bare key
    assert _codes_without_labels(["Flags fell on q5 residents."], labels)
    assert _codes_without_labels(["In stratum Q5 of deprivation_score, O/E was 1.02."], labels)
    assert not _codes_without_labels(
        ["Residents of the least deprived fifth of areas (q5) bear 0.46 times the flagging."],
        labels,
    )


def test_gate_sentences_name_groups_in_words() -> None:
    """Before: "'q5' residents (deprivation) bear 0.46 times ..."; now the label, then the key."""
    audit = _labelled_audit()
    g3 = audit.gates["G3"]
    assert g3.deciding is not None and g3.deciding_label is not None
    attr, code = g3.deciding.split(": ")
    group = audit.groups[attr].groups[code]
    assert g3.deciding_label == group.label
    ref = audit.groups[attr].reference
    assert f"{group.label} ({code})" in g3.explanation.lower() or (
        f"{group.label[:1].upper()}{group.label[1:]} ({code})" in g3.explanation
    )
    assert f"{audit.groups[attr].reference_label} ({ref})" in g3.explanation
    assert "'" + code + "'" not in g3.explanation
