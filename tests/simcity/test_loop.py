"""The city week by week under a patrol multiplier: identity with the static city, patrol's three
responses, determinism, and a truth that stays calibrated when patrol changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from beatwise.h3index import index_points
from beatwise.params import ParamsError
from beatwise.taxonomy import DISPLAY_NAMES, POLICE_ACTIVITY_TYPES, VICTIM_TYPES
from simcity.generate import SimulatedCity
from simcity.io import events_to_arrow
from simcity.loop import CityStepper, CityWeek
from simcity.testing import tiny_city_config

Patrol = Callable[[CityStepper], npt.NDArray[np.float64] | None]


def _run(stepper: CityStepper, patrol: Patrol, n_weeks: int | None = None) -> list[CityWeek]:
    return [stepper.step(patrol(stepper)) for _ in range(n_weeks or stepper.n_weeks)]


def _west(stepper: CityStepper) -> npt.NDArray[np.bool_]:
    """The western half of the micro-cells: the patrolled half in these tests."""
    x = stepper.geography.x
    return x < np.median(x)


def _triple_west(stepper: CityStepper) -> npt.NDArray[np.float64]:
    return np.where(_west(stepper), 3.0, 1.0)


def _concat(weeks: list[CityWeek], what: str) -> pd.DataFrame:
    return pd.concat([getattr(w, what) for w in weeks], ignore_index=True)


def _ids(frame: pd.DataFrame, column: str = "crime_id") -> set[object]:
    return set(frame[column])


def _of_types(events: pd.DataFrame, types: tuple[str, ...]) -> pd.DataFrame:
    return events[events["crime_type"].astype(str).isin([DISPLAY_NAMES[t] for t in types])]


def _in_west(stepper: CityStepper, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    micro = index_points(frame["latitude"], frame["longitude"], resolution=10)
    pos = np.searchsorted(stepper.cells, micro)
    return _west(stepper)[pos]


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return events_to_arrow(a.reset_index(drop=True)).equals(
        events_to_arrow(b.reset_index(drop=True))
    )


@pytest.fixture(scope="module")
def static_weeks() -> list[CityWeek]:
    """Every week of the tiny city (seed 7) under the static patrol."""
    return _run(CityStepper(tiny_city_config(seed=7)), lambda s: None)


# ------------------------------------------------------------------ byte-identity


def test_static_steps_are_the_static_city_exactly(
    static_weeks: list[CityWeek], tiny_city: SimulatedCity
) -> None:
    events = _concat(static_weeks, "events")
    assert events_to_arrow(events).equals(events_to_arrow(tiny_city.events))
    committed, ref = _concat(static_weeks, "committed"), tiny_city.committed
    assert list(committed.columns) == list(ref.columns)
    for column in ref.columns:
        got, want = committed[column], ref[column]
        if isinstance(want.dtype, pd.CategoricalDtype):
            assert list(got.cat.categories) == list(want.cat.categories), column
            got, want = got.cat.codes, want.cat.codes
        assert got.dtype == want.dtype, column
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(), err_msg=column)
    assert all(w.n_prevented == 0 for w in static_weeks)


def test_multipliers_of_one_are_the_static_patrol_bit_for_bit(
    static_weeks: list[CityWeek],
) -> None:
    config = tiny_city_config(seed=7, patrol_response={"reporting_uplift": 0.3, "deterrence": 0.5})
    stepper = CityStepper(config)
    ones = np.ones(stepper.cells.size)
    assert np.array_equal(stepper.recording_probability(ones), stepper.intensity.record_prob)
    assert np.array_equal(stepper.keep_probability(ones), ones)
    weeks = _run(stepper, lambda s: ones, n_weeks=12)
    assert _same_rows(_concat(weeks, "events"), _concat(static_weeks[:12], "events"))


# ------------------------------------------------------------------ patrol's responses


def test_police_activity_detections_rise_with_patrol_where_it_goes() -> None:
    config = tiny_city_config(seed=3, patrol_response={"reporting_uplift": 0.0})
    base = _concat(_run(CityStepper(config), lambda s: None, 20), "events")
    stepper = CityStepper(config)
    more = _concat(_run(stepper, _triple_west, 20), "events")
    base_pa, more_pa = (
        _of_types(base, POLICE_ACTIVITY_TYPES),
        _of_types(more, POLICE_ACTIVITY_TYPES),
    )
    # A coupling, not a fresh draw: more patrol records a superset of the same events.
    assert _ids(base_pa) < _ids(more_pa)
    west_base = _in_west(stepper, base_pa).sum()
    west_more = _in_west(stepper, more_pa).sum()
    # (1 - exp(-3 r patrol)) / (1 - exp(-r patrol)) is 1.5 at rate x patrol = 1, less where
    # detection already saturates (busy cells patrolled above the mean)
    assert 1.2 < west_more / west_base < 1.6
    east = ~_in_west(stepper, more_pa)
    assert _ids(more_pa[east]) == _ids(base_pa[~_in_west(stepper, base_pa)])
    # Victim reporting does not answer patrol without an uplift, and nothing is deterred.
    assert _same_rows(_of_types(more, VICTIM_TYPES), _of_types(base, VICTIM_TYPES))


def test_victim_reporting_rises_with_patrol_only_when_configured() -> None:
    config = tiny_city_config(seed=3, patrol_response={"reporting_uplift": 0.3})
    base = _of_types(_concat(_run(CityStepper(config), lambda s: None, 20), "events"), VICTIM_TYPES)
    stepper = CityStepper(config)
    more = _of_types(_concat(_run(stepper, _triple_west, 20), "events"), VICTIM_TYPES)
    assert _ids(base) < _ids(more)
    ratio = _in_west(stepper, more).sum() / _in_west(stepper, base).sum()
    # 1 + 0.3 x (3 - 1) = 1.6 on every reporting probability, capped at 1 (burglary's 0.85 is)
    assert 1.3 < ratio < 1.6
    assert (~_in_west(stepper, more)).sum() == (~_in_west(stepper, base)).sum()


def test_deterrence_prevents_committed_crime_and_its_offspring() -> None:
    config = tiny_city_config(seed=3, patrol_response={"deterrence": 0.5})
    base = _run(CityStepper(config), lambda s: None, 20)
    stepper = CityStepper(config)
    patrolled = _run(stepper, _triple_west, 20)
    b_com, p_com = _concat(base, "committed"), _concat(patrolled, "committed")
    # Thinning: the patrolled run commits a subset of the baseline's events, with equal rows.
    assert _ids(p_com, "event_id") < _ids(b_com, "event_id")
    shared = b_com[b_com["event_id"].isin(p_com["event_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(shared.drop(columns="recorded"), p_com.drop(columns="recorded"))
    west = _west(stepper)[np.searchsorted(stepper.cells, p_com["micro_cell"].to_numpy())]
    b_west = _west(stepper)[np.searchsorted(stepper.cells, b_com["micro_cell"].to_numpy())]
    # exp(-0.5 x 2) = 0.37 on each step of a cascade; a bit more survives from the unpatrolled half
    assert 0.3 < west.sum() / b_west.sum() < 0.45
    assert 0.93 < (~west).sum() / (~b_west).sum() <= 1.0
    assert sum(w.n_prevented for w in patrolled) == len(b_com) - len(p_com)
    # An event is prevented with its offspring: every committed child has a committed parent.
    children = p_com[p_com["parent_id"].isin(b_com["event_id"])]  # parents in the period
    assert children["parent_id"].isin(p_com["event_id"]).all()


# ------------------------------------------------------------------ determinism


def test_a_weeks_deterrence_uniforms_are_its_slice_of_the_runs_one_stream() -> None:
    stepper = CityStepper(tiny_city_config(seed=3, patrol_response={"deterrence": 0.5}))
    latent = stepper._latent
    stream = np.random.default_rng(latent.deterrence_seed).random(latent.kind.size)
    for lo, hi in ((0, 10), (123, 4_567), (latent.kind.size - 50, latent.kind.size)):
        np.testing.assert_array_equal(stepper._deterrence_uniforms(lo, hi), stream[lo:hi])


def test_same_seed_and_patrol_give_identical_weeks_and_another_seed_does_not() -> None:
    config = tiny_city_config(seed=4, patrol_response={"reporting_uplift": 0.2, "deterrence": 0.3})

    def random_patrol(stepper: CityStepper) -> npt.NDArray[np.float64]:
        rng = np.random.default_rng(stepper.week)  # a fixed patrol sequence
        return rng.choice([0.5, 1.0, 2.0, 4.0], size=stepper.cells.size)

    runs = [_run(CityStepper(config), random_patrol, 15) for _ in range(2)]
    for a, b in zip(*runs, strict=True):
        assert _same_rows(a.events, b.events)
        pd.testing.assert_frame_equal(a.committed, b.committed)
    other = _run(CityStepper(config, seed=5), random_patrol, 15)
    assert not _same_rows(_concat(other, "events"), _concat(runs[0], "events"))


def test_a_weeks_randomness_ignores_earlier_patrol_except_through_events() -> None:
    """Patrol differs in week 3 only. Without deterrence every other week is identical; with it,
    later weeks lose the prevented events' offspring and nothing else changes."""

    def week3(stepper: CityStepper) -> npt.NDArray[np.float64] | None:
        return _triple_west(stepper) if stepper.week == 3 else None

    config = tiny_city_config(seed=9, patrol_response={"reporting_uplift": 0.2})
    a, b = _run(CityStepper(config), lambda s: None, 10), _run(CityStepper(config), week3, 10)
    for w in range(10):
        assert _same_rows(a[w].events, b[w].events) == (w != 3), w
    assert _ids(a[3].events) < _ids(b[3].events)

    config = tiny_city_config(seed=9, patrol_response={"deterrence": 1.0, "reporting_uplift": 0.0})
    a, b = _run(CityStepper(config), lambda s: None, 10), _run(CityStepper(config), week3, 10)
    for w in range(3):
        assert _same_rows(a[w].events, b[w].events)
    for w in range(3, 10):
        kept = a[w].events["crime_id"].isin(b[w].events["crime_id"])
        assert _same_rows(a[w].events[kept], b[w].events)  # a subset, rows unchanged
        assert _ids(b[w].committed, "event_id") <= _ids(a[w].committed, "event_id")
    assert len(b[4].committed) < len(a[4].committed)  # offspring of week 3's prevented events


