"""The cell-week panel: ISO weeks and dense event-count arrays indexed ``[week, cell]``.

Weeks are ISO weeks in the data's local wall-clock time: Monday 00:00 (inclusive) to the next
Monday 00:00 (exclusive). ``week_start`` is that Monday as ``datetime64[ns]`` at midnight. An event
at Monday 00:00:00 belongs to the week that starts then; one at Sunday 23:59:59.999 belongs to the
week before.

The counting is vectorised over events: each event gets a flat index
``(type, week, cell)`` from ``np.searchsorted`` on the sorted cell ids and integer arithmetic on
the week, and one ``np.bincount`` fills the whole array.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

logger = logging.getLogger(__name__)

WEEK: np.timedelta64 = np.timedelta64(7, "D")
_WEEK_NS = np.int64(7 * 24 * 3600 * 10**9)
_DAY_NS = np.int64(24 * 3600 * 10**9)
# 1970-01-01 was a Thursday: days since the epoch + 3 is 0 on Mondays (mod 7).
_EPOCH_TO_MONDAY_DAYS = 3


def _as_datetime64_ns(timestamps: npt.ArrayLike | pd.Series, *, what: str) -> npt.NDArray:
    """Naive local timestamps -> ``datetime64[ns]`` array; refuses time-zone-aware input and NaT."""
    if isinstance(timestamps, pd.Series | pd.Index | pd.DatetimeIndex):
        if isinstance(timestamps.dtype, pd.DatetimeTZDtype):
            raise ValueError(
                f"{what} must be naive local wall-clock times (see docs/architecture.md). "
                f"Got time-zone-aware dtype {timestamps.dtype}."
            )
        arr = timestamps.to_numpy()
    else:
        arr = np.asarray(timestamps)
    if arr.dtype.kind != "M":
        try:
            arr = np.asarray(arr, dtype="datetime64[ns]")
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{what} must be datetime64 values. Got dtype {arr.dtype}: {exc}"
            ) from exc
    arr = arr.astype("datetime64[ns]", copy=False)
    if np.isnat(arr).any():
        raise ValueError(f"{what} holds {int(np.isnat(arr).sum())} missing (NaT) values.")
    return arr


def week_floor(timestamps: npt.ArrayLike | pd.Series) -> npt.NDArray[np.datetime64]:
    """Return the start (Monday 00:00) of the ISO week holding each timestamp.

    Parameters
    ----------
    timestamps
        Naive local wall-clock times (anything convertible to ``datetime64[ns]``). Time-zone-aware
        values and NaT are refused with a ValueError.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` Mondays at midnight, same shape as the input.
    """
    ns = _as_datetime64_ns(timestamps, what="timestamps").view(np.int64)
    days = np.floor_divide(ns, _DAY_NS)
    monday_days = days - np.mod(days + _EPOCH_TO_MONDAY_DAYS, 7)
    return (monday_days * _DAY_NS).view("datetime64[ns]")


def week_range(first: object, last: object) -> npt.NDArray[np.datetime64]:
    """All week starts from the week holding ``first`` to the week holding ``last``, inclusive.

    Parameters
    ----------
    first, last
        Any timestamps (strings, ``pd.Timestamp``, ``datetime64``); each is floored to its week.

    Returns
    -------
    numpy.ndarray
        Consecutive ``datetime64[ns]`` Mondays, one week apart. Refuses ``last`` before ``first``.
    """
    bounds = np.array([pd.Timestamp(first).to_datetime64(), pd.Timestamp(last).to_datetime64()])
    lo, hi = week_floor(bounds)
    if hi < lo:
        raise ValueError(f"week_range needs first <= last. Got first={first}, last={last}.")
    n = int((hi - lo) // WEEK) + 1
    return lo + np.arange(n) * WEEK


def complete_weeks(
    timestamps: npt.ArrayLike | pd.Series, *, data_end: object | None = None
) -> npt.NDArray[np.datetime64]:
    """The complete ISO weeks covered by the data: from the first event's week to the last week
    that ends at or before ``data_end``.

    Parameters
    ----------
    timestamps
        Event times (naive local).
    data_end
        Exclusive end of the period the data cover (for police.uk monthly files: 00:00 on the first
        day of the month after the last file). When None, the data are taken to cover whole days up
        to and including the day of the last event, so data ending on a Sunday complete that week
        and data ending mid-week leave that week out.

    Returns
    -------
    numpy.ndarray
        Consecutive ``datetime64[ns]`` Mondays. Refuses empty input and data covering no whole week.
    """
    ts = _as_datetime64_ns(timestamps, what="timestamps")
    if ts.size == 0:
        raise ValueError("complete_weeks needs at least one event timestamp. Got none.")
    first = week_floor(ts.min(keepdims=True))[0]
    if data_end is None:
        end = ts.max().astype("datetime64[D]").astype("datetime64[ns]") + np.timedelta64(1, "D")
    else:
        end = np.datetime64(pd.Timestamp(data_end).to_datetime64(), "ns")
    # The last week whose exclusive end (start + 7 days) is <= end.
    last = week_floor(np.array([end - WEEK]))[0]
    if last < first:
        raise ValueError(
            f"The data ({first} to {end}) cover no complete ISO week (Monday to Monday)."
        )
    return week_range(first, last)


def validate_weeks(weeks: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    """Check that ``weeks`` are consecutive Mondays at 00:00, one week apart; return them as ns."""
    arr = _as_datetime64_ns(weeks, what="weeks")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"weeks must be a non-empty 1-D array. Got shape {arr.shape}.")
    if not np.array_equal(week_floor(arr), arr):
        bad = arr[week_floor(arr) != arr][0]
        raise ValueError(f"weeks must be Mondays at 00:00 (ISO week starts). Got {bad}.")
    if arr.size > 1 and not np.all(np.diff(arr) == WEEK):
        raise ValueError(
            "weeks must be consecutive, exactly 7 days apart and ascending "
            "(use features.panel.week_range)."
        )
    return arr


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
    weeks: npt.ArrayLike,
    crime_types: Sequence[str],
    outside: Literal["raise", "drop"] = "raise",
) -> dict[str, npt.NDArray[np.int32]]:
    """Count events per crime type, week and cell.

    Parameters
    ----------
    event_cells
        One row per event with columns ``h3_int`` (uint64), ``timestamp`` (naive local datetime)
        and ``crime_type`` (canonical name; str or categorical).
    cell_ids
        Study cells as uint64 H3 ids, strictly ascending (the order of ``cells.parquet``).
    weeks
        Consecutive ISO week starts (see :func:`week_range`, :func:`complete_weeks`).
    crime_types
        The canonical types to count, in the order of the returned dict. Events of other types
        are not counted (a caller asks for the types it needs).
    outside
        What to do with events of the requested types that fall outside ``cell_ids`` or outside
        ``weeks``. ``"raise"`` (default): refuse with a ValueError that says how many and gives an
        example, since ``event_cells`` should hold only study-cell events and the caller should cut
        the period first. ``"drop"``: leave them out and log how many at INFO level (convenient for
        dropping a trailing incomplete week).

    Returns
    -------
    dict
        ``{crime_type: int32 array [week, cell]}``. The arrays are views into one
        ``[type, week, cell]`` block.
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
    wk = validate_weeks(weeks)
    types = tuple(crime_types)
    if len(set(types)) != len(types) or not types:
        raise ValueError(f"crime_types must be non-empty with no repeats. Got {types}.")
    n_types, n_weeks, n_cells = len(types), wk.size, cells.size

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

    ns = _as_datetime64_ns(event_cells["timestamp"], what="event_cells.timestamp")[keep]
    offset = ns.view(np.int64) - wk[0].astype("datetime64[ns]").view(np.int64)
    week_pos = np.floor_divide(offset, _WEEK_NS)
    in_weeks = (week_pos >= 0) & (week_pos < n_weeks)

    ok = in_cells & in_weeks
    n_out = int(ok.size - np.count_nonzero(ok))
    if n_out:
        n_cell_out = int(ok.size - np.count_nonzero(in_cells))
        n_week_out = int(ok.size - np.count_nonzero(in_weeks))
        first_bad = int(np.flatnonzero(~ok)[0])
        message = (
            f"{n_out} of {ok.size} events of the counted types fall outside the panel: "
            f"{n_cell_out} outside the {n_cells} study cells, {n_week_out} outside the weeks "
            f"{wk[0]} to {wk[-1] + WEEK} (exclusive). First: h3_int={int(h3_int[first_bad]):x}, "
            f"timestamp={ns[first_bad]}."
        )
        if outside == "raise":
            raise ValueError(message + " Filter events to the study cells and weeks first.")
        logger.info("%s Dropped.", message)
        type_code, cell_pos, week_pos = type_code[ok], cell_pos[ok], week_pos[ok]

    flat = (type_code * n_weeks + week_pos) * n_cells + cell_pos
    tally = np.bincount(flat, minlength=n_types * n_weeks * n_cells)
    block = tally.astype(np.int32).reshape(n_types, n_weeks, n_cells)
    logger.info(
        "Counted %d events into %d types x %d weeks x %d cells (%s to %s).",
        int(flat.size),
        n_types,
        n_weeks,
        n_cells,
        np.datetime_as_string(wk[0], unit="D"),
        np.datetime_as_string(wk[-1], unit="D"),
    )
    return {name: block[i] for i, name in enumerate(types)}
