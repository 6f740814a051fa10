"""A tiny city for tests and end-to-end runs (generates in well under a second)."""

from __future__ import annotations

from typing import Any

from simcity.config import DEFAULT_PARAMS_PATH, CityConfig, load_city_config, merge_overrides

#: Overrides on top of the default params that shrink the city (~80 km², 300 areas, 70 weeks).
TINY_CITY_OVERRIDES: dict[str, Any] = {
    "n_weeks": 70,
    "burn_in_weeks": 8,
    "scale": 0.02,
    "geography": {
        "area_km2": 80.0,
        "n_areas": 300,
        "n_districts": 6,
        "residents_total": 450_000,
        "n_town_centres": 4,
        "n_shops": 150,
        "n_transport_hubs": 12,
    },
}

#: ``publish.override`` for pipeline runs on the tiny city: its groups are far too small for the
#: audit (most hard gates report INSUFFICIENT DATA), so end-to-end tests publish under this
#: recorded override; the gates themselves are tested in tests/models/test_audit.py.
TINY_CITY_PUBLISH_OVERRIDE: dict[str, Any] = {
    "approving_body": "Beatwise test suite",
    "date": "2026-11-25",
    "reason": "Tiny synthetic test city: groups too small to judge; tests the plumbing.",
    "gates": ["G1", "G2", "G3", "G4", "G5", "G6", "G8", "G9"],
    # the test suite's own override, far ahead so the suite does not expire; a real one is short
    "expires": "2099-12-31",
}


def tiny_city_config(*, seed: int = 7, **overrides: Any) -> CityConfig:
    """The default parameters shrunk to a tiny city; keyword overrides merge on top.

    About 28k recorded events over 70 weeks on ~5,900 micro-cells (~880 res-9 cells).
    """
    merged = merge_overrides({**TINY_CITY_OVERRIDES, "seed": seed}, overrides)
    return load_city_config(DEFAULT_PARAMS_PATH, overrides=merged)
