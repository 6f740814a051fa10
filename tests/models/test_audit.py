"""Tests of the bias audit: hand-computed group figures, gate logic and publishability."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from audit_inputs import make_metrics
from pydantic import ValidationError

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.metrics import BacktestMetrics, Lift
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
    classify_against_band,
    run_audit,
    stratum_label,
)
from models.report import (
    DataQualitySummary,
    ReportContext,
    render_bias_report,
    render_model_card,
)

TARGET = TargetDefinition(target_types=("burglary", "robbery"))
GRAIN_OK = GranularityCheck(published_resolution=8, max_resolution=8, event_level_rows=False)
TOY_GROUPS = {
    "a": GroupSpec(column="res_a", label="residents of group a"),
    "b": GroupSpec(column="res_b", label="residents of group b"),
}
LIFT_OK = Lift(estimate=1.2, ci_low=1.1, ci_high=1.3, baseline="b4_all_history")
METRICS = make_metrics()
NO_QUALITY = DataQualitySummary()


def _context() -> ReportContext:
    return ReportContext(
        model_version="v-test",
        run_id="run-1",
        report_date=dt.date(2025, 1, 6),
        study_area="Toy City",
        target_types=("burglary", "robbery"),
        published_resolution=8,
        backtest_period="2024-W01 to 2024-W52",
        training_data="Synthetic events before the backtest.",
        evaluation_data="Synthetic events in the backtest weeks.",
    )


def _documents(result: AuditResult) -> tuple[str, str]:
    report = result.to_report()
    metrics = make_metrics(coverage=report.coverage)
    html = render_bias_report(report, metrics=metrics, data_quality=NO_QUALITY, context=_context())
    return html, render_model_card(report, metrics=metrics, context=_context())


def _documented(result: AuditResult) -> AuditResult:
    """Render the report and card from the result and let G10 judge them."""
    html, card = _documents(result)
    return result.with_documentation(report_html=html, model_card_md=card, model_version="v-test")


# --------------------------------------------------------------------------------------------
# A 4-cell, 2-week toy with figures computed by hand
# --------------------------------------------------------------------------------------------
#   cell  res_a  res_b  residents   flagged w0 w1   y w0 w1
#   0     100    0      100         1  1            2  1
#   1     50     50     100         1  0            0  0
#   2     0      100    100         0  1            1  3
#   3     0      200    200         0  0            0  1
# Per cell: flagged weeks f = [2,1,1,0]; events y = [3,0,4,1]; events in flagged weeks
# [3,0,3,0]; flagged weeks without an event [0,1,0,0]. Reference = b (350 residents > 150).
# E_a = (2*100 + 1*50) / (2*150) = 5/6;  E_b = (1*50 + 1*100) / (2*350) = 3/14
# Cov_a = (3*1) / (3*1) = 1;  Cov_b = (3*1) / (0*.5 + 4*1 + 1*1) = 3/5
# BBR_a = (E_a/E_b) / (Cov_a/Cov_b) = (35/9) * (3/5) = 7/3
# false-flag_a = (1*50) / 250 = 0.2;  false-flag_b = (1*50) / 150 = 1/3
# recall ratio_a = Cov_a / Cov_b = 5/3


def _toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    flagged = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=bool)
    y = np.array([[2, 0, 1, 0], [1, 0, 3, 1]], dtype=float)
    scores = np.array([[1.5, 0.5, 1.0, 0.5], [1.5, 0.5, 2.0, 0.5]])
    cells = pd.DataFrame(
        {
            "residents": [100.0, 100.0, 100.0, 200.0],
            "area_km2": [1.0, 1.0, 1.0, 1.0],
            "res_a": [100.0, 50.0, 0.0, 0.0],
            "res_b": [0.0, 50.0, 100.0, 200.0],
        }
    )
    return flagged, y, scores, cells


def _toy_config(**kw: object) -> AuditConfig:
    base: dict[str, object] = {
        "attributes": (AttributeSpec(name="grp", groups=TOY_GROUPS),),
        "strata": (),
        "min_flagged_cell_periods": 0,
        "min_residents": 0,
        "n_boot": 200,
        "block_len": 1,
        "coverage": 0.5,
    }
    base.update(kw)
    return AuditConfig.model_validate(base)


def _run_toy(config: AuditConfig, **kw: object) -> AuditResult:
    flagged, y, scores, cells = _toy()
    args: dict[str, object] = {"target": TARGET, "granularity": GRAIN_OK, "lift": LIFT_OK}
    args.update(kw)
    return run_audit(flagged, y, scores, cells, config=config, **args)  # type: ignore[arg-type]


def test_toy_group_figures_match_hand_computation() -> None:
    d = _run_toy(_toy_config()).to_report().to_json()
    block = d["groups"]["grp"]
    assert block["reference"] == "b"
    a, b = block["groups"]["a"], block["groups"]["b"]
    assert a["residents"] == 150 and b["residents"] == 350
    assert a["exposure"] == pytest.approx(5 / 6)
    assert b["exposure"] == pytest.approx(3 / 14)
    assert a["victimisation_coverage"] == pytest.approx(1.0)
    assert b["victimisation_coverage"] == pytest.approx(3 / 5)
    assert a["burden_benefit_ratio"] == pytest.approx(7 / 3)
    assert a["false_flag_rate"] == pytest.approx(0.2)
    assert b["false_flag_rate"] == pytest.approx(1 / 3)
    assert a["recall"] == pytest.approx(1.0)
    assert a["recall_ratio"] == pytest.approx(5 / 3)
    assert a["exposure_ratio"] == pytest.approx((5 / 6) / (3 / 14))
    assert a["population_share"] == pytest.approx(0.3)
    # flagged cell-weeks apportioned by resident share: cell0 2*1 + cell1 1*0.5
    assert a["flagged_cell_periods"] == pytest.approx(2.5)
    assert d["period"] == "week" and d["n_periods"] == 2
    gates = d["gates"]
    assert gates["G3"]["by_group"]["grp"]["a"]["value"] == pytest.approx(7 / 3)
    assert gates["G4"]["by_group"]["grp"]["a"]["value"] == pytest.approx(0.6)
    assert gates["G5"]["by_group"]["grp"]["a"]["value"] == pytest.approx(5 / 3)
    assert gates["G3"]["status"] in {"FAIL", "REVIEW"}


def test_group_labels_travel_into_audit_json_and_every_gate_sentence() -> None:
    d = _run_toy(_toy_config()).to_report().to_json()
    block = d["groups"]["grp"]
    assert block["groups"]["a"]["label"] == "residents of group a"
    assert block["groups"]["b"]["label"] == "residents of group b"
    for gid in ("G2", "G3", "G4", "G5"):
        gate = d["gates"][gid]
        assert gate["deciding"] == "grp: a" and gate["deciding_label"] == "residents of group a"
        assert gate["by_group"]["grp"]["a"]["label"] == "residents of group a"
        text = gate["explanation"].lower()
        assert "residents of group a (a)" in text and "residents of group b (b)" in text, text
    assert d["gates"]["G3"]["explanation"].startswith(
        "Residents of group a (a) bear 2.33 times the flagging per unit of protection that "
        "residents of group b (b) bear"
    )
    # a gate decided by no group carries no group label
    assert d["gates"]["G8"]["deciding_label"] is None


def test_a_group_without_a_label_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError, match=r"Attribute 'deprivation', group 'q2': .*label"):
        AttributeSpec.model_validate(
            {
                "name": "deprivation",
                "groups": {
                    "q1": {"column": "res_dep_q1", "label": "residents of the poorest half"},
                    "q2": "res_dep_q2",
                },
            }
        )
    with pytest.raises(ValidationError, match=r"group 'b': .*label"):
        AttributeSpec.model_validate(
            {"name": "x", "groups": {"a": TOY_GROUPS["a"], "b": {"column": "res_b", "label": " "}}}
        )
    with pytest.raises(ValidationError, match="each group needs its own label"):
        AttributeSpec(
            name="x",
            groups={
                "a": GroupSpec(column="res_a", label="residents"),
                "b": GroupSpec(column="res_b", label="Residents"),
            },
        )


def test_default_groups_are_labelled_in_words() -> None:
    attrs = {a.name: a for a in AuditConfig().attributes}
    assert attrs["deprivation"].label_of("q1") == "residents of the most deprived fifth of areas"
    assert attrs["deprivation"].label_of("q5") == "residents of the least deprived fifth of areas"
    assert attrs["ethnicity"].label_of("majority") == "residents of White ethnic groups"
    for attr in attrs.values():
        for group in attr.groups.values():
            assert group.label.startswith("residents "), group.label  # names people, in a sentence


def test_params_file_labels_every_group_as_the_defaults_do() -> None:
    """params.yaml validates (every group and stratum labelled) and says what the code's defaults
    say."""
    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    config = AuditConfig.model_validate(params["audit"])
    assert config.attributes == AuditConfig().attributes
    assert config.strata == AuditConfig().strata


def test_audit_json_is_strict_json_without_nan() -> None:
    d = _run_toy(_toy_config()).to_report().to_json()
    text = json.dumps(d, allow_nan=False)
    assert '"publishable": false' in text
    for gate in d["gates"].values():
        assert set(gate) >= {"status", "value", "ci_low", "ci_high", "band", "kind"}
        assert gate["explanation"].endswith(".")


def test_same_seed_same_result() -> None:
    assert _run_toy(_toy_config(seed=7)).to_report() == _run_toy(_toy_config(seed=7)).to_report()


# --------------------------------------------------------------------------------------------
# A synthetic city: fair vs deliberately biased forecasts
# --------------------------------------------------------------------------------------------


def _flag_top_area(scores: np.ndarray, area: np.ndarray, coverage: float) -> np.ndarray:
    """METRICS.md's flagged set: the shortest prefix of the ranking (ties by cell) reaching k·A."""
    n_cells = scores.shape[1]
    order = np.lexsort((np.broadcast_to(np.arange(n_cells), scores.shape), -scores), axis=1)
    cum = np.cumsum(area[order], axis=1)
    take = (cum - area[order]) < coverage * area.sum()
    flagged = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(flagged, order, take, axis=1)
    return flagged


