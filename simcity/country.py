"""A synthetic country: forces laid out apart on a grid, each a synthetic city of its own.

A national run covers every police force at once. Here a country is a grid of forces, each a
synthetic city (``simcity.generate``) with its own seed, centre, area, residents and recorded
volume, so that the whole country can be simulated and run force by force, one partition per
force (``bench/bench_country.py``).

- **Sizes.** Every force covers the same area (``area_km2 / n_forces``); recorded volume and
  residents vary from force to force by one lognormal weight (``volume_log_sd``), as urban forces
  record many times what rural ones do. The weights are normalised so that the forces together
  record ``recorded_per_year`` and house ``residents_total``.
- **Layout.** Centres sit on a square grid ``spacing`` force radii apart (east-west distances
  taken at each row's latitude), so that no two forces'
  irregular boundaries meet (a boundary's radius would have to reach 1.5 times its mean for two
  neighbours to touch at the default spacing of 3). Each force's H3 cells are therefore its own:
  its ring features and baselines are exact without a halo.
- **Seeds.** Each force's seed is drawn from the country's seed by ``numpy``'s ``SeedSequence``,
  so forces are independent and the country is reproducible from one number.

:func:`force_overrides` gives a force's ``simulate`` section as overrides of the base params;
the rest of the base city (crime types, dynamics, recording) is the same in every force.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simcity.config import GeographyConfig, monday

#: the base city's geography (params.yaml's London defaults), which a force's is scaled from
_BASE = GeographyConfig()
#: residents per small area, as in the base city (~1,500)
_RESIDENTS_PER_AREA = _BASE.residents_total / _BASE.n_areas
#: small areas per district
_AREAS_PER_DISTRICT = 150
#: point sources that follow residents, as many per resident as in the base city
_PER_RESIDENT = ("n_town_centres", "n_shops", "n_transport_hubs")
#: the simulator's largest study area (the bound of GeographyConfig.area_km2)
_MAX_FORCE_AREA_KM2 = float(
    next(m.le for m in GeographyConfig.model_fields["area_km2"].metadata if hasattr(m, "le"))
)
_KM_PER_DEGREE_LAT = 111.32


class CountryConfig(BaseModel):
    """A synthetic country: how many forces, over what area, recording how much, when.

    The defaults are England and Wales at the size of a national monthly run: 43 forces, about
    200,000 res-8 cells, ~60M recorded events over 110 months (``n_weeks`` 478 from
    September 2017), 59.6M residents (Census 2021).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(20171204, ge=0, lt=2**63)
    n_forces: int = Field(43, ge=1, le=400)
    #: land area the forces cover together
    area_km2: float = Field(128_000.0, gt=0)
    residents_total: int = Field(59_600_000, ge=1000)
    #: events recorded a year by all forces together (police-activity types included)
    recorded_per_year: float = Field(6_550_000.0, gt=0)
    #: sd of the log of a force's volume weight (residents follow the same weight)
    volume_log_sd: float = Field(0.6, ge=0, le=1.5)
    start: dt.date = dt.date(2017, 9, 4)
    n_weeks: int = Field(478, ge=4, le=1100)
    #: the grid's centre
    centre_lat: float = Field(53.0, ge=-70, le=70)
    centre_lon: float = Field(-1.5, ge=-180, le=180)
    #: centre-to-centre distance in force radii (the radius of a disc of a force's area)
    spacing: float = Field(3.0, ge=2.5, le=10)

    _monday = field_validator("start")(monday)

    @model_validator(mode="after")
    def _force_area(self) -> CountryConfig:
        if self.force_area_km2 > _MAX_FORCE_AREA_KM2:
            raise ValueError(
                f"area_km2 / n_forces is {self.force_area_km2:,.0f} km2, above the simulator's "
                f"largest study area ({_MAX_FORCE_AREA_KM2:,.0f} km2): raise n_forces to at "
                f"least {math.ceil(self.area_km2 / _MAX_FORCE_AREA_KM2)}"
            )
        return self

    @property
    def force_area_km2(self) -> float:
        return self.area_km2 / self.n_forces


