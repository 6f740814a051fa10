"""Tests of the bias report and model card: the verdict first, the board's panel, the gates, the
audit's power, the override's expiry, sections (G10), caveats, self-containment, determinism."""

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
from feedback_inputs import make_feedback
from stage_files import data_quality

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.audit import (
    AuditPower,
    AuditReport,
    CanaryPower,
    CoverageSensitivity,
    PolicyRecord,
)
from beatwise.artefacts.feedback import FeedbackReport
from beatwise.artefacts.metrics import ForecastScores
from models.audit import (
    PRIOR_COUNTS_REFERENCE,
    TRUTH_REFERENCE,
    Allocation,
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
    DocumentLinks,
    ReportContext,
    build_record,
    document_dates,
    performance_rows,
    render_bias_report,
    render_model_card,
    render_transparency_record,
)

METRICS = make_metrics()
RUN_DATE = dt.date(2025, 1, 13)
FEEDBACK_PASS = make_feedback("PASS")
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
ETHNICITY = AttributeSpec(
    name="ethnicity",
    groups={
        "minority": GroupSpec(column="res_minority", label="residents of ethnic minority groups"),
        "majority": GroupSpec(column="res_majority", label="residents of the ethnic majority"),
    },
)
MINORITY_SHARE = StratumSpec(name="minority_share", column="minority_share", label="minority share")


