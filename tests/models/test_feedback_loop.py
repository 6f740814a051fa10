"""The feedback loop's machinery: Ensign et al.'s urn as a known answer, the loop's guarantees
(determinism, no look-ahead, open loop) and the synthetic city as a recorder.

The urn (Ensign, Friedler, Neville, Scheidegger & Venkatasubramanian 2018, "Runaway feedback loops
in predictive policing"): two areas with true incident rates; each period one patrol goes to one
area; an incident there is *discovered* only if the patrol is there, while a *reported* incident
reaches the record wherever the patrol is. The forecast is the count of recorded incidents (the
balls in the urn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from beatwise.h3index import index_points
from beatwise.taxonomy import DISPLAY_NAMES, POLICE_ACTIVITY_TYPES
from models.feedback import (
    Allocation,
    LoopHistory,
    LoopTrace,
    Observation,
    Recorder,
    draw_one_in_proportion,
    flag_top_k,
    patrol_dose,
    run_loop,
)
from simcity.loop import CityStepper
from simcity.testing import tiny_city_config

FloatArray = npt.NDArray[np.float64]
ONE_PATROL = patrol_dose(flagged=1.0, elsewhere=0.0)  # the urn's single patrol


def urn(rates: tuple[float, float], *, incidents: str) -> Recorder:
    """Each period each area has an incident with its rate; the record holds the discovered ones
    (where the patrol went) or every one (reported)."""
    lam = np.asarray(rates)

    def record(patrol: FloatArray, *, period: int, rng: np.random.Generator) -> Observation:
        committed = (rng.random(lam.size) < lam).astype(np.float64)
        recorded = committed * (patrol > 0) if incidents == "discovered" else committed
        return Observation(recorded=recorded, committed=committed)

    return record


def urn_counts(history: LoopHistory) -> FloatArray:
    """The urn's balls: every recorded incident so far, the prior included."""
    return history.recorded.sum(axis=0)


def weighted_urn_counts(history: LoopHistory) -> FloatArray:
    """Ensign et al.'s remedy in its inverse-probability form: a discovered incident counts one
    over the chance that its area was patrolled, so each area gains its true rate per period."""
    p, rec = history.probability[history.prior :], history.recorded[history.prior :]
    weighted = np.divide(rec, p, out=np.zeros_like(rec), where=p > 0)
    return history.recorded[: history.prior].sum(axis=0) + weighted.sum(axis=0)


def _urn_runs(
    *,
    rates: tuple[float, float],
    incidents: str,
    allocator: Callable[..., Allocation],
    prior: tuple[float, float],
    n_periods: int,
    seeds: int,
    forecaster: Callable[[LoopHistory], FloatArray] = urn_counts,
) -> list[LoopTrace]:
    return [
        run_loop(
            n_units=2,
            n_periods=n_periods,
            forecaster=forecaster,
            allocator=allocator,
            dose=ONE_PATROL,
            recorder=urn(rates, incidents=incidents),
            seed=seed,
            prior_recorded=np.asarray(prior),
        )
        for seed in range(seeds)
    ]


def _share_a(traces: list[LoopTrace], what: str, *, last: int | None = None) -> FloatArray:
    """Area A's share of flags, recorded or committed incidents, per run."""
    out = []
    for trace in traces:
        a = getattr(trace, what)[-(last or trace.n_periods) :].astype(np.float64)
        out.append(a[:, 0].sum() / a.sum())
    return np.asarray(out)


# ------------------------------------------------------------------ Ensign's urn


def test_top_1_on_discovered_incidents_runs_away_even_to_the_lower_rate() -> None:
    """Flag the area with more recorded incidents; only discovered incidents are recorded. A starts
    one incident ahead and keeps every patrol for ever, though B's rate is higher: B's count can
    never grow. The flags say 100% A while A has 45% of the true incidents."""
    runs = _urn_runs(
        rates=(0.40, 0.48),
        incidents="discovered",
        allocator=flag_top_k(1),
        prior=(1, 0),
        n_periods=1000,
        seeds=5,
    )
    np.testing.assert_array_equal(_share_a(runs, "flags"), 1.0)
    np.testing.assert_array_equal(_share_a(runs, "recorded"), 1.0)
    assert all(trace.recorded[:, 1].sum() == 0 for trace in runs)
    true_share = _share_a(runs, "committed")
    assert 0.43 < true_share.mean() < 0.48


