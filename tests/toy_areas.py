"""Study areas for the toy cells of the publish tests: two districts, split at the cells' middle
latitude, each one box (``data/interim/areas.parquet``'s contract, EPSG:4326)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

#: the districts, south then north
DISTRICTS = ("Southfield", "Northgate")


def toy_areas(cells: pd.DataFrame, *, margin: float = 0.01) -> gpd.GeoDataFrame:
    """Two areas covering ``cells`` (``lat``, ``lon``) with ``margin`` degrees to spare, one per
    district of :data:`DISTRICTS`, split at the cells' middle latitude."""
    west, east = cells["lon"].min() - margin, cells["lon"].max() + margin
    south, north = cells["lat"].min() - margin, cells["lat"].max() + margin
    middle = (south + north) / 2
    return gpd.GeoDataFrame(
        {
            "area_code": ["A1", "A2"],
            "area_name": ["South area", "North area"],
            "district_name": list(DISTRICTS),
            "residents": [100.0, 200.0],
        },
        geometry=[shapely.box(west, south, east, middle), shapely.box(west, middle, east, north)],
        crs="EPSG:4326",
    )


def write_toy_areas(cells: pd.DataFrame, path: Path) -> Path:
    """:func:`toy_areas` written as GeoParquet at ``path``; returns ``path``."""
    toy_areas(cells).to_parquet(path)
    return path
