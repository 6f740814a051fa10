"""Rolling-origin backtest: each forecast period is scored by a model trained only on earlier ones.

METRICS.md's protocol: for each of the last N labelled periods (weeks, or months in monthly mode),
forecast it with a model trained on periods before it. Refitting every ``refit_every`` periods and
reusing the latest model in between is allowed, because features always come from data before the
period being forecast. The refits are independent of each other: :func:`refit_here` runs them one
after another in this process, :func:`models.dask_refits.dask_refits` as tasks on a Dask cluster,
with the same models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.period import PERIOD_COLUMN
from beatwise.progress import progress
from models.risk_model import (
    BinnedRows,
    HoldoutFit,
    RiskModelConfig,
    bin_rows,
    fit_binned_holdout,
)

logger = logging.getLogger(__name__)

#: fits the backtest's refits: the binned rows, the ``train`` config and each refit's first
#: period -> one :class:`HoldoutFit` per refit, in that order, each fitted on the rows before it
Refits = Callable[[BinnedRows, RiskModelConfig, Sequence[pd.Timestamp]], list[HoldoutFit]]


def refit_here(
    binned: BinnedRows, config: RiskModelConfig, befores: Sequence[pd.Timestamp]
) -> list[HoldoutFit]:
    """The refits one after another in this process (the ``local`` engine)."""
    fits = []
    for n, before in enumerate(progress(befores, desc="backtest refits", unit="refit"), 1):
        begin = time.perf_counter()
        fits.append(fit_binned_holdout(binned, config=config, before=before))
        logger.info(
            "refit %d of %d: trained on the rows before %s, %.1f s",
            n,
            len(befores),
            before.date(),
            time.perf_counter() - begin,
        )
    return fits


def to_matrix(
    frame: pd.DataFrame, column: str, *, periods: npt.NDArray, cells: npt.NDArray
) -> npt.NDArray[np.float64]:
    """Pivot a long (period_start, h3_cell) column into a dense [period, cell] array.

    Every (period, cell) must be present; refuses a frame that misses any.
    """
    wide = frame.pivot(index=PERIOD_COLUMN, columns="h3_cell", values=column)
    wide = wide.reindex(index=pd.DatetimeIndex(periods), columns=cells)
    if wide.isna().to_numpy().any():
        raise ValueError(f"Column {column!r} is missing for some backtest cell-periods.")
    return wide.to_numpy(dtype=np.float64)


def backtest_scores(
    features: pd.DataFrame,
    *,
    feature_columns: list[str],
    backtest_periods: npt.NDArray,
    refit_every: int,
    config: RiskModelConfig,
    refits: Refits = refit_here,
) -> pd.DataFrame:
    """Model scores for every backtest row (:func:`backtest_scores_holdout`'s first table)."""
    scores, _ = backtest_scores_holdout(
        features,
        feature_columns=feature_columns,
        backtest_periods=backtest_periods,
        refit_every=refit_every,
        config=config,
        refits=refits,
    )
    return scores


def backtest_scores_holdout(
    features: pd.DataFrame,
    *,
    feature_columns: list[str],
    backtest_periods: npt.NDArray,
    refit_every: int,
    config: RiskModelConfig,
    refits: Refits = refit_here,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model scores for every backtest row; each block's model sees only earlier periods.

    The backtest periods are cut into blocks of ``refit_every`` consecutive periods; the model of
    a block is fitted on the labelled rows of every period before the block's first period, and
    scores the block's labelled rows. So a period's score never comes from a model that saw that
    period (or any later one). The training rows are binned once, with bin edges from the periods
    before the first backtest period only, and every refit takes its rows as a subset of them.
    ``refits`` fits them (:data:`Refits`: here, or on a Dask cluster); the scores are computed
    here from the models it returns.

    Returns
    -------
    scores : DataFrame
        ``period_start``, ``h3_cell``, ``risk_score`` (expected count) per labelled backtest row.
    holdout : DataFrame
        ``block_start`` (the first period of a refit block), ``period_start``, ``h3_cell`` and
        ``risk_score``: the block's early-stopping model's expected counts on its hold-out (the
        latest ``validation_periods`` before the block), all out of sample; the blend's weights
        of the block are fitted on them (:mod:`models.blend`).
    """
    if refit_every < 1:
        raise ValueError(f"refit_every must be >= 1 period. Got {refit_every}.")
    labelled = features[features["target_count"].notna()]
    starts = range(0, len(backtest_periods), refit_every)
    begin = time.perf_counter()
    history = labelled[labelled[PERIOD_COLUMN] < backtest_periods[starts[-1]]]
    binned = bin_rows(
        history, feature_columns=feature_columns, config=config, bins_before=backtest_periods[0]
    )
    logger.info(
        "binned %d training rows once, bins from the periods before %s, %.1f s",
        len(binned.periods),
        pd.Timestamp(backtest_periods[0]).date(),
        time.perf_counter() - begin,
    )
    blocks = [backtest_periods[start : start + refit_every] for start in starts]
    fits = refits(binned, config, [pd.Timestamp(block[0]) for block in blocks])
    parts, held = [], []
    for block, fit in zip(blocks, fits, strict=True):
        rows = labelled[labelled[PERIOD_COLUMN].isin(block)]
        parts.append(rows[[PERIOD_COLUMN, "h3_cell"]].assign(risk_score=fit.model.predict(rows)))
        hold = labelled[labelled[PERIOD_COLUMN].isin(fit.holdout_periods)]
        held.append(
            hold[[PERIOD_COLUMN, "h3_cell"]].assign(
                block_start=pd.Timestamp(block[0]), risk_score=fit.early.predict(hold)
            )
        )
    return pd.concat(parts, ignore_index=True), pd.concat(held, ignore_index=True)
