"""Baselines B1–B7: the forecasts a model has to beat (B1–B6 of ``../shared/METRICS.md``, B7 ETAS).

A period is an ISO week or a calendar month (``features.period``); every window below counts
periods. Every baseline scores period index ``t`` of a count matrix ``counts[period, cell]``
(period axis in time order, cells in ascending H3 order) from rows ``< t`` only, never row ``t`` or
later. Scores are on the scale of an expected count per cell-period, so the Poisson deviance and
calibration of a baseline mean something too.

The baselines and their names by period (:func:`baseline_names`):

==  ============================  =========================================
B   weekly                        monthly
==  ============================  =========================================
B1  ``last_week``                 ``last_month``
B2  ``mean_4w/13w/52w``           ``mean_3m/6m/12m``
B3  ``same_week_last_year``       ``same_month_last_year``
B4  ``all_history``               ``all_history``
B5  ``kde_retrospective``         ``kde_retrospective`` (window in months)
B6  ``prospective_hotspot``       ``prospective_hotspot`` (t in months)
B7  ``etas``                      ``etas`` (lags in months)
==  ============================  =========================================

B7 is grid ETAS, the self-exciting point process of PredPol's published method (Mohler et al.
2015), fitted by EM in :mod:`models.etas` and refitted every ``etas_refit_every`` score periods
(the backtest passes its ``refit_every``).

Short history
-------------
Early score periods can have less history than a window asks for. Each baseline then uses what
exists, so all of them are defined for every score period and are scored on exactly the same cells
and periods:

- a mean over the last ``n`` periods averages the ``min(n, t)`` rows that exist;
- same period last year (row ``t - 52`` weeks or ``t - 12`` months) falls back to the mean of all
  rows before ``t``;
- the kernel baselines use the lags that exist and normalise by their weights;
- with no history at all (``t = 0``) every score is 0 (the ranking is then by cell id);
- ETAS is fitted on the rows before its refit block and reads rows ``< t`` for period ``t``
  (:mod:`models.etas`); a block with no events before it scores 0.

Vectorisation: means come from one cumulative sum over the period axis; the kernels are sparse
``[cell, cell]`` matrices applied to all score periods at once; the only Python loop is over the
few time lags of a kernel. ETAS runs its lag sums as linear recursions over every cell at once.
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

from beatwise.h3index import cell_centroids, ring_neighbours
from beatwise.period import Period, check_period, period_words, periods_per_year
from models._counts import as_counts as _as_counts
from models._counts import as_score_periods as _as_score_periods
from models._counts import check_int as _check_int
from models.etas import forecast_etas

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BaselineName = Literal[
    "last_week",
    "mean_4w",
    "mean_13w",
    "mean_52w",
    "same_week_last_year",
    "last_month",
    "mean_3m",
    "mean_6m",
    "mean_12m",
    "same_month_last_year",
    "all_history",
    "kde_retrospective",
    "prospective_hotspot",
    "etas",
]
#: B1 and B2 by period: name -> window in periods (last period, then the three prior means)
WINDOW_BASELINES: dict[Period, dict[BaselineName, int]] = {
    "week": {"last_week": 1, "mean_4w": 4, "mean_13w": 13, "mean_52w": 52},
    "month": {"last_month": 1, "mean_3m": 3, "mean_6m": 6, "mean_12m": 12},
}
#: B3 by period
SAME_PERIOD_LAST_YEAR: dict[Period, BaselineName] = {
    "week": "same_week_last_year",
    "month": "same_month_last_year",
}
_PERIOD_FREE: tuple[BaselineName, ...] = (
    "all_history",
    "kde_retrospective",
    "prospective_hotspot",
    "etas",
)


def baseline_names(period: Period) -> tuple[BaselineName, ...]:
    """Every baseline of ``period`` mode: METRICS.md's order (B1, B2 x 3, B3, B4-B6), then B7."""
    period = check_period(period)
    return (*WINDOW_BASELINES[period], SAME_PERIOD_LAST_YEAR[period], *_PERIOD_FREE)


