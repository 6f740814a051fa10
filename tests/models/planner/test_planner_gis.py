"""GeoPackage and GeoParquet: the GeoJSON's columns, rows and hexagons, in EPSG:4326, read back by
geopandas; the same forecast gives the same bytes, in one process and across two."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from planner_city import WEEK

from models.forecast import forecast_geojson, spreadsheet_safe
from models.planner.gis import (
    GPKG_LAYER,
    forecast_frame,
    forecast_geoparquet,
    forecast_gpkg,
)

WRITE_BOTH = """
import sys
import pandas as pd
from models.planner.gis import forecast_frame, forecast_geoparquet, forecast_gpkg
table = pd.read_pickle(sys.argv[1])
frame = forecast_frame(table)
open(sys.argv[2], "wb").write(forecast_gpkg(frame, period_start=pd.Timestamp(sys.argv[4]).date()))
open(sys.argv[3], "wb").write(forecast_geoparquet(frame))
"""


def geojson_polygons(table: pd.DataFrame) -> list[shapely.Polygon]:
    """The hexagons of ``forecast.geojson``, as published."""
    features = json.loads(forecast_geojson(table))["features"]
    return [shapely.Polygon(f["geometry"]["coordinates"][0]) for f in features]


def read_back(data: bytes, path: Path) -> gpd.GeoDataFrame:
    path.write_bytes(data)
    return gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_the_file_reads_back_as_the_geojsons_columns_rows_and_hexagons(
    table: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    frame = forecast_frame(table)
    data = (
        forecast_gpkg(frame, period_start=WEEK) if suffix == ".gpkg" else forecast_geoparquet(frame)
    )
    back = read_back(data, tmp_path / f"forecast{suffix}")
    assert list(back.columns) == [*table.columns, "geometry"]
    assert back.crs is not None and back.crs.to_epsg() == 4326
    assert len(back) == len(table)
    assert back["flagged"].dtype == bool and back["flagged"].sum() == table["flagged"].sum()
    for column in table.columns:
        np.testing.assert_array_equal(back[column].to_numpy(), table[column].to_numpy(), column)
    hexagons = geojson_polygons(table)
    assert shapely.equals_exact(back.geometry.to_numpy(), hexagons, tolerance=0).all()
    assert (shapely.get_num_coordinates(back.geometry.to_numpy()) == 7).all()  # closed hexagons


def test_the_geopackage_is_one_layer_stamped_with_the_forecast_week(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "forecast.gpkg"
    path.write_bytes(forecast_gpkg(forecast_frame(table), period_start=WEEK))
    assert [name for name, _ in pyogrio.list_layers(path)] == [GPKG_LAYER]
    with sqlite3.connect(path) as db:
        (stamp,) = db.execute("SELECT last_change FROM gpkg_contents").fetchone()
    assert stamp == "2025-01-06T00:00:00.000Z"  # the forecast week, never the clock
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # put back after writing


def test_the_same_forecast_gives_the_same_bytes_in_one_process(table: pd.DataFrame) -> None:
    frame = forecast_frame(table)
    first = forecast_gpkg(frame, period_start=WEEK), forecast_geoparquet(frame)
    time.sleep(1.1)  # the GeoPackage's clock stamp, were it left in, would differ by now
    second = forecast_gpkg(forecast_frame(table), period_start=WEEK), forecast_geoparquet(frame)
    assert first == second
    other_week = forecast_gpkg(frame, period_start=WEEK.replace(day=13))
    assert other_week != first[0]  # the stamp is the week's: a test that can fail


def test_the_same_forecast_gives_the_same_bytes_across_processes(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    table.to_pickle(tmp_path / "table.pkl")
    written = []
    for run in ("a", "b"):
        gpkg, parquet = tmp_path / f"{run}.gpkg", tmp_path / f"{run}.parquet"
        subprocess.run(
            [
                sys.executable,
                "-c",
                WRITE_BOTH,
                str(tmp_path / "table.pkl"),
                gpkg,
                parquet,
                "2025-01-06",
            ],
            check=True,
            capture_output=True,
        )
        written.append((gpkg.read_bytes(), parquet.read_bytes()))
    assert written[0] == written[1]
    frame = forecast_frame(table)
    assert written[0] == (forecast_gpkg(frame, period_start=WEEK), forecast_geoparquet(frame))


def test_text_is_spreadsheet_safe_as_in_the_geojson(table: pd.DataFrame, tmp_path: Path) -> None:
    hostile = table.assign(district_name='=HYPERLINK("http://x")')
    back = read_back(forecast_geoparquet(forecast_frame(hostile)), tmp_path / "f.parquet")
    assert back["district_name"].eq('\'=HYPERLINK("http://x")').all()
    assert back["district_name"].tolist() == spreadsheet_safe(hostile)["district_name"].tolist()


def test_a_table_without_cells_is_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"needs an 'h3_cell' column .* Got \['risk_score'"):
        forecast_frame(table[["risk_score", "flagged"]])
