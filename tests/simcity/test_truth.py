"""The truth model: calibrated by stratum, exact bookkeeping, no leakage, refuses bad input."""

from __future__ import annotations

import dataclasses

import h3
import numpy as np
import pandas as pd
import pytest

from beatwise.h3index import index_points
from beatwise.taxonomy import POLICE_ACTIVITY_TYPES, VICTIM_TYPES
from simcity.generate import SimulatedCity, simulate_city
from simcity.io import write_city
from simcity.testing import tiny_city_config
from simcity.truth import TruthModel, load_truth_model


def _period_weeks(truth: TruthModel, n: int | None = None) -> np.ndarray:
    n_period = truth.n_weeks_total - truth.burn_in_weeks
    return truth.first_week + np.arange(n or n_period) * np.timedelta64(7, "D")


def test_truth_sums_to_realised_counts(tiny_city: SimulatedCity) -> None:
    truth, com = tiny_city.truth, tiny_city.committed
    weeks = _period_weeks(truth)
    types = list(truth.types)
    # One history of a clustered process: a total's sd is ~1% here (Hawkes clusters), and the
    # default episodes' seed-7 draw sits +2.4% on recorded; over ten histories of this city the
    # ratio is 1.000 (tests/simcity/test_episodes.py checks the mean inside episodes).
    expected = truth.expected_counts(truth.cells, weeks, types, kind="committed").sum()
    assert expected == pytest.approx(len(com), rel=0.03)
    rec_expected = truth.expected_counts(truth.cells, weeks, types, kind="recorded").sum()
    assert rec_expected == pytest.approx(com["recorded"].sum(), rel=0.03)


def test_truth_by_type_matches_realised_counts(tiny_city: SimulatedCity) -> None:
    truth, com = tiny_city.truth, tiny_city.committed
    weeks = _period_weeks(truth)
    recorded = com["recorded"].to_numpy()
    for name in ("violence_sexual", "anti_social_behaviour", "vehicle_crime"):
        expected = truth.expected_counts(truth.cells, weeks, [name], kind="recorded").sum()
        observed = (recorded & (com["crime_type"] == name).to_numpy()).sum()
        assert expected == pytest.approx(observed, rel=0.06), name


@pytest.fixture(scope="module")
def calibration_city() -> SimulatedCity:
    """The tiny city's geography at 25x its density over two years: ~1.06M recorded events.

    Scale 0.5 on 80 km² (300 areas, ~5,900 micro-cells), 104 weeks after an 8-week burn-in:
    ~2.0M committed and ~1.06M recorded events, ~40k+ recorded per quintile stratum, so a
    stratum's O/E has a standard error of ~0.5% (simulation and truth take a few seconds).
    """
    return simulate_city(tiny_city_config(seed=3, scale=0.5, n_weeks=104))


def _observed_over_expected(city: SimulatedCity) -> dict[str, float]:
    """O/E over all period weeks and types: overall and per quintile stratum, for both kinds.

    Strata are quintiles of the 300 areas by ``minority_share`` and by ``deprivation_score``.
    Every micro-cell lies in exactly one area, and events sit at micro-cell centres, so a
    micro-cell's stratum is its area's: observed and expected are summed over the same cells
    with no apportioning (the pipeline apportions coarser cells by residents, which would blur
    the comparison this test makes).
    """
    truth, com = city.truth, city.committed
    weeks = _period_weeks(truth)
    micro = np.searchsorted(truth.cells, com["micro_cell"].to_numpy())
    strata = {
        attr: pd.qcut(city.areas[attr].to_numpy(), 5, labels=False)[city.geography.area_index]
        for attr in ("minority_share", "deprivation_score")
    }
    ratios: dict[str, float] = {}
    for kind in ("recorded", "committed"):
        expected = truth.expected_counts(truth.cells, weeks, list(truth.types), kind=kind).sum(0)
        keep = com["recorded"].to_numpy() if kind == "recorded" else np.ones(len(com), bool)
        observed = np.bincount(micro[keep], minlength=truth.cells.size)
        ratios[f"{kind} overall"] = observed.sum() / expected.sum()
        for attr, stratum in strata.items():
            by_o = np.bincount(stratum, weights=observed, minlength=5)
            by_e = np.bincount(stratum, weights=expected, minlength=5)
            for q in range(5):
                ratios[f"{kind} {attr} q{q + 1}"] = by_o[q] / by_e[q]
    return ratios


