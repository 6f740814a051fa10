"""Row validation: every row accepted or quarantined with its reason, and the counts add up."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from features.events import (
    QUARANTINE_REASONS,
    detect_time_resolution,
    summarise_quality,
    validate_events,
)

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
    assert list(acc.index) == ["e1", "e9", "toy.csv:10"]  # by timestamp, then id
    assert acc.loc["toy.csv:10", "crime_type"] == "anti_social_behaviour"
    assert acc.loc["e9", "crime_type"] == "violence_sexual"
    assert acc.loc["e9", "area_code"] == "A2"
    assert acc.loc["e1", "area_code"] == "A1"
    assert "951.2" in result.quarantine.loc[1, "detail"]
    assert set(result.quarantine["reason"]) <= set(QUARANTINE_REASONS)


def test_quality_summary_adds_up(areas: gpd.GeoDataFrame) -> None:
    rows = [GOOD, {**GOOD, "event_id": "e2", "crime_type": "??"}]
    raw = raw_frame(rows)
    result = validate_events(raw, areas=areas, as_of=AS_OF)
    summary = summarise_quality(result, by_file_read=raw["source_file"].value_counts())
    assert summary["rows_read"] == 2
    assert summary["rows_accepted"] == 1
    assert summary["by_reason"] == {"unknown_category": 1}
    assert summary["by_source_file"]["toy.csv"]["quarantined"] == 1


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


def test_detect_time_resolution() -> None:
    def ts(*values: str) -> pd.Series:
        return pd.Series(pd.to_datetime(list(values), format="ISO8601"))

    # police.uk: every timestamp 00:00 on the 1st, across a year end and a leap February
    assert detect_time_resolution(ts("2023-12-01", "2024-01-01", "2024-02-01")) == "month"
    assert detect_time_resolution(ts("2024-01-01", "2024-02-29")) == "day"
    assert detect_time_resolution(ts("2024-01-01", "2024-01-01 00:00:01")) == "sub_day"
    assert detect_time_resolution(ts("2024-03-01 12:00")) == "sub_day"
    with pytest.raises(ValueError, match="at least one timestamp"):
        detect_time_resolution(ts())
