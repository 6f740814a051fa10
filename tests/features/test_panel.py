"""Tests for features.panel: ISO week flooring, week ranges and the vectorised count matrix."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.panel import complete_weeks, count_matrix, week_floor, week_range

ORIGIN = h3.latlng_to_cell(51.5074, -0.1278, 9)
CELLS = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(ORIGIN, 1)), dtype=np.uint64)
WEEKS = week_range("2024-01-01", "2024-01-22")  # four Mondays


def _events(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """(cell position, timestamp, crime type) -> an event_cells frame."""
    return pd.DataFrame(
        {
            "h3_int": np.array([CELLS[i] for i, _, _ in rows], dtype=np.uint64),
            "timestamp": pd.to_datetime([ts for _, ts, _ in rows], format="ISO8601"),
            "crime_type": [t for _, _, t in rows],
        }
    )


def test_week_floor_boundaries() -> None:
    ts = pd.to_datetime(
        [
            "2024-01-08 00:00:00",  # Monday midnight: its own week
            "2024-01-07 23:59:59",  # Sunday night: the week before
            "2024-01-10 13:30:00",  # Wednesday
            "1969-12-31 12:00:00",  # before the epoch (a Wednesday)
        ]
    )
    got = week_floor(ts)
    expected = np.array(
        ["2024-01-08", "2024-01-01", "2024-01-08", "1969-12-29"], dtype="datetime64[ns]"
    )
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.dtype("datetime64[ns]")


def test_week_floor_refuses_nat_and_time_zones() -> None:
    with pytest.raises(ValueError, match="missing"):
        week_floor(np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"))
    aware = pd.Series(pd.to_datetime(["2024-01-01 10:00"]).tz_localize("Europe/London"))
    with pytest.raises(ValueError, match="naive local"):
        week_floor(aware)


def test_week_range_is_inclusive_and_floors() -> None:
    got = week_range("2024-01-03", "2024-01-21 23:00")
    expected = np.array(["2024-01-01", "2024-01-08", "2024-01-15"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="first <= last"):
        week_range("2024-02-01", "2024-01-01")


def test_complete_weeks() -> None:
    # Data ending on a Sunday complete that week; data ending on a Wednesday do not.
    sunday_end = pd.to_datetime(["2024-01-02 10:00", "2024-01-14 09:00"])
    np.testing.assert_array_equal(
        complete_weeks(sunday_end), np.array(["2024-01-01", "2024-01-08"], dtype="datetime64[ns]")
    )
    wednesday_end = pd.to_datetime(["2024-01-02 10:00", "2024-01-17 09:00"])
    np.testing.assert_array_equal(
        complete_weeks(wednesday_end),
        np.array(["2024-01-01", "2024-01-08"], dtype="datetime64[ns]"),
    )
    # An explicit end of coverage (exclusive) wins.
    np.testing.assert_array_equal(
        complete_weeks(wednesday_end, data_end="2024-01-22"),
        np.array(["2024-01-01", "2024-01-08", "2024-01-15"], dtype="datetime64[ns]"),
    )
    with pytest.raises(ValueError, match="no complete ISO week"):
        complete_weeks(pd.to_datetime(["2024-01-02", "2024-01-03"]))


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
    got = count_matrix(events, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary", "robbery"))
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


def test_count_matrix_categorical_types_and_empty() -> None:
    events = _events([(1, "2024-01-09", "robbery"), (1, "2024-01-09", "drugs")])
    events["crime_type"] = pd.Categorical(
        ["robbery", None], categories=["drugs", "robbery", "burglary"]
    )
    got = count_matrix(events, cell_ids=CELLS, weeks=WEEKS, crime_types=("robbery",))
    assert got["robbery"].sum() == 1 and got["robbery"][1, 1] == 1
    empty = count_matrix(events.iloc[:0], cell_ids=CELLS, weeks=WEEKS, crime_types=("robbery",))
    assert empty["robbery"].shape == (4, 7) and empty["robbery"].sum() == 0


def test_count_matrix_refuses_events_outside_the_panel() -> None:
    outside_cell = _events([(0, "2024-01-02", "burglary")])
    outside_cell["h3_int"] = np.array([h3.str_to_int(h3.grid_ring(ORIGIN, 3)[0])], np.uint64)
    with pytest.raises(ValueError, match="1 outside the 7 study cells"):
        count_matrix(outside_cell, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary",))
    late = _events([(0, "2024-01-29 00:00:00", "burglary"), (0, "2024-01-02", "burglary")])
    with pytest.raises(ValueError, match="1 outside the weeks"):
        count_matrix(late, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary",))
    early = _events([(0, "2023-12-31 23:59:59", "burglary")])
    with pytest.raises(ValueError, match="fall outside the panel"):
        count_matrix(early, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary",))
    dropped = count_matrix(
        late, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary",), outside="drop"
    )
    assert dropped["burglary"].sum() == 1


def test_count_matrix_refuses_bad_inputs() -> None:
    events = _events([(0, "2024-01-02", "burglary")])
    with pytest.raises(ValueError, match="Missing: crime_type"):
        count_matrix(
            events.drop(columns="crime_type"),
            cell_ids=CELLS,
            weeks=WEEKS,
            crime_types=("burglary",),
        )
    with pytest.raises(ValueError, match="strictly ascending"):
        count_matrix(events, cell_ids=CELLS[::-1], weeks=WEEKS, crime_types=("burglary",))
    with pytest.raises(ValueError, match="uint64"):
        count_matrix(
            events, cell_ids=CELLS.astype(np.int64), weeks=WEEKS, crime_types=("burglary",)
        )
    with pytest.raises(ValueError, match="Mondays"):
        count_matrix(
            events, cell_ids=CELLS, weeks=WEEKS + np.timedelta64(1, "D"), crime_types=("burglary",)
        )
    with pytest.raises(ValueError, match="consecutive"):
        count_matrix(events, cell_ids=CELLS, weeks=WEEKS[[0, 2]], crime_types=("burglary",))
    with pytest.raises(ValueError, match="no repeats"):
        count_matrix(events, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary", "burglary"))
    bad_ids = events.assign(h3_int=events["h3_int"].astype(np.int64))
    with pytest.raises(ValueError, match=r"h3_int must be uint64"):
        count_matrix(bad_ids, cell_ids=CELLS, weeks=WEEKS, crime_types=("burglary",))


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
    got = count_matrix(events, cell_ids=CELLS, weeks=WEEKS, crime_types=TYPES)
    for t in TYPES:
        assert int(got[t].sum()) == sum(1 for _, _, typ in rows if typ == t)
        # per cell and per week totals agree with a direct count
        for i in range(CELLS.size):
            assert int(got[t][:, i].sum()) == sum(1 for c, _, typ in rows if c == i and typ == t)
        for w in range(WEEKS.size):
            expected = sum(1 for _, s, typ in rows if typ == t and s // (7 * 86400) == w)
            assert int(got[t][w].sum()) == expected
