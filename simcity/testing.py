"""A tiny city for tests and end-to-end runs (generates in well under a second)."""

from __future__ import annotations

from typing import Any

from simcity.config import DEFAULT_PARAMS_PATH, CityConfig, load_city_config

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


def tiny_city_config(*, seed: int = 7, **overrides: Any) -> CityConfig:
    """The default parameters shrunk to a tiny city; keyword overrides merge on top.

    About 28k recorded events over 70 weeks on ~5,900 micro-cells (~880 res-9 cells).
    """
    merged: dict[str, Any] = {**TINY_CITY_OVERRIDES, "seed": seed}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return load_city_config(DEFAULT_PARAMS_PATH, overrides=merged)
