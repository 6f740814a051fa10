"""Forecast metrics of ``../shared/METRICS.md`` on dense ``[week, cell]`` arrays.

Every number Beatwise reports about a forecast comes from here: the area-based flagged set
``F_w(k)``, hit rate, PAI, oracle and truth efficiency (PEI, PEI_T), the capture curve, churn,
Poisson deviance, calibration (observed / expected) and the lift of PAI over a baseline with its
block-bootstrap interval.

Conventions
-----------
- A "week" below is any forecast period: METRICS.md's definitions are written for ISO weeks, and
  in monthly mode (``features.period``) every row of the arrays is a calendar month instead; the
  arithmetic is the same. The ``metrics.json`` keys are period-neutral (``n_backtest_periods``).
- ``y``, ``scores`` and ``truth`` are float arrays ``[week, cell]``: week axis in time order, cell
  axis in the order of ``cell_ids`` (ascending H3 id in the pipeline, though nothing here relies on
  it). ``y`` holds realised target counts, ``scores`` expected counts (higher = riskier).
- ``areas_km2`` is each cell's area in km²; the study area ``A`` is their sum. A coverage ``k`` is a
  share of ``A`` in [0, 1] (0.05 = 5% of the study area).
- Ranking: score descending, ties broken by H3 cell id ascending. ``F_w(k)`` is the shortest prefix
  of the ranking whose cumulative area reaches ``k·A``. "Reaches" allows a relative slack of
  ``1e-9·A`` (``AREA_RTOL``) so that float rounding in the cumulative sum never adds a cell.
- Weeks with no events are skipped by HR, PAI and PEI (their weekly value is NaN) and counted.
  Pooled figures are micro-averages over the weeks with events: ``HR = Σ hits / Σ events``,
  ``PAI = HR / mean flagged-area share``, ``PEI = Σ hits / Σ hits*``.

The per-week ingredients (hits, events, flagged area) are computed once per score array; pooled
figures and bootstrap replicates are sums over resampled week indices, so 1,000 replicates cost a
few milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import mean_poisson_deviance

from models.bootstrap import block_bootstrap_indices, percentile_interval

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_COVERAGES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
HEADLINE_COVERAGE: float = 0.05
#: Expected counts are clipped up to this floor (events per cell-week) before the Poisson deviance,
#: which is undefined for a zero prediction. One event in a million cell-weeks is far below any
#: real rate, so the floor only matters where a score is exactly zero (B1, B3 in quiet cells).
SCORE_FLOOR: float = 1e-6
#: Relative slack (share of the study area) when testing whether a prefix "reaches" ``k·A``.
AREA_RTOL: float = 1e-9
#: Number of decimals kept in the JSON summaries.
DECIMALS: int = 6


# --------------------------------------------------------------------------------------------
# Result containers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyCapture:
    """Per-week ingredients of the ranking metrics for one score array at several coverages.

    Attributes
    ----------
    coverages : (K,) float
        Coverages ``k`` (shares of the study area).
    hits : (W, K) float
        ``Σ_{c∈F_w(k)} Y_cw``: events inside the flagged set.
    flagged_area_km2 : (W, K) float
        Area of the flagged set, km² (>= ``k·A`` up to ``AREA_RTOL``, and minimal).
    n_flagged : (W, K) int
        Number of flagged cells.
    events : (W,) float
        ``Σ_c Y_cw``: all events of the week.
    total_area_km2 : float
        Study area ``A``, km².
    """

    coverages: FloatArray
    hits: FloatArray
    flagged_area_km2: FloatArray
    n_flagged: IntArray
    events: FloatArray
    total_area_km2: float

    @property
    def has_events(self) -> npt.NDArray[np.bool_]:
        """(W,) bool: weeks with at least one event (the weeks the ranking metrics score)."""
        return self.events > 0

    @property
    def area_share(self) -> FloatArray:
        """(W, K) flagged area as a share of the study area."""
        return self.flagged_area_km2 / self.total_area_km2

    def hit_rate(self) -> FloatArray:
        """(W, K) weekly hit rate; NaN in weeks without events."""
        return _safe_div(self.hits, self.events[:, None])

    def pooled_hit_rate(self) -> FloatArray:
        """(K,) micro-averaged hit rate ``Σ hits / Σ events`` (NaN when no week has events)."""
        return _safe_div(self.hits.sum(axis=0), np.full(self.hits.shape[1], self.events.sum()))


@dataclass(frozen=True)
class WeeklyMetric:
    """One ranking metric at one coverage: per week, pooled and mean of weekly values.

    Attributes
    ----------
    weekly : (W,) float
        Value per backtest week; NaN in weeks without events (and where undefined).
    pooled : float
        Micro-average over weeks with events (see the module docstring).
    weekly_mean : float
        Mean of the finite weekly values (NaN when there are none).
    n_weeks_without_events : int
        Weeks skipped because they had no events.
    """

    weekly: FloatArray
    pooled: float
    weekly_mean: float
    n_weeks_without_events: int


@dataclass(frozen=True)
class CaptureCurve:
    """Pooled hit rate as a function of coverage.

    Attributes
    ----------
    coverages : (K,) float
        Coverage grid, shares of the study area in [0, 1].
    hit_rate : (K,) float
        Pooled hit rate ``Σ hits / Σ events`` at each coverage (weeks without events add nothing).
    area_share : (K,) float
        Mean flagged-area share over weeks with events (slightly above ``k``: whole cells).
    """

    coverages: FloatArray
    hit_rate: FloatArray
    area_share: FloatArray


@dataclass(frozen=True)
class ChurnResult:
    """Jaccard overlap ``|F_w ∩ F_{w-1}| / |F_w ∪ F_{w-1}|`` of consecutive flagged sets.

    1 means the same cells were flagged as the week before; 0 means a wholly new set. Counted in
    cells (not area). Consecutive rows of the score array are taken to be consecutive weeks.

    Attributes
    ----------
    weekly : (W-1,) float
        Overlap of week ``w`` (rows 1..W-1) with the week before.
    pooled : float
        ``Σ |F_w ∩ F_{w-1}| / Σ |F_w ∪ F_{w-1}|`` over the week pairs.
    weekly_mean : float
        Mean of the weekly overlaps.
    """

    weekly: FloatArray
    pooled: float
    weekly_mean: float


@dataclass(frozen=True)
class CalibrationTable:
    """Observed / expected counts by decile of the score, over all cell-weeks.

    Decile edges are the 10%, ..., 90% quantiles of ``S``; decile ``d`` holds the cell-weeks with
    ``S`` in ``(edge_{d-1}, edge_d]`` (the first is closed below), so tied scores always share a
    decile and a decile can be empty when many scores tie (for example many zeros).

    Attributes
    ----------
    decile : (10,) int
        1 (lowest scores) to 10 (highest).
    n : (10,) int
        Cell-weeks in the decile.
    expected : (10,) float
        ``Σ S`` in the decile (events).
    observed : (10,) float
        ``Σ Y`` in the decile (events).
    expected_mean, observed_mean : (10,) float
        Per cell-week means (NaN for an empty decile).
    oe : (10,) float
        ``observed / expected`` (NaN where ``expected`` is 0).
    """

    decile: IntArray
    n: IntArray
    expected: FloatArray
    observed: FloatArray
    expected_mean: FloatArray
    observed_mean: FloatArray
    oe: FloatArray


@dataclass(frozen=True)
class LiftResult:
    """Lift of the model's PAI over a baseline's at one coverage.

    Attributes
    ----------
    weekly : (W,) float
        ``PAI_model,w / PAI_B,w``; NaN in weeks without events or where the baseline's PAI is 0.
    estimate : float
        Pooled PAI of the model over pooled PAI of the baseline.
    ci_low, ci_high : float
        Percentile interval of ``estimate`` under a moving-block bootstrap over weeks.
    level : float
        Interval level (0.95).
    n_boot : int
        Bootstrap replicates.
    """

    weekly: FloatArray
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    n_boot: int


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _as_cell_ids(cell_ids: npt.ArrayLike, *, n_cells: int | None = None) -> npt.NDArray[np.uint64]:
    ids = np.asarray(cell_ids)
    if ids.ndim != 1:
        raise ValueError(f"cell_ids must be a 1-D array of H3 ids. Got shape {ids.shape}.")
    if ids.dtype.kind not in "ui":
        raise ValueError(f"cell_ids must be integer (uint64) H3 ids. Got dtype {ids.dtype}.")
    ids = ids.astype(np.uint64, copy=False)
    if n_cells is not None and ids.shape[0] != n_cells:
        raise ValueError(
            f"cell_ids must have one id per cell: expected {n_cells}. Got {ids.shape[0]}."
        )
    if ids.size > 1:
        sorted_ids = np.sort(ids)
        n_dup = int((sorted_ids[1:] == sorted_ids[:-1]).sum())
        if n_dup:
            raise ValueError(f"cell_ids must be unique; got {n_dup} duplicated ids.")
    return ids


def _as_areas(areas_km2: npt.ArrayLike, *, n_cells: int) -> FloatArray:
    areas = np.asarray(areas_km2, dtype=np.float64)
    if areas.shape != (n_cells,):
        raise ValueError(
            f"areas_km2 must be a 1-D array with one area per cell, shape ({n_cells},). "
            f"Got shape {areas.shape}."
        )
    bad = ~(np.isfinite(areas) & (areas > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"areas_km2 must be finite and > 0 km²; {int(bad.sum())} are not "
            f"(first at cell position {i}: {areas[i]})."
        )
    return areas


def _as_panel(
    name: str,
    values: npt.ArrayLike,
    *,
    shape: tuple[int, ...] | None = None,
    non_negative: bool = False,
) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array [week, cell]. Got {arr.ndim}-D with shape {arr.shape}."
        )
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the shape of y). Got {arr.shape}.")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one week and one cell. Got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(arr)).sum())} non-finite values.")
    if non_negative and (arr < 0).any():
        raise ValueError(
            f"{name} must be >= 0 (counts or expected counts). "
            f"Got {int((arr < 0).sum())} negative values (min {arr.min()})."
        )
    return arr


def _check_coverage(coverage: float, *, allow_zero: bool = False) -> float:
    k = float(coverage)
    low_ok = k >= 0 if allow_zero else k > 0
    if not (np.isfinite(k) and low_ok and k <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(
            f"coverage must be a share of the study area in {interval}. Got {coverage}."
        )
    return k


def _check_coverages(coverages: Sequence[float] | npt.ArrayLike, *, allow_zero: bool) -> FloatArray:
    ks = np.atleast_1d(np.asarray(coverages, dtype=np.float64))
    if ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"coverages must be a non-empty 1-D sequence. Got shape {ks.shape}.")
    for k in ks:
        _check_coverage(float(k), allow_zero=allow_zero)
    return ks


def _safe_div(num: npt.ArrayLike, den: npt.ArrayLike) -> FloatArray:
    """``num / den`` with NaN where ``den`` is 0, and no floating-point warnings."""
    num_a, den_a = np.broadcast_arrays(
        np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    )
    out = np.full(num_a.shape, np.nan)
    np.divide(num_a, den_a, out=out, where=den_a != 0)
    return out


# --------------------------------------------------------------------------------------------
# Ranking and the flagged set
# --------------------------------------------------------------------------------------------


def rank_order(scores_w: npt.ArrayLike, cell_ids: npt.ArrayLike) -> IntArray:
    """Positions of the cells in ranking order for one week.

    Parameters
    ----------
    scores_w : (C,) array_like
        Scores of one week (finite).
    cell_ids : (C,) array_like of uint64
        H3 ids of the cells, unique.

    Returns
    -------
    (C,) int64
        Cell positions, highest score first; equal scores in ascending H3 id.
    """
    scores = np.asarray(scores_w, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores_w must be 1-D (one week). Got shape {scores.shape}.")
    if not np.isfinite(scores).all():
        raise ValueError(f"scores_w holds {int((~np.isfinite(scores)).sum())} non-finite values.")
    ids = _as_cell_ids(cell_ids, n_cells=scores.shape[0])
    return np.lexsort((ids, -scores)).astype(np.int64)


def _rank_weeks(scores: FloatArray, ids: npt.NDArray[np.uint64]) -> IntArray:
    """(W, C) ranking order of every week: score descending, ties by cell id ascending.

    Columns are first put in cell-id order, then a stable sort on the negated score keeps equal
    scores in that order; this is ``np.lexsort((ids, -s))`` row by row, several times faster.
    """
    col_perm = np.argsort(ids, kind="stable")
    if np.array_equal(col_perm, np.arange(ids.size)):
        return np.argsort(-scores, axis=1, kind="stable").astype(np.int64)
    order = np.argsort(-scores[:, col_perm], axis=1, kind="stable")
    return col_perm[order].astype(np.int64)


def rank_weeks(scores: npt.ArrayLike, *, cell_ids: npt.ArrayLike) -> IntArray:
    """Ranking order of every week of a ``[week, cell]`` score array.

    Returns
    -------
    (W, C) int64
        Row ``w`` lists cell positions from highest to lowest score; ties in ascending H3 id.
    """
    arr = _as_panel("scores", scores)
    return _rank_weeks(arr, _as_cell_ids(cell_ids, n_cells=arr.shape[1]))


@dataclass(frozen=True)
class _Ranked:
    """A score array ranked once: order, cumulative area and cumulative realised counts."""

    order: IntArray  # (W, C)
    cum_area: FloatArray  # (W, C + 1), leading zero column
    cum_y: FloatArray | None  # (W, C + 1), leading zero column; None without y
    total_area: float

    def n_flagged(self, coverages: FloatArray) -> IntArray:
        """(W, K) length of the shortest prefix whose area reaches ``k·A``."""
        slack = AREA_RTOL * self.total_area
        targets = coverages * self.total_area - slack
        n_weeks = self.order.shape[0]
        out = np.empty((n_weeks, coverages.size), dtype=np.int64)
        # Loop over weeks only (at most a few hundred): the first prefix length n (0..C) with
        # cum_area[n] >= target is the count of prefix areas below the target.
        for w in range(n_weeks):
            out[w] = np.searchsorted(self.cum_area[w], targets, side="left")
        return np.minimum(out, self.order.shape[1])

    def flagged_mask(self, coverage: float) -> npt.NDArray[np.bool_]:
        """(W, C) True for cells in ``F_w(k)``."""
        n = self.n_flagged(np.array([coverage]))[:, 0]
        in_prefix = np.arange(self.order.shape[1])[None, :] < n[:, None]
        mask = np.empty(self.order.shape, dtype=bool)
        np.put_along_axis(mask, self.order, in_prefix, axis=1)
        return mask

    def capture(self, coverages: FloatArray, events: FloatArray) -> WeeklyCapture:
        if self.cum_y is None:
            raise ValueError("capture needs realised counts; this ranking was built without y.")
        n = self.n_flagged(coverages)
        return WeeklyCapture(
            coverages=coverages,
            hits=np.take_along_axis(self.cum_y, n, axis=1),
            flagged_area_km2=np.take_along_axis(self.cum_area, n, axis=1),
            n_flagged=n,
            events=events,
            total_area_km2=self.total_area,
        )


def _rank(
    scores: FloatArray, ids: npt.NDArray[np.uint64], areas: FloatArray, y: FloatArray | None
) -> _Ranked:
    order = _rank_weeks(scores, ids)
    n_weeks = order.shape[0]
    zero = np.zeros((n_weeks, 1))
    cum_area = np.concatenate([zero, np.cumsum(areas[order], axis=1)], axis=1)
    cum_y = None
    if y is not None:
        cum_y = np.concatenate([zero, np.cumsum(np.take_along_axis(y, order, axis=1), axis=1)], 1)
    return _Ranked(order=order, cum_area=cum_area, cum_y=cum_y, total_area=float(areas.sum()))


def flag_top_area(
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> npt.NDArray[np.bool_]:
    """Flagged set ``F_w(k)`` of every week: the shortest ranking prefix whose area reaches ``k·A``.

    Parameters
    ----------
    scores : (W, C) array_like
        Risk scores, finite; higher = riskier.
    areas_km2 : (C,) array_like
        Cell areas, km², finite and > 0.
    cell_ids : (C,) array_like of uint64
        Unique H3 ids; they break ties in the score (ascending id first).
    coverage : float
        ``k``, share of the study area in [0, 1]; 0 flags nothing, 1 flags every cell.

    Returns
    -------
    (W, C) bool
        True for flagged cells. The flagged area is >= ``k·A`` (up to ``AREA_RTOL·A``) and dropping
        the lowest-ranked flagged cell would take it below ``k·A``.
    """
    arr = _as_panel("scores", scores)
    ids = _as_cell_ids(cell_ids, n_cells=arr.shape[1])
    areas = _as_areas(areas_km2, n_cells=arr.shape[1])
    k = _check_coverage(coverage, allow_zero=True)
    return _rank(arr, ids, areas, None).flagged_mask(k)


# --------------------------------------------------------------------------------------------
# Per-week ingredients and ranking metrics
# --------------------------------------------------------------------------------------------


def _prepare(
    y: npt.ArrayLike, scores: npt.ArrayLike, areas_km2: npt.ArrayLike, cell_ids: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.uint64]]:
    y_arr = _as_panel("y", y, non_negative=True)
    s_arr = _as_panel("scores", scores, shape=y_arr.shape)
    ids = _as_cell_ids(cell_ids, n_cells=y_arr.shape[1])
    areas = _as_areas(areas_km2, n_cells=y_arr.shape[1])
    return y_arr, s_arr, areas, ids


def weekly_capture(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverages: Sequence[float] | npt.ArrayLike = DEFAULT_COVERAGES,
) -> WeeklyCapture:
    """Hits, events and flagged area per week at each coverage: the ingredients of every metric.

    Parameters
    ----------
    y : (W, C) array_like
        Realised target counts, >= 0.
    scores : (W, C) array_like
        Risk scores, finite.
    areas_km2, cell_ids : (C,) array_like
        Cell areas (km², > 0) and unique H3 ids (tie-break).
    coverages : sequence of float
        Shares of the study area in [0, 1].
    """
    y_arr, s_arr, areas, ids = _prepare(y, scores, areas_km2, cell_ids)
    ks = _check_coverages(coverages, allow_zero=True)
    return _rank(s_arr, ids, areas, y_arr).capture(ks, y_arr.sum(axis=1))


def _metric(weekly: FloatArray, pooled: float, has_events: npt.NDArray[np.bool_]) -> WeeklyMetric:
    finite = weekly[np.isfinite(weekly)]
    return WeeklyMetric(
        weekly=weekly,
        pooled=float(pooled),
        weekly_mean=float(finite.mean()) if finite.size else float("nan"),
        n_weeks_without_events=int((~has_events).sum()),
    )


def _pooled_pai(
    hits: FloatArray, events: FloatArray, share: FloatArray, idx: IntArray
) -> FloatArray:
    """Pooled PAI for each row of week indices ``idx`` (B, W'); inputs are (W,) per week.

    ``PAI = (Σ hits / Σ events) / (Σ share / n weeks)``, sums over the resampled weeks that have
    events (weeks without events contribute nothing to any sum).
    """
    has = (events > 0).astype(np.float64)
    hr = _safe_div(hits[idx].sum(axis=-1), events[idx].sum(axis=-1))
    mean_share = _safe_div((share * has)[idx].sum(axis=-1), has[idx].sum(axis=-1))
    return _safe_div(hr, mean_share)


def _hr_metric(cap: WeeklyCapture, j: int) -> WeeklyMetric:
    return _metric(cap.hit_rate()[:, j], cap.pooled_hit_rate()[j], cap.has_events)


def _pai_metric(cap: WeeklyCapture, j: int) -> WeeklyMetric:
    weekly = _safe_div(cap.hit_rate()[:, j], cap.area_share[:, j])
    all_weeks = np.arange(cap.events.size)[None, :]
    pooled = _pooled_pai(cap.hits[:, j], cap.events, cap.area_share[:, j], all_weeks)[0]
    return _metric(weekly, pooled, cap.has_events)


def _efficiency_metric(cap: WeeklyCapture, ref: WeeklyCapture, j: int) -> WeeklyMetric:
    """``HR / HR_ref`` per week and pooled (events cancel: ``Σ hits / Σ hits_ref``)."""
    has = cap.has_events
    weekly = np.where(has, _safe_div(cap.hits[:, j], ref.hits[:, j]), np.nan)
    pooled = _safe_div(cap.hits[has, j].sum(), ref.hits[has, j].sum())
    return _metric(weekly, float(pooled), has)


def hit_rate(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> WeeklyMetric:
    """Hit rate ``HR_w(k) = Σ_{c∈F} Y_cw / Σ_c Y_cw``: share of the week's events in flagged cells.

    Unitless, in [0, 1]. Weeks without events are NaN and counted; pooled = ``Σ hits / Σ events``.
    Refuses a coverage outside (0, 1], mismatched shapes, negative or non-finite counts.
    """
    k = _check_coverage(coverage)
    cap = weekly_capture(y, scores, areas_km2=areas_km2, cell_ids=cell_ids, coverages=[k])
    return _hr_metric(cap, 0)


def pai(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> WeeklyMetric:
    """Predictive accuracy index ``PAI_w(k) = HR_w(k) / (Σ_{c∈F} a_c / A)``.

    Unitless, >= 0; 1 is no better than flagging at random, ``1/k`` is the most one can get when
    every event falls in the flagged set. Pooled = pooled HR / mean flagged-area share over the
    weeks with events.
    """
    k = _check_coverage(coverage)
    cap = weekly_capture(y, scores, areas_km2=areas_km2, cell_ids=cell_ids, coverages=[k])
    return _pai_metric(cap, 0)


def pei(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> WeeklyMetric:
    """Oracle efficiency ``PEI_w(k) = HR_w(k) / HR*_w(k)``.

    ``HR*`` ranks cells by the realised counts ``Y_cw`` (ties by cell id) with the same area rule:
    the best a flagged set of about that area could have done that week. Unitless; 1 when the
    scores order cells as the realised counts do. With unequal cell areas the oracle is greedy, not
    a knapsack optimum, so a value slightly above 1 is possible. Pooled = ``Σ hits / Σ hits*``.
    """
    k = _check_coverage(coverage)
    y_arr, s_arr, areas, ids = _prepare(y, scores, areas_km2, cell_ids)
    ks = np.array([k])
    events = y_arr.sum(axis=1)
    cap = _rank(s_arr, ids, areas, y_arr).capture(ks, events)
    oracle = _rank(y_arr, ids, areas, y_arr).capture(ks, events)
    return _efficiency_metric(cap, oracle, 0)


def pei_truth(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    truth: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> WeeklyMetric:
    """Truth efficiency ``PEI_T(k) = HR(k) / HR_T(k)`` (synthetic data only).

    ``HR_T`` ranks cells by ``truth``, the simulator's expected count for the week, and counts the
    realised events it captures. Unitless; around 1 at best on average (a week can exceed 1 by
    luck). Weekly values are NaN where ``HR_T`` is 0; pooled = ``Σ hits / Σ hits_T``.
    """
    k = _check_coverage(coverage)
    y_arr, s_arr, areas, ids = _prepare(y, scores, areas_km2, cell_ids)
    t_arr = _as_panel("truth", truth, shape=y_arr.shape)
    ks = np.array([k])
    events = y_arr.sum(axis=1)
    cap = _rank(s_arr, ids, areas, y_arr).capture(ks, events)
    ref = _rank(t_arr, ids, areas, y_arr).capture(ks, events)
    return _efficiency_metric(cap, ref, 0)


def capture_curve(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverages: Sequence[float] | npt.ArrayLike | None = None,
) -> CaptureCurve:
    """Pooled hit rate against coverage, for one score array.

    Parameters
    ----------
    coverages : sequence of float, optional
        Grid of shares of the study area in [0, 1]; default 101 points ``0, 0.01, ..., 1``.
        For the oracle curve pass ``scores=y``; for the truth curve pass ``scores=truth``.

    Returns
    -------
    CaptureCurve
        ``hit_rate`` is 0 at ``k = 0`` and 1 at ``k = 1`` (when any week has events).
    """
    ks = np.linspace(0.0, 1.0, 101) if coverages is None else coverages
    cap = weekly_capture(y, scores, areas_km2=areas_km2, cell_ids=cell_ids, coverages=ks)
    return _curve(cap)


def _curve(cap: WeeklyCapture) -> CaptureCurve:
    has = cap.has_events
    share = cap.area_share[has].mean(axis=0) if has.any() else np.full(cap.coverages.size, np.nan)
    return CaptureCurve(coverages=cap.coverages, hit_rate=cap.pooled_hit_rate(), area_share=share)


def churn(
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> ChurnResult:
    """Jaccard overlap of the flagged sets of consecutive weeks (see :class:`ChurnResult`).

    Needs at least two weeks; rows of ``scores`` are taken to be consecutive weeks.
    """
    arr = _as_panel("scores", scores)
    if arr.shape[0] < 2:
        raise ValueError(f"churn needs at least 2 consecutive weeks. Got {arr.shape[0]}.")
    ids = _as_cell_ids(cell_ids, n_cells=arr.shape[1])
    areas = _as_areas(areas_km2, n_cells=arr.shape[1])
    k = _check_coverage(coverage)
    return _churn(_rank(arr, ids, areas, None).flagged_mask(k))


def _churn(mask: npt.NDArray[np.bool_]) -> ChurnResult:
    if mask.shape[0] < 2:
        nan = float("nan")
        return ChurnResult(weekly=np.empty(0), pooled=nan, weekly_mean=nan)
    inter = (mask[1:] & mask[:-1]).sum(axis=1).astype(np.float64)
    union = (mask[1:] | mask[:-1]).sum(axis=1).astype(np.float64)
    weekly = _safe_div(inter, union)
    finite = weekly[np.isfinite(weekly)]
    return ChurnResult(
        weekly=weekly,
        pooled=float(_safe_div(inter.sum(), union.sum())),
        weekly_mean=float(finite.mean()) if finite.size else float("nan"),
    )


# --------------------------------------------------------------------------------------------
# Count metrics
# --------------------------------------------------------------------------------------------


def poisson_deviance(
    y: npt.ArrayLike, scores: npt.ArrayLike, *, floor: float = SCORE_FLOOR
) -> float:
    """Mean Poisson deviance over cell-weeks (scikit-learn's ``mean_poisson_deviance``).

    Units: deviance per cell-week, >= 0, lower is better. ``scores`` are expected counts and must
    be >= 0; they are clipped up to ``floor`` (default ``SCORE_FLOOR`` = 1e-6 events per cell-week)
    because the deviance of a zero prediction is undefined.
    """
    y_arr = _as_panel("y", y, non_negative=True)
    s_arr = _as_panel("scores", scores, shape=y_arr.shape, non_negative=True)
    if not floor > 0:
        raise ValueError(f"floor must be > 0. Got {floor}.")
    return float(mean_poisson_deviance(y_arr.ravel(), np.maximum(s_arr, floor).ravel()))


def calibration_oe(y: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Observed / expected ``Σ Y / Σ S`` over all cell-weeks (1 = calibrated; NaN if ``Σ S = 0``).

    ``scores`` are expected counts and must be >= 0.
    """
    y_arr = _as_panel("y", y, non_negative=True)
    s_arr = _as_panel("scores", scores, shape=y_arr.shape, non_negative=True)
    return float(_safe_div(y_arr.sum(), s_arr.sum()))


def calibration_by_decile(y: npt.ArrayLike, scores: npt.ArrayLike) -> CalibrationTable:
    """Observed / expected by decile of the score over all cell-weeks (:class:`CalibrationTable`).

    ``scores`` are expected counts and must be >= 0.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    s_arr = np.asarray(scores, dtype=np.float64)
    if y_arr.shape != s_arr.shape or y_arr.size == 0:
        raise ValueError(
            f"y and scores must be non-empty arrays of one shape. Got {y_arr.shape} and "
            f"{s_arr.shape}."
        )
    y_arr = _as_panel("y", y_arr.reshape(1, -1), non_negative=True).ravel()
    s_arr = _as_panel("scores", s_arr.reshape(1, -1), non_negative=True).ravel()
    edges = np.quantile(s_arr, np.arange(1, 10) / 10.0)
    # side="left": a score equal to an edge goes to the lower decile (right-closed bins, as
    # pandas.qcut), so tied scores never straddle two deciles.
    decile = np.searchsorted(edges, s_arr, side="left")
    n = np.bincount(decile, minlength=10).astype(np.int64)
    expected = np.bincount(decile, weights=s_arr, minlength=10).astype(np.float64)
    observed = np.bincount(decile, weights=y_arr, minlength=10).astype(np.float64)
    return CalibrationTable(
        decile=np.arange(1, 11, dtype=np.int64),
        n=n,
        expected=expected,
        observed=observed,
        expected_mean=_safe_div(expected, n),
        observed_mean=_safe_div(observed, n),
        oe=_safe_div(observed, expected),
    )


# --------------------------------------------------------------------------------------------
# Lift with a block-bootstrap interval
# --------------------------------------------------------------------------------------------


def _lift(
    model: WeeklyCapture,
    baseline: WeeklyCapture,
    j: int,
    *,
    n_boot: int,
    block_len: int,
    seed: int,
    level: float,
) -> LiftResult:
    pai_m = _safe_div(model.hit_rate()[:, j], model.area_share[:, j])
    pai_b = _safe_div(baseline.hit_rate()[:, j], baseline.area_share[:, j])
    weekly = _safe_div(pai_m, np.where(np.isfinite(pai_b), pai_b, 0.0))
    n_weeks = model.events.size
    point = np.arange(n_weeks)[None, :]
    estimate = float(
        _safe_div(
            _pooled_pai(model.hits[:, j], model.events, model.area_share[:, j], point),
            _pooled_pai(baseline.hits[:, j], baseline.events, baseline.area_share[:, j], point),
        )[0]
    )
    ci_low = ci_high = float("nan")
    if n_boot > 0:
        idx = block_bootstrap_indices(n_weeks, n_boot=n_boot, block_len=block_len, seed=seed)
        reps = _safe_div(
            _pooled_pai(model.hits[:, j], model.events, model.area_share[:, j], idx),
            _pooled_pai(baseline.hits[:, j], baseline.events, baseline.area_share[:, j], idx),
        )
        ci_low, ci_high = percentile_interval(reps, level=level)
    return LiftResult(weekly, estimate, ci_low, ci_high, level, n_boot)


def pai_lift(
    y: npt.ArrayLike,
    model_scores: npt.ArrayLike,
    baseline_scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float = HEADLINE_COVERAGE,
    n_boot: int = 1000,
    block_len: int = 4,
    seed: int = 0,
    level: float = 0.95,
) -> LiftResult:
    """Lift ``PAI_model(k) / PAI_B(k)`` per week and pooled, with a block-bootstrap interval.

    The interval resamples backtest weeks in moving blocks (``models.bootstrap``) and recomputes
    both pooled PAIs from the per-week hits, events and flagged areas; replicates where the
    baseline's pooled PAI is 0 or undefined are dropped. Deterministic for a given ``seed``.
    ``n_boot=0`` skips the interval (NaN bounds). Unitless; > 1 means the model beats ``B``.
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0. Got {n_boot}.")
    k = _check_coverage(coverage)
    y_arr, m_arr, areas, ids = _prepare(y, model_scores, areas_km2, cell_ids)
    b_arr = _as_panel("baseline_scores", baseline_scores, shape=y_arr.shape)
    ks = np.array([k])
    events = y_arr.sum(axis=1)
    cap_m = _rank(m_arr, ids, areas, y_arr).capture(ks, events)
    cap_b = _rank(b_arr, ids, areas, y_arr).capture(ks, events)
    return _lift(cap_m, cap_b, 0, n_boot=n_boot, block_len=block_len, seed=seed, level=level)


# --------------------------------------------------------------------------------------------
# Summaries for reports/metrics.json
# --------------------------------------------------------------------------------------------


def coverage_label(coverage: float) -> str:
    """Key fragment of a coverage: 0.005 -> ``"0p5"``, 0.05 -> ``"5"`` (percent; ``.`` as ``p``)."""
    pct = round(float(coverage) * 100.0, 6)
    if pct == int(pct):
        return str(int(pct))
    return f"{pct:g}".replace(".", "p")


def _clean(value: float) -> float | None:
    """Plain Python float rounded to ``DECIMALS``; None (JSON null) when undefined."""
    v = float(value)
    return round(v, DECIMALS) if np.isfinite(v) else None


@dataclass(frozen=True)
class _Reference:
    """Realised counts and the oracle / truth captures shared by every score array."""

    y: FloatArray
    ids: npt.NDArray[np.uint64]
    areas: FloatArray
    events: FloatArray
    grid: FloatArray  # reported coverages plus the headline coverage, sorted, distinct
    oracle: WeeklyCapture
    truth: WeeklyCapture | None


def _reference(
    y: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None,
    grid: FloatArray,
) -> _Reference:
    y_arr = _as_panel("y", y, non_negative=True)
    ids = _as_cell_ids(cell_ids, n_cells=y_arr.shape[1])
    areas = _as_areas(areas_km2, n_cells=y_arr.shape[1])
    events = y_arr.sum(axis=1)
    oracle = _rank(y_arr, ids, areas, y_arr).capture(grid, events)
    truth_cap = None
    if truth is not None:
        t_arr = _as_panel("truth", truth, shape=y_arr.shape)
        truth_cap = _rank(t_arr, ids, areas, y_arr).capture(grid, events)
    return _Reference(y_arr, ids, areas, events, grid, oracle, truth_cap)


def _grid(coverages: Sequence[float], headline: float) -> tuple[FloatArray, FloatArray]:
    """(reported coverages, sorted distinct grid of those plus the headline coverage)."""
    ks = _check_coverages(coverages, allow_zero=False)
    _check_coverage(headline)
    if len({coverage_label(k) for k in ks}) != ks.size:
        raise ValueError(f"coverages must be distinct (as percent labels). Got {list(ks)}.")
    return ks, np.unique(np.append(ks, headline))


def _summarise(
    ref: _Reference,
    scores: npt.ArrayLike,
    *,
    name: str,
    coverages: FloatArray,
    headline: float,
    floor: float,
) -> tuple[dict[str, float | None], WeeklyCapture]:
    """Summary keys of one score array, and its capture on the whole grid (for the lift)."""
    s_arr = _as_panel(name, scores, shape=ref.y.shape, non_negative=True)
    ranked = _rank(s_arr, ref.ids, ref.areas, ref.y)
    cap = ranked.capture(ref.grid, ref.events)
    cols = [(int(np.flatnonzero(ref.grid == k)[0]), coverage_label(k)) for k in coverages]
    out: dict[str, float | None] = {}
    for j, lab in cols:
        out[f"hr_at_{lab}pct"] = _clean(_hr_metric(cap, j).pooled)
    for j, lab in cols:
        out[f"pai_at_{lab}pct"] = _clean(_pai_metric(cap, j).pooled)
    for j, lab in cols:
        out[f"pei_at_{lab}pct"] = _clean(_efficiency_metric(cap, ref.oracle, j).pooled)
    if ref.truth is not None:
        for j, lab in cols:
            out[f"pei_truth_at_{lab}pct"] = _clean(_efficiency_metric(cap, ref.truth, j).pooled)
    out["poisson_deviance"] = _clean(
        mean_poisson_deviance(ref.y.ravel(), np.maximum(s_arr, floor).ravel())
    )
    out["calibration_oe"] = _clean(float(_safe_div(ref.y.sum(), s_arr.sum())))
    out[f"churn_at_{coverage_label(headline)}pct"] = _clean(
        _churn(ranked.flagged_mask(headline)).pooled
    )
    return out, cap


def summarise_forecast(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    headline_coverage: float = HEADLINE_COVERAGE,
    floor: float = SCORE_FLOOR,
) -> dict[str, float | None]:
    """Pooled metrics of one forecast over the backtest weeks, ready for ``metrics.json``.

    Parameters
    ----------
    y : (W, C) array_like
        Realised target counts per backtest week and cell, >= 0.
    scores : (W, C) array_like
        Expected counts, >= 0 (zero allowed; clipped up to ``floor`` for the deviance only).
    areas_km2, cell_ids : (C,) array_like
        Cell areas (km², > 0) and unique H3 ids.
    truth : (W, C) array_like, optional
        Simulator's expected counts; adds ``pei_truth_at_<k>pct``.
    coverages : sequence of float
        Shares of the study area in (0, 1].
    headline_coverage : float
        Coverage of the churn key.
    floor : float
        Floor of the scores in the Poisson deviance (``SCORE_FLOOR``).

    Returns
    -------
    dict
        ``hr_at_<k>pct``, ``pai_at_<k>pct``, ``pei_at_<k>pct`` for each coverage (``<k>`` from
        :func:`coverage_label`: 0p5, 1, 2, 5, 10, 20), ``pei_truth_at_<k>pct`` when ``truth`` is
        given, ``poisson_deviance``, ``calibration_oe`` and ``churn_at_<headline>pct``. Values are
        pooled, rounded to 6 decimals, plain floats; None where undefined (no events at all).
    """
    ks, grid = _grid(coverages, headline_coverage)
    ref = _reference(y, areas_km2=areas_km2, cell_ids=cell_ids, truth=truth, grid=grid)
    out, _ = _summarise(
        ref, scores, name="scores", coverages=ks, headline=headline_coverage, floor=floor
    )
    return out


def summarise_backtest(
    y: npt.ArrayLike,
    model_scores: npt.ArrayLike,
    baseline_scores: Mapping[str, npt.ArrayLike],
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    headline_coverage: float = HEADLINE_COVERAGE,
    n_boot: int = 1000,
    block_len: int = 4,
    seed: int = 0,
    floor: float = SCORE_FLOOR,
) -> dict[str, Any]:
    """The whole ``metrics.json`` payload: the model, every baseline and the lift over the best.

    Every baseline is scored on exactly the cells and weeks of ``y``. "The best baseline" has the
    highest pooled PAI at ``headline_coverage`` (ties: first name in alphabetical order). The lift
    is pooled PAI of the model over that baseline's, with a 95% moving-block bootstrap interval over
    weeks (``n_boot`` replicates of ``block_len``-week blocks, ``seed``; ``models.bootstrap``).

    Returns
    -------
    dict
        The keys of :func:`summarise_forecast` for the model, plus ``baselines`` (name -> the same
        keys), ``best_baseline_at_<k>pct``, ``lift_pai_at_<k>pct`` (``baseline``, ``estimate``,
        ``ci_low``, ``ci_high``), ``n_backtest_periods`` and ``n_periods_without_events``.

    Raises
    ------
    ValueError
        No baselines; every backtest week without events (ranking metrics and the best baseline
        are undefined); any shape mismatch or invalid value.
    """
    start = time.perf_counter()
    if not baseline_scores:
        raise ValueError("baseline_scores must name at least one baseline. Got none.")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0. Got {n_boot}.")
    ks, grid = _grid(coverages, headline_coverage)
    ref = _reference(y, areas_km2=areas_km2, cell_ids=cell_ids, truth=truth, grid=grid)
    if not (ref.events > 0).any():
        raise ValueError(
            f"Every one of the {ref.events.size} backtest weeks has zero target events; "
            "hit rate, PAI and the best baseline are undefined."
        )
    head = int(np.flatnonzero(grid == headline_coverage)[0])
    lab = coverage_label(headline_coverage)
    opts: dict[str, Any] = {"coverages": ks, "headline": headline_coverage, "floor": floor}

    model_out, model_cap = _summarise(ref, model_scores, name="model_scores", **opts)
    result: dict[str, Any] = dict(model_out)
    baselines_out: dict[str, dict[str, float | None]] = {}
    caps: dict[str, WeeklyCapture] = {}
    for name, values in baseline_scores.items():
        baselines_out[name], caps[name] = _summarise(
            ref, values, name=f"baseline_scores[{name!r}]", **opts
        )
    pai_head = {name: _pai_metric(cap, head).pooled for name, cap in caps.items()}
    best = min(pai_head, key=lambda n: (-pai_head[n] if np.isfinite(pai_head[n]) else np.inf, n))
    lift = _lift(
        model_cap, caps[best], head, n_boot=n_boot, block_len=block_len, seed=seed, level=0.95
    )
    result["baselines"] = baselines_out
    result[f"best_baseline_at_{lab}pct"] = best
    result[f"lift_pai_at_{lab}pct"] = {
        "baseline": best,
        "estimate": _clean(lift.estimate),
        "ci_low": _clean(lift.ci_low),
        "ci_high": _clean(lift.ci_high),
    }
    result["n_backtest_periods"] = int(ref.events.size)
    result["n_periods_without_events"] = int((ref.events == 0).sum())
    logger.info(
        "summarised %d periods x %d cells: model + %d baselines, %d bootstrap replicates, %.2f s",
        ref.y.shape[0],
        ref.y.shape[1],
        len(baselines_out),
        n_boot,
        time.perf_counter() - start,
    )
    return result