#: Each baseline in words a board member would repeat, with its METRICS.md number.
BASELINE_WORDS: dict[BaselineName, str] = {
    "last_week": "last week's count of recorded crime in each place (B1)",
    "mean_4w": "the average count of recorded crime in each place over the last 4 weeks (B2)",
    "mean_13w": "the average count of recorded crime in each place over the last 13 weeks (B2)",
    "mean_52w": "the average count of recorded crime in each place over the last 52 weeks (B2)",
    "same_week_last_year": "the count of recorded crime in each place in the same week last "
    "year (B3)",
    "last_month": "last month's count of recorded crime in each place (B1)",
    "mean_3m": "the average count of recorded crime in each place over the last 3 months (B2)",
    "mean_6m": "the average count of recorded crime in each place over the last 6 months (B2)",
    "mean_12m": "the average count of recorded crime in each place over the last 12 months (B2)",
    "same_month_last_year": "the count of recorded crime in each place in the same month last "
    "year (B3)",
    "all_history": "a count of all past recorded crime in each place (B4)",
    "kde_retrospective": "a heat map of recent recorded crime (B5, kernel density)",
    "prospective_hotspot": "a near-repeat hot-spot rule that weights recent, nearby crime (B6)",
    "etas": "a self-exciting model of each place: its steady rate of recorded crime plus a rise "
    "after each crime that fades over the following weeks (B7, ETAS, the method PredPol "
    "published)",
}


def baseline_words(name: str) -> str:
    """A baseline in words (:data:`BASELINE_WORDS`); an unknown name as "the baseline '<name>'"."""
    return BASELINE_WORDS.get(name, f"the baseline '{name}'")  # type: ignore[call-overload]


#: Each baseline's short display name, for a table's row or a chart's legend (no parentheses, so
#: that "the best baseline (...)" reads as one aside); the sentence is :data:`BASELINE_WORDS`.
BASELINE_LABELS: dict[BaselineName, str] = {
    "last_week": "last week's count, B1",
    "mean_4w": "4-week average, B2",
    "mean_13w": "13-week average, B2",
    "mean_52w": "52-week average, B2",
    "same_week_last_year": "same week last year, B3",
    "last_month": "last month's count, B1",
    "mean_3m": "3-month average, B2",
    "mean_6m": "6-month average, B2",
    "mean_12m": "12-month average, B2",
    "same_month_last_year": "same month last year, B3",
    "all_history": "all past recorded crime, B4",
    "kde_retrospective": "heat map of recent crime, B5",
    "prospective_hotspot": "near-repeat hot spots, B6",
    "etas": "self-exciting model ETAS, B7",
}


def baseline_label(name: str) -> str:
    """A baseline's short display name (:data:`BASELINE_LABELS`); an unknown name as itself."""
    return BASELINE_LABELS.get(name, name)  # type: ignore[call-overload]


#: Every weekly baseline, in the order of METRICS.md (the default period).
BASELINE_NAMES: tuple[BaselineName, ...] = baseline_names("week")
assert set(get_args(BaselineName)) == set(BASELINE_NAMES) | set(baseline_names("month"))
#: Mean Earth radius (m), IUGG; the kernel distances use a local equirectangular projection,
#: accurate to well under 0.1% over a city.
EARTH_RADIUS_M = 6_371_008.8


# --------------------------------------------------------------------------------------------
# Temporal baselines (B1–B4)
# --------------------------------------------------------------------------------------------


def _cumulative(counts: FloatArray) -> FloatArray:
    """(T + 1, C) running totals; row ``t`` is the sum of rows ``< t``."""
    return np.concatenate([np.zeros((1, counts.shape[1])), np.cumsum(counts, axis=0)], axis=0)