def test_top_1_on_reported_incidents_learns_the_truth() -> None:
    """The same start with every incident reported: B's higher rate wins the flags within the first
    hundreds of periods, and the record's shares are the true shares."""
    runs = _urn_runs(
        rates=(0.40, 0.48),
        incidents="reported",
        allocator=flag_top_k(1),
        prior=(1, 0),
        n_periods=1000,
        seeds=10,
    )
    assert _share_a(runs, "flags", last=250).max() == 0.0  # the last quarter: all to B
    gap = _share_a(runs, "recorded") - _share_a(runs, "committed")
    assert np.abs(gap).max() < 0.005  # the prior's one incident is the only difference


def test_polya_urn_drifts_away_from_the_truth_with_discovered_incidents_only() -> None:
    """Ensign et al.'s urn: patrol goes to an area drawn in proportion to its recorded incidents.
    Started exactly at the true proportions (60:40), discovered incidents push A's share of patrols
    up period after period (the paper proves it converges to 1); reported ones keep it at 0.6."""
    kwargs: dict[str, Any] = {
        "rates": (0.3, 0.2),
        "allocator": draw_one_in_proportion(),
        "prior": (60.0, 40.0),
        "n_periods": 1500,
        "seeds": 10,
    }
    found = _urn_runs(incidents="discovered", **kwargs)
    early = np.asarray([t.flags[:375, 0].mean() for t in found])
    last = _share_a(found, "flags", last=375)
    assert last.mean() > early.mean() + 0.03 and last.mean() > 0.68 and last.min() > 0.6
    reported = _urn_runs(incidents="reported", **kwargs)
    assert abs(_share_a(reported, "flags", last=375).mean() - 0.6) < 0.03
    assert abs(_share_a(reported, "recorded").mean() - 0.6) < 0.02


def test_polya_urn_with_equal_rates_keeps_its_prior_not_the_truth() -> None:
    """Equal true rates, a prior of 10:1. On discovered incidents the urn is a Pólya urn slowed
    down: its share tends to a Beta(10, 1) variable (mean 10/11), whatever the truth (1/2)."""
    kwargs: dict[str, Any] = {
        "rates": (0.2, 0.2),
        "allocator": draw_one_in_proportion(),
        "prior": (10.0, 1.0),
        "n_periods": 1000,
        "seeds": 10,
    }
    found = _urn_runs(incidents="discovered", **kwargs)
    assert abs(_share_a(found, "flags", last=250).mean() - 10 / 11) < 0.06
    reported = _urn_runs(incidents="reported", **kwargs)
    assert abs(_share_a(reported, "flags", last=250).mean() - 0.5) < 0.05


def test_weighting_discovered_incidents_by_patrol_probability_stops_the_runaway() -> None:
    """The remedy: the same discovered incidents, each counted one over the chance its area was
    patrolled, give each area its true rate per period, so patrols follow the truth (0.6)."""
    runs = _urn_runs(
        rates=(0.3, 0.2),
        incidents="discovered",
        allocator=draw_one_in_proportion(),
        prior=(60.0, 40.0),
        n_periods=1500,
        seeds=10,
        forecaster=weighted_urn_counts,
    )
    assert abs(_share_a(runs, "flags", last=375).mean() - 0.6) < 0.03


# ------------------------------------------------------------------ the loop's guarantees


