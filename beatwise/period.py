"""Forecast periods: ISO weeks or calendar months, and all the arithmetic on them.

A period is either an ISO week (Monday 00:00, inclusive, to the next Monday 00:00, exclusive) or a
calendar month (00:00 on the 1st to 00:00 on the 1st of the next month), in the data's naive local
wall-clock time. A period is named by its start, ``datetime64[ns]`` at midnight; the internal key
column of every table is ``period_start``.

This module is the one place that knows how long a period is. Weeks are a fixed 7 days; months are
not (28 to 31 days), so month arithmetic goes through numpy's ``datetime64[M]`` (months since
1970-01) and never through a fixed length. Everything here is vectorised over whole arrays.

Which period a pipeline uses is ``features.period`` in ``params.yaml``: ``auto`` (monthly when every
event timestamp is 00:00 on the 1st of a month, as data.police.uk publishes them, else weekly),
``week`` or ``month``; :func:`resolve_period` turns that choice into a period.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

Period = Literal["week", "month"]
PeriodChoice = Literal["auto", "week", "month"]
TimeResolution = Literal["month", "day", "sub_day"]
#: every period, weekly (the default) first
PERIODS: tuple[Period, ...] = get_args(Period)
#: what the ingest stage says about the timestamps it accepted (``reports/data_quality.json``)
TIME_RESOLUTIONS: tuple[TimeResolution, ...] = get_args(TimeResolution)

#: the internal period key of every long table (features, backtest): the start of the period
PERIOD_COLUMN: str = "period_start"

WEEK: np.timedelta64 = np.timedelta64(7, "D")
_WEEK_NS = np.int64(7 * 24 * 3600 * 10**9)
_DAY_NS = np.int64(24 * 3600 * 10**9)
# 1970-01-01 was a Thursday: days since the epoch + 3 is 0 on Mondays (mod 7).
_EPOCH_TO_MONDAY_DAYS = 3


class PeriodWords(NamedTuple):
    """How texts name a period: week/weeks/weekly or month/months/monthly."""

    singular: str
    plural: str
    adjective: str


_WORDS: dict[Period, PeriodWords] = {
    "week": PeriodWords("week", "weeks", "weekly"),
    "month": PeriodWords("month", "months", "monthly"),
}
_PER_YEAR: dict[Period, int] = {"week": 52, "month": 12}
_SUFFIX: dict[Period, str] = {"week": "w", "month": "m"}


def check_period(period: object) -> Period:
    """Return ``period`` if it is ``"week"`` or ``"month"``; refuse anything else (``"auto"`` too).

    ``"auto"`` is a choice, not a period: resolve it first with :func:`resolve_period`.
    """
    if period not in PERIODS:
        hint = ""
        if period == "auto":
            hint = " Resolve 'auto' with beatwise.period.resolve_period first."
        raise ValueError(f"period must be one of {list(PERIODS)}. Got {period!r}.{hint}")
    return period


def period_words(period: Period) -> PeriodWords:
    """Words for texts: ``period_words("month").plural == "months"``."""
    return _WORDS[check_period(period)]


def periods_per_year(period: Period) -> int:
    """Periods in a year: 52 ISO weeks (the same-week-last-year lag) or 12 months."""
    return _PER_YEAR[check_period(period)]


def period_suffix(period: Period) -> str:
    """Unit suffix of column and feature names: ``"w"`` (``cnt_all_lag1w``) or ``"m"``."""
    return _SUFFIX[check_period(period)]


def resolve_period(choice: str, *, time_resolution: str) -> Period:
    """Turn the ``features.period`` choice into the period the pipeline uses.

    Parameters
    ----------
    choice
        ``"auto"``, ``"week"`` or ``"month"``.
    time_resolution
        What the ingest stage found in the accepted timestamps: ``"month"`` (every one is 00:00 on
        the 1st of a month), ``"day"`` (all at 00:00, not all on the 1st) or ``"sub_day"``.

    Returns
    -------
    str
        ``"month"`` for ``auto`` on monthly data, else ``"week"`` for ``auto``; otherwise the
        choice itself. Monthly periods on finer data are allowed (counts are aggregated).

    Raises
    ------
    ValueError
        For an unknown choice or resolution, and for ``week`` on monthly data: every event would
        land in the week holding the 1st of its month, and the other weeks would look empty.
    """
    if choice not in ("auto", *PERIODS):
        raise ValueError(
            f"The features.period parameter must be one of ['auto', 'week', 'month']. "
            f"Got {choice!r}."
        )
    if time_resolution not in TIME_RESOLUTIONS:
        raise ValueError(
            f"time_resolution must be one of {list(TIME_RESOLUTIONS)}. Got {time_resolution!r}."
        )
    if choice == "auto":
        return "month" if time_resolution == "month" else "week"
    if choice == "week" and time_resolution == "month":
        raise ValueError(
            "features.period is 'week', but the events have monthly time resolution (every "
            "timestamp is 00:00 on the 1st of a month, as data.police.uk publishes them), so "
            "weekly counts would put each month's events in the week holding the 1st and leave "
            "the other weeks empty. Set features.period to month (or auto)."
        )
    return check_period(choice)


def as_datetime64_ns(timestamps: npt.ArrayLike | pd.Series, *, what: str) -> npt.NDArray:
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


def _months(ns: npt.NDArray) -> npt.NDArray[np.int64]:
    """Months since 1970-01 of each ``datetime64[ns]`` value (floored, so 1969-12 is -1)."""
    return ns.astype("datetime64[M]").astype(np.int64)


def _from_months(months: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[ns]")


def period_floor(timestamps: npt.ArrayLike | pd.Series, *, period: Period) -> npt.NDArray:
    """Return the start of the period holding each timestamp.

    Parameters
    ----------
    timestamps
        Naive local wall-clock times (anything convertible to ``datetime64[ns]``). Time-zone-aware
        values and NaT are refused with a ValueError.
    period
        ``"week"``: the ISO Monday 00:00 at or before each time. ``"month"``: 00:00 on the 1st.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` period starts at midnight, same shape as the input.
    """
    period = check_period(period)
    ns = as_datetime64_ns(timestamps, what="timestamps")
    if period == "month":
        return _from_months(_months(ns))
    days = np.floor_divide(ns.view(np.int64), _DAY_NS)
    monday_days = days - np.mod(days + _EPOCH_TO_MONDAY_DAYS, 7)
    return (monday_days * _DAY_NS).view("datetime64[ns]")


def shift_periods(
    starts: npt.ArrayLike, n: int | npt.ArrayLike, *, period: Period
) -> npt.NDArray[np.datetime64]:
    """Period starts ``n`` periods after (``n < 0``: before) each of ``starts``.

    Months are calendar months: 2024-01-01 + 1 month is 2024-02-01 and + 2 is 2024-03-01, however
    long February is; 2024-12-01 + 1 is 2025-01-01. Refuses ``starts`` that are not period starts
    (shifting 2024-01-31 by a month has no single answer).
    """
    period = check_period(period)
    arr = as_datetime64_ns(starts, what="period starts")
    floored = period_floor(arr, period=period)
    if not np.array_equal(floored, arr):
        bad = arr[floored != arr].ravel()[0]
        raise ValueError(f"shift_periods needs {period} starts. Got {bad}.")
    steps = np.asarray(n, dtype=np.int64)
    if period == "month":
        return _from_months(_months(arr) + steps)
    return np.asarray(arr + steps * WEEK, dtype="datetime64[ns]")


def next_period_start(starts: npt.ArrayLike, *, period: Period) -> npt.NDArray[np.datetime64]:
    """The start of the period after each of ``starts`` (the exclusive end of each period)."""
    return shift_periods(starts, 1, period=period)


def last_day(day: dt.date, *, period: Period) -> dt.date:
    """The last calendar day of the period holding ``day`` (its Sunday, or the month's last day),
    as the documents print a period's span."""
    start = period_floor(np.array([np.datetime64(day, "ns")]), period=period)
    end = next_period_start(start, period=period)[0]
    return (pd.Timestamp(end) - pd.Timedelta(days=1)).date()


def period_range(first: object, last: object, *, period: Period) -> npt.NDArray[np.datetime64]:
    """All period starts from the period holding ``first`` to the period holding ``last``.

    Parameters
    ----------
    first, last
        Any timestamps (strings, ``pd.Timestamp``, ``datetime64``); each is floored to its period.
    period
        ``"week"`` or ``"month"``.

    Returns
    -------
    numpy.ndarray
        Consecutive ``datetime64[ns]`` period starts, inclusive at both ends. Refuses ``last``
        before ``first``.
    """
    bounds = np.array([pd.Timestamp(first).to_datetime64(), pd.Timestamp(last).to_datetime64()])
    lo, hi = period_floor(bounds, period=period)
    if hi < lo:
        raise ValueError(f"period_range needs first <= last. Got first={first}, last={last}.")
    n = int(period_offsets(np.array([hi]), origin=lo, period=period)[0]) + 1
    return shift_periods(np.full(n, lo), np.arange(n), period=period)


def period_offsets(
    timestamps: npt.ArrayLike | pd.Series, *, origin: object, period: Period
) -> npt.NDArray[np.int64]:
    """Index of each timestamp's period counted from the period that starts at ``origin``.

    0 is the period starting at ``origin``, -1 the one before, and so on; an event at the first
    instant of a period belongs to that period. ``origin`` must be a period start.
    """
    period = check_period(period)
    start = as_datetime64_ns(np.array([pd.Timestamp(origin).to_datetime64()]), what="origin")
    if not np.array_equal(period_floor(start, period=period), start):
        raise ValueError(f"origin must be a {period} start. Got {start[0]}.")
    ns = as_datetime64_ns(timestamps, what="timestamps")
    if period == "month":
        return _months(ns) - _months(start)[0]
    return np.floor_divide(ns.view(np.int64) - start.view(np.int64)[0], _WEEK_NS)


def complete_periods(
    timestamps: npt.ArrayLike | pd.Series,
    *,
    period: Period,
    data_end: object | None = None,
    time_resolution: TimeResolution | None = None,
) -> npt.NDArray[np.datetime64]:
    """The complete periods covered by the data: from the first event's period to the last
    period that ends at or before the end of the data.

    Parameters
    ----------
    timestamps
        Event times (naive local).
    period
        ``"week"`` or ``"month"``.
    data_end
        Exclusive end of what the data cover. Wins over everything else when given.
    time_resolution
        ``"month"`` says each timestamp stands for its whole month (data.police.uk files), so the
        data cover up to 00:00 on the 1st of the month after the last timestamp. Otherwise (and
        when None) the data are taken to cover whole days up to and including the day of the last
        event: data ending on a Sunday complete that ISO week, data ending on the last day of a
        month complete that month, and data ending mid-period leave that period out.

    Returns
    -------
    numpy.ndarray
        Consecutive ``datetime64[ns]`` period starts. Refuses empty input and data covering no
        whole period.
    """
    period = check_period(period)
    ts = as_datetime64_ns(timestamps, what="timestamps")
    if ts.size == 0:
        raise ValueError("complete_periods needs at least one event timestamp. Got none.")
    first = period_floor(ts.min(keepdims=True), period=period)[0]
    if data_end is not None:
        end = np.datetime64(pd.Timestamp(data_end).to_datetime64(), "ns")
    elif time_resolution == "month":
        last_month = period_floor(ts.max(keepdims=True), period="month")
        end = next_period_start(last_month, period="month")[0]
    else:
        end = ts.max().astype("datetime64[D]").astype("datetime64[ns]") + np.timedelta64(1, "D")
    # The last period whose exclusive end is <= end: the one before the period holding end.
    last = shift_periods(period_floor(np.array([end]), period=period), -1, period=period)[0]
    if last < first:
        what = "ISO week (Monday to Monday)" if period == "week" else "calendar month"
        raise ValueError(f"The data ({first} to {end}) cover no complete {what}.")
    return period_range(first, last, period=period)


def validate_periods(starts: npt.ArrayLike, *, period: Period) -> npt.NDArray[np.datetime64]:
    """Check that ``starts`` are consecutive period starts at 00:00, ascending; return them as ns.

    Weeks must be Mondays exactly 7 days apart; months 1sts exactly one calendar month apart.
    """
    period = check_period(period)
    arr = as_datetime64_ns(starts, what=f"{period} starts")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{period} starts must be a non-empty 1-D array. Got shape {arr.shape}.")
    floored = period_floor(arr, period=period)
    if not np.array_equal(floored, arr):
        bad = arr[floored != arr][0]
        what = "Mondays at 00:00 (ISO week starts)" if period == "week" else "1sts at 00:00"
        raise ValueError(f"{period} starts must be {what}. Got {bad}.")
    steps = np.diff(period_offsets(arr, origin=arr[0], period=period))
    if arr.size > 1 and not np.all(steps == 1):
        raise ValueError(
            f"{period} starts must be consecutive, exactly one {period} apart and ascending "
            "(use beatwise.period.period_range)."
        )
    return arr
