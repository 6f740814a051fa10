"""A declared allocation policy: a cap on each stratum's share of the flagged area.

An ethics board may declare that no stratum of cells (say a fifth of cells by deprivation score)
receives more than a share ``max_share`` of the flagged area in any week. Publish applies the
policy to the forecast; the audit applies it to the model and to the reference ranking alike
(``../shared/METRICS.md``, "The reference allocation"), so its gates still isolate what the model
adds, and reports what the policy itself costs (:func:`policy_cost`).

The strata (:func:`stratum_codes`) are equal-count bins of a cell attribute over the cells with
residents, plus one stratum of the cells with (almost) no residents, capped like the others: a
resident attribute says nothing about a town centre, and leaving those cells out would drop the
crime recorded there from the allocation.

The flagged set under a policy (:func:`flag_with_policy`) walks the model's ranking as
:func:`models.metrics.flag_top_area` does (score descending, ties by cell id ascending) and skips
the cells of a stratum that already holds its cap; it stops when the flagged area reaches the
coverage. It is a mitigation of an allocation harm in fairlearn's sense, declared and dated by the
people who own that decision; it makes no claim that the result is fair.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Annotated, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from models.metrics import AREA_RTOL, flag_top_area, pai, rank_weeks
from models.metrics._checks import _as_areas, _as_panel, _check_coverage, _safe_div

logger = logging.getLogger(__name__)

#: the stratum of cells with fewer than ``min_residents`` residents, in plain English
NO_RESIDENTS_LABEL: Final[str] = "cells with almost no residents"

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# --------------------------------------------------------------------------------------------
# Strata
# --------------------------------------------------------------------------------------------


def stratum_codes(
    values: npt.ArrayLike,
    residents: npt.ArrayLike,
    n_quantiles: int,
    *,
    min_residents: float,
) -> npt.NDArray[np.int64]:
    """The stratum of each cell: a quantile bin of an attribute, or the no-resident stratum.

    Parameters
    ----------
    values : (C,) array_like
        The cell attribute (for example ``deprivation_score``); NaN where it is unknown.
    residents : (C,) array_like
        Residents of each cell, finite and >= 0.
    n_quantiles : int
        Equal-count bins asked of ``pandas.qcut`` (>= 1); tied values may merge bins.
    min_residents : float
        Cells with fewer residents form their own stratum (>= 0).

    Returns
    -------
    (C,) int64
        ``0 .. n_bins-1``: the equal-count bin (``pd.qcut``, ``duplicates="drop"``, 0 = lowest) of
        ``values`` over the cells with at least ``min_residents`` residents and a finite value;
        ``n_bins`` (one past the last bin) for the cells with fewer residents; -1 for cells with
        enough residents but no finite value. ``n_bins`` is the number of bins ``qcut`` produced
        (fewer than ``n_quantiles`` when tied values merge edges; 1 when every value is equal; 0
        when no cell qualifies). A bin between two merged edges may hold no cell.

    Refuses arrays of different lengths, residents that are negative or not finite, a
    ``n_quantiles`` below 1 and a negative ``min_residents``.
    """
    vals = np.asarray(values, dtype=np.float64)
    res = np.asarray(residents, dtype=np.float64)
    if vals.ndim != 1 or res.shape != vals.shape:
        raise ValueError(
            f"values and residents must be 1-D arrays of one value per cell. "
            f"Got shapes {vals.shape} and {res.shape}."
        )
    bad = ~(np.isfinite(res) & (res >= 0))
    if bad.any():
        raise ValueError(
            f"residents must be finite and >= 0; {int(bad.sum())} are not "
            f"(first at cell position {int(np.flatnonzero(bad)[0])})."
        )
    if int(n_quantiles) < 1:
        raise ValueError(f"n_quantiles must be >= 1. Got {n_quantiles}.")
    if not (np.isfinite(min_residents) and min_residents >= 0):
        raise ValueError(f"min_residents must be finite and >= 0. Got {min_residents}.")
    populated = res >= min_residents
    ok = populated & np.isfinite(vals)
    codes = np.full(vals.shape, -1, dtype=np.int64)
    n_bins = 0
    if ok.any():
        if np.unique(vals[ok]).size == 1:
            # qcut returns NaN when every edge coincides; one value is one bin
            codes[ok], n_bins = 0, 1
        else:
            binned, edges = pd.qcut(
                vals[ok], int(n_quantiles), labels=False, duplicates="drop", retbins=True
            )
            codes[ok], n_bins = np.asarray(binned, dtype=np.int64), len(edges) - 1
    codes[~populated] = n_bins
    return codes


# --------------------------------------------------------------------------------------------
# The declared policy
# --------------------------------------------------------------------------------------------


class AllocationPolicy(BaseModel):
    """A declared cap on each stratum's share of the flagged area (params ``operational.policy``).

    The strata are ``n_quantiles`` equal-count bins of the cell attribute ``column`` over the cells
    with at least ``min_residents`` residents, plus the cells with fewer residents (their own
    stratum, capped too) and, where the attribute is missing for cells with residents, those cells
    (capped too). Every week no stratum receives more than ``max_share`` of the flagged area.

    Refuses a ``max_share`` below ``1 / (n_quantiles + 1)``: with at most ``n_quantiles + 1``
    strata, such caps could never fill the coverage. (Cells with residents but no value would add
    one more stratum; the check does not count on it, so a policy never needs missing data to fill
    its coverage.) A larger share can still fall short in a week when some strata hold too little
    area; :func:`flag_with_policy` then flags what the caps allow and logs a warning.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: a column of cells.parquet, e.g. deprivation_score
    column: NonEmptyStr
    #: the attribute in plain English, with its direction where the name does not say it
    label: NonEmptyStr
    #: equal-count bins of the attribute over the cells with residents
    n_quantiles: int = Field(5, ge=2, le=20)
    #: no stratum receives more than this share of the flagged area in any week
    max_share: float = Field(gt=0.0, le=1.0)
    #: cells with fewer residents form their own stratum, capped too
    min_residents: float = Field(50.0, ge=0.0)
    #: who declared the policy, when and why
    approved_by: NonEmptyStr
    date: dt.date
    reason: NonEmptyStr

    @field_validator("max_share")
    @classmethod
    def _caps_can_fill_the_coverage(cls, value: float, info: ValidationInfo) -> float:
        n_quantiles = info.data.get("n_quantiles")
        if n_quantiles is None:  # n_quantiles itself was refused; that error is enough
            return value
        n_strata = n_quantiles + 1
        if value * n_strata < 1.0:
            raise ValueError(
                f"must be at least 1/(n_quantiles + 1) = 1/{n_strata} = {1.0 / n_strata:.4g}: "
                f"with n_quantiles={n_quantiles} there are at most {n_strata} strata "
                f"({n_quantiles} bins and the {NO_RESIDENTS_LABEL}), so caps of {value:g} each "
                "could not fill the coverage"
            )
        return value