def _city(
    *, n_cells: int = 5000, n_weeks: int = 52, seed: int = 3, tiny_group: bool = False
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, AuditConfig]:
    """Cells whose groups are balanced along the true-risk ranking (so a true forecast is fair)."""
    rng = np.random.default_rng(seed)
    lam = np.sort(rng.lognormal(-0.3, 0.6, n_cells))[::-1]
    rank = np.arange(n_cells)
    quintile = rank % 5 + 1
    minority = np.array([0.05, 0.15, 0.3, 0.5, 0.7])[(rank // 5) % 5]
    residents = np.full(n_cells, 500.0)
    cells = pd.DataFrame(
        {
            "residents": residents,
            "area_km2": np.full(n_cells, 0.1),
            "res_minority": residents * minority,
            "res_majority": residents * (1 - minority),
            "minority_share": minority + rng.uniform(-0.01, 0.01, n_cells),
            "deprivation_score": quintile + rng.uniform(-0.2, 0.2, n_cells),
        }
    )
    for q in range(1, 6):
        cells[f"res_dep_q{q}"] = np.where(quintile == q, residents, 0.0)
    y = rng.poisson(lam, size=(n_weeks, n_cells)).astype(float)
    attributes = list(AuditConfig().attributes)
    if tiny_group:
        tiny = np.zeros(n_cells)
        tiny[:10] = 100.0  # 1,000 residents: below the 10,000 needed
        cells["res_tiny"] = tiny
        cells["res_rest"] = residents - tiny
        attributes.append(
            AttributeSpec(
                name="tiny_attr",
                groups={
                    "tiny": GroupSpec(column="res_tiny", label="residents of the tiny group"),
                    "rest": GroupSpec(column="res_rest", label="all other residents"),
                },
            )
        )
    config = AuditConfig(n_boot=200, attributes=tuple(attributes))
    return lam, y, cells, config


def _run_city(scores: np.ndarray, y: np.ndarray, cells: pd.DataFrame, config: AuditConfig, **kw):
    flagged = _flag_top_area(scores, cells["area_km2"].to_numpy(), config.coverage)
    args: dict[str, object] = {"target": TARGET, "granularity": GRAIN_OK, "lift": LIFT_OK}
    args.update(kw)
    return run_audit(flagged, y, scores, cells, config=config, **args)  # type: ignore[arg-type]


def test_fair_forecast_passes_and_is_publishable() -> None:
    lam, y, cells, config = _city()
    scores = np.tile(lam, (y.shape[0], 1))
    result = _run_city(scores, y, cells, config)
    assert result.gates["G10"].status == "NOT CHECKED"
    assert not result.publishable  # documentation not yet checked
    result = _documented(result)
    d = result.to_report().to_json()
    for gid in ("G1", "G3", "G5", "G6", "G8", "G9", "G10"):
        assert d["gates"][gid]["status"] == "PASS", (gid, d["gates"][gid]["explanation"])
    # A ratio of two small false-flag rates is noisy; a fair forecast may need review, not fail.
    assert d["gates"]["G4"]["status"] in {"PASS", "REVIEW"}
    assert d["blocking_gates"] == []
    assert d["publishable"] is True
    assert d["override_applied"] is None


def test_biased_forecast_fails_and_blocks_publication() -> None:
    lam, y, cells, config = _city()
    share = cells["res_minority"].to_numpy() / cells["residents"].to_numpy()
    scores = np.tile(lam * (1 + 6 * share), (y.shape[0], 1))  # inflated where minorities live
    result = _documented(_run_city(scores, y, cells, config))
    d = result.to_report().to_json()
    assert d["gates"]["G3"]["status"] == "FAIL" or d["gates"]["G6"]["status"] == "FAIL"
    assert d["gates"]["G6"]["status"] == "FAIL"
    assert d["publishable"] is False
    assert "G6" in d["blocking_gates"]
    # Exposure parity is soft: far outside the band, it still only asks for review.
    assert d["gates"]["G2"]["status"] == "REVIEW"
    assert d["gates"]["G2"]["by_group"]["ethnicity"]["minority"]["value"] > 1.25
    assert d["groups"]["ethnicity"]["groups"]["minority"]["exposure_ratio"] > 1.25


def test_tiny_group_is_insufficient_data_and_blocks() -> None:
    lam, y, cells, config = _city(tiny_group=True)
    scores = np.tile(lam, (y.shape[0], 1))
    result = _documented(_run_city(scores, y, cells, config))
    d = result.to_report().to_json()
    entry = d["gates"]["G3"]["by_group"]["tiny_attr"]["tiny"]
    assert entry["status"] == "INSUFFICIENT DATA"
    assert "1,000 residents" in entry["note"]
    assert d["gates"]["G3"]["status"] == "INSUFFICIENT DATA"
    assert "too little data" in d["gates"]["G3"]["explanation"]
    assert d["groups"]["tiny_attr"]["groups"]["tiny"]["sufficient"] is False
    assert "G3" in d["blocking_gates"]
    assert d["publishable"] is False
    # G2 is soft: insufficient data there is listed for review but does not block.
    assert d["gates"]["G2"]["status"] == "INSUFFICIENT DATA"
    assert "G2" not in d["blocking_gates"] and "G2" in d["review_gates"]


def test_toy_with_default_thresholds_is_insufficient() -> None:
    result = _documented(_run_toy(_toy_config(min_flagged_cell_periods=30, min_residents=10_000)))
    for gid in ("G3", "G4", "G5"):
        assert result.gates[gid].status == "INSUFFICIENT DATA"
    assert result.gates["G6"].status == "INSUFFICIENT DATA"  # no strata configured
    assert not result.publishable
    reason = result.to_report().to_json()["groups"]["grp"]["groups"]["a"]["insufficient_reason"]
    assert reason.startswith("2.5 flagged cell-weeks, 30 needed")


def test_monthly_audit_says_cell_months_and_records_the_period() -> None:
    # The same arrays read as two backtest months: the figures are the same, the words are not.
    weekly = _run_toy(_toy_config(min_flagged_cell_periods=30)).to_report().to_json()
    monthly = (
        _run_toy(_toy_config(min_flagged_cell_periods=30), period="month").to_report().to_json()
    )
    assert monthly["period"] == "month" and monthly["n_periods"] == 2
    a = monthly["groups"]["grp"]["groups"]["a"]
    assert a["insufficient_reason"] == "2.5 flagged cell-months, 30 needed"
    assert a["exposure"] == weekly["groups"]["grp"]["groups"]["a"]["exposure"]
    assert monthly["settings"]["min_flagged_cell_periods"] == 30
    with pytest.raises(ValueError, match=r"period must be one of \['week', 'month'\]"):
        _run_toy(_toy_config(), period="fortnight")


# --------------------------------------------------------------------------------------------
# Interval logic
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "lo", "hi", "band", "expected"),
    [
        (1.0, 0.9, 1.1, (0.8, 1.25), "PASS"),
        (1.25, 1.2, 1.3, (0.8, 1.25), "PASS"),  # on the edge is inside
        (1.30, 1.20, 1.40, (0.8, 1.25), "REVIEW"),  # outside, interval reaches in
        (1.40, 1.30, 1.50, (0.8, 1.25), "FAIL"),  # whole interval outside
        (0.70, 0.60, 0.85, (0.8, 1.25), "REVIEW"),
        (0.70, 0.60, 0.75, (0.8, 1.25), "FAIL"),
        (0.75, 0.70, 0.82, (0.8, None), "REVIEW"),  # one-sided
        (0.75, 0.70, 0.78, (0.8, None), "FAIL"),
        (1.40, math.nan, math.nan, (0.8, 1.25), "FAIL"),  # no interval cannot rescue
        (math.nan, 0.9, 1.1, (0.8, 1.25), "INSUFFICIENT DATA"),
        (None, None, None, (0.8, 1.25), "INSUFFICIENT DATA"),
    ],
)
def test_classify_against_band(value, lo, hi, band, expected) -> None:
    assert classify_against_band(value, lo, hi, low=band[0], high=band[1]) == expected


