"""The areas contract: the one reader, attributes through a mapping, and locating points."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydantic
import pyogrio
import pytest
import shapely

from features.cells import build_cell_table, study_cells
from features.ingest.area_mapping import AreaMapping
from features.ingest.areas import (
    AREA_ATTRIBUTE_COLUMNS,
    empty_areas,
    load_area_attributes,
    read_areas,
)
from features.ingest.locate import locate_in_areas

# --- a toy areas folder: three 1 km squares in British National Grid -----------------------------


def squares(n: int, *, size_m: float = 1000.0) -> list[shapely.Polygon]:
    return [
        shapely.box(530_000 + i * size_m, 180_000, 530_000 + (i + 1) * size_m, 180_000 + size_m)
        for i in range(n)
    ]


def write_csv(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    data = text.lstrip("\n").encode(encoding)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)


@pytest.fixture
def toy_dir(tmp_path: Path) -> Path:
    gpd.GeoDataFrame(
        {
            "CODE": ["A1", "A2", "A3"],
            "NAME": ["Area one", "Area two", "Area three"],
            "BOROUGH": ["North", "North", "South"],
        },
        geometry=squares(3),
        crs="EPSG:27700",
    ).to_file(tmp_path / "bounds.gpkg", driver="GPKG")
    # Thousands separators, and a row (Z9) that no polygon has.
    write_csv(tmp_path / "pop.csv", 'code,Persons\nA1,"1,200"\nA2,800\nA3,"2,000"\nZ9,5\n')
    # latin-1, gzipped, with a pound sign in a header it does not read
    write_csv(
        tmp_path / "eth.csv.gz",
        "LSOA,Ethnic Group;White;2011,Ethnic Group;BAME;2011,Price (£)\n"
        "A1,900,100,1\nA2,600,200,2\nA3,1000,1000,3\n",
        encoding="latin-1",
    )
    # UTF-8 with a BOM, like MHCLG's files; a national ranking of 10 areas
    rows = "".join(f"Z{i},{i + 3},5\n" for i in range(7))
    write_csv(
        tmp_path / "imd.csv",
        "\ufeffcode,Rank,Decile\nA1,1,1\nA2,10,10\nA3,4,4\n" + rows,
    )
    return tmp_path


def toy_mapping(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "boundaries": "bounds.gpkg",
        "code_column": "CODE",
        "name_column": "NAME",
        "district_column": "BOROUGH",
        "tables": {
            "pop": {"path": "pop.csv", "key_column": "code"},
            "eth": {"path": "eth.csv.gz", "key_column": "LSOA", "encoding": "latin-1"},
            "imd": {"path": "imd.csv", "key_column": "code"},
        },
        "residents": {"table": "pop", "column": "Persons"},
        "minority": {"table": "eth", "column": "Ethnic Group;BAME;2011"},
        "majority": {"table": "eth", "column": "Ethnic Group;White;2011"},
        "minority_from_shares": True,
        "deprivation_decile": {"table": "imd", "column": "Decile"},
        "deprivation_score": {"table": "imd", "column": "Rank", "kind": "rank"},
    }
    base.update(changes)
    return base


def load(toy_dir: Path, **changes: Any) -> gpd.GeoDataFrame:
    return load_area_attributes(
        AreaMapping.model_validate(toy_mapping(**changes)), base_dir=toy_dir
    )


# --- read_areas: the one reader of the contract ---------------------------------------------------


def contract_areas(residents: list[float], *, crs: str | None = "EPSG:27700") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_code": [f"A{i}" for i in range(len(residents))], "residents": residents},
        geometry=squares(len(residents)),
        crs=crs,
    )


def test_read_areas_reads_prepared_files_in_wgs84(tmp_path: Path) -> None:
    contract_areas([10.0, 20.0]).to_parquet(tmp_path / "areas.parquet")
    contract_areas([30.0]).to_file(tmp_path / "areas.gpkg", driver="GPKG")
    back = read_areas(tmp_path / "areas.parquet")
    assert back.crs == "EPSG:4326" and back["residents"].tolist() == [10.0, 20.0]
    assert back.geometry.iloc[0].bounds[0] == pytest.approx(-0.13, abs=0.01)  # London, in degrees
    assert read_areas(tmp_path / "areas.gpkg")["area_code"].tolist() == ["A0"]


def test_read_areas_reads_the_study_areas_of_a_source_without_areas(tmp_path: Path) -> None:
    path = tmp_path / "areas.parquet"
    empty_areas().to_parquet(path)
    back = read_areas(path, allow_empty=True)
    assert back.empty and back.crs == "EPSG:4326"
    with pytest.raises(ValueError, match=r"areas\.parquet holds no area polygons"):
        read_areas(path)


def test_read_areas_refuses_files_outside_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "areas.parquet"
    with pytest.raises(FileNotFoundError, match=r"No area polygons at .*areas\.parquet"):
        read_areas(path)
    contract_areas([10.0]).rename(columns={"residents": "resident"}).to_parquet(path)
    with pytest.raises(
        ValueError, match=r"missing required column\(s\) \['residents'\].*closest: 'resident'"
    ):
        read_areas(path)
    contract_areas([10.0], crs=None).to_parquet(path)
    with pytest.raises(ValueError, match=r"areas\.parquet has no CRS"):
        read_areas(path)


# --- load_area_attributes -------------------------------------------------------------------------


def test_joins_tables_and_scales_group_shares_to_residents(toy_dir: Path) -> None:
    areas = load(toy_dir)
    assert tuple(areas.columns) == AREA_ATTRIBUTE_COLUMNS
    assert areas.crs == "EPSG:4326"
    assert list(areas["area_code"]) == ["A1", "A2", "A3"]
    assert list(areas["district_name"]) == ["North", "North", "South"]
    assert areas["residents"].tolist() == [1200.0, 800.0, 2000.0]
    # shares 100/1000, 200/800, 1000/2000 applied to the headcounts
    np.testing.assert_allclose(areas["minority_share"], [0.1, 0.25, 0.5])
    np.testing.assert_allclose(areas["residents_minority"], [120.0, 200.0, 1000.0])
    np.testing.assert_allclose(areas["residents_majority"], [1080.0, 600.0, 1000.0])
    assert areas["deprivation_decile"].dtype == np.int64
    assert areas["deprivation_decile"].tolist() == [1, 10, 4]
    # rank r of 10 -> 100 * (10 - r) / 9
    np.testing.assert_allclose(areas["deprivation_score"], [100.0, 0.0, 600 / 9])


def test_loaded_areas_feed_the_cell_table(toy_dir: Path) -> None:
    areas = load(toy_dir)
    table = build_cell_table(study_cells(areas, resolution=9), areas)
    assert table["residents"].sum() == pytest.approx(4000.0)
    assert table["res_minority"].sum() == pytest.approx(1320.0)
    assert table["res_dep_q1"].sum() == pytest.approx(1200.0)  # A1, decile 1
    assert set(table["district_name"]) <= {"North", "South", "outside areas"}


def test_group_counts_are_used_as_read_without_shares(toy_dir: Path) -> None:
    areas = load(toy_dir, minority_from_shares=False)
    assert areas["residents_minority"].tolist() == [100.0, 200.0, 1000.0]
    assert areas["residents_majority"].tolist() == [900.0, 600.0, 1000.0]
    np.testing.assert_allclose(areas["minority_share"], [0.1, 0.25, 0.5])


def test_rank_count_sets_the_percentile_scale(toy_dir: Path) -> None:
    score = {"table": "imd", "column": "Rank", "kind": "rank", "rank_count": 101}
    areas = load(toy_dir, deprivation_score=score)
    np.testing.assert_allclose(areas["deprivation_score"], [100.0, 91.0, 97.0])


def test_optional_attributes_stay_out_when_unmapped(toy_dir: Path) -> None:
    mapping = toy_mapping(name_column=None, minority_from_shares=False)
    for key in ("minority", "majority", "deprivation_decile", "deprivation_score"):
        mapping[key] = None
    areas = load_area_attributes(AreaMapping.model_validate(mapping), base_dir=toy_dir)
    assert list(areas.columns) == ["area_code", "district_name", "residents", "geometry"]


def test_attributes_can_come_from_the_boundaries_file(tmp_path: Path) -> None:
    gpd.GeoDataFrame(
        {
            "area_code": ["X1", "X2"],
            "district_name": ["D", "D"],
            "residents": [1500, 500],
            "residents_minority": [300, 100],
            "residents_majority": [1200, 400],
            "deprivation_decile": [2, 7],
            "deprivation_score": [35.5, 9.25],
        },
        geometry=squares(2),
        crs="EPSG:27700",
    ).to_parquet(tmp_path / "areas.parquet")
    own = {"table": "boundaries"}
    mapping = AreaMapping(
        boundaries="areas.parquet",
        code_column="area_code",
        district_column="district_name",
        residents={**own, "column": "residents"},
        minority={**own, "column": "residents_minority"},
        majority={**own, "column": "residents_majority"},
        deprivation_decile={**own, "column": "deprivation_decile"},
        deprivation_score={**own, "column": "deprivation_score"},
    )
    areas = load_area_attributes(mapping, base_dir=tmp_path)
    assert areas["residents_minority"].tolist() == [300.0, 100.0]
    assert areas["deprivation_score"].tolist() == [35.5, 9.25]
    assert areas["minority_share"].tolist() == [0.2, 0.2]


def test_spreadsheet_sheets_are_read_without_a_spreadsheet_library(toy_dir: Path) -> None:
    sheet = pd.DataFrame({"code": ["A1", "A2", "A3"], "IMD Score": [41.5, 3.25, 20.0]})
    pyogrio.write_dataframe(sheet, toy_dir / "imd.xlsx", layer="IMD 2019", driver="XLSX")
    tables = {
        **toy_mapping()["tables"],
        "gla": {"path": "imd.xlsx", "key_column": "code", "sheet": "IMD 2019"},
    }
    areas = load(toy_dir, tables=tables, deprivation_score={"table": "gla", "column": "IMD Score"})
    assert areas["deprivation_score"].tolist() == [41.5, 3.25, 20.0]
    tables["gla"] = {**tables["gla"], "sheet": "IMD 2015"}
    with pytest.raises(ValueError, match=r"cannot read sheet 'IMD 2015'.*sheets \['IMD 2019'\]"):
        load(toy_dir, tables=tables, deprivation_score={"table": "gla", "column": "IMD Score"})


def test_table_rows_without_polygons_are_logged(
    toy_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="features.ingest.areas"):
        load(toy_dir)
    assert "pop.csv: 1 of 4 rows match no polygon in bounds.gpkg" in caplog.text
    assert "imd.csv: 7 of 10 rows match no polygon" in caplog.text


def test_polygon_without_attributes_is_an_error_naming_table_and_codes(toy_dir: Path) -> None:
    write_csv(toy_dir / "pop.csv", "code,Persons\nA1,1200\nA3,2000\n")
    with pytest.raises(
        ValueError,
        match=r"1 of 3 area polygons .* table 'pop' .*pop\.csv, key 'code'.* \['A2'\].*"
        r"unmatched_areas: drop",
    ):
        load(toy_dir)


def test_unmatched_polygons_can_be_dropped_with_a_warning(
    toy_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(toy_dir / "pop.csv", "code,Persons\nA1,1200\nA3,2000\n")
    with caplog.at_level(logging.WARNING, logger="features.ingest.areas"):
        areas = load(toy_dir, unmatched_areas="drop")
    assert list(areas["area_code"]) == ["A1", "A3"]
    np.testing.assert_allclose(areas["residents_minority"], [120.0, 1000.0])
    assert "Dropped from the study area" in caplog.text
    assert "['A2']" in caplog.text


@pytest.mark.parametrize(
    ("file", "text", "match"),
    [
        (
            "pop.csv",
            "code,Persons\nA1,1200\nA2,n/a\nA3,2000\n",
            r"pop\.csv: column 'Persons' "
            r"must hold numbers; data row 2 \(code 'A2'\) has 'n/a'",
        ),
        ("pop.csv", "code,Persons\nA1,1200\nA2,\nA3,2000\n", r"data row 2 \(code 'A2'\) has ''"),
        ("pop.csv", 'code,Persons\nA1,1200\nA2,"1,2"\nA3,2000\n', r"has '1,2'"),
        (
            "pop.csv",
            "code,Persons\nA1,1200\nA2,-5\nA3,2000\n",
            r"'Persons' must not be negative; "
            r"data row 2",
        ),
        (
            "pop.csv",
            "code,Persons\nA1,1200\nA1,800\nA3,2000\n",
            r"pop\.csv: key column 'code' "
            r"repeats 1 code\(s\), e\.g\. 'A1' in data rows \[1, 2\]",
        ),
        (
            "imd.csv",
            "code,Rank,Decile\nA1,1,1\nA2,10,11\nA3,4,4\n",
            r"imd\.csv: column 'Decile' "
            r"must hold integer deciles 1\.\.10.*data row 2 \(code 'A2'\) has '11'",
        ),
        ("imd.csv", "code,Rank,Decile\nA1,1,1\nA2,10,2.5\nA3,4,4\n", r"integer deciles.*'2\.5'"),
        (
            "imd.csv",
            "code,Rank,Decile\nA1,1,1\nA2,10,2\nA3,4,4\n",
            r"'Rank' must hold integer "
            r"ranks 1\.\.3 .*set 'rank_count'.*data row 2 \(code 'A2'\) has '10'",
        ),
        (
            "pop.csv",
            "code,Persons_All\nA1,1200\n",
            r"pop\.csv: missing table 'pop' column\(s\) "
            r"\['Persons'\].*Closest names: 'Persons' -> 'Persons_All'",
        ),
    ],
)
def test_bad_table_values_name_file_column_and_row(
    toy_dir: Path, file: str, text: str, match: str
) -> None:
    write_csv(toy_dir / file, text)
    with pytest.raises(ValueError, match=match):
        load(toy_dir)


def test_areas_with_residents_but_no_group_members_are_refused(toy_dir: Path) -> None:
    write_csv(
        toy_dir / "eth.csv.gz",
        "LSOA,Ethnic Group;White;2011,Ethnic Group;BAME;2011\nA1,900,100\nA2,0,0\nA3,1,1\n",
    )
    with pytest.raises(
        ValueError,
        match=r"'Ethnic Group;BAME;2011' and 'Ethnic Group;White;2011'"
        r" are both 0 in an area with residents.*data row 2 \(LSOA 'A2'\)",
    ):
        load(toy_dir)


def test_wrong_encoding_suggests_setting_it(toy_dir: Path) -> None:
    tables = toy_mapping()["tables"]
    tables["eth"] = {**tables["eth"], "encoding": "utf-8"}
    with pytest.raises(
        ValueError,
        match=r"eth\.csv\.gz: not utf-8 text.*set the table's "
        r"'encoding' \(e\.g\. 'latin-1'\)",
    ):
        load(toy_dir, tables=tables)


def test_missing_files_are_named(toy_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No area boundaries file at .*nope\.shp"):
        load(toy_dir, boundaries="nope.shp")
    tables = toy_mapping()["tables"]
    tables["pop"] = {**tables["pop"], "path": "pop2019.csv"}
    with pytest.raises(FileNotFoundError, match=r"No attribute table at .*pop2019\.csv"):
        load(toy_dir, tables=tables)
    with pytest.raises(FileNotFoundError, match=r"No areas folder at .*absent"):
        load_area_attributes(AreaMapping.model_validate(toy_mapping()), base_dir=toy_dir / "absent")


def test_boundaries_column_suggestion(toy_dir: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"bounds\.gpkg: missing boundaries column\(s\) "
        r"\['BOROUGHS'\].*'BOROUGHS' -> 'BOROUGH'",
    ):
        load(toy_dir, district_column="BOROUGHS")


def test_boundaries_codes_geometry_and_crs_are_checked(tmp_path: Path) -> None:
    def write(codes: list[str], geoms: list[Any], crs: str | None) -> None:
        frame = gpd.GeoDataFrame({"CODE": codes}, geometry=geoms, crs=crs)
        frame.to_parquet(tmp_path / "b.parquet")
        write_csv(tmp_path / "pop.csv", "code,Persons\nA1,1\nA2,2\n")

    mapping = AreaMapping(
        boundaries="b.parquet",
        code_column="CODE",
        tables={"pop": {"path": "pop.csv", "key_column": "code"}},
        residents={"table": "pop", "column": "Persons"},
    )
    write(["A1", "A1"], squares(2), "EPSG:27700")
    with pytest.raises(ValueError, match=r"repeats 1 code\(s\), e\.g\. \['A1'\].*dissolve"):
        load_area_attributes(mapping, base_dir=tmp_path)
    write(["A1", " "], squares(2), "EPSG:27700")
    with pytest.raises(ValueError, match=r"blank in 1 feature\(s\), first at feature 2"):
        load_area_attributes(mapping, base_dir=tmp_path)
    write(["A1", "A2"], [squares(1)[0], None], "EPSG:27700")
    with pytest.raises(ValueError, match=r"null or empty geometry, e\.g\. codes \['A2'\]"):
        load_area_attributes(mapping, base_dir=tmp_path)
    write(["A1", "A2"], squares(2), None)
    with pytest.raises(ValueError, match=r"b\.parquet has no CRS"):
        load_area_attributes(mapping, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"residents": {"table": "popn", "column": "Persons"}},
            r"'residents' reads table 'popn'"
            r", which 'tables' does not define.*Did you mean 'pop'\?",
        ),
        ({"residnets": {"table": "pop", "column": "Persons"}}, r"residnets\s+Extra inputs"),
        ({"majority": None}, r"'minority' and 'majority' go together"),
        ({"minority": None, "majority": None}, r"'minority_from_shares' is true but no"),
        ({"boundaries": "/data/areas.shp"}, r"relative to the areas folder.*'/data/areas\.shp'"),
        ({"tables": {"boundaries": {"path": "x.csv", "key_column": "k"}}}, r"reserved"),
        (
            {"tables": {"pop": {"path": "p.csv", "key_column": "k", "sheet": "S"}}},
            r"'sheet' \('S'\) applies only to spreadsheets",
        ),
        ({"tables": {"pop": {"path": "p.xlsx", "key_column": "k"}}}, r"needs a 'sheet'"),
        (
            {"tables": {"pop": {"path": "p.csv", "key_column": "k", "encoding": "latin-9x"}}},
            r"'encoding' must be a Python codec",
        ),
        (
            {"tables": {"pop": {"path": "p.csv", "key_column": "k", "thousands": "."}}},
            r"'thousands' must be one character",
        ),
        (
            {"deprivation_score": {"table": "imd", "column": "Score", "rank_count": 10}},
            r"'rank_count' \(10\) applies only to kind 'rank'",
        ),
        ({"unmatched_areas": "ignore"}, r"unmatched_areas"),
    ],
)
def test_mapping_is_validated(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=match):
        AreaMapping.model_validate(toy_mapping(**changes))


def test_mapping_is_frozen() -> None:
    mapping = AreaMapping.model_validate(toy_mapping())
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        mapping.code_column = "X"  # type: ignore[misc]


# --- real data ------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_london_lsoa_mapping_reads_the_real_files(london_areas: gpd.GeoDataFrame) -> None:
    areas = london_areas
    assert len(areas) == 4835
    assert areas["district_name"].nunique() == 33
    assert areas["residents"].sum() == 8_961_989  # ONS mid-2019, London
    share = areas["residents_minority"].sum() / areas["residents"].sum()
    assert share == pytest.approx(0.4043, abs=5e-4)  # 2011 BAME shares on mid-2019 headcounts
    np.testing.assert_allclose(
        areas["residents_minority"] + areas["residents_majority"], areas["residents"]
    )
    deciles = areas["deprivation_decile"].value_counts().sort_index()
    assert deciles.to_dict() == {
        1: 107, 2: 688, 3: 811, 4: 661, 5: 559, 6: 532, 7: 438, 8: 413, 9: 407, 10: 219
    }  # fmt: skip
    assert areas["deprivation_score"].between(0, 100).all()
    # the score follows the decile: national deciles are bands of the same rank
    means = areas.groupby("deprivation_decile")["deprivation_score"].mean()
    assert means.is_monotonic_decreasing


# --- area lookup: the first polygon by code, edges inside ----------------------------------------


def grid_areas(n: int) -> gpd.GeoDataFrame:
    """``n`` x ``n`` unit squares from (0, 0), coded so that code order is not position order."""
    boxes = [shapely.box(i, j, i + 1, j + 1) for i in range(n) for j in range(n)]
    codes = [f"Z{(7 * k) % (n * n):03d}" for k in range(n * n)]
    return gpd.GeoDataFrame({"area_code": codes}, geometry=boxes, crs="EPSG:4326")


def sjoin_reference(lat: np.ndarray, lon: np.ndarray, areas: gpd.GeoDataFrame) -> list[object]:
    points = gpd.GeoDataFrame(
        {"pt": np.arange(len(lat))}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"
    )
    joined = gpd.sjoin(points, areas[["area_code", "geometry"]], how="left", predicate="intersects")
    joined = joined.sort_values(["pt", "area_code"], kind="mergesort").drop_duplicates("pt")
    return [None if pd.isna(c) else c for c in joined.sort_values("pt")["area_code"]]


# 9 polygons are scanned whole; 36 and 144 through the points' bucket grid
@pytest.mark.parametrize("n", [3, 6, 12])
def test_locate_in_areas_matches_a_spatial_join(n: int) -> None:
    rng = np.random.default_rng(n)
    lat = np.concatenate([rng.uniform(-0.5, n + 0.5, 300), rng.integers(0, n + 1, 50)])
    lon = np.concatenate([rng.uniform(-0.5, n + 0.5, 300), rng.integers(0, n + 1, 50)])
    lat[:3] = [np.nan, 1.0, 1.0]  # a missing point, a corner shared by four squares
    lon[:3] = [0.5, 1.0, 1.0]
    areas = grid_areas(n)
    got = locate_in_areas(lat, lon, areas=areas)
    expected = sjoin_reference(lat, lon, areas)
    assert [None if pd.isna(c) else c for c in got] == expected
    assert pd.isna(got[0])
    assert got[1] == min(areas.loc[areas.intersects(shapely.Point(1, 1)), "area_code"])


@pytest.mark.parametrize("degenerate", ["one_longitude", "one_point", "all_missing"])
def test_locate_in_areas_on_points_without_extent(degenerate: str) -> None:
    """The bucket grid spans the points' extent: one line of points, one point or none at all."""
    areas = grid_areas(6)
    lat = np.linspace(-0.5, 6.5, 40)
    lon = {"one_longitude": 2.0, "one_point": 2.5, "all_missing": np.nan}[degenerate] + 0 * lat
    if degenerate == "one_point":
        lat = 0 * lat + 3.5
    got = locate_in_areas(lat, lon, areas=areas)
    assert [None if pd.isna(c) else c for c in got] == sjoin_reference(lat, lon, areas)
