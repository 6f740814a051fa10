"""Tests for beatwise.period: week and month arithmetic, hand-checked against the calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beatwise.period import (
    check_period,
    complete_periods,
    next_period_start,
    period_floor,
    period_offsets,
    period_range,
    period_suffix,
    period_words,
    periods_per_year,
    resolve_period,
    shift_periods,
    validate_periods,
)


def _ns(*dates: str) -> np.ndarray:
    return np.array(dates, dtype="datetime64[ns]")


def _ts(*values: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values), format="ISO8601"))


def test_month_floor_boundaries() -> None:
    ts = pd.to_datetime(
        [
            "2024-03-01 00:00:00",  # first instant: its own month
            "2024-02-29 23:59:59",  # leap day, last second of February
            "2023-12-31 23:59:59",  # New Year's Eve: December
            "2024-01-15 12:00:00",
            "1969-12-31 12:00:00",  # before the epoch
        ]
    )
    got = period_floor(ts, period="month")
    expected = _ns("2024-03-01", "2024-02-01", "2023-12-01", "2024-01-01", "1969-12-01")
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.dtype("datetime64[ns]")


def test_week_floor_boundaries() -> None:
    ts = pd.to_datetime(
        [
            "2024-01-08 00:00:00",  # Monday midnight: its own week
            "2024-01-07 23:59:59",  # Sunday night: the week before
            "2024-01-10 13:30:00",  # Wednesday
            "1969-12-31 12:00:00",  # before the epoch (a Wednesday)
        ]
    )
    np.testing.assert_array_equal(
        period_floor(ts, period="week"), _ns("2024-01-08", "2024-01-01", "2024-01-08", "1969-12-29")
    )


def test_floor_refuses_nat_time_zones_and_auto() -> None:
    with pytest.raises(ValueError, match="missing"):
        period_floor(_ns("2024-01-01", "NaT"), period="month")
    aware = pd.Series(_ts("2024-01-01 10:00").tz_localize("Europe/London"))
    with pytest.raises(ValueError, match="naive local"):
        period_floor(aware, period="week")
    with pytest.raises(ValueError, match=r"Got 'auto'\. Resolve 'auto'"):
        period_floor(_ns("2024-01-01"), period="auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"must be one of \['week', 'month'\]. Got 'day'"):
        check_period("day")


def test_month_ranges_cross_years_and_month_lengths() -> None:
    got = period_range("2023-11-20", "2024-03-31 23:00", period="month")
    np.testing.assert_array_equal(
        got, _ns("2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01")
    )
    # consecutive starts are 30, 31, 31, 29 (leap February) days apart
    assert np.diff(got).astype("timedelta64[D]").astype(int).tolist() == [30, 31, 31, 29]
    with pytest.raises(ValueError, match="first <= last"):
        period_range("2024-02-01", "2024-01-01", period="month")


def test_week_range_is_inclusive_and_floors() -> None:
    got = period_range("2024-01-03", "2024-01-21 23:00", period="week")
    np.testing.assert_array_equal(got, _ns("2024-01-01", "2024-01-08", "2024-01-15"))


def test_next_period_start_uses_calendar_months() -> None:
    starts = _ns("2023-12-01", "2024-01-01", "2024-02-01", "2023-02-01", "2024-04-01")
    np.testing.assert_array_equal(
        next_period_start(starts, period="month"),
        _ns("2024-01-01", "2024-02-01", "2024-03-01", "2023-03-01", "2024-05-01"),
    )
    np.testing.assert_array_equal(
        next_period_start(_ns("2024-12-30"), period="week"), _ns("2025-01-06")
    )
    np.testing.assert_array_equal(
        shift_periods(_ns("2024-01-01"), -13, period="month"), _ns("2022-12-01")
    )
    with pytest.raises(ValueError, match=r"needs month starts\. Got 2024-01-31"):
        next_period_start(_ns("2024-01-31"), period="month")


def test_period_offsets() -> None:
    ts = _ts("2024-01-01", "2024-01-31 23:59", "2024-02-01", "2023-12-31", "2025-01-01")
    assert period_offsets(ts, origin="2024-01-01", period="month").tolist() == [0, 0, 1, -1, 12]
    assert period_offsets(ts, origin="2024-01-01", period="week").tolist() == [0, 4, 4, -1, 52]
    with pytest.raises(ValueError, match="origin must be a month start"):
        period_offsets(ts, origin="2024-01-02", period="month")


def test_complete_months() -> None:
    # Finer data: whole days up to the last event's day; January 31 completes January.
    jan_end = _ts("2023-11-15 10:00", "2024-01-31 09:00")
    np.testing.assert_array_equal(
        complete_periods(jan_end, period="month"),
        _ns("2023-11-01", "2023-12-01", "2024-01-01"),
    )
    leap_end = _ts("2024-01-02", "2024-02-29 18:00")  # leap day ends February
    np.testing.assert_array_equal(
        complete_periods(leap_end, period="month"), _ns("2024-01-01", "2024-02-01")
    )
    mid_month = _ts("2024-01-02", "2024-02-28 18:00")  # 2024-02-29 is missing
    np.testing.assert_array_equal(complete_periods(mid_month, period="month"), _ns("2024-01-01"))
    # Monthly data (police.uk): each timestamp stands for its whole month, so the last month is
    # complete although its only timestamp is 00:00 on the 1st.
    monthly = _ts("2023-12-01", "2024-01-01", "2024-02-01")
    np.testing.assert_array_equal(
        complete_periods(monthly, period="month", time_resolution="month"),
        _ns("2023-12-01", "2024-01-01", "2024-02-01"),
    )
    np.testing.assert_array_equal(
        complete_periods(monthly, period="month"), _ns("2023-12-01", "2024-01-01")
    )
    # An explicit end of coverage wins.
    np.testing.assert_array_equal(
        complete_periods(mid_month, period="month", data_end="2024-03-01"),
        _ns("2024-01-01", "2024-02-01"),
    )
    with pytest.raises(ValueError, match="no complete calendar month"):
        complete_periods(_ts("2024-01-02", "2024-01-30"), period="month")
    with pytest.raises(ValueError, match="at least one event"):
        complete_periods(_ts(), period="month")


def test_complete_weeks() -> None:
    # Data ending on a Sunday complete that week; data ending on a Wednesday do not.
    sunday_end = _ts("2024-01-02 10:00", "2024-01-14 09:00")
    np.testing.assert_array_equal(
        complete_periods(sunday_end, period="week"), _ns("2024-01-01", "2024-01-08")
    )
    wednesday_end = _ts("2024-01-02 10:00", "2024-01-17 09:00")
    np.testing.assert_array_equal(
        complete_periods(wednesday_end, period="week"), _ns("2024-01-01", "2024-01-08")
    )
    np.testing.assert_array_equal(
        complete_periods(wednesday_end, period="week", data_end="2024-01-22"),
        _ns("2024-01-01", "2024-01-08", "2024-01-15"),
    )
    with pytest.raises(ValueError, match="no complete ISO week"):
        complete_periods(_ts("2024-01-02", "2024-01-03"), period="week")


def test_validate_periods() -> None:
    ok = _ns("2023-12-01", "2024-01-01", "2024-02-01")
    np.testing.assert_array_equal(validate_periods(ok, period="month"), ok)
    with pytest.raises(ValueError, match=r"month starts must be 1sts at 00:00\. Got 2024-01-02"):
        validate_periods(_ns("2024-01-02"), period="month")
    with pytest.raises(ValueError, match="exactly one month apart"):
        validate_periods(_ns("2024-01-01", "2024-03-01"), period="month")
    with pytest.raises(ValueError, match="exactly one month apart"):
        validate_periods(ok[::-1], period="month")
    with pytest.raises(ValueError, match="Mondays at 00:00"):
        validate_periods(_ns("2024-01-02"), period="week")
    with pytest.raises(ValueError, match="non-empty 1-D"):
        validate_periods(_ns(), period="week")


def test_units_and_words() -> None:
    assert (periods_per_year("week"), periods_per_year("month")) == (52, 12)
    assert (period_suffix("week"), period_suffix("month")) == ("w", "m")
    assert period_words("month") == ("month", "months", "monthly")
    assert period_words("week").adjective == "weekly"


@pytest.mark.parametrize(
    ("choice", "resolution", "expected"),
    [
        ("auto", "month", "month"),
        ("auto", "day", "week"),
        ("auto", "sub_day", "week"),
        ("month", "month", "month"),
        ("month", "day", "month"),  # aggregating finer data to months is fine
        ("month", "sub_day", "month"),
        ("week", "day", "week"),
        ("week", "sub_day", "week"),
    ],
)
def test_resolve_period(choice: str, resolution: str, expected: str) -> None:
    assert resolve_period(choice, time_resolution=resolution) == expected


def test_week_on_monthly_data_is_refused_with_the_reason() -> None:
    with pytest.raises(
        ValueError,
        match=r"monthly time resolution \(every timestamp is 00:00 on the 1st of a month, as "
        r"data\.police\.uk publishes them\), so weekly counts would put each month's events in "
        r"the week holding the 1st and leave the other weeks empty\. Set features\.period to "
        r"month \(or auto\)\.",
    ):
        resolve_period("week", time_resolution="month")
    with pytest.raises(ValueError, match=r"features\.period parameter must be one of"):
        resolve_period("daily", time_resolution="month")
    with pytest.raises(ValueError, match=r"time_resolution must be one of .* Got 'hour'"):
        resolve_period("auto", time_resolution="hour")


@settings(max_examples=80, deadline=None)
@given(st.integers(-20_000, 40_000), st.integers(0, 86_399), st.integers(-30, 30))
def test_month_arithmetic_agrees_with_pandas(day: int, second: int, shift: int) -> None:
    ts = np.datetime64("1970-01-01", "ns") + np.timedelta64(day, "D") + np.timedelta64(second, "s")
    start = period_floor(np.array([ts]), period="month")[0]
    stamp = pd.Timestamp(ts)
    assert pd.Timestamp(start) == stamp.to_period("M").start_time
    shifted = shift_periods(np.array([start]), shift, period="month")[0]
    assert pd.Timestamp(shifted) == (stamp.to_period("M") + shift).start_time
    assert start <= ts < next_period_start(np.array([start]), period="month")[0]
