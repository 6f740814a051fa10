"""Episodes (hot spots that emerge and fade): determinism, exact truth, stepper, places.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from beatwise.params import ParamsError
from simcity.episodes import delta_matrix, episode_profile, falling_log, multiplier
from simcity.generate import SECONDS_PER_DAY, simulate_city, simulate_latent
from simcity.io import write_city
from simcity.loop import CityStepper
from simcity.testing import tiny_city_config

_KINDS = ("venue", "decline", "feud", "regeneration")
#: every default kind switched off (an empty mapping would merge into the defaults, not replace)
OFF: dict[str, Any] = {
    "dynamics": {"episodes": {k: {"rate_per_year_per_1000km2": 0.0} for k in _KINDS}}
}
#: many strong episodes on the tiny city, so their effect is far above the noise
STRONG: dict[str, Any] = {
    "dynamics": {
        "episodes": {
            "venue": {"rate_per_year_per_1000km2": 400.0, "amplitude": 8.0},
            "feud": {"rate_per_year_per_1000km2": 400.0},
            "regeneration": {"rate_per_year_per_1000km2": 200.0, "amplitude": -0.9},
        }
    }
}


def test_profile_ramps_holds_and_fades() -> None:
    prof = episode_profile([2, 0], [1, 0], [2, -1], [1, 0], n_weeks=8)
    # onset 2, ramp 1 week: 0.5, then plateau 2 weeks of 1, fade over 1 week: 0.5, then 0
    assert prof[0].tolist() == [0, 0, 0.5, 1, 1, 0.5, 0, 0]
    assert prof[1].tolist() == [1.0] * 8  # lasting, at full effect from week 0


def test_episodes_are_deterministic_by_seed() -> None:
    a = simulate_city(tiny_city_config(seed=3)).intensity.episodes
    b = simulate_city(tiny_city_config(seed=3)).intensity.episodes
    c = simulate_city(tiny_city_config(seed=4)).intensity.episodes
    assert a.size > 0
    assert np.array_equal(a.onset, b.onset) and np.array_equal(a.centre, b.centre)
    assert (a.footprint != b.footprint).nnz == 0
    assert not (a.size == c.size and np.array_equal(a.centre, c.centre))


def test_dynamics_off_is_the_static_city() -> None:
    """Rates of 0 draw nothing from the episode streams: the static city's events, whose
    sha256 on the tiny city (seed 7) is the one the code before episodes wrote."""
    off = simulate_city(tiny_city_config(seed=7, **OFF))
    assert off.intensity.episodes.size == 0
    on = simulate_city(tiny_city_config(seed=7))
    assert on.intensity.episodes.size > 0
    assert not off.events["crime_id"].equals(on.events["crime_id"])


def test_dynamics_off_bytes_match_the_static_simulator(tmp_path: Path) -> None:
    import hashlib

    write_city(simulate_city(tiny_city_config(seed=7, **OFF)), tmp_path)
    digest = hashlib.sha256((tmp_path / "events.parquet").read_bytes()).hexdigest()
    assert digest.startswith("d016301ccee0e159")


def test_truth_equals_monte_carlo_mean_inside_episodes() -> None:
    """Realised over expected committed events inside the footprints of the rising and the
    falling episodes, summed over 12 histories of one city (each scored against the truth
    given its own history), is within 0.03 of 1; the episodes move those places by far more."""
    config = tiny_city_config(seed=11, **STRONG)
    city = simulate_city(config)
    truth, ep = city.truth, city.intensity.episodes
    period = np.arange(truth.burn_in_weeks, truth.n_weeks_total)
    weeks = truth.origin + period * np.timedelta64(7, "D")
    foot = ep.footprint.tocoo()
    core = foot.data > 0.5  # within ~1.2 radii of a centre
    up = np.unique(foot.row[core & (ep.amplitude[foot.col] > 0)])
    down = np.setdiff1d(np.unique(foot.row[core & (ep.amplitude[foot.col] < 0)]), up)
    types = list(truth.types)
    sums = np.zeros((2, 2))  # [rising, falling] x [realised, expected]
    for s in range(12):
        lat = simulate_latent(config, process_seed=1000 + s)
        hist = truth.with_history(lat.kind, lat.micro, lat.t_sec // SECONDS_PER_DAY)
        exp = hist.expected_counts(hist.cells, weeks, types, kind="committed")  # per micro-cell
        inside = lat.t_sec >= truth.burn_in_weeks * 7 * SECONDS_PER_DAY
        for i, rows in enumerate((up, down)):
            sums[i, 0] += np.isin(lat.micro[inside], rows).sum()
            sums[i, 1] += exp[:, rows].sum()
    assert sums[0, 0] / sums[0, 1] == pytest.approx(1.0, abs=0.03)
    assert sums[1, 0] / sums[1, 1] == pytest.approx(1.0, abs=0.03)
    static = simulate_city(tiny_city_config(seed=11, **OFF)).truth
    base = static.expected_counts(static.cells, weeks, types, kind="committed")
    assert exp[:, up].sum() > 1.15 * base[:, up].sum()  # the effect is 5x the tolerance
    assert exp[:, down].sum() < 0.85 * base[:, down].sum()


def test_truth_uses_the_same_multiplier_as_the_simulator() -> None:
    city = simulate_city(tiny_city_config(seed=11, **STRONG))
    ep, k = city.intensity.episodes, 2
    weeks = np.arange(20, 40)
    delta = delta_matrix(ep, k, weeks).toarray()
    rows = np.flatnonzero(np.abs(delta).sum(axis=1) > 0)[:50]
    grid_m, grid_w = np.repeat(rows, weeks.size), np.tile(weeks, rows.size)
    points = multiplier(ep, k, grid_m, grid_w).reshape(rows.size, weeks.size)
    np.testing.assert_allclose(points - 1.0, delta[rows], rtol=1e-12, atol=1e-12)


def test_the_thinning_grid_is_the_falling_part_of_the_multiplier() -> None:
    city = simulate_city(tiny_city_config(seed=11, **STRONG))
    ep = city.intensity.episodes
    n_micro, weeks = ep.footprint.shape[0], np.arange(ep.n_weeks)
    acting = 0
    for k in range(ep.mix.shape[1]):
        rows, log_fall = falling_log(ep, k, weeks)
        some = rows[:: max(1, rows.size // 40)]
        grid_m, grid_w = np.repeat(some, weeks.size), np.tile(weeks, some.size)
        points = multiplier(ep, k, grid_m, grid_w, rising=False).reshape(some.size, weeks.size)
        grid = np.exp(log_fall[np.searchsorted(rows, some)])
        np.testing.assert_allclose(grid, points, rtol=1e-12)
        outside = np.setdiff1d(np.arange(n_micro), rows)
        for week in (0, ep.n_weeks // 2, ep.n_weeks - 1):
            at = np.full(outside.size, week)
            assert np.all(multiplier(ep, k, outside, at, rising=False) == 1.0)
        acting += int(np.any(log_fall < 0))
    assert acting >= 3  # regeneration lowers the residential types


def test_stepper_reproduces_the_simulator_with_episodes() -> None:
    config = tiny_city_config(seed=5, **STRONG)
    city = simulate_city(config)
    stepper = CityStepper(config)
    weeks = [stepper.step().events for _ in range(config.n_weeks)]
    stepped = pd.concat(weeks, ignore_index=True)
    assert city.intensity.episodes.size > 0
    assert stepped["crime_id"].tolist() == city.events["crime_id"].tolist()


def test_places_csv_format_and_venue_opening(tmp_path: Path) -> None:
    city = simulate_city(tiny_city_config(seed=3, **STRONG))
    write_city(city, tmp_path)
    text = (tmp_path / "places.csv").read_text(encoding="utf-8")
    places = pd.read_csv(tmp_path / "places.csv", dtype={"opened": str, "closed": str})
    assert list(places.columns) == ["kind", "lon", "lat", "opened", "closed"]
    assert {"station", "shop", "town_centre", "venue", "regeneration"} <= set(places["kind"])
    assert "feud" not in set(places["kind"]) and "decline" not in set(places["kind"])
    assert places["closed"].isna().all()
    assert places.loc[places["kind"] == "station", "opened"].isna().all()
    ep, geo = city.intensity.episodes, city.geography
    venue = np.flatnonzero(np.array(ep.kind_names)[ep.kind] == "venue")
    onset = city.intensity.origin + ep.onset[venue].astype(np.int64) * np.timedelta64(7, "D")
    want = pd.DataFrame(
        {
            "lon": np.round(geo.lon[ep.centre[venue]], 6),
            "lat": np.round(geo.lat[ep.centre[venue]], 6),
            "opened": pd.to_datetime(onset).strftime("%Y-%m-%d"),
        }
    ).sort_values(["opened", "lon", "lat"], ignore_index=True)
    got = places.loc[places["kind"] == "venue", ["lon", "lat", "opened"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=False, atol=1e-9)
    write_city(city, tmp_path / "again")
    assert (tmp_path / "again" / "places.csv").read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"feud": {"amplitude": -2.0}}, "dynamics.episodes.feud.amplitude"),
        ({"venue": {"centre": "harbour"}}, "dynamics.episodes.venue.centre"),
        ({"venue": {"types": {"piracy": 1.0}}}, "dynamics.episodes.venue.types"),
        ({"feud": {"radius": 100.0}}, "dynamics.episodes.feud.radius"),
    ],
)
def test_bad_dynamics_are_refused_naming_the_key(override: dict[str, Any], key: str) -> None:
    with pytest.raises((ParamsError, ValidationError, ValueError), match=key.replace(".", r"\.")):
        tiny_city_config(dynamics={"episodes": override})