def policy_codes(policy: AllocationPolicy, cells: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The stratum of each row of ``cells.parquet`` under ``policy`` (:func:`stratum_codes`).

    Refuses a table without the policy's column or without ``residents``, naming the column.
    """
    needed = {policy.column: "operational.policy.column", "residents": "residents per cell"}
    for column, what in needed.items():
        if column not in cells.columns:
            raise ValueError(
                f"The allocation policy needs the column {column!r} ({what}) of cells.parquet; "
                f"it has {sorted(map(str, cells.columns))}."
            )
    return stratum_codes(
        pd.to_numeric(cells[policy.column], errors="coerce").to_numpy(dtype=np.float64),
        cells["residents"].to_numpy(dtype=np.float64),
        policy.n_quantiles,
        min_residents=policy.min_residents,
    )


# --------------------------------------------------------------------------------------------
# The flagged set under a policy
# --------------------------------------------------------------------------------------------


def _as_codes(codes: npt.ArrayLike, *, n_cells: int) -> npt.NDArray[np.int64]:
    arr = np.asarray(codes)
    if arr.shape != (n_cells,) or arr.dtype.kind not in "ui":
        raise ValueError(
            f"codes must be a 1-D integer array with one stratum per cell, shape ({n_cells},). "
            f"Got shape {arr.shape} and dtype {arr.dtype}."
        )
    return arr.astype(np.int64, copy=False)


def _check_max_share(max_share: float) -> float:
    share = float(max_share)
    if not (np.isfinite(share) and 0.0 < share <= 1.0):
        raise ValueError(
            f"max_share must be a share of the flagged area in (0, 1]. Got {max_share}."
        )
    return share


def _exclusive_cumsum(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise sum of the entries before each one (0 for the first)."""
    out = np.zeros_like(a)
    np.cumsum(a[:, :-1], axis=1, out=out[:, 1:])
    return out


def flag_with_policy(
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
    codes: npt.ArrayLike,
    max_share: float,
) -> npt.NDArray[np.bool_]:
    """The flagged set of every week when no stratum may hold more than ``max_share`` of it.

    The walk down each week's ranking (score descending, ties by cell id ascending) admits a cell
    while the flagged area of its stratum before it is below ``max_share·k·A`` and stops at the
    first prefix whose flagged area reaches ``k·A``, both with the prefix rule and the slack
    (``AREA_RTOL·A``) of :func:`models.metrics.flag_top_area`. A stratum may therefore end a
    little over its cap by its last cell, as the flagged set ends a little over ``k·A``.
    ``max_share=1`` gives ``flag_top_area`` exactly.

    Parameters
    ----------
    scores : (W, C) array_like
        Risk scores, finite; higher = riskier.
    areas_km2 : (C,) array_like
        Cell areas, km², finite and > 0.
    cell_ids : (C,) array_like of uint64
        Unique H3 ids; they break ties in the score (ascending id first).
    coverage : float
        ``k``, share of the study area in [0, 1].
    codes : (C,) array_like of int
        Stratum of each cell (:func:`stratum_codes`). Every distinct code is a stratum with its
        own cap, -1 included: cells with residents whose attribute is unknown are capped as one
        stratum, never left uncapped.
    max_share : float
        Share of the flagged area, in (0, 1], that any one stratum may hold.

    Returns
    -------
    (W, C) bool
        True for flagged cells. In a week where the caps cannot fill ``k·A`` (the strata left
        under their caps hold too little area), every cell the caps admit is flagged, the area
        stays below ``k·A``, and a warning names the number of such weeks.
    """
    order = rank_weeks(scores, cell_ids=cell_ids)
    n_weeks, n_cells = order.shape
    areas = _as_areas(areas_km2, n_cells=n_cells)
    k = _check_coverage(coverage, allow_zero=True)
    strata = _as_codes(codes, n_cells=n_cells)
    share = _check_max_share(max_share)

    total = float(areas.sum())
    slack = AREA_RTOL * total
    target = k * total - slack
    cap = share * k * total - slack
    ranked_area = areas[order]
    ranked_code = strata[order]
    # A stratum's admitted cells are a prefix of its own ranking: its area before a cell only grows
    # down the ranking. The flagged set is then the ranking prefix of admitted cells that reaches
    # k·A, so both steps are cumulative sums (one per stratum, then one over admitted cells).
    admitted = np.zeros((n_weeks, n_cells), dtype=bool)
    for code in np.unique(strata):
        in_stratum = ranked_code == code
        before = _exclusive_cumsum(np.where(in_stratum, ranked_area, 0.0))
        admitted |= in_stratum & (before < cap)
    admitted_area = np.where(admitted, ranked_area, 0.0)
    in_flagged = admitted & (_exclusive_cumsum(admitted_area) < target)

    short = (np.where(in_flagged, ranked_area, 0.0).sum(axis=1) < target) & (k > 0)
    if short.any():
        logger.warning(
            "allocation policy: caps of %g of the flagged area per stratum (%d strata) could not "
            "fill coverage %g in %d of %d periods; those periods flag what the caps allow.",
            share,
            np.unique(strata).size,
            k,
            int(short.sum()),
            n_weeks,
        )
    mask = np.empty((n_weeks, n_cells), dtype=bool)
    np.put_along_axis(mask, order, in_flagged, axis=1)
    return mask


# --------------------------------------------------------------------------------------------
# What the policy costs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyCost:
    """What a policy costs one ranking, pooled over weeks.

    Attributes
    ----------
    expected_hits_kept : float
        Expected count (the scores) in the flagged set under the policy over that without it,
        each summed over weeks; 1 when the policy changes nothing (NaN when nothing is expected).
    pai_without, pai_with : float
        Pooled PAI against the realised counts ``y``, without and with the policy (pooled hit
        rate over the mean flagged-area share of the weeks with events, as
        :func:`models.metrics.pai`).
    flagged_area_share_with : float
        Mean share of the study area flagged under the policy, over all weeks (below the
        coverage when the caps could not fill it).
    """

    expected_hits_kept: float
    pai_without: float
    pai_with: float
    flagged_area_share_with: float


def _pooled_pai(
    y: npt.NDArray[np.float64], flagged: npt.NDArray[np.bool_], areas: npt.NDArray[np.float64]
) -> float:
    """Pooled PAI of a given flagged set: ``(Σ hits / Σ events) / mean area share``, weeks with
    events only (:func:`models.metrics.pai`'s pooled figure)."""
    events = y.sum(axis=1)
    has = events > 0
    hits = np.where(flagged, y, 0.0).sum(axis=1)
    area_share = np.where(flagged, areas, 0.0).sum(axis=1) / areas.sum()
    hit_rate = _safe_div(hits[has].sum(), events[has].sum())
    return float(_safe_div(hit_rate, _safe_div(area_share[has].sum(), has.sum())))


def policy_cost(
    scores: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
    codes: npt.ArrayLike,
    max_share: float,
) -> PolicyCost:
    """Expected hits kept and PAI with and without a policy, for one ranking.

    Parameters
    ----------
    scores : (W, C) array_like
        Expected counts of the ranking (finite, >= 0): the model's, or the reference's.
    y : (W, C) array_like
        Realised target counts, >= 0.
    areas_km2, cell_ids, coverage, codes, max_share
        As :func:`flag_with_policy`; ``coverage`` in (0, 1].
    """
    y_arr = _as_panel("y", y, non_negative=True)
    s_arr = _as_panel("scores", scores, shape=y_arr.shape, non_negative=True)
    areas = _as_areas(areas_km2, n_cells=y_arr.shape[1])
    k = _check_coverage(coverage)
    without = flag_top_area(s_arr, areas_km2=areas, cell_ids=cell_ids, coverage=k)
    with_policy = flag_with_policy(
        s_arr, areas_km2=areas, cell_ids=cell_ids, coverage=k, codes=codes, max_share=max_share
    )
    kept = _safe_div(np.where(with_policy, s_arr, 0.0).sum(), np.where(without, s_arr, 0.0).sum())
    return PolicyCost(
        expected_hits_kept=float(kept),
        pai_without=pai(y_arr, s_arr, areas_km2=areas, cell_ids=cell_ids, coverage=k).pooled,
        pai_with=_pooled_pai(y_arr, with_policy, areas),
        flagged_area_share_with=float(
            np.where(with_policy, areas, 0.0).sum() / (areas.sum() * y_arr.shape[0])
        ),
    )
