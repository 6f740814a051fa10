"""The backtest as one call, on a 19-cell toy city (``models.evaluation``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from backtest_city import CONFIG, MODEL, PERIODS, toy_city

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN
from models.baselines import baseline_names
from models.evaluation import (
    CAPTURE_GRID,
    BacktestResult,
    EvaluateConfig,
    plot_backtest,
    run_backtest,
)
from models.plot_data import PLOT_FILES, write_plot_data
from models.true_risk import truth_skip_reason


class FakeTruth:
    """The truth's interface: 'expected counts' that are the cell's id order plus a kind offset."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def expected_counts_between(
        self,
        cells: npt.ArrayLike,
        starts: npt.ArrayLike,
        ends: npt.ArrayLike,
        crime_types: Sequence[str],
        *,
        kind: str,
    ) -> npt.NDArray[np.float64]:
        self.calls.append(kind)
        # Each period is asked for as [its start, the next period's start).
        assert (np.asarray(ends) - np.asarray(starts) == np.timedelta64(7, "D")).all()
        n_weeks, n_cells = np.asarray(starts).size, np.asarray(cells).size
        offset = 0.5 if kind == "recorded" else 1.0
        return np.tile(np.arange(n_cells, dtype=np.float64)[::-1] + offset, (n_weeks, 1))


@pytest.fixture(scope="module")
def city() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]:
    return toy_city()


@pytest.fixture(scope="module")
def result(city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]) -> BacktestResult:
    cells, events, features, meta = city
    return run_backtest(
        features, cells, events, meta, config=CONFIG, model_config=MODEL, coverage=0.1
    )


def test_the_metrics_carry_the_run_as_typed_fields(result: BacktestResult) -> None:
    metrics = result.metrics
    assert metrics.period == "week"
    assert metrics.n_backtest_periods == 8
    # The last 8 labelled weeks: weeks 32..39 of data.
    assert metrics.backtest_first_period == dt.date(2023, 8, 14)
    assert metrics.backtest_last_period == dt.date(2023, 10, 2)
    assert (metrics.refit_every, metrics.n_cells, metrics.coverage) == (4, 19, 0.1)
    assert set(metrics.baselines) == set(baseline_names("week"))
    assert metrics.model.pei_truth is None
    assert metrics.best_baseline == metrics.lift.baseline


def test_the_backtest_table(
    result: BacktestResult, city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]
) -> None:
    cells, _, features, _ = city
    frame = result.frame
    baselines = [f"score_{n}" for n in baseline_names("week")]
    assert list(frame.columns) == [
        "h3_cell",
        PERIOD_COLUMN,
        "target_count",
        "risk_score",
        "flagged",
        *baselines,
        "truth_recorded",
        "truth_committed",
    ]
    assert len(frame) == 8 * 19
    # Periods in time order, cells in the order of cells.parquet within each period.
    assert frame["h3_cell"].tolist()[:19] == cells["h3_cell"].tolist()
    np.testing.assert_array_equal(frame[PERIOD_COLUMN].unique(), PERIODS[32:40])
    expected = features.set_index([PERIOD_COLUMN, "h3_cell"])["target_count"]
    got = frame.set_index([PERIOD_COLUMN, "h3_cell"])["target_count"]
    pd.testing.assert_series_equal(got, expected.loc[got.index])
    assert frame[["truth_recorded", "truth_committed"]].isna().all().all()
    # 10% of 19 near-equal cells: two cells flagged each week.
    assert frame.groupby(PERIOD_COLUMN)["flagged"].sum().tolist() == [2] * 8


def test_the_plots_data_and_the_plots(result: BacktestResult, tmp_path: Path) -> None:
    names = ["model", *baseline_names("week"), "oracle"]
    assert list(result.capture_curves) == names
    oracle = result.capture_curves["oracle"]
    assert oracle.shape == CAPTURE_GRID.shape and oracle[0] == 0.0 and oracle[-1] == 1.0
    assert result.calibration.n.sum() == 8 * 19
    assert result.model_pai.shape == result.best_baseline_pai.shape == (8,)
    paths = plot_backtest(result, tmp_path / "plots")
    assert [p.name for p in paths] == [
        "capture_curve.png",
        "calibration_deciles.png",
        "pai_by_period.png",
    ]
    assert all(p.stat().st_size > 0 for p in paths)


