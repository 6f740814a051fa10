"""How recent forecasts did: the record the bias report and the forecast map draw as a line.

The headline is the hit rate at the operational coverage: the share of a period's recorded target
crime that happened in the flagged cells (PAI, the hit rate over the flagged share of the area,
goes in the table and the points' tooltips). Two series of it, beside the best baseline's:

- **published forecasts, scored after the period**: one point per row of the scorecard history
  ``data/published/scorecard.csv`` (``beatwise score``; :func:`read_published_record`), the last
  :data:`RECENT_PERIODS` scored;
- **the backtest**, the model's forecast of past periods: its last :data:`RECENT_PERIODS` periods
  of ``backtest.parquet`` (:func:`backtest_record`), scored by the functions the scorecard uses
  (:mod:`models.metrics` at the backtest's coverage, ties by cell id), so that each point equals
  ``beatwise score <period> --from-backtest``. A fresh run has no scored publication yet; the
  backtest alone keeps the line from being empty.

The best baseline's figure for each period comes from the backtest (``score_<best baseline>``)
where the backtest holds the period, and otherwise from the history's ``reference_hit_rate`` and
``reference_pai`` (the best baseline when that forecast was scored).

The history is read from the published area, which DVC never tracks: scoring a period does not
re-run a stage, and the next run's bias report and map show the new row. Rows of another period
length (the configuration changed since they were scored) are counted and said, not drawn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.scorecard import HISTORY_FILE, read_history
from beatwise.io import read_parquet
from beatwise.period import PERIOD_COLUMN, Period
from models.backtest import to_matrix
from models.metrics import DECIMALS, hit_rate, pai

logger = logging.getLogger(__name__)

#: periods of each series shown: the backtest's last ones, and the last publications scored
RECENT_PERIODS: Final[int] = 12
#: the columns of a series (:attr:`TrackRecord.backtest`, :attr:`TrackRecord.published`), one row
#: per period, oldest first; ratios are NaN for a period without a target event
RECORD_COLUMNS: Final[tuple[str, ...]] = (
    "period_start",
    "events",
    "hit_rate",
    "pai",
    "reference_baseline",
    "reference_hit_rate",
    "reference_pai",
    "folder",
)


@dataclass(frozen=True)
class TrackRecord:
    """The two series of :data:`RECORD_COLUMNS` and what they are measured at."""

    period: Period
    #: the backtest's coverage (``operational.coverage``)
    coverage: float
    #: the backtest's best baseline (highest pooled PAI at the coverage)
    best_baseline: str
    backtest: pd.DataFrame
    published: pd.DataFrame
    #: scored publications of another period length, not drawn
    other_periods: int = 0

    def __post_init__(self) -> None:
        for name in ("backtest", "published"):
            frame = getattr(self, name)
            if tuple(frame.columns) != RECORD_COLUMNS:
                raise ValueError(
                    f"The {name} series must have the columns {list(RECORD_COLUMNS)}. "
                    f"Got {list(frame.columns)}."
                )


def backtest_record(
    backtest: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    coverage: float,
    best_baseline: str,
    last: int = RECENT_PERIODS,
) -> pd.DataFrame:
    """The backtest's last ``last`` periods as a series (:data:`RECORD_COLUMNS`).

    Parameters
    ----------
    backtest
        ``backtest.parquet``'s rows: ``period_start``, ``h3_cell``, ``target_count``,
        ``risk_score`` and ``score_<best_baseline>``, every cell in every period.
    cells
        ``cells.parquet``'s ``h3_cell``, ``h3_int`` and ``area_km2`` (the ties' order, the area).
    coverage
        Share of the study area flagged, as the backtest flagged it.
    best_baseline
        The baseline whose figures are drawn beside the model's.

    Refuses a backtest without the baseline's scores, or missing a cell in a period.
    """
    column = f"score_{best_baseline}"
    if column not in backtest.columns:
        raise ValueError(
            f"backtest.parquet has no column {column!r} (the best baseline's scores); re-run "
            "`dvc repro evaluate`."
        )
    periods = np.sort(backtest[PERIOD_COLUMN].unique())[-last:]
    order = cells["h3_cell"].to_numpy()
    recent = backtest[backtest[PERIOD_COLUMN].isin(periods)]
    y, model, base = (
        to_matrix(recent, c, periods=periods, cells=order)
        for c in ("target_count", "risk_score", column)
    )
    kw = {
        "areas_km2": cells["area_km2"].to_numpy(dtype=np.float64),
        "cell_ids": cells["h3_int"].to_numpy(dtype=np.uint64),
        "coverage": coverage,
    }
    frame = pd.DataFrame(
        {
            "period_start": pd.DatetimeIndex(periods).date,
            "events": y.sum(axis=1).round().astype(np.int64),
            "hit_rate": hit_rate(y, model, **kw).weekly,
            "pai": pai(y, model, **kw).weekly,
            "reference_baseline": best_baseline,
            "reference_hit_rate": hit_rate(y, base, **kw).weekly,
            "reference_pai": pai(y, base, **kw).weekly,
            "folder": None,
        }
    )
    return frame.round(DECIMALS)


def published_record(
    history: pd.DataFrame, *, period: Period, last: int = RECENT_PERIODS
) -> tuple[pd.DataFrame, int]:
    """The last ``last`` scored publications of ``period`` length as a series, and how many rows
    of the history are of another period length (not drawn).

    ``history`` is :func:`beatwise.artefacts.scorecard.read_history`'s table (checked there).
    """
    same = history["period"] == period
    rows = history[same].sort_values("period_start").tail(last)
    frame = pd.DataFrame(
        {
            "period_start": pd.to_datetime(rows["period_start"]).dt.date,
            "events": rows["events"].astype(np.int64),
            "hit_rate": rows["hit_rate"].astype(np.float64),
            "pai": rows["pai"].astype(np.float64),
            "reference_baseline": rows["reference_baseline"],
            "reference_hit_rate": rows["reference_hit_rate"].astype(np.float64),
            "reference_pai": rows["reference_pai"].astype(np.float64),
            "folder": rows["folder"],
        }
    ).reset_index(drop=True)
    return frame, int((~same).sum())


def track_record(
    backtest: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    history: Path,
    metrics: BacktestMetrics,
) -> TrackRecord:
    """The record of recent forecasts: the backtest's (``metrics``: its period, coverage and best
    baseline) and the scored publications of the history file ``history`` (none when the file
    does not exist; a malformed one is refused naming its row and column)."""
    published, other = published_record(read_history(history), period=metrics.period)
    record = TrackRecord(
        period=metrics.period,
        coverage=metrics.coverage,
        best_baseline=metrics.best_baseline,
        backtest=backtest_record(
            backtest, cells, coverage=metrics.coverage, best_baseline=metrics.best_baseline
        ),
        published=published,
        other_periods=other,
    )
    logger.info(
        "recent forecasts: %d backtest %ss, %d scored publications from %s%s",
        len(record.backtest),
        metrics.period,
        len(record.published),
        history,
        f" ({other} of another period length, not drawn)" if other else "",
    )
    return record


def read_track_record(
    backtest: Path, metrics: Path, cells: pd.DataFrame, published_dir: Path
) -> TrackRecord:
    """:func:`track_record` from the files: ``backtest.parquet``, ``backtest_metrics.json`` and
    the published area holding the history (:data:`beatwise.artefacts.scorecard.HISTORY_FILE`)."""
    figures = BacktestMetrics.read(metrics)
    columns = (PERIOD_COLUMN, "h3_cell", "target_count", "risk_score")
    frame = read_parquet(backtest, columns=(*columns, f"score_{figures.best_baseline}"))
    return track_record(frame, cells, history=Path(published_dir) / HISTORY_FILE, metrics=figures)