def test_truth_is_calibrated_overall_and_in_every_stratum(
    calibration_city: SimulatedCity,
) -> None:
    # Without the within-week cascade, O/E is ~1.10-1.12 everywhere; with it, within 2%.
    ratios = _observed_over_expected(calibration_city)
    assert len(ratios) == 22
    off = {name: round(r, 4) for name, r in ratios.items() if not 0.98 <= r <= 1.02}
    assert not off, f"O/E outside [0.98, 1.02]: {off}"


def _cascade_increment(truth: TruthModel, k: int, *, lag: int, n_days: int) -> float:
    """By hand: what one type-``k`` event ``lag`` days before a period's first day adds to the
    period's expected total (its offspring arriving on day j, each with size[j] expected
    descendants by the period's last day; the kernel keeps every offspring in the city)."""
    alpha, rs = truth.alpha[k], truth.repeat_share[k]
    q_r, q_n = truth.q_repeat[k], truth.q_near[k]

    def child(d: int) -> float:  # expected children with delay d days
        return alpha * (rs * q_r ** (d - 1) * (1 - q_r) + (1 - rs) * q_n ** (d - 1) * (1 - q_n))

    size = np.ones(n_days)  # size[j]: the event itself plus its descendants in days j+1..end
    for j in range(n_days - 2, -1, -1):
        size[j] += sum(child(d) * size[j + d] for d in range(1, n_days - j))
    return float(sum(child(lag + j) * size[j] for j in range(n_days)))


def _period_months(truth: TruthModel) -> tuple[np.ndarray, np.ndarray]:
    """The calendar months wholly inside the simulated period: (starts, ends)."""
    first = truth.first_week.astype("datetime64[M]") + 1
    end_day = truth.first_week + (truth.n_weeks_total - truth.burn_in_weeks) * np.timedelta64(
        7, "D"
    )
    last = end_day.astype("datetime64[M]")  # months before the one holding the end
    months = np.arange(first, last)
    return months.astype("datetime64[D]"), (months + 1).astype("datetime64[D]")


def test_month_truth_is_calibrated_overall_and_in_every_stratum(
    calibration_city: SimulatedCity,
) -> None:
    # A month's truth conditions on events before the month only; summed over the months it
    # must still match what happened in them, overall and in each fifth of areas.
    truth, com = calibration_city.truth, calibration_city.committed
    starts, ends = _period_months(truth)
    assert starts.size == 23  # February 2022 to December 2023
    inside = (com["timestamp"] >= starts[0]) & (com["timestamp"] < ends[-1])
    com = com[inside.to_numpy()]
    micro = np.searchsorted(truth.cells, com["micro_cell"].to_numpy())
    area = calibration_city.geography.area_index
    off = {}
    for kind in ("recorded", "committed"):
        expected = truth.expected_counts_between(
            truth.cells, starts, ends, list(truth.types), kind=kind
        )
        assert expected.shape == (starts.size, truth.cells.size)
        keep = com["recorded"].to_numpy() if kind == "recorded" else np.ones(len(com), bool)
        observed = np.bincount(micro[keep], minlength=truth.cells.size)
        ratios = {"overall": observed.sum() / expected.sum()}
        for attr in ("minority_share", "deprivation_score"):
            stratum = pd.qcut(calibration_city.areas[attr].to_numpy(), 5, labels=False)[area]
            by_o = np.bincount(stratum, weights=observed, minlength=5)
            by_e = np.bincount(stratum, weights=expected.sum(axis=0), minlength=5)
            ratios |= {f"{attr} q{q + 1}": by_o[q] / by_e[q] for q in range(5)}
        off |= {f"{kind} {k}": round(r, 4) for k, r in ratios.items() if not 0.98 <= r <= 1.02}
    assert not off, f"monthly O/E outside [0.98, 1.02]: {off}"