def _context(**kw: Any) -> ReportContext:
    base: dict[str, Any] = {
        "model_version": "v1.2.3",
        "run_id": "run-42",
        "audit_date": RUN_DATE,
        "forecast_period": dt.date(2025, 1, 6),
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


def _top(ranking: np.ndarray, n_weeks: int) -> np.ndarray:
    """The top 5% of 400 equal cells by ``ranking``, every week."""
    flagged = np.zeros((n_weeks, ranking.size), dtype=bool)
    flagged[:, np.argsort(-ranking, kind="stable")[: ranking.size // 20]] = True
    return flagged


def _cells_and_arrays(
    seed: int = 0,
) -> tuple[dict[str, Allocation], np.ndarray, pd.DataFrame]:
    """A toy city of 400 equal cells over 12 weeks: the model, the true risk and a baseline
    (each a noisy copy of the truth), the realised counts and the cells."""
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
    model = lam * rng.uniform(0.9, 1.1, n_cells)
    baseline = lam * rng.uniform(0.8, 1.2, n_cells)
    allocations = {
        # flags by a noisy ranking, expected counts the truth: calibrated, as G6 wants
        "model": Allocation("this model", _top(model, n_weeks), np.tile(lam, (n_weeks, 1))),
        "truth": Allocation("the true risk", _top(lam, n_weeks), np.tile(lam, (n_weeks, 1))),
        "baseline": Allocation(
            "the best baseline (b4_all_history)",
            _top(baseline, n_weeks),
            np.tile(baseline, (n_weeks, 1)),
        ),
    }
    return allocations, y, cells


def _audit_result(
    *,
    override: AuditOverride | None = None,
    drugs: bool = False,
    period: str = "week",
    config: AuditConfig | None = None,
    real: bool = False,
    run_date: dt.date = RUN_DATE,
    feedback: FeedbackReport | None = FEEDBACK_PASS,
) -> AuditResult:
    """The toy city's audit against the true risk (``real``: against the all-history count,
    without committed harm), with the best baseline on the board's panel and the feedback
    stage's closed loop (G11 PASS unless ``feedback`` says otherwise)."""
    alloc, y, cells = _cells_and_arrays()
    config = config or AuditConfig(
        attributes=(ETHNICITY,),
        strata=(MINORITY_SHARE,),
        min_flagged_cell_periods=5,
        min_residents=1000,
        n_boot=200,
    )
    target = TargetDefinition(
        target_types=("burglary", "drugs") if drugs else ("burglary", "robbery")
    )
    return run_audit(
        alloc["model"],
        alloc["baseline"] if real else alloc["truth"],
        y,
        cells,
        config=config,
        target=target,
        granularity=GranularityCheck(
            published_resolution=8, max_resolution=8, event_level_rows=False
        ),
        reference_info=PRIOR_COUNTS_REFERENCE if real else TRUTH_REFERENCE,
        lift=METRICS.lift,
        override=override,
        period=period,  # type: ignore[arg-type]
        committed=None if real else 1.25 * alloc["truth"].scores,
        others={"best_baseline": alloc["baseline"]},
        run_date=run_date,
        feedback=feedback,
    )


def _audit(**kw: Any) -> AuditReport:
    return _audit_result(**kw).to_report()


def _with(audit: AuditReport, **fields: Any) -> AuditReport:
    """The audit with ``fields`` replaced, validated as audit.json is."""
    return AuditReport.model_validate({**audit.model_dump(), **fields})


def _cell_map() -> pd.DataFrame:
    alloc, _, cells = _cells_and_arrays()
    share = alloc["model"].flagged.mean(0)
    return pd.DataFrame({"lon": cells["lon"], "lat": cells["lat"], "flag_share": share})


def _render(audit: AuditReport, **kw: Any) -> str:
    args: dict[str, Any] = {
        "metrics": METRICS,
        "data_quality": DATA_QUALITY,
        "context": _context(),
        "cell_map": _cell_map(),
    }
    args.update(kw)
    return render_bias_report(audit, **args)


def _card(audit: AuditReport, **kw: Any) -> str:
    return render_model_card(audit, metrics=METRICS, context=_context(**kw))


def _record(audit: AuditReport, **kw: Any) -> str:
    context = _context(**kw)
    dates = document_dates(context, METRICS)
    record = build_record(audit, metrics=METRICS, context=context, dates=dates)
    return render_transparency_record(record, dates=dates, coverage=audit.coverage)


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


def _section(html: str, section_id: str) -> str:
    """The HTML of ``<section id=section_id>`` (sections do not nest)."""
    start = html.index(f'<section id="{section_id}"')
    return html[start : html.index("</section>", start)]


_INLINE = re.compile(r"</?(?:span|strong|em|b|i|a|code)(?:\s[^>]*)?>")


def _text(html: str) -> str:
    """Visible text, whitespace collapsed (inline tags vanish, block tags separate words)."""
    html = re.sub(r"^[^<]*?>", "", html)  # a slice that starts inside a tag
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", _INLINE.sub("", html))).split())


def _rows(html: str) -> list[list[str]]:
    """Each table row's cells as text."""
    return [
        [_text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S)
    ]


def _card_section(card: str, heading: str) -> str:
    start = card.index(f"## {heading}\n")
    end = card.find("\n## ", start + 1)
    return card[start : end if end >= 0 else len(card)]


@pytest.fixture(scope="module")
def audit() -> AuditReport:
    return _audit()


# --------------------------------------------------------------------------------------------
# The order an ethics board reads: the verdict first, then what it is asked to decide
# --------------------------------------------------------------------------------------------


def test_report_has_every_required_section_in_order_and_parses(audit: AuditReport) -> None:
    html = _render(audit)
    checker = _parse(html)
    assert checker.errors == [] and checker.stack == []
    for section in REQUIRED_REPORT_SECTIONS:
        assert section in checker.ids, section
    assert len(checker.ids) == len(set(checker.ids)), "ids must be unique"
    assert html.startswith("<!DOCTYPE html>")
    # the required sections appear in the order REQUIRED_REPORT_SECTIONS lists them
    found = [i for i in checker.ids if i in REQUIRED_REPORT_SECTIONS]
    assert found == list(REQUIRED_REPORT_SECTIONS)


def test_the_verdict_comes_first_in_plain_words(audit: AuditReport) -> None:
    html = _render(audit)
    body = html[html.index("</header>") :]
    assert body.index("<section") == body.index('<section id="decision"')
    verdict = _text(_section(html, "decision"))
    # the toy audit is not yet documented: G10 is NOT CHECKED and blocks (G6 too, on 12 weeks)
    assert verdict.startswith("The verdict Blocked. The forecast will not be published")
    assert "G10 Documentation (NOT CHECKED)" in verdict
    n = len(audit.blocking_gates)
    assert f"because {['one gate blocks', 'two gates block'][n - 1]} it" in verdict
    for gid in audit.blocking_gates:
        gate = audit.gates[gid]
        assert f"{gid} {gate.title} ({gate.status}): {gate.explanation}" in verdict
    # the verdict comes before the panel, the panel before the gates
    text = _text(html)
    assert (
        text.index("Blocked.")
        < text.index("What you are asked to decide")
        < text.index("The gates Each gate compares")
    )
    card = _card(audit)
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert headings[:3] == ["Verdict", "Dates", "What you are asked to decide"]
    assert _card_section(card, "Verdict").startswith("## Verdict\n\n**Blocked.** The forecast")


def test_a_publishable_verdict_names_the_gates_in_review(audit: AuditReport) -> None:
    raw = audit.model_dump()
    for gate in raw["gates"].values():
        gate["status"] = "PASS" if gate["status"] != "NOT APPLICABLE" else "NOT APPLICABLE"
    raw["gates"]["G8"]["status"] = "REVIEW"
    raw.update(blocking_gates=(), review_gates=("G8",), publishable=True)
    passing = AuditReport.model_validate(raw)
    verdict = _text(_section(_render(passing), "decision"))
    assert verdict.startswith("The verdict Publishable. The forecast may be published")
    assert "One gate asks for a person's review" in verdict
    assert "G8 No worse than the baselines (REVIEW)" in verdict
    assert "gates that block" not in verdict.lower()
    card = _card_section(_card(passing), "Verdict")
    assert "**Publishable.**" in card and "**G8 No worse than the baselines** (REVIEW)" in card


def test_blocked_report_names_the_gate_in_plain_words() -> None:
    html = _render(_audit(drugs=True))
    section = _text(_section(html, "decision"))
    assert "Blocked." in section
    assert "G1 Target purity" in section and "drugs" in section


def _board_with(audit: AuditReport, role: str, attr: str, key: str, **figures: Any) -> AuditReport:
    """The audit with one group's figures on the board's panel set by hand."""
    board = audit.board.model_dump()
    board["allocations"][role]["groups"][attr][key].update(figures)
    return _with(audit, board=board)


def test_what_you_are_asked_to_decide_shows_every_allocation_side_by_side(
    audit: AuditReport,
) -> None:
    html = _render(audit)
    decide = _section(html, "decide")
    assert "<h2>What you are asked to decide</h2>" in decide
    rows = _rows(decide)
    assert rows[0] == [
        "Figure",
        "This model",
        "The true risk (the reference)",
        "The best baseline (b4_all_history)",
    ]
    board = audit.board.allocations
    roles = ("model", "reference", "best_baseline")
    # the exposure-ratio rows quote each allocation's own figure, label then key
    i = next(n for n, r in enumerate(rows) if r[0].startswith("Exposure relative to all residents"))
    minority = rows[i + 1]
    assert minority[0] == "Residents of ethnic minority groups (minority)"
    assert minority[1:] == [
        f"{board[r].groups['ethnicity']['minority'].exposure_ratio:.2f}" for r in roles
    ]
    # exposure in % and in residents per week, the discovery gap in percentage points
    j = next(n for n, r in enumerate(rows) if r[0].startswith("Exposure: residents living"))
    g = board["reference"].groups["ethnicity"]["majority"]
    assert rows[j + 2][2] == f"{100 * g.exposure:.1f}% ({g.residents_per_period:,.0f})"
    gap = next(r for r in rows if r[0] == "Largest gap between the groups")
    assert gap[1:] == [f"{board[r].discovery_gap_pp['ethnicity']:.1f} points" for r in roles]
    # synthetic data: discovery of committed harm; PAI by stratum; cells without residents
    text = _text(decide)
    assert "Discovery of committed harm (synthetic data only)" in text
    assert "PAI within each stratum" in text
    assert "Cells in the lowest fifth by minority share (Q1)" in text
    assert "Share of the flagged area in cells with almost no residents" in text
    card = _card_section(_card(audit), "What you are asked to decide")
    m = board["model"].groups["ethnicity"]["minority"].exposure_ratio
    ref = board["reference"].groups["ethnicity"]["minority"].exposure_ratio
    assert f"| Residents of ethnic minority groups (minority) | {m:.2f} / {ref:.2f} / " in card


def test_what_a_perfect_forecast_would_do_is_computed_from_the_panel(audit: AuditReport) -> None:
    hand = _board_with(audit, "reference", "ethnicity", "minority", exposure_ratio=1.37)
    hand = _board_with(hand, "reference", "ethnicity", "majority", exposure_ratio=0.81)
    text = _text(_section(_render(hand), "decide"))
    perfect = text[text.index("What a perfect forecast would do") :]
    assert (
        "Even under the true risk, residents of ethnic minority groups (minority) live in flagged "
        "cells 1.37 times as often as all residents do, and residents of the ethnic majority "
        "(majority) 0.81 times as often" in perfect
    )
    # the other way round, the sentence follows the figures
    flipped = _board_with(hand, "reference", "ethnicity", "majority", exposure_ratio=1.52)
    perfect = _text(_section(_render(flipped), "decide"))
    assert "the ethnic majority (majority) live in flagged cells 1.52 times" in perfect
    assert "the board's decision" in perfect
    # on real data no column is a perfect forecast: the reference is named for what it is
    real = _text(_section(_render(_audit(real=True)), "decide"))
    assert "What a perfect forecast would do" not in real
    assert "Under the best baseline (b4_all_history), residents of" in real
    assert "Discovery of committed harm" not in real


def test_g12_not_applicable_is_rendered_as_such(audit: AuditReport) -> None:
    assert audit.gates["G12"].status == "NOT APPLICABLE"
    html = _render(audit)
    row = html[html.index('id="gate-G12"') :]
    row = row[: row.index("</tr>")]
    assert 'class="not-applicable"' in row
    assert '<span class="status status-not-applicable">NOT APPLICABLE</span>' in row
    assert ".status-not-applicable {" in html  # styled, not the insufficient-data fallback
    envelope = _text(html[html.index('id="envelope"') : html.index('id="gates"')])
    assert "The board has ratified no absolute limits, so gate G12 is NOT APPLICABLE" in envelope
    assert "audit.envelope" in envelope and "expiry date" in envelope
    assert "Policy envelope (G12): the board has ratified no absolute limits" in _card(audit)


def _envelope_config(expires: str) -> AuditConfig:
    return AuditConfig.model_validate(
        {
            "attributes": (ETHNICITY,),
            "strata": (MINORITY_SHARE,),
            "min_flagged_cell_periods": 5,
            "min_residents": 1000,
            "n_boot": 200,
            "envelope": {
                "ratified_by": "Toy City Ethics Board",
                "date": "2024-11-01",
                "expires": expires,
                "reason": "No group more than three times as exposed as all residents.",
                "limits": [{"quantity": "exposure_ratio", "attribute": "ethnicity", "max": 3.0}],
            },
        }
    )


def test_a_ratified_envelope_prints_who_when_and_until_when() -> None:
    html = _render(_audit(config=_envelope_config("2025-05-01")))
    envelope = _text(html[html.index('id="envelope"') : html.index('id="gates"')])
    assert envelope.startswith("Setting limits: the policy envelope (gate G12) PASS")
    assert "Toy City Ethics Board on 2024-11-01" in envelope
    assert "valid until 2025-05-01" in envelope
    assert "Residents of ethnic minority groups (minority)" in envelope
    assert "expired" not in envelope
    expired = _render(_audit(config=_envelope_config("2025-01-01")))
    envelope = _text(expired[expired.index('id="envelope"') : expired.index('id="gates"')])
    assert "FAIL" in envelope and "The envelope has expired." in envelope
    assert "G12 Policy envelope (FAIL)" in _text(_section(expired, "decision"))


def _override(expires: dt.date) -> AuditOverride:
    return AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2025, 1, 10),
        expires=expires,
        reason="Pilot with weekly human review.",
        # G1 fails (drugs without a reason); G6 may on a toy of 12 weeks
        gates=("G1", "G6"),
    )


def _documented(result: AuditResult) -> AuditReport:
    draft = result.to_report()
    return result.with_documentation(
        report_html=_render(draft),
        model_card_md=_card(draft),
        record_md=_record(draft),
        model_version="v1.2.3",
    ).to_report()


def test_override_notice_is_printed_with_its_expiry() -> None:
    final = _documented(_audit_result(override=_override(dt.date(2025, 2, 10)), drugs=True))
    assert final.publishable is True and final.override_applied is not None
    html = _render(final)
    section = _text(_section(html, "override"))
    assert "Toy City Ethics Board" in section and "2025-01-10" in section
    assert "Expires: 2025-02-10." in section
    assert "Pilot with weekly human review." in section and "G1" in section
    verdict = _text(_section(html, "decision"))
    assert verdict.startswith("The verdict Publishable by override.")
    assert "valid until 2025-02-10" in verdict and "expired" not in verdict.lower()
    card = _card(final)
    assert "**Publishable by override.**" in card and "Toy City Ethics Board" in card
    assert "expires 2025-02-10" in card and "EXPIRED" not in card


def test_an_expired_override_is_printed_as_expired() -> None:
    # expired on 2025-01-12, the audit ran on RUN_DATE (2025-01-13): it lifts nothing
    final = _documented(_audit_result(override=_override(dt.date(2025, 1, 12)), drugs=True))
    assert final.override is not None and final.override.expired
    assert final.override_applied is None and not final.publishable
    html = _render(final)
    verdict = _text(_section(html, "decision"))
    assert verdict.startswith("The verdict Blocked.")
    assert "The recorded override has expired and lifts nothing." in verdict
    assert "EXPIRED on 2025-01-12 (this audit ran on 2025-01-13)" in verdict
    section = _text(_section(html, "override"))
    assert section.startswith("Override This override has expired.")
    assert "Expires: 2025-01-12 (expired)." in section
    card = _card(final)
    assert "**The recorded override has expired and lifts nothing.**" in card
    assert "- Override: EXPIRED on 2025-01-12." in card


def _power() -> AuditPower:
    def canary(key: str, label: str, rescaled: bool, beta: float | None, half: tuple[str, ...]):
        return CanaryPower(
            canary=key + ("_rescaled" if rescaled else ""),
            label=label,
            rescaled=rescaled,
            betas=(0.1, 0.2, 0.5, 1.0),
            smallest_beta_caught=beta,
            caught_by=("G6",) if beta is not None else (),
            failed_at_half=half,
        )

    minority = "cells where more residents are from minority groups"
    deprived = "cells where more residents live in the most deprived fifth"
    return AuditPower(
        base="the true risk",
        base_failed=(),
        canaries=(
            canary("minority", minority, False, 0.2, ("G2", "G6")),
            canary("minority", minority, True, 0.5, ("G6",)),
            canary("most_deprived", deprived, False, 0.1, ("G2", "G4")),
            canary("most_deprived", deprived, True, None, ()),
        ),
    )


def test_power_table_shows_each_canary(audit: AuditReport) -> None:
    html = _render(_with(audit, power=_power()))
    power = _section(html, "power")
    rows = _rows(power)
    assert rows[0][:3] == ["The canary favours", "Rescaled", "Smallest beta caught"]
    assert rows[1] == [
        "Cells where more residents are from minority groups",
        "no",
        "0.2",
        "G6 Calibration parity",
        "G2 Exposure amplification, G6 Calibration parity",
    ]
    assert rows[4][2:] == [
        "not caught at any beta tried",
        "—",
        "NOT CAUGHT none: it passes every hard gate",
    ]
    text = _text(power)
    assert "betas tried: 0.1, 0.2, 0.5, 1" in text
    assert "At beta = 0.5 these canaries pass every hard gate" in text
    assert "the most deprived fifth (rescaled)" in text
    assert (
        "The smallest bias caught is beta = 0.1 (the canary favouring cells where more "
        "residents live in the most deprived fifth)" in text
    )
    # all caught at 0.5: the sentence says the gates have the power asked of them
    caught = _power().model_copy(update={"canaries": _power().canaries[:3]})
    text = _text(_section(_render(_with(audit, power=caught)), "power"))
    assert (
        "At beta = 0.5 every canary fails at least one hard gate while the true risk, "
        "unaltered, passes them all" in text
    )
    assert (
        "the hardest to catch is the canary favouring cells where more residents are from "
        "minority groups (rescaled), caught from beta = 0.5" in text
    )
    card = _card_section(_card(_with(audit, power=_power())), "Audit power")
    assert "| Cells where more residents are from minority groups | no | 0.2 |" in card
    assert "NOT CAUGHT: none" in card
    # no power check: said so, not left out
    assert "The power check was not run" in _text(_section(_render(audit), "power"))


def test_the_amplification_paragraph_names_the_reference_and_band(audit: AuditReport) -> None:
    html = _render(audit)
    start = html.index('id="amplification"')
    text = _text(html[start : html.index("</p>", start)])
    assert "for the true risk's flags, both covering 5.0% of the area" in text
    assert "paired block bootstrap" in text and "[0.80, 1.25]" in text
    reasons = _text(_section(html, "groups"))
    assert "Amplification against the true risk (gates G2–G5)" in reasons
    # each gate's comparisons under a heading in words
    assert "Strata of cells by minority share (minority_share), over flagged cells only" in reasons
    assert "Groups of residents by ethnicity: retention" in reasons
    g = audit.groups["ethnicity"].groups["minority"]
    assert f"{g.retention.value:.3f} {g.retention.ci[0]:.3f} – {g.retention.ci[1]:.3f}" in reasons


def test_a_declared_policy_is_rendered_with_its_cost(audit: AuditReport) -> None:
    assert 'id="policy"' not in _render(audit)
    policy = PolicyRecord(
        column="deprivation_score",
        label="deprivation score, where higher means more deprived",
        max_share=0.3,
        approved_by="Toy City Ethics Board",
        date=dt.date(2024, 12, 1),
        reason="Spread patrols.",
        expected_hits_kept=0.93,
        pai_without=6.2,
        pai_with=5.77,
    )
    html = _render(_with(audit, policy=policy))
    text = _text(html[html.index('id="policy"') : html.index('id="gates"')])
    assert (
        "Toy City Ethics Board declared on 2024-12-01 that no stratum of cells by deprivation "
        "score, where higher means more deprived (deprivation_score), nor the cells with almost no "
        "residents, receives more than 30.0% of the flagged area in any week." in text
    )
    assert "keeps 93.0% of the expected hits" in text and "PAI is 5.77 against 6.20" in text
    assert "the figures above are those under the policy" in text
    card = _card(_with(audit, policy=policy))
    assert "Declared allocation policy: no stratum of cells by deprivation score" in card
    assert "PAI 5.77 with the policy, 6.20 without" in card
    # a board column for the policy, when the audit adds one
    board = audit.board.model_dump()
    board["allocations"]["policy"] = {
        **board["allocations"]["model"],
        "label": "the model under the declared policy",
    }
    html = _render(_with(audit, board=board, policy=policy))
    assert "The model under the declared policy" in _rows(_section(html, "decide"))[0]
    assert "shows the policy's own figures" in _text(html[html.index('id="policy"') :])


def test_report_is_self_contained(audit: AuditReport) -> None:
    html = _render(audit)
    urls = _parse(html).urls
    # in-page links are fine, and so are links to the documents written beside the report
    beside = set(DocumentLinks().model_dump().values())
    assert {"transparency_record.md", "transparency_record.json", "model_card.md"} <= set(urls)
    images = [u for u in urls if not u.startswith("#") and u not in beside]
    assert images and all(u.startswith("data:image/png;base64,") for u in images)
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


def test_output_is_deterministic(audit: AuditReport) -> None:
    assert _render(audit) == _render(audit)
    card = render_model_card(audit, metrics=METRICS, context=_context())
    assert card == render_model_card(audit, metrics=METRICS, context=_context())


def test_text_is_escaped(audit: AuditReport) -> None:
    html = _render(audit, context=_context(study_area="<script>alert(1)</script>"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_params_text_in_the_model_card_is_never_markup() -> None:
    hostile = AuditOverride(
        approving_body="<b onmouseover=alert(1)>Board</b>",
        date=dt.date(2025, 1, 10),
        expires=dt.date(2025, 2, 10),
        reason="<script>alert(1)</script> & <img src=x onerror=alert(2)>",
        gates=("G1", "G6"),
    )
    final = _documented(_audit_result(override=hostile, drugs=True))
    card = _card(final)
    for markup in ("<script>", "<b ", "<img"):
        assert markup not in card, markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img" in card
    assert "&lt;b onmouseover=alert(1)&gt;Board&lt;/b&gt;" in card
    html = _render(final)  # the HTML report escaped them already
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_report_without_map_or_data_quality_still_has_sections(audit: AuditReport) -> None:
    html = render_bias_report(
        audit, metrics=METRICS, data_quality=DataQualitySummary(), context=_context()
    )
    ids = _parse(html).ids
    assert all(s in ids for s in REQUIRED_REPORT_SECTIONS)
    assert "No cell map was supplied" in html
    assert "No data-quality summary was supplied." in html


def test_model_card_has_every_section(audit: AuditReport) -> None:
    card = _card(audit)
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert headings == list(REQUIRED_CARD_SECTIONS)
    assert "v1.2.3" in card and "run-42" in card and "2025-01-06" in card
    assert "`num_leaves`: 31" in card
    assert "| Residents of ethnic minority groups (minority) |" in card
    assert "  - minority: residents of ethnic minority groups" in card
    assert FEEDBACK_LOOP_CAVEAT in card


def test_documentation_gate_on_rendered_documents(audit: AuditReport) -> None:
    html = _render(audit)
    card = _card(audit)
    record = _record(audit)
    assert check_documentation(html, card, record, model_version="v1.2.3").status == "PASS"
    for section in ("decide", "power", "reference-disparities", "gates", "ecological-caveat"):
        broken = html.replace(f'id="{section}"', 'id="x"')
        gate = check_documentation(broken, card, record)
        assert gate.status == "FAIL" and section in gate.explanation
    for heading in ("What you are asked to decide", "Verdict", "Audit power"):
        broken_card = card.replace(f"## {heading}\n", "## Something else\n")
        assert broken_card != card
        gate = check_documentation(html, broken_card, record)
        assert gate.status == "FAIL" and heading in gate.explanation
        assert gate.by_group["documents"]["model_card"].status == "FAIL"


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


def test_the_performance_table_shows_truth_efficiency_on_synthetic_data_only(
    audit: AuditReport,
) -> None:
    """Each row carries its PEI_T where the true risk is known, and the report gives the column
    then (headed and explained), not otherwise."""

    def with_truth(scores: ForecastScores, value: float) -> ForecastScores:
        return scores.model_copy(update={"pei_truth": {0.05: value}})

    synthetic = METRICS.model_copy(
        update={
            "model": with_truth(METRICS.model, 0.977),
            "baselines": {
                name: with_truth(scores, 0.9 + 0.01 * i)
                for i, (name, scores) in enumerate(METRICS.baselines.items())
            },
        }
    )
    rows = performance_rows(synthetic, coverage=0.05)
    assert [r["pei_truth"] for r in rows] == [0.977, 0.9, 0.91]
    assert all(r["pei_truth"] is None for r in performance_rows(METRICS, coverage=0.05))
    table = _render(audit, metrics=synthetic).split('id="performance"')[1].split("</table>")[0]
    assert "<th>PEI<sub>T</sub></th>" in table and ">0.977<" in table and ">0.910<" in table
    plain = _render(audit).split('id="performance"')[1].split("</table>")[0]
    assert "PEI<sub>T</sub>" not in plain


def test_cell_map_needs_its_columns(audit: AuditReport) -> None:
    with pytest.raises(ValueError, match="cell_map must have columns lon, lat, flag_share"):
        _render(audit, cell_map=pd.DataFrame({"x": [1.0]}))


def test_counterfactual_table_only_when_the_truth_is_known() -> None:
    audit = _audit()
    assert 'id="counterfactuals"' not in _render(audit)  # none asked: no table
    gates = audit.gates
    counterfactuals = {
        "true risk": {g: {"status": "FAIL", "value": 0.46} for g in ("G2", "G3")},
    }
    html = _render(_with(audit, counterfactuals=counterfactuals, counterfactual_gates=["G2", "G3"]))
    section = html[html.index('id="counterfactuals"') :]
    section = section[: section.index("</table>")]
    assert "True risk" in section and "0.46" in section
    assert gates["G3"].title in section
    assert "the cells that the true risk would have flagged" in _text(section)
    assert "held against the same reference (the true risk)" in _text(section)


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
    tables = {t["title"]: t for t in _data_quality_tables(dq, 3)}
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
    # a count of crime in one place below publish.min_count_shown is never printed (gate G9)
    assert [r[1] for r in districts] == ["1,600", "fewer than 3"]
    summary_of = DataQualitySummary.from_dict
    assert summary_of(dq, suppress_below=3).smallest_count_shown == 1600
    assert summary_of(dq, suppress_below=2).smallest_count_shown == 2
    loose = {t["title"]: t for t in _data_quality_tables(dq, 2)}
    assert [r[1] for r in loose[next(t for t in loose if t.startswith("Districts"))]["rows"]] == [
        "1,600",
        "2",
    ]
    study = dict(map(tuple, tables["Study area"]["rows"]))
    assert study["districts left out"] == "Hackney"
    assert tables["Events accepted, by crime type"]["rows"] == [["burglary", "1,629"]]
    assert dict(map(tuple, tables["Other figures"]["rows"])) == {"extra_figure": "7"}


def test_data_quality_with_nothing_quarantined_says_so() -> None:
    from models.report._quality import _data_quality_tables

    tables = {t["title"]: t for t in _data_quality_tables({"rows_read": 5, "by_reason": {}}, 3)}
    assert tables["Rows quarantined, by reason"]["rows"][0][:2] == [
        "none",
        "every row read was accepted",
    ]


def test_monthly_documents_say_month() -> None:
    # the closed loop of G11 runs the synthetic city week by week whatever the forecast's
    # period, and says so; without it, every word of the documents is the period's own
    audit = _audit_result(period="month", feedback=None).to_report()
    context = _context(
        period="month",
        backtest_period="2024-01-01 to 2024-12-01 (12 months)",
        evaluation_data="rolling-origin backtest: each month forecast by a model trained on "
        "earlier months only (refit every 3 months)",
    )
    metrics = make_metrics(last_week="b1_last_month", period="month")
    html = _render(audit, context=context, metrics=metrics)
    card = render_model_card(audit, metrics=metrics, context=context)
    assert "in an average month" in html and "resampled months" in html
    assert "in the coming month" in html and "Each month's forecast" in html
    assert "Flagged cell-months" in html and "averaged over months" in html
    assert "the monthly count of recorded offences" in html
    assert "(12 months)" in html and "400 cells" in html
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
    strata, with the labels params ship, on a toy city whose cells hold every group and a few
    cells with almost no residents; with the power check's canaries."""
    alloc, y, cells = _cells_and_arrays()
    rng = np.random.default_rng(1)
    fifth = rng.integers(1, 6, len(cells))
    cells.loc[:9, "residents"] = 10.0  # ten cells with almost no residents: stratum "none"
    cells["res_minority"] = cells["residents"] * cells["minority_share"]
    cells["res_majority"] = cells["residents"] - cells["res_minority"]
    for q in range(1, 6):
        cells[f"res_dep_q{q}"] = np.where(fifth == q, cells["residents"], 0.0)
    cells["deprivation_score"] = rng.gamma(3.0, 8.0, len(cells))
    config = AuditConfig(  # the default attributes and strata, with the labels params ship
        min_flagged_cell_periods=5,
        min_residents=1000,
        n_boot=200,
    )
    report = run_audit(
        alloc["model"],
        alloc["truth"],
        y,
        cells,
        config=config,
        target=TargetDefinition(target_types=("burglary", "robbery")),
        granularity=GranularityCheck(
            published_resolution=8, max_resolution=8, event_level_rows=False
        ),
        reference_info=TRUTH_REFERENCE,
        lift=METRICS.lift,
        committed=1.25 * alloc["truth"].scores,
        others={"best_baseline": alloc["baseline"]},
        run_date=RUN_DATE,
    ).to_report()
    return _with(report, power=_power())


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


def _codes_without_labels(
    units: list[str], labels: dict[str, set[str]], phrases: tuple[str, ...] = ()
) -> list[str]:
    """Units where a key appears (as a word, outside any label or other plain-English
    ``phrases``, such as a canary's "cells where more residents are from minority groups")
    without one of its labels."""
    every_label = sorted(
        {lb for own in labels.values() for lb in own} | set(phrases), key=len, reverse=True
    )
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
    # "none", the key of the cells with almost no residents, is also an English word ("none
    # recorded"): its rows are checked below instead
    none_label = labels.pop("none")
    assert set(labels) == {"minority", "majority", "q1", "q2", "q3", "q4", "q5"} | {
        f"Q{i}" for i in range(1, 6)
    } | {"minority_share", "deprivation_score"}
    assert all(len(own) == 2 for code, own in labels.items() if code.startswith("Q"))
    html = _render(audit)
    card = _card(audit)
    phrases = tuple(c.label for c in audit.power.canaries) if audit.power else ()
    explanations = [g.explanation for g in audit.gates.values()]
    for name, units in (
        ("bias report", _units(html, html=True)),
        ("model card", _units(card, html=False)),
        ("audit.json explanations", [u for e in explanations for u in _units(e, html=False)]),
    ):
        bad = _codes_without_labels(units, labels, phrases)
        assert not bad, f"{name}: " + "\n".join(bad[:10])
    # the stratum of cells with almost no residents: its label, then its key, in every table
    (words,) = none_label
    for rows in (_rows(_section(html, "decide")), _rows(_section(html, "groups"))):
        none_rows = [r for r in rows if r and r[0].endswith("(none)")]
        assert len(none_rows) >= 2 and all(
            r[0] == f"{words[:1].upper()}{words[1:]} (none)" for r in none_rows
        )
    labels["none"] = none_label
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
    assert f"{group.label} ({code})" in g3.explanation.lower() or (
        f"{group.label[:1].upper()}{group.label[1:]} ({code})" in g3.explanation
    )
    assert "the true risk" in g3.explanation
    assert "'" + code + "'" not in g3.explanation


def test_gates_are_listed_by_number_also_from_the_sorted_file(audit: AuditReport) -> None:
    # audit.json is written with sorted keys (G1, G10, G11, G12, G2, ...); the documents are not
    raw = json.loads(json.dumps(audit.to_json(), sort_keys=True))
    read_back = AuditReport.from_json(raw)
    assert list(read_back.gates)[:4] == ["G1", "G10", "G11", "G12"]
    html = _render(read_back)
    rows = re.findall(r'id="gate-(G\d+)"', html)
    assert rows == sorted(rows, key=lambda g: int(g[1:])) and rows[-1] == "G12"
    card = _card(read_back)
    listed = re.findall(r"^\| (G\d+) ", card, flags=re.MULTILINE)
    assert listed == sorted(listed, key=lambda g: int(g[1:]))