def _window_mean(cum: FloatArray, periods: IntArray, window: int | None) -> FloatArray:
    start = np.zeros_like(periods) if window is None else np.maximum(periods - window, 0)
    n_rows = (periods - start).astype(np.float64)
    total = cum[periods] - cum[start]
    out = np.zeros_like(total)
    np.divide(total, n_rows[:, None], out=out, where=n_rows[:, None] > 0)
    return out


def mean_previous_periods(
    counts: npt.ArrayLike, score_periods: npt.ArrayLike, *, window: int | None
) -> FloatArray:
    """Mean count of each cell over the ``window`` periods before each score period (B1, B2, B4).

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per period and cell, period axis in time order.
    score_periods : (S,) array_like of int
        Period indices to score, each in ``[0, T]``.
    window : int or None
        Periods averaged: 1 is last period's count (B1), 4/13/52 weeks or 3/6/12 months the B2
        variants, None all history (B4). With fewer than ``window`` rows before ``t``, the rows
        that exist are averaged; with none the score is 0.

    Returns
    -------
    (S, C) float64
        Events per cell-period.
    """
    arr = _as_counts(counts)
    idx = _as_score_periods(score_periods, n_periods=arr.shape[0])
    if window is not None:
        window = _check_int("window", window)
    return _window_mean(_cumulative(arr), idx, window)


def same_period_last_year(
    counts: npt.ArrayLike, score_periods: npt.ArrayLike, *, period: Period
) -> FloatArray:
    """Count of each cell one year before each score period (B3): 52 weeks or 12 months back.

    Score periods with ``t`` below a year have no such row and fall back to the mean of all rows
    before ``t`` (B4), or 0 when ``t = 0``.
    """
    arr = _as_counts(counts)
    idx = _as_score_periods(score_periods, n_periods=arr.shape[0])
    return _same_period_last_year(arr, _cumulative(arr), idx, period=period)


