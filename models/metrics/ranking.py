"""Ranking and the flagged set: which cells a forecast flags each week, and what they hold.

Ranking is by score descending with ties by H3 cell id ascending; the flagged set ``F_w(k)`` is
the shortest ranking prefix whose area reaches ``k·A``. :class:`WeeklyCapture` holds the per-week
hits, events and flagged area that every ranking metric is computed from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.metrics._checks import (
    AREA_RTOL,
    DEFAULT_COVERAGES,
    FloatArray,
    IntArray,
    _as_areas,
    _as_cell_ids,
    _as_panel,
    _check_coverage,
    _check_coverages,
    _safe_div,
)


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