# ------------------------------------------------------------------ truth


def test_expected_counts_match_the_exact_truth_under_the_static_patrol(
    tiny_city: SimulatedCity,
) -> None:
    exact = dataclasses.replace(tiny_city.truth, max_kernel_power=7)
    stepper = CityStepper(tiny_city.config)
    types = list(stepper.intensity.types)
    res8 = np.unique(index_points(stepper.geography.lat, stepper.geography.lon, resolution=8))
    for _ in range(30):
        stepper.step()
    for kind in ("committed", "recorded"):
        got = stepper.expected_counts(None, types, kind=kind)
        want = exact.expected_counts(stepper.cells, [stepper.week_start], types, kind=kind)[0]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)
        got8 = stepper.expected_counts(res8, ["burglary", "drugs"], kind=kind)
        want8 = exact.expected_counts(res8, [stepper.week_start], ["burglary", "drugs"], kind=kind)
        np.testing.assert_allclose(got8, want8[0], rtol=1e-9, atol=1e-15)


def test_expected_counts_under_uniform_deterrence_are_the_exact_truth_scaled(
    tiny_city: SimulatedCity,
) -> None:
    """The same keep probability everywhere scales background and offspring alike: the truth of a
    city with background and branching ratio times ``keep``, the week's recording applied."""
    config = tiny_city_config(seed=7, patrol_response={"deterrence": 0.4, "reporting_uplift": 0.2})
    assert config.model_dump(exclude={"patrol_response"}) == tiny_city.config.model_dump(
        exclude={"patrol_response"}
    )
    stepper = CityStepper(config)
    for _ in range(25):
        stepper.step()
    doubled = np.full(stepper.cells.size, 2.0)
    keep = np.exp(-0.4)
    scaled = dataclasses.replace(
        tiny_city.truth,
        background=keep * tiny_city.truth.background,
        alpha=keep * tiny_city.truth.alpha,
        record_prob=stepper.recording_probability(doubled),
        max_kernel_power=7,
    )
    types = list(stepper.intensity.types)
    for kind in ("committed", "recorded"):
        got = stepper.expected_counts(None, types, kind=kind, patrol_multiplier=doubled)
        want = scaled.expected_counts(stepper.cells, [stepper.week_start], types, kind=kind)[0]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)


