"""The forecast in the formats GIS users open: GeoPackage and GeoParquet.

Both hold the published table's columns and rows (``docs/forecast-dict.csv``), text made
spreadsheet-safe as in the CSV and the GeoJSON (:func:`models.forecast.spreadsheet_safe`), with
each cell's hexagon in EPSG:4326, its corners rounded to 7 decimals exactly as the GeoJSON writes
them. geopandas writes both files; a GeoPackage is a SQLite database whose ``gpkg_contents``
table records when it was last changed, so the writer pins that timestamp (GDAL's
``OGR_CURRENT_DATE``) to the start of the forecast period: the same forecast gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely

from models.forecast import spreadsheet_safe

#: the coordinate reference system of every published geometry (GeoJSON's, lon/lat)
FORECAST_CRS: Final[str] = "EPSG:4326"
#: the GeoPackage's one layer
GPKG_LAYER: Final[str] = "forecast"
#: decimals of the hexagons' corners, as in ``forecast.geojson`` (about 1 cm)
CORNER_DECIMALS: Final[int] = 7


def cell_hexagons(cells: pd.Series) -> npt.NDArray[np.object_]:
    """Each H3 cell's boundary as a closed shapely polygon, lon/lat, corners rounded to
    :data:`CORNER_DECIMALS` (the GeoJSON's rings, corner for corner).

    Pentagons have fewer corners and cells cut by an icosahedron edge more, so the rings are
    built from one flat array of corners and the ring of each corner.
    """
    # h3's string API has no vectorised boundary: a list of corners per cell, then numpy
    rings = [h3.cell_to_boundary(cell) for cell in cells.astype(str).to_list()]
    if not rings:
        return np.empty(0, dtype=object)
    counts = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    corners = np.asarray([pt for r in rings for pt in r], dtype=np.float64)
    corners = np.round(corners, CORNER_DECIMALS)
    ring_index = np.repeat(np.arange(len(rings)), counts)
    polygons: npt.NDArray[np.object_] = shapely.polygons(
        shapely.linearrings(corners[:, ::-1], indices=ring_index)
    )
    return polygons


def forecast_frame(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The published table as a GeoDataFrame of hexagons: the columns of ``table`` in order, text
    spreadsheet-safe, then ``geometry`` (EPSG:4326)."""
    if "h3_cell" not in table.columns:
        raise ValueError(
            f"The forecast table needs an 'h3_cell' column to draw its hexagons. "
            f"Got {list(table.columns)}."
        )
    safe = spreadsheet_safe(table).reset_index(drop=True)
    return gpd.GeoDataFrame(safe, geometry=cell_hexagons(table["h3_cell"]), crs=FORECAST_CRS)


@contextmanager
def _gdal_current_date(stamp: str) -> Iterator[None]:
    """GDAL's ``OGR_CURRENT_DATE`` set to ``stamp`` for the block, then put back."""
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def forecast_gpkg(frame: gpd.GeoDataFrame, *, period_start: dt.date) -> bytes:
    """The forecast as GeoPackage bytes: one layer, ``forecast``, of :func:`forecast_frame`.

    ``period_start`` (the forecast period's first day) is written as the layer's last change, in
    place of the clock's time, so that the same forecast gives byte-identical files.
    """
    stamp = f"{period_start:%Y-%m-%d}T00:00:00.000Z"
    with tempfile.TemporaryDirectory() as folder, _gdal_current_date(stamp):
        # GDAL writes a GeoPackage through SQLite, which needs a real file to page into
        path = Path(folder) / "forecast.gpkg"
        frame.to_file(path, driver="GPKG", layer=GPKG_LAYER, engine="pyogrio", index=False)
        return path.read_bytes()


def forecast_geoparquet(frame: gpd.GeoDataFrame) -> bytes:
    """The forecast as GeoParquet bytes (geometry as WKB, the ``geo`` metadata of GeoParquet
    1.0.0; no pandas index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, schema_version="1.0.0")
    return buffer.getvalue()