@pytest.mark.parametrize(
    ("lift", "expected"),
    [
        ((1.10, 1.02, 1.2), "PASS"),
        ((0.95, 0.90, 1.03), "REVIEW"),
        ((0.90, 0.85, 0.97), "FAIL"),
        ((0.90, None, None), "FAIL"),  # no interval cannot rescue a low lift
        ((None, None, None), "INSUFFICIENT DATA"),
        (None, "INSUFFICIENT DATA"),
    ],
)
def test_lift_gate_review_vs_fail(lift, expected) -> None:
    if lift is not None:
        lift = Lift(baseline="b1", estimate=lift[0], ci_low=lift[1], ci_high=lift[2])
    result = _run_toy(_toy_config(), lift=lift)
    assert result.gates["G8"].status == expected
    assert ("G8" in result.blocking_gates) == (expected in {"FAIL", "INSUFFICIENT DATA"})


def test_lift_is_read_typed_from_metrics_json(tmp_path) -> None:
    path = tmp_path / "metrics.json"
    METRICS.write(path)
    lift = BacktestMetrics.read(path).lift
    assert (lift.estimate, lift.ci_low, lift.ci_high, lift.baseline) == (
        1.12,
        1.04,
        1.21,
        "b4_all_history",
    )
    gate = _run_toy(_toy_config(), lift=lift).gates["G8"]
    assert gate.status == "PASS" and "(b4_all_history)" in gate.explanation