def test_expected_counts_stay_calibrated_when_patrol_changes() -> None:
    """Realised over expected, summed over the weeks, in the patrolled and the other half, with
    all three responses switched on and the patrol changing every week."""
    config = tiny_city_config(
        seed=21,
        scale=0.04,
        n_weeks=40,
        patrol_response={"reporting_uplift": 0.3, "deterrence": 0.4},
    )
    stepper = CityStepper(config)
    west = _west(stepper)
    # group -> (types, kind of expectation)
    groups: dict[str, tuple[list[str], Literal["recorded", "committed"]]] = {
        "committed": (list(stepper.intensity.types), "committed"),
        "police": (list(POLICE_ACTIVITY_TYPES), "recorded"),
        "victim": (list(VICTIM_TYPES), "recorded"),
    }
    expected = {g: np.zeros(2) for g in groups}
    observed = {g: np.zeros(2) for g in groups}
    for w in range(stepper.n_weeks):
        mult = np.where(west, 1.0 + (w % 4), 1.0)
        for g, (types, kind) in groups.items():
            e = stepper.expected_counts(None, types, kind=kind, patrol_multiplier=mult)
            expected[g] += [e[west].sum(), e[~west].sum()]
        com = stepper.step(mult).committed
        half = west[np.searchsorted(stepper.cells, com["micro_cell"].to_numpy())]
        police = com["crime_type"].astype(str).isin(POLICE_ACTIVITY_TYPES).to_numpy()
        rec = com["recorded"].to_numpy()
        selections = {"committed": np.ones(len(com), bool), "police": police & rec}
        selections["victim"] = ~police & rec
        for g, sel in selections.items():
            observed[g] += [(sel & half).sum(), (sel & ~half).sum()]
    for g in groups:
        np.testing.assert_allclose(observed[g] / expected[g], 1.0, atol=0.05, err_msg=g)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("patrol", "match"),
    [
        (
            np.ones(3),
            r"patrol_multiplier must hold one number per micro-cell, shape \(\d+,\)\. "
            r"Got shape \(3,\)\.",
        ),
        ("negative", r"patrol_multiplier must be finite and >= 0\. Got -1\.0\."),
        ("nan", r"patrol_multiplier must be finite and >= 0\. Got nan\."),
    ],
)
def test_bad_patrol_is_refused(patrol: object, match: str) -> None:
    stepper = CityStepper(tiny_city_config(seed=7, n_weeks=4))
    if isinstance(patrol, str):
        mult = np.ones(stepper.cells.size)
        mult[5] = -1.0 if patrol == "negative" else np.nan
        patrol = mult
    with pytest.raises(ValueError, match=match):
        stepper.step(patrol)  # type: ignore[arg-type]


