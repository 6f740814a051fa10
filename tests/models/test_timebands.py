"""Time bands: when in the week a cell's risk falls, from its own and its neighbours' history."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from stage_files import panel_meta

from beatwise.artefacts.panel import PanelMeta
from models.timebands import (
    PRIOR_BOUNDS,
    TimeBandsConfig,
    activity_centres,
    activity_groups,
    band_counts,
    band_duration_shares,
    band_labels,
    band_shares,
    city_profile,
    estimate_prior_events,
    event_bands,
    neighbour_matrix,
    recent_rhythm,
    refusal,
    window_counts,
)
from models.timebands_backtest import band_calibration, choose_history, time_bands_report

CFG = TimeBandsConfig(history_periods=52)
MONDAY = pd.Timestamp("2024-01-01")
CELLS = np.array(
    sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 8), 2)),
    dtype=np.uint64,
)


def test_bands_in_words_and_in_order() -> None:
    labels = band_labels(CFG)
    assert len(labels) == CFG.n_bands == 12
    assert labels[0] == "weekdays 00:00-04:00"
    assert labels[5] == "weekdays 20:00-24:00"
    assert labels[11] == "weekends 20:00-24:00"
    assert band_labels(TimeBandsConfig(band_hours=6, weekend_split=False)) == (
        "every day 00:00-06:00",
        "every day 06:00-12:00",
        "every day 12:00-18:00",
        "every day 18:00-24:00",
    )
    np.testing.assert_allclose(band_duration_shares(CFG)[[0, 6]], [5 / 42, 2 / 42])


def test_each_timestamp_falls_in_its_band() -> None:
    stamps = pd.to_datetime(
        ["2024-01-01 03:59", "2024-01-01 04:00", "2024-01-05 23:59", "2024-01-06 00:00",
         "2024-01-07 23:00", "2024-01-03 13:30"]
    )  # fmt: skip
    np.testing.assert_array_equal(event_bands(stamps, CFG), [0, 1, 5, 6, 11, 3])


@pytest.mark.parametrize("hours", [0, 5, 7, 25])
def test_bands_must_divide_a_day(hours: int) -> None:
    with pytest.raises(ValidationError, match="band_hours must divide a day into whole bands"):
        TimeBandsConfig(band_hours=hours)


def test_monthly_and_dated_data_are_refused_in_words() -> None:
    assert "only the month of each crime" in str(refusal("month", "month"))
    assert "dates without times of day" in str(refusal("day", "week"))
    assert "forecasts are by month" in str(refusal("sub_day", "month"))
    assert refusal("sub_day", "week") is None


def test_counts_land_in_their_week_cell_and_band_and_outsiders_are_left_out() -> None:
    weeks = pd.date_range(MONDAY, periods=3, freq="7D")
    stamps = pd.to_datetime(
        ["2024-01-01 01:00", "2024-01-09 22:00", "2024-01-14 10:00", "2023-12-31 23:00",
         "2024-01-22 00:00"]
    )  # fmt: skip
    counts = band_counts([0, 1, 1, 0, 1], stamps, week_starts=weeks, n_cells=2, config=CFG)
    assert counts.shape == (3, 2, 12)
    assert counts.sum() == 3  # the first and last stamps lie outside the three weeks
    assert counts[0, 0, 0] == counts[1, 1, 5] == counts[1, 1, 8] == 1
    with pytest.raises(ValueError, match=r"cell_index must lie in 0\.\.1"):
        band_counts([2], stamps[:1], week_starts=weeks, n_cells=2, config=CFG)


def _night_cell_counts(n_weeks: int = 30) -> np.ndarray:
    """The centre cell has 10 events a week, all weekend nights; the others none."""
    counts = np.zeros((n_weeks, CELLS.size, 12), dtype=np.int32)
    counts[:, 0, 6] = 10
    return counts


def test_shares_add_up_and_a_busy_cell_keeps_its_own_rhythm() -> None:
    counts = _night_cell_counts()
    shares = band_shares(counts, [30], neighbours=neighbour_matrix(CELLS, rings=1), config=CFG)[0]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares[0, 6] > 0.95  # 300 events of its own against 20 pseudo-events


def test_a_quiet_cell_borrows_its_neighbours_rhythm_then_the_citys() -> None:
    counts = _night_cell_counts()
    counts[:, :, 2] += 1  # and one weekday 08:00-12:00 event a week everywhere
    neighbours = neighbour_matrix(CELLS, rings=1)
    shares = band_shares(counts, [30], neighbours=neighbours, config=CFG)[0]
    ring1 = np.flatnonzero(np.asarray(neighbours[[0], :].todense()).ravel())
    ring2 = np.setdiff1d(np.arange(1, CELLS.size), ring1)
    # ring-1 cells see the centre's weekend nights; ring-2 cells only through the city profile
    assert (shares[ring1, 6] > shares[ring2, 6].max()).all()
    alone = band_shares(counts, [30], neighbours=neighbour_matrix(CELLS, rings=0), config=CFG)[0]
    assert (alone[ring1, 6] < shares[ring1, 6]).all()


def test_no_history_gives_the_hours_of_the_week() -> None:
    counts = np.zeros((4, CELLS.size, 12), dtype=np.int32)
    shares = band_shares(counts, [0, 4], neighbours=neighbour_matrix(CELLS, rings=1), config=CFG)
    np.testing.assert_allclose(shares, np.broadcast_to(band_duration_shares(CFG), shares.shape))


def test_window_counts_sum_the_weeks_before_each_row_and_the_city_profile_pools_them() -> None:
    config = TimeBandsConfig(history_periods=2, band_hours=12, weekend_split=False)  # two bands
    counts = np.zeros((4, 2, 2), dtype=np.int32)
    counts[:, 0, 0] = [1, 2, 4, 8]  # cell 0, mornings
    counts[:, 1, 1] = [0, 0, 0, 16]  # cell 1, afternoons of the last week only
    own = window_counts(counts, [0, 1, 3, 4], config=config)
    # row t: weeks t-2 and t-1; row 0 has no week before it, row 4 is the week after the data
    np.testing.assert_array_equal(own[:, 0, 0], [0, 1, 6, 12])
    np.testing.assert_array_equal(own[:, 1, 1], [0, 0, 0, 16])
    city = city_profile(own, config=config)
    np.testing.assert_allclose(city, [[0.5, 0.5], [1.0, 0.0], [1.0, 0.0], [12 / 28, 16 / 28]])
    with pytest.raises(ValueError, match=r"rows must lie in 0\.\.4"):
        window_counts(counts, [5], config=config)


def test_a_weeks_own_events_never_inform_its_shares() -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(20, CELLS.size, 12)).astype(np.int32)
    spiked = counts.copy()
    spiked[15:, :, 11] += 500
    neighbours = neighbour_matrix(CELLS, rings=1)
    rows = [5, 10, 15]
    np.testing.assert_array_equal(
        band_shares(counts, rows, neighbours=neighbours, config=CFG),
        band_shares(spiked, rows, neighbours=neighbours, config=CFG),
    )
    assert not np.array_equal(
        band_shares(counts, [16], neighbours=neighbours, config=CFG),
        band_shares(spiked, [16], neighbours=neighbours, config=CFG),
    )
    with pytest.raises(ValueError, match=r"rows must lie in 0\.\.20"):
        band_shares(counts, [21], neighbours=neighbours, config=CFG)


def test_shares_recover_each_cells_true_rhythm_better_than_the_city_profile() -> None:
    # Two kinds of crime with distinct weekly rhythms; each cell mixes them in its own measure.
    rng = np.random.default_rng(1)
    day, night = np.full(12, 0.02), np.full(12, 0.02)
    day[[2, 3]] += 0.39
    night[[5, 6, 11]] += 0.253
    day, night = day / day.sum(), night / night.sum()
    mix = rng.choice([0.1, 0.9], CELLS.size)  # mostly daytime or mostly night-time cells
    truth = mix[:, None] * day + (1 - mix[:, None]) * night
    rate = rng.gamma(2.0, 1.0, CELLS.size)  # events per week: about 100 a year
    counts = rng.poisson(rate[None, :, None] * truth[None], size=(52, CELLS.size, 12))
    config = TimeBandsConfig(neighbour_rings=0, history_periods=52)
    est = band_shares(counts, [52], neighbours=neighbour_matrix(CELLS, rings=0), config=config)[0]
    city = counts.sum(axis=(0, 1)) / counts.sum()

    def distance(a: np.ndarray) -> np.ndarray:
        return 0.5 * np.abs(a - truth).sum(axis=-1)  # total variation, 0..1

    assert np.median(distance(est)) < 0.12
    assert np.median(distance(est)) < 0.6 * np.median(distance(np.broadcast_to(city, truth.shape)))


def test_calibration_by_band_is_one_when_the_shares_are_true_and_not_otherwise() -> None:
    rng = np.random.default_rng(2)
    n_weeks, n_cells = 40, 50
    profile = rng.dirichlet(np.ones(12))  # one rhythm, far from the hours of the week
    shares = np.broadcast_to(profile, (n_weeks, n_cells, 12))
    expected = rng.gamma(3.0, 2.0, size=(n_weeks, n_cells))
    observed = rng.poisson(expected[..., None] * shares)
    flagged = rng.random((n_weeks, n_cells)) < 0.3
    table = band_calibration(shares, expected, observed, flagged, config=CFG)
    assert table["band"].tolist() == list(band_labels(CFG))
    # within four Poisson standard errors in every band
    z = (table["observed"] - table["expected"]) / np.sqrt(table["expected"])
    assert (z.abs() < 4).all(), z.tolist()
    np.testing.assert_allclose(table["expected_share"].sum(), 1.0)
    flat = np.full_like(shares, 1 / 12)
    wrong = band_calibration(flat, expected, observed, flagged, config=CFG)
    z_wrong = (wrong["observed"] - wrong["expected"]) / np.sqrt(wrong["expected"])
    assert (z_wrong.abs() > 4).sum() >= 6


@pytest.mark.parametrize("alpha", [10.0, 100.0])
def test_the_pseudo_events_are_recovered_from_dirichlet_multinomial_cells(alpha: float) -> None:
    rng = np.random.default_rng(3)
    centre = rng.dirichlet(np.full(12, 5.0))
    n_cells = 4000
    profiles = rng.dirichlet(alpha * centre, size=n_cells)
    own = np.stack([rng.multinomial(60, p) for p in profiles]).astype(float)[None]
    estimate = estimate_prior_events(own, np.broadcast_to(centre, own.shape))
    assert estimate[0] == pytest.approx(alpha, rel=0.25)


def test_cells_with_one_rhythm_get_the_centre_and_the_centre_leaves_the_cell_out() -> None:
    rng = np.random.default_rng(4)
    centre = np.full(12, 1 / 12)
    own = rng.multinomial(50, centre, size=(1, 500)).astype(float)
    # no dispersion beyond sampling: the centre outweighs a cell's own 50 events many times
    assert estimate_prior_events(own, np.broadcast_to(centre, own.shape))[0] > 20 * 50
    exact = np.broadcast_to(np.full(12, 5.0), (1, 3, 12))
    assert estimate_prior_events(exact, np.broadcast_to(centre, exact.shape))[0] == PRIOR_BOUNDS[1]
    # two cells in one group: each one's centre is the other's profile
    pair = np.zeros((1, 2, 12))
    pair[0, 0, 0], pair[0, 1, 5] = 4.0, 6.0
    got = activity_centres(pair, pair, strata=1, fallback=np.full((1, 12), 1 / 12))
    np.testing.assert_allclose(got[0, 0], np.eye(12)[5])
    np.testing.assert_allclose(got[0, 1], np.eye(12)[0])


def _toy_backtest() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A backtest of the last 8 of 30 weeks on the 19 cells: the busiest 3 flagged each week;
    every cell's events fall at weekday 20:00-24:00 or weekend 00:00-04:00."""
    rng = np.random.default_rng(5)
    weeks = pd.date_range("2023-06-05", periods=30, freq="7D")
    cells = pd.DataFrame({"h3_cell": [format(int(c), "x") for c in CELLS], "h3_int": CELLS})
    rate = np.linspace(0.2, 6.0, CELLS.size)
    n = rng.poisson(np.tile(rate, weeks.size))
    week_of = np.repeat(np.repeat(np.arange(weeks.size), CELLS.size), n)
    cell_of = np.repeat(np.tile(np.arange(CELLS.size), weeks.size), n)
    late = rng.random(week_of.size) < 0.7
    offset = np.where(late, np.timedelta64(21, "h"), np.timedelta64(5 * 24 + 1, "h"))
    events = pd.DataFrame(
        {
            "h3_int": CELLS[cell_of],
            "timestamp": weeks.to_numpy()[week_of] + offset,
            "crime_type": "burglary",
        }
    )
    test = weeks[-8:]
    backtest = pd.DataFrame(
        {
            "period_start": np.repeat(test.to_numpy(), CELLS.size),
            "h3_cell": np.tile(cells["h3_cell"].to_numpy(), test.size),
            "risk_score": np.tile(rate, test.size),
            "flagged": np.tile(rate >= rate[-3], test.size),
        }
    )
    return backtest, events, cells