@pytest.mark.parametrize(
    "misspelt",
    [
        {"value": 1.1, "ci": [1.0, 1.2], "baseline": "b4_all_history"},
        {"point": 1.1, "ci_low": 1.0, "ci_high": 1.2, "baseline": "b4_all_history"},
        {"estimate": 1.1, "ci_low": 1.0, "ci_high": 1.2, "best_baseline": "b4_all_history"},
    ],
)
def test_a_misspelt_lift_is_refused_naming_the_file_and_key(tmp_path, misspelt) -> None:
    # The lenient spellings no producer writes are gone: the file must match its definition.
    path = tmp_path / "metrics.json"
    raw = METRICS.to_json()
    raw["lift_pai_at_5pct"] = misspelt
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtefactError, match=r"metrics\.json: key 'lift\.") as err:
        BacktestMetrics.read(path)
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------------------------
# G1, G9, G10
# --------------------------------------------------------------------------------------------


def test_drugs_in_target_trips_g1() -> None:
    target = TargetDefinition(target_types=("burglary", "drugs"))
    counts = {"burglary": 75.0, "drugs": 25.0}
    result = _run_toy(_toy_config(), target=target, target_event_counts=counts)
    gate = result.gates["G1"]
    assert gate.status == "FAIL"
    assert gate.value == pytest.approx(0.25)
    assert "drugs" in gate.explanation and "G1" in result.blocking_gates