def test_a_bad_seed_is_refused_as_the_simulate_stage_refuses_it() -> None:
    message = r"The 'simulate\.seed' parameter of stage 'simulate' must be >= 0\. Got -1\.$"
    with pytest.raises(ParamsError, match=message):
        CityStepper(tiny_city_config(seed=7, n_weeks=4), seed=-1)


def test_bad_queries_and_a_step_past_the_end_are_refused() -> None:
    stepper = CityStepper(tiny_city_config(seed=7, n_weeks=4))
    with pytest.raises(ValueError, match=r"crime type 'arson' is not simulated in this city"):
        stepper.expected_counts(None, ["arson"], kind="committed")
    with pytest.raises(ValueError, match=r"kind must be 'recorded' or 'committed'\. Got 'true'"):
        stepper.expected_counts(None, ["burglary"], kind="true")  # type: ignore[arg-type]
    cells = np.unique(index_points(stepper.geography.lat, stepper.geography.lon, resolution=8))
    with pytest.raises(ValueError, match=r"cells must be distinct H3 cells\. Got duplicates\."):
        stepper.multiplier_for_cells(np.r_[cells, cells[:1]], 2.0)
    mixed = np.r_[cells[:2], index_points([51.5], [-0.1], resolution=9)]
    with pytest.raises(
        ValueError, match=r"one H3 resolution of at most 10\. Got resolutions \[8, 9\]"
    ):
        stepper.multiplier_for_cells(mixed, 2.0)
    for _ in range(4):
        stepper.step()
    with pytest.raises(
        ValueError, match=r"the city has 4 weeks \(simulate\.n_weeks\) and all have"
    ):
        stepper.step()


def test_multiplier_for_cells_reaches_the_micro_cells_inside() -> None:
    stepper = CityStepper(tiny_city_config(seed=7, n_weeks=4))
    res8 = index_points(stepper.geography.lat, stepper.geography.lon, resolution=8)
    cells = np.unique(res8)[:3]
    mult = stepper.multiplier_for_cells(cells, [2.0, 3.0, 4.0])
    for cell, value in zip(cells, [2.0, 3.0, 4.0], strict=True):
        assert (mult[res8 == cell] == value).all()
    assert (mult[~np.isin(res8, cells)] == 1.0).all()
