"""The row judge: every row accepted or quarantined with its reason, and the counts add up."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from features.ingest.validation import QUARANTINE_REASONS, make_quarantine, validate_events

AS_OF = pd.Timestamp("2024-12-31 23:59:59")


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_code": ["A1", "A2"], "residents": [1000, 1200]},
        geometry=[shapely.box(-0.2, 51.4, -0.1, 51.5), shapely.box(-0.1, 51.4, 0.0, 51.5)],
        crs="EPSG:4326",
    )


def raw_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "source_row", np.arange(1, len(frame) + 1))
    frame.insert(0, "source_file", "toy.csv")
    return frame


GOOD = {
    "event_id": "e1",
    "timestamp": "2024-03-04 10:00",
    "crime_type": "Burglary",
    "latitude": "51.45",
    "longitude": "-0.15",
}


def test_each_reason_on_a_handmade_file(areas: gpd.GeoDataFrame) -> None:
    rows = [
        GOOD,
        {**GOOD, "event_id": "e2", "latitude": None},
        {**GOOD, "event_id": "e3", "latitude": "951.2"},
        {**GOOD, "event_id": "e4", "latitude": "0", "longitude": "0"},
        {**GOOD, "event_id": "e5", "timestamp": "31/31/2024"},
        {**GOOD, "event_id": "e6", "timestamp": "2031-01-01 00:00"},
        {**GOOD, "event_id": "e7", "crime_type": "Jaywalking"},
        {**GOOD, "event_id": "e8", "latitude": "52.9"},
        {**GOOD, "event_id": "e1"},
        {**GOOD, "event_id": None, "crime_type": "anti-social-behaviour"},
        {
            **GOOD,
            "event_id": "e9",
            "crime_type": "Violence and sexual offences",
            "longitude": "-0.05",
        },
    ]
    result = validate_events(raw_frame(rows), areas=areas, as_of=AS_OF)
    q = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert q == {
        2: "missing_coordinates",
        3: "invalid_coordinates",
        4: "invalid_coordinates",
        5: "unparseable_date",
        6: "future_date",
        7: "unknown_category",
        8: "outside_study_area",
        9: "duplicate_id",
    }
    acc = result.accepted.set_index("event_id")
    assert list(acc.index) == ["e1", "e9", "~row:toy.csv:10"]  # by timestamp, then id
    assert acc.loc["~row:toy.csv:10", "crime_type"] == "anti_social_behaviour"
    assert acc.loc["e9", "crime_type"] == "violence_sexual"
    assert acc.loc["e9", "area_code"] == "A2"
    assert acc.loc["e1", "area_code"] == "A1"
    assert "951.2" in result.quarantine.loc[1, "detail"]
    assert set(result.quarantine["reason"]) <= set(QUARANTINE_REASONS)
    # each quarantined row keeps its time where it parsed (the refresh counts the quarantine as
    # of its fit point by it); only the unparseable date has none
    times = result.quarantine.set_index("source_row")["timestamp"]
    assert times.dtype == "datetime64[ns]"
    assert times.isna().to_dict() == {row: row == 5 for row in q}
    assert times[6] == pd.Timestamp("2031-01-01 00:00")
    assert (times.drop([5, 6]) == pd.Timestamp("2024-03-04 10:00")).all()


def test_missing_column_is_a_clear_error(areas: gpd.GeoDataFrame) -> None:
    raw = raw_frame([GOOD]).drop(columns=["latitude"])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['latitude'\]"):
        validate_events(raw, areas=areas, as_of=AS_OF)


text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["51.45", "-0.15", "0", "nan"]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "event_id": st.one_of(st.none(), st.sampled_from(["a", "b", "c", ""])),
                "timestamp": st.one_of(
                    text, st.sampled_from(["2024-01-01 00:00", "2024-06-30 23:59"])
                ),
                "crime_type": st.one_of(text, st.sampled_from(["Burglary", "drugs", "robbery"])),
                "latitude": st.one_of(text, st.floats(allow_nan=True, allow_infinity=True)),
                "longitude": st.one_of(text, st.floats(allow_nan=True, allow_infinity=True)),
            }
        ),
        max_size=25,
    )
)
def test_malformed_rows_never_crash_and_are_all_accounted_for(
    rows: list[dict[str, object]],
) -> None:
    areas = gpd.GeoDataFrame(
        {"area_code": ["A1"], "residents": [1]},
        geometry=[shapely.box(-0.2, 51.4, 0.0, 51.5)],
        crs="EPSG:4326",
    )
    raw = raw_frame(rows) if rows else raw_frame([GOOD]).iloc[:0]
    result = validate_events(raw, areas=areas, as_of=AS_OF)
    assert len(result.accepted) + len(result.quarantine) == len(raw)
    assert result.accepted["event_id"].is_unique
    assert set(result.quarantine["reason"]) <= set(QUARANTINE_REASONS)


# --- the study period's start --------------------------------------------------------------------


def test_a_real_id_never_equals_a_row_without_one() -> None:
    # Row 1 has no id, so it is known by its file and row; row 2's real id spells the same.
    rows: list[dict[str, object]] = [
        {**GOOD, "event_id": None},
        {**GOOD, "event_id": "toy.csv:1"},
        {**GOOD, "event_id": "~row:toy.csv:1"},  # a real id in the row ids' own spelling
        {**GOOD, "event_id": "~row:toy.csv:1"},  # ... which repeats: a duplicate
    ]
    result = validate_events(raw_frame(rows), areas=None, as_of=AS_OF)
    assert result.quarantine[["source_row", "reason"]].values.tolist() == [[4, "duplicate_id"]]
    assert sorted(result.accepted["event_id"]) == ["toy.csv:1", "~row:toy.csv:1", "~~row:toy.csv:1"]
    assert "event id ~~row:toy.csv:1 was seen earlier" in result.quarantine.loc[0, "detail"]


EVENT_ID = st.one_of(
    st.none(), st.just(""), st.sampled_from(["toy.csv:1", "toy.csv:2", "~row:toy.csv:1", "~x"])
)


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(EVENT_ID, min_size=1, max_size=8))
def test_property_duplicates_are_only_repeated_real_ids(ids: list[str | None]) -> None:
    result = validate_events(
        raw_frame([{**GOOD, "event_id": i} for i in ids]), areas=None, as_of=AS_OF
    )
    real = [i for i in ids if i]  # blank or null: no id, never a duplicate
    assert len(result.quarantine) == len(real) - len(set(real))
    assert set(result.quarantine["reason"]) <= {"duplicate_id"}
    assert result.accepted["event_id"].is_unique


def test_rows_before_the_study_period_are_quarantined() -> None:
    start = pd.Timestamp("2024-01-01")
    rows = [
        {**GOOD, "event_id": "old", "timestamp": "1990-06-01 12:00"},
        {**GOOD, "event_id": "edge", "timestamp": "2024-01-01 00:00"},  # on the start: kept
        {**GOOD, "event_id": "late", "timestamp": "2023-12-31 23:59"},
        {**GOOD, "event_id": "future", "timestamp": "2031-01-01 00:00"},
        {**GOOD, "event_id": "bad", "timestamp": "1990-13-01 00:00"},
    ]
    result = validate_events(raw_frame(rows), areas=None, as_of=AS_OF, not_before=start)
    q = result.quarantine.set_index("source_row")
    assert q["reason"].to_dict() == {
        1: "before_start",
        3: "before_start",
        4: "future_date",
        5: "unparseable_date",
    }
    assert q.loc[1, "detail"] == (
        "timestamp 1990-06-01 12:00 is before the study period starts (2024-01-01 00:00)"
    )
    assert result.accepted["event_id"].tolist() == ["edge"]
    assert QUARANTINE_REASONS["before_start"] == "occurred before the study period starts"
    kept_all = validate_events(raw_frame(rows), areas=None, as_of=AS_OF)
    assert "before_start" not in set(kept_all.quarantine["reason"])


def test_study_period_cannot_start_after_the_as_of_date() -> None:
    with pytest.raises(ValueError, match=r"not_before \(2025-01-01 00:00:00\) must not be after"):
        validate_events(
            raw_frame([GOOD]), areas=None, as_of=AS_OF, not_before=pd.Timestamp("2025-01-01")
        )


# --- time zones: UTC offsets become local wall-clock time ----------------------------------------


def test_offsets_become_wall_clock_time_across_the_dst_changes() -> None:
    # Chicago: clocks went forward at 02:00 on 2019-03-10 and back at 02:00 on 2019-11-03.
    stamps = {
        "a": ("2019-03-10T07:30:00Z", "2019-03-10 01:30"),  # CST, UTC-6
        "b": ("2019-03-10T08:30:00Z", "2019-03-10 03:30"),  # CDT, UTC-5: 02:30 never happened
        "c": ("2019-11-03T06:30:00Z", "2019-11-03 01:30"),  # CDT
        "d": ("2019-11-03T07:30:00Z", "2019-11-03 01:30"),  # CST: the repeated hour
        "e": ("2019-03-10 09:30:00+01:00", "2019-03-10 03:30"),  # 08:30 UTC, as b
        "f": ("2019-07-01T12:00:00-05:00", "2019-07-01 12:00"),  # already Chicago summer time
        "g": ("2019-03-10 02:30", "2019-03-10 02:30"),  # naive: taken as local, left alone
    }
    rows = [{**GOOD, "event_id": k, "timestamp": text} for k, (text, _) in stamps.items()]
    result = validate_events(raw_frame(rows), areas=None, as_of=AS_OF, time_zone="America/Chicago")
    assert result.quarantine.empty
    got = result.accepted.set_index("event_id")["timestamp"]
    assert got.dtype == np.dtype("datetime64[ns]")
    assert {k: got[k] for k in stamps} == {k: pd.Timestamp(v) for k, (_, v) in stamps.items()}


def test_offsets_with_a_strptime_format_and_aware_datetimes() -> None:
    rows = [
        {**GOOD, "event_id": "a", "timestamp": "10/03/2019 07:30 +0000"},
        {**GOOD, "event_id": "b", "timestamp": "10/03/2019 08:30 Z"},
        {**GOOD, "event_id": "c", "timestamp": "10/03/2019 08:30"},  # no offset: not the format
    ]
    result = validate_events(
        raw_frame(rows),
        areas=None,
        as_of=AS_OF,
        time_format="%d/%m/%Y %H:%M %z",
        time_zone="America/Chicago",
    )
    got = result.accepted.set_index("event_id")["timestamp"].to_dict()
    assert got == {"a": pd.Timestamp("2019-03-10 01:30"), "b": pd.Timestamp("2019-03-10 03:30")}
    assert result.quarantine["reason"].tolist() == ["unparseable_date"]
    aware = raw_frame([GOOD]).assign(
        timestamp=pd.Series(pd.to_datetime(["2019-03-10 08:30"]).tz_localize("UTC"))
    )
    local = validate_events(aware, areas=None, as_of=AS_OF, time_zone="America/Chicago")
    assert local.accepted["timestamp"].tolist() == [pd.Timestamp("2019-03-10 03:30")]


def test_offsets_without_a_time_zone_are_refused() -> None:
    rows = [GOOD, {**GOOD, "event_id": "z", "timestamp": "2024-03-04T10:00:00Z"}]
    with pytest.raises(ValueError, match=r"'2024-03-04T10:00:00Z' carries a UTC offset but no"):
        validate_events(raw_frame(rows), areas=None, as_of=AS_OF)
    aware = raw_frame([GOOD]).assign(
        timestamp=pd.Series(pd.to_datetime(["2024-03-04 10:00"]).tz_localize("UTC"))
    )
    with pytest.raises(ValueError, match="naive local times"):
        validate_events(aware, areas=None, as_of=AS_OF)


def test_naive_timestamps_are_unchanged_by_a_time_zone() -> None:
    rows = [
        {**GOOD, "event_id": str(i), "timestamp": t}
        for i, t in enumerate(["2024-03-31 01:30", "2024-10-27 01:30"])
    ]
    plain = validate_events(raw_frame(rows), areas=None, as_of=AS_OF)
    zoned = validate_events(raw_frame(rows), areas=None, as_of=AS_OF, time_zone="Europe/London")
    pd.testing.assert_frame_equal(plain.accepted, zoned.accepted)


# --- the quarantine's raw JSON is what pandas writes ---------------------------------------------

JSON_CELL = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["a/b", '"q"', "back\\slash", "\x00", "é", "\u2028", "01/02/2019 10:00", ""]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(JSON_CELL, JSON_CELL), min_size=1, max_size=10))
def test_quarantine_raw_json_is_what_pandas_writes(rows: list[tuple[object, object]]) -> None:
    raw = raw_frame([{**GOOD, "event_id": a, "latitude": b} for a, b in rows])
    payload = raw.drop(columns=["source_file", "source_row"]).astype(str)
    expected = payload.to_json(orient="records", lines=True).splitlines()
    got = make_quarantine(raw, reason="duplicate_id", detail="d")["raw"].tolist()
    assert got == expected
