"""Baselines B1–B6 of ``../shared/METRICS.md``: the simple forecasts a model has to beat.

Every baseline scores week index ``t`` of a count matrix ``counts[week, cell]`` (week axis in time
order, cells in ascending H3 order) from rows ``< t`` only, never row ``t`` or later. Scores are on
the scale of an expected count per cell-week, so the Poisson deviance and calibration of a baseline
mean something too.

Short history
-------------
Early score weeks can have less history than a window asks for. Each baseline then uses what
exists, so all of them are defined for every score week and are scored on exactly the same cells
and weeks:

- a mean over the last ``n`` weeks averages the ``min(n, t)`` rows that exist;
- ``same_week_last_year`` (row ``t - 52``) falls back to the mean of all rows before ``t``;
- the kernel baselines use the lags that exist and normalise by their weights;
- with no history at all (``t = 0``) every score is 0 (the ranking is then by cell id).

Vectorisation: means come from one cumulative sum over the week axis; the kernels are sparse
``[cell, cell]`` matrices applied to all score weeks at once; the only Python loop is over the few
time lags of a kernel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree

from features.h3index import cell_centroids, ring_neighbours

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BaselineName = Literal[
    "last_week",
    "mean_4w",
    "mean_13w",
    "mean_52w",
    "same_week_last_year",
    "all_history",
    "kde_retrospective",
    "prospective_hotspot",
]
#: Every baseline, in the order of METRICS.md (B1, B2 x 3, B3, B4, B5, B6).
BASELINE_NAMES: tuple[BaselineName, ...] = get_args(BaselineName)

WEEKS_PER_YEAR = 52
#: Mean Earth radius (m), IUGG; the kernel distances use a local equirectangular projection,
#: accurate to well under 0.1% over a city.
EARTH_RADIUS_M = 6_371_008.8


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _as_counts(counts: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"counts must be a 2-D array [week, cell]. Got {arr.ndim}-D with shape {arr.shape}."
        )
    if arr.shape[1] < 1:
        raise ValueError(f"counts must hold at least one cell. Got shape {arr.shape}.")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("counts must be finite and >= 0 (event counts per cell-week).")
    return arr


def _as_score_weeks(score_weeks: npt.ArrayLike, *, n_weeks: int) -> IntArray:
    weeks = np.asarray(score_weeks)
    if weeks.ndim != 1:
        raise ValueError(f"score_weeks must be a 1-D array of week indices. Got {weeks.shape}.")
    if weeks.size and weeks.dtype.kind not in "iu":
        raise ValueError(f"score_weeks must be integer week indices. Got dtype {weeks.dtype}.")
    weeks = weeks.astype(np.int64)
    bad = (weeks < 0) | (weeks > n_weeks)
    if bad.any():
        raise ValueError(
            f"score_weeks must index the week axis of counts: each in [0, {n_weeks}] "
            f"({n_weeks} = the week after the last row). Got {weeks[bad][:5].tolist()}."
        )
    return weeks


def _check_int(name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}. Got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------------------------
# Temporal baselines (B1–B4)
# --------------------------------------------------------------------------------------------


def _cumulative(counts: FloatArray) -> FloatArray:
    """(T + 1, C) running totals; row ``t`` is the sum of rows ``< t``."""
    return np.concatenate([np.zeros((1, counts.shape[1])), np.cumsum(counts, axis=0)], axis=0)


def _window_mean(cum: FloatArray, weeks: IntArray, window: int | None) -> FloatArray:
    start = np.zeros_like(weeks) if window is None else np.maximum(weeks - window, 0)
    n_rows = (weeks - start).astype(np.float64)
    total = cum[weeks] - cum[start]
    out = np.zeros_like(total)
    np.divide(total, n_rows[:, None], out=out, where=n_rows[:, None] > 0)
    return out


def mean_previous_weeks(
    counts: npt.ArrayLike, score_weeks: npt.ArrayLike, *, window: int | None
) -> FloatArray:
    """Mean count of each cell over the ``window`` weeks before each score week (B1, B2, B4).

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per week and cell, week axis in time order.
    score_weeks : (S,) array_like of int
        Week indices to score, each in ``[0, T]``.
    window : int or None
        Weeks averaged: 1 is last week's count (B1), 4/13/52 the B2 variants, None all history
        (B4). With fewer than ``window`` rows before ``t``, the rows that exist are averaged; with
        none the score is 0.

    Returns
    -------
    (S, C) float64
        Events per cell-week.
    """
    arr = _as_counts(counts)
    weeks = _as_score_weeks(score_weeks, n_weeks=arr.shape[0])
    if window is not None:
        window = _check_int("window", window)
    return _window_mean(_cumulative(arr), weeks, window)


def same_week_last_year(counts: npt.ArrayLike, score_weeks: npt.ArrayLike) -> FloatArray:
    """Count of each cell 52 weeks before each score week (B3).

    Score weeks with ``t < 52`` have no such row and fall back to the mean of all rows before
    ``t`` (B4), or 0 when ``t = 0``.
    """
    arr = _as_counts(counts)
    weeks = _as_score_weeks(score_weeks, n_weeks=arr.shape[0])
    return _same_week_last_year(arr, _cumulative(arr), weeks)


def _same_week_last_year(counts: FloatArray, cum: FloatArray, weeks: IntArray) -> FloatArray:
    has_year = weeks >= WEEKS_PER_YEAR
    out = _window_mean(cum, weeks, None)
    out[has_year] = counts[weeks[has_year] - WEEKS_PER_YEAR]
    n_fallback = int((~has_year).sum())
    if n_fallback:
        logger.info(
            "same_week_last_year: %d of %d score weeks have < 52 weeks of history; "
            "they use the mean of all earlier weeks",
            n_fallback,
            weeks.size,
        )
    return out


# --------------------------------------------------------------------------------------------
# Spatial kernels (B5, B6)
# --------------------------------------------------------------------------------------------


def _local_metres(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_a = np.asarray(lon, dtype=np.float64)
    if lat_a.shape != lon_a.shape or lat_a.ndim != 1:
        raise ValueError(
            f"cell_lat and cell_lon must be 1-D arrays of one shape. Got {lat_a.shape} and "
            f"{lon_a.shape}."
        )
    if not (np.isfinite(lat_a).all() and np.isfinite(lon_a).all()):
        raise ValueError("cell_lat and cell_lon must be finite WGS84 degrees.")
    lat0 = np.deg2rad(lat_a.mean()) if lat_a.size else 0.0
    y = EARTH_RADIUS_M * np.deg2rad(lat_a)
    x = EARTH_RADIUS_M * np.cos(lat0) * np.deg2rad(lon_a)
    return x, y


def quartic_kernel_matrix(
    cell_lat: npt.ArrayLike, cell_lon: npt.ArrayLike, *, bandwidth_m: float
) -> sp.csr_matrix:
    """Sparse ``[cell, cell]`` quartic kernel ``K(d) = (1 - (d/h)²)²`` for ``d < h``, else 0.

    ``d`` is the distance between cell centroids in metres (local equirectangular projection of
    WGS84 degrees); ``h = bandwidth_m``. The diagonal is 1. A bandwidth below the spacing of cell
    centroids reduces the kernel to the identity. Unnormalised (see :func:`kde_retrospective`).
    """
    if not (np.isfinite(bandwidth_m) and bandwidth_m > 0):
        raise ValueError(f"bandwidth_m must be a distance in metres > 0. Got {bandwidth_m}.")
    x, y = _local_metres(cell_lat, cell_lon)
    n = x.size
    xy = np.column_stack([x, y])
    pairs = cKDTree(xy).query_pairs(r=bandwidth_m, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    d = np.hypot(x[i] - x[j], y[i] - y[j])
    w = np.clip(1.0 - (d / bandwidth_m) ** 2, 0.0, None) ** 2
    diag = np.arange(n)
    rows = np.concatenate([i, j, diag])
    cols = np.concatenate([j, i, diag])
    vals = np.concatenate([w, w, np.ones(n)])
    kernel = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    kernel.eliminate_zeros()  # pairs exactly at d = h have weight 0
    return kernel


def hotspot_kernel_matrix(cell_ids: npt.ArrayLike, *, rings: int) -> sp.csr_matrix:
    """Sparse ``[cell, cell]`` weight ``1 / (1 + d)``, ``d`` in H3 grid rings, ``d <= rings``.

    Pairs come from :func:`features.h3index.ring_neighbours`, so cells outside the study area add
    nothing. Unnormalised (see :func:`prospective_hotspot`).
    """
    rings = _check_int("rings", rings, minimum=0)
    ids = np.asarray(cell_ids, dtype=np.uint64)
    i, j, d = ring_neighbours(ids, k=rings)
    return sp.csr_matrix((1.0 / (1.0 + d), (i, j)), shape=(ids.size, ids.size))


def _spread(
    counts: FloatArray,
    weeks: IntArray,
    kernel: sp.csr_matrix,
    time_weights: FloatArray,
) -> FloatArray:
    """``Σ_L w_L Σ_j K[c, j] Y[t - L, j] / (Σ_{L: t-L >= 0} w_L · max_j Σ_c K[c, j])``.

    ``time_weights[L - 1]`` weighs lag ``L`` (1 = the week before ``t``). Lags before the first
    row are dropped and the time normaliser sums only the lags that exist, so a short history
    gives a weighted mean of what exists. Dividing by the largest column sum of the kernel (an
    interior cell's) keeps an interior cell's events at their total, so scores are expected counts
    per cell-week, and leaves the ranking exactly that of the unnormalised kernel.
    """
    n_cells = counts.shape[1]
    history = np.zeros((weeks.size, n_cells))
    norm = np.zeros(weeks.size)
    for lag, w in enumerate(time_weights, start=1):
        rows = weeks - lag
        valid = rows >= 0
        history[valid] += w * counts[rows[valid]]
        norm += w * valid
    col_sums = np.asarray(kernel.sum(axis=0)).ravel()
    scale = float(col_sums.max()) if col_sums.size else 1.0
    spread = np.asarray(kernel @ history.T).T
    out = np.zeros_like(spread)
    denom = (norm * scale)[:, None]
    np.divide(spread, denom, out=out, where=denom > 0)
    return out


def kde_retrospective(
    counts: npt.ArrayLike,
    score_weeks: npt.ArrayLike,
    *,
    cell_lat: npt.ArrayLike,
    cell_lon: npt.ArrayLike,
    bandwidth_m: float = 400.0,
    weeks: int = 8,
) -> FloatArray:
    """Retrospective kernel density (B5): quartic kernel over the last ``weeks`` weeks.

    Score of cell ``c`` for week ``t``: ``Σ_j K(d_cj) · mean_{L=1..weeks} Y[t-L, j] / K_max``,
    where ``K`` is :func:`quartic_kernel_matrix` on cell centroids (``bandwidth_m`` metres) and
    ``K_max`` the largest column sum of ``K`` (an interior cell's total weight). Every week of the
    window weighs the same. Events per cell-week.

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per week and cell.
    score_weeks : (S,) array_like of int
        Week indices to score, each in ``[0, T]``; only rows ``< t`` are read.
    cell_lat, cell_lon : (C,) array_like
        Cell centroids, WGS84 degrees.
    bandwidth_m : float
        Kernel radius ``h`` in metres (about 400 m in the literature).
    weeks : int
        Window length in weeks.
    """
    arr = _as_counts(counts)
    score_idx = _as_score_weeks(score_weeks, n_weeks=arr.shape[0])
    weeks = _check_int("weeks", weeks)
    kernel = quartic_kernel_matrix(cell_lat, cell_lon, bandwidth_m=bandwidth_m)
    if kernel.shape[0] != arr.shape[1]:
        raise ValueError(
            f"cell_lat and cell_lon must have one entry per cell of counts ({arr.shape[1]}). "
            f"Got {kernel.shape[0]}."
        )
    return _spread(arr, score_idx, kernel, np.ones(weeks))


def prospective_hotspot(
    counts: npt.ArrayLike,
    score_weeks: npt.ArrayLike,
    *,
    cell_ids: npt.ArrayLike,
    rings: int = 3,
    weeks: int = 8,
) -> FloatArray:
    """Prospective hotspot (B6; Bowers, Johnson & Pease 2004).

    Each event in cell ``j`` and week ``t - L`` (``L = 1..weeks``) adds ``1 / ((1 + d)(1 + a))`` to
    cell ``c``, with ``d`` the H3 grid distance from ``j`` to ``c`` (``d <= rings``) and
    ``a = L - 1`` the event's age in whole weeks at the start of week ``t`` (last week's events
    have age 0). The sum is divided by ``Σ_L 1/(1 + a)`` over the lags that exist and by the
    largest column sum of the spatial weights, so scores are expected counts per cell-week; the
    ranking is Bowers et al.'s.

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per week and cell.
    score_weeks : (S,) array_like of int
        Week indices to score, each in ``[0, T]``; only rows ``< t`` are read.
    cell_ids : (C,) array_like of uint64
        H3 ids of the cells (one resolution).
    rings, weeks : int
        Truncation: grid rings and weeks.
    """
    arr = _as_counts(counts)
    score_idx = _as_score_weeks(score_weeks, n_weeks=arr.shape[0])
    weeks = _check_int("weeks", weeks)
    ids = np.asarray(cell_ids)
    if ids.shape != (arr.shape[1],):
        raise ValueError(
            f"cell_ids must have one id per cell of counts ({arr.shape[1]},). Got {ids.shape}."
        )
    kernel = hotspot_kernel_matrix(ids, rings=rings)
    return _spread(arr, score_idx, kernel, 1.0 / np.arange(1, weeks + 1))


# --------------------------------------------------------------------------------------------
# All baselines at once
# --------------------------------------------------------------------------------------------


def compute_baselines(
    counts: npt.ArrayLike,
    score_weeks: npt.ArrayLike,
    *,
    cell_ids: npt.ArrayLike,
    cell_lat: npt.ArrayLike | None = None,
    cell_lon: npt.ArrayLike | None = None,
    names: Sequence[BaselineName] = BASELINE_NAMES,
    kde_bandwidth_m: float = 400.0,
    kde_weeks: int = 8,
    hotspot_rings: int = 3,
    hotspot_weeks: int = 8,
) -> dict[str, FloatArray]:
    """Scores of the baselines for each score week, from the full weekly count matrix.

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per week and cell: all weeks of data in time order, cells in ascending H3
        order (``docs/architecture.md``).
    score_weeks : (S,) array_like of int
        Week indices to score, each in ``[0, T]`` (``T`` = the week after the last row). The
        score for week ``t`` reads rows ``< t`` only.
    cell_ids : (C,) array_like of uint64
        H3 ids of the cells (B6 rings; centroids when ``cell_lat``/``cell_lon`` are not given).
    cell_lat, cell_lon : (C,) array_like, optional
        Cell centroids in WGS84 degrees (as in ``cells.parquet``); computed from ``cell_ids``
        when omitted.
    names : sequence of BaselineName
        Baselines to compute; default all of :data:`BASELINE_NAMES`.
    kde_bandwidth_m, kde_weeks : float, int
        B5 kernel radius (metres) and window (weeks).
    hotspot_rings, hotspot_weeks : int
        B6 truncation in grid rings and weeks.

    Returns
    -------
    dict of str to (S, C) float64
        Expected counts per cell-week, in the order of ``names``. Short history: see the module
        docstring.
    """
    start = time.perf_counter()
    arr = _as_counts(counts)
    weeks = _as_score_weeks(score_weeks, n_weeks=arr.shape[0])
    unknown = [n for n in names if n not in BASELINE_NAMES]
    if unknown:
        raise ValueError(f"Unknown baseline names {unknown}. Expected some of {BASELINE_NAMES}.")
    ids = np.asarray(cell_ids)
    if ids.shape != (arr.shape[1],):
        raise ValueError(
            f"cell_ids must have one id per cell of counts ({arr.shape[1]},). Got {ids.shape}."
        )
    cum = _cumulative(arr)
    windows: dict[str, int | None] = {
        "last_week": 1,
        "mean_4w": 4,
        "mean_13w": 13,
        "mean_52w": 52,
        "all_history": None,
    }
    out: dict[str, FloatArray] = {}
    for name in names:
        if name in windows:
            out[name] = _window_mean(cum, weeks, windows[name])
        elif name == "same_week_last_year":
            out[name] = _same_week_last_year(arr, cum, weeks)
        elif name == "kde_retrospective":
            if cell_lat is None or cell_lon is None:
                cell_lat, cell_lon = cell_centroids(ids)
            out[name] = kde_retrospective(
                arr,
                weeks,
                cell_lat=cell_lat,
                cell_lon=cell_lon,
                bandwidth_m=kde_bandwidth_m,
                weeks=kde_weeks,
            )
        elif name == "prospective_hotspot":
            out[name] = prospective_hotspot(
                arr, weeks, cell_ids=ids, rings=hotspot_rings, weeks=hotspot_weeks
            )
    n_short = int((weeks < WEEKS_PER_YEAR).sum())
    logger.info(
        "baselines %s: %d score weeks x %d cells from %d weeks of counts (%d with < 52 weeks of "
        "history) in %.2f s",
        list(out),
        weeks.size,
        arr.shape[1],
        arr.shape[0],
        n_short,
        time.perf_counter() - start,
    )
    return out
