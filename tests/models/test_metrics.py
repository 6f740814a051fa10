"""Forecast metrics on hand-computed toy grids (METRICS.md)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from stage_files import METRICS_RUN_KEYS

from beatwise.artefacts.metrics import BacktestMetrics, ForecastScores, Lift
from models import metrics as m

# A 10-cell grid of 1 km² cells (A = 10 km²): at k = 20% exactly two cells are flagged.
IDS = np.arange(101, 111, dtype=np.uint64)
AREAS = np.ones(10)
SCORES_DESC = np.arange(10, 0, -1, dtype=np.float64)  # cell 0 riskiest, cell 9 least
Y_WEEK = np.array([5, 0, 0, 3, 0, 0, 0, 0, 2, 0], dtype=np.float64)  # 10 events


def one_week(row: np.ndarray) -> np.ndarray:
    return np.asarray(row, dtype=np.float64)[None, :]


# --------------------------------------------------------------------------------------------
# Ranking and the flagged set
# --------------------------------------------------------------------------------------------


def test_rank_order_breaks_ties_by_cell_id_not_position() -> None:
    ids = np.array([50, 10, 40, 20, 30], dtype=np.uint64)
    scores = np.array([1.0, 1.0, 2.0, 1.0, 1.0])
    # Cell at position 2 has the top score; the four ties follow by id: 10, 20, 30, 50.
    assert m.rank_order(scores, ids).tolist() == [2, 1, 3, 4, 0]
    assert m.rank_weeks(scores[None, :], cell_ids=ids).tolist() == [[2, 1, 3, 4, 0]]


def test_flag_top_area_equal_areas_flags_two_of_ten_at_20pct() -> None:
    flags = m.flag_top_area(one_week(SCORES_DESC), areas_km2=AREAS, cell_ids=IDS, coverage=0.2)
    assert flags.shape == (1, 10)
    assert np.flatnonzero(flags[0]).tolist() == [0, 1]


def test_flag_top_area_ties_go_to_lowest_cell_ids() -> None:
    ids = np.array([109, 108, 107, 106, 105, 104, 103, 102, 101, 100], dtype=np.uint64)
    flags = m.flag_top_area(np.zeros((1, 10)), areas_km2=AREAS, cell_ids=ids, coverage=0.3)
    assert np.flatnonzero(flags[0]).tolist() == [7, 8, 9]


def test_flag_top_area_unequal_areas_takes_shortest_prefix_reaching_k_area() -> None:
    areas = np.array([4.0, 1, 1, 1, 1, 1, 1])  # A = 10 km²
    ids = np.arange(7, dtype=np.uint64)
    big_first = one_week([7, 6, 5, 4, 3, 2, 1])
    small_first = one_week([1, 7, 6, 5, 4, 3, 2])
    # k·A = 3: the 4 km² cell alone reaches it.
    assert m.flag_top_area(big_first, areas_km2=areas, cell_ids=ids, coverage=0.3)[0].sum() == 1
    # k·A = 5: 4 km² falls short, 4 + 1 reaches it.
    flags = m.flag_top_area(big_first, areas_km2=areas, cell_ids=ids, coverage=0.5)
    assert np.flatnonzero(flags[0]).tolist() == [0, 1]
    # k·A = 3 with the small cells first: three 1 km² cells, and the big cell is left out.
    flags = m.flag_top_area(small_first, areas_km2=areas, cell_ids=ids, coverage=0.3)
    assert np.flatnonzero(flags[0]).tolist() == [1, 2, 3]


def test_flag_top_area_edges_of_coverage() -> None:
    scores = np.vstack([SCORES_DESC, SCORES_DESC[::-1]])
    assert not m.flag_top_area(scores, areas_km2=AREAS, cell_ids=IDS, coverage=0.0).any()
    assert m.flag_top_area(scores, areas_km2=AREAS, cell_ids=IDS, coverage=1.0).all()
    # Rounding in the cumulative sum (0.1 + 0.2 + ... ) never adds a cell.
    areas = np.full(10, 0.1)
    flags = m.flag_top_area(scores, areas_km2=areas, cell_ids=IDS, coverage=0.3)
    assert flags.sum(axis=1).tolist() == [3, 3]
    assert np.flatnonzero(flags[1]).tolist() == [7, 8, 9]


# --------------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------------


def test_hit_rate_pai_pei_on_ten_cell_grid() -> None:
    y, s = one_week(Y_WEEK), one_week(SCORES_DESC)
    kw = {"areas_km2": AREAS, "cell_ids": IDS, "coverage": 0.2}
    # Flagged: cells 0 and 1, holding 5 of 10 events.
    assert m.hit_rate(y, s, **kw).pooled == pytest.approx(0.5)
    assert m.pai(y, s, **kw).pooled == pytest.approx(0.5 / 0.2)
    # Oracle flags cells 0 (5 events) and 3 (3 events): HR* = 0.8.
    assert m.pei(y, s, **kw).pooled == pytest.approx(0.5 / 0.8)


def test_pei_is_one_when_scores_are_the_realised_counts() -> None:
    rng = np.random.default_rng(3)
    y = rng.poisson(0.7, size=(6, 10)).astype(np.float64)  # many ties, broken by id both ways
    areas = rng.uniform(0.5, 2.0, size=10)
    for k in (*m.DEFAULT_COVERAGES, 0.35, 0.8):
        res = m.pei(y, y, areas_km2=areas, cell_ids=IDS, coverage=k)
        assert res.pooled == pytest.approx(1.0)
        assert np.allclose(res.weekly[np.isfinite(res.weekly)], 1.0)


def test_weeks_without_events_are_skipped_and_counted() -> None:
    y = np.vstack([Y_WEEK, np.zeros(10), Y_WEEK[::-1]])
    s = np.vstack([SCORES_DESC] * 3)
    kw = {"areas_km2": AREAS, "cell_ids": IDS, "coverage": 0.2}
    hr = m.hit_rate(y, s, **kw)
    # Week 2: the reversed counts put 2 events in cell 1 and none in cell 0: 2 of 10.
    assert hr.weekly[0] == pytest.approx(0.5)
    assert np.isnan(hr.weekly[1])
    assert hr.weekly[2] == pytest.approx(0.2)
    assert hr.n_weeks_without_events == 1
    assert hr.pooled == pytest.approx((5 + 2) / 20)
    assert hr.weekly_mean == pytest.approx((0.5 + 0.2) / 2)
    pai = m.pai(y, s, **kw)
    assert pai.pooled == pytest.approx(0.35 / 0.2)
    assert np.isnan(pai.weekly[1])
    assert m.pei(y, s, **kw).n_weeks_without_events == 1


def test_pooled_pai_divides_pooled_hr_by_mean_flagged_share() -> None:
    areas = np.array([4.0, 1, 1, 1, 1, 1, 1])  # A = 10
    ids = np.arange(7, dtype=np.uint64)
    s = np.array([[7, 6, 5, 4, 3, 2, 1], [1, 7, 6, 5, 4, 3, 2]], dtype=np.float64)
    y = np.array([[2, 0, 0, 0, 0, 0, 2], [0, 1, 0, 0, 0, 0, 3]], dtype=np.float64)
    # k·A = 1: week 1 flags cell 0 (4 km², 2 of 4 events), week 2 flags cell 1 (1 km², 1 of 4).
    res = m.pai(y, s, areas_km2=areas, cell_ids=ids, coverage=0.1)
    assert res.weekly.tolist() == pytest.approx([0.5 / 0.4, 0.25 / 0.1])
    assert res.pooled == pytest.approx((3 / 8) / ((0.4 + 0.1) / 2))


def test_pei_truth_ranks_by_the_truth_array() -> None:
    y, s = one_week(Y_WEEK), one_week(SCORES_DESC)
    truth = one_week([1, 0, 0, 0, 0, 0, 0, 0, 2, 0])  # truth flags cells 8 and 0: 7 events
    res = m.pei_truth(y, s, truth, areas_km2=AREAS, cell_ids=IDS, coverage=0.2)
    assert res.pooled == pytest.approx(0.5 / 0.7)
    # Where the truth's flagged set catches nothing, the weekly value is undefined (NaN).
    y2 = np.vstack([Y_WEEK, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]])
    res2 = m.pei_truth(
        y2,
        np.vstack([s, s]),
        np.vstack([truth, truth]),
        areas_km2=AREAS,
        cell_ids=IDS,
        coverage=0.2,
    )
    assert res2.weekly[0] == pytest.approx(0.5 / 0.7)
    assert np.isnan(res2.weekly[1])
    assert res2.pooled == pytest.approx(5 / 7)


def test_capture_curve_runs_from_zero_to_one() -> None:
    y = np.vstack([Y_WEEK, np.zeros(10)])
    s = np.vstack([SCORES_DESC] * 2)
    curve = m.capture_curve(y, s, areas_km2=AREAS, cell_ids=IDS)
    assert curve.coverages.size == 101
    assert curve.hit_rate[0] == 0.0
    assert curve.hit_rate[-1] == pytest.approx(1.0)
    assert np.all(np.diff(curve.hit_rate) >= 0)
    # At 40% the top four cells hold 5 + 3 = 8 of 10 events.
    assert curve.hit_rate[40] == pytest.approx(0.8)
    oracle = m.capture_curve(y, y, areas_km2=AREAS, cell_ids=IDS, coverages=[0.1, 0.2, 0.3])
    assert oracle.hit_rate.tolist() == pytest.approx([0.5, 0.8, 1.0])
    assert oracle.area_share.tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_churn_is_the_jaccard_overlap_of_consecutive_flagged_sets() -> None:
    s = np.array(
        [
            [9, 8, 0, 0, 0, 0, 0, 0, 0, 0],  # flags {0, 1}
            [0, 9, 8, 0, 0, 0, 0, 0, 0, 0],  # flags {1, 2}: 1 shared of 3
            [0, 9, 8, 0, 0, 0, 0, 0, 0, 0],  # same set: overlap 1
        ],
        dtype=np.float64,
    )
    res = m.churn(s, areas_km2=AREAS, cell_ids=IDS, coverage=0.2)
    assert res.weekly.tolist() == pytest.approx([1 / 3, 1.0])
    assert res.pooled == pytest.approx((1 + 2) / (3 + 2))
    assert res.weekly_mean == pytest.approx((1 / 3 + 1) / 2)


# --------------------------------------------------------------------------------------------
# Count metrics
# --------------------------------------------------------------------------------------------


def test_poisson_deviance_matches_the_formula_and_floors_zero_scores() -> None:
    y = np.array([[0.0, 1.0, 3.0]])
    s = np.array([[0.5, 1.0, 2.0]])
    # 2 (y log(y/mu) - y + mu), with y log y = 0 at y = 0.
    expected = np.mean([2 * 0.5, 0.0, 2 * (3 * np.log(1.5) - 1)])
    assert m.poisson_deviance(y, s) == pytest.approx(expected)
    s0 = np.array([[0.0, 1.0, 3.0]])
    floor = 1e-6
    expected0 = np.mean([2 * floor, 0.0, 0.0])
    assert m.poisson_deviance(y, s0, floor=floor) == pytest.approx(expected0)
    with pytest.raises(ValueError, match="must be >= 0"):
        m.poisson_deviance(y, -s)


def test_calibration_overall_and_by_decile() -> None:
    s = np.arange(1, 21, dtype=np.float64).reshape(2, 10)
    y = np.zeros((2, 10))
    y.ravel()[:4] = [1, 1, 0, 4]  # deciles 1 and 2 (scores 1-2 and 3-4)
    y.ravel()[-2:] = [20, 19]  # decile 10 (scores 19-20)
    assert m.calibration_oe(y, s) == pytest.approx(45 / 210)
    table = m.calibration_by_decile(y, s)
    assert table.n.tolist() == [2] * 10
    assert table.expected.tolist() == pytest.approx([3, 7, 11, 15, 19, 23, 27, 31, 35, 39])
    assert table.observed.tolist() == pytest.approx([2, 4, 0, 0, 0, 0, 0, 0, 0, 39])
    assert table.oe[0] == pytest.approx(2 / 3)
    assert table.oe[9] == pytest.approx(1.0)
    assert table.expected_mean[9] == pytest.approx(19.5)


def test_calibration_by_decile_keeps_ties_together() -> None:
    s = np.array([0.0] * 7 + [1.0, 2.0, 3.0])
    y = np.array([1.0] + [0.0] * 6 + [1.0, 1.0, 4.0])
    table = m.calibration_by_decile(y, s)
    assert table.n.sum() == 10
    assert table.n[0] == 7  # every zero in the first decile
    assert table.observed[0] == 1.0
    assert np.isnan(table.oe[0])  # expected 0
    assert table.n[1:7].tolist() == [0] * 6
    assert table.n[7:].tolist() == [1, 1, 1]


# --------------------------------------------------------------------------------------------
# Lift and the bootstrap
# --------------------------------------------------------------------------------------------


def _lift_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    lam = rng.gamma(0.5, 1.0, size=200)
    y = rng.poisson(np.tile(lam, (30, 1))).astype(np.float64)
    model = np.tile(lam, (30, 1))
    baseline = np.vstack([np.zeros(200), y[:-1]])  # last week's counts
    return y, model, baseline


def test_pai_lift_hand_computed_two_weeks() -> None:
    y = np.vstack([Y_WEEK, Y_WEEK])
    model = np.vstack([SCORES_DESC, SCORES_DESC])  # HR 0.5 both weeks, PAI 2.5
    base = np.vstack([SCORES_DESC[::-1], SCORES_DESC[::-1]])  # flags 8, 9: HR 0.2, PAI 1
    res = m.pai_lift(y, model, base, areas_km2=AREAS, cell_ids=IDS, coverage=0.2, n_boot=50, seed=1)
    assert res.weekly.tolist() == pytest.approx([2.5, 2.5])
    assert res.estimate == pytest.approx(2.5)
    assert res.ci_low == pytest.approx(2.5)
    assert res.ci_high == pytest.approx(2.5)


def test_pai_lift_interval_contains_estimate_and_is_deterministic_by_seed() -> None:
    y, model, base = _lift_case()
    kw = {"areas_km2": np.ones(200), "cell_ids": np.arange(200, dtype=np.uint64)}
    a = m.pai_lift(y, model, base, **kw, coverage=0.05, n_boot=300, seed=7)
    b = m.pai_lift(y, model, base, **kw, coverage=0.05, n_boot=300, seed=7)
    c = m.pai_lift(y, model, base, **kw, coverage=0.05, n_boot=300, seed=8)
    assert a.ci_low <= a.estimate <= a.ci_high
    assert a.ci_low < a.ci_high
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    pai_m = m.pai(y, model, **kw, coverage=0.05).pooled
    pai_b = m.pai(y, base, **kw, coverage=0.05).pooled
    assert a.estimate == pytest.approx(pai_m / pai_b)
    no_ci = m.pai_lift(y, model, base, **kw, coverage=0.05, n_boot=0)
    assert no_ci.estimate == a.estimate and np.isnan(no_ci.ci_low)


# --------------------------------------------------------------------------------------------
# Summaries: the typed figures of backtest_metrics.json
# --------------------------------------------------------------------------------------------


def test_summarise_forecast_typed_figures() -> None:
    y = np.vstack([Y_WEEK, np.zeros(10), Y_WEEK])
    s = np.vstack([SCORES_DESC] * 3)
    truth = np.tile(Y_WEEK + 0.1, (3, 1))
    out = m.summarise_forecast(y, s, areas_km2=AREAS, cell_ids=IDS, truth=truth)
    assert isinstance(out, ForecastScores)
    for table in (out.hr, out.pai, out.pei, out.pei_truth):
        assert table is not None and tuple(table) == m.DEFAULT_COVERAGES
        assert all(type(v) is float for v in table.values())
    # 20%: 2 cells, 5 of 10 events each week; 0.5% of 10 km² still needs one whole cell.
    assert out.hr[0.2] == 0.5
    assert out.pai[0.2] == 2.5
    assert out.hr[0.005] == 0.5
    assert out.pai[0.005] == 5.0
    assert out.pei[0.2] == pytest.approx(0.625)
    assert out.at("pei_truth", 0.2) == pytest.approx(0.625)
    assert out.calibration_oe == round(20 / 165, 6)
    assert out.churn == 1.0
    assert m.summarise_forecast(y, s, areas_km2=AREAS, cell_ids=IDS).pei_truth is None


def test_summarise_forecast_gives_none_when_no_week_has_events() -> None:
    out = m.summarise_forecast(np.zeros((2, 10)), np.ones((2, 10)), areas_km2=AREAS, cell_ids=IDS)
    assert out.hr[0.05] is None and out.pai[0.05] is None
    assert out.calibration_oe == 0.0


THREE_WEEKS = np.array(["2024-01-01", "2024-01-08", "2024-01-15"], dtype="datetime64[ns]")


def _toy_backtest(**kwargs: object) -> BacktestMetrics:
    y = np.vstack([Y_WEEK, np.zeros(10), Y_WEEK])
    model = np.vstack([SCORES_DESC] * 3)
    baselines = {
        "reverse": np.vstack([SCORES_DESC[::-1]] * 3),  # flags cell 9: HR 0
        "flat": np.ones((3, 10)),  # ties -> lowest ids -> cell 0: HR 0.5 at 5%
    }
    opts: dict = {
        "areas_km2": AREAS,
        "cell_ids": IDS,
        "period": "week",
        "backtest_periods": THREE_WEEKS,
        "refit_every": 2,
        "n_boot": 200,
        "seed": 0,
    } | kwargs
    return m.summarise_backtest(y, model, baselines, **opts)


def test_summarise_backtest_picks_best_baseline_and_lift() -> None:
    out = _toy_backtest()
    assert isinstance(out, BacktestMetrics)
    assert set(out.baselines) == {"reverse", "flat"}
    assert out.best_baseline == "flat"
    assert out.lift == Lift(baseline="flat", estimate=1.0, ci_low=1.0, ci_high=1.0)
    assert out.n_backtest_periods == 3
    assert out.n_periods_without_events == 1
    assert out.model.pai[0.05] == 5.0
    assert out.baselines["reverse"].hr[0.05] == 0.0


def test_summarise_backtest_sets_the_run_fields_at_construction() -> None:
    out = _toy_backtest(coverage=0.2)
    assert out.period == "week"
    assert out.backtest_first_period == dt.date(2024, 1, 1)
    assert out.backtest_last_period == dt.date(2024, 1, 15)
    assert (out.refit_every, out.n_cells) == (2, 10)
    assert out.coverage == 0.2
    assert out.coverages == m.DEFAULT_COVERAGES


def test_summarise_backtest_writes_the_flat_file_layout(tmp_path: Path) -> None:
    out = _toy_backtest()
    path = tmp_path / "metrics.json"
    out.write(path)
    on_disk = json.loads(path.read_text())
    per_forecast = {
        f"{p}_at_{lab}pct"
        for p in ("hr", "pai", "pei")
        for lab in ("0p5", "1", "2", "5", "10", "20")
    } | {"poisson_deviance", "calibration_oe", "churn_at_5pct"}
    assert set(on_disk) == per_forecast | METRICS_RUN_KEYS
    assert set(on_disk["baselines"]["flat"]) == per_forecast
    assert on_disk["pai_at_5pct"] == 5.0
    assert on_disk["baselines"]["reverse"]["hr_at_5pct"] == 0.0
    assert on_disk["lift_pai_at_5pct"] == {
        "baseline": "flat",
        "estimate": 1.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
    }
    assert on_disk["best_baseline_at_5pct"] == "flat"
    assert (on_disk["backtest_first_period"], on_disk["backtest_last_period"]) == (
        "2024-01-01",
        "2024-01-15",
    )
    assert (on_disk["coverage"], on_disk["coverages"]) == (0.05, list(m.DEFAULT_COVERAGES))
    assert BacktestMetrics.read(path) == out


def test_summarise_backtest_refusals() -> None:
    with pytest.raises(ValueError, match="zero target events"):
        m.summarise_backtest(
            np.zeros((2, 10)),
            np.ones((2, 10)),
            {"b": np.ones((2, 10))},
            areas_km2=AREAS,
            cell_ids=IDS,
            period="week",
            backtest_periods=THREE_WEEKS[:2],
            refit_every=1,
        )
    with pytest.raises(ValueError, match="at least one baseline"):
        m.summarise_backtest(
            np.ones((2, 10)),
            np.ones((2, 10)),
            {},
            areas_km2=AREAS,
            cell_ids=IDS,
            period="week",
            backtest_periods=THREE_WEEKS[:2],
            refit_every=1,
        )
    with pytest.raises(ValueError, match=r"one period start per row of y \(3,\). Got shape \(2,\)"):
        _toy_backtest(backtest_periods=THREE_WEEKS[:2])
    with pytest.raises(ValueError, match="strictly ascending"):
        _toy_backtest(backtest_periods=THREE_WEEKS[::-1])
    with pytest.raises(ValueError, match="ascending order"):
        _toy_backtest(coverages=(0.2, 0.1))
    with pytest.raises(ValueError, match=r"period must be one of \['week', 'month'\]. Got 'day'"):
        _toy_backtest(period="day")


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": np.ones((1, 9))}, r"scores must have shape \(1, 10\).*Got \(1, 9\)"),
        ({"scores": np.ones(10)}, r"scores must be a 2-D array \[week, cell\]. Got 1-D"),
        ({"areas_km2": np.ones(9)}, r"areas_km2 must be a 1-D array.*\(10,\). Got shape \(9,\)"),
        ({"areas_km2": np.r_[np.ones(9), 0.0]}, r"finite and > 0 km².*cell position 9: 0.0"),
        ({"cell_ids": np.r_[IDS[:9], IDS[0]]}, "cell_ids must be unique; got 1 duplicated"),
        ({"cell_ids": IDS[:9]}, "one id per cell: expected 10. Got 9"),
        ({"cell_ids": IDS.astype(float)}, "must be integer"),
        ({"coverage": 0.0}, r"coverage must be a share of the study area in \(0, 1\]. Got 0.0"),
        ({"coverage": 1.5}, r"in \(0, 1\]. Got 1.5"),
        ({"y": -one_week(Y_WEEK)}, "y must be >= 0"),
        ({"scores": one_week(np.r_[np.nan, SCORES_DESC[1:]])}, "1 non-finite"),
    ],
)
def test_refusals_say_what_was_expected_and_got(kwargs: dict, message: str) -> None:
    args = {
        "y": one_week(Y_WEEK),
        "scores": one_week(SCORES_DESC),
        "areas_km2": AREAS,
        "cell_ids": IDS,
        "coverage": 0.2,
    } | kwargs
    y, s = args.pop("y"), args.pop("scores")
    with pytest.raises(ValueError, match=message):
        m.hit_rate(y, s, **args)


def test_other_refusals() -> None:
    with pytest.raises(ValueError, match="at least 2 consecutive weeks"):
        m.churn(one_week(SCORES_DESC), areas_km2=AREAS, cell_ids=IDS, coverage=0.2)
    with pytest.raises(ValueError, match="scores_w must be 1-D"):
        m.rank_order(np.ones((2, 2)), IDS[:2])
    with pytest.raises(ValueError, match="n_boot must be >= 0"):
        m.pai_lift(
            one_week(Y_WEEK),
            one_week(SCORES_DESC),
            one_week(SCORES_DESC),
            areas_km2=AREAS,
            cell_ids=IDS,
            n_boot=-1,
        )
    with pytest.raises(ValueError, match="one shape"):
        m.calibration_by_decile(np.ones(3), np.ones(4))


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

N_CELLS = 12
finite_scores = st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 1))  # ties likely


@settings(max_examples=150, deadline=None)
@given(
    scores=arrays(np.float64, (3, N_CELLS), elements=finite_scores),
    areas=arrays(np.float64, N_CELLS, elements=st.floats(0.05, 3.0)),
    y=arrays(np.float64, (3, N_CELLS), elements=st.integers(0, 4).map(float)),
    k=st.floats(0.001, 1.0),
)
def test_flagged_area_reaches_k_area_and_is_minimal(
    scores: np.ndarray, areas: np.ndarray, y: np.ndarray, k: float
) -> None:
    ids = np.arange(1000, 1000 + N_CELLS, dtype=np.uint64)[::-1].copy()
    flags = m.flag_top_area(scores, areas_km2=areas, cell_ids=ids, coverage=k)
    target = k * areas.sum()
    tol = m.AREA_RTOL * areas.sum()
    for w in range(3):
        order = m.rank_order(scores[w], ids)
        n = int(flags[w].sum())
        # The flagged cells are a prefix of the ranking ...
        assert set(np.flatnonzero(flags[w])) == set(order[:n].tolist())
        # ... reaching k·A, and one cell fewer would not.
        assert areas[order[:n]].sum() >= target - tol
        assert areas[order[: n - 1]].sum() < target - tol
    hr = m.hit_rate(y, scores, areas_km2=areas, cell_ids=ids, coverage=k)
    finite = hr.weekly[np.isfinite(hr.weekly)]
    assert np.all((finite >= 0) & (finite <= 1))
    if np.isfinite(hr.pooled):
        assert 0 <= hr.pooled <= 1


@settings(max_examples=100, deadline=None)
@given(scores=arrays(np.float64, (4, N_CELLS), elements=finite_scores), seed=st.integers(0, 99))
def test_vectorised_ranking_equals_lexsort_per_week(scores: np.ndarray, seed: int) -> None:
    ids = np.random.default_rng(seed).permutation(np.arange(N_CELLS, dtype=np.uint64) * 7 + 3)
    got = m.rank_weeks(scores, cell_ids=ids)
    for w in range(scores.shape[0]):
        assert got[w].tolist() == np.lexsort((ids, -scores[w])).tolist()
