"""Census values left blank, or written as "not available", in areas where nobody lives.

US census tables leave percentages and scores blank (or write "-", "(X)", "-666666666") in tracts
with no residents: airports, parks, industrial tracts. Such an area counts in no group; an area
with residents and no value is still an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest
import yaml
from tract_county import tract_mapping, write_tracts

from features.cells import build_cell_table, study_cells
from features.ingest.area_groups import describe_mapped_groups, population_weighted_deciles
from features.ingest.area_mapping import AreaMapping
from features.ingest.areas import load_area_attributes, read_areas
from features.ingest.quality import summarise_areas
from models.allocation import stratum_codes

#: five tracts in a row; the middle one is an airport: nobody lives there
TRACTS = ["29510101100", "29510101200", "29510101300", "29510101400", "29510101500"]
RESIDENTS = [2000, 1000, 0, 4000, 3000]
PCT_MINORITY: list[Any] = [25.0, 90.0, "", 10.0, 50.0]
PCT_POVERTY: list[Any] = [12.5, 40.0, "", 5.0, 22.0]


def write_county(
    folder: Path,
    *,
    residents: list[Any] = RESIDENTS,
    **columns: list[Any],
) -> Path:
    """Tracts as 1 km squares side by side (UTM 15N), with a CSV of their attributes."""
    n = len(residents)
    codes = [f"2951010{i + 11:02d}00" for i in range(n)] if n != len(TRACTS) else TRACTS
    write_tracts(folder, codes)
    frame = pd.DataFrame({"tract": codes, "population": residents})
    for name, values in {"pct_minority": PCT_MINORITY, "pct_poverty": PCT_POVERTY}.items():
        frame[name] = columns.pop(name, values)
    for name, values in columns.items():
        frame[name] = values
    frame.to_csv(folder / "tracts.csv", index=False)
    return folder


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return write_county(tmp_path)


# --- accepted where nobody lives -----------------------------------------------------------------


def test_a_blank_percentage_where_nobody_lives_counts_in_no_group(county: Path) -> None:
    mapping = tract_mapping()
    areas = load_area_attributes(mapping, base_dir=county)
    assert areas["area_code"].tolist() == TRACTS
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 900.0, 0.0, 400.0, 1500.0])
    np.testing.assert_allclose(areas["residents_majority"], [1500.0, 100.0, 0.0, 3600.0, 1500.0])
    assert areas["minority_share"].isna().tolist() == [False, False, True, False, False]
    # the groups add up to the residents, area by area and in total
    np.testing.assert_allclose(
        areas["residents_minority"] + areas["residents_majority"], areas["residents"]
    )
    summary = summarise_areas(
        areas, kind="mapped", mapping=mapping, accepted_area_code=pd.Series([], dtype="string")
    )
    assert summary.n_areas == 5
    assert summary.residents == 10_000.0
    assert summary.residents == pytest.approx(
        float(areas["residents_minority"].sum() + areas["residents_majority"].sum())
    )


def test_a_blank_score_where_nobody_lives_has_no_decile(county: Path) -> None:
    areas = load_area_attributes(tract_mapping(), base_dir=county)
    # by poverty, highest first: 1012 (40%, 1000), 1015 (22%, 3000), 1011 (12.5%, 2000),
    # 1014 (5%, 4000); middles at 5%, 25%, 50%, 80% of the 10,000 residents: as without the
    # airport, which holds no residents and gets no decile
    assert areas["deprivation_decile"].dtype == "Int64"
    assert areas["deprivation_decile"].tolist() == [6, 1, pd.NA, 9, 3]
    assert np.isnan(areas["deprivation_score"].iloc[2])
    # the areas file the ingest stage writes keeps the missing decile
    path = county / "areas.parquet"
    areas.to_parquet(path)
    again = read_areas(path)
    assert again["deprivation_decile"].dtype == "Int64"
    assert again["deprivation_decile"].isna().tolist() == [False, False, True, False, False]


def test_deciles_still_hold_a_tenth_of_residents_each(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 120
    residents = rng.integers(500, 3000, n)
    score: list[Any] = np.round(rng.gamma(2.0, 8.0, n), 1).tolist()
    empty = rng.choice(n, 12, replace=False)
    residents[empty] = 0
    for i in empty[:8]:
        score[i] = ""  # blank where nobody lives; the other four keep their score
    write_county(tmp_path, residents=residents.tolist(), pct_minority=[10.0] * n, pct_poverty=score)
    areas = load_area_attributes(tract_mapping(), base_dir=tmp_path)
    deciles = areas["deprivation_decile"]
    assert int(deciles.isna().sum()) == 8
    has = deciles.notna().to_numpy()
    weights = residents.astype(float)
    shares = (
        np.bincount(deciles[has].to_numpy(dtype=np.int64), weights=weights[has], minlength=11)[1:]
        / weights.sum()
    )
    assert np.abs(shares - 0.1).max() <= weights.max() / weights.sum()
    # the scored areas' deciles are those made without the unscored ones
    alone = population_weighted_deciles(
        np.asarray(score, dtype=object)[has].astype(float),
        weights[has],
        codes=areas["area_code"].to_numpy()[has],
    )
    np.testing.assert_array_equal(deciles[has].to_numpy(dtype=np.int64), alone)


def test_population_weighted_deciles_refuse_a_missing_score() -> None:
    with pytest.raises(
        ValueError, match=r"need a finite score for every area; 1 have none, e\.g\. \['b'\]"
    ):
        population_weighted_deciles([3.0, np.nan], [10.0, 0.0], codes=["a", "b"])


# --- refused where people live -------------------------------------------------------------------


def test_a_blank_percentage_where_people_live_is_still_an_error(tmp_path: Path) -> None:
    write_county(tmp_path, pct_minority=[25.0, "", 0.0, 10.0, 50.0])
    with pytest.raises(
        ValueError,
        match=r"tracts\.csv: column 'pct_minority' has no value \('minority': a blank cell\) in "
        r"an area with residents; data row 2 \(tract '29510101200'\) has ''\. 1 of the 5 areas "
        r"fail \(table 'tracts'\), e\.g\. 29510101200 ''\. Only an area where nobody lives "
        r"\(0 residents\) may have no value.*remove its row from table 'tracts' and set the "
        r"mapping's 'unmatched_areas: drop'",
    ):
        load_area_attributes(tract_mapping(), base_dir=tmp_path)


def test_a_blank_score_where_people_live_is_still_an_error(tmp_path: Path) -> None:
    write_county(tmp_path, pct_poverty=[12.5, 40.0, "", "-", 22.0])
    with pytest.raises(
        ValueError,
        match=r"column 'pct_poverty' has no value \('deprivation_decile': a blank cell or one of "
        r"its missing_values \['-'\]\) in an area with residents; data row 4 \(tract "
        r"'29510101400'\) has '-'",
    ):
        load_area_attributes(
            tract_mapping(
                deprivation_decile={
                    "table": "tracts",
                    "column": "pct_poverty",
                    "kind": "score_quantiles",
                    "missing_values": ["-"],
                }
            ),
            base_dir=tmp_path,
        )


def test_residents_must_be_known_everywhere(tmp_path: Path) -> None:
    write_county(tmp_path, residents=[2000, 1000, "", 4000, 3000])
    with pytest.raises(
        ValueError,
        match=r"column 'population' must hold a number in every area.*data row 3 \(tract "
        r"'29510101300'\) has ''",
    ):
        load_area_attributes(tract_mapping(), base_dir=tmp_path)
    with pytest.raises(pydantic.ValidationError, match=r"'residents' \('population'\) takes no "):
        tract_mapping(
            residents={"table": "tracts", "column": "population", "missing_values": ["-"]}
        )


# --- "not available" sentinels -------------------------------------------------------------------

#: three tracts where nobody lives, each with the ACS's way of saying "not available"
SENTINEL_RESIDENTS = [2000, 0, 0, 1000, 0]
SENTINEL_MINORITY = [25.0, "(X)", "-666666666", 90.0, "-666666666.0"]


def test_not_available_text_is_an_error_until_listed(tmp_path: Path) -> None:
    write_county(tmp_path, residents=SENTINEL_RESIDENTS, pct_minority=SENTINEL_MINORITY)
    with pytest.raises(
        ValueError,
        match=r"column 'pct_minority' must hold numbers; data row 2 \(tract '29510101200'\) has "
        r"'\(X\)'\. 1 value\(s\) of the 5 areas fail\. If '\(X\)' means 'not available', list it "
        r"in the mapping's 'missing_values' for 'pct_minority' \(it has no missing_values\)",
    ):
        load_area_attributes(tract_mapping(), base_dir=tmp_path)


def test_missing_values_are_read_as_blank(tmp_path: Path) -> None:
    write_county(
        tmp_path,
        residents=SENTINEL_RESIDENTS,
        pct_minority=SENTINEL_MINORITY,
        pct_poverty=[12.5, "N/A", "null", 40.0, ""],
    )
    mapping = AreaMapping.model_validate(
        tract_mapping().model_dump()
        | yaml.safe_load(
            """
            minority:
              table: tracts
              column: pct_minority
              kind: percent
              missing_values: ["(X)", -666666666]   # unquoted: the number, also as -666666666.0
            deprivation_decile:
              table: tracts
              column: pct_poverty
              kind: score_quantiles
              missing_values: ["N/A", "null"]      # quoted: YAML reads a bare null as nothing
            """
        )
    )
    assert mapping.minority is not None
    assert mapping.minority.missing_values == ("(X)", "-666666666")
    areas = load_area_attributes(mapping, base_dir=tmp_path)
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 0.0, 0.0, 900.0, 0.0])
    np.testing.assert_allclose(areas["residents_majority"], [1500.0, 0.0, 0.0, 100.0, 0.0])
    assert areas["minority_share"].isna().tolist() == [False, True, True, False, True]
    # 40% (1000 residents) first, middle at 1/6 of 3000; then 12.5% (2000), middle at 2/3
    assert areas["deprivation_decile"].tolist() == [7, pd.NA, pd.NA, 2, pd.NA]
    made = {tuple(m.columns): m.sentence for m in describe_mapped_groups(mapping, areas=areas)}
    assert made[("residents_minority", "residents_majority", "minority_share")].endswith(
        " 3 areas where nobody lives have no value of 'pct_minority'; they count in no group."
    )


def test_missing_values_must_not_list_blank() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"a blank cell is always read as no value"):
        tract_mapping(
            minority={
                "table": "tracts",
                "column": "pct_minority",
                "kind": "percent",
                "missing_values": ["-", " "],
            }
        )


def test_counts_without_a_value_where_nobody_lives(tmp_path: Path) -> None:
    write_county(
        tmp_path,
        residents=SENTINEL_RESIDENTS,
        n_minority=[500, "", 0, 900, 7],
        n_majority=[1500, 3, "-", 100, ""],
    )
    mapping = tract_mapping(
        minority={"table": "tracts", "column": "n_minority"},
        majority={"table": "tracts", "column": "n_majority", "missing_values": ["-"]},
        minority_from_shares=True,
        deprivation_decile=None,
    )
    areas = load_area_attributes(mapping, base_dir=tmp_path)
    np.testing.assert_allclose(areas["residents_minority"], [500.0, 0.0, 0.0, 900.0, 0.0])
    np.testing.assert_allclose(areas["residents_majority"], [1500.0, 0.0, 0.0, 100.0, 0.0])
    assert areas["minority_share"].isna().tolist() == [False, True, True, False, True]
    made = describe_mapped_groups(mapping, areas=areas)[1].sentence
    assert made.endswith(
        " 3 areas where nobody lives have no value of 'n_minority' or 'n_majority'; they count "
        "in no group."
    )


# --- how the groups were made says how many had no value -----------------------------------------


def test_the_sentences_count_the_areas_without_a_value(county: Path) -> None:
    mapping = tract_mapping()
    areas = load_area_attributes(mapping, base_dir=county)
    summary = summarise_areas(
        areas, kind="mapped", mapping=mapping, accepted_area_code=pd.Series([], dtype="string")
    )
    made = {tuple(m.columns): m.sentence for m in summary.how_groups_made}
    assert made[("residents_minority", "residents_majority", "minority_share")].endswith(
        "majority residents are the rest of the residents. 1 area where nobody lives has no "
        "value of 'pct_minority'; it counts in no group."
    )
    deprivation = made[("deprivation_decile", "deprivation_score")]
    assert (
        "the first is the most deprived. 1 area where nobody lives has no value of 'pct_poverty' "
        "(percent of residents in poverty); it counts in no group. The deprivation score is the "
        "same column, read directly." in deprivation
    )
    # with every value present, the sentences say nothing of it
    write_county(county, pct_minority=[25.0, 90.0, 0.0, 10.0, 50.0], pct_poverty=[1, 2, 3, 4, 5])
    full = load_area_attributes(mapping, base_dir=county)
    assert not any(
        "nobody lives" in m.sentence for m in describe_mapped_groups(mapping, areas=full)
    )


def test_a_separate_score_without_a_value_is_counted(tmp_path: Path) -> None:
    write_county(tmp_path, residents=[2000, 1000, 0, 4000, 0], adi=[70, 95, "", 10, "-"])
    mapping = tract_mapping(
        deprivation_score={"table": "tracts", "column": "adi", "missing_values": ["-"]},
        minority=None,
        deprivation_decile=None,
    )
    areas = load_area_attributes(mapping, base_dir=tmp_path)
    assert areas["deprivation_score"].isna().tolist() == [False, False, True, False, True]
    made = describe_mapped_groups(mapping, areas=areas)[-1]
    assert made.columns == ["deprivation_score"]
    assert made.sentence.endswith(
        " 2 areas where nobody lives have no value of 'adi'; they add nothing to their cells' "
        "deprivation score, a mean weighted by residents."
    )


# --- the cells and the audit's strata ------------------------------------------------------------


def test_cells_of_areas_without_a_value_carry_no_nan(county: Path) -> None:
    areas = load_area_attributes(tract_mapping(), base_dir=county)
    cells = build_cell_table(study_cells(areas, resolution=9), areas)
    # the groups add up to the areas' residents
    assert cells["residents"].sum() == pytest.approx(10_000.0)
    assert cells["res_minority"].sum() + cells["res_majority"].sum() == pytest.approx(10_000.0)
    fifths = [f"res_dep_q{q}" for q in range(1, 6)]
    assert cells[fifths].to_numpy().sum() == pytest.approx(10_000.0)
    # cells straddling the airport and a tract with residents keep a score and a share
    populated = cells["residents"].to_numpy() > 0
    straddling = populated & (cells["residents"].to_numpy() < cells["residents"].max() - 1)
    assert straddling.any()  # the case being tested
    for attr in ("deprivation_score", "minority_share"):
        assert np.isfinite(cells.loc[populated, attr]).all(), attr
        # the audit's strata: every cell with residents falls in a quantile bin (no -1)
        codes = stratum_codes(cells[attr], cells["residents"], 5, min_residents=0.5)
        assert (codes >= 0).all(), attr


def test_cells_refuse_a_missing_decile_where_people_live(county: Path) -> None:
    areas = load_area_attributes(tract_mapping(), base_dir=county)
    areas.loc[1, "deprivation_decile"] = pd.NA
    with pytest.raises(
        ValueError, match=r"1 area\(s\) with residents have no deprivation_decile, e\.g\. "
    ):
        build_cell_table(study_cells(areas, resolution=9), areas)
