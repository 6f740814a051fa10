"""Baselines B1–B7 on toy count matrices with hand-computed scores (weekly and monthly names
and windows), and a leakage test in both period modes."""

from __future__ import annotations

import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from beatwise.period import Period
from models import baselines as b

# Six periods (weeks or months) x three cells.
COUNTS = np.array(
    [
        [1, 0, 2],
        [0, 3, 0],
        [2, 1, 0],
        [4, 0, 1],
        [0, 0, 0],
        [1, 1, 1],
    ],
    dtype=np.float64,
)
SCORE_WEEKS = np.array([0, 1, 3, 6])


def h3_patch(k: int) -> np.ndarray:
    """Ascending uint64 ids of a res-9 disk of ``k`` rings in central London."""
    centre = h3.latlng_to_cell(51.5074, -0.1278, 9)
    return np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, k)], dtype=np.uint64))


def test_last_week_and_window_means() -> None:
    last = b.mean_previous_periods(COUNTS, SCORE_WEEKS, window=1)
    assert last.tolist() == [[0, 0, 0], [1, 0, 2], [2, 1, 0], [1, 1, 1]]
    mean4 = b.mean_previous_periods(COUNTS, SCORE_WEEKS, window=4)
    assert mean4[0].tolist() == [0, 0, 0]  # no history
    assert mean4[1].tolist() == [1, 0, 2]  # one week exists
    assert mean4[2].tolist() == pytest.approx([3 / 3, 4 / 3, 2 / 3])  # three weeks exist
    assert mean4[3].tolist() == pytest.approx([7 / 4, 2 / 4, 2 / 4])  # rows 2..5
    every = b.mean_previous_periods(COUNTS, SCORE_WEEKS, window=None)
    assert every[3].tolist() == pytest.approx([8 / 6, 5 / 6, 4 / 6])


def test_compute_baselines_names_shapes_and_short_history() -> None:
    ids = h3_patch(1)[:3]
    out = b.compute_baselines(COUNTS, SCORE_WEEKS, cell_ids=ids)
    assert list(out) == list(b.BASELINE_NAMES)
    for name, scores in out.items():
        assert scores.shape == (4, 3), name
        assert scores.dtype == np.float64, name
        assert np.isfinite(scores).all() and (scores >= 0).all(), name
        assert np.all(scores[0] == 0), name  # week 0 has no history
    # Fewer than 13 / 52 rows exist: the means use them all, as all_history does.
    for name in ("mean_13w", "mean_52w", "same_week_last_year"):
        np.testing.assert_allclose(out[name], out["all_history"], err_msg=name)
    assert out["last_week"][3].tolist() == [1, 1, 1]


def test_same_week_last_year_reads_52_weeks_back() -> None:
    counts = np.arange(60 * 2, dtype=np.float64).reshape(60, 2)
    got = b.same_period_last_year(counts, np.array([52, 55, 60, 10]), period="week")
    assert got[0].tolist() == counts[0].tolist()
    assert got[1].tolist() == counts[3].tolist()
    assert got[2].tolist() == counts[8].tolist()
    assert got[3].tolist() == pytest.approx(counts[:10].mean(axis=0).tolist())  # fallback


def test_monthly_names_windows_and_short_history() -> None:
    ids = h3_patch(1)[:3]
    out = b.compute_baselines(COUNTS, SCORE_WEEKS, cell_ids=ids, period="month")
    assert list(out) == [
        "last_month",
        "mean_3m",
        "mean_6m",
        "mean_12m",
        "same_month_last_year",
        "all_history",
        "kde_retrospective",
        "prospective_hotspot",
        "etas",
    ]
    assert list(out) == list(b.baseline_names("month"))
    # Month 3 (scored from months 0..2) and month 6 (months 0..5), by hand from COUNTS:
    assert out["last_month"][2].tolist() == [2, 1, 0]  # month 2
    assert out["last_month"][3].tolist() == [1, 1, 1]  # month 5
    assert out["mean_3m"][2].tolist() == pytest.approx([3 / 3, 4 / 3, 2 / 3])  # months 0..2
    assert out["mean_3m"][3].tolist() == pytest.approx([5 / 3, 1 / 3, 2 / 3])  # months 3..5
    assert out["mean_6m"][3].tolist() == pytest.approx([8 / 6, 5 / 6, 4 / 6])  # all six
    # Fewer than 12 months exist: the 12-month mean and same month last year use them all.
    for name in ("mean_12m", "same_month_last_year"):
        np.testing.assert_allclose(out[name], out["all_history"], err_msg=name)
    # The weekly names are a different set: B1-B3 say their unit.
    assert set(b.baseline_names("week")) & set(out) == {
        "all_history",
        "kde_retrospective",
        "prospective_hotspot",
        "etas",
    }