def test_the_backtest_of_the_bands_is_calibrated_and_ignores_row_order() -> None:
    backtest, events, cells = _toy_backtest()
    panel = PanelMeta.from_json(panel_meta(all_periods=["2023-06-05", "2023-12-25"]))
    report = time_bands_report(backtest, events, cells, panel=panel, config=CFG)
    assert report.available and report.reason is None
    assert report.periods == 8 and report.flagged_cell_periods == 24
    by_band = {row.band: row for row in report.calibration}
    late, night = by_band["weekdays 20:00-24:00"], by_band["weekends 00:00-04:00"]
    assert late.observed + night.observed == sum(row.observed for row in report.calibration)
    assert late.ratio == pytest.approx(1.0, abs=0.2)
    assert late.expected_share == pytest.approx(0.7, abs=0.05)
    shuffled = backtest.sample(frac=1.0, random_state=0)
    assert time_bands_report(shuffled, events, cells, panel=panel, config=CFG) == report


def test_monthly_data_get_the_reason_instead_of_bands() -> None:
    backtest, events, cells = _toy_backtest()
    panel = PanelMeta.from_json(panel_meta(period="month", time_resolution="month"))
    report = time_bands_report(backtest, events, cells, panel=panel, config=CFG)
    assert not report.available and report.calibration == ()
    assert "only the month of each crime" in str(report.reason)


