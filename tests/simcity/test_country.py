"""The synthetic country: totals, layout, seeds, and forces that never share a cell."""

from __future__ import annotations

import datetime as dt
import math

import h3
import numpy as np
import pytest
from pydantic import ValidationError

from simcity.config import load_city_config
from simcity.country import CountryConfig, force_overrides, force_seeds, layout, volume_weights
from simcity.geography import build_geography

BASE_VOLUME = sum(t.yearly_volume for t in load_city_config().crime_types.values())


def _km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    return float(h3.great_circle_distance((a_lat, a_lon), (b_lat, b_lon), unit="km"))


def test_the_forces_add_up_to_the_country() -> None:
    config = CountryConfig()
    forces = layout(config, BASE_VOLUME)
    assert len(forces) == 43
    assert sum(f.recorded_per_year for f in forces) == pytest.approx(config.recorded_per_year)
    assert sum(f.residents for f in forces) == pytest.approx(config.residents_total, abs=43)
    assert sum(f.area_km2 for f in forces) == pytest.approx(config.area_km2)
    for force in forces:
        assert force.scale * BASE_VOLUME == pytest.approx(force.recorded_per_year)
    # urban and rural forces: the busiest records several times what the quietest does
    volumes = sorted(f.recorded_per_year for f in forces)
    assert volumes[-1] / volumes[0] > 4


def test_the_country_is_reproducible_from_its_seed() -> None:
    assert layout(CountryConfig(), BASE_VOLUME) == layout(CountryConfig(), BASE_VOLUME)
    other = layout(CountryConfig(seed=1), BASE_VOLUME)
    assert [f.seed for f in other] != [f.seed for f in layout(CountryConfig(), BASE_VOLUME)]
    np.testing.assert_allclose(volume_weights(CountryConfig()).sum(), 1.0)


def test_force_seeds_are_distinct_and_leave_room_for_the_loop_seeds() -> None:
    seeds = force_seeds(CountryConfig())
    assert all(0 <= s < 2**62 for s in seeds)
    # the closed loop runs seed, seed + 1, seed + 2: no force may reuse another's
    taken = {s + k for s in seeds for k in range(3)}
    assert len(taken) == 3 * len(seeds)


def test_centres_sit_the_spacing_apart() -> None:
    config = CountryConfig()
    forces = layout(config, BASE_VOLUME)
    radius = math.sqrt(config.force_area_km2 / math.pi)
    nearest = min(
        _km(a.centre_lat, a.centre_lon, b.centre_lat, b.centre_lon)
        for i, a in enumerate(forces)
        for b in forces[i + 1 :]
    )
    assert nearest == pytest.approx(config.spacing * radius, rel=0.02)


def test_every_force_is_a_valid_city() -> None:
    config = CountryConfig()
    for force in layout(config, BASE_VOLUME):
        city = load_city_config(overrides=force_overrides(force, config))
        assert city.seed == force.seed
        assert city.geography.n_districts * 2 <= city.geography.n_areas
        assert city.last_day == config.start + dt.timedelta(weeks=config.n_weeks, days=-1)


def test_too_few_forces_for_the_area_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="raise n_forces to at least 26"):
        CountryConfig(n_forces=20)


def test_neighbouring_forces_share_no_cell() -> None:
    """Four small forces built as the simulator builds them: disjoint boundaries and cells."""
    config = CountryConfig(
        n_forces=4, area_km2=4 * 60.0, residents_total=4 * 200_000, recorded_per_year=40_000
    )
    cells: list[set[str]] = []
    outlines = []
    for force in layout(config, BASE_VOLUME):
        city = load_city_config(overrides=force_overrides(force, config))
        seeds = np.random.SeedSequence(city.seed).spawn(9)
        geo = build_geography(city, rng=np.random.default_rng(seeds[0]))
        outlines.append(geo.areas.to_crs(4326).union_all())
        cells.append({h3.latlng_to_cell(a, b, 8) for a, b in zip(geo.lat, geo.lon, strict=True)})
    for i in range(4):
        for j in range(i + 1, 4):
            assert not outlines[i].intersects(outlines[j])
            assert not cells[i] & cells[j]


def test_a_start_that_is_not_a_monday_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be a Monday"):
        CountryConfig(start=dt.date(2017, 9, 5))
