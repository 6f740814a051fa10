"""The audit's inputs as checked arrays, and the small numeric helpers every figure uses.

Arrays are dense ``[week, cell]`` (any forecast period: a row is a month in monthly mode), cells
in the order of ``cells.parquet``. Each refusal names the array or column, what was expected and
what was got.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.audit._config import AuditConfig
from models.bootstrap import block_bootstrap_indices


def _as_week_cell(name: str, arr: npt.ArrayLike, shape: tuple[int, int] | None) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [week, cell]. Got shape {a.shape}.")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have the shape of flagged {shape}. Got {a.shape}.")
    return a


def validate_inputs(
    flagged: npt.ArrayLike, y: npt.ArrayLike, scores: npt.ArrayLike, cells: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flagged set (bool), the realised counts and the scores (float64), checked."""
    f = _as_week_cell("flagged", flagged, None)
    if f.dtype != np.bool_:
        raise ValueError(f"flagged must be a boolean array. Got dtype {f.dtype}.")
    if f.shape[0] < 1 or f.shape[1] < 1:
        raise ValueError(f"flagged must have at least one week and one cell. Got {f.shape}.")
    yy = _as_week_cell("y", y, f.shape).astype(np.float64)
    ss = _as_week_cell("scores", scores, f.shape).astype(np.float64)
    for name, a in (("y", yy), ("scores", ss)):
        if not np.isfinite(a).all() or (a < 0).any():
            raise ValueError(f"{name} must be finite and non-negative everywhere.")
    if len(cells) != f.shape[1]:
        raise ValueError(
            f"cells must have one row per cell of the arrays ({f.shape[1]}). Got {len(cells)}."
        )
    return f, yy, ss


def cell_column(cells: pd.DataFrame, column: str, *, what: str) -> np.ndarray:
    """One column of cells as float64 (NaN for missing), refusing a missing column."""
    if column not in cells.columns:
        raise ValueError(
            f"cells has no column {column!r} ({what}). Columns: {list(cells.columns)}."
        )
    values = cells[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def cell_populations(
    cells: pd.DataFrame, config: AuditConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cell's area (km²), residents and residents per audit group ``P [cell, group]``.

    The group columns are those of ``config.attributes`` in order. Refuses non-finite or negative
    figures, a non-positive area, and group residents in a cell with no residents.
    """
    area = cell_column(cells, config.area_column, what="cell area in km²")
    if not (np.isfinite(area).all() and (area > 0).all()):
        raise ValueError(f"cells[{config.area_column!r}] must be finite and positive everywhere.")
    residents = cell_column(cells, config.residents_column, what="residents per cell")
    if not (np.isfinite(residents).all() and (residents >= 0).all()):
        raise ValueError(
            f"cells[{config.residents_column!r}] must be finite and non-negative everywhere."
        )
    group_cols = [g.column for attr in config.attributes for g in attr.groups.values()]
    P = (
        np.column_stack(
            [cell_column(cells, c, what="residents of an audit group") for c in group_cols]
        )
        if group_cols
        else np.zeros((len(cells), 0))
    )
    if not (np.isfinite(P).all() and (P >= 0).all()):
        raise ValueError(f"cells columns {group_cols} must be finite and non-negative everywhere.")
    orphan = np.nonzero((P > 0).any(axis=1) & (residents <= 0))[0]
    if orphan.size:
        raise ValueError(
            f"cells row {int(orphan[0])} has group residents but {config.residents_column!r} is "
            f"{residents[orphan[0]]}; expected the cell's total residents (> 0)."
        )
    return area, residents, P


def safe_div(num: npt.ArrayLike, den: npt.ArrayLike) -> np.ndarray:
    """num / den with NaN (not a warning) where den is zero."""
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(n, d).shape, np.nan)
    np.divide(n, d, out=out, where=d != 0)
    return out


def rate_ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> np.ndarray:
    """Ratio of two rates, with 0 / 0 = 1: when neither group's flagged cells had a false flag,
    the groups are at parity (every flagged cell saw a target event), not unknown."""
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    return np.where((n == 0) & (d == 0), 1.0, safe_div(n, d))


def week_weights(n_weeks: int, config: AuditConfig) -> np.ndarray:
    """Row 0: every week once (the point estimate); rows 1..B: bootstrap week counts."""
    idx = block_bootstrap_indices(
        n_weeks, n_boot=config.n_boot, block_len=config.block_len, seed=config.seed
    )
    flat = (idx + np.arange(config.n_boot)[:, None] * n_weeks).ravel()
    counts = np.bincount(flat, minlength=config.n_boot * n_weeks).reshape(config.n_boot, n_weeks)
    return np.vstack([np.ones((1, n_weeks)), counts.astype(np.float64)])


def ratio_metric(
    y_true: Any, y_pred: Any, *, sample_weight: np.ndarray, num: np.ndarray, den: np.ndarray
) -> float:
    """Σ w·num / Σ w·den (NaN when the denominator is zero), for MetricFrame."""
    d = float(np.sum(sample_weight * den))
    return float(np.sum(sample_weight * num)) / d if d > 0 else math.nan


def sum_metric(y_true: Any, y_pred: Any, *, sample_weight: np.ndarray, num: np.ndarray) -> float:
    """Σ w·num, for MetricFrame."""
    return float(np.sum(sample_weight * num))
