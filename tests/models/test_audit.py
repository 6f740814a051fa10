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
from feedback_inputs import make_feedback
from pydantic import ValidationError

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.metrics import BacktestMetrics, Lift
from models.audit import (
    NO_RESIDENTS_KEY,
    NO_RESIDENTS_LABEL,
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
    canary_scores,
    check_documentation,
    classify_against_band,
    run_audit,
    stratum_label,
)
from models.report import (
    DataQualitySummary,
    ReportContext,
    build_record,
    document_dates,
    render_bias_report,
    render_model_card,
    render_transparency_record,
)

TARGET = TargetDefinition(target_types=("burglary", "robbery"))
GRAIN_OK = GranularityCheck(published_resolution=8, max_resolution=8, event_level_rows=False)
TOY_GROUPS = {
    "a": GroupSpec(column="res_a", label="residents of group a"),
    "b": GroupSpec(column="res_b", label="residents of group b"),
}
LIFT_OK = Lift(estimate=1.2, ci_low=1.1, ci_high=1.3, baseline="b4_all_history")
METRICS = make_metrics()
RUN_DATE = dt.date(2024, 4, 22)
#: the feedback stage's closed loop, passing G11, so that the other gates decide
FEEDBACK_PASS = make_feedback("PASS")
NO_QUALITY = DataQualitySummary()


def _context() -> ReportContext:
    return ReportContext(
        model_version="v-test",
        run_id="run-1",
        audit_date=dt.date(2025, 1, 13),
        forecast_period=dt.date(2025, 1, 6),
        study_area="Toy City",
        target_types=("burglary", "robbery"),
        published_resolution=8,
        backtest_period="2024-W01 to 2024-W52",
        training_data="Synthetic events before the backtest.",
        evaluation_data="Synthetic events in the backtest weeks.",
    )


def _documents(result: AuditResult) -> tuple[str, str, str]:
    report = result.to_report()
    metrics = make_metrics(coverage=report.coverage)
    html = render_bias_report(report, metrics=metrics, data_quality=NO_QUALITY, context=_context())
    dates = document_dates(_context(), metrics)
    record = build_record(report, metrics=metrics, context=_context(), dates=dates)
    record_md = render_transparency_record(record, dates=dates, coverage=report.coverage)
    return html, render_model_card(report, metrics=metrics, context=_context()), record_md


def _documented(result: AuditResult) -> AuditResult:
    """Render the report, card and record from the result and let G10 judge them."""
    html, card, record = _documents(result)
    return result.with_documentation(
        report_html=html, model_card_md=card, record_md=record, model_version="v-test"
    )


# --------------------------------------------------------------------------------------------
# A 4-cell, 2-week toy with figures computed by hand
# --------------------------------------------------------------------------------------------
#   cell  res_a  res_b  residents   model w0 w1   reference w0 w1   y w0 w1
#   0     100    0      100         1  1          1  1              2  1
#   1     50     50     100         1  0          0  0              0  0
#   2     0      100    100         0  1          1  1              1  3
#   3     0      200    200         0  0          0  0              0  1
# Ratios are to all residents (500). Model: E_a = 250/300 = 5/6, E_b = 150/700 = 3/14,
# E_all = 400/1000 = 0.4, so X_a = 25/12, X_b = 15/28. Discovery: V_a = 3, reached 3 (D_a = 1);
# V_b = 5, reached 3 (D_b = 3/5); all events 8, reached 6 (D_all = 3/4): DR_a = 4/3, DR_b = 4/5,
# B_a = X_a / DR_a = 25/16. False flags (cell 1 in w0): FF_a = 50/250, FF_b = 50/150, FF_all =
# 100/400, so FFR_a = 0.8, FFR_b = 4/3.
# Reference: E_a = 200/300, E_b = 200/700, E_all = 0.4: X_a = 5/3, X_b = 5/7; D_a = 1, D_b = 4/5,
# D_all = 7/8: DR_a = 8/7, DR_b = 32/35, B_a = 35/24; no false flags (FF ratio 0/0 = parity, 1).
# Amplification: A(X)_a = 5/4, A(X)_b = 3/4; A(B)_a = 15/14; A(FFR)_a = 0.8, A(FFR)_b = 4/3;
# A(DR)_a = 7/6, A(DR)_b = 7/8; retention_a = 1, retention_b = 3/4.


