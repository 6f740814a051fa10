"""Study cells, the apportioning of area attributes to them, and the grid's resolution bounds."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pydantic
import pytest
import shapely

from beatwise.artefacts.cells import CellsMeta
from beatwise.h3index import MAX_RESOLUTION, MIN_RESOLUTION, index_points
from features.cells import (
    SOURCE_MAX_RESOLUTION,
    CellsConfig,
    apportion_areas,
    build_cell_table,
    build_cells,
    study_cells,
)
from features.ingest import empty_areas
from simcity.config import MICRO_RESOLUTION


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


def test_joint_groups_are_counted_from_areas_that_carry_both(areas: gpd.GeoDataFrame) -> None:
    cells = study_cells(areas, resolution=8)
    table = build_cell_table(cells, areas)
    # A2 (decile 1 -> q1) holds 2000 minority and 1000 majority residents; A1 (decile 9 -> q5)
    # 100 and 900: every resident of an area is in the area's own fifth
    assert table["res_minority_dep_q1"].sum() == pytest.approx(2000, rel=1e-6)
    assert table["res_majority_dep_q1"].sum() == pytest.approx(1000, rel=1e-6)
    assert table["res_minority_dep_q5"].sum() == pytest.approx(100, rel=1e-6)
    assert table["res_majority_dep_q5"].sum() == pytest.approx(900, rel=1e-6)
    assert table["res_minority_dep_q3"].sum() == 0
    for group in ("minority", "majority"):
        joint = table[[f"res_{group}_dep_q{q}" for q in range(1, 6)]].sum(axis=1)
        assert np.allclose(joint, table[f"res_{group}"])
    # every q1 resident lives in A2, two-thirds of whose residents are minority: exactly
    assert np.allclose(table["res_minority_dep_q1"], table["res_dep_q1"] * 2 / 3)
    # where a cell straddles both areas, the product of its shares (independence) is wrong
    straddle = table[(table["res_dep_q1"] > 1) & (table["res_dep_q5"] > 1)]
    assert len(straddle) > 0
    product = straddle["res_minority"] * straddle["res_dep_q1"] / straddle["residents"]
    assert (straddle["res_minority_dep_q1"] / product).max() > 1.1


def test_no_joint_groups_without_both_attributes(areas: gpd.GeoDataFrame) -> None:
    cells = study_cells(areas, resolution=8)
    for dropped in (["deprivation_decile"], ["residents_minority", "residents_majority"]):
        table = build_cell_table(cells, areas.drop(columns=dropped))
        assert not [c for c in table.columns if "_dep_q" in c and c.count("_") > 2], dropped


# --- the build_cells stage's call, and the resolution it may use ---------------------------------


def events_at(lat: list[float], lon: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"event_id": [f"e{i}" for i in range(len(lat))], "latitude": lat, "longitude": lon}
    )


def test_build_cells_indexes_events_and_records_the_grid(areas: gpd.GeoDataFrame) -> None:
    events = events_at([51.47, 51.60], [-0.17, -0.17])  # the second outside both areas
    result = build_cells(events, areas, config=CellsConfig(h3_resolution=8), source="synthetic")
    assert result.meta == CellsMeta(
        h3_resolution=8, n_cells=len(result.cells), study_area="areas_and_events"
    )
    assert (
        result.event_cells["h3_int"].tolist()
        == index_points(events["latitude"], events["longitude"], resolution=8).tolist()
    )
    assert set(result.event_cells["h3_int"]) <= set(result.cells["h3_int"])
    assert result.cells["residents"].sum() == pytest.approx(4000, rel=1e-6)


def test_without_areas_the_cells_are_those_with_events() -> None:
    events = events_at([51.47, 51.47, 51.60], [-0.17, -0.17, -0.17])
    result = build_cells(
        events, empty_areas(), config=CellsConfig(h3_resolution=9), source="mapped_csv"
    )
    assert result.meta == CellsMeta(h3_resolution=9, n_cells=2, study_area="events_only")
    assert (result.cells["residents"] == 0).all()
    assert set(result.cells["district_name"]) == {"unknown"}


def test_the_resolution_is_bounded_in_the_params_schema() -> None:
    assert CellsConfig().h3_resolution == 8
    for bad, word in ((MIN_RESOLUTION - 1, "greater"), (MAX_RESOLUTION + 1, "less")):
        with pytest.raises(
            pydantic.ValidationError, match=rf"h3_resolution\n  Input should be {word}"
        ):
            CellsConfig(h3_resolution=bad)


def test_the_synthetic_source_stops_at_its_truth_resolution(areas: gpd.GeoDataFrame) -> None:
    # the limit is the simulator's: its true risk sums micro-cells of this resolution
    assert SOURCE_MAX_RESOLUTION["synthetic"][0] == MICRO_RESOLUTION == 10
    fine = CellsConfig(h3_resolution=11)  # valid for real data
    fine.check_source("police_uk_api")
    CellsConfig(h3_resolution=10).check_source("synthetic")
    with pytest.raises(
        ValueError,
        match=r"^The 'cells\.h3_resolution' parameter of stage 'build_cells' must be at most 10 "
        r"for the synthetic source \(its true risk is defined up to resolution 10\)\. Got 11\.$",
    ):
        build_cells(events_at([51.47], [-0.17]), areas, config=fine, source="synthetic")


def test_cells_meta_reads_back_and_refuses_a_bad_resolution(tmp_path: Path) -> None:
    path = tmp_path / "cells_meta.json"
    CellsMeta(h3_resolution=9, n_cells=1502, study_area="events_only").write(path)
    assert path.read_text() == (
        '{\n  "h3_resolution": 9,\n  "n_cells": 1502,\n  "study_area": "events_only"\n}\n'
    )
    assert CellsMeta.read(path) == CellsMeta(
        h3_resolution=9, n_cells=1502, study_area="events_only"
    )
    path.write_text('{"h3_resolution": 16, "n_cells": 3, "study_area": "events_only"}')
    with pytest.raises(
        ValueError, match=r"cells_meta\.json: key 'h3_resolution': Input should be less"
    ):
        CellsMeta.read(path)
