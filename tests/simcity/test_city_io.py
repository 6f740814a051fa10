"""Written files: the contract in docs/architecture.md, atomic writes, and byte determinism."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from simcity.generate import SimulatedCity, simulate_city
from simcity.io import EVENT_SCHEMA, read_city_areas, read_city_districts, read_events, write_city
from simcity.testing import tiny_city_config


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_written_files_follow_the_contract(tiny_city: SimulatedCity, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"  # parents are created
    write_city(tiny_city, out)
    assert set(_files(out)) == {
        "events.parquet",
        "areas.parquet",
        "districts.parquet",
        "places.csv",
        "truth/meta.json",
        "truth/episodes.parquet",
        "truth/episode_footprints.parquet",
        "truth/micro_cells.parquet",
        "truth/weekly_factors.parquet",
        "truth/history.parquet",
    }
    ev = read_events(out / "events.parquet")
    assert list(ev.columns) == EVENT_SCHEMA.names
    assert ev["timestamp"].dtype == "datetime64[ns]"
    assert pd.api.types.is_string_dtype(ev["crime_id"])
    assert pd.api.types.is_string_dtype(ev["crime_type"])
    assert ev["knife_enabled"].dtype == bool
    assert len(ev) == len(tiny_city.events)
    assert ev["last_outcome_category"][ev["crime_type"] == "Anti-social behaviour"].isna().all()
    areas = read_city_areas(out / "areas.parquet")
    assert isinstance(areas, gpd.GeoDataFrame) and areas.crs.to_epsg() == 4326
    assert list(areas.columns) == [
        "area_code", "area_name", "district_code", "district_name", "residents",
        "residents_minority", "residents_majority", "minority_share", "deprivation_score",
        "deprivation_decile", "geometry",
    ]  # fmt: skip
    assert areas["deprivation_decile"].between(1, 10).all()
    districts = read_city_districts(out / "districts.parquet")
    assert list(districts.columns) == ["district_code", "district_name", "geometry"]
    # Every event lies in the polygon of its small area.
    pts = gpd.GeoDataFrame(
        ev[["area_code"]], geometry=gpd.points_from_xy(ev["longitude"], ev["latitude"]), crs=4326
    ).iloc[::50]
    joined = gpd.sjoin(pts, areas[["area_code", "geometry"]], predicate="within")
    assert (joined["area_code_left"] == joined["area_code_right"]).mean() > 0.999
    assert not list(out.rglob("*.tmp"))


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    config = tiny_city_config(seed=3, n_weeks=20)
    write_city(simulate_city(config), tmp_path / "one")
    write_city(simulate_city(config), tmp_path / "two")
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert one.keys() == two.keys()
    for name in one:
        assert one[name] == two[name], name
    write_city(simulate_city(tiny_city_config(seed=4, n_weeks=20)), tmp_path / "three")
    three = _files(tmp_path / "three")
    for name in ("events.parquet", "areas.parquet", "truth/history.parquet"):
        assert three[name] != one[name], name


@pytest.mark.parametrize("seed", [3])
def test_rewriting_replaces_files_in_place(tmp_path: Path, seed: int) -> None:
    city = simulate_city(tiny_city_config(seed=seed, n_weeks=12))
    write_city(city, tmp_path)
    first = _files(tmp_path)
    write_city(city, tmp_path)
    assert _files(tmp_path) == first