def _drifting_counts(*, drift: bool) -> np.ndarray:
    """60 weeks on the 19 cells: events at weekday 08:00-12:00 until week 40, then (when
    ``drift``) at weekend 20:00-24:00 instead."""
    rng = np.random.default_rng(6)
    counts = np.zeros((60, CELLS.size, 12), dtype=np.int32)
    band = np.where((np.arange(60) >= 40) & drift, 11, 2)
    counts[np.arange(60), :, band] = rng.poisson(3.0, size=(60, CELLS.size))
    return counts


def test_the_window_is_chosen_on_the_weeks_before_the_backtest() -> None:
    neighbours = neighbour_matrix(CELLS, rings=1)
    auto = TimeBandsConfig()
    steady, scores = choose_history(_drifting_counts(drift=False), 56, neighbours=neighbours,
                                    config=auto)  # fmt: skip
    assert steady == 13  # every window predicts a steady rhythm alike: the shortest wins the tie
    assert set(scores) == {13, 26, 52, 104}
    drifted, scores = choose_history(_drifting_counts(drift=True), 56, neighbours=neighbours,
                                     config=auto)  # fmt: skip
    assert drifted == 13 and scores[13] > scores[26] > scores[52]
    # weeks from first_row on never count: a drift that starts there changes nothing
    assert (
        choose_history(_drifting_counts(drift=True), 40, neighbours=neighbours, config=auto)[1]
        == choose_history(_drifting_counts(drift=False), 40, neighbours=neighbours, config=auto)[1]
    )
    with pytest.raises(ValueError, match="history_periods is 'auto': resolve it"):
        band_shares(_drifting_counts(drift=False), [50], neighbours=neighbours, config=auto)


