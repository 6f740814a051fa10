"""Shared small cities: each is simulated once per test session (well under a second each)."""

from __future__ import annotations

import pytest

from simcity.generate import SimulatedCity, simulate_city
from simcity.testing import tiny_city_config


@pytest.fixture(scope="session")
def tiny_city() -> SimulatedCity:
    """The default parameters on a tiny city (~80 km², 70 weeks, ~28k recorded events)."""
    return simulate_city(tiny_city_config(seed=7))


@pytest.fixture(scope="session")
def denser_city() -> SimulatedCity:
    """A denser tiny city (scale 0.06) for statistics that need more events per type."""
    return simulate_city(tiny_city_config(seed=11, scale=0.06, n_weeks=104))