def _noisy_recorder(n_units: int) -> Recorder:
    """Detections rise with patrol; committed incidents do not depend on it."""

    def record(patrol: FloatArray, *, period: int, rng: np.random.Generator) -> Observation:
        committed = rng.poisson(3.0, n_units).astype(np.float64)
        detected = rng.binomial(committed.astype(np.int64), 1 - np.exp(-0.5 * patrol))
        return Observation(recorded=detected.astype(np.float64), committed=committed)

    return record


def _recent(history: LoopHistory) -> FloatArray:
    return history.recorded[-4:].sum(axis=0) + 1e-9 * np.arange(history.recorded.shape[1])


def test_same_seed_same_run_other_seed_other_run() -> None:
    ticks: list[int] = []

    def run(seed: int, on_period: Callable[[], object] | None = None) -> LoopTrace:
        return run_loop(
            n_units=12,
            n_periods=30,
            forecaster=_recent,
            allocator=draw_one_in_proportion(),
            dose=patrol_dose(flagged=3.0),
            recorder=_noisy_recorder(12),
            seed=seed,
            prior_recorded=np.ones(12),
            on_period=on_period,
        )

    # a progress callback is called once a period and changes nothing
    a, b, c = run(1), run(1, lambda: ticks.append(1)), run(2)
    assert len(ticks) == 30
    for name in ("scores", "flags", "probability", "patrol", "recorded", "committed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.recorded, c.recorded)


def test_open_loop_keeps_flags_out_of_the_data() -> None:
    """Open loop: the recorder always gets the baseline patrol, so two allocators give the same
    records (a period's random numbers do not depend on earlier flags) while their flags differ."""
    runs = [
        run_loop(
            n_units=12,
            n_periods=25,
            forecaster=_recent,
            allocator=allocator,
            dose=patrol_dose(flagged=3.0),
            recorder=_noisy_recorder(12),
            seed=7,
            prior_recorded=np.ones(12),
            closed=False,
        )
        for allocator in (flag_top_k(3), draw_one_in_proportion())
    ]
    np.testing.assert_array_equal(runs[0].patrol, 1.0)
    np.testing.assert_array_equal(runs[0].recorded, runs[1].recorded)
    assert not np.array_equal(runs[0].flags, runs[1].flags)
    closed = run_loop(
        n_units=12,
        n_periods=25,
        forecaster=_recent,
        allocator=flag_top_k(3),
        dose=patrol_dose(flagged=3.0),
        recorder=_noisy_recorder(12),
        seed=7,
        prior_recorded=np.ones(12),
    )
    np.testing.assert_array_equal(closed.patrol, np.where(closed.flags, 3.0, 1.0))
    np.testing.assert_array_equal(closed.committed, runs[0].committed)  # same world


def test_the_forecaster_sees_only_earlier_periods_read_only() -> None:
    seen: list[tuple[int, float]] = []

    def peek(history: LoopHistory) -> FloatArray:
        seen.append((history.n_periods, float(history.recorded[-1].sum())))
        with pytest.raises(ValueError, match="read-only"):
            history.recorded[0, 0] = 99.0
        assert not hasattr(history, "committed")
        return _recent(history)

    trace = run_loop(
        n_units=5,
        n_periods=6,
        forecaster=peek,
        allocator=flag_top_k(1),
        dose=patrol_dose(flagged=2.0),
        recorder=_noisy_recorder(5),
        seed=3,
        prior_recorded=np.full((2, 5), 4.0),
    )
    assert [n for n, _ in seen] == [2, 3, 4, 5, 6, 7]  # the prior's 2 periods, then one per period
    assert [s for _, s in seen][1:] == list(trace.recorded[:-1].sum(axis=1))


def test_flag_top_k_breaks_ties_by_the_lower_unit() -> None:
    alloc = flag_top_k(2)(np.array([1.0, 3.0, 3.0, 3.0, 0.0]), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(alloc.flags, [False, True, True, False, False])
    np.testing.assert_array_equal(alloc.probability, alloc.flags.astype(float))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: flag_top_k(0), r"flag_top_k needs k >= 1\. Got 0\."),
        (lambda: patrol_dose(flagged=-1.0), r"finite, non-negative patrol levels\. Got flagged=-1"),
        (
            lambda: draw_one_in_proportion()(np.zeros(3), rng=np.random.default_rng(0)),
            r"non-negative scores with a positive, finite sum\. Got sum 0\.0",
        ),
        (
            lambda: run_loop(
                n_units=3,
                n_periods=2,
                forecaster=lambda h: np.ones(4),
                allocator=flag_top_k(1),
                dose=patrol_dose(flagged=2.0),
                recorder=_noisy_recorder(3),
                seed=0,
            ),
            r"The forecaster must give one value per unit, shape \(3,\)\. Got shape \(4,\)\.",
        ),
        (
            lambda: run_loop(
                n_units=3,
                n_periods=2,
                forecaster=_recent,
                allocator=flag_top_k(1),
                dose=patrol_dose(flagged=2.0),
                recorder=_noisy_recorder(3),
                seed=0,
                prior_recorded=np.ones((2, 4)),
            ),
            r"prior_recorded must be \[period, unit\] with 3 units\. Got shape \(2, 4\)\.",
        ),
    ],
)
def test_bad_parts_are_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ the synthetic city