def test_police_activity_type_with_reason_passes_g1() -> None:
    target = TargetDefinition(
        target_types=("burglary", "possession_weapons"),
        police_activity_reasons={"possession_weapons": "Knife crime board asked for it."},
    )
    result = _run_toy(_toy_config(), target=target, target_event_counts={"burglary": 9})
    assert result.gates["G1"].status == "PASS"
    assert result.gates["G1"].value == 0.0


def test_target_definition_refuses_unknown_types() -> None:
    with pytest.raises(ValidationError, match="not a canonical Beatwise type"):
        TargetDefinition(target_types=("burglary", "jaywalking"))
    with pytest.raises(ValidationError, match="may only name police-activity types"):
        TargetDefinition(target_types=("burglary",), police_activity_reasons={"burglary": "x"})


@pytest.mark.parametrize(
    ("grain", "expected"),
    [
        (
            GranularityCheck(published_resolution=8, max_resolution=8, event_level_rows=False),
            "PASS",
        ),
        (
            GranularityCheck(published_resolution=9, max_resolution=8, event_level_rows=False),
            "FAIL",
        ),
        (GranularityCheck(published_resolution=7, max_resolution=8, event_level_rows=True), "FAIL"),
        (
            GranularityCheck(
                published_resolution=8,
                max_resolution=8,
                event_level_rows=False,
                smallest_count_shown=2,
            ),
            "FAIL",
        ),
        (
            GranularityCheck(
                published_resolution=8,
                max_resolution=8,
                event_level_rows=False,
                smallest_count_shown=3,
            ),
            "PASS",
        ),
    ],
)
def test_granularity_gate(grain: GranularityCheck, expected: str) -> None:
    gate = _run_toy(_toy_config(), granularity=grain).gates["G9"]
    assert gate.status == expected
    if grain.published_resolution > grain.max_resolution:
        assert "finer than the allowed 8" in gate.explanation


