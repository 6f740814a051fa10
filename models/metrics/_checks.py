"""Shared ground of the metrics modules: array types, constants and input checks.

Every public metric validates its inputs here, so a refusal reads the same wherever it comes from
(what was expected and what was got).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

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