def test_the_busiest_group_takes_its_recent_rhythm_and_keeps_its_differences() -> None:
    # one week, four cells, three bands; two activity groups: cells 2 and 3 are the busiest
    own = np.array([[[1, 0, 0], [0, 1, 0], [10, 10, 0], [30, 10, 0]]], dtype=np.float64)
    recent = np.array([[[0, 0, 0], [0, 0, 0], [1, 3, 0], [3, 5, 0]]], dtype=np.float64)
    shares = own / own.sum(axis=2, keepdims=True)
    out = recent_rhythm(shares, own, recent, own, strata=2)
    np.testing.assert_allclose(out.sum(axis=2), 1.0)
    np.testing.assert_array_equal(out[0, :2], shares[0, :2])  # the quieter group is left alone
    # the group's window: 40 and 20 events (2/3, 1/3); recent: 4 and 8 (1/3, 2/3): band 1 gains
    # four times against band 0, in both cells, which keep their order
    factor = np.array([(1 / 3) / (2 / 3), (2 / 3) / (1 / 3), 1.0])
    expected = shares[0, 2:] * factor
    np.testing.assert_allclose(out[0, 2:], expected / expected.sum(axis=1, keepdims=True))
    assert out[0, 3, 1] < out[0, 2, 1]
    # a band the group had events in but none recently: too little to go on, left as it was
    stale = recent.copy()
    stale[0, :, 0] = 0
    np.testing.assert_array_equal(recent_rhythm(shares, own, stale, own, strata=2), shares)


