"""Area attributes through a mapping, and the districts an event sample covers."""

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
import yaml

from features.areas import (
    AREA_ATTRIBUTE_COLUMNS,
    COVERAGE_COLUMNS,
    DEFAULT_MIN_RATE_RATIO,
    AreaMapping,
    covered_districts,
    districts_of_events,
    load_area_attributes,
    restrict_to_covered,
)
from features.cells import build_cell_table, study_cells
from features.events import locate_in_areas

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LONDON_AREAS = SHARED_DATA / "london-areas"
LONDON_EVENTS = (
    SHARED_DATA
    / "london-police-api-2016-2018"
    / "DERIVED_london_street_crimes_api_2016-01_2018-06.csv.gz"
)

#: The London LSOA preset, as it would sit under a params.yaml key; paths relative to the
#: london-areas folder. Score: IMD 2019 rank as a national deprivation percentile (File 1 has no
#: score column, nor has File 2; the GLA xlsx has scores).
LONDON_LSOA_MAPPING_YAML = """
boundaries: london-2011-lsoa-gen20.shp
code_column: LSOA11CD
name_column: LSOA11NM
district_column: LAD11NM
tables:
  population: {path: london-mid2019-pop.csv, key_column: LSOA11CD}
  ethnicity: {path: lsoa-data.csv, key_column: Lower Super Output Area, encoding: latin-1}
  imd:
    path: File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv.gz
    key_column: LSOA code (2011)
residents: {table: population, column: Persons_All-Ages}
minority: {table: ethnicity, column: "Ethnic Group;BAME;2011"}
majority: {table: ethnicity, column: "Ethnic Group;White;2011"}
minority_from_shares: true
deprivation_decile: {table: imd, column: Index of Multiple Deprivation (IMD) Decile}
deprivation_score:
  table: imd
  column: Index of Multiple Deprivation (IMD) Rank
  kind: rank
  rank_count: 32844
unmatched_areas: error
"""

UNCOVERED_LONDON = {
    "Bexley",
    "City of London",
    "Croydon",
    "Hackney",
    "Kensington and Chelsea",
    "Redbridge",
    "Southwark",
    "Tower Hamlets",
}

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
    with caplog.at_level(logging.INFO, logger="features.areas"):
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
    with caplog.at_level(logging.WARNING, logger="features.areas"):
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


# --- coverage -------------------------------------------------------------------------------------


def coverage_areas(residents: list[float], districts: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_code": [f"A{i}" for i in range(len(residents))],
            "district_name": districts,
            "residents": residents,
        },
        geometry=squares(len(residents)),
        crs="EPSG:27700",
    )


def events_in(counts: dict[str, int], *, outside: int = 0) -> pd.Series:
    names = np.repeat(list(counts), list(counts.values())).tolist() + [None] * outside
    return pd.Series(names, dtype="string")


def test_districts_below_a_share_of_the_median_rate_are_uncovered() -> None:
    areas = coverage_areas([1000.0] * 5, list("ABCDE"))
    # per 1,000 residents and per km²: 100, 80, 60, 5, 0 -> median 60
    result = covered_districts(
        events_in({"A": 100, "B": 80, "C": 60, "D": 5}, outside=3), areas, min_rate_ratio=0.2
    )
    assert result.covered == ("A", "B", "C")
    assert result.uncovered == ("D", "E")
    assert result.events_outside_areas == 3
    table = result.table.set_index("district_name")
    assert tuple(result.table.columns) == COVERAGE_COLUMNS
    assert table["events"].tolist() == [100, 80, 60, 5, 0]
    np.testing.assert_allclose(table["events_per_1k_residents"], [100, 80, 60, 5, 0])
    np.testing.assert_allclose(table["ratio_residents"], [5 / 3, 4 / 3, 1, 1 / 12, 0])
    # 1 km² in British National Grid is within 0.1% of 1 km² in UTM
    np.testing.assert_allclose(table["area_km2"], 1.0, rtol=1e-3)
    np.testing.assert_allclose(table["ratio_area"], [5 / 3, 4 / 3, 1, 1 / 12, 0], rtol=1e-3)


def test_tiny_population_district_needs_events_for_its_land_too() -> None:
    # "City": 20 residents and 3 spill-over events: 150 per 1,000 residents (2.1 x the median
    # of 70) but 3 per km² (0.09 x the median of 32.5).
    areas = coverage_areas([1000.0] * 5 + [20.0], [*"ABCDE", "City"])
    events = events_in({"A": 100, "B": 80, "C": 60, "D": 5, "City": 3})
    both = covered_districts(events, areas, min_rate_ratio=0.2)
    city = both.table.set_index("district_name").loc["City"]
    assert city["ratio_residents"] == pytest.approx(150 / 70)
    assert city["ratio_area"] == pytest.approx(3 / 32.5, rel=1e-3)
    assert "City" in both.uncovered
    per_resident = covered_districts(events, areas, min_rate_ratio=0.2, basis="residents")
    assert "City" in per_resident.covered
    assert both.covered == ("A", "B", "C")


def test_district_without_residents_is_judged_by_area() -> None:
    areas = coverage_areas([1000.0, 1000.0, 1000.0, 0.0], ["A", "B", "C", "Park"])
    result = covered_districts(events_in({"A": 100, "B": 80, "C": 60, "Park": 50}), areas)
    park = result.table.set_index("district_name").loc["Park"]
    assert np.isnan(park["events_per_1k_residents"])
    assert np.isnan(park["ratio_residents"])
    assert "Park" in result.covered