def test_same_month_last_year_reads_12_months_back() -> None:
    counts = np.arange(15 * 2, dtype=np.float64).reshape(15, 2)  # Jan 2023 .. Mar 2024, say
    got = b.same_period_last_year(counts, np.array([12, 14, 15, 5]), period="month")
    assert got[0].tolist() == counts[0].tolist()  # Jan 2024 <- Jan 2023
    assert got[1].tolist() == counts[2].tolist()  # Mar 2024 <- Mar 2023
    assert got[2].tolist() == counts[3].tolist()  # Apr 2024 <- Apr 2023
    assert got[3].tolist() == pytest.approx(counts[:5].mean(axis=0).tolist())  # fallback
    via_all = b.compute_baselines(counts, [12, 14, 15, 5], cell_ids=h3_patch(1)[:2], period="month")
    np.testing.assert_array_equal(via_all["same_month_last_year"], got)


def test_kde_retrospective_hand_computed_on_a_line_of_cells() -> None:
    # Three centroids due north of each other: 0 m, 200 m, 500 m.
    metres_per_degree = b.EARTH_RADIUS_M * np.pi / 180
    lat = 51.5 + np.array([0.0, 200.0, 500.0]) / metres_per_degree
    lon = np.full(3, -0.1)
    k = b.quartic_kernel_matrix(lat, lon, bandwidth_m=400).toarray()
    k01 = (1 - (200 / 400) ** 2) ** 2  # 0.5625
    k12 = (1 - (300 / 400) ** 2) ** 2  # 0.19140625
    np.testing.assert_allclose(k, [[1, k01, 0], [k01, 1, k12], [0, k12, 1]], atol=1e-9)
    scores = b.kde_retrospective(
        COUNTS, np.array([3, 1]), cell_lat=lat, cell_lon=lon, bandwidth_m=400, periods=2
    )
    scale = 1 + k01 + k12  # largest column sum: the middle cell
    mean_rows_1_2 = np.array([1.0, 2.0, 0.0])
    expected3 = np.array([1 + 2 * k01, k01 + 2, 2 * k12]) / scale
    np.testing.assert_allclose(scores[0], expected3, rtol=1e-9)
    np.testing.assert_allclose(scores[0] * scale, k @ mean_rows_1_2, rtol=1e-9)
    # Week 1 has only one row of history: its mean is row 0.
    np.testing.assert_allclose(scores[1], k @ COUNTS[0] / scale, rtol=1e-9)


def test_kde_bandwidth_below_cell_spacing_is_the_window_mean() -> None:
    ids = h3_patch(2)
    lat, lon = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in ids]).T
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(10, ids.size)).astype(np.float64)
    got = b.kde_retrospective(counts, [10], cell_lat=lat, cell_lon=lon, bandwidth_m=50, periods=8)
    np.testing.assert_allclose(got[0], counts[2:10].mean(axis=0))


def test_prospective_hotspot_hand_computed_on_an_h3_flower() -> None:
    ids = h3_patch(1)  # centre + 6 neighbours
    centre = h3.str_to_int(h3.latlng_to_cell(51.5074, -0.1278, 9))
    c = int(np.flatnonzero(ids == centre)[0])
    counts = np.zeros((5, 7))
    counts[4, c] = 1  # last week: age 0, time weight 1
    counts[2, c] = 2  # three weeks back: age 2, time weight 1/3
    got = b.prospective_hotspot(counts, [5], cell_ids=ids, rings=3, periods=8)[0]
    time_norm = 1 + 1 / 2 + 1 / 3 + 1 / 4 + 1 / 5  # the five lags that exist
    space_norm = 1 + 6 * (1 / 2)  # the centre's column: itself and six cells at d = 1
    history = 1 * 1 + 2 * (1 / 3)
    expected = np.full(7, history * (1 / 2) / (time_norm * space_norm))
    expected[c] = history * 1 / (time_norm * space_norm)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # A neighbour's events reach the opposite neighbour at d = 2 with weight 1/3.
    kernel = b.hotspot_kernel_matrix(ids, rings=3).toarray()
    ring = [i for i in range(7) if i != c]
    assert sorted(np.round(kernel[ring[0]], 6).tolist()) == pytest.approx(
        sorted([1, 0.5, 0.5, 0.5, 1 / 3, 1 / 3, 1 / 3]), abs=1e-6
    )


