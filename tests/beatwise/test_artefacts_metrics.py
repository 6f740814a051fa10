"""``reports/backtest_metrics.json``: its typed definition, flat layout, coverage label."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from stage_files import METRICS_RUN_KEYS

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.metrics import BacktestMetrics, ForecastScores, Lift, coverage_label

ROOT = Path(__file__).resolve().parents[2]
COVERAGES = (0.01, 0.05)


def scores(base: float, *, truth: bool = True) -> ForecastScores:
    table = {0.01: base, 0.05: base / 2}
    return ForecastScores(
        hr=table,
        pai={0.01: base * 10, 0.05: None},
        pei=table,
        pei_truth=table if truth else None,
        poisson_deviance=0.9,
        calibration_oe=1.01,
        churn=0.8,
    )


def backtest_metrics(**changes: Any) -> BacktestMetrics:
    fields: dict[str, Any] = {
        "period": "week",
        "coverage": 0.05,
        "coverages": COVERAGES,
        "model": scores(0.4),
        "baselines": {"all_history": scores(0.3), "last_week": scores(0.2)},
        "best_baseline": "all_history",
        "lift": Lift(baseline="all_history", estimate=1.2, ci_low=1.1, ci_high=1.3),
        "backtest_first_period": dt.date(2024, 1, 1),
        "backtest_last_period": dt.date(2024, 12, 23),
        "n_backtest_periods": 52,
        "n_periods_without_events": 0,
        "n_cells": 2372,
        "refit_every": 13,
    }
    return BacktestMetrics(**(fields | changes))


@pytest.mark.parametrize(
    ("coverage", "label"),
    [
        *[(0.005, "0p5"), (0.01, "1"), (0.02, "2"), (0.05, "5"), (0.1, "10"), (0.2, "20")],
        *[(0.025, "2p5"), (0.125, "12p5"), (1.0, "100")],
    ],
)
def test_coverage_label(coverage: float, label: str) -> None:
    assert coverage_label(coverage) == label


def test_flat_layout_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    backtest_metrics().write(path)
    data = json.loads(path.read_text())
    figures = {f"{n}_at_{k}pct" for n in ("hr", "pai", "pei", "pei_truth") for k in ("1", "5")}
    figures |= {"poisson_deviance", "calibration_oe", "churn_at_5pct"}
    assert set(data) == figures | METRICS_RUN_KEYS
    assert set(data["baselines"]) == {"all_history", "last_week"}
    assert set(data["baselines"]["last_week"]) == figures
    assert data["pai_at_5pct"] is None
    assert data["hr_at_1pct"] == 0.4
    assert data["lift_pai_at_5pct"] == {
        "baseline": "all_history",
        "estimate": 1.2,
        "ci_low": 1.1,
        "ci_high": 1.3,
    }
    assert (data["coverage"], data["coverages"]) == (0.05, [0.01, 0.05])
    assert data["backtest_first_period"] == "2024-01-01"


@pytest.mark.parametrize("truth", [True, False])
def test_round_trip_in_memory_and_on_disk(tmp_path: Path, truth: bool) -> None:
    original = backtest_metrics(
        model=scores(0.4, truth=truth),
        baselines={"all_history": scores(0.3, truth=truth)},
    )
    assert BacktestMetrics.from_json(original.to_json()) == original
    path = tmp_path / "metrics.json"
    original.write(path)
    assert BacktestMetrics.read(path) == original
    assert original.model.at("hr", 0.05) == 0.2
    with pytest.raises(KeyError, match=r"No hr at coverage 0\.2"):
        original.model.at("hr", 0.2)


def test_reading_refuses_a_file_that_disagrees_with_the_definition() -> None:
    good = backtest_metrics().to_json()
    with pytest.raises(ArtefactError, match="key 'coverage' is missing"):
        BacktestMetrics.from_json({k: v for k, v in good.items() if k != "coverage"})
    with pytest.raises(ArtefactError, match=r"unknown keys: \['pai_at_7pct'\]"):
        BacktestMetrics.from_json(good | {"pai_at_7pct": 1.0})
    with pytest.raises(ArtefactError, match=r"Missing keys: \['hr_at_1pct'\]"):
        BacktestMetrics.from_json({k: v for k, v in good.items() if k != "hr_at_1pct"})
    with pytest.raises(ArtefactError, match="'lift_pai_at_1pct' must be present"):
        BacktestMetrics.from_json(good | {"coverage": 0.01})
    with pytest.raises(ArtefactError, match="key 'n_cells'"):
        BacktestMetrics.from_json(good | {"n_cells": 0}, source="reports/backtest_metrics.json")


def test_construction_refuses_inconsistent_figures() -> None:
    with pytest.raises(ValueError, match="must be one of the baselines"):
        backtest_metrics(best_baseline="mean_4w")
    with pytest.raises(ValueError, match="ascending and distinct"):
        backtest_metrics(coverages=(0.05, 0.01))
    with pytest.raises(ValueError, match=r"baselines.last_week.hr must give a figure at each"):
        backtest_metrics(
            baselines={
                "all_history": scores(0.3),
                "last_week": scores(0.2).model_copy(update={"hr": {0.05: 0.1}}),
            }
        )