def _toy() -> tuple[Allocation, Allocation, np.ndarray, pd.DataFrame]:
    model = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=bool)
    reference = np.array([[1, 0, 1, 0], [1, 0, 1, 0]], dtype=bool)
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
    return (
        Allocation("this model", model, scores),
        Allocation("the true risk", reference, scores),
        y,
        cells,
    )


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


def _run(model: Allocation, reference: Allocation, y, cells, config: AuditConfig, **kw: object):
    args: dict[str, object] = {
        "target": TARGET,
        "granularity": GRAIN_OK,
        "lift": LIFT_OK,
        "reference_info": TRUTH_REFERENCE,
        "run_date": RUN_DATE,
        "feedback": FEEDBACK_PASS,
    }
    args.update(kw)
    return run_audit(model, reference, y, cells, config=config, **args)  # type: ignore[arg-type]


def _run_toy(config: AuditConfig, **kw: object) -> AuditResult:
    model, reference, y, cells = _toy()
    return _run(model, reference, y, cells, config, **kw)


def test_toy_group_figures_match_hand_computation() -> None:
    d = _run_toy(_toy_config()).to_report().to_json()
    block = d["groups"]["grp"]
    assert block["all_residents"]["residents"] == 500
    assert block["all_residents"]["exposure"] == pytest.approx(0.4)
    assert block["all_residents"]["discovery"] == pytest.approx(3 / 4)
    assert block["all_residents"]["false_flag_rate"] == pytest.approx(0.25)
    a, b = block["groups"]["a"], block["groups"]["b"]
    assert a["residents"] == 150 and b["residents"] == 350
    assert a["exposure"] == pytest.approx(5 / 6)
    assert b["exposure"] == pytest.approx(3 / 14)
    assert a["residents_flagged_per_period"] == pytest.approx(125)
    assert a["exposure_ratio"]["value"] == pytest.approx(25 / 12)
    assert b["exposure_ratio"]["value"] == pytest.approx(15 / 28)
    assert a["discovery"] == pytest.approx(1.0)
    assert b["discovery"] == pytest.approx(3 / 5)
    assert a["discovery_ratio"]["value"] == pytest.approx(4 / 3)
    assert a["burden_benefit"]["value"] == pytest.approx(25 / 16)
    assert a["false_flag_rate"] == pytest.approx(0.2)
    assert b["false_flag_rate"] == pytest.approx(1 / 3)
    assert a["false_flag_ratio"]["value"] == pytest.approx(0.8)
    assert a["population_share"] == pytest.approx(0.3)
    # flagged cell-weeks apportioned by resident share: cell0 2*1 + cell1 1*0.5
    assert a["flagged_cell_periods"] == pytest.approx(2.5)
    amp_a, amp_b = a["amplification"], b["amplification"]
    assert amp_a["exposure_ratio"]["value"] == pytest.approx(5 / 4)
    assert amp_b["exposure_ratio"]["value"] == pytest.approx(3 / 4)
    assert amp_a["burden_benefit"]["value"] == pytest.approx(15 / 14)
    assert amp_a["false_flag_ratio"]["value"] == pytest.approx(0.8)
    assert amp_b["false_flag_ratio"]["value"] == pytest.approx(4 / 3)
    assert amp_a["discovery_ratio"]["value"] == pytest.approx(7 / 6)
    assert amp_b["discovery_ratio"]["value"] == pytest.approx(7 / 8)
    assert a["retention"]["value"] == pytest.approx(1.0)
    assert b["retention"]["value"] == pytest.approx(3 / 4)
    assert d["period"] == "week" and d["n_periods"] == 2
    gates = d["gates"]
    assert gates["G2"]["by_group"]["grp"]["b"]["value"] == pytest.approx(3 / 4)
    assert gates["G3"]["by_group"]["grp"]["a"]["value"] == pytest.approx(15 / 14)
    assert gates["G4"]["by_group"]["grp"]["b"]["value"] == pytest.approx(4 / 3)
    g5 = gates["G5"]["by_group"]
    assert g5["grp: discovery ratio"]["b"]["value"] == pytest.approx(7 / 8)
    assert g5["grp: retention"]["b"]["value"] == pytest.approx(3 / 4)
    assert d["reference"]["label"] == "the true risk"
    # the board's panel: the model's and the reference's absolute figures side by side
    board = d["board"]["allocations"]
    assert board["model"]["groups"]["grp"]["a"]["exposure_ratio"] == pytest.approx(25 / 12)
    assert board["reference"]["groups"]["grp"]["a"]["exposure_ratio"] == pytest.approx(5 / 3)
    assert board["reference"]["groups"]["grp"]["b"]["discovery"] == pytest.approx(4 / 5)
    assert board["model"]["discovery_gap_pp"]["grp"] == pytest.approx(40.0)
    assert board["model"]["hit_rate"] == pytest.approx(6 / 8)


