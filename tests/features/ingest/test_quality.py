"""The data-quality summary: counts that add up, typed as the file the ingest stage writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.quality import DataQuality, NoAreas, StudyAreas
from features.ingest.area_groups import describe_prepared_groups
from features.ingest.quality import (
    NO_AREAS_NOTE,
    detect_time_resolution,
    summarise_areas,
    summarise_quality,
)
from features.ingest.validation import validate_events

AS_OF = pd.Timestamp("2024-12-31 23:59:59")
GOOD = {
    "event_id": "e1",
    "timestamp": "2024-03-04 10:00",
    "crime_type": "Burglary",
    "latitude": "51.45",
    "longitude": "-0.15",
}


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_code": ["A1", "A2"],
            "residents": [1000.0, 1200.0],
            "deprivation_decile": [1, 10],
        },
        geometry=[shapely.box(-0.2, 51.4, -0.1, 51.5), shapely.box(-0.1, 51.4, 0.0, 51.5)],
        crs="EPSG:4326",
    )


def raw_frame(rows: list[dict[str, object]], *, files: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "source_row", np.arange(1, len(frame) + 1))
    frame.insert(0, "source_file", files or ["toy.csv"] * len(frame))
    return frame


def summarise(raw: pd.DataFrame, areas: gpd.GeoDataFrame | None) -> DataQuality:
    result = validate_events(raw, areas=areas, as_of=AS_OF)
    return summarise_quality(
        result,
        by_file_read=raw["source_file"].value_counts(),
        source="mapped_csv",
        place="the study area",
        areas=summarise_areas(
            areas, kind="prepared", accepted_area_code=result.accepted["area_code"]
        ),
    )


def test_quality_summary_adds_up(areas: gpd.GeoDataFrame) -> None:
    rows = [
        GOOD,
        {**GOOD, "event_id": "e2", "crime_type": "??"},
        {**GOOD, "event_id": "e3", "timestamp": "2024-03-05 00:00"},
    ]
    quality = summarise(raw_frame(rows, files=["a.csv", "a.csv", "b.csv"]), areas)
    assert (quality.rows_read, quality.rows_accepted, quality.rows_quarantined) == (3, 2, 1)
    assert quality.by_reason == {"unknown_category": 1}
    assert quality.reason_meanings == {
        "unknown_category": "the crime category is not in the Beatwise taxonomy"
    }
    assert quality.by_source_file["a.csv"].model_dump() == {
        "read": 2,
        "accepted": 1,
        "quarantined": 1,
        "by_reason": {"unknown_category": 1},
    }
    assert quality.by_source_file["b.csv"].by_reason == {}
    assert quality.accepted_by_type == {"burglary": 2}
    assert (quality.date_min, quality.date_max) == ("2024-03-04 10:00", "2024-03-05 00:00")
    assert quality.time_resolution == "sub_day"
    assert quality.source == "mapped_csv"


def test_empty_files_are_listed_apart_and_an_older_file_still_reads(
    areas: gpd.GeoDataFrame,
) -> None:
    raw = raw_frame([GOOD], files=["a.csv"])
    result = validate_events(raw, areas=areas, as_of=AS_OF)
    quality = summarise_quality(
        result,
        by_file_read=raw["source_file"].value_counts(),
        source="police_uk_csv",
        place="the study area",
        areas=summarise_areas(
            areas, kind="prepared", accepted_area_code=result.accepted["area_code"]
        ),
        empty_files={"c.csv": "zero_bytes", "b.csv": "header_only"},
    )
    assert list(quality.to_json()["empty_files"].items()) == [
        ("b.csv", "header_only"),
        ("c.csv", "zero_bytes"),
    ]
    assert list(quality.by_source_file) == ["a.csv"]  # no rows to count there
    older = {k: v for k, v in quality.to_json().items() if k != "empty_files"}
    assert DataQuality.from_json(older).empty_files == {}
    with pytest.raises(ValueError, match=r"key 'empty_files\.c\.csv': Input should be"):
        DataQuality.from_json({**older, "empty_files": {"c.csv": "lost"}})


def test_a_summary_needs_an_accepted_row(areas: gpd.GeoDataFrame) -> None:
    rows = [{**GOOD, "crime_type": "??"}, {**GOOD, "event_id": "e2", "latitude": None}]
    with pytest.raises(
        ValueError,
        match=r"No row was accepted: all 2 rows read were quarantined \({'missing_coordinates': "
        r"1, 'unknown_category': 1}\)",
    ):
        summarise(raw_frame(rows), areas)


def test_the_study_area_summary(areas: gpd.GeoDataFrame) -> None:
    codes = pd.Series(["A1", "A2"], dtype="string")
    none = summarise_areas(None, kind="none", accepted_area_code=codes)
    assert none == NoAreas(kind="none", n_areas=0, residents=None, note=NO_AREAS_NOTE)
    prepared = summarise_areas(areas, kind="prepared", accepted_area_code=codes)
    assert prepared == StudyAreas(
        kind="prepared",
        n_areas=2,
        residents=2200.0,
        attributes=["deprivation_decile"],
        how_groups_made=describe_prepared_groups(["residents", "deprivation_decile"]),
    )
    # without a coverage filter the file has no 'coverage' key at all
    assert "coverage" not in prepared.model_dump(mode="json")


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


# --- the typed file: what the producer writes is what the definition reads -----------------------


@pytest.mark.parametrize("with_areas", [True, False])
def test_the_written_file_reads_back_and_rewrites_byte_for_byte(
    tmp_path: Path, areas: gpd.GeoDataFrame, with_areas: bool
) -> None:
    rows = [GOOD, {**GOOD, "event_id": "e2", "latitude": "52.9"}]
    quality = summarise(raw_frame(rows), areas if with_areas else None)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    quality.write(first)
    back = DataQuality.read(first)
    assert back == quality
    back.write(second)
    assert first.read_bytes() == second.read_bytes()
    keys = json.loads(first.read_text())["areas"]
    assert set(keys) == (
        {"kind", "n_areas", "residents", "attributes", "events_outside_polygons", "how_groups_made"}
        if with_areas
        else {"kind", "n_areas", "residents", "note"}
    )


def written(tmp_path: Path, areas: gpd.GeoDataFrame) -> dict[str, Any]:
    summarise(raw_frame([GOOD]), areas).write(tmp_path / "data_quality.json")
    return json.loads((tmp_path / "data_quality.json").read_text())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.pop("time_resolution"), r"key 'time_resolution': Field required"),
        (
            lambda d: d.update(time_resolution="hourly"),
            r"key 'time_resolution': Input should be 'month', 'day' or 'sub_day'\. Got 'hourly'",
        ),
        (lambda d: d.update(source="csv"), r"key 'source': Input should be 'synthetic'"),
        (lambda d: d.update(rows_read=5), r"rows_accepted \(1\) \+ rows_quarantined \(0\) must"),
        (lambda d: d.update(by_reason={"duplicate_id": 2}), r"by_reason must sum to rows_q"),
        (
            lambda d: d["by_source_file"]["toy.csv"].update(read=3),
            r"by_source_file\['toy\.csv'\]: accepted \(1\) \+ quarantined \(0\) must equal read",
        ),
        (lambda d: d["areas"].update(kind="mapped", note="x"), r"key 'areas\.mapped\.note'"),
        (lambda d: d.update(rows_acepted=1), r"key 'rows_acepted': Extra inputs"),
    ],
)
def test_a_file_that_disagrees_with_the_definition_is_refused(
    tmp_path: Path, areas: gpd.GeoDataFrame, change: Any, match: str
) -> None:
    data = written(tmp_path, areas)
    change(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtefactError, match=rf"edited\.json(.|\n)*{match}"):
        DataQuality.read(path)
