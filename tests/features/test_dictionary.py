"""Tests for features.dictionary: docs/feature-dict.csv and the code agree, both ways, in both
period modes (weekly and monthly)."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from beatwise.period import Period, period_range
from beatwise.taxonomy import VICTIM_TYPES
from features.dictionary import (
    DICTIONARY_COLUMNS,
    check_columns,
    column_mismatches,
    expand_dictionary,
    load_dictionary,
)
from features.engineering import FeatureConfig, build_feature_table, feature_columns
from features.panel import count_matrix

CELLS = np.array(
    sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 9), 1)),
    dtype=np.uint64,
)
#: period -> (the complete periods of data, the default config of that mode)
PANELS: dict[str, tuple[np.ndarray, FeatureConfig]] = {
    "week": (period_range("2022-01-03", "2023-01-30", period="week"), FeatureConfig()),  # 57
    "month": (
        period_range("2021-01-01", "2023-06-01", period="month"),  # 30 months
        # the monthly-sized values params.yaml suggests for data.police.uk
        FeatureConfig(
            lags=(1, 2, 3),
            rolling_windows=(3, 6, 12),
            decay_half_lives=(1, 3),
            since_cap=24,
            min_history_periods=12,
        ),
    ),
}


def _table(period: Period) -> pd.DataFrame:
    """The table the mode's config builds, with the static covariates of cells.parquet."""
    periods, config = PANELS[period]
    rng = np.random.default_rng(0)
    n = 400
    span = (periods[-1] - periods[0]).astype("timedelta64[s]").astype(int)
    events = pd.DataFrame(
        {
            "h3_int": rng.choice(CELLS, size=n),
            "timestamp": periods[0] + rng.integers(0, span, size=n).astype("timedelta64[s]"),
            "crime_type": rng.choice(VICTIM_TYPES, size=n),
        }
    )
    counts = count_matrix(
        events, cell_ids=CELLS, periods=periods, period=period, crime_types=VICTIM_TYPES
    )
    static = pd.DataFrame(
        {
            "h3_int": CELLS,
            "residents": rng.uniform(0, 500, CELLS.size),
            "area_km2": 0.1,
            "deprivation_score": rng.uniform(0, 50, CELLS.size),
        }
    )
    table, _ = build_feature_table(
        counts, cell_ids=CELLS, periods=periods, period=period, static=static, config=config
    )
    return table


@pytest.fixture(scope="module")
def default_table() -> pd.DataFrame:
    return _table("week")


def test_dictionary_file_is_well_formed() -> None:
    dictionary = load_dictionary()
    assert tuple(dictionary.columns) == DICTIONARY_COLUMNS
    assert dictionary["feature"].is_unique
    assert (dictionary["family"] != "").all() and (dictionary["units"] != "").all()


@pytest.mark.parametrize("period", ["week", "month"])
def test_dictionary_matches_the_built_columns_exactly(period: Period) -> None:
    table = _table(period)
    config = PANELS[period][1]
    check_columns(table.columns, config=config, period=period)
    documented = expand_dictionary(
        load_dictionary(),
        config=config,
        period=period,
        static_columns=("residents", "area_km2", "deprivation_score"),
    )
    assert sorted(documented) == sorted(table.columns)
    assert len(documented) == len(set(documented))


def test_every_dictionary_row_is_used_by_some_mode() -> None:
    dictionary = load_dictionary()
    assert set(dictionary["period"]) == {"week", "month", "both"}
    week = set(_table("week").columns)
    month = set(_table("month").columns)
    assert "cnt_all_lag1w" in week and "cnt_all_lag1m" in month
    assert week & month == {
        "h3_cell",
        "period_start",
        "target_count",
        "static_residents",
        "static_area_km2",
        "static_deprivation_score",
        *(f"cnt_{t}_mean_hist" for t in (*VICTIM_TYPES, "all")),
        "nbr1_cnt_all_mean_hist",
        "nbr2_cnt_all_mean_hist",
    }
    # a weekly column checked against the monthly dictionary rows is undocumented
    with pytest.raises(ValueError, match=r"monthly feature table .* \['cnt_burglary_lag1w'"):
        check_columns([*month, "cnt_burglary_lag1w"], config=PANELS["month"][1], period="month")


@pytest.mark.parametrize("period", ["week", "month"])
def test_dictionary_matches_other_configs(period: Period) -> None:
    config = FeatureConfig(
        feature_types=("burglary", "drugs"),
        police_activity_features=True,
        lags=(1, 2, 8),
        rolling_windows=(2, 26),
        decay_half_lives=(2,),
        rings=(1, 3),
    )
    columns = ["h3_cell", "period_start", *feature_columns(config, period=period), "target_count"]
    check_columns(columns, config=config, period=period)


def test_an_undocumented_column_fails(default_table: pd.DataFrame) -> None:
    config = FeatureConfig()
    columns = [*default_table.columns, "cnt_burglary_lag5w", "mystery"]
    assert column_mismatches(columns, config=config, period="week") == (
        ["cnt_burglary_lag5w", "mystery"],
        [],
    )
    with pytest.raises(ValueError, match=r"not in the feature dictionary: \['cnt_burglary_lag5w'"):
        check_columns(columns, config=config, period="week")


def test_a_documented_column_missing_from_the_table_fails(default_table: pd.DataFrame) -> None:
    columns = [c for c in default_table.columns if c != "nbr2_cnt_all_roll4w"]
    with pytest.raises(ValueError, match=r"missing from the table: \['nbr2_cnt_all_roll4w'\]"):
        check_columns(columns, config=FeatureConfig(), period="week")


def test_dictionary_rows_added_or_removed_fail(default_table: pd.DataFrame) -> None:
    dictionary = load_dictionary()
    extra = pd.concat(
        [
            dictionary,
            pd.DataFrame(
                [["cnt_{type}_max{n}w", "count", "Max weekly count.", "events", "n weeks", "week"]],
                columns=list(dictionary.columns),
            ),
        ],
        ignore_index=True,
    )
    with pytest.raises(ValueError, match="missing from the table"):
        check_columns(
            default_table.columns, config=FeatureConfig(), period="week", dictionary=extra
        )
    fewer = dictionary[dictionary["feature"] != "wks_since_{type}"]
    with pytest.raises(ValueError, match=r"not in the feature dictionary: \['wks_since_burglary'"):
        check_columns(
            default_table.columns, config=FeatureConfig(), period="week", dictionary=fewer
        )


def test_bad_dictionaries_are_refused() -> None:
    dictionary = load_dictionary()
    typo = dictionary.copy()
    typo.loc[2, "feature"] = "cnt_{typ}_lag{k}w"
    with pytest.raises(ValueError, match=r"uses placeholders \['typ'\]"):
        check_columns(["h3_cell"], config=FeatureConfig(), period="week", dictionary=typo)
    repeated = pd.concat([dictionary, dictionary.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"more than once: \['h3_cell'\]"):
        check_columns(["h3_cell"], config=FeatureConfig(), period="week", dictionary=repeated)
    with pytest.raises(ValueError, match="must have columns feature,family"):
        check_columns(
            ["h3_cell"], config=FeatureConfig(), period="week", dictionary=dictionary.iloc[:, :3]
        )
    bad_period = dictionary.copy()
    bad_period.loc[0, "period"] = "weekly"
    with pytest.raises(ValueError, match=r"'h3_cell' has period 'weekly'"):
        check_columns(["h3_cell"], config=FeatureConfig(), period="week", dictionary=bad_period)
