"""Tests for features.multires: the parent-cell features against a slow reference, leakage with
parents, places and long decays, and the checks of the parent resolutions."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from beatwise.artefacts.cells import CellsMeta
from beatwise.period import Period, period_range
from beatwise.taxonomy import VICTIM_TYPES
from features.build import CovariatesConfig, build_panel
from features.engineering import FeatureConfig, build_feature_table
from features.multires import parent_counts, parent_index
from features.panel import count_matrix
from features.places import PlacesConfig, read_places

#: 61 resolution-9 cells (4 rings) around central London: several resolution-8 and -7 parents,
#: some cut by the edge of the disc
CELLS = np.array(
    sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5074, -0.1278, 9), 4)),
    dtype=np.uint64,
)
WEEKS = period_range("2023-01-02", "2023-04-24", period="week")  # 17 weeks
CONFIG = FeatureConfig(
    target_types=("burglary", "robbery"),
    lags=(1, 2),
    rolling_windows=(2, 5),
    decay_half_lives=(1, 3, 52),
    rings=(1,),
    parent_resolutions=(8, 7),
    min_history_periods=3,
    since_cap=12,
)


def _counts(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t: rng.poisson(0.6, size=(WEEKS.size, CELLS.size)).astype(np.int32) for t in
            CONFIG.target_types}  # fmt: skip


def _reference(all_counts: np.ndarray, rows: np.ndarray, resolution: int) -> dict[str, np.ndarray]:
    """The parent features by loops over rows and cells, straight from their definitions."""
    parent = [h3.cell_to_parent(h3.int_to_str(int(c)), resolution) for c in CELLS]
    out = {name: np.full((rows.size, CELLS.size), np.nan) for name in
           ("lag1", "roll2", "roll5", "hist", "decay1", "decay3", "decay52")}  # fmt: skip
    for i, t in enumerate(rows):
        for c in range(CELLS.size):
            mates = [j for j in range(CELLS.size) if parent[j] == parent[c]]
            per_cell = all_counts[:, mates].sum(axis=1) / len(mates)  # [period]
            out["lag1"][i, c] = per_cell[t - 1]
            for n in (2, 5):
                if t >= n:
                    out[f"roll{n}"][i, c] = per_cell[t - n : t].mean()
            out["hist"][i, c] = per_cell[:t].mean()
            for h in (1, 3, 52):
                weights = 2.0 ** (-(t - 1 - np.arange(t)) / h)
                out[f"decay{h}"][i, c] = (per_cell[:t] * weights).sum()
    return out


def test_parent_features_equal_a_slow_reference() -> None:
    counts = _counts(0)
    table, meta = build_feature_table(counts, cell_ids=CELLS, periods=WEEKS, period="week",
                                      config=CONFIG)  # fmt: skip
    all_counts = counts["burglary"] + counts["robbery"]
    rows = np.arange(CONFIG.min_history_periods, WEEKS.size + 1)
    for p in (8, 7):
        ref = _reference(all_counts, rows, p)
        names = {
            "lag1": f"par{p}_cnt_all_lag1w", "roll2": f"par{p}_cnt_all_roll2w",
            "roll5": f"par{p}_cnt_all_roll5w", "hist": f"par{p}_cnt_all_mean_hist",
            "decay1": f"par{p}_nr_all_decay1w", "decay3": f"par{p}_nr_all_decay3w",
            "decay52": f"par{p}_nr_all_decay52w",
        }  # fmt: skip
        for key, column in names.items():
            assert column in meta["feature_columns"]
            got = table[column].to_numpy().reshape(rows.size, CELLS.size)
            np.testing.assert_allclose(got, ref[key], rtol=2e-6, equal_nan=True, err_msg=column)
    # a coarser parent averages over more cells: resolution 7 holds 7 x more study cells
    _, n8 = parent_index(CELLS, resolution=8)
    _, n7 = parent_index(CELLS, resolution=7)
    assert n8.sum() == n7.sum() == CELLS.size and n7.max() > n8.max()


def test_parent_counts_are_exact_sums_per_parent() -> None:
    X = np.array([[1, 2, 3, 4], [0, 5, 0, 7]], dtype=np.int32)
    parent_of = np.array([1, 0, 1, 2])
    np.testing.assert_array_equal(parent_counts(X, parent_of, 3), [[2, 4, 4], [5, 0, 7]])


@pytest.mark.parametrize("period", ["week", "month"])
def test_leakage_with_parents_places_and_long_decays(period: Period, tmp_path) -> None:
    """Altering or appending events in period P and later leaves every feature of P and the
    periods before it unchanged; a place that opens at P's start (its date known in advance)
    changes P on, never a period before it."""
    periods = (
        period_range("2022-01-03", "2022-12-26", period="week")
        if period == "week"
        else period_range("2020-01-01", "2022-12-01", period="month")
    )
    cut_at = 30
    cut = periods[cut_at]
    lat, lon = h3.cell_to_latlng(h3.int_to_str(int(CELLS[5])))
    before = pd.DataFrame({"kind": ["shop", "station"], "lon": [lon, lon], "lat": [lat, lat],
                           "opened": ["", "2021-06-01"], "closed": ["", ""]})  # fmt: skip
    opens_at_cut = pd.concat(  # a station that opens exactly at P's start, another after it
        [before, pd.DataFrame({"kind": ["station", "station"], "lon": [lon, lon],
                               "lat": [lat, lat], "closed": ["", ""],
                               "opened": [f"{pd.Timestamp(cut):%Y-%m-%d}",
                                          f"{pd.Timestamp(periods[-2]):%Y-%m-%d}"]})],
        ignore_index=True,
    )  # fmt: skip
    config = CONFIG.model_copy(update={"places": PlacesConfig(path="set", radius_rings=(0, 2))})
    span = (periods[-1] - periods[0]).astype("timedelta64[s]").astype(np.int64) + 86400 * 28

    def events(seed: int, n: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        return pd.DataFrame({
            "h3_int": r.choice(CELLS, size=n),
            "timestamp": periods[0] + r.integers(0, span, size=n).astype("timedelta64[s]"),
            "crime_type": r.choice(("burglary", "robbery"), size=n),
        })  # fmt: skip

    base_events = events(2, 4000)
    base_events = base_events[base_events["timestamp"] < periods[-1]]
    later = events(3, 3000)
    later = later[(later["timestamp"] >= cut) & (later["timestamp"] < periods[-1])]
    changed = pd.concat([base_events[base_events["timestamp"] < cut], later], ignore_index=True)
    appended = pd.concat([base_events, later], ignore_index=True)

    def build(ev: pd.DataFrame, places: pd.DataFrame) -> pd.DataFrame:
        path = tmp_path / f"places_{len(places)}.csv"
        places.to_csv(path, index=False)
        loaded = read_places(PlacesConfig(path=str(path), radius_rings=(0, 2)), resolution=9)
        counts = count_matrix(ev, cell_ids=CELLS, periods=periods, period=period,
                              crime_types=VICTIM_TYPES)  # fmt: skip
        table, _ = build_feature_table(
            {t: counts[t] for t in config.target_types}, cell_ids=CELLS, periods=periods,
            period=period, config=config, places=loaded,
        )  # fmt: skip
        return table

    base = build(base_events, before)
    features = [c for c in base.columns if c != "target_count"]
    upto = (base["period_start"] <= cut).to_numpy()
    for alt in (build(changed, before), build(appended, before)):
        pd.testing.assert_frame_equal(
            base.loc[upto, features].reset_index(drop=True),
            alt.loc[upto, features].reset_index(drop=True),
        )
    earlier = (base["period_start"] < cut).to_numpy()
    pd.testing.assert_frame_equal(
        base.loc[earlier, features].reset_index(drop=True),
        build(base_events, opens_at_cut).loc[earlier, features].reset_index(drop=True),
    )
    # the changes do show after P (the parent features see them) and the station from P on
    alt = build(changed, before)
    after = ~upto
    assert not np.array_equal(base.loc[after, "par7_cnt_all_lag1" + period[0]],
                              alt.loc[after, "par7_cnt_all_lag1" + period[0]])  # fmt: skip
    opened = build(base_events, opens_at_cut)
    hexid = format(int(CELLS[5]), "x")
    cell = opened[opened["h3_cell"] == hexid].set_index("period_start")
    assert cell.loc[pd.Timestamp(periods[cut_at - 1]), "plc_station_disk0"] == 1
    assert cell.loc[pd.Timestamp(cut), "plc_station_disk0"] == 2


def test_parent_resolution_config_is_validated() -> None:
    for bad in ([6, 7], [7, 7], [15], [-1]):
        with pytest.raises(ValidationError, match=r"parent_resolutions must hold H3 resolutions"):
            FeatureConfig.model_validate({"parent_resolutions": bad})
    assert FeatureConfig.model_validate({"parent_resolutions": [7, 6]}).parent_resolutions == (7, 6)
    assert FeatureConfig().parent_resolutions == ()


def test_a_parent_not_coarser_than_the_cells_is_refused() -> None:
    counts = _counts(0)
    with pytest.raises(
        ValueError,
        match=r"'features\.parent_resolutions'.*resolution 9 "
        r"\(cell_ids\)\. Got \[9, 7\]; \[9\] are not coarser",
    ):
        build_feature_table(
            counts,
            cell_ids=CELLS,
            periods=WEEKS,
            period="week",
            config=CONFIG.model_copy(update={"parent_resolutions": (9, 7)}),
        )
    cells = pd.DataFrame({"h3_int": CELLS, "residents": 1.0})
    rng = np.random.default_rng(0)
    events = pd.DataFrame({"h3_int": rng.choice(CELLS, 50), "crime_type": "burglary",
                           "timestamp": WEEKS[0] + rng.integers(0, 10**7, 50).astype(
                               "timedelta64[s]")})  # fmt: skip
    with pytest.raises(
        ValueError,
        match=r"coarser \(smaller\) than the study cells' resolution 8 "
        r"\(cells\.h3_resolution, as cells_meta\.json records it\)",
    ):
        build_panel(
            cells, events,
            cells_meta=CellsMeta(h3_resolution=8, n_cells=CELLS.size, study_area="events_only"),
            features=CONFIG.model_copy(update={"parent_resolutions": (8,)}),
            covariates=CovariatesConfig(), source="synthetic", time_resolution="sub_day",
        )  # fmt: skip