@dataclass(frozen=True)
class Force:
    """One force of the country: what its ``simulate`` section changes from the base city."""

    #: "F01", "F02", ... in grid order (rows from the north, west to east)
    code: str
    seed: int
    centre_lat: float
    centre_lon: float
    area_km2: float
    residents: int
    #: recorded events a year
    recorded_per_year: float
    #: ``simulate.scale``: the share of the base city's yearly volume
    scale: float


def volume_weights(config: CountryConfig) -> np.ndarray:
    """Each force's share of the country's volume and residents (they sum to 1)."""
    rng = np.random.default_rng(np.random.SeedSequence(config.seed))
    weights = np.exp(config.volume_log_sd * rng.standard_normal(config.n_forces))
    return np.asarray(weights / weights.sum())


def force_seeds(config: CountryConfig) -> list[int]:
    """Independent seeds, one per force, from the country's (below 2**62, with room for the
    closed loop's seed + 1, + 2)."""
    children = np.random.SeedSequence(config.seed).spawn(config.n_forces)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(2)) for child in children]


def layout(config: CountryConfig, base_yearly_volume: float) -> list[Force]:
    """The country's forces, in grid order.

    ``base_yearly_volume`` is the base city's recorded events a year at scale 1.0 (the sum of
    its types' ``yearly_volume``), from which each force's ``scale`` follows.
    """
    if base_yearly_volume <= 0:
        raise ValueError(f"base_yearly_volume must be positive, got {base_yearly_volume}")
    n = config.n_forces
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    step_km = config.spacing * math.sqrt(config.force_area_km2 / math.pi)
    weights = volume_weights(config)
    seeds = force_seeds(config)
    forces = []
    for i in range(n):
        row, column = divmod(i, columns)
        north_km = ((rows - 1) / 2 - row) * step_km
        east_km = (column - (columns - 1) / 2) * step_km
        lat = config.centre_lat + north_km / _KM_PER_DEGREE_LAT
        km_per_degree_lon = _KM_PER_DEGREE_LAT * math.cos(math.radians(lat))
        recorded = config.recorded_per_year * float(weights[i])
        forces.append(
            Force(
                code=f"F{i + 1:0{len(str(n))}d}",
                seed=seeds[i],
                centre_lat=round(lat, 6),
                centre_lon=round(config.centre_lon + east_km / km_per_degree_lon, 6),
                area_km2=config.force_area_km2,
                residents=max(1000, round(config.residents_total * float(weights[i]))),
                recorded_per_year=recorded,
                scale=recorded / base_yearly_volume,
            )
        )
    return forces


def force_overrides(force: Force, config: CountryConfig) -> dict[str, Any]:
    """The force's ``simulate`` section as overrides of the base city's.

    Small areas hold ~1,500 residents and districts ~150 small areas, as in the base city; town
    centres, shops and stations follow residents; the residential density's length scale grows
    with the square root of the area.
    """
    n_areas = int(np.clip(round(force.residents / _RESIDENTS_PER_AREA), 10, 20_000))
    n_districts = int(np.clip(round(n_areas / _AREAS_PER_DISTRICT), 1, min(100, n_areas // 2)))
    per_resident = {
        key: max(1, round(getattr(_BASE, key) * force.residents / _BASE.residents_total))
        for key in _PER_RESIDENT
    }
    return {
        "seed": force.seed,
        "start": config.start.isoformat(),
        "n_weeks": config.n_weeks,
        "scale": round(force.scale, 6),
        "geography": {
            "centre_lat": force.centre_lat,
            "centre_lon": force.centre_lon,
            "area_km2": round(force.area_km2, 3),
            "n_areas": n_areas,
            "n_districts": n_districts,
            "residents_total": force.residents,
            "population_scale_km": round(
                _BASE.population_scale_km * math.sqrt(force.area_km2 / _BASE.area_km2), 3
            ),
            **per_resident,
        },
    }
