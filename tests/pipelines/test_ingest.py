"""The ingest stage on hand-made sources: mapped CSV without areas, police.uk CSV and API, errors.

Every run's data-quality file is read back through its typed definition and must rewrite to the
same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import yaml

from beatwise.artefacts.quality import DataQuality
from features.ingest import AreasConfig, IngestConfig
from pipelines import ingest

# Two points in a toy "city" near the Gateway Arch (St. Louis), as lat/lon.
ROWS = [
    # id, time (UTC offset), crime, lat, lon, count
    ["1", "2019-03-09T12:00:00-06:00", "31111", "38.62", "-90.19", "1"],
    ["2", "2019-03-10T12:00:00-05:00", "51000", "38.63", "-90.20", "1"],
    ["2", "2019-03-10T12:00:00-05:00", "51000", "38.63", "-90.20", "1"],  # duplicate id
    ["3", "2014-12-31T23:00:00-06:00", "31111", "38.62", "-90.19", "1"],  # before start
    ["4", "2019-03-11T08:00:00-05:00", "115400", "38.62", "-90.19", "1"],  # unmapped code
    ["5", "2019-03-11T09:00:00-05:00", "31111", "0", "0", "1"],  # 0/0
]
MAPPING: dict[str, Any] = {
    "time_column": "When",
    "time_format": "%Y-%m-%dT%H:%M:%S%z",
    "time_zone": "America/Chicago",
    "latitude_column": "Lat",
    "longitude_column": "Lon",
    "category_column": "Crime",
    "category_transform": "ucr_group",
    "category_map": {3: "robbery", 5: "burglary"},
    "id_columns": ["Id"],
    "count_column": "Count",
}


def _params(tmp_path: Path, ingest_section: dict[str, Any]) -> Path:
    # The toy sources hold a bad row of each kind, far above any sensible quarantine bound; the
    # bound has its own tests (tests/features/ingest/test_quarantine_share.py).
    ingest_section = {"max_quarantine_share": None, **ingest_section}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"ingest": ingest_section}), encoding="utf-8")
    return path


def _run(tmp_path: Path, data_dir: Path, params: Path) -> dict[str, Any]:
    out = tmp_path / "out"
    argv = [
        "--data-dir",
        str(data_dir),
        "--out-events",
        str(out / "events.parquet"),
        "--out-quarantine",
        str(out / "quarantine.parquet"),
        "--out-areas",
        str(out / "areas.parquet"),
        "--out-quality",
        str(out / "quality.json"),
        "--out-truth",
        str(out / "truth"),
        "--params",
        str(params),
    ]
    assert ingest.main(argv) == 0
    written = out / "quality.json"
    DataQuality.read(written).write(out / "rewritten.json")
    assert (out / "rewritten.json").read_bytes() == written.read_bytes()
    assert (out / "truth").is_dir()  # the truth model, or a note saying why there is none
    return json.loads(written.read_text(encoding="utf-8"))


def test_mapped_csv_without_areas(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "src"
    (data / "raw" / "2019").mkdir(parents=True)
    with (data / "raw" / "2019" / "march2019.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "When", "Crime", "Lat", "Lon", "Count"])
        writer.writerows(ROWS)
    params = _params(
        tmp_path,
        {
            "source": "mapped_csv",
            "data_dir": str(data),
            "events": "raw",
            "pattern": "*/*.csv",
            "mapping": MAPPING,
            "areas": {"kind": "none", "path": None},
            "start": "2015-01-01",
            "as_of": "2019-12-31",
        },
    )
    with caplog.at_level(logging.WARNING, logger="beatwise.ingest"):
        quality = _run(tmp_path, data, params)
    # the folder was given as an absolute path: dvc.lock would record this machine's folder
    assert "is absolute, so dvc.lock records this machine's folder" in caplog.text
    assert quality["rows_read"] == 6
    assert quality["rows_accepted"] == 2
    assert quality["by_reason"] == {
        "before_start": 1,
        "duplicate_id": 1,
        "invalid_coordinates": 1,
        "unknown_category": 1,
    }
    assert quality["by_source_file"]["2019/march2019.csv"]["read"] == 6
    assert quality["time_resolution"] == "sub_day"
    assert quality["areas"]["kind"] == "none"
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    # Offsets become Chicago wall-clock times, across the DST change of 2019-03-10.
    assert sorted(events["timestamp"].astype(str)) == ["2019-03-09 12:00:00", "2019-03-10 12:00:00"]
    assert gpd.read_parquet(tmp_path / "out" / "areas.parquet").empty


def _api_record(crime_id: int, month: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "id": crime_id,
        "category": "burglary",
        "month": month,
        "location": {"latitude": str(lat), "longitude": str(lon)},
    }


def test_police_uk_api_archive_with_prepared_areas(tmp_path: Path) -> None:
    data = tmp_path / "src"
    data.mkdir()
    responses = {
        "2018_01/ward_a.json": [_api_record(1, "2018-01", 51.5, -0.1)],
        # ward_b overlaps ward_a: the same crime again, plus one outside every area
        "2018_01/ward_b.json": [
            _api_record(1, "2018-01", 51.5, -0.1),
            _api_record(2, "2018-02", 52.5, -0.1),
        ],
    }
    with tarfile.open(data / "api.tar.xz", "w:xz") as archive:
        for name, body in responses.items():
            blob = json.dumps(body).encode()
            info = tarfile.TarInfo(f"sample/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    areas = gpd.GeoDataFrame(
        {"area_code": ["A1"], "district_name": ["Toy"], "residents": [1500.0]},
        geometry=[shapely.box(-0.2, 51.4, 0.0, 51.6)],
        crs="EPSG:4326",
    )
    areas.to_parquet(data / "areas.parquet")
    params = _params(
        tmp_path,
        {"source": "police_uk_api", "data_dir": str(data), "events": "api.tar.xz"},
    )
    quality = _run(tmp_path, data, params)
    assert (quality["rows_read"], quality["rows_accepted"]) == (3, 1)
    assert quality["by_reason"] == {"duplicate_id": 1, "outside_study_area": 1}
    assert quality["time_resolution"] == "month"
    assert quality["areas"]["n_areas"] == 1


def test_police_uk_street_csv_with_prepared_areas(tmp_path: Path) -> None:
    data = tmp_path / "src"
    (data / "2018-01").mkdir(parents=True)
    header = ["Crime ID", "Month", "Longitude", "Latitude", "LSOA code", "Crime type"]
    rows = [
        ["c1", "2018-01", "-0.1", "51.5", "E01", "Burglary"],
        ["", "2018-01", "-0.1", "51.5", "E01", "Anti-social behaviour"],  # ASB: no id
        ["c3", "2018-01", "", "", "", "Robbery"],  # not geocoded
    ]
    with (data / "2018-01" / "2018-01-metropolitan-street.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    gpd.GeoDataFrame(
        {"area_code": ["E01"], "residents": [1500.0]},
        geometry=[shapely.box(-0.2, 51.4, 0.0, 51.6)],
        crs="EPSG:4326",
    ).to_parquet(data / "areas.parquet")
    params = _params(
        tmp_path,
        {"source": "police_uk_csv", "data_dir": str(data), "events": ".", "as_of": "2018-06-30"},
    )
    quality = _run(tmp_path, data, params)
    assert (quality["rows_read"], quality["rows_accepted"]) == (3, 2)
    assert quality["by_reason"] == {"missing_coordinates": 1}
    assert quality["source"] == "police_uk_csv"
    assert quality["time_resolution"] == "month"
    made = quality["areas"].pop("how_groups_made")
    assert [m["columns"] for m in made] == [["residents"]]  # read directly from the file
    assert quality["areas"] == {
        "kind": "prepared",
        "n_areas": 1,
        "residents": 1500.0,
        "attributes": [],
        "events_outside_polygons": 0,
    }


def test_empty_monthly_files_are_in_data_quality_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "src"
    header = ["Crime ID", "Month", "Longitude", "Latitude", "LSOA code", "Crime type"]
    for month, rows in [
        ("2018-01", [["c1", "2018-01", "-0.1", "51.5", "E01", "Burglary"]]),
        ("2018-02", []),  # a header alone
    ]:
        (data / month).mkdir(parents=True)
        with (data / month / f"{month}-metropolitan-street.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    (data / "2018-03").mkdir()
    (data / "2018-03" / "2018-03-metropolitan-street.csv").write_bytes(b"")  # interrupted
    gpd.GeoDataFrame(
        {"area_code": ["E01"], "residents": [1500.0]},
        geometry=[shapely.box(-0.2, 51.4, 0.0, 51.6)],
        crs="EPSG:4326",
    ).to_parquet(data / "areas.parquet")
    params = _params(
        tmp_path,
        {"source": "police_uk_csv", "data_dir": str(data), "events": ".", "as_of": "2018-06-30"},
    )
    with caplog.at_level(logging.WARNING):
        quality = _run(tmp_path, data, params)
    assert quality["empty_files"] == {
        "2018-02/2018-02-metropolitan-street.csv": "header_only",
        "2018-03/2018-03-metropolitan-street.csv": "zero_bytes",
    }
    assert list(quality["by_source_file"]) == ["2018-01/2018-01-metropolitan-street.csv"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith("2018-03/2018-03-metropolitan-street.csv holds no rows") for m in warned
    )


def test_a_folder_named_like_a_csv_in_a_mapped_source_is_named(tmp_path: Path) -> None:
    data = tmp_path / "src"
    (data / "raw" / "2019" / "april2019.csv").mkdir(parents=True)  # a folder, not a month
    with (data / "raw" / "2019" / "march2019.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["Id", "When", "Crime", "Lat", "Lon", "Count"], *ROWS])
    section = {
        "source": "mapped_csv",
        "data_dir": str(data),
        "events": "raw",
        "pattern": "*/*.csv",
        "mapping": MAPPING,
        "areas": {"kind": "none", "path": None},
    }
    with pytest.raises(ValueError, match=r"raw/2019/april2019\.csv is a folder, not a CSV file"):
        _run(tmp_path, data, _params(tmp_path, section))
    (data / "raw" / "2019" / "april2019.csv").rmdir()
    (data / "raw" / "events").symlink_to("events")  # the events path itself loops
    with pytest.raises(ValueError, match=r"raw/events is a symbolic link that loops back"):
        _run(tmp_path, data, _params(tmp_path, {**section, "events": "raw/events"}))


def test_missing_source_folder_and_inputs_are_clear_errors(tmp_path: Path) -> None:
    params = _params(tmp_path, {"source": "synthetic"})
    with pytest.raises(FileNotFoundError, match=r"does not exist; ingest\.data_dir must name"):
        _run(tmp_path, tmp_path / "nowhere", params)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No input at .*events.parquet"):
        _run(tmp_path, tmp_path / "empty", params)


def test_config_refuses_inconsistent_choices() -> None:
    with pytest.raises(ValueError, match=r"ingest\.mapping is required for source 'mapped_csv'"):
        IngestConfig(source="mapped_csv")
    with pytest.raises(ValueError, match=r"kind 'mapped' needs ingest\.areas\.mapping"):
        AreasConfig(kind="mapped", path=None)
    with pytest.raises(ValueError, match="needs areas with residents; kind is 'none'"):
        AreasConfig(kind="none", path=None, coverage_min_rate_ratio=0.2)


SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("preset", "read", "accepted", "districts"),
    [("st_louis", 246_291, 116_766, None), ("london_api", 1_922_589, 1_708_011, 25)],
)
def test_preset_ingest_on_the_real_samples(
    tmp_path: Path, preset: str, read: int, accepted: int, districts: int | None
) -> None:
    from beatwise.presets import REPO_ROOT, load_preset, overlay_params

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    base = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    section = overlay_params(base, load_preset(preset))["ingest"]
    data_dir = (REPO_ROOT / section["data_dir"]).resolve()
    section["data_dir"] = str(data_dir)
    quality = _run(tmp_path, data_dir, _params(tmp_path, section))
    assert quality["rows_read"] == read
    assert quality["rows_accepted"] == accepted
    assert quality["rows_accepted"] + quality["rows_quarantined"] == quality["rows_read"]
    # the London archive holds one zero-byte response (PROVENANCE.md); St. Louis none
    assert list(quality["empty_files"].values()) == ([] if districts is None else ["zero_bytes"])
    if districts is None:
        assert quality["areas"]["kind"] == "none"
        assert quality["time_resolution"] == "sub_day"
    else:
        coverage = quality["areas"]["coverage"]
        assert len(coverage["covered"]) == districts
        assert set(coverage["uncovered"]) == {
            "Bexley",
            "City of London",
            "Croydon",
            "Hackney",
            "Kensington and Chelsea",
            "Redbridge",
            "Southwark",
            "Tower Hamlets",
        }
        assert quality["time_resolution"] == "month"