def test_default_ratio_is_the_measured_one() -> None:
    assert DEFAULT_MIN_RATE_RATIO == 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_rate_ratio": 0.0}, r"'min_rate_ratio' must be in \(0, 1\].*got 0\.0"),
        ({"min_rate_ratio": 1.5}, r"got 1\.5"),
        ({"basis": "people"}, r"'basis' must be 'both', 'residents' or 'area'; got 'people'"),
    ],
)
def test_coverage_options_are_checked(kwargs: dict[str, Any], match: str) -> None:
    areas = coverage_areas([1000.0] * 3, list("ABC"))
    with pytest.raises(ValueError, match=match):
        covered_districts(events_in({"A": 1, "B": 1, "C": 1}), areas, **kwargs)


def test_coverage_refuses_unknown_districts_and_a_mostly_empty_sample() -> None:
    areas = coverage_areas([1000.0] * 3, list("ABC"))
    with pytest.raises(ValueError, match=r"2 event\(s\) name district\(s\) \['Z'\] that no area"):
        covered_districts(events_in({"A": 1, "Z": 2}), areas)
    with pytest.raises(ValueError, match=r"median district has no events per resident \(1 of 3"):
        covered_districts(events_in({"A": 10}), areas)
    with pytest.raises(
        ValueError,
        match=r"needs areas with a 'district_name' column.*"
        r"Closest names: 'district_name' -> 'district'",
    ):
        covered_districts(events_in({}), areas.rename(columns={"district_name": "district"}))


def test_districts_of_events_maps_area_codes() -> None:
    areas = coverage_areas([1.0] * 3, ["A", "A", "B"])
    codes = pd.Series(["A2", None, "A0"], dtype="string", index=[7, 8, 9])
    out = districts_of_events(codes, areas)
    assert out.index.tolist() == [7, 8, 9]
    assert out.tolist()[0] == "B" and pd.isna(out.iloc[1]) and out.iloc[2] == "A"
    with pytest.raises(
        ValueError,
        match=r"1 event\(s\) carry area codes the areas do not have, "
        r"e\.g\. \['Q1'\]",
    ):
        districts_of_events(pd.Series(["Q1"]), areas)


def test_restrict_to_covered_keeps_covered_districts_only() -> None:
    areas = coverage_areas([1000.0] * 6, [*"ABCDE", "A"])
    result = covered_districts(events_in({"A": 200, "B": 80, "C": 60, "D": 5}), areas)
    kept = restrict_to_covered(areas, result)
    assert kept["area_code"].tolist() == ["A0", "A1", "A2", "A5"]
    empty = type(result)((), result.table, 0.2, "both", 0)
    with pytest.raises(ValueError, match="No district is covered"):
        restrict_to_covered(areas, empty)


# --- real data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def london_areas() -> gpd.GeoDataFrame:
    if not LONDON_AREAS.is_dir():
        pytest.skip(f"real data not present at {LONDON_AREAS}")
    mapping = AreaMapping.model_validate(yaml.safe_load(LONDON_LSOA_MAPPING_YAML))
    return load_area_attributes(mapping, base_dir=LONDON_AREAS)


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


@pytest.mark.realdata
def test_london_api_sample_covers_25_of_33_boroughs(london_areas: gpd.GeoDataFrame) -> None:
    if not LONDON_EVENTS.is_file():
        pytest.skip(f"real data not present at {LONDON_EVENTS}")
    events = pd.read_csv(LONDON_EVENTS, usecols=["latitude", "longitude"])
    codes = locate_in_areas(
        events["latitude"].to_numpy(), events["longitude"].to_numpy(), areas=london_areas
    )
    result = covered_districts(districts_of_events(codes, london_areas), london_areas)
    assert set(result.uncovered) == UNCOVERED_LONDON
    assert len(result.covered) == 25
    table = result.table.set_index("district_name")
    worst_uncovered = table.loc[list(UNCOVERED_LONDON), ["ratio_residents", "ratio_area"]]
    worst_covered = table.loc[list(result.covered), ["ratio_residents", "ratio_area"]]
    # a wide margin either side of the default ratio
    assert worst_uncovered.min(axis=1).max() < DEFAULT_MIN_RATE_RATIO / 2
    assert worst_covered.min(axis=1).min() > DEFAULT_MIN_RATE_RATIO * 2
    kept = restrict_to_covered(london_areas, result)
    assert kept["district_name"].nunique() == 25


def test_coverage_summary_for_the_data_quality_report() -> None:
    import json

    areas = coverage_areas([1000.0] * 5, list("ABCDE"))
    result = covered_districts(
        events_in({"A": 100, "B": 80, "C": 60, "D": 5}, outside=3), areas, min_rate_ratio=0.2
    )
    summary = result.as_dict()
    json.dumps(summary)  # JSON-ready
    assert summary["covered"] == ["A", "B", "C"]
    assert summary["uncovered"] == ["D", "E"]
    assert summary["events_outside_areas"] == 3
    assert "per resident and per km² reach 0.2 of the median district's" in summary["rule"]
    assert summary["districts"]["D"]["events"] == 5
    assert summary["districts"]["D"]["covered"] is False


def test_study_areas_round_trip_including_none(tmp_path: Path) -> None:
    from features.areas import empty_areas, read_study_areas

    path = tmp_path / "areas.parquet"
    empty_areas().to_parquet(path)
    back = read_study_areas(path)
    assert back.empty and back.crs == "EPSG:4326"
    coverage_areas([10.0, 20.0], ["A", "B"]).to_parquet(path)
    back = read_study_areas(path)
    assert back.crs == "EPSG:4326" and back["residents"].tolist() == [10.0, 20.0]
    coverage_areas([10.0], ["A"]).drop(columns="residents").to_parquet(path)
    with pytest.raises(ValueError, match=r"missing areas column\(s\) \['residents'\]"):
        read_study_areas(path)
    with pytest.raises(FileNotFoundError, match="run the ingest stage first"):
        read_study_areas(tmp_path / "nope.parquet")
