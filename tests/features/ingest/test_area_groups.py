"""Census attributes as percentages and scores: groups derived from a share, deciles from
population-weighted quantiles of a score, codes stored as numbers, and a sentence on how each
group was made."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydantic
import pytest
import yaml
from tract_county import tract_boxes, tract_mapping, write_tracts

from features.cells import build_cell_table, study_cells
from features.ingest.area_groups import (
    describe_mapped_groups,
    describe_prepared_groups,
    population_weighted_deciles,
)
from features.ingest.area_mapping import AreaMapping
from features.ingest.areas import area_code_text, load_area_attributes
from features.ingest.quality import summarise_areas

#: the London preset, whose area mapping must stay valid as written
LONDON_PRESET = Path(__file__).resolve().parents[3] / "presets" / "london_api.yaml"


def london_mapping() -> AreaMapping:
    preset = yaml.safe_load(LONDON_PRESET.read_text(encoding="utf-8"))
    return AreaMapping.model_validate(preset["ingest"]["areas"]["mapping"])


# --- a toy county: census tracts with percentage attributes, codes stored as numbers -------------

#: 11-digit tract codes (state 29, county 510, tract): what a CSV holds as text
TRACTS = ["29510101100", "29510101200", "29510101300", "29510101400"]
RESIDENTS = [2000, 1000, 4000, 3000]
PCT_MINORITY = [25.0, 90.0, 10.0, 50.0]
PCT_POVERTY = [12.5, 40.0, 5.0, 22.0]


def write_table(folder: Path, *, codes: list[str] = TRACTS, **columns: list[Any]) -> None:
    frame = pd.DataFrame({"tract": codes, "population": RESIDENTS[: len(codes)]})
    for name, values in columns.items():
        frame[name] = values
    frame.to_csv(folder / "tracts.csv", index=False)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    # The shapefile stores the tract code as a number: read back as float64, 2.95101011e10.
    write_tracts(tmp_path, [float(c) for c in TRACTS])
    write_table(tmp_path, pct_minority=PCT_MINORITY, pct_poverty=PCT_POVERTY)
    return tmp_path


# --- 1. a complement from a share ----------------------------------------------------------------


def test_groups_from_a_percentage_alone_split_the_residents(county: Path) -> None:
    areas = load_area_attributes(tract_mapping(), base_dir=county)
    assert areas["area_code"].tolist() == TRACTS
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 900.0, 400.0, 1500.0])
    np.testing.assert_allclose(areas["residents_majority"], [1500.0, 100.0, 3600.0, 1500.0])
    np.testing.assert_allclose(areas["minority_share"], [0.25, 0.9, 0.1, 0.5])
    np.testing.assert_allclose(
        areas["residents_minority"] + areas["residents_majority"], areas["residents"]
    )
    cells = build_cell_table(study_cells(areas, resolution=9), areas)
    assert cells["res_minority"].sum() == pytest.approx(3300.0)
    assert cells["res_majority"].sum() == pytest.approx(10_000.0 - 3300.0)


def test_groups_from_a_share_alone(county: Path) -> None:
    write_table(county, share_minority=[p / 100 for p in PCT_MINORITY], pct_poverty=PCT_POVERTY)
    minority = {"table": "tracts", "column": "share_minority", "kind": "share"}
    areas = load_area_attributes(tract_mapping(minority=minority), base_dir=county)
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 900.0, 400.0, 1500.0])
    np.testing.assert_allclose(areas["residents_majority"], [1500.0, 100.0, 3600.0, 1500.0])


def test_a_minority_count_alone_leaves_the_rest_as_majority(county: Path) -> None:
    write_table(county, minority=[500, 900, 400, 1500], pct_poverty=PCT_POVERTY)
    minority = {"table": "tracts", "column": "minority"}
    areas = load_area_attributes(tract_mapping(minority=minority), base_dir=county)
    assert areas["residents_majority"].tolist() == [1500.0, 100.0, 3600.0, 1500.0]
    np.testing.assert_allclose(areas["minority_share"], [0.25, 0.9, 0.1, 0.5])
    write_table(county, minority=[500, 1100, 400, 1500], pct_poverty=PCT_POVERTY)
    with pytest.raises(
        ValueError,
        match=r"column 'minority' counts more residents than 'residents' \('population' in table "
        r"'tracts'\).*data row 2 \(tract '29510101200'\) has '1100'",
    ):
        load_area_attributes(tract_mapping(minority=minority), base_dir=county)


@pytest.mark.parametrize(
    ("kind", "values", "match"),
    [
        (
            "percent",
            [25.0, 120.0, -3.0, 50.0],
            r"tracts\.csv: column 'pct_minority' must hold a percent of residents from 0 to 100 "
            r"\(minority kind 'percent'\); data row 2 \(tract '29510101200'\) has '120\.0'\. "
            r"2 of the 4 areas fail \(table 'tracts'\), e\.g\. 29510101200 '120\.0', "
            r"29510101300 '-3\.0'\.",
        ),
        (
            "share",
            [0.25, 90.0, 0.1, 0.5],
            r"'pct_minority' must hold a share of residents from 0 to 1 \(minority kind 'share'\) "
            r"\(values up to 100 look like percentages: set its kind to 'percent'\).*"
            r"1 of the 4 areas fail \(table 'tracts'\), e\.g\. 29510101200 '90\.0'",
        ),
    ],
)
def test_a_share_out_of_range_names_table_column_and_codes(
    county: Path, kind: str, values: list[float], match: str
) -> None:
    write_table(county, pct_minority=values, pct_poverty=PCT_POVERTY)
    minority = {"table": "tracts", "column": "pct_minority", "kind": kind}
    with pytest.raises(ValueError, match=match):
        load_area_attributes(tract_mapping(minority=minority), base_dir=county)


def test_fractions_read_as_percentages_are_warned_about(
    county: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_table(county, pct_minority=[0.25, 0.9, 0.1, 0.5], pct_poverty=PCT_POVERTY)
    with caplog.at_level(logging.WARNING, logger="features.ingest.area_groups"):
        load_area_attributes(tract_mapping(), base_dir=county)
    assert "every value of 'pct_minority' is at most 1" in caplog.text


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"majority": {"table": "tracts", "column": "pct_white"}},
            r"'minority' is a percent of residents, so the majority is the rest.*remove "
            r"'majority' \('pct_white'\)",
        ),
        ({"minority_from_shares": True}, r"'minority_from_shares' applies to 'minority' and"),
        (
            {"minority": {"table": "tracts", "column": "n"}, "minority_from_shares": True},
            r"'minority' and 'majority' go together: add the 'majority' count, or give the "
            r"minority's share of residents \(minority kind 'percent' or 'share'\)",
        ),
        (
            {"minority": None, "majority": {"table": "tracts", "column": "n"}},
            r"'majority' \('n'\) needs 'minority'",
        ),
        ({"minority": {"table": "tracts", "column": "p", "kind": "percentage"}}, r"'percent'"),
        (
            {"deprivation_decile": {"table": "tracts", "column": "p", "kind": "quantiles"}},
            r"'decile' or 'score_quantiles'",
        ),
    ],
)
def test_group_kinds_are_validated(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=match):
        tract_mapping(**changes)


def test_the_london_mapping_stays_valid_and_reads_counts_as_shares() -> None:
    mapping = london_mapping()
    assert mapping.minority is not None and mapping.minority.kind == "count"
    assert mapping.minority_from_shares
    assert mapping.deprivation_decile is not None and mapping.deprivation_decile.kind == "decile"


# --- 2. deciles from population-weighted quantiles of a score ------------------------------------


def test_population_weighted_deciles_hold_a_tenth_of_residents_each() -> None:
    rng = np.random.default_rng(7)
    n = 600
    residents = rng.integers(500, 3000, n).astype(float)
    score = np.round(rng.gamma(2.0, 8.0, n), 1)  # rounded: many equal scores
    codes = np.array([f"T{i:05d}" for i in rng.permutation(n)])
    deciles = population_weighted_deciles(score, residents, codes=codes)
    assert set(deciles) == set(range(1, 11))
    shares = np.bincount(deciles, weights=residents, minlength=11)[1:] / residents.sum()
    # each decile is a tenth of the residents, give or take one area
    assert np.abs(shares - 0.1).max() <= residents.max() / residents.sum()
    # direction: decile 1 holds the highest scores, and no decile overlaps the next
    by_decile = pd.Series(score).groupby(deciles)
    assert (by_decile.min().to_numpy()[:-1] >= by_decile.max().to_numpy()[1:]).all()
    assert by_decile.mean().is_monotonic_decreasing
    # equal scores are split by code, so the deciles do not depend on the rows' order
    order = rng.permutation(n)
    again = population_weighted_deciles(score[order], residents[order], codes=codes[order])
    np.testing.assert_array_equal(again, deciles[order])


def test_population_weighted_deciles_weigh_residents_not_areas() -> None:
    # one big area holds half the residents: it alone fills deciles 1..5's middle
    deciles = population_weighted_deciles(
        [9.0, 8.0, 7.0, 6.0], [5000.0, 1000.0, 2000.0, 2000.0], codes=["a", "b", "c", "d"]
    )
    assert deciles.tolist() == [3, 6, 8, 10]
    with pytest.raises(ValueError, match=r"need residents; they sum to 0\.0"):
        population_weighted_deciles([1.0, 2.0], [0.0, 0.0], codes=["a", "b"])


def test_deciles_from_a_poverty_percentage_feed_the_audits_fifths(county: Path) -> None:
    areas = load_area_attributes(tract_mapping(), base_dir=county)
    # by poverty, highest first: 1012 (40%, 1000), 1014 (22%, 3000), 1011 (12.5%, 2000),
    # 1013 (5%, 4000); middles at 5%, 25%, 50%, 80% of the 10,000 residents
    assert areas["deprivation_decile"].tolist() == [6, 1, 9, 3]
    assert areas["deprivation_decile"].dtype == np.int64
    # the score the deciles come from is also the deprivation score
    assert areas["deprivation_score"].tolist() == PCT_POVERTY
    cells = build_cell_table(study_cells(areas, resolution=9), areas)
    assert cells["res_dep_q1"].sum() == pytest.approx(1000.0)
    assert cells["res_dep_q2"].sum() == pytest.approx(3000.0)
    assert cells["res_dep_q5"].sum() == pytest.approx(4000.0)


def test_a_separate_deprivation_score_is_kept(county: Path) -> None:
    write_table(county, pct_minority=PCT_MINORITY, pct_poverty=PCT_POVERTY, adi=[70, 95, 10, 80])
    areas = load_area_attributes(
        tract_mapping(deprivation_score={"table": "tracts", "column": "adi"}), base_dir=county
    )
    assert areas["deprivation_score"].tolist() == [70.0, 95.0, 10.0, 80.0]
    assert areas["deprivation_decile"].tolist() == [6, 1, 9, 3]


def test_deciles_from_a_score_need_residents(county: Path) -> None:
    frame = pd.read_csv(county / "tracts.csv", dtype=str)
    frame["population"] = "0"
    frame.to_csv(county / "tracts.csv", index=False)
    with pytest.raises(
        ValueError, match=r"population-weighted deciles of 'pct_poverty' need residents"
    ):
        load_area_attributes(tract_mapping(), base_dir=county)


# --- 4. codes stored as numbers ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tracts.shp", "tracts.gpkg"])
def test_float_codes_in_the_boundaries_match_integer_text_codes(tmp_path: Path, name: str) -> None:
    path = write_tracts(tmp_path, [float(c) for c in TRACTS], name=name)
    assert gpd.read_file(path)["GEOID"].dtype == np.float64  # the case being tested
    write_table(tmp_path, pct_minority=PCT_MINORITY, pct_poverty=PCT_POVERTY)
    areas = load_area_attributes(tract_mapping(boundaries=name), base_dir=tmp_path)
    assert areas["area_code"].tolist() == TRACTS
    assert areas["residents"].tolist() == [2000.0, 1000.0, 4000.0, 3000.0]


def test_text_codes_with_a_decimal_zero_match_on_both_sides(tmp_path: Path) -> None:
    write_tracts(tmp_path, TRACTS)  # text codes in the boundaries
    write_table(
        tmp_path,
        codes=[f"{c}.0" for c in TRACTS],  # a CSV written from a float column
        pct_minority=PCT_MINORITY,
        pct_poverty=PCT_POVERTY,
    )
    areas = load_area_attributes(tract_mapping(), base_dir=tmp_path)
    assert areas["area_code"].tolist() == TRACTS
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 900.0, 400.0, 1500.0])


def test_leading_zeros_of_text_codes_are_kept(tmp_path: Path) -> None:
    codes = ["01001020100", "01001020200", "01001020300", "01001020400"]
    write_tracts(tmp_path, codes, name="tracts.gpkg")
    write_table(tmp_path, codes=codes, pct_minority=PCT_MINORITY, pct_poverty=PCT_POVERTY)
    areas = load_area_attributes(tract_mapping(boundaries="tracts.gpkg"), base_dir=tmp_path)
    assert areas["area_code"].tolist() == codes


def test_area_code_text_normalises_only_numbers_written_as_numbers() -> None:
    text = pd.Series(["01001", "01001.0", " 29510101100.00 ", "A1.0", "1.50", "E01000001", None])
    assert area_code_text(text).tolist() == [
        "01001",
        "01001",
        "29510101100",
        "A1.0",
        "1.50",
        "E01000001",
        "",
    ]
    floats = pd.Series([2.95101011e10, 1001.0, 1.5, np.nan, 2.0**60])
    assert area_code_text(floats).tolist()[:4] == ["29510101100", "1001", "1.5", ""]
    assert area_code_text(floats).iloc[4] != str(2**60)  # not exact: left as its float text
    assert area_code_text(pd.Series([101, 7])).tolist() == ["101", "7"]


def test_unmatched_codes_show_a_sample_of_each_side(tmp_path: Path) -> None:
    write_tracts(tmp_path, TRACTS)
    write_table(
        tmp_path,
        codes=[f"14000US{c}" for c in TRACTS],  # a prefixed form of the same codes
        pct_minority=PCT_MINORITY,
        pct_poverty=PCT_POVERTY,
    )
    with pytest.raises(ValueError) as err:
        load_area_attributes(tract_mapping(), base_dir=tmp_path)
    message = str(err.value)
    assert "4 of 4 area polygons in" in message
    assert "has no row for 4 of them, e.g. ['29510101100', '29510101200'," in message
    assert "its 4 code(s) that match no polygon are e.g. ['14000US29510101100'," in message
    assert "Compare the two samples" in message
    assert "leading zeros" not in message


def test_codes_that_lost_their_leading_zeros_are_named_as_such(tmp_path: Path) -> None:
    codes = ["01001020100", "01001020200", "01001020300", "01001020400"]
    write_tracts(tmp_path, [float(c) for c in codes])  # a number field drops the zeros
    write_table(tmp_path, codes=codes, pct_minority=PCT_MINORITY, pct_poverty=PCT_POVERTY)
    with pytest.raises(
        ValueError,
        match=r"has no row for 4 of them, e\.g\. \['1001020100', .*its 4 code\(s\) that match "
        r"no polygon are e\.g\. \['01001020100', .*4 of the polygons' unmatched codes match a "
        r"table code once leading zeros are ignored.*'unmatched_areas: drop'",
    ):
        load_area_attributes(tract_mapping(), base_dir=tmp_path)


# --- 3. a sentence on how each group was made ----------------------------------------------------


def test_the_summary_says_how_each_group_was_made(county: Path) -> None:
    mapping = tract_mapping()
    areas = load_area_attributes(mapping, base_dir=county)
    no_events = pd.Series([], dtype="string")
    summary = summarise_areas(areas, kind="mapped", mapping=mapping, accepted_area_code=no_events)
    assert summary.kind == "mapped"
    made = {tuple(m.columns): m.sentence for m in summary.how_groups_made}
    assert made[("residents",)] == "Residents are 'population' in table 'tracts', read directly."
    assert made[("residents_minority", "residents_majority", "minority_share")] == (
        "Minority residents are residents x 'pct_minority' / 100, where 'pct_minority' in table "
        "'tracts' is a percentage of residents; majority residents are the rest of the residents."
    )
    deprivation = made[("deprivation_decile", "deprivation_score")]
    assert deprivation.startswith(
        "Deprivation fifths are population-weighted quintiles of 'pct_poverty' (percent of "
        "residents in poverty) in table 'tracts', higher meaning more deprived"
    )
    assert deprivation.endswith("The deprivation score is the same column, read directly.")
    # every attribute the audit groups come from has a sentence
    covered = {c for m in summary.how_groups_made for c in m.columns}
    assert set(summary.attributes) <= covered
    with pytest.raises(ValueError, match=r"needs the area mapping"):
        summarise_areas(areas, kind="mapped", accepted_area_code=no_events)


def test_londons_sentences_say_from_shares_and_from_ranks() -> None:
    mapping = london_mapping()
    made = [m.sentence for m in describe_mapped_groups(mapping)]
    assert made[0] == "Residents are 'Persons_All-Ages' in table 'population', read directly."
    assert made[1].startswith(
        "Minority residents are residents x minority / (minority + majority), from the shares "
        "of the counts 'Ethnic Group;BAME;2011' in table 'ethnicity' (minority) and "
        "'Ethnic Group;White;2011' in table 'ethnicity' (majority)"
    )
    assert made[2].startswith(
        "Deprivation fifths pair the deciles 'Index of Multiple Deprivation (IMD) Decile' in "
        "table 'imd' (1 = most deprived), read directly"
    )
    assert made[3].startswith(
        "The deprivation score is made from the ranks 'Index of Multiple Deprivation (IMD) Rank' "
        "in table 'imd' (1 = most deprived of N = 32844)"
    )


def test_the_synthetic_citys_sentences_say_read_directly() -> None:
    columns = [
        "area_code",
        "residents",
        "residents_minority",
        "residents_majority",
        "minority_share",
        "deprivation_score",
        "deprivation_decile",
        "geometry",
    ]
    made = describe_prepared_groups(columns)
    assert [m.columns for m in made] == [
        ["residents"],
        ["residents_minority", "residents_majority", "minority_share"],
        ["deprivation_decile"],
        ["deprivation_score"],
    ]
    assert all("read directly" in m.sentence for m in made)
    assert "prepared areas file's 'deprivation_decile'" in made[2].sentence
    # a file without groups says only where its residents come from
    assert [m.columns for m in describe_prepared_groups(["area_code", "residents"])] == [
        ["residents"]
    ]


def test_percent_attributes_of_the_shapefile_itself(tmp_path: Path) -> None:
    """The README's census-tract mapping: every attribute read from the polygons' own fields."""
    gpd.GeoDataFrame(
        {
            "GEOID": [float(c) for c in TRACTS],
            "pop": RESIDENTS,
            "pct_minor": PCT_MINORITY,
            "pct_pov": PCT_POVERTY,
        },
        geometry=tract_boxes(len(TRACTS)),
        crs="EPSG:32615",
    ).to_file(tmp_path / "tracts.shp")
    mapping = yaml.safe_load(
        """
        boundaries: tracts.shp
        code_column: GEOID
        residents: {table: boundaries, column: pop}
        minority: {table: boundaries, column: pct_minor, kind: percent}
        deprivation_decile:
          table: boundaries
          column: pct_pov
          kind: score_quantiles
          description: percent of residents in poverty
        """
    )
    areas = load_area_attributes(AreaMapping.model_validate(mapping), base_dir=tmp_path)
    assert areas["area_code"].tolist() == TRACTS
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 900.0, 400.0, 1500.0])
    assert areas["deprivation_decile"].tolist() == [6, 1, 9, 3]
    made = describe_mapped_groups(AreaMapping.model_validate(mapping))
    assert "quintiles of 'pct_pov' (percent of residents in poverty) of the boundaries file" in (
        made[2].sentence
    )
