"""Ranking metrics per week and pooled: hit rate, PAI, PEI, PEI_T, capture curve, churn, lift.

Each metric is computed from a :class:`~models.metrics.ranking.WeeklyCapture`; pooled figures are
micro-averages over the weeks with events, and the lift's interval resamples weeks in moving
blocks (``models.bootstrap``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.bootstrap import block_bootstrap_indices, percentile_interval
from models.metrics._checks import (
    HEADLINE_COVERAGE,
    FloatArray,
    IntArray,
    _as_areas,
    _as_cell_ids,
    _as_panel,
    _check_coverage,
    _safe_div,
)
from models.metrics.ranking import WeeklyCapture, _prepare, _rank, weekly_capture


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