def _busy_drift_counts() -> np.ndarray:
    """60 weeks: every cell has a weekday-morning event most weeks; the first six cells (the busy
    ones) have six more a week, at weekday mornings until week 40, then half of them at weekend
    nights."""
    rng = np.random.default_rng(8)
    counts = np.zeros((60, CELLS.size, 12), dtype=np.int32)
    counts[:, :, 2] = rng.poisson(1.0, size=(60, CELLS.size))
    counts[:40, :6, 2] += rng.poisson(6.0, size=(40, 6))
    counts[40:, :6, 2] += rng.poisson(3.0, size=(20, 6))
    counts[40:, :6, 11] += rng.poisson(3.0, size=(20, 6))
    return counts


def test_recent_periods_re_centre_the_busy_cells_after_a_drift_and_no_one_else() -> None:
    counts = _busy_drift_counts()
    neighbours = neighbour_matrix(CELLS, rings=0)  # local events are the cell's own
    config = TimeBandsConfig(
        history_periods=52, activity_strata=3, recent_periods=13, neighbour_rings=0
    )
    off = config.model_copy(update={"recent_periods": 0})
    with_recent = band_shares(counts, [60], neighbours=neighbours, config=config)[0]
    without = band_shares(counts, [60], neighbours=neighbours, config=off)[0]
    busy = activity_groups(counts[8:60].sum(axis=0)[None].astype(float), strata=3)[0] == 2
    np.testing.assert_array_equal(np.flatnonzero(busy), np.arange(6))  # 19 cells: top 6
    recent_share = counts[47:60, :6, 11].sum() / counts[47:60, :6].sum()
    assert abs(with_recent[:6, 11].mean() - recent_share) < 0.5 * abs(
        without[:6, 11].mean() - recent_share
    )
    np.testing.assert_array_equal(with_recent[6:], without[6:])
    # a recent window not shorter than the history window changes nothing
    same = config.model_copy(update={"recent_periods": 52})
    np.testing.assert_array_equal(
        band_shares(counts, [60], neighbours=neighbours, config=same)[0], without
    )
