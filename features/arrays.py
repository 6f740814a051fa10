"""Array builders of the cell-period features, over dense ``[period, cell]`` arrays.

``rows`` are the period indices t of the output rows (t = T, the number of complete periods, is
the forecast period); each builder returns float32 ``[len(rows), column]`` and reads only periods
strictly before each row's (``X[0 .. t-1]``), so no feature sees its own period. The columns are
cells, or any other spatial unit (the parent cells of :mod:`features.multires`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def lagged(X: npt.NDArray, rows: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.float32]:
    """``X[t - k]``; NaN where ``t - k < 0``."""
    out = np.full((rows.size, X.shape[1]), np.nan, dtype=np.float32)
    ok = rows - k >= 0
    out[ok] = X[rows[ok] - k]
    return out


def rolling_mean(
    S: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.float32]:
    """Mean of ``X[t-n .. t-1]`` from the cumulative sum ``S`` (leading zero row); NaN if t < n."""
    out = np.full((rows.size, S.shape[1]), np.nan, dtype=np.float32)
    ok = rows - n >= 0
    out[ok] = (S[rows[ok]] - S[rows[ok] - n]) / n
    return out


def history_mean(S: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """Mean of ``X[0 .. t-1]``: the cell's long-run rate per period before t (B4's quantity).

    Every row has at least ``min_history_periods`` >= 1 periods behind it, so the mean is defined.
    """
    return (S[rows] / rows[:, None]).astype(np.float32)


def decayed(X: npt.NDArray, rows: npt.NDArray[np.int64], half_life: int) -> npt.NDArray[np.float32]:
    """``sum_{s < t} X[s] * 2 ** (-(t - 1 - s) / h)``: last period's events weigh 1.

    ``y[t] = X[t] + d * y[t-1]`` (``d = 2 ** (-1 / h)``, ``lfilter([1], [1, -d])``); the row
    for period t reads ``y[t - 1]`` so the period itself is never included. Periods before the
    data contribute nothing (the intensity is 0 at t = 0).
    """
    d = 2.0 ** (-1.0 / half_life)
    x = X.astype(np.float64)
    # The first-order recursion, one vector operation over cells per period: the same float64
    # operations as lfilter([1], [1, -d]) (bit for bit, tested), three times faster.
    y = np.empty_like(x)
    if x.shape[0]:
        y[0] = x[0]
    for t in range(1, x.shape[0]):
        np.multiply(y[t - 1], d, out=y[t])
        y[t] += x[t]
    out = np.zeros((rows.size, X.shape[1]), dtype=np.float32)  # t = 0: no period before it
    seen = rows > 0
    out[seen] = y[rows[seen] - 1]  # y[t - 1] sums the periods before t
    return out


def periods_since(X: npt.NDArray, rows: npt.NDArray[np.int64], cap: int) -> npt.NDArray[np.float32]:
    """``t - (last period s < t with X[s] > 0)``, capped at ``cap``; ``cap`` when none was seen."""
    n_periods = X.shape[0]
    idx = np.where(X > 0, np.arange(n_periods, dtype=np.int32)[:, None], np.int32(-1))
    last = np.maximum.accumulate(idx, axis=0)  # last[s]: the last period <= s with an event
    seen = np.full((rows.size, X.shape[1]), -1, dtype=np.int32)  # t = 0: nothing before it
    before = rows > 0
    seen[before] = last[rows[before] - 1]
    gap = rows[:, None] - seen
    return np.where(seen >= 0, np.minimum(gap, cap), cap).astype(np.float32)