def test_a_week_asked_as_a_period_is_the_week(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    weeks = _period_weeks(truth, 20)
    cells = np.unique(index_points(truth.lat, truth.lon, resolution=8))
    by_week = truth.expected_counts(cells, weeks, ["burglary", "robbery"], kind="recorded")
    between = truth.expected_counts_between(
        cells, weeks, weeks + np.timedelta64(7, "D"), ["burglary", "robbery"], kind="recorded"
    )
    np.testing.assert_array_equal(between, by_week)


def test_a_month_is_not_its_weeks_summed(tiny_city: SimulatedCity) -> None:
    # Weekly truths condition on events inside the month; the month's does not. Over a month
    # starting on a Monday (its first week shares the month's past) the two differ by what the
    # month's own first weeks set off, and the totals stay close.
    truth = tiny_city.truth
    start = np.datetime64("2022-08-01")  # a Monday
    assert (start - truth.origin).astype(int) % 7 == 0
    month = truth.expected_counts_between(
        truth.cells, [start], [np.datetime64("2022-09-01")], list(truth.types), kind="committed"
    )
    weeks = start + np.arange(4) * np.timedelta64(7, "D")
    four = truth.expected_counts(truth.cells, weeks, list(truth.types), kind="committed")
    first_week = truth.expected_counts_between(
        truth.cells,
        [start],
        [start + np.timedelta64(7, "D")],
        list(truth.types),
        kind="committed",
    )
    np.testing.assert_allclose(first_week[0], four[0], rtol=1e-12)
    assert not np.allclose(month[0], four.sum(axis=0) * 31 / 28, rtol=1e-3)
    assert month.sum() == pytest.approx(four.sum() * 31 / 28, rel=0.05)


def test_an_event_raises_the_next_months_truth_by_its_cascade(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    k = truth.types.index("burglary")
    start, end = np.datetime64("2022-06-01"), np.datetime64("2022-07-01")  # a Wednesday, 30 days
    first_day = int((start - truth.origin).astype(int))
    idx = int(np.flatnonzero((truth.hist_type == k) & (truth.hist_day < first_day))[-1])
    day = int(truth.hist_day[idx])
    without = truth.with_history(
        np.delete(truth.hist_type, idx),
        np.delete(truth.hist_micro, idx),
        np.delete(truth.hist_day, idx),
    )
    ask = (truth.cells, [start], [end], ["burglary"])
    with_ev = truth.expected_counts_between(*ask, kind="committed")
    no_ev = without.expected_counts_between(*ask, kind="committed")
    increment = _cascade_increment(truth, k, lag=first_day - day, n_days=30)
    assert with_ev.sum() - no_ev.sum() == pytest.approx(increment, rel=1e-9)


def test_no_leakage_from_the_month_or_later(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    cells = np.unique(index_points(truth.lat, truth.lon, resolution=9))
    starts = np.arange(np.datetime64("2022-02"), np.datetime64("2023-03")).astype("datetime64[D]")
    ends = (starts.astype("datetime64[M]") + 1).astype("datetime64[D]")
    before = truth.expected_counts_between(cells, starts, ends, list(truth.types), kind="recorded")
    cut = int((starts[6] - truth.origin).astype(int))  # the 7th month's first day
    late = truth.hist_day >= cut
    rng = np.random.default_rng(0)
    keep = ~late | (rng.random(late.size) < 0.5)
    micro = np.where(late, rng.integers(0, truth.cells.size, late.size), truth.hist_micro)
    altered = truth.with_history(truth.hist_type[keep], micro[keep], truth.hist_day[keep])
    after = altered.expected_counts_between(cells, starts, ends, list(truth.types), kind="recorded")
    np.testing.assert_allclose(after[:7], before[:7], rtol=1e-12, atol=0)
    assert not np.allclose(after[7:], before[7:])


@pytest.mark.parametrize(
    ("starts", "ends", "match"),
    [
        (["2022-01-03"], ["2022-01-03"], r"span 1 to 31 days\. Got 2022-01-03.* \(0 days\)"),
        (["2022-01-03"], ["2022-02-04"], r"span 1 to 31 days\..*\(32 days\)"),
        (["2022-01-03T12"], ["2022-01-10"], r"starts must be at midnight\. Got 2022-01-03T12"),
        (["2021-10-01"], ["2021-11-01"], r"periods must lie in \[2021-11-08, .*Got 2021-10-01"),
        (["2022-01-03", "2022-01-10"], ["2022-01-10"], r"2 starts and 1 ends"),
    ],
)
def test_bad_periods_are_refused(tiny_city: SimulatedCity, starts, ends, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_city.truth.expected_counts_between(
            tiny_city.truth.cells[:3],
            np.array(starts, dtype="datetime64[ns]"),
            np.array(ends, dtype="datetime64[ns]"),
            ["burglary"],
            kind="recorded",
        )


def test_an_event_raises_the_next_weeks_truth_by_its_cascade(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    k = truth.types.index("burglary")
    idx = int(
        np.flatnonzero((truth.hist_type == k) & (truth.hist_day >= 7 * (truth.burn_in_weeks + 5)))[
            0
        ]
    )
    day, micro = int(truth.hist_day[idx]), int(truth.hist_micro[idx])
    week = day // 7
    ws = truth.origin + np.array([week, week + 1, week + 3]) * np.timedelta64(7, "D")
    without = truth.with_history(
        np.delete(truth.hist_type, idx),
        np.delete(truth.hist_micro, idx),
        np.delete(truth.hist_day, idx),
    )
    with_ev = truth.expected_counts(truth.cells, ws, ["burglary"], kind="committed")
    no_ev = without.expected_counts(truth.cells, ws, ["burglary"], kind="committed")
    np.testing.assert_allclose(with_ev[0], no_ev[0], rtol=1e-12)  # its own week: no effect
    assert (with_ev[1:, micro] > no_ev[1:, micro]).all()  # later weeks: higher at its cell
    # Hand-computed increment of the next week, city-wide (the kernel keeps every offspring in
    # the city).
    increment = _cascade_increment(truth, k, lag=7 * (week + 1) - day, n_days=7)
    assert with_ev[1].sum() - no_ev[1].sum() == pytest.approx(increment, rel=1e-9)


def test_folded_kernel_powers_keep_totals_and_are_close(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    weeks = _period_weeks(truth, 12)
    exact = dataclasses.replace(truth, max_kernel_power=7)
    args = (truth.cells, weeks, list(truth.types))
    # Folding keeps the committed mass (the kernel conserves it); only its spread moves.
    np.testing.assert_allclose(
        truth.expected_counts(*args, kind="committed").sum(axis=1),
        exact.expected_counts(*args, kind="committed").sum(axis=1),
        rtol=1e-9,
    )
    folded = truth.expected_counts(*args, kind="recorded")
    full = exact.expected_counts(*args, kind="recorded")
    np.testing.assert_allclose(folded, full, rtol=5e-3)
    # Deterministic: the same query gives the same bytes.
    assert truth.expected_counts(*args, kind="recorded").tobytes() == folded.tobytes()


def test_coarse_cells_are_exact_sums_and_outside_cells_are_zero(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    weeks = _period_weeks(truth, 4)
    fine = truth.expected_counts(truth.cells, weeks, ["burglary"], kind="recorded")
    for res in (7, 8, 9):
        parents = np.unique(index_points(truth.lat, truth.lon, resolution=res))
        coarse = truth.expected_counts(parents, weeks, ["burglary"], kind="recorded")
        np.testing.assert_allclose(coarse.sum(axis=1), fine.sum(axis=1), rtol=1e-10)
    # Duplicated and mixed-resolution queries keep the caller's order.
    cells = np.array([parents[3], truth.cells[0], parents[3]], dtype=np.uint64)
    mixed = truth.expected_counts(cells, weeks, ["burglary"], kind="recorded")
    np.testing.assert_allclose(mixed[:, 0], mixed[:, 2])
    np.testing.assert_allclose(mixed[:, 1], fine[:, 0])
    far = np.array([h3.str_to_int(h3.latlng_to_cell(40.7, -74.0, 9))], dtype=np.uint64)
    assert (truth.expected_counts(far, weeks, ["burglary"], kind="recorded") == 0).all()


def test_recorded_never_exceeds_committed(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    cells = np.unique(index_points(truth.lat, truth.lon, resolution=9))
    weeks = _period_weeks(truth, 10)
    for types in (VICTIM_TYPES, POLICE_ACTIVITY_TYPES):
        rec = truth.expected_counts(cells, weeks, types, kind="recorded")
        com = truth.expected_counts(cells, weeks, types, kind="committed")
        assert (rec <= com + 1e-12).all()
        assert rec.sum() < com.sum()


def test_no_leakage_from_the_week_or_later(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    cells = np.unique(index_points(truth.lat, truth.lon, resolution=9))
    weeks = _period_weeks(truth, 30)
    cut_week = truth.burn_in_weeks + 20  # history index of the 21st period week
    before = truth.expected_counts(cells, weeks, list(truth.types), kind="recorded")
    # Change the week and everything after: drop half, move the rest elsewhere.
    late = truth.hist_day >= 7 * cut_week
    rng = np.random.default_rng(0)
    keep = ~late | (rng.random(late.size) < 0.5)
    micro = np.where(late, rng.integers(0, truth.cells.size, late.size), truth.hist_micro)
    altered = truth.with_history(truth.hist_type[keep], micro[keep], truth.hist_day[keep])
    after = altered.expected_counts(cells, weeks, list(truth.types), kind="recorded")
    np.testing.assert_allclose(after[:21], before[:21], rtol=1e-12, atol=0)
    assert not np.allclose(after[21:], before[21:])


def test_written_truth_gives_identical_answers(tiny_city: SimulatedCity, tmp_path) -> None:
    write_city(tiny_city, tmp_path / "city")
    loaded = load_truth_model(tmp_path / "city" / "truth")
    cells = np.unique(index_points(loaded.lat, loaded.lon, resolution=8))
    weeks = _period_weeks(loaded, 8)
    for kind in ("recorded", "committed"):
        np.testing.assert_array_equal(
            loaded.expected_counts(cells, weeks, ["robbery", "drugs"], kind=kind),
            tiny_city.truth.expected_counts(cells, weeks, ["robbery", "drugs"], kind=kind),
        )


@pytest.mark.parametrize(
    ("cells", "weeks", "types", "kind", "match"),
    [
        (None, ["2022-01-04"], ["burglary"], "recorded", r"must be Mondays\. Got 2022-01-04"),
        (
            None,
            ["2030-01-07"],
            ["burglary"],
            "recorded",
            r"week_starts must lie in .* Got 2030-01-07",
        ),
        (None, ["2022-01-03"], ["car_theft"], "recorded", r"'car_theft' is not simulated"),
        (None, ["2022-01-03"], ["burglary"], "expected", r"kind must be 'recorded' or 'committed'"),
        ("res11", ["2022-01-03"], ["burglary"], "recorded", r"resolution <= 10.*Got resolution 11"),
    ],
)
def test_bad_queries_are_refused(
    tiny_city: SimulatedCity, cells, weeks, types, kind, match: str
) -> None:
    truth = tiny_city.truth
    if cells is None:
        cells = truth.cells[:3]
    else:
        cells = np.array(
            [h3.str_to_int(h3.latlng_to_cell(float(truth.lat[0]), float(truth.lon[0]), 11))],
            dtype=np.uint64,
        )
    with pytest.raises(ValueError, match=match):
        truth.expected_counts(cells, np.array(weeks, dtype="datetime64[ns]"), types, kind=kind)