def _same_period_last_year(
    counts: FloatArray, cum: FloatArray, periods: IntArray, *, period: Period
) -> FloatArray:
    per_year = periods_per_year(period)
    has_year = periods >= per_year
    out = _window_mean(cum, periods, None)
    out[has_year] = counts[periods[has_year] - per_year]
    n_fallback = int((~has_year).sum())
    if n_fallback:
        plural = period_words(period).plural
        logger.info(
            "%s: %d of %d score %s have < %d %s of history; they use the mean of all earlier %s",
            SAME_PERIOD_LAST_YEAR[period],
            n_fallback,
            periods.size,
            plural,
            per_year,
            plural,
            plural,
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

    Pairs come from :func:`beatwise.h3index.ring_neighbours`, so cells outside the study area add
    nothing. Unnormalised (see :func:`prospective_hotspot`).
    """
    rings = _check_int("rings", rings, minimum=0)
    ids = np.asarray(cell_ids, dtype=np.uint64)
    i, j, d = ring_neighbours(ids, k=rings)
    return sp.csr_matrix((1.0 / (1.0 + d), (i, j)), shape=(ids.size, ids.size))


def _spread(
    counts: FloatArray,
    periods: IntArray,
    kernel: sp.csr_matrix,
    time_weights: FloatArray,
) -> FloatArray:
    """``Σ_L w_L Σ_j K[c, j] Y[t - L, j] / (Σ_{L: t-L >= 0} w_L · max_j Σ_c K[c, j])``.

    ``time_weights[L - 1]`` weighs lag ``L`` (1 = the period before ``t``). Lags before the first
    row are dropped and the time normaliser sums only the lags that exist, so a short history
    gives a weighted mean of what exists. Dividing by the largest column sum of the kernel (an
    interior cell's) keeps an interior cell's events at their total, so scores are expected counts
    per cell-period, and leaves the ranking exactly that of the unnormalised kernel.
    """
    n_cells = counts.shape[1]
    history = np.zeros((periods.size, n_cells))
    norm = np.zeros(periods.size)
    for lag, w in enumerate(time_weights, start=1):
        rows = periods - lag
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
    score_periods: npt.ArrayLike,
    *,
    cell_lat: npt.ArrayLike,
    cell_lon: npt.ArrayLike,
    bandwidth_m: float = 400.0,
    periods: int = 8,
) -> FloatArray:
    """Retrospective kernel density (B5): quartic kernel over the last ``periods`` periods.

    Score of cell ``c`` for period ``t``: ``Σ_j K(d_cj) · mean_{L=1..periods} Y[t-L, j] / K_max``,
    where ``K`` is :func:`quartic_kernel_matrix` on cell centroids (``bandwidth_m`` metres) and
    ``K_max`` the largest column sum of ``K`` (an interior cell's total weight). Every period of
    the window weighs the same. Events per cell-period.

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per period and cell.
    score_periods : (S,) array_like of int
        Period indices to score, each in ``[0, T]``; only rows ``< t`` are read.
    cell_lat, cell_lon : (C,) array_like
        Cell centroids, WGS84 degrees.
    bandwidth_m : float
        Kernel radius ``h`` in metres (about 400 m in the literature).
    periods : int
        Window length in periods (weeks, or months in monthly mode).
    """
    arr = _as_counts(counts)
    score_idx = _as_score_periods(score_periods, n_periods=arr.shape[0])
    periods = _check_int("periods", periods)
    kernel = quartic_kernel_matrix(cell_lat, cell_lon, bandwidth_m=bandwidth_m)
    if kernel.shape[0] != arr.shape[1]:
        raise ValueError(
            f"cell_lat and cell_lon must have one entry per cell of counts ({arr.shape[1]}). "
            f"Got {kernel.shape[0]}."
        )
    return _spread(arr, score_idx, kernel, np.ones(periods))


def prospective_hotspot(
    counts: npt.ArrayLike,
    score_periods: npt.ArrayLike,
    *,
    cell_ids: npt.ArrayLike,
    rings: int = 3,
    periods: int = 8,
) -> FloatArray:
    """Prospective hotspot (B6; Bowers, Johnson & Pease 2004).

    Each event in cell ``j`` and period ``t - L`` (``L = 1..periods``) adds
    ``1 / ((1 + d)(1 + a))`` to cell ``c``, with ``d`` the H3 grid distance from ``j`` to ``c``
    (``d <= rings``) and ``a = L - 1`` the event's age in whole periods at the start of period
    ``t`` (last period's events have age 0). The sum is divided by ``Σ_L 1/(1 + a)`` over the lags
    that exist and by the largest column sum of the spatial weights, so scores are expected counts
    per cell-period; the ranking is Bowers et al.'s (with ``t`` in weeks, or months in monthly
    mode).

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per period and cell.
    score_periods : (S,) array_like of int
        Period indices to score, each in ``[0, T]``; only rows ``< t`` are read.
    cell_ids : (C,) array_like of uint64
        H3 ids of the cells (one resolution).
    rings, periods : int
        Truncation: grid rings and periods.
    """
    arr = _as_counts(counts)
    score_idx = _as_score_periods(score_periods, n_periods=arr.shape[0])
    periods = _check_int("periods", periods)
    ids = np.asarray(cell_ids)
    if ids.shape != (arr.shape[1],):
        raise ValueError(
            f"cell_ids must have one id per cell of counts ({arr.shape[1]},). Got {ids.shape}."
        )
    kernel = hotspot_kernel_matrix(ids, rings=rings)
    return _spread(arr, score_idx, kernel, 1.0 / np.arange(1, periods + 1))


# --------------------------------------------------------------------------------------------
# All baselines at once
# --------------------------------------------------------------------------------------------


def compute_baselines(
    counts: npt.ArrayLike,
    score_periods: npt.ArrayLike,
    *,
    cell_ids: npt.ArrayLike,
    period: Period = "week",
    cell_lat: npt.ArrayLike | None = None,
    cell_lon: npt.ArrayLike | None = None,
    names: Sequence[BaselineName] | None = None,
    kde_bandwidth_m: float = 400.0,
    kde_periods: int = 8,
    hotspot_rings: int = 3,
    hotspot_periods: int = 8,
    etas_refit_every: int = 13,
) -> dict[str, FloatArray]:
    """Scores of the baselines for each score period, from the full count matrix.

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per period and cell: all periods of data in time order, cells in ascending
        H3 order (``docs/architecture.md``).
    score_periods : (S,) array_like of int
        Period indices to score, each in ``[0, T]`` (``T`` = the period after the last row). The
        score for period ``t`` reads rows ``< t`` only.
    cell_ids : (C,) array_like of uint64
        H3 ids of the cells (B6 rings; centroids when ``cell_lat``/``cell_lon`` are not given).
    period : {"week", "month"}
        The period of the rows; it fixes the baselines' names and windows
        (:func:`baseline_names`).
    cell_lat, cell_lon : (C,) array_like, optional
        Cell centroids in WGS84 degrees (as in ``cells.parquet``); computed from ``cell_ids``
        when omitted.
    names : sequence of BaselineName, optional
        Baselines to compute; default all of ``baseline_names(period)``.
    kde_bandwidth_m, kde_periods : float, int
        B5 kernel radius (metres) and window (periods).
    hotspot_rings, hotspot_periods : int
        B6 truncation in grid rings and periods.
    etas_refit_every : int
        B7 refits its parameters every this many score periods
        (:func:`models.etas.forecast_etas`).

    Returns
    -------
    dict of str to (S, C) float64
        Expected counts per cell-period, in the order of ``names``. Short history: see the module
        docstring.
    """
    start = time.perf_counter()
    period = check_period(period)
    words = period_words(period)
    available = baseline_names(period)
    names = available if names is None else tuple(names)
    arr = _as_counts(counts)
    idx = _as_score_periods(score_periods, n_periods=arr.shape[0])
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"Unknown baseline names {unknown} for {words.adjective} periods. "
            f"Expected some of {available}."
        )
    ids = np.asarray(cell_ids)
    if ids.shape != (arr.shape[1],):
        raise ValueError(
            f"cell_ids must have one id per cell of counts ({arr.shape[1]},). Got {ids.shape}."
        )
    cum = _cumulative(arr)
    windows: dict[str, int | None] = {name: n for name, n in WINDOW_BASELINES[period].items()}
    windows["all_history"] = None
    out: dict[str, FloatArray] = {}
    for name in names:
        if name in windows:
            out[name] = _window_mean(cum, idx, windows[name])
        elif name == SAME_PERIOD_LAST_YEAR[period]:
            out[name] = _same_period_last_year(arr, cum, idx, period=period)
        elif name == "kde_retrospective":
            if cell_lat is None or cell_lon is None:
                cell_lat, cell_lon = cell_centroids(ids)
            out[name] = kde_retrospective(
                arr,
                idx,
                cell_lat=cell_lat,
                cell_lon=cell_lon,
                bandwidth_m=kde_bandwidth_m,
                periods=kde_periods,
            )
        elif name == "prospective_hotspot":
            out[name] = prospective_hotspot(
                arr, idx, cell_ids=ids, rings=hotspot_rings, periods=hotspot_periods
            )
        elif name == "etas":
            out[name] = forecast_etas(arr, idx, refit_every=etas_refit_every).scores
    per_year = periods_per_year(period)
    n_short = int((idx < per_year).sum())
    logger.info(
        "baselines %s: %d score %s x %d cells from %d %s of counts (%d with < %d %s of "
        "history) in %.2f s",
        list(out),
        idx.size,
        words.plural,
        arr.shape[1],
        arr.shape[0],
        words.plural,
        n_short,
        per_year,
        words.plural,
        time.perf_counter() - start,
    )
    return out
