"""Which of the feature panel's periods a stage reads (``train.history_periods``).

A fit learns from at most ``history_periods`` labelled periods before its origin, so the stages
that fit (``train``, ``select``, ``evaluate``) read the panel's keys first (``period_start`` and
``target_count``: two columns), then only the periods their fits learn from and score; the
panel's older rows are never loaded. Each reader's results equal the whole panel's (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from beatwise.artefacts.panel import TARGET_COLUMN, PanelMeta
from beatwise.io import read_parquet
from beatwise.period import PERIOD_COLUMN
from models.evaluation import EvaluateConfig, choose_backtest_periods
from models.risk_model import RiskModelConfig


def read_keys(path: Path) -> pd.DataFrame:
    """The panel's ``period_start`` and ``target_count`` columns, every row."""
    return read_parquet(path, columns=[PERIOD_COLUMN, TARGET_COLUMN])


def read_panel(path: Path, meta: PanelMeta, periods: Sequence[pd.Timestamp] | None) -> pd.DataFrame:
    """The panel's rows of ``periods`` (every row when None), refusing a file without the
    columns ``meta`` lists."""
    where = None if periods is None else (PERIOD_COLUMN, list(periods))
    return read_parquet(path, required=meta.table_columns(), where=where)


def training_periods_to_read(
    keys: pd.DataFrame, config: RiskModelConfig
) -> list[pd.Timestamp] | None:
    """The labelled periods the ``train`` stage's fit learns from: the latest
    ``history_periods``; None when it learns from every one."""
    labelled = keys.loc[keys[TARGET_COLUMN].notna(), PERIOD_COLUMN].to_numpy()
    start = config.history_start(labelled)
    if start is None:
        return None
    return [pd.Timestamp(p) for p in np.unique(labelled[labelled >= start])]


def periods_to_read(
    keys: pd.DataFrame,
    *,
    first: np.datetime64,
    configs: Sequence[RiskModelConfig],
    min_train_periods: int,
) -> list[pd.Timestamp] | None:
    """The periods of ``features.parquet`` a backtest whose first scored period is ``first``
    reads, so that the panel's older rows are never loaded; None: every period.

    ``keys`` holds the panel's ``period_start`` and ``target_count`` only. Every fit of the
    backtest ends at or after ``first`` and learns from at most ``history_periods`` labelled
    periods (the largest over ``configs``; any config without a window reads everything). The
    labelled periods kept before ``first`` are at least ``min_train_periods``, so that
    :func:`choose_backtest_periods` and the selection's window pick the same periods from the
    rows read as from the whole panel.
    """
    windows = [c.history_periods for c in configs]
    if not windows or any(w is None for w in windows):
        return None
    keep = max(max(w for w in windows if w is not None), min_train_periods)
    periods = np.sort(keys[PERIOD_COLUMN].unique())
    labelled = np.sort(keys.loc[keys[TARGET_COLUMN].notna(), PERIOD_COLUMN].unique())
    before = labelled[labelled < first]
    if len(before) <= keep:
        return None
    return [pd.Timestamp(p) for p in periods[periods >= before[-keep]]]


def backtest_periods_to_read(
    keys: pd.DataFrame, meta: PanelMeta, *, config: EvaluateConfig, model_config: RiskModelConfig
) -> list[pd.Timestamp] | None:
    """The panel's periods :func:`run_backtest` reads (:func:`periods_to_read`); None: all."""
    first = choose_backtest_periods(keys, config=config, period=meta.period)[0]
    return periods_to_read(
        keys, first=first, configs=[model_config], min_train_periods=config.min_train_periods
    )


def read_backtest_panel(
    path: Path, meta: PanelMeta, *, config: EvaluateConfig, model_config: RiskModelConfig
) -> pd.DataFrame:
    """The panel's rows :func:`models.evaluation.run_backtest` reads
    (:func:`backtest_periods_to_read`)."""
    periods = backtest_periods_to_read(
        read_keys(path), meta, config=config, model_config=model_config
    )
    return read_panel(path, meta, periods)
