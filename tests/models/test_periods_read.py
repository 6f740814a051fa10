"""With ``train.history_periods``, evaluate and select read only the panel's periods their
backtests need, and their results are those of the whole panel, to the byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtest_city import CONFIG, MODEL, PERIODS, toy_city

from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN
from models.evaluation import run_backtest
from models.panel_rows import (
    backtest_periods_to_read,
    periods_to_read,
    read_keys,
    training_periods_to_read,
)
from models.risk_model import RiskModelConfig
from models.selection import SelectConfig, run_selection, selection_periods_to_read

City = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]
WINDOWED = MODEL.model_copy(update={"history_periods": 6})


@pytest.fixture(scope="module")
def city() -> City:
    return toy_city()


def _keys(features: pd.DataFrame) -> pd.DataFrame:
    return features[[PERIOD_COLUMN, "target_count"]]


def _rows(features: pd.DataFrame, read: list[pd.Timestamp]) -> pd.DataFrame:
    return features[features[PERIOD_COLUMN].isin(read)].reset_index(drop=True)


def test_evaluate_reads_from_the_longest_of_the_window_and_min_train_periods(city: City) -> None:
    cells, events, features, meta = city
    read = backtest_periods_to_read(_keys(features), meta, config=CONFIG, model_config=WINDOWED)
    # labelled weeks 4..39, a backtest of the last 8 (from week 32): the 12 weeks before it
    # (min_train_periods 12 > history_periods 6), then every week to the forecast week
    assert read == [pd.Timestamp(p) for p in PERIODS[20:]]
    whole = run_backtest(features, cells, events, meta, config=CONFIG, model_config=WINDOWED,
                         coverage=0.2)  # fmt: skip
    part = run_backtest(_rows(features, read), cells, events, meta, config=CONFIG,
                        model_config=WINDOWED, coverage=0.2)  # fmt: skip
    pd.testing.assert_frame_equal(part.frame, whole.frame)
    assert part.metrics == whole.metrics
    # no window: every period is read
    keys = _keys(features)
    assert backtest_periods_to_read(keys, meta, config=CONFIG, model_config=MODEL) is None


def test_a_window_longer_than_min_train_periods_sets_where_reading_starts(city: City) -> None:
    _, _, features, _ = city
    longer = MODEL.model_copy(update={"history_periods": 15})
    read = periods_to_read(_keys(features), first=PERIODS[32], configs=[longer, WINDOWED],
                           min_train_periods=12)  # fmt: skip
    assert read is not None and read[0] == pd.Timestamp(PERIODS[17])
    # a configuration without a window reads everything, as does a window reaching the start
    assert periods_to_read(_keys(features), first=PERIODS[32], configs=[WINDOWED, MODEL],
                           min_train_periods=12) is None  # fmt: skip
    assert periods_to_read(_keys(features), first=PERIODS[32], configs=[WINDOWED],
                           min_train_periods=28) is None  # fmt: skip


def test_select_reads_only_its_window_s_history_and_chooses_as_on_the_whole_panel(
    city: City,
) -> None:
    cells, events, features, meta = city
    select = SelectConfig(periods=8, candidates={"deep": {"num_leaves": 8}})
    read = selection_periods_to_read(
        _keys(features), meta, select=select, base=WINDOWED, evaluate=CONFIG
    )
    # the selection window is weeks 24..31 (before evaluate's 32..39): 12 weeks before it
    assert read == [pd.Timestamp(p) for p in PERIODS[12:]]

    def run(frame: pd.DataFrame) -> tuple[object, object]:
        return run_selection(frame, cells, events, meta, select=select, base=WINDOWED,
                             evaluate=CONFIG, coverage=0.2)  # fmt: skip

    assert run(_rows(features, read)) == run(features)
    assert selection_periods_to_read(
        _keys(features), meta, select=SelectConfig(candidates={}), base=WINDOWED, evaluate=CONFIG
    ) is None  # fmt: skip


def test_train_reads_only_the_labelled_periods_of_its_window(tmp_path: Path) -> None:
    weeks = pd.date_range("2024-01-01", periods=13, freq="7D")
    frame = pd.DataFrame(
        {
            "h3_cell": np.tile(["a", "b"], 13),
            "period_start": np.repeat(weeks, 2),
            "target_count": np.r_[np.ones(24), np.nan, np.nan],  # the last week is the forecast
        }
    )
    path = tmp_path / "features.parquet"
    frame.to_parquet(path)
    windowed = RiskModelConfig(validation_periods=3, history_periods=5)
    read = training_periods_to_read(read_keys(path), windowed)
    assert read == list(weeks[7:12])  # five weeks, no forecast week
    assert training_periods_to_read(read_keys(path), RiskModelConfig(history_periods=12)) is None
    assert training_periods_to_read(read_keys(path), RiskModelConfig()) is None
