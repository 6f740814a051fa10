"""Tests for features.panel: the vectorised count matrix, weekly and monthly.

Period arithmetic (flooring, ranges, complete periods) is tested in test_period.py.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beatwise.period import period_range
from features.panel import count_matrix

ORIGIN = h3.latlng_to_cell(51.5074, -0.1278, 9)
CELLS = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(ORIGIN, 1)), dtype=np.uint64)
WEEKS = period_range("2024-01-01", "2024-01-22", period="week")  # four Mondays
MONTHS = period_range("2023-12-01", "2024-03-01", period="month")  # Dec, Jan, Feb (leap), Mar


def _events(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """(cell position, timestamp, crime type) -> an event_cells frame."""
    return pd.DataFrame(
        {
            "h3_int": np.array([CELLS[i] for i, _, _ in rows], dtype=np.uint64),
            "timestamp": pd.to_datetime([ts for _, ts, _ in rows], format="ISO8601"),
            "crime_type": [t for _, _, t in rows],
        }
    )


def test_count_matrix_hand_computed() -> None:
    events = _events(
        [
            (0, "2024-01-01 00:00:00", "burglary"),  # first instant of week 0
            (0, "2024-01-07 23:59:59", "burglary"),  # last second of week 0
            (0, "2024-01-08 00:00:00", "burglary"),  # week 1
            (3, "2024-01-10 12:00:00", "robbery"),
            (3, "2024-01-10 12:00:00", "robbery"),
            (6, "2024-01-28 23:59:59", "burglary"),  # last second of the last week
            (2, "2024-01-15 08:00:00", "drugs"),  # not requested: not counted
        ]
    )
    got = count_matrix(events, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary", "robbery"))
    assert list(got) == ["burglary", "robbery"]
    burglary = np.zeros((4, 7), dtype=np.int32)
    burglary[0, 0] = 2
    burglary[1, 0] = 1
    burglary[3, 6] = 1
    robbery = np.zeros((4, 7), dtype=np.int32)
    robbery[1, 3] = 2
    np.testing.assert_array_equal(got["burglary"], burglary)
    np.testing.assert_array_equal(got["robbery"], robbery)
    assert got["burglary"].dtype == np.int32


def test_count_matrix_monthly_hand_computed() -> None:
    events = _events(
        [
            (0, "2023-12-01 00:00:00", "burglary"),  # first instant of December
            (0, "2023-12-31 23:59:59", "burglary"),  # last second of December
            (0, "2024-01-01 00:00:00", "burglary"),  # New Year: January
            (3, "2024-02-29 12:00:00", "robbery"),  # leap day: February
            (3, "2024-02-01", "robbery"),  # police.uk style: 00:00 on the 1st
            (6, "2024-03-31 23:59:59", "burglary"),  # last second of the last month
        ]
    )
    got = count_matrix(
        events,
        cell_ids=CELLS,
        periods=MONTHS,
        period="month",
        crime_types=("burglary", "robbery"),
    )
    burglary = np.zeros((4, 7), dtype=np.int32)
    burglary[0, 0] = 2
    burglary[1, 0] = 1
    burglary[3, 6] = 1
    robbery = np.zeros((4, 7), dtype=np.int32)
    robbery[2, 3] = 2
    np.testing.assert_array_equal(got["burglary"], burglary)
    np.testing.assert_array_equal(got["robbery"], robbery)
    late = _events([(0, "2024-04-01", "burglary")])
    with pytest.raises(ValueError, match=r"1 outside the months .* to 2024-04-01T00:00"):
        count_matrix(
            late, cell_ids=CELLS, periods=MONTHS, period="month", crime_types=("burglary",)
        )
    with pytest.raises(ValueError, match="month starts must be 1sts"):
        count_matrix(late, cell_ids=CELLS, periods=WEEKS, period="month", crime_types=("burglary",))


def test_count_matrix_categorical_types_and_empty() -> None:
    events = _events([(1, "2024-01-09", "robbery"), (1, "2024-01-09", "drugs")])
    events["crime_type"] = pd.Categorical(
        ["robbery", None], categories=["drugs", "robbery", "burglary"]
    )
    got = count_matrix(events, cell_ids=CELLS, periods=WEEKS, crime_types=("robbery",))
    assert got["robbery"].sum() == 1 and got["robbery"][1, 1] == 1
    empty = count_matrix(events.iloc[:0], cell_ids=CELLS, periods=WEEKS, crime_types=("robbery",))
    assert empty["robbery"].shape == (4, 7) and empty["robbery"].sum() == 0


def test_count_matrix_refuses_events_outside_the_panel() -> None:
    outside_cell = _events([(0, "2024-01-02", "burglary")])
    outside_cell["h3_int"] = np.array([h3.str_to_int(h3.grid_ring(ORIGIN, 3)[0])], np.uint64)
    with pytest.raises(ValueError, match="1 outside the 7 study cells"):
        count_matrix(outside_cell, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary",))
    late = _events([(0, "2024-01-29 00:00:00", "burglary"), (0, "2024-01-02", "burglary")])
    with pytest.raises(ValueError, match="1 outside the weeks"):
        count_matrix(late, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary",))
    early = _events([(0, "2023-12-31 23:59:59", "burglary")])
    with pytest.raises(ValueError, match="fall outside the panel"):
        count_matrix(early, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary",))
    dropped = count_matrix(
        late, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary",), outside="drop"
    )
    assert dropped["burglary"].sum() == 1


def test_count_matrix_refuses_bad_inputs() -> None:
    events = _events([(0, "2024-01-02", "burglary")])
    with pytest.raises(ValueError, match="Missing: crime_type"):
        count_matrix(
            events.drop(columns="crime_type"),
            cell_ids=CELLS,
            periods=WEEKS,
            crime_types=("burglary",),
        )
    with pytest.raises(ValueError, match="strictly ascending"):
        count_matrix(events, cell_ids=CELLS[::-1], periods=WEEKS, crime_types=("burglary",))
    with pytest.raises(ValueError, match="uint64"):
        count_matrix(
            events, cell_ids=CELLS.astype(np.int64), periods=WEEKS, crime_types=("burglary",)
        )
    with pytest.raises(ValueError, match="Mondays"):
        count_matrix(
            events,
            cell_ids=CELLS,
            periods=WEEKS + np.timedelta64(1, "D"),
            crime_types=("burglary",),
        )
    with pytest.raises(ValueError, match="consecutive"):
        count_matrix(events, cell_ids=CELLS, periods=WEEKS[[0, 2]], crime_types=("burglary",))
    with pytest.raises(ValueError, match="no repeats"):
        count_matrix(events, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary", "burglary"))
    bad_ids = events.assign(h3_int=events["h3_int"].astype(np.int64))
    with pytest.raises(ValueError, match=r"h3_int must be uint64"):
        count_matrix(bad_ids, cell_ids=CELLS, periods=WEEKS, crime_types=("burglary",))


TYPES = ("burglary", "robbery", "drugs")
SPAN_S = 4 * 7 * 24 * 3600  # the four weeks of WEEKS, in seconds


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, CELLS.size - 1),
            st.integers(0, SPAN_S - 1),
            st.sampled_from(TYPES),
        ),
        max_size=80,
    )
)
def test_count_matrix_preserves_totals(rows: list[tuple[int, int, str]]) -> None:
    start = WEEKS[0]
    events = pd.DataFrame(
        {
            "h3_int": np.array([CELLS[i] for i, _, _ in rows], dtype=np.uint64),
            "timestamp": np.array(
                [start + np.timedelta64(s, "s") for _, s, _ in rows], dtype="datetime64[ns]"
            ),
            "crime_type": [t for _, _, t in rows],
        }
    )
    got = count_matrix(events, cell_ids=CELLS, periods=WEEKS, crime_types=TYPES)
    for t in TYPES:
        assert int(got[t].sum()) == sum(1 for _, _, typ in rows if typ == t)
        # per cell and per week totals agree with a direct count
        for i in range(CELLS.size):
            assert int(got[t][:, i].sum()) == sum(1 for c, _, typ in rows if c == i and typ == t)
        for w in range(WEEKS.size):
            expected = sum(1 for _, s, typ in rows if typ == t and s // (7 * 86400) == w)
            assert int(got[t][w].sum()) == expected
