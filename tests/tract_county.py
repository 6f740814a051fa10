"""A toy US county for the area-mapping tests: census tracts as 1 km squares in UTM 15N (St.
Louis), and the mapping a user writes for a table of population, percent minority and percent in
poverty (``docs/area-mapping.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from features.ingest.area_mapping import AreaMapping


def tract_boxes(n: int) -> list[shapely.Polygon]:
    """``n`` 1 km squares side by side in UTM 15N."""
    return [
        shapely.box(740_000 + i * 1000, 4_280_000, 741_000 + i * 1000, 4_281_000) for i in range(n)
    ]


def write_tracts(folder: Path, codes: list[Any], *, name: str = "tracts.shp") -> Path:
    """The tract polygons with a ``GEOID`` column of ``codes`` (floats make a numeric field)."""
    path = folder / name
    gpd.GeoDataFrame({"GEOID": codes}, geometry=tract_boxes(len(codes)), crs="EPSG:32615").to_file(
        path
    )
    return path


def tract_mapping(**changes: Any) -> AreaMapping:
    """The mapping of ``tracts.shp`` and ``tracts.csv`` (percentages), with ``changes`` on top."""
    base: dict[str, Any] = {
        "boundaries": "tracts.shp",
        "code_column": "GEOID",
        "tables": {"tracts": {"path": "tracts.csv", "key_column": "tract"}},
        "residents": {"table": "tracts", "column": "population"},
        "minority": {"table": "tracts", "column": "pct_minority", "kind": "percent"},
        "deprivation_decile": {
            "table": "tracts",
            "column": "pct_poverty",
            "kind": "score_quantiles",
            "description": "percent of residents in poverty",
        },
    }
    base.update(changes)
    return AreaMapping.model_validate(base)
