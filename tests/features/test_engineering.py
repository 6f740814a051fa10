"""Tests for features.engineering: hand-computed features (weekly and monthly), a reference
implementation, leakage in both period modes."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from beatwise.period import Period, next_period_start, period_range
from beatwise.taxonomy import VICTIM_TYPES
from features.engineering import FeatureConfig, build_feature_table, feature_columns
from features.panel import count_matrix

# A 3-cell grid: c1 touches c0 and c2; c2 is two rings from c0.
_ORIGIN = h3.latlng_to_cell(51.5074, -0.1278, 9)
_RING1 = h3.grid_ring(_ORIGIN, 1)[0]
_RING2 = next(c for c in h3.grid_ring(_ORIGIN, 2) if h3.grid_distance(c, _RING1) == 1)
_IDS = sorted(h3.str_to_int(c) for c in (_ORIGIN, _RING1, _RING2))
CELLS = np.array(_IDS, dtype=np.uint64)
C0, C1, C2 = (_IDS.index(h3.str_to_int(c)) for c in (_ORIGIN, _RING1, _RING2))

# Weeks around Christmas 2023: 2023-12-25 (Christmas) and 12-26 (Boxing Day) fall in week 3,
# 2024-01-01 (New Year's Day) in week 4.
WEEKS = period_range("2023-12-04", "2024-01-08", period="week")  # 6; forecast week 2024-01-15

SMALL = FeatureConfig(
    target_types=("burglary", "robbery"),
    lags=(1, 2),
    rolling_windows=(2, 3),
    decay_half_lives=(1,),
    rings=(1, 2),
    min_history_periods=2,
    since_cap=10,
)


def _grid(values: dict[tuple[int, int], int]) -> np.ndarray:
    out = np.zeros((WEEKS.size, CELLS.size), dtype=np.int32)
    for (t, c), v in values.items():
        out[t, c] = v
    return out


BURGLARY = _grid({(0, C0): 1, (1, C1): 2, (3, C0): 3, (3, C2): 1, (5, C0): 1, (5, C1): 1})
ROBBERY = _grid({(0, C2): 1, (1, C0): 1, (4, C0): 2})


def _small_table() -> tuple[pd.DataFrame, dict]:
    counts = {"burglary": BURGLARY, "robbery": ROBBERY}
    return build_feature_table(counts, cell_ids=CELLS, periods=WEEKS, period="week", config=SMALL)


def _at(table: pd.DataFrame, week: str, cell: int, column: str) -> float:
    hexid = format(int(CELLS[cell]), "x")
    row = table[(table["period_start"] == pd.Timestamp(week)) & (table["h3_cell"] == hexid)]
    assert len(row) == 1
    return float(row[column].iloc[0])


def test_shape_order_and_keys() -> None:
    table, meta = _small_table()
    # rows for weeks t = 2..6 (6 = the forecast week), cells ascending within each week
    assert len(table) == 5 * 3
    assert list(table["period_start"].unique()) == list(
        pd.to_datetime(["2023-12-18", "2023-12-25", "2024-01-01", "2024-01-08", "2024-01-15"])
    )
    assert list(table["h3_cell"].iloc[:3]) == [format(int(c), "x") for c in CELLS]
    assert list(table.columns) == [
        "h3_cell",
        "period_start",
        *feature_columns(SMALL, period="week"),
        "target_count",
    ]
    assert all(table[c].dtype == np.float32 for c in meta["feature_columns"])
    assert table["period_start"].dtype == np.dtype("datetime64[ns]")
    assert meta == {
        "target_types": ["burglary", "robbery"],
        "feature_types": ["burglary", "robbery"],
        "first_period": "2023-12-18",
        "last_complete_period": "2024-01-08",
        "forecast_period": "2024-01-15",
        "feature_columns": feature_columns(SMALL, period="week"),
        "n_cells": 3,
        "n_periods": 5,
        "n_rows": 15,
        "period": "week",
    }


def test_hand_computed_counts_rolling_decay_recency() -> None:
    table, _ = _small_table()
    # Row (c0, week 4 = 2024-01-01): burglary in c0 was 1, 0, 0, 3 in weeks 0..3.
    w4 = "2024-01-01"
    assert _at(table, w4, C0, "cnt_burglary_lag1w") == 3
    assert _at(table, w4, C0, "cnt_burglary_lag2w") == 0
    assert _at(table, w4, C0, "cnt_burglary_roll2w") == pytest.approx(1.5)
    assert _at(table, w4, C0, "cnt_burglary_roll3w") == pytest.approx(1.0)
    # decay, half-life 1 week: 3 * 1 + 0 * 1/2 + 0 * 1/4 + 1 * 1/8
    assert _at(table, w4, C0, "nr_burglary_decay1w") == pytest.approx(3.125)
    assert _at(table, w4, C0, "wks_since_burglary") == 1
    assert _at(table, "2023-12-25", C0, "wks_since_burglary") == 3
    # robbery never seen in c1 before the forecast week: the cap
    assert _at(table, "2024-01-15", C1, "wks_since_robbery") == 10
    # 'all' = burglary + robbery; week 4 in c0 had 0 + 2
    assert _at(table, "2024-01-08", C0, "cnt_all_lag1w") == 2
    assert _at(table, "2024-01-08", C0, "wks_since_all") == 1
    # rolling mean over weeks 2..4 of all in c0: (0 + 3 + 2) / 3
    assert _at(table, "2024-01-08", C0, "cnt_all_roll3w") == pytest.approx(5 / 3)
    # the forecast week's features see week 5 (the last complete week)
    assert _at(table, "2024-01-15", C1, "cnt_burglary_lag1w") == 1
    assert _at(table, "2024-01-15", C0, "cnt_all_lag1w") == 1
    # same week last year is before the data: NaN, never a silent zero
    assert np.isnan(table["cnt_all_lag52w"]).all()


def test_hand_computed_spatial_lags() -> None:
    table, _ = _small_table()
    w5 = "2024-01-08"  # lag 1 = week 4: all = c0 2, c1 0, c2 0
    assert _at(table, w5, C1, "nbr1_cnt_all_lag1w") == pytest.approx((2 + 0) / 2)
    assert _at(table, w5, C0, "nbr1_cnt_all_lag1w") == 0  # c0's only ring-1 cell is c1
    assert _at(table, w5, C2, "nbr2_cnt_all_lag1w") == 2  # c2's only ring-2 cell is c0
    assert np.isnan(_at(table, w5, C1, "nbr2_cnt_all_lag1w"))  # c1 has no ring-2 study cell
    # roll4 of all over weeks 1..4: c0 = (1 + 0 + 3 + 2) / 4, c2 = (0 + 0 + 1 + 0) / 4
    assert _at(table, w5, C1, "nbr1_cnt_all_roll4w") == pytest.approx((1.5 + 0.25) / 2)
    # week 2 has only 2 weeks of history: roll4 is NaN, so its spatial lag is too
    assert np.isnan(_at(table, "2023-12-18", C1, "nbr1_cnt_all_roll4w"))


def test_hand_computed_history_means() -> None:
    table, _ = _small_table()
    # burglary in c0 over weeks 0..3 = 1, 0, 0, 3: the long-run rate before week 4 is 4 / 4
    assert _at(table, "2024-01-01", C0, "cnt_burglary_mean_hist") == pytest.approx(1.0)
    # all in c0 over weeks 0..4 = 1, 1, 0, 3, 2 -> 7 / 5; in c2 = 1, 0, 0, 1, 0 -> 2 / 5
    w5 = "2024-01-08"
    assert _at(table, w5, C0, "cnt_all_mean_hist") == pytest.approx(7 / 5)
    # ring 1 of c1 is {c0, c2}: the mean of their long-run rates
    assert _at(table, w5, C1, "nbr1_cnt_all_mean_hist") == pytest.approx((7 / 5 + 2 / 5) / 2)
    # the forecast week sees all six weeks: burglary in c1 = 0, 2, 0, 0, 0, 1
    assert _at(table, "2024-01-15", C1, "cnt_burglary_mean_hist") == pytest.approx(3 / 6)


def test_calendar_and_target() -> None:
    table, _ = _small_table()
    by_week = table.groupby("period_start")[["week_of_year", "holidays_in_week"]].first()
    assert list(by_week["week_of_year"]) == [51, 52, 1, 2, 3]
    assert list(by_week["holidays_in_week"]) == [0, 2, 1, 0, 0]
    assert list(table.groupby("period_start")["weeks_since_start"].first()) == [2, 3, 4, 5, 6]
    assert _at(table, "2023-12-25", C0, "target_count") == 3
    assert _at(table, "2023-12-25", C2, "target_count") == 1
    assert _at(table, "2024-01-01", C0, "target_count") == 2
    forecast = table[table["period_start"] == pd.Timestamp("2024-01-15")]
    assert len(forecast) == 3 and forecast["target_count"].isna().all()
    assert (
        table.loc[table["period_start"] < pd.Timestamp("2024-01-15"), "target_count"].notna().all()
    )


# The same counts as calendar months: October 2023 to March 2024 (t = 0..5), forecast April 2024.
# England's holidays: 25 + 26 Dec (t = 2), 1 Jan (t = 3), Good Friday 29 Mar (t = 5), Easter
# Monday 1 Apr (the forecast month).
MONTHS = period_range("2023-10-01", "2024-03-01", period="month")


def _monthly_table() -> tuple[pd.DataFrame, dict]:
    counts = {"burglary": BURGLARY, "robbery": ROBBERY}
    return build_feature_table(counts, cell_ids=CELLS, periods=MONTHS, period="month", config=SMALL)


def test_monthly_names_keys_and_meta() -> None:
    table, meta = _monthly_table()
    assert list(table["period_start"].unique()) == list(
        pd.to_datetime(["2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])
    )
    cols = feature_columns(SMALL, period="month")
    assert list(table.columns) == ["h3_cell", "period_start", *cols, "target_count"]
    assert cols[:8] == [
        "cnt_burglary_lag1m",
        "cnt_burglary_lag2m",
        "cnt_burglary_roll2m",
        "cnt_burglary_roll3m",
        "cnt_burglary_mean_hist",
        "cnt_burglary_lag12m",
        "nr_burglary_decay1m",
        "mths_since_burglary",
    ]
    assert {"nbr1_cnt_all_lag1m", "nbr2_cnt_all_roll3m", "nbr1_cnt_all_mean_hist"} <= set(cols)
    assert cols[-3:] == ["month_of_year", "holidays_in_month", "months_since_start"]
    assert not [c for c in cols if c.endswith("w") or "week" in c or "wks" in c]
    assert meta["period"] == "month"
    assert (meta["first_period"], meta["last_complete_period"], meta["forecast_period"]) == (
        "2023-12-01",
        "2024-03-01",
        "2024-04-01",
    )
    assert meta["n_periods"] == 5


def test_monthly_hand_computed_values() -> None:
    table, _ = _monthly_table()
    # Row (c0, February 2024 = t 4): burglary in c0 was 1, 0, 0, 3 in Oct..Jan.
    feb = "2024-02-01"
    assert _at(table, feb, C0, "cnt_burglary_lag1m") == 3
    assert _at(table, feb, C0, "cnt_burglary_lag2m") == 0
    assert _at(table, feb, C0, "cnt_burglary_roll2m") == pytest.approx(1.5)
    assert _at(table, feb, C0, "cnt_burglary_roll3m") == pytest.approx(1.0)
    # decay, half-life 1 month: 3 * 1 + 0 * 1/2 + 0 * 1/4 + 1 * 1/8
    assert _at(table, feb, C0, "nr_burglary_decay1m") == pytest.approx(3.125)
    assert _at(table, feb, C0, "mths_since_burglary") == 1
    assert _at(table, "2024-01-01", C0, "mths_since_burglary") == 3  # last one in October
    assert _at(table, "2024-04-01", C1, "mths_since_robbery") == 10  # never: since_cap
    assert _at(table, feb, C0, "cnt_burglary_mean_hist") == pytest.approx(4 / 4)
    # 'all' in c0 = 1, 1, 0, 3, 2, 1 (Oct..Mar); in c2 = 1, 0, 0, 1, 0, 0
    mar = "2024-03-01"
    assert _at(table, mar, C0, "cnt_all_roll3m") == pytest.approx(5 / 3)
    # ring 1 of c1 is {c0, c2}: February's all-counts 2 and 0; Dec..Feb means 5/3 and 1/3
    assert _at(table, mar, C1, "nbr1_cnt_all_lag1m") == pytest.approx(1.0)
    assert _at(table, mar, C1, "nbr1_cnt_all_roll3m") == pytest.approx((5 / 3 + 1 / 3) / 2)
    # same month last year is before the data: NaN, never a silent zero
    assert np.isnan(table["cnt_all_lag12m"]).all()
    by_month = table.groupby("period_start")[
        ["month_of_year", "holidays_in_month", "months_since_start"]
    ].first()
    assert list(by_month["month_of_year"]) == [12, 1, 2, 3, 4]
    assert list(by_month["holidays_in_month"]) == [2, 1, 0, 1, 1]
    assert list(by_month["months_since_start"]) == [2, 3, 4, 5, 6]
    assert _at(table, "2024-01-01", C0, "target_count") == 3
    assert _at(table, feb, C0, "target_count") == 2
    forecast = table[table["period_start"] == pd.Timestamp("2024-04-01")]
    assert len(forecast) == 3 and forecast["target_count"].isna().all()


def test_monthly_same_month_last_year_reads_12_months_back() -> None:
    months = period_range("2022-01-01", "2023-03-01", period="month")  # 15 months
    counts = {t: np.zeros((months.size, 3), dtype=np.int32) for t in ("burglary", "robbery")}
    counts["burglary"][:, C0] = np.arange(months.size)  # January 2022 = 0, ..., March 2023 = 14
    config = SMALL.model_copy(update={"min_history_periods": 12})
    table, _ = build_feature_table(
        counts, cell_ids=CELLS, periods=months, period="month", config=config
    )
    # April 2023 (t 15) looks back to April 2022 (t 3); January 2023 (t 12) to January 2022
    assert _at(table, "2023-04-01", C0, "cnt_burglary_lag12m") == 3
    assert _at(table, "2023-01-01", C0, "cnt_burglary_lag12m") == 0
    assert _at(table, "2023-01-01", C0, "cnt_burglary_lag1m") == 11


def _reference(X: np.ndarray, t: int, c: int, config: FeatureConfig) -> dict[str, float]:
    """Straightforward per-row loops: the definitions, written plainly."""
    out: dict[str, float] = {}
    for k in (*config.lags, 52):
        out[f"lag{k}w"] = X[t - k, c] if t - k >= 0 else np.nan
    for n in config.rolling_windows:
        out[f"roll{n}w"] = X[t - n : t, c].mean() if t - n >= 0 else np.nan
    for h in config.decay_half_lives:
        out[f"decay{h}w"] = sum(X[s, c] * 2 ** (-(t - 1 - s) / h) for s in range(t))
    seen = [s for s in range(t) if X[s, c] > 0]
    out["wks_since"] = min(t - seen[-1], config.since_cap) if seen else config.since_cap
    return out


def test_matches_reference_implementation_on_random_counts() -> None:
    rng = np.random.default_rng(7)
    weeks = period_range("2022-01-03", "2023-03-27", period="week")  # 65 weeks
    counts = {t: rng.poisson(0.4, size=(weeks.size, 3)).astype(np.int32) for t in VICTIM_TYPES}
    config = FeatureConfig(rings=(1,))
    table, _ = build_feature_table(
        counts, cell_ids=CELLS, periods=weeks, period="week", config=config
    )
    all_counts = sum(counts[t] for t in VICTIM_TYPES)
    for t in (52, 58, 65):
        for c in range(3):
            row = table.iloc[(t - 52) * 3 + c]
            for tok in ("burglary", "shoplifting", "all"):
                X = all_counts if tok == "all" else counts[tok]
                for name, value in _reference(X, t, c, config).items():
                    column = f"wks_since_{tok}" if name == "wks_since" else None
                    if column is None:
                        prefix = "nr" if name.startswith("decay") else "cnt"
                        column = f"{prefix}_{tok}_{name}"
                    np.testing.assert_allclose(row[column], value, rtol=1e-5, err_msg=column)


def _city_events(seed: int, periods: np.ndarray, cells: np.ndarray, n: int, period: Period):
    rng = np.random.default_rng(seed)
    end = next_period_start(periods[-1:], period=period)[0]
    span = (end - periods[0]).astype("timedelta64[s]").astype(int)
    seconds = np.sort(rng.integers(0, span, size=n))
    return pd.DataFrame(
        {
            "h3_int": rng.choice(cells, size=n),
            "timestamp": periods[0] + seconds.astype("timedelta64[s]"),
            "crime_type": rng.choice(["burglary", "robbery", "drugs", "shoplifting"], size=n),
        }
    )


LEAKAGE_CASES = {
    # period: (first, last, cut index, config)
    "week": ("2022-01-03", "2023-04-24", 60, FeatureConfig()),  # 69 weeks, cut at week 60
    "month": (
        "2021-01-01",
        "2023-06-01",
        22,  # 30 months, cut at month 22 (2022-11)
        FeatureConfig(
            lags=(1, 2, 3),
            rolling_windows=(3, 6, 12),
            decay_half_lives=(1, 3),
            since_cap=24,
            min_history_periods=12,
        ),
    ),
}


@pytest.mark.parametrize("period", ["week", "month"])
def test_leakage_changing_period_p_and_later_leaves_earlier_features(period: Period) -> None:
    first, last, cut_at, config = LEAKAGE_CASES[period]
    u = "w" if period == "week" else "m"
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(_ORIGIN, 2)), dtype=np.uint64)
    periods = period_range(first, last, period=period)
    static = pd.DataFrame({"h3_int": cells, "residents": np.arange(cells.size, dtype=float)})
    events = _city_events(1, periods, cells, 3000, period)
    cut = periods[cut_at]
    after = events["timestamp"] >= cut
    changed = pd.concat(
        [
            events[~after],
            # Different events from P on, one exactly at P's first instant, plus a burst in P.
            _city_events(2, periods, cells, 3000, period).query("timestamp >= @cut"),
            pd.DataFrame(
                {
                    "h3_int": np.repeat(cells[:1], 5),
                    "timestamp": np.full(5, cut),
                    "crime_type": "burglary",
                }
            ),
        ],
        ignore_index=True,
    )

    def build(ev: pd.DataFrame) -> pd.DataFrame:
        counts = count_matrix(
            ev, cell_ids=cells, periods=periods, period=period, crime_types=VICTIM_TYPES
        )
        table, _ = build_feature_table(
            counts, cell_ids=cells, periods=periods, period=period, static=static, config=config
        )
        return table

    base, alt = build(events), build(changed)
    features = [c for c in base.columns if c not in ("target_count",)]
    upto = base["period_start"] <= cut
    assert upto.any() and (~upto).any()
    pd.testing.assert_frame_equal(
        base.loc[upto, features].reset_index(drop=True),
        alt.loc[upto, features].reset_index(drop=True),
    )
    # The target of period P did change, and so did features after P.
    in_p = base["period_start"] == cut
    assert not base.loc[in_p, "target_count"].equals(alt.loc[in_p, "target_count"])
    later = base["period_start"] > cut
    assert not base.loc[later, f"cnt_all_lag1{u}"].equals(alt.loc[later, f"cnt_all_lag1{u}"])
    # The forecast row exists for every cell, with features and a null target.
    forecast = alt[alt["period_start"] == next_period_start(periods[-1:], period=period)[0]]
    assert len(forecast) == cells.size
    assert forecast["target_count"].isna().all()
    assert forecast[f"cnt_all_lag1{u}"].notna().all()


def test_an_event_just_before_w_does_change_w() -> None:
    weeks = WEEKS
    base = pd.DataFrame({"h3_int": CELLS[:1], "timestamp": [weeks[0]], "crime_type": ["burglary"]})
    moved = base.assign(timestamp=[weeks[3] - np.timedelta64(1, "s")])
    tables = []
    for ev in (base, moved):
        counts = count_matrix(ev, cell_ids=CELLS, periods=weeks, crime_types=("burglary",))
        tables.append(
            build_feature_table(
                counts,
                cell_ids=CELLS,
                periods=weeks,
                period="week",
                config=SMALL.model_copy(update={"target_types": ("burglary",)}),
            )[0]
        )
    w3 = tables[1]["period_start"] == weeks[3]
    assert tables[1].loc[w3, "cnt_burglary_lag1w"].sum() == 1
    assert tables[0].loc[w3, "cnt_burglary_lag1w"].sum() == 0


def test_deterministic() -> None:
    a, meta_a = _small_table()
    b, meta_b = _small_table()
    pd.testing.assert_frame_equal(a, b)
    assert meta_a == meta_b


def test_static_covariates() -> None:
    static = pd.DataFrame(
        {
            "h3_cell": [format(int(c), "x") for c in CELLS[::-1]],  # any order
            "residents": [30.0, 20.0, 10.0],
            "is_centre": [True, False, False],
        }
    )
    counts = {"burglary": BURGLARY, "robbery": ROBBERY}
    table, meta = build_feature_table(
        counts, cell_ids=CELLS, periods=WEEKS, period="week", static=static, config=SMALL
    )
    assert meta["feature_columns"][-2:] == ["static_residents", "static_is_centre"]
    assert list(table["static_residents"].iloc[:3]) == [10.0, 20.0, 30.0]
    assert list(table["static_is_centre"].iloc[:3]) == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="lacks 1 of the 3 study cells"):
        build_feature_table(
            counts,
            cell_ids=CELLS,
            periods=WEEKS,
            period="week",
            static=static.iloc[:2],
            config=SMALL,
        )
    with pytest.raises(ValueError, match="non-numeric columns: district_name"):
        build_feature_table(
            counts,
            cell_ids=CELLS,
            periods=WEEKS,
            period="week",
            static=static.assign(district_name="x"),
            config=SMALL,
        )
    with pytest.raises(ValueError, match="'h3_int'"):
        build_feature_table(
            counts,
            cell_ids=CELLS,
            periods=WEEKS,
            period="week",
            static=static.drop(columns="h3_cell"),
            config=SMALL,
        )


def test_refuses_bad_inputs() -> None:
    counts = {"burglary": BURGLARY, "robbery": ROBBERY}
    with pytest.raises(ValueError, match=r"lacks the crime types \['robbery'\]"):
        build_feature_table(
            {"burglary": BURGLARY}, cell_ids=CELLS, periods=WEEKS, period="week", config=SMALL
        )
    with pytest.raises(ValueError, match=r"must have shape \[week, cell\]"):
        build_feature_table(
            {"burglary": BURGLARY[:-1], "robbery": ROBBERY},
            cell_ids=CELLS,
            periods=WEEKS,
            period="week",
            config=SMALL,
        )
    with pytest.raises(ValueError, match=r"min_history_periods=52 complete weeks .* Got 6"):
        build_feature_table(
            counts,
            cell_ids=CELLS,
            periods=WEEKS,
            period="week",
            config=FeatureConfig(target_types=("burglary", "robbery")),
        )


def test_config_validation() -> None:
    assert FeatureConfig().target_types == VICTIM_TYPES
    assert FeatureConfig().type_tokens == (*VICTIM_TYPES, "all")
    with pytest.raises(ValidationError, match="police_activity_features"):
        FeatureConfig(feature_types=("burglary", "drugs"))
    ok = FeatureConfig(feature_types=("burglary", "drugs"), police_activity_features=True)
    assert ok.type_tokens == ("burglary", "drugs", "all")
    with pytest.raises(ValidationError, match="target_reason"):
        FeatureConfig(target_types=("burglary", "drugs"))
    with pytest.raises(ValidationError, match="not a canonical Beatwise type"):
        FeatureConfig(target_types=("burglary", "burglry"))
    with pytest.raises(ValidationError, match="must not include 52 in weekly mode"):
        FeatureConfig(period="week", lags=(1, 52))
    with pytest.raises(ValidationError, match="must not include 12 in monthly mode"):
        FeatureConfig(period="month", lags=(1, 12))
    # with period auto the lags are judged once the period is known
    assert feature_columns(FeatureConfig(lags=(1, 12)), period="week")[1] == "cnt_burglary_lag12w"
    with pytest.raises(ValueError, match="must not include 12 in monthly mode"):
        feature_columns(FeatureConfig(lags=(1, 12)), period="month")
    with pytest.raises(ValueError, match=r"FeatureConfig\.period is 'month', but a 'week' panel"):
        feature_columns(FeatureConfig(period="month"), period="week")
    with pytest.raises(ValidationError, match="Input should be 'auto', 'week' or 'month'"):
        FeatureConfig(period="day")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="strictly ascending"):
        FeatureConfig(rolling_windows=(13, 4))
    with pytest.raises(ValidationError, match="Extra inputs"):
        FeatureConfig(lag=(1,))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="python-holidays"):
        FeatureConfig(holidays_country="XX")
    with pytest.raises(ValidationError, match="frozen"):
        FeatureConfig().lags = (1,)  # type: ignore[misc]


def test_decayed_intensity_is_lfilter_bit_for_bit() -> None:
    """The period loop does lfilter([1], [1, -d])'s float64 operations, so its values are the
    same bits (the panel's bytes did not change when it replaced lfilter)."""
    import scipy.signal

    from features.arrays import decayed as _decayed

    rng = np.random.default_rng(3)
    X = rng.poisson(0.4, size=(80, 57)).astype(np.int32)
    rows = np.arange(0, 81)
    for half_life in (1, 4, 13):
        d = 2.0 ** (-1.0 / half_life)
        y = scipy.signal.lfilter([1.0], [1.0, -d], X.astype(np.float64), axis=0)
        expected = np.vstack([np.zeros((1, X.shape[1])), y])[rows].astype(np.float32)
        np.testing.assert_array_equal(_decayed(X, rows, half_life), expected)


@pytest.mark.parametrize("first_row", [2, 4, 6])
def test_first_row_builds_the_same_rows_as_the_whole_table(first_row: int) -> None:
    """A loop that forecasts week by week builds only the rows it needs; they must be the whole
    table's rows, value for value (a row depends only on the periods before it)."""
    counts = {"burglary": BURGLARY, "robbery": ROBBERY}
    whole, _ = _small_table()
    part, meta = build_feature_table(
        counts, cell_ids=CELLS, periods=WEEKS, period="week", config=SMALL, first_row=first_row
    )
    tail = whole[whole["period_start"] >= WEEKS[0] + np.timedelta64(7 * first_row, "D")]
    pd.testing.assert_frame_equal(part, tail.reset_index(drop=True))
    assert meta["first_period"] == str(
        (WEEKS[0] + np.timedelta64(7 * first_row, "D")).astype("datetime64[D]")
    )


@pytest.mark.parametrize("first_row", [1, 7])
def test_first_row_outside_the_table_is_refused(first_row: int) -> None:
    counts = {"burglary": BURGLARY, "robbery": ROBBERY}
    with pytest.raises(ValueError, match="first_row must lie between"):
        build_feature_table(
            counts, cell_ids=CELLS, periods=WEEKS, period="week", config=SMALL, first_row=first_row
        )
