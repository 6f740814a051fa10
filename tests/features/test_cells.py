"""Study cells and the apportioning of area attributes to them."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely

from beatwise.h3index import index_points
from features.cells import apportion_areas, build_cell_table, study_cells


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    # Two ~3.5 km x 5.5 km boxes side by side in central London.
    return gpd.GeoDataFrame(
        {
            "area_code": ["A1", "A2"],
            "district_name": ["West", "East"],
            "residents": [1000, 3000],
            "residents_minority": [100, 2000],
            "residents_majority": [900, 1000],
            "minority_share": [0.1, 2 / 3],
            "deprivation_score": [10.0, 40.0],
            "deprivation_decile": [9, 1],
        },
        geometry=[shapely.box(-0.20, 51.45, -0.15, 51.50), shapely.box(-0.15, 51.45, -0.10, 51.50)],
        crs="EPSG:4326",
    )


def test_study_cells_cover_the_areas_and_include_event_cells(areas: gpd.GeoDataFrame) -> None:
    cells = study_cells(areas, resolution=8)
    assert np.all(np.diff(cells.astype(np.float64)) > 0)
    inside = index_points([51.47], [-0.17], resolution=8)
    assert inside[0] in set(cells.tolist())
    far = index_points([51.60], [-0.17], resolution=8)
    assert far[0] not in set(cells.tolist())
    with_far = study_cells(areas, resolution=8, event_cells=far)
    assert far[0] in set(with_far.tolist())
    assert len(with_far) == len(cells) + 1


def test_apportioning_conserves_residents(areas: gpd.GeoDataFrame) -> None:
    cells = study_cells(areas, resolution=8)
    out = apportion_areas(cells, areas, count_columns=["residents"], label_column="district_name")
    assert out["residents"].sum() == pytest.approx(4000, rel=1e-6)
    assert set(out["district_name"].dropna()) == {"West", "East"}


def test_cell_inside_one_area_gets_its_density(areas: gpd.GeoDataFrame) -> None:
    cell = index_points([51.475], [-0.125], resolution=9)  # well inside A2
    out = apportion_areas(cell, areas, count_columns=["residents"])
    a2 = areas.to_crs(areas.estimate_utm_crs()).geometry.area.iloc[1]
    hexagon = shapely.Polygon(
        [(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(cell[0])))]
    )
    hex_m2 = gpd.GeoSeries([hexagon], crs="EPSG:4326").to_crs(areas.estimate_utm_crs()).area.iloc[0]
    assert out["residents"].iloc[0] == pytest.approx(3000 * hex_m2 / a2, rel=1e-6)


def test_cell_table_groups(areas: gpd.GeoDataFrame) -> None:
    cells = study_cells(areas, resolution=8)
    table = build_cell_table(cells, areas)
    assert table["res_minority"].sum() == pytest.approx(2100, rel=1e-6)
    assert table["res_majority"].sum() == pytest.approx(1900, rel=1e-6)
    # decile 1 -> q1 (most deprived) holds A2's 3000, decile 9 -> q5 holds A1's 1000
    assert table["res_dep_q1"].sum() == pytest.approx(3000, rel=1e-6)
    assert table["res_dep_q5"].sum() == pytest.approx(1000, rel=1e-6)
    assert table["res_dep_q3"].sum() == 0
    assert list(table["h3_cell"]) == sorted(table["h3_cell"])
    populated = table[table["residents"] > 0]
    assert populated["minority_share"].between(0.1 - 1e-9, 2 / 3 + 1e-9).all()
    assert (table["area_km2"] > 0.5).all()