@pytest.mark.parametrize(
    ("suppress_below", "shown", "expected"),
    [(3, 3, "PASS"), (5, 4, "FAIL"), (5, 5, "PASS"), (5, None, "PASS"), (1, 1, "PASS")],
)
def test_granularity_gate_judges_publish_min_count_shown(
    suppress_below: int, shown: int | None, expected: str
) -> None:
    # G9 judges the params' publish.min_count_shown, not a fixed 3, and its band says which.
    grain = GranularityCheck(
        published_resolution=8,
        max_resolution=8,
        event_level_rows=False,
        smallest_count_shown=shown,
        suppress_below=suppress_below,
    )
    gate = _run_toy(_toy_config(), granularity=grain).gates["G9"]
    assert gate.status == expected
    assert gate.band.endswith(f"counts < {suppress_below} suppressed")
    check = gate.by_group["checks"]["small_counts"]
    assert (check.value, check.band) == (shown, f"counts below {suppress_below} suppressed")
    if expected == "FAIL":
        assert f"a historical count of {shown} is shown unsuppressed" in gate.explanation


def test_granularity_default_is_metrics_md_three() -> None:
    assert (
        GranularityCheck(
            published_resolution=8, max_resolution=9, event_level_rows=False
        ).suppress_below
        == 3
    )
    with pytest.raises(ValidationError):
        GranularityCheck(
            published_resolution=8, max_resolution=9, event_level_rows=False, suppress_below=0
        )


def test_report_missing_a_section_trips_g10() -> None:
    result = _run_toy(_toy_config())
    html, card = _documents(result)
    assert check_documentation(html, card, model_version="v-test").status == "PASS"
    broken = html.replace('id="feedback-loop-caveat"', 'id="something-else"')
    gate = check_documentation(broken, card)
    assert gate.status == "FAIL"
    assert "feedback-loop-caveat" in gate.explanation
    card_broken = card.replace("## Ethical considerations", "## Thoughts")
    gate = check_documentation(html, card_broken)
    assert gate.status == "FAIL" and "Ethical considerations" in gate.explanation
    gate = check_documentation(html, card, model_version="v-other")
    assert gate.status == "FAIL" and "v-other" in gate.explanation
    blocked = result.with_documentation(report_html=broken, model_card_md=card)
    assert "G10" in blocked.blocking_gates


# --------------------------------------------------------------------------------------------
# Override
# --------------------------------------------------------------------------------------------


def test_override_makes_publishable_and_is_recorded() -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2025, 1, 10),
        reason="Pilot with weekly human review of every flagged cell.",
        gates=("G1", "G3", "G4", "G6"),  # the toy's blocking gates, each approved by name
    )
    target = TargetDefinition(target_types=("burglary", "drugs"))
    plain = _documented(_run_toy(_toy_config(), target=target))
    assert not plain.publishable and "G1" in plain.blocking_gates
    result = _documented(_run_toy(_toy_config(), target=target, override=override))
    d = result.to_report().to_json()
    assert d["publishable"] is True
    assert "G1" in d["blocking_gates"]  # the gates still say what they found
    applied = d["override_applied"]
    assert applied["approving_body"] == "Toy City Ethics Board"
    assert applied["date"] == "2025-01-10"
    assert "G1" in applied["overridden_gates"]
    assert "Pilot with weekly human review" in applied["text"]


