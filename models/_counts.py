"""Validation of the count matrices and score periods that the baselines read (B1-B7).

One place for the checks, so that :mod:`models.baselines` and :mod:`models.etas` refuse the same
inputs with the same messages.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def as_counts(counts: npt.ArrayLike) -> FloatArray:
    """``counts[period, cell]`` as float64; refuses all but a finite, non-negative 2-D array."""
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"counts must be a 2-D array [period, cell]. Got {arr.ndim}-D with shape {arr.shape}."
        )
    if arr.shape[1] < 1:
        raise ValueError(f"counts must hold at least one cell. Got shape {arr.shape}.")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("counts must be finite and >= 0 (event counts per cell-period).")
    return arr


def as_score_periods(score_periods: npt.ArrayLike, *, n_periods: int) -> IntArray:
    """Period indices to score as int64, each in ``[0, n_periods]`` (``n_periods``: the next)."""
    idx = np.asarray(score_periods)
    if idx.ndim != 1:
        raise ValueError(
            f"score_periods must be a 1-D array of period indices. Got shape {idx.shape}."
        )
    if idx.size and idx.dtype.kind not in "iu":
        raise ValueError(f"score_periods must be integer period indices. Got dtype {idx.dtype}.")
    idx = idx.astype(np.int64)
    bad = (idx < 0) | (idx > n_periods)
    if bad.any():
        raise ValueError(
            f"score_periods must index the period axis of counts: each in [0, {n_periods}] "
            f"({n_periods} = the period after the last row). Got {idx[bad][:5].tolist()}."
        )
    return idx


def check_int(name: str, value: int, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; refuses bools, floats and smaller ints by ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}. Got {value!r}.")
    return int(value)
