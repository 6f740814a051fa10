"""Rolling-origin backtest: each forecast week is scored by a model trained only on earlier weeks.

METRICS.md's protocol: for each of the last N labelled weeks, forecast it with a model trained on
weeks before it. Refitting every ``refit_every`` weeks and reusing the latest model in between is
allowed, because features always come from data before the week being forecast.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.risk_model import RiskModelConfig, fit_risk_model


def to_matrix(
    frame: pd.DataFrame, column: str, *, weeks: npt.NDArray, cells: npt.NDArray
) -> npt.NDArray[np.float64]:
    """Pivot a long (week_start, h3_cell) column into a dense [week, cell] array (all present)."""
    wide = frame.pivot(index="week_start", columns="h3_cell", values=column)
    wide = wide.reindex(index=pd.DatetimeIndex(weeks), columns=cells)
    if wide.isna().to_numpy().any():
        raise ValueError(f"Column {column!r} is missing for some backtest cell-weeks.")
    return wide.to_numpy(dtype=np.float64)


def backtest_scores(
    features: pd.DataFrame,
    *,
    feature_columns: list[str],
    backtest_weeks: npt.NDArray,
    refit_every: int,
    config: RiskModelConfig,
) -> pd.DataFrame:
    """Model scores for every backtest row; each block's model sees only earlier weeks."""
    labelled = features[features["target_count"].notna()]
    parts = []
    for start in range(0, len(backtest_weeks), refit_every):
        block = backtest_weeks[start : start + refit_every]
        train = labelled[labelled["week_start"] < block[0]]
        model = fit_risk_model(train, feature_columns=feature_columns, config=config)
        rows = labelled[labelled["week_start"].isin(block)]
        parts.append(rows[["week_start", "h3_cell"]].assign(risk_score=model.predict(rows)))
    return pd.concat(parts, ignore_index=True)
