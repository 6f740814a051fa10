"""Block bootstrap over weeks: the one resampling scheme behind every interval Beatwise reports."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def block_bootstrap_indices(
    n_weeks: int, *, n_boot: int = 1000, block_len: int = 4, seed: int = 0
) -> npt.NDArray[np.int64]:
    """Week indices for ``n_boot`` moving-block bootstrap replicates, shape (n_boot, n_weeks).

    Blocks of ``block_len`` consecutive weeks keep short-range dependence between weeks (a hot
    spell lasts more than a week). Deterministic for a given seed.
    """
    if n_weeks < 1:
        raise ValueError(f"n_weeks must be >= 1. Got {n_weeks}.")
    if block_len < 1:
        raise ValueError(f"block_len must be >= 1. Got {block_len}.")
    block_len = min(block_len, n_weeks)
    rng = np.random.default_rng(seed)
    n_blocks = -(-n_weeks // block_len)
    starts = rng.integers(0, n_weeks - block_len + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block_len)[None, None, :]).reshape(n_boot, -1)
    return idx[:, :n_weeks].astype(np.int64)


def percentile_interval(replicates: npt.ArrayLike, *, level: float = 0.95) -> tuple[float, float]:
    """Two-sided percentile interval of bootstrap replicates, ignoring NaN replicates."""
    arr = np.asarray(replicates, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(arr, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))
