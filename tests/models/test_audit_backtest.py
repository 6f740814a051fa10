"""The audit of a backtest: counterfactual rankings and the coverage table, on a small city."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest
from audit_inputs import COVERAGE, N_CELLS, N_WEEKS, SETUP, city, make_metrics

from beatwise.artefacts.audit import GateVerdict
from beatwise.artefacts.panel import PanelMeta
from models.allocation import AllocationPolicy, policy_codes
from models.audit import (
    COUNTERFACTUAL_GATES,
    PRIOR_COUNTS_REFERENCE,
    SENSITIVITY_GATES,
    TRUTH_REFERENCE,
    AuditConfig,
    AuditSetup,
    BacktestArrays,
    GranularityCheck,
    audit_backtest,
    audit_counterfactuals,
    coverage_sensitivity,
    gates_of_ranking,
)
from models.metrics import flag_top_area


@pytest.fixture(scope="module")
def arrays() -> BacktestArrays:
    cells, backtest = city()
    return BacktestArrays.from_frames(backtest, cells)


def _verdicts(gates: dict, ids: tuple[str, ...]) -> dict[str, GateVerdict]:
    return {g: GateVerdict(status=gates[g].status, value=gates[g].value) for g in ids}


def test_arrays_follow_the_cells_order(arrays: BacktestArrays) -> None:
    assert arrays.flagged.shape == (N_WEEKS, N_CELLS) and arrays.flagged.dtype == bool
    assert arrays.has_truth
    shuffled = arrays.cells.sample(frac=1.0, random_state=0)
    again = BacktestArrays.from_frames(arrays.backtest, shuffled)
    order = shuffled.index.to_numpy()
    np.testing.assert_array_equal(again.y, arrays.y[:, order])


def test_coverage_table_at_the_operational_coverage_repeats_the_audit(
    arrays: BacktestArrays,
) -> None:
    result = audit_backtest(arrays, setup=SETUP, metrics=make_metrics(), power=False)
    table = result.coverage_sensitivity
    assert table is not None
    assert table.coverages == (0.01, 0.02, 0.05, 0.1, 0.2)
    assert table.gates == SENSITIVITY_GATES
    assert set(table.rankings) == {"this model", "best baseline (b4_all_history)"}
    assert set(table.rankings["this model"]) == {"1", "2", "5", "10", "20"}
    # evaluate flagged the top 5% by the model's scores, so the table finds the audit's verdicts
    assert table.at("this model", COVERAGE) == _verdicts(result.gates, SENSITIVITY_GATES)
    # and the best baseline's row at 5% is the best baseline's counterfactual
    assert result.counterfactuals is not None
    best = result.counterfactuals.rankings["best baseline (b4_all_history)"]
    assert table.at("best baseline (b4_all_history)", COVERAGE) == {
        g: best[g] for g in SENSITIVITY_GATES
    }


def test_the_reference_is_the_truth_on_synthetic_data_and_prior_counts_on_real(
    arrays: BacktestArrays,
) -> None:
    assert arrays.reference_info == TRUTH_REFERENCE
    np.testing.assert_array_equal(
        arrays.reference(COVERAGE).flagged,
        flag_top_area(
            arrays.ranking("truth_recorded"),
            areas_km2=arrays.cells["area_km2"].to_numpy(),
            cell_ids=arrays.cells["h3_int"].to_numpy(),
            coverage=COVERAGE,
        ),
    )
    cells, backtest = city(truth="none")
    real = BacktestArrays.from_frames(backtest, cells)
    assert real.reference_info == PRIOR_COUNTS_REFERENCE and real.committed is None
    result = audit_backtest(real, setup=SETUP, metrics=make_metrics(), power=False)
    assert result.reference.label == "the all-history count (B4)"
    assert "all-history count (B4)" in result.gates["G2"].explanation


def test_counterfactuals_are_the_truth_and_the_best_baseline(arrays: BacktestArrays) -> None:
    cf = audit_counterfactuals(arrays, SETUP, best_baseline="b4_all_history")
    assert cf.gates == COUNTERFACTUAL_GATES
    assert list(cf.rankings) == ["true risk", "best baseline (b4_all_history)"]
    assert all(set(v) == set(COUNTERFACTUAL_GATES) for v in cf.rankings.values())
    # the truth held against itself: no amplification at all
    for gid in ("G2", "G3", "G4", "G5"):
        assert cf.rankings["true risk"][gid] == GateVerdict(status="PASS", value=1.0)
    # each is run_audit on that ranking's own flags, scored by that ranking
    baseline = arrays.ranking("score_b4_all_history")
    gates = SETUP.run(
        arrays.allocation("b", baseline, COVERAGE),
        arrays.reference(COVERAGE),
        arrays.y,
        arrays.cells,
        reference_info=TRUTH_REFERENCE,
    ).gates
    assert cf.rankings["best baseline (b4_all_history)"] == _verdicts(gates, COUNTERFACTUAL_GATES)


def test_a_model_that_is_the_truth_has_the_truths_verdicts() -> None:
    cells, backtest = city(truth="model")
    arrays = BacktestArrays.from_frames(backtest, cells)
    result = audit_backtest(arrays, setup=SETUP, metrics=make_metrics(), power=False)
    assert result.counterfactuals is not None
    truth = result.counterfactuals.rankings["true risk"]
    assert truth == _verdicts(result.gates, COUNTERFACTUAL_GATES)


def test_real_data_has_the_best_baseline_as_its_only_counterfactual() -> None:
    cells, backtest = city(truth="none")
    arrays = BacktestArrays.from_frames(backtest, cells)
    assert not arrays.has_truth
    cf = audit_counterfactuals(arrays, SETUP, best_baseline="b4_all_history")
    assert list(cf.rankings) == ["best baseline (b4_all_history)"]
    result = audit_backtest(arrays, setup=SETUP, metrics=make_metrics(), power=False)
    assert result.coverage_sensitivity is not None
    assert set(result.coverage_sensitivity.rankings) == {
        "this model",
        "best baseline (b4_all_history)",
    }
    written = result.to_report().to_json()
    assert written["board"]["committed_harm"] is False
    assert "power" not in written


def test_power_is_reported_for_every_canary(arrays: BacktestArrays) -> None:
    result = audit_backtest(
        arrays, setup=SETUP, metrics=make_metrics(), sensitivity_coverages=(COVERAGE,)
    )
    power = result.power
    assert power is not None and power.base == "the true risk"
    # the toy city has the minority column only: one canary, with and without rescaling
    assert [c.canary for c in power.canaries] == ["minority", "minority_rescaled"]
    for canary in power.canaries:
        assert 0.5 in canary.betas
        if canary.smallest_beta_caught is not None:
            assert canary.caught_by and set(canary.caught_by) <= {"G2", "G3", "G4", "G5", "G6"}
    assert result.to_report().to_json()["power"]["canaries"][0]["label"].startswith("cells where")


def test_coverage_table_labels_its_coverages(arrays: BacktestArrays) -> None:
    table = coverage_sensitivity(
        arrays, SETUP, best_baseline="b4_all_history", coverages=(0.005, 0.05)
    )
    assert set(table.rankings["this model"]) == {"0p5", "5"}
    assert table.coverages == (0.005, 0.05)
    assert table.at("this model", 0.005) == table.rankings["this model"]["0p5"]


def test_gates_of_ranking_flags_by_the_ranking_and_calibrates_on_the_expected(
    arrays: BacktestArrays,
) -> None:
    ranking = arrays.scores
    own = gates_of_ranking(ranking, arrays, SETUP, coverage=COVERAGE, gates=("G2", "G5", "G6"))
    doubled = gates_of_ranking(
        ranking, arrays, SETUP, coverage=COVERAGE, gates=("G2", "G5", "G6"), expected=2 * ranking
    )
    assert (own["G2"], own["G5"]) == (doubled["G2"], doubled["G5"])  # same flags
    assert own["G6"] != doubled["G6"] and doubled["G6"].status == "FAIL"  # O/E halves


def test_audit_refuses_metrics_at_another_coverage(arrays: BacktestArrays) -> None:
    with pytest.raises(ValueError, match=r"metrics\.json reports the lift at coverage 0\.1"):
        audit_backtest(arrays, setup=SETUP, metrics=make_metrics(coverage=0.1))


def test_lift_and_best_baseline_come_from_metrics(arrays: BacktestArrays) -> None:
    result = audit_backtest(
        arrays, setup=SETUP, metrics=make_metrics(estimate=0.9, ci=(0.85, 0.95))
    )
    assert (
        result.gates["G8"].status == "FAIL" and "(b4_all_history)" in result.gates["G8"].explanation
    )


def _panel(**kw: object) -> PanelMeta:
    base: dict[str, object] = {
        "period": "week",
        "source": "synthetic",
        "time_resolution": "sub_day",
        "h3_resolution": 8,
        "target_types": ("burglary", "drugs"),
        "target_reason": "The board asked for it.",
        "feature_types": ("burglary",),
        "static_covariates": (),
        "feature_columns": ("cnt_burglary_lag1w",),
        "first_period": dt.date(2023, 1, 2),
        "last_complete_period": dt.date(2024, 12, 23),
        "forecast_period": dt.date(2024, 12, 30),
        "all_periods": (dt.date(2022, 1, 3), dt.date(2024, 12, 23)),
        "n_cells": N_CELLS,
        "n_periods": 105,
        "n_rows": 1000,
    }
    base.update(kw)
    return PanelMeta.model_validate(base)


def test_setup_for_the_stage_reads_the_panel_and_the_publish_limits() -> None:
    setup = AuditSetup.for_panel(
        AuditConfig(), coverage=0.1, panel=_panel(), max_resolution=9, suppress_below=4
    )
    assert setup.config.coverage == 0.1 and setup.period == "week"
    # the panel's one written reason covers its police-activity types only
    assert setup.target.police_activity_reasons == {"drugs": "The board asked for it."}
    assert setup.granularity == GranularityCheck(
        published_resolution=8,
        max_resolution=9,
        event_level_rows=False,
        smallest_count_shown=None,
        suppress_below=4,
    )
    assert setup.at(0.2).config.coverage == 0.2 and setup.config.coverage == 0.1
    monthly = AuditSetup.for_panel(
        AuditConfig(),
        coverage=0.1,
        panel=_panel(period="month"),
        max_resolution=9,
        suppress_below=3,
    )
    assert monthly.period == "month"


def test_setup_refuses_an_audit_coverage_of_its_own() -> None:
    with pytest.raises(ValueError, match=r"'audit\.coverage'.*set by 'operational\.coverage'"):
        AuditSetup.for_panel(
            AuditConfig(coverage=0.1),
            coverage=0.1,
            panel=_panel(),
            max_resolution=9,
            suppress_below=3,
        )


def test_a_declared_policy_caps_the_model_and_the_reference_alike() -> None:
    cells, backtest = city()
    policy = AllocationPolicy(
        column="minority_share",
        label="share of residents from minority ethnic groups",
        n_quantiles=5,
        max_share=0.25,
        approved_by="Toy City Ethics Board",
        date=dt.date(2024, 1, 10),
        reason="No fifth of cells by minority share gets more than a quarter of the flags.",
    )
    plain = BacktestArrays.from_frames(backtest, cells)
    capped = BacktestArrays.from_frames(backtest, cells, policy=policy)
    codes = policy_codes(policy, cells)
    area = cells["area_km2"].to_numpy()
    for arrays in (capped,):
        for flags in (arrays.reference(COVERAGE).flagged, arrays.flags(arrays.scores, COVERAGE)):
            for s in np.unique(codes):
                # the cap holds up to the one cell that crosses it (prefix semantics)
                share = (flags[:, codes == s] * area[codes == s]).sum(axis=1) / (flags * area).sum(
                    axis=1
                )
                assert (share <= 0.25 + area.max() / (COVERAGE * area.sum())).all()
    assert not np.array_equal(plain.reference(COVERAGE).flagged, capped.reference(COVERAGE).flagged)
    result = audit_backtest(
        capped, setup=SETUP, metrics=make_metrics(), power=False, sensitivity_coverages=(COVERAGE,)
    )
    assert result.policy is not None and result.policy.max_share == 0.25
    assert 0 < result.policy.expected_hits_kept <= 1
    board = result.board.allocations
    assert set(board) == {"model", "reference", "best_baseline", "model_without_policy"}
    assert board["model"].label == "this model, under the policy"
    # the gates judge the capped model against the capped reference
    direct = SETUP.run(
        capped.allocation("m", capped.scores, COVERAGE),
        capped.reference(COVERAGE),
        capped.y,
        cells,
        reference_info=TRUTH_REFERENCE,
    )
    assert _verdicts(direct.gates, SENSITIVITY_GATES) == _verdicts(result.gates, SENSITIVITY_GATES)


def test_g9_judges_the_smallest_count_the_documents_show() -> None:
    # publish.min_count_shown = 5: a district table printing a count of 4 fails G9; the setup
    # carries what the documents show, and the stage reads it from the data-quality tables
    setup = AuditSetup.for_panel(
        AuditConfig(),
        coverage=0.05,
        panel=_panel(),
        max_resolution=9,
        suppress_below=5,
        smallest_count_shown=4,
    )
    assert setup.granularity.smallest_count_shown == 4
    cells, backtest = city()
    arrays = BacktestArrays.from_frames(backtest, cells)
    small = replace(SETUP, granularity=setup.granularity)
    gate = audit_backtest(
        arrays, setup=small, metrics=make_metrics(), power=False, sensitivity_coverages=(COVERAGE,)
    ).gates["G9"]
    assert (
        gate.status == "FAIL"
        and "a historical count of 4 is shown unsuppressed" in gate.explanation
    )