def test_the_reference_against_itself_is_parity() -> None:
    _, reference, y, cells = _toy()
    d = _run(reference, reference, y, cells, _toy_config()).to_report().to_json()
    for group in d["groups"]["grp"]["groups"].values():
        for estimate in group["amplification"].values():
            assert estimate["value"] == pytest.approx(1.0)
            assert estimate["ci"] == [pytest.approx(1.0), pytest.approx(1.0)]
    for gid in ("G2", "G3", "G4", "G5"):
        assert d["gates"][gid]["status"] == "PASS", d["gates"][gid]["explanation"]


def test_group_labels_travel_into_audit_json_and_every_gate_sentence() -> None:
    d = _run_toy(_toy_config()).to_report().to_json()
    block = d["groups"]["grp"]
    assert block["groups"]["a"]["label"] == "residents of group a"
    assert block["groups"]["b"]["label"] == "residents of group b"
    for gid in ("G2", "G3", "G4", "G5"):
        gate = d["gates"][gid]
        assert gate["deciding_label"] in {"residents of group a", "residents of group b"}
        text = gate["explanation"].lower()
        assert f"{gate['deciding_label']} ({gate['deciding'][-1]})" in text, text
        assert "the true risk" in text
    assert d["gates"]["G2"]["explanation"].startswith(
        "The model makes residents of group b (b) live in flagged cells, relative to all "
        "residents, 0.75 times as often as the true risk does"
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


def test_a_reference_group_is_refused_since_ratios_are_to_all_residents() -> None:
    with pytest.raises(ValidationError, match=r"'reference' is gone.*all residents"):
        AttributeSpec.model_validate({"name": "x", "groups": TOY_GROUPS, "reference": "largest"})


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
    say; the default run carries no override and no envelope."""
    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    config = AuditConfig.model_validate(params["audit"])
    assert config.attributes == AuditConfig().attributes
    assert config.strata == AuditConfig().strata
    assert config.amplification_band == AuditConfig().amplification_band
    assert config.envelope is None
    assert params["publish"]["override"] is None


def test_audit_json_is_strict_json_without_nan() -> None:
    d = _run_toy(_toy_config()).to_report().to_json()
    text = json.dumps(d, allow_nan=False)
    assert '"publishable": false' in text
    for gate in d["gates"].values():
        assert set(gate) >= {"status", "value", "ci_low", "ci_high", "band", "kind"}
        assert gate["explanation"].endswith(".")


def test_same_seed_same_result() -> None:
    assert _run_toy(_toy_config(seed=7)).to_report() == _run_toy(_toy_config(seed=7)).to_report()


def test_model_and_reference_share_the_resampled_weeks() -> None:
    """Paired bootstrap: a model equal to the reference in every week has amplification exactly
    1 in every replicate, however unequal the weeks are."""
    lam, y, cells, config = _city(n_cells=500, n_weeks=20)
    wobble = 1 + 0.5 * np.sin(np.arange(20))[:, None]  # the weeks differ a lot
    scores = np.tile(lam, (20, 1)) * wobble
    truth = _allocation("the true risk", scores, cells, config.coverage)
    d = _run(truth, truth, y, cells, config).to_report().to_json()
    for block in d["groups"].values():
        for g in block["groups"].values():
            assert g["amplification"]["exposure_ratio"]["ci"] == [1.0, 1.0]


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


def _allocation(label: str, scores: np.ndarray, cells: pd.DataFrame, coverage: float) -> Allocation:
    return Allocation(label, _flag_top_area(scores, cells["area_km2"].to_numpy(), coverage), scores)


def _city(
    *, n_cells: int = 5000, n_weeks: int = 52, seed: int = 3, tiny_group: bool = False
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, AuditConfig]:
    """Cells whose true risk falls with deprivation and rises with the minority share, as in
    real cities: even the true risk flags groups unequally (what the board decides about)."""
    rng = np.random.default_rng(seed)
    quintile = rng.integers(1, 6, n_cells)
    minority = np.clip(rng.beta(2, 3, n_cells) + 0.08 * (5 - quintile) / 4, 0.02, 0.95)
    lam = rng.lognormal(-0.8, 0.6, n_cells) * (1.6 - 0.15 * quintile) * (0.7 + 0.6 * minority)
    residents = np.full(n_cells, 500.0)
    cells = pd.DataFrame(
        {
            "residents": residents,
            "area_km2": np.full(n_cells, 0.1),
            "res_minority": residents * minority,
            "res_majority": residents * (1 - minority),
            "minority_share": minority,
            "deprivation_score": (6 - quintile) + rng.uniform(-0.2, 0.2, n_cells),
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
    lam = kw.pop("truth")
    truth = np.tile(lam, (y.shape[0], 1))
    return _run(
        _allocation("this model", scores, cells, config.coverage),
        _allocation("the true risk", truth, cells, config.coverage),
        y,
        cells,
        config,
        **kw,
    )


def test_the_true_risk_passes_though_it_flags_groups_unequally() -> None:
    lam, y, cells, config = _city()
    scores = np.tile(lam, (y.shape[0], 1))
    result = _run_city(scores, y, cells, config, truth=lam)
    assert result.gates["G10"].status == "NOT CHECKED"
    assert not result.publishable  # documentation not yet checked
    result = _documented(result)
    d = result.to_report().to_json()
    for gid in ("G1", "G2", "G3", "G4", "G5", "G6", "G8", "G9", "G10"):
        assert d["gates"][gid]["status"] == "PASS", (gid, d["gates"][gid]["explanation"])
    assert d["gates"]["G12"]["status"] == "NOT APPLICABLE"
    assert d["blocking_gates"] == []
    assert d["publishable"] is True
    assert d["override_applied"] is None
    # ... while the absolute disparity the board weighs is far from parity
    q1 = d["board"]["allocations"]["model"]["groups"]["deprivation"]["q1"]
    q5 = d["board"]["allocations"]["model"]["groups"]["deprivation"]["q5"]
    assert q1["exposure_ratio"] > 1.5 * q5["exposure_ratio"]


def test_biased_forecast_fails_and_blocks_publication() -> None:
    lam, y, cells, config = _city()
    share = cells["res_minority"].to_numpy() / cells["residents"].to_numpy()
    scores = np.tile(lam * (1 + 6 * share), (y.shape[0], 1))  # inflated where minorities live
    result = _documented(_run_city(scores, y, cells, config, truth=lam))
    d = result.to_report().to_json()
    assert d["gates"]["G6"]["status"] == "FAIL"
    assert d["gates"]["G2"]["status"] == "FAIL"  # exposure amplification is a hard gate now
    assert d["gates"]["G2"]["by_group"]["ethnicity"]["minority"]["value"] > 1.25
    assert d["publishable"] is False
    assert {"G2", "G6"} <= set(d["blocking_gates"])


def test_calibrated_in_aggregate_but_flags_moved_to_minority_cells_is_blocked() -> None:
    lam, y, cells, config = _city()
    truth = np.tile(lam, (y.shape[0], 1))
    share = cells["res_minority"].to_numpy() / cells["residents"].to_numpy()
    scores = canary_scores(truth, share, 3.0, rescaled=True)
    np.testing.assert_allclose(scores.sum(axis=1), truth.sum(axis=1))  # same total every week
    result = _documented(_run_city(scores, y, cells, config, truth=lam))
    assert not result.publishable
    assert result.gates["G2"].status == "FAIL", result.gates["G2"].explanation
    assert result.gates["G2"].deciding.startswith("ethnicity: ")
    minority = result.gates["G2"].by_group["ethnicity"]["minority"]
    assert minority.status == "FAIL" and minority.value > 1.25
    assert "G2" in result.blocking_gates


@pytest.mark.parametrize("column", ["res_minority", "res_dep_q1"])
@pytest.mark.parametrize("rescaled", [False, True])
def test_canaries_at_half_fail_a_hard_gate(column: str, rescaled: bool) -> None:
    lam, y, cells, config = _city()
    truth = np.tile(lam, (y.shape[0], 1))
    share = cells[column].to_numpy() / cells["residents"].to_numpy()
    scores = canary_scores(truth, share, 0.5, rescaled=rescaled)
    gates = _run_city(scores, y, cells, config, truth=lam).gates
    failed = [g for g in ("G2", "G3", "G4", "G5", "G6") if gates[g].status == "FAIL"]
    assert failed, {g: (gates[g].status, gates[g].value) for g in gates}


def test_tiny_group_is_insufficient_data_and_blocks() -> None:
    lam, y, cells, config = _city(tiny_group=True)
    scores = np.tile(lam, (y.shape[0], 1))
    result = _documented(_run_city(scores, y, cells, config, truth=lam))
    d = result.to_report().to_json()
    entry = d["gates"]["G3"]["by_group"]["tiny_attr"]["tiny"]
    assert entry["status"] == "INSUFFICIENT DATA"
    assert "1,000 residents" in entry["note"]
    assert d["gates"]["G3"]["status"] == "INSUFFICIENT DATA"
    assert "too little data" in d["gates"]["G3"]["explanation"]
    assert d["groups"]["tiny_attr"]["groups"]["tiny"]["sufficient"] is False
    assert {"G2", "G3", "G4", "G5"} <= set(d["blocking_gates"])
    assert d["publishable"] is False


def test_cells_without_residents_form_their_own_stratum() -> None:
    lam, y, cells, config = _city(n_cells=1000)
    cells.loc[:49, ["residents", "res_minority", "res_majority"]] = 0.0
    for q in range(1, 6):
        cells.loc[:49, f"res_dep_q{q}"] = 0.0
    lam[:50] *= 4  # a town centre: busy, nobody lives there
    y = np.random.default_rng(0).poisson(lam, size=y.shape).astype(float)
    scores = np.tile(lam, (y.shape[0], 1))
    d = _run_city(scores, y, cells, config, truth=lam).to_report().to_json()
    none = d["strata"]["deprivation_score"]["strata"][NO_RESIDENTS_KEY]
    assert none["no_residents"] and none["n_cells"] == 50 and none["label"] == NO_RESIDENTS_LABEL
    assert none["flagged_cell_periods"] > 0  # its crime is in the audit, not dropped
    assert none["observed_expected"] == pytest.approx(y[:, :50].sum() / scores[:, :50].sum())
    assert d["board"]["allocations"]["model"]["no_resident_crime_share"] > 0.1
    assert NO_RESIDENTS_KEY in d["gates"]["G6"]["by_group"]["deprivation_score (all cells)"]


def test_a_stratum_with_nothing_at_stake_is_shown_not_judged() -> None:
    lam, y, cells, config = _city(n_cells=1000)
    cells.loc[:4, ["residents", "res_minority", "res_majority"]] = 0.0
    for q in range(1, 6):
        cells.loc[:4, f"res_dep_q{q}"] = 0.0
    y[:, :5] = 0.0  # five empty cells: no events, never flagged
    scores = np.tile(lam, (y.shape[0], 1))
    gate = _run_city(scores, y, cells, config, truth=lam).gates["G6"]
    entry = gate.by_group["deprivation_score (all cells)"][NO_RESIDENTS_KEY]
    assert entry.status == "NOT APPLICABLE" and "0 recorded target events" in entry.note
    flagged = gate.by_group["deprivation_score (flagged)"][NO_RESIDENTS_KEY]
    assert flagged.status == "NOT APPLICABLE" and "flagged cell-weeks" in flagged.note
    assert gate.status != "INSUFFICIENT DATA"


def test_toy_with_default_thresholds_is_insufficient() -> None:
    result = _documented(_run_toy(_toy_config(min_flagged_cell_periods=30, min_residents=10_000)))
    for gid in ("G2", "G3", "G4", "G5"):
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
# G12: the board's envelope
# --------------------------------------------------------------------------------------------


def _envelope(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ratified_by": "Toy City Ethics Board",
        "date": "2024-01-10",
        "expires": "2024-07-10",
        "reason": "No group twice as exposed as all residents.",
        "limits": [{"quantity": "exposure_ratio", "attribute": "grp", "max": 2.0}],
    }
    base.update(kw)
    return base


def test_an_envelope_limit_the_run_breaks_blocks() -> None:
    # X_a = 25/12 ~ 2.08 > 2.0, and with one flagged pattern per week the interval stays there
    config = _toy_config(envelope=_envelope())
    result = _documented(_run_toy(config))
    gate = result.gates["G12"]
    assert gate.status in {"FAIL", "REVIEW"}
    assert gate.by_group["grp: exposure_ratio"]["a"].value == pytest.approx(25 / 12)
    assert "Toy City Ethics Board" in gate.explanation
    strict = _documented(
        _run_toy(
            _toy_config(
                envelope=_envelope(
                    limits=[
                        {"quantity": "exposure_ratio", "attribute": "grp", "group": "a", "max": 1.5}
                    ]
                )
            )
        )
    )
    assert strict.gates["G12"].status == "FAIL" and "G12" in strict.blocking_gates
    loose = _run_toy(
        _toy_config(
            envelope=_envelope(
                limits=[{"quantity": "exposure_ratio", "attribute": "grp", "max": 3.0}]
            )
        )
    )
    assert loose.gates["G12"].status == "PASS"
    assert loose.run_date == RUN_DATE  # dated: recorded in audit.json
    record = loose.to_report().to_json()["envelope"]
    assert record["ratified_by"] == "Toy City Ethics Board" and record["expired"] is False
    assert record["limits"][0]["quantity"] == "exposure_ratio" and record["limits"][0]["max"] == 3.0


def test_an_expired_envelope_blocks() -> None:
    limits = [{"quantity": "exposure_ratio", "attribute": "grp", "max": 3.0}]
    config = _toy_config(envelope=_envelope(limits=limits, expires="2024-03-01"))
    result = _run_toy(config, run_date=dt.date(2024, 3, 2))
    assert result.gates["G12"].status == "FAIL"
    assert "expired on 2024-03-01" in result.gates["G12"].explanation
    assert "G12" in result.blocking_gates
    assert result.to_report().to_json()["envelope"]["expired"] is True
    assert _run_toy(config, run_date=dt.date(2024, 3, 1)).gates["G12"].status == "PASS"


def test_envelope_validation_names_the_key() -> None:
    with pytest.raises(ValidationError, match=r"'expires' .* must come after 'date'"):
        _toy_config(envelope=_envelope(expires="2024-01-01"))
    with pytest.raises(ValidationError, match="names attribute 'nope'"):
        _toy_config(
            envelope=_envelope(
                limits=[{"quantity": "exposure_ratio", "attribute": "nope", "max": 2.0}]
            )
        )
    with pytest.raises(ValidationError, match="limit without a bound"):
        _toy_config(envelope=_envelope(limits=[{"quantity": "exposure_ratio", "attribute": "grp"}]))
    with pytest.raises(ValidationError, match=r"audit\.exposure_band is gone"):
        AuditConfig.model_validate({"exposure_band": [0.8, 1.25]})


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
    html, card, record = _documents(result)
    assert check_documentation(html, card, record, model_version="v-test").status == "PASS"
    broken = html.replace('id="feedback-loop-caveat"', 'id="something-else"')
    gate = check_documentation(broken, card, record)
    assert gate.status == "FAIL"
    assert "feedback-loop-caveat" in gate.explanation
    card_broken = card.replace("## Ethical considerations", "## Thoughts")
    gate = check_documentation(html, card_broken, record)
    assert gate.status == "FAIL" and "Ethical considerations" in gate.explanation
    gate = check_documentation(html, card, record, model_version="v-other")
    assert gate.status == "FAIL" and "v-other" in gate.explanation
    blocked = result.with_documentation(report_html=broken, model_card_md=card, record_md=record)
    assert "G10" in blocked.blocking_gates


# --------------------------------------------------------------------------------------------
# Override
# --------------------------------------------------------------------------------------------


def test_override_makes_publishable_and_is_recorded() -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2024, 1, 10),
        reason="Pilot with weekly human review of every flagged cell.",
        gates=("G1", "G5", "G6"),  # the toy's blocking gates, each approved by name
        expires=dt.date(2024, 6, 30),
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
    assert applied["date"] == "2024-01-10" and applied["expires"] == "2024-06-30"
    assert "G1" in applied["overridden_gates"]
    assert "Pilot with weekly human review" in applied["text"]
    assert "valid until 2024-06-30" in applied["text"]
    assert d["run_date"] == RUN_DATE.isoformat() and d["override"]["expired"] is False


def test_an_expired_override_blocks() -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2024, 1, 10),
        reason="A four-week pilot.",
        gates=("G1", "G5", "G6"),
        expires=dt.date(2024, 2, 7),
    )
    target = TargetDefinition(target_types=("burglary", "drugs"))
    in_time = _documented(
        _run_toy(_toy_config(), target=target, override=override, run_date=dt.date(2024, 2, 7))
    )
    assert in_time.publishable and in_time.override_applied is not None
    late = _documented(
        _run_toy(_toy_config(), target=target, override=override, run_date=dt.date(2024, 2, 8))
    )
    assert not late.publishable and late.override_applied is None
    d = late.to_report().to_json()
    assert d["override"]["expired"] is True and d["run_date"] == "2024-02-08"
    with pytest.raises(ValidationError, match=r"'expires' .* must come after 'date'"):
        AuditOverride(
            approving_body="B",
            date=dt.date(2024, 1, 10),
            reason="r",
            gates=("G1",),
            expires=dt.date(2024, 1, 10),
        )


def test_override_lifts_only_the_gates_it_names() -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2025, 1, 10),
        reason="Approved for G8 only.",
        gates=("G8",),
        expires=dt.date(2025, 6, 30),
    )
    target = TargetDefinition(target_types=("burglary", "drugs"))
    result = _documented(_run_toy(_toy_config(), target=target, override=override))
    assert "G1" in result.blocking_gates
    assert not result.publishable and result.override_applied is None


def test_override_cannot_skip_the_documentation_check() -> None:
    # no override names G10: the documents (and, in a pilot, who answers) must be complete
    with pytest.raises(ValidationError, match="cannot name G10"):
        AuditOverride(
            approving_body="Board",
            date=dt.date(2025, 1, 1),
            reason="Because.",
            gates=("G1", "G10"),
            expires=dt.date(2025, 6, 30),
        )
    result = _run_toy(_toy_config())
    assert result.gates["G10"].status == "NOT CHECKED"
    assert not result.publishable and result.override_applied is None


@pytest.mark.parametrize("field", ["approving_body", "reason"])
def test_override_fields_must_be_non_empty(field: str) -> None:
    values = {
        "approving_body": "Board",
        "date": dt.date(2025, 1, 1),
        "reason": "Because.",
        "gates": ["G5"],
        "expires": dt.date(2025, 6, 30),
    }
    values[field] = "   "
    with pytest.raises(ValidationError):
        AuditOverride.model_validate(values)
    with pytest.raises(ValidationError):
        AuditOverride.model_validate({"approving_body": "Board", "reason": "x"})  # no date
    with pytest.raises(ValidationError, match="expires"):  # no expiry date
        AuditOverride.model_validate(
            {k: v for k, v in values.items() if k != "expires"} | {field: "B"}
        )
    with pytest.raises(ValidationError):  # an override must name the gates it approves
        AuditOverride.model_validate({**values, field: "Board", "gates": []})


# --------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------


def test_bad_inputs_name_the_problem() -> None:
    model, reference, y, cells = _toy()
    config = _toy_config()

    def run(m: Allocation = model, yy: np.ndarray = y, cc: pd.DataFrame = cells) -> None:
        _run(m, reference, yy, cc, config)

    with pytest.raises(ValueError, match="flagged must be a boolean array"):
        run(Allocation("m", model.flagged.astype(int), model.scores))
    with pytest.raises(ValueError, match=r"y must have the shape of flagged \(2, 4\)"):
        run(yy=y[:, :3])
    with pytest.raises(ValueError, match="scores must be finite and non-negative"):
        run(Allocation("m", model.flagged, -model.scores))
    with pytest.raises(ValueError, match="cells must have one row per cell"):
        run(cc=cells.iloc[:3])
    with pytest.raises(ValueError, match="cells has no column 'res_b'"):
        run(cc=cells.drop(columns="res_b"))
    with pytest.raises(ValidationError, match="extra"):
        AuditConfig.model_validate({"n_bot": 10})
    with pytest.raises(ValidationError, match="amplification_band"):
        AuditConfig(amplification_band=(1.25, 0.8))


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
