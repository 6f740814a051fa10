"""The truth model: exact bookkeeping, no leakage, monotone in past events, refuses bad input."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from beatwise.h3index import index_points
from beatwise.taxonomy import POLICE_ACTIVITY_TYPES, VICTIM_TYPES
from simcity.generate import SimulatedCity
from simcity.io import write_city
from simcity.kernel import build_kernels
from simcity.truth import TruthModel, load_truth_model


def _period_weeks(truth: TruthModel, n: int | None = None) -> np.ndarray:
    n_period = truth.n_weeks_total - truth.burn_in_weeks
    return truth.first_week + np.arange(n or n_period) * np.timedelta64(7, "D")


def _same_week_offspring(truth: TruthModel, com: pd.DataFrame) -> np.ndarray:
    """Events whose parent is in the same week (the intra-week cascade the truth excludes)."""
    week_of = (com["timestamp"] - pd.Timestamp(truth.first_week)).dt.days // 7
    parent_week = com["parent_id"].map(pd.Series(week_of.to_numpy(), index=com["event_id"]))
    return parent_week.to_numpy() == week_of.to_numpy()


def test_truth_sums_to_realised_counts(tiny_city: SimulatedCity) -> None:
    truth, com = tiny_city.truth, tiny_city.committed
    weeks = _period_weeks(truth)
    types = list(truth.types)
    same_week = _same_week_offspring(truth, com)
    expected = truth.expected_counts(truth.cells, weeks, types, kind="committed").sum()
    assert expected == pytest.approx((~same_week).sum(), rel=0.02)
    # The excluded intra-week cascade is a minority of events (documented size: ~10%).
    assert 0.0 < 1 - expected / len(com) < 0.15
    rec_expected = truth.expected_counts(truth.cells, weeks, types, kind="recorded").sum()
    recorded = com["recorded"].to_numpy()
    assert rec_expected == pytest.approx((recorded & ~same_week).sum(), rel=0.02)


def test_truth_by_type_matches_realised_counts(tiny_city: SimulatedCity) -> None:
    truth, com = tiny_city.truth, tiny_city.committed
    weeks = _period_weeks(truth)
    keep = com["recorded"].to_numpy() & ~_same_week_offspring(truth, com)
    for name in ("violence_sexual", "anti_social_behaviour", "vehicle_crime"):
        expected = truth.expected_counts(truth.cells, weeks, [name], kind="recorded").sum()
        observed = (keep & (com["crime_type"] == name).to_numpy()).sum()
        assert expected == pytest.approx(observed, rel=0.06), name


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


def test_an_event_raises_the_next_weeks_truth_by_its_kernel(tiny_city: SimulatedCity) -> None:
    truth = tiny_city.truth
    k = truth.types.index("burglary")
    idx = int(
        np.flatnonzero((truth.hist_type == k) & (truth.hist_day >= 7 * (truth.burn_in_weeks + 5)))[
            0
        ]
    )
    day, micro = int(truth.hist_day[idx]), int(truth.hist_micro[idx])
    week = day // 7
    cell = truth.cells[micro : micro + 1]
    ws = truth.origin + np.array([week, week + 1, week + 3]) * np.timedelta64(7, "D")
    without = truth.with_history(
        np.delete(truth.hist_type, idx),
        np.delete(truth.hist_micro, idx),
        np.delete(truth.hist_day, idx),
    )
    with_ev = truth.expected_counts(cell, ws, ["burglary"], kind="committed")[:, 0]
    no_ev = without.expected_counts(cell, ws, ["burglary"], kind="committed")[:, 0]
    assert with_ev[0] == pytest.approx(no_ev[0], rel=1e-12)  # the event's own week: no effect
    assert (with_ev[1:] > no_ev[1:]).all()  # later weeks: higher
    # Hand-computed increment for the next week: repeat + near-repeat mass at the same cell.
    kern = build_kernels(
        truth.x, truth.y, sigmas=[truth.sigma_m[k]], truncation_sd=truth.truncation_sd
    )
    k_self = kern[float(truth.sigma_m[k])].to_csr()[micro, micro]
    lag = 7 * (week + 1) - day

    def mass(q: float) -> float:
        return q ** (lag - 1) * (1 - q**7)

    increment = truth.alpha[k] * (
        truth.repeat_share[k] * mass(truth.q_repeat[k])
        + (1 - truth.repeat_share[k]) * mass(truth.q_near[k]) * k_self
    )
    assert with_ev[1] - no_ev[1] == pytest.approx(increment, rel=1e-9)


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
