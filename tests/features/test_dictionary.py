"""Tests for features.dictionary: docs/feature-dict.csv and the code agree, both ways."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from features.dictionary import (
    DICTIONARY_COLUMNS,
    check_columns,
    column_mismatches,
    expand_dictionary,
    load_dictionary,
)
from features.engineering import FeatureConfig, build_feature_table, feature_columns
from features.panel import count_matrix, week_range
from features.taxonomy import VICTIM_TYPES

CELLS = np.array(
    sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 9), 1)),
    dtype=np.uint64,
)
WEEKS = week_range("2022-01-03", "2023-01-30")  # 57 weeks


@pytest.fixture(scope="module")
def default_table() -> pd.DataFrame:
    """The table the default config builds, with the static covariates of cells.parquet."""
    rng = np.random.default_rng(0)
    n = 400
    events = pd.DataFrame(
        {
            "h3_int": rng.choice(CELLS, size=n),
            "timestamp": WEEKS[0]
            + rng.integers(0, 57 * 7 * 86400, size=n).astype("timedelta64[s]"),
            "crime_type": rng.choice(VICTIM_TYPES, size=n),
        }
    )
    counts = count_matrix(events, cell_ids=CELLS, weeks=WEEKS, crime_types=VICTIM_TYPES)
    static = pd.DataFrame(
        {
            "h3_int": CELLS,
            "residents": rng.uniform(0, 500, CELLS.size),
            "area_km2": 0.1,
            "deprivation_score": rng.uniform(0, 50, CELLS.size),
        }
    )
    table, _ = build_feature_table(counts, cell_ids=CELLS, weeks=WEEKS, static=static)
    return table


def test_dictionary_file_is_well_formed() -> None:
    dictionary = load_dictionary()
    assert tuple(dictionary.columns) == DICTIONARY_COLUMNS
    assert dictionary["feature"].is_unique
    assert (dictionary["family"] != "").all() and (dictionary["units"] != "").all()


def test_dictionary_matches_default_columns_exactly(default_table: pd.DataFrame) -> None:
    config = FeatureConfig()
    check_columns(default_table.columns, config=config)
    documented = expand_dictionary(
        load_dictionary(),
        config=config,
        static_columns=("residents", "area_km2", "deprivation_score"),
    )
    assert sorted(documented) == sorted(default_table.columns)
    assert len(documented) == len(set(documented))


def test_dictionary_matches_other_configs() -> None:
    config = FeatureConfig(
        feature_types=("burglary", "drugs"),
        police_activity_features=True,
        lags=(1, 2, 8),
        rolling_windows=(2, 26),
        decay_half_lives=(2,),
        rings=(1, 3),
    )
    columns = ["h3_cell", "week_start", *feature_columns(config), "target_count"]
    check_columns(columns, config=config)


def test_an_undocumented_column_fails(default_table: pd.DataFrame) -> None:
    config = FeatureConfig()
    columns = [*default_table.columns, "cnt_burglary_lag5w", "mystery"]
    assert column_mismatches(columns, config=config) == (["cnt_burglary_lag5w", "mystery"], [])
    with pytest.raises(ValueError, match=r"not in the feature dictionary: \['cnt_burglary_lag5w'"):
        check_columns(columns, config=config)


def test_a_documented_column_missing_from_the_table_fails(default_table: pd.DataFrame) -> None:
    columns = [c for c in default_table.columns if c != "nbr2_cnt_all_roll4w"]
    with pytest.raises(ValueError, match=r"missing from the table: \['nbr2_cnt_all_roll4w'\]"):
        check_columns(columns, config=FeatureConfig())


def test_dictionary_rows_added_or_removed_fail(default_table: pd.DataFrame) -> None:
    dictionary = load_dictionary()
    extra = pd.concat(
        [
            dictionary,
            pd.DataFrame(
                [["cnt_{type}_max{n}w", "count", "Max weekly count.", "events", "n weeks"]],
                columns=list(dictionary.columns),
            ),
        ],
        ignore_index=True,
    )
    with pytest.raises(ValueError, match="missing from the table"):
        check_columns(default_table.columns, config=FeatureConfig(), dictionary=extra)
    fewer = dictionary[dictionary["feature"] != "wks_since_{type}"]
    with pytest.raises(ValueError, match=r"not in the feature dictionary: \['wks_since_burglary'"):
        check_columns(default_table.columns, config=FeatureConfig(), dictionary=fewer)


def test_bad_dictionaries_are_refused() -> None:
    dictionary = load_dictionary()
    typo = dictionary.copy()
    typo.loc[2, "feature"] = "cnt_{typ}_lag{k}w"
    with pytest.raises(ValueError, match=r"uses placeholders \['typ'\]"):
        check_columns(["h3_cell"], config=FeatureConfig(), dictionary=typo)
    repeated = pd.concat([dictionary, dictionary.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"more than once: \['h3_cell'\]"):
        check_columns(["h3_cell"], config=FeatureConfig(), dictionary=repeated)
    with pytest.raises(ValueError, match="must have columns feature,family"):
        check_columns(["h3_cell"], config=FeatureConfig(), dictionary=dictionary.iloc[:, :3])