def _per_cell(events: pd.DataFrame, cells: npt.NDArray[np.uint64]) -> FloatArray:
    pos = np.searchsorted(
        cells, index_points(events["latitude"], events["longitude"], resolution=8)
    )
    return np.bincount(pos, minlength=cells.size).astype(np.float64)


def _city_recorder(stepper: CityStepper, cells: npt.NDArray[np.uint64]) -> Recorder:
    """Units are res-8 cells: the unit's patrol multiplies the baseline in its micro-cells, and
    the record is the week's recorded events per cell (the events frame as the payload)."""

    def record(patrol: FloatArray, *, period: int, rng: np.random.Generator) -> Observation:
        week = stepper.step(stepper.multiplier_for_cells(cells, patrol))
        return Observation(
            recorded=_per_cell(week.events, cells),
            committed=_per_cell(week.committed, cells),
            payload=week.events,
        )

    return record


def _city_loop(*, closed: bool, seed: int = 7) -> LoopTrace:
    """20 weeks of the tiny city under the static patrol, then 20 weeks in which the top 10% of
    res-8 cells by the last 4 weeks' recorded events get three times the baseline patrol."""
    stepper = CityStepper(tiny_city_config(seed=seed, n_weeks=40))
    geo = stepper.geography
    cells = np.unique(index_points(geo.lat, geo.lon, resolution=8))
    prior = np.stack([_per_cell(stepper.step().events, cells) for _ in range(20)])
    return run_loop(
        n_units=cells.size,
        n_periods=20,
        forecaster=_recent,
        allocator=flag_top_k(cells.size // 10),
        dose=patrol_dose(flagged=3.0),
        recorder=_city_recorder(stepper, cells),
        seed=seed,
        prior_recorded=prior,
        closed=closed,
    )


def test_the_city_answers_the_loop_and_the_open_loop_records_a_subset() -> None:
    closed, again, open_ = (
        _city_loop(closed=True),
        _city_loop(closed=True),
        _city_loop(closed=False),
    )
    np.testing.assert_array_equal(closed.recorded, again.recorded)  # deterministic per seed
    np.testing.assert_array_equal(closed.committed, open_.committed)  # one world, no deterrence
    police = [DISPLAY_NAMES[t] for t in POLICE_ACTIVITY_TYPES]

    def police_ids(trace: LoopTrace) -> set[str]:
        frames = [f[f["crime_type"].astype(str).isin(police)] for f in trace.payloads]
        return set(pd.concat(frames)["crime_id"])

    # Patrol only rises above the baseline, so the closed loop records a superset of the events.
    assert police_ids(open_) < police_ids(closed)
    assert (closed.recorded >= open_.recorded).all()
    extra = (closed.recorded - open_.recorded).sum()
    assert extra == (closed.recorded - open_.recorded)[closed.flags].sum() > 0  # only where flagged
