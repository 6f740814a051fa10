"""A fixed backtest window (``evaluate.backtest_first`` to ``backtest_last``): the periods it picks,
what backtest_metrics.json records, the documents' wording, and every refusal naming its key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtest_city import MODEL, toy_city
from pydantic import ValidationError

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN
from models.evaluation import EvaluateConfig, choose_backtest_periods, run_backtest
from models.report import document_dates

FIXED = {
    "backtest_periods": None,
    "backtest_first": "2023-06-07",  # a Wednesday: the week of Monday 2023-06-05
    "backtest_last": "2023-07-09",  # a Sunday: the week of Monday 2023-07-03
}
BASE: dict[str, Any] = {
    "refit_every": 4,
    "min_train_periods": 12,
    "n_boot": 100,
    "kde_periods": 2,
    "hotspot_periods": 2,
}


def _weeks(*days: str) -> list[np.datetime64]:
    return [np.datetime64(d, "ns") for d in days]


@pytest.fixture(scope="module")
def city() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]:
    """The backtest's toy city (labelled weeks 2023-01-30 to 2023-10-02), from a CSV source."""
    cells, events, features, meta = toy_city()
    return cells, events, features, meta.model_copy(update={"source": "mapped_csv"})


def _choose(features: pd.DataFrame, **kw: Any) -> np.ndarray:
    return choose_backtest_periods(features, config=EvaluateConfig(**{**BASE, **kw}), period="week")


def test_a_fixed_window_picks_exactly_its_periods(city: tuple[Any, ...]) -> None:
    chosen = _choose(city[2], **FIXED)
    expected = _weeks("2023-06-05", "2023-06-12", "2023-06-19", "2023-06-26", "2023-07-03")
    assert list(chosen) == expected


def test_monthly_dates_name_their_months() -> None:
    months = pd.date_range("2020-01-01", periods=30, freq="MS")
    features = pd.DataFrame({PERIOD_COLUMN: months, "target_count": 1.0})
    config = EvaluateConfig(**{**BASE, **FIXED, "min_train_periods": 6})
    config = config.model_copy(
        update={"backtest_first": dt.date(2021, 3, 31), "backtest_last": dt.date(2021, 8, 2)}
    )
    chosen = choose_backtest_periods(features, config=config, period="month")
    assert [str(p)[:10] for p in chosen] == [f"2021-0{m}-01" for m in range(3, 9)]


def test_the_fixed_window_is_recorded_in_metrics_json(
    city: tuple[Any, ...], tmp_path: Path
) -> None:
    cells, events, features, meta = city
    result = run_backtest(
        features,
        cells,
        events,
        meta,
        config=EvaluateConfig(**{**BASE, **FIXED}),
        model_config=MODEL,
        coverage=0.1,
    )
    assert list(result.period_starts) == list(_choose(features, **FIXED))
    assert sorted(result.frame[PERIOD_COLUMN].unique()) == list(result.period_starts)
    result.metrics.write(tmp_path / "metrics.json")
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["backtest_window"] == "fixed"
    assert (on_disk["backtest_first_period"], on_disk["backtest_last_period"]) == (
        "2023-06-05",
        "2023-07-03",
    )
    assert on_disk["n_backtest_periods"] == 5
    back = BacktestMetrics.read(tmp_path / "metrics.json")
    assert back.backtest_window == "fixed"
    # the documents say the window was fixed in params
    line = next(d for d in _dates(back).lines if d.label == "Backtest period")
    assert "fixed window" in line.meaning and "evaluate.backtest_first" in line.meaning


def test_the_last_periods_window_is_recorded_as_last(city: tuple[Any, ...]) -> None:
    cells, events, features, meta = city
    result = run_backtest(
        features,
        cells,
        events,
        meta,
        config=EvaluateConfig(**{**BASE, "backtest_periods": 8}),
        model_config=MODEL,
        coverage=0.1,
    )
    assert result.metrics.to_json()["backtest_window"] == "last"
    assert result.metrics.backtest_last_period == dt.date(2023, 10, 2)
    line = next(d for d in _dates(result.metrics).lines if d.label == "Backtest period")
    assert "fixed window" not in line.meaning


def _dates(metrics: BacktestMetrics) -> Any:
    from audit_inputs import report_context

    return document_dates(report_context(), metrics)


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2022-12-05", "2023-07-09", r"2022-12-05 to 2023-07-03, outside the data"),
        ("2023-06-07", "2023-11-20", r"2023-06-05 to 2023-11-20, outside the data"),
        ("2023-03-01", "2023-07-09", r"backtest_first=2023-03-01 leaves 4 labelled weeks"),
        ("2023-06-07", "2023-06-14", r"hold 2 labelled weeks; a backtest needs at least 4"),
    ],
    ids=["starts-before-data", "ends-after-data", "too-little-training", "too-short"],
)
def test_a_window_the_data_cannot_hold_is_refused(
    city: tuple[Any, ...], first: str, last: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _choose(city[2], **{**FIXED, "backtest_first": first, "backtest_last": last})


def test_the_first_window_the_training_history_allows_is_accepted(city: tuple[Any, ...]) -> None:
    # 12 labelled weeks (2023-01-30 .. 2023-04-17) before 2023-04-24: exactly min_train_periods
    chosen = _choose(city[2], **{**FIXED, "backtest_first": "2023-04-24"})
    assert chosen[0] == np.datetime64("2023-04-24", "ns")
    with pytest.raises(ValueError, match="leaves 11 labelled weeks"):
        _choose(city[2], **{**FIXED, "backtest_first": "2023-04-23"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"backtest_periods": 52, "backtest_first": "2023-06-07", "backtest_last": "2023-07-09"},
            r"evaluate.backtest_periods \(the last N periods\) and evaluate.backtest_first/"
            r"backtest_last \(a fixed window\) are both set",
        ),
        (
            {"backtest_periods": None, "backtest_first": "2023-06-07"},
            "evaluate.backtest_first and evaluate.backtest_last go together",
        ),
        (
            {"backtest_periods": None},
            "evaluate.backtest_periods is null, so evaluate.backtest_first",
        ),
        (
            {
                "backtest_periods": None,
                "backtest_first": "2023-07-09",
                "backtest_last": "2023-06-07",
            },
            "evaluate.backtest_first must not be after evaluate.backtest_last",
        ),
        (
            {
                "backtest_periods": None,
                "backtest_first": "2023/06/07",
                "backtest_last": "2023-07-09",
            },
            r'evaluate.backtest_first must be a date written in quotes, "YYYY-MM-DD"',
        ),
        (
            {"backtest_periods": None, "backtest_first": "2023-06-07", "backtest_last": 20230709},
            r"evaluate.backtest_last must be a date .* Got 20230709",
        ),
        (
            {
                "backtest_periods": None,
                "backtest_first": "2023-02-30",
                "backtest_last": "2023-07-09",
            },
            "evaluate.backtest_first must be a date",
        ),
    ],
    ids=["both-modes", "one-date", "neither", "reversed", "format", "number", "no-such-day"],
)
def test_evaluate_config_refuses_an_unclear_window(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EvaluateConfig(**values)


def test_the_default_is_the_last_52_periods() -> None:
    config = EvaluateConfig()
    assert (config.backtest_periods, config.backtest_first, config.backtest_last) == (
        52,
        None,
        None,
    )
    assert config.backtest_window == "last"
    assert EvaluateConfig(**FIXED).backtest_window == "fixed"
    assert EvaluateConfig(**FIXED).backtest_first == dt.date(2023, 6, 7)