def test_the_curves_dvc_overlays(result: BacktestResult, tmp_path: Path) -> None:
    """``reports/compare/*.csv``: fixed columns, the model and the best baseline, rounded."""
    paths = write_plot_data(result, tmp_path / "compare")
    assert [p.name for p in paths] == list(PLOT_FILES.values())
    capture = pd.read_csv(tmp_path / "compare/capture_curve.csv")
    assert list(capture.columns) == ["coverage_pct", "model", "best_baseline"]
    assert capture["coverage_pct"].tolist() == list(range(101))
    best = result.capture_curves[result.metrics.best_baseline]
    assert np.allclose(capture["best_baseline"], best, rtol=1e-4)
    assert np.allclose(capture["model"], result.capture_curves["model"], rtol=1e-4)
    calibration = pd.read_csv(tmp_path / "compare/calibration.csv")
    assert calibration["decile"].tolist() == list(range(1, 11))
    assert list(calibration.columns) == ["decile", "expected", "observed", "observed_over_expected"]
    pai = pd.read_csv(tmp_path / "compare/pai_by_period.csv")
    assert pai["backtest_period"].tolist() == list(range(1, 9))
    assert pai["period_start"].iloc[0] == pd.Timestamp(result.period_starts[0]).strftime("%Y-%m-%d")
    assert np.allclose(pai["model"], result.model_pai, rtol=1e-4, equal_nan=True)
    # five significant figures, "\n" line ends: the same bytes on any machine
    text = (tmp_path / "compare/capture_curve.csv").read_bytes()
    assert b"\r" not in text
    values = capture[["model", "best_baseline"]].to_numpy().ravel()
    assert all(float(f"{v:.5g}") == v for v in values)
    assert not all(float(f"{v:.4g}") == v for v in values)  # not rounded further
    again = write_plot_data(result, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_the_metrics_it_produces_write_and_read_back_equal(
    result: BacktestResult, tmp_path: Path
) -> None:
    path = tmp_path / "metrics.json"
    result.metrics.write(path)
    assert BacktestMetrics.read(path) == result.metrics


def test_the_truth_adds_truth_efficiency_and_columns(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta],
) -> None:
    cells, events, features, meta = city
    truth = FakeTruth()
    res = run_backtest(
        features, cells, events, meta, config=CONFIG, model_config=MODEL, coverage=0.1, truth=truth
    )
    assert truth.calls == ["recorded", "committed"]
    assert res.metrics.model.pei_truth is not None
    assert all(s.pei_truth is not None for s in res.metrics.baselines.values())
    assert list(res.capture_curves)[-1] == "truth"
    first_week = res.frame[res.frame[PERIOD_COLUMN] == PERIODS[32]]
    np.testing.assert_array_equal(first_week["truth_recorded"], np.arange(19.0)[::-1] + 0.5)
    np.testing.assert_array_equal(first_week["truth_committed"], np.arange(19.0)[::-1] + 1.0)


def test_refusals_and_the_shortened_backtest(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cells, events, features, meta = city
    kw = {"model_config": MODEL, "coverage": 0.1}
    too_long = CONFIG.model_copy(update={"min_train_periods": 33})
    with pytest.raises(ValueError, match="Only 36 labelled weeks: too few for a backtest of at"):
        run_backtest(features, cells, events, meta, config=too_long, **kw)
    # Features whose target disagrees with the events they were built from.
    changed = features.copy()
    changed.loc[changed[PERIOD_COLUMN] == PERIODS[35], "target_count"] += 1.0
    with pytest.raises(ValueError, match="disagree on the backtest targets"):
        run_backtest(changed, cells, events, meta, config=CONFIG, **kw)
    # 36 labelled weeks leave 24 after 12 training weeks: 30 asked for, 24 run, with a warning.
    longer = CONFIG.model_copy(update={"backtest_periods": 30, "refit_every": 13})
    with caplog.at_level(logging.WARNING, logger="models.evaluation"):
        res = run_backtest(features, cells, events, meta, config=longer, **kw)
    assert res.metrics.n_backtest_periods == 24
    assert "backtest shortened to 24 weeks" in caplog.text


def test_truth_skip_reason(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta], tmp_path: Path
) -> None:
    meta = city[3]
    assert "no truth model at" in str(truth_skip_reason(tmp_path, meta))  # a folder, no model
    (tmp_path / "meta.json").write_text("{}", encoding="utf-8")
    assert truth_skip_reason(tmp_path, meta) is None
    assert "no truth model at None" in str(truth_skip_reason(None, meta))
    assert "no truth model at" in str(truth_skip_reason(tmp_path / "absent", meta))
    monthly = meta.model_copy(update={"period": "month"})
    assert truth_skip_reason(tmp_path, monthly) is None  # the truth answers by month too
    real = meta.model_copy(update={"source": "police_uk", "period": "month"})
    assert "these data are police_uk" in str(truth_skip_reason(tmp_path, real))


def test_evaluate_params_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="refit_evry"):
        EvaluateConfig.model_validate({"refit_evry": 4})