def test_override_lifts_only_the_gates_it_names() -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2025, 1, 10),
        reason="Approved for G8 only.",
        gates=("G8",),
    )
    target = TargetDefinition(target_types=("burglary", "drugs"))
    result = _documented(_run_toy(_toy_config(), target=target, override=override))
    assert "G1" in result.blocking_gates
    assert not result.publishable and result.override_applied is None


def test_override_cannot_skip_the_documentation_check() -> None:
    override = AuditOverride(
        approving_body="Board", date=dt.date(2025, 1, 1), reason="Because.", gates=("G10",)
    )
    result = _run_toy(_toy_config(), override=override)
    assert result.gates["G10"].status == "NOT CHECKED"
    assert not result.publishable and result.override_applied is None


@pytest.mark.parametrize("field", ["approving_body", "reason"])
def test_override_fields_must_be_non_empty(field: str) -> None:
    values = {
        "approving_body": "Board",
        "date": dt.date(2025, 1, 1),
        "reason": "Because.",
        "gates": ["G5"],
    }
    values[field] = "   "
    with pytest.raises(ValidationError):
        AuditOverride.model_validate(values)
    with pytest.raises(ValidationError):
        AuditOverride.model_validate({"approving_body": "Board", "reason": "x"})  # no date
    with pytest.raises(ValidationError):  # an override must name the gates it approves
        AuditOverride.model_validate({**values, field: "Board", "gates": []})


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------


def test_bad_inputs_name_the_problem() -> None:
    flagged, y, scores, cells = _toy()
    config = _toy_config()
    kw = {"config": config, "target": TARGET, "granularity": GRAIN_OK}
    with pytest.raises(ValueError, match="flagged must be a boolean array"):
        run_audit(flagged.astype(int), y, scores, cells, **kw)
    with pytest.raises(ValueError, match=r"y must have the shape of flagged \(2, 4\)"):
        run_audit(flagged, y[:, :3], scores, cells, **kw)
    with pytest.raises(ValueError, match="scores must be finite and non-negative"):
        run_audit(flagged, y, -scores, cells, **kw)
    with pytest.raises(ValueError, match="cells must have one row per cell"):
        run_audit(flagged, y, scores, cells.iloc[:3], **kw)
    with pytest.raises(ValueError, match="cells has no column 'res_b'"):
        run_audit(flagged, y, scores, cells.drop(columns="res_b"), **kw)
    with pytest.raises(ValidationError, match="reference must be 'largest'"):
        AttributeSpec(name="x", groups=TOY_GROUPS, reference="c")
    with pytest.raises(ValidationError, match="extra"):
        AuditConfig.model_validate({"n_bot": 10})
    with pytest.raises(ValidationError, match="exposure_band"):
        AuditConfig(exposure_band=(1.25, 0.8))


def test_strata_spec_validates() -> None:
    with pytest.raises(ValidationError, match="n_quantiles"):
        StratumSpec(name="s", column="c", label="c", n_quantiles=1)
    with pytest.raises(ValidationError, match=r"Stratum 'deprivation_score': .*label"):
        StratumSpec.model_validate({"name": "deprivation_score", "column": "deprivation_score"})


@pytest.mark.parametrize(
    ("index", "n_bins", "expected"),
    [
        (0, 5, "cells in the lowest fifth by deprivation score"),
        (1, 5, "cells in the second lowest fifth by deprivation score"),
        (2, 5, "cells in the middle fifth by deprivation score"),
        (3, 5, "cells in the second highest fifth by deprivation score"),
        (4, 5, "cells in the highest fifth by deprivation score"),
        (1, 4, "cells in the second lowest quarter by deprivation score"),
        (3, 7, "cells in the middle of 7 equal-count bands by deprivation score"),
    ],
)
def test_stratum_label_says_where_the_stratum_lies(index: int, n_bins: int, expected: str) -> None:
    assert stratum_label(index, n_bins, "deprivation score") == expected


def test_false_flag_ratio_of_two_zero_rates_is_parity() -> None:
    from models.audit._arrays import rate_ratio

    np.testing.assert_allclose(
        rate_ratio([0.0, 0.0, 0.2, 0.3], [0.0, 0.1, 0.0, 0.2]), [1.0, 0.0, np.nan, 1.5]
    )
