"""The stacked blend in the rolling-origin backtest: weights per refit block, from its hold-out.

Each refit block of the backtest (:func:`models.backtest.backtest_scores_holdout`) has a model
fitted on the periods before the block and an early-stopping model fitted on the periods before
the block's hold-out (its latest ``train.validation_periods`` training periods). The block's blend
weights are fitted on that hold-out (:func:`models.blend.holdout_blend_fit`): the early model's
expected counts there, each blended baseline's (scored from the periods before each hold-out
period) and the realised counts. Every hold-out period precedes the block, so the weights used
for a period never see that period or a later one: the published model gets its weights the same
way (:mod:`models.blend_serving`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.metrics import BacktestMetrics, BlendScores, Lift
from beatwise.artefacts.model import BlendRecord
from beatwise.period import PERIOD_COLUMN
from models.backtest import to_matrix
from models.blend import MODEL_PART, blend_parts, holdout_blend_fit
from models.metrics import pai_lift, summarise_forecast

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
#: baselines' expected counts at the given indices of the count matrix's periods, by name
ScoreFn = Callable[[npt.NDArray[np.int64]], Mapping[str, FloatArray]]


@dataclass(frozen=True)
class BlendedBacktest:
    """The blend's backtest scores and each refit block's weights."""

    #: (W, C) blended expected counts of the backtest periods
    scores: FloatArray
    #: the weights of each refit block, by the block's first period
    records: dict[dt.date, BlendRecord]


def _day(value: np.datetime64 | pd.Timestamp) -> dt.date:
    return pd.Timestamp(value).date()


def blend_backtest(
    holdout: pd.DataFrame,
    *,
    model_scores: FloatArray,
    baselines: Mapping[str, FloatArray],
    counts: npt.NDArray[np.int64] | FloatArray,
    all_periods: npt.NDArray[np.datetime64],
    backtest_periods: npt.NDArray[np.datetime64],
    cells: npt.NDArray,
    names: Sequence[str],
    score_fn: ScoreFn,
) -> BlendedBacktest:
    """Blend the backtest's model scores with ``names``, weights fitted per block on its hold-out.

    Parameters
    ----------
    holdout : DataFrame
        :func:`models.backtest.backtest_scores_holdout`'s second table (``block_start``,
        ``period_start``, ``h3_cell``, ``risk_score``).
    model_scores : (W, C) float
        The model's expected counts of the backtest periods (cells in the order of ``cells``).
    baselines : mapping of str to (W, C) float
        The backtest's baseline scores (reused where a hold-out period is a backtest period).
    counts : (T, C)
        Target counts of every period of data; ``all_periods`` their starts.
    backtest_periods : (W,) datetime64
        The backtest periods (rows of ``model_scores``).
    cells : (C,) array
        H3 cell ids as text, the column order.
    names : sequence of str
        ``train.blend.baselines``.
    score_fn : callable
        The blended baselines' scores at period indices of ``counts`` before the backtest (the
        evaluate params' knobs, :func:`models.evaluation.score_baselines`).
    """
    bt_index = {p: i for i, p in enumerate(np.asarray(backtest_periods, dtype="datetime64[ns]"))}
    held = np.unique(holdout[PERIOD_COLUMN].to_numpy(dtype="datetime64[ns]"))
    before = held[held < backtest_periods[0]]
    early = score_fn(np.searchsorted(all_periods, before)) if before.size else {}
    early_index = {p: i for i, p in enumerate(before)}

    def parts_at(name: str, periods: npt.NDArray[np.datetime64]) -> FloatArray:
        rows = [
            early[name][early_index[p]] if p in early_index else baselines[name][bt_index[p]]
            for p in periods  # a few hold-out periods, whole rows of cells each
        ]
        return np.stack(rows)

    scores = np.empty_like(model_scores)
    records: dict[dt.date, BlendRecord] = {}
    blocks = np.unique(holdout["block_start"].to_numpy(dtype="datetime64[ns]"))
    ends = np.append(blocks[1:], np.datetime64(pd.Timestamp.max, "ns"))
    for start, end in zip(blocks, ends, strict=True):  # one fit per refit block
        rows = holdout[holdout["block_start"] == start]
        periods = np.unique(rows[PERIOD_COLUMN].to_numpy(dtype="datetime64[ns]"))
        model = to_matrix(rows, "risk_score", periods=periods, cells=cells)
        y = counts[np.searchsorted(all_periods, periods)].astype(np.float64)
        record = holdout_blend_fit(
            y,
            model,
            {name: parts_at(name, periods) for name in names},
            names=names,
            holdout_periods=(_day(periods[0]), _day(periods[-1])),
        )
        records[_day(start)] = record
        in_block = (backtest_periods >= start) & (backtest_periods < end)
        scores[in_block] = blend_parts(
            [model_scores[in_block], *(baselines[n][in_block] for n in names)], record.weights
        )
    return BlendedBacktest(scores=scores, records=records)


def _rounded(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def with_unblended(
    metrics: BacktestMetrics,
    blended: BlendedBacktest,
    *,
    y: FloatArray,
    model_scores: FloatArray,
    best_scores: FloatArray,
    names: Sequence[str],
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: FloatArray | None,
    n_boot: int,
    block_len: int,
    seed: int,
) -> BacktestMetrics:
    """``metrics`` (the blend's) with the model alone beside it: its figures on the same cells and
    periods, its lift over the same best baseline (same bootstrap seed) and the blocks' weights."""
    unblended = summarise_forecast(
        y,
        model_scores,
        areas_km2=areas_km2,
        cell_ids=cell_ids,
        truth=truth,
        coverages=metrics.coverages,
        coverage=metrics.coverage,
    )
    lift = pai_lift(
        y,
        model_scores,
        best_scores,
        areas_km2=areas_km2,
        cell_ids=cell_ids,
        coverage=metrics.coverage,
        n_boot=n_boot,
        block_len=block_len,
        seed=seed,
    )
    blend = BlendScores(
        parts=(MODEL_PART, *names),
        weights={day: record.weights for day, record in blended.records.items()},
        unblended=unblended,
        unblended_lift=Lift(
            baseline=metrics.best_baseline,
            estimate=_rounded(lift.estimate),
            ci_low=_rounded(lift.ci_low),
            ci_high=_rounded(lift.ci_high),
        ),
    )
    logger.info(
        "blend with %s: PAI@%s %s (model alone %s), lift %s (model alone %s)",
        list(names),
        metrics.coverage,
        metrics.model.pai.get(metrics.coverage),
        unblended.pai.get(metrics.coverage),
        metrics.lift.estimate,
        blend.unblended_lift.estimate,
    )
    return metrics.model_copy(update={"blend": blend})
