"""The cell-period panel: dense event-count arrays indexed ``[period, cell]``.

A period is an ISO week or a calendar month in the data's local wall-clock time
(:mod:`beatwise.period` holds all the period arithmetic). An event at Monday 00:00:00 belongs to
the week that starts then, one at Sunday 23:59:59.999 to the week before; likewise an event at
00:00 on the 1st belongs to that month.

The counting is vectorised over events: each event gets a flat index ``(type, period, cell)`` from
``np.searchsorted`` on the sorted cell ids and integer arithmetic on the period
(:func:`beatwise.period.period_offsets`), and one ``np.bincount`` fills the whole array.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse

from beatwise.h3index import ring_neighbours
from beatwise.period import (
    Period,
    as_datetime64_ns,
    next_period_start,
    period_offsets,
    period_words,
    validate_periods,
)

logger = logging.getLogger(__name__)


def validate_cells(cell_ids: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """Check that ``cell_ids`` are uint64 H3 ids, strictly ascending, as in cells.parquet."""
    arr = np.asarray(cell_ids)
    if arr.dtype != np.uint64:
        raise ValueError(f"cell_ids must be uint64 H3 integers. Got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"cell_ids must be a non-empty 1-D array. Got shape {arr.shape}.")
    if arr.size > 1 and not np.all(arr[1:] > arr[:-1]):
        raise ValueError("cell_ids must be strictly ascending (sorted, no duplicates).")
    return arr


def _type_codes(values: pd.Series, types: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """Position of each value in ``types``; -1 for other types and nulls."""
    wanted = pd.Index(types)
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Map the few categories, then index by the codes: no per-event hashing.
        lookup = np.append(wanted.get_indexer(values.cat.categories), -1)
        codes = values.cat.codes.to_numpy()
        return lookup[np.where(codes < 0, lookup.size - 1, codes)].astype(np.int64)
    return wanted.get_indexer(values).astype(np.int64)


def count_matrix(
    event_cells: pd.DataFrame,
    *,
    cell_ids: npt.ArrayLike,
    periods: npt.ArrayLike,
    crime_types: Sequence[str],
    period: Period = "week",
    outside: Literal["raise", "drop"] = "raise",
) -> dict[str, npt.NDArray[np.int32]]:
    """Count events per crime type, period and cell.

    Parameters
    ----------
    event_cells
        One row per event with columns ``h3_int`` (uint64), ``timestamp`` (naive local datetime)
        and ``crime_type`` (canonical name; str or categorical).
    cell_ids
        Study cells as uint64 H3 ids, strictly ascending (the order of ``cells.parquet``).
    periods
        Consecutive period starts (see :func:`beatwise.period.period_range` and
        :func:`beatwise.period.complete_periods`).
    crime_types
        The canonical types to count, in the order of the returned dict. Events of other types
        are not counted (a caller asks for the types it needs).
    period
        ``"week"`` (ISO weeks, the default) or ``"month"`` (calendar months).
    outside
        What to do with events of the requested types that fall outside ``cell_ids`` or outside
        ``periods``. ``"raise"`` (default): refuse with a ValueError that says how many and gives
        an example, since ``event_cells`` should hold only study-cell events and the caller should
        cut the time span first. ``"drop"``: leave them out and log how many at INFO level
        (convenient for dropping a trailing incomplete period).

    Returns
    -------
    dict
        ``{crime_type: int32 array [period, cell]}``. The arrays are views into one
        ``[type, period, cell]`` block.
    """
    missing = {"h3_int", "timestamp", "crime_type"} - set(event_cells.columns)
    if missing:
        raise ValueError(
            f"event_cells must have columns h3_int, timestamp, crime_type. "
            f"Missing: {', '.join(sorted(missing))}."
        )
    if outside not in ("raise", "drop"):
        raise ValueError(f"outside must be 'raise' or 'drop'. Got {outside!r}.")
    cells = validate_cells(cell_ids)
    starts = validate_periods(periods, period=period)
    plural = period_words(period).plural
    types = tuple(crime_types)
    if len(set(types)) != len(types) or not types:
        raise ValueError(f"crime_types must be non-empty with no repeats. Got {types}.")
    n_types, n_periods, n_cells = len(types), starts.size, cells.size

    type_code = _type_codes(event_cells["crime_type"], types)
    keep = type_code >= 0
    type_code = type_code[keep].astype(np.int64)

    h3_int = event_cells["h3_int"].to_numpy()
    if h3_int.dtype != np.uint64:
        raise ValueError(f"event_cells.h3_int must be uint64. Got dtype {h3_int.dtype}.")
    h3_int = h3_int[keep]
    cell_pos = np.searchsorted(cells, h3_int)
    cell_pos_c = np.minimum(cell_pos, n_cells - 1)
    in_cells = cells[cell_pos_c] == h3_int

    ns = as_datetime64_ns(event_cells["timestamp"], what="event_cells.timestamp")[keep]
    period_pos = period_offsets(ns, origin=starts[0], period=period)
    in_periods = (period_pos >= 0) & (period_pos < n_periods)

    ok = in_cells & in_periods
    n_out = int(ok.size - np.count_nonzero(ok))
    if n_out:
        n_cell_out = int(ok.size - np.count_nonzero(in_cells))
        n_period_out = int(ok.size - np.count_nonzero(in_periods))
        first_bad = int(np.flatnonzero(~ok)[0])
        end = next_period_start(starts[-1:], period=period)[0]
        message = (
            f"{n_out} of {ok.size} events of the counted types fall outside the panel: "
            f"{n_cell_out} outside the {n_cells} study cells, {n_period_out} outside the "
            f"{plural} {starts[0]} to {end} (exclusive). "
            f"First: h3_int={int(h3_int[first_bad]):x}, timestamp={ns[first_bad]}."
        )
        if outside == "raise":
            raise ValueError(message + f" Filter events to the study cells and {plural} first.")
        logger.info("%s Dropped.", message)
        type_code, cell_pos, period_pos = type_code[ok], cell_pos[ok], period_pos[ok]

    flat = (type_code * n_periods + period_pos) * n_cells + cell_pos
    tally = np.bincount(flat, minlength=n_types * n_periods * n_cells)
    block = tally.astype(np.int32).reshape(n_types, n_periods, n_cells)
    logger.info(
        "Counted %d events into %d types x %d %s x %d cells (%s to %s).",
        int(flat.size),
        n_types,
        n_periods,
        plural,
        n_cells,
        np.datetime_as_string(starts[0], unit="D"),
        np.datetime_as_string(starts[-1], unit="D"),
    )
    return {name: block[i] for i, name in enumerate(types)}


def ring_mean_matrices(
    cell_ids: npt.NDArray[np.uint64], *, rings: tuple[int, ...]
) -> dict[int, scipy.sparse.csr_array]:
    """Sparse ``[cell, cell]`` matrices averaging over each cell's ring at exact grid distance r.

    Row ``i`` of ring ``r`` has ``1 / n_i`` at the ``n_i`` study cells at distance exactly ``r``
    from cell ``i`` (cells outside the study area do not exist rather than count as zero). A row
    with no such cell is all zero; callers mark those cells NaN. Remembered for the last few
    grids, so a loop that builds features every week finds its neighbours once (callers must not
    change the matrices).
    """
    cells = np.ascontiguousarray(cell_ids, dtype=np.uint64)
    return _ring_mean_matrices(cells.tobytes(), tuple(rings))


@functools.lru_cache(maxsize=4)
def _ring_mean_matrices(
    cell_bytes: bytes, rings: tuple[int, ...]
) -> dict[int, scipy.sparse.csr_array]:
    cell_ids = np.frombuffer(cell_bytes, dtype=np.uint64)
    n = cell_ids.size
    i, j, d = ring_neighbours(cell_ids, k=max(rings))
    out: dict[int, scipy.sparse.csr_array] = {}
    for r in rings:
        sel = d == r
        n_in_ring = np.bincount(i[sel], minlength=n)
        weights = 1.0 / n_in_ring[i[sel]]
        out[r] = scipy.sparse.csr_array((weights, (i[sel], j[sel])), shape=(n, n))
    return out


def ring_mean(
    matrix: scipy.sparse.csr_array, values: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Mean of ``values[:, j]`` over each cell's ring; NaN where a cell has no ring cells."""
    has_ring = np.diff(matrix.indptr) > 0
    out = np.asarray(matrix @ values.T.astype(np.float64)).T.astype(np.float32)
    out[:, ~has_ring] = np.nan
    return out