def test_prospective_hotspot_truncates_at_periods() -> None:
    ids = h3_patch(1)
    counts = np.zeros((12, 7))
    counts[0] = 5.0  # 10 periods before period 10: beyond the 8-period window
    assert np.all(b.prospective_hotspot(counts, [10], cell_ids=ids, periods=8) == 0)
    assert np.all(b.prospective_hotspot(counts, [8], cell_ids=ids, periods=8) > 0)


@pytest.mark.parametrize("period", ["week", "month"])
def test_no_baseline_reads_period_t_or_later(period: Period) -> None:
    ids = h3_patch(2)
    rng = np.random.default_rng(42)
    counts = rng.poisson(0.8, size=(70, ids.size)).astype(np.float64)
    periods = np.arange(71)
    before = b.compute_baselines(counts, periods, cell_ids=ids, period=period)
    last = b.baseline_names(period)[0]
    for t in (0, 1, 7, 8, 11, 12, 13, 51, 52, 53, 69):
        changed = counts.copy()
        changed[t:] = rng.poisson(3.0, size=changed[t:].shape)
        after = b.compute_baselines(changed, periods, cell_ids=ids, period=period)
        for name in b.baseline_names(period):
            np.testing.assert_array_equal(
                after[name][: t + 1], before[name][: t + 1], err_msg=f"{name} at {period} {t}"
            )
        # The change itself is visible from period t + 1 on (the test is not vacuous).
        assert not np.array_equal(after[last][t + 1], before[last][t + 1])


@settings(max_examples=60, deadline=None)
@given(
    counts=arrays(np.float64, (9, 4), elements=st.integers(0, 6).map(float)),
    window=st.one_of(st.none(), st.integers(1, 12)),
)
def test_window_mean_equals_a_plain_loop(counts: np.ndarray, window: int | None) -> None:
    periods = np.arange(10)
    got = b.mean_previous_periods(counts, periods, window=window)
    for t in periods:
        start = 0 if window is None else max(0, t - window)
        expected = counts[start:t].mean(axis=0) if t > start else np.zeros(4)
        np.testing.assert_allclose(got[t], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: b.mean_previous_periods(COUNTS[0], [1], window=1), r"2-D array \[period, cell\]"),
        (lambda: b.mean_previous_periods(-COUNTS, [1], window=1), "finite and >= 0"),
        (lambda: b.mean_previous_periods(COUNTS, [7], window=1), r"each in \[0, 6\].*Got \[7\]"),
        (lambda: b.mean_previous_periods(COUNTS, [-1], window=1), r"Got \[-1\]"),
        (lambda: b.mean_previous_periods(COUNTS, [1.5], window=1), "integer period indices"),
        (lambda: b.mean_previous_periods(COUNTS, [1], window=0), "window must be an int >= 1"),
        (
            lambda: b.compute_baselines(COUNTS, [1], cell_ids=h3_patch(1)),
            r"one id per cell of counts \(3,\). Got \(7,\)",
        ),
        (
            lambda: b.compute_baselines(COUNTS, [1], cell_ids=h3_patch(1)[:3], names=["nope"]),
            "Unknown baseline names",
        ),
        (
            lambda: b.compute_baselines(
                COUNTS, [1], cell_ids=h3_patch(1)[:3], period="month", names=["last_week"]
            ),
            r"Unknown baseline names \['last_week'\] for monthly periods",
        ),
        (
            lambda: b.compute_baselines(COUNTS, [1], cell_ids=h3_patch(1)[:3], period="day"),
            r"period must be one of \['week', 'month'\]",
        ),
        (
            lambda: b.quartic_kernel_matrix([51.5], [0.1], bandwidth_m=0),
            "bandwidth_m must be a distance in metres > 0",
        ),
    ],
)
def test_refusals(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
