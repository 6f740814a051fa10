"""The typed, frozen configuration of the synthetic city (the ``simulate:`` section of params.yaml).

Every knob of the simulator lives here, mirroring that section key for key.
Models forbid unknown keys, so a typo in params.yaml is an error, and validators name the key, the
expectation and the value they got.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from beatwise.taxonomy import CANONICAL_TYPES, CRIME_TYPES

#: H3 resolution of the micro-cells on which intensity is defined (fixed: truth sums children).
MICRO_RESOLUTION: Final[int] = 10

#: The committed defaults, the same text the lead pastes into params.yaml.
#: the repository's params.yaml: the one home of the default city (tests shrink it from there)
DEFAULT_PARAMS_PATH: Final[Path] = Path(__file__).resolve().parents[1] / "params.yaml"


def _fail(key: str, expectation: str, value: object) -> ValueError:
    return ValueError(f"The 'simulate.{key}' parameter must be {expectation}. Got {value!r}.")


def _check_range(
    key: str, value: float, *, lo: float | None = None, hi: float | None = None, open_lo=False
) -> float:
    bad = (lo is not None and (value <= lo if open_lo else value < lo)) or (
        hi is not None and value > hi
    )
    if bad or value != value:  # NaN fails every comparison
        left = "(" if open_lo else "["
        span = f"in {left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise _fail(key, f"a number {span}", value)
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeographyConfig(_Frozen):
    """Study area, small areas, districts, residents and the places that attract crime."""

    centre_lat: float = 51.5074
    centre_lon: float = -0.1278
    area_km2: float = 1500.0
    boundary_roughness: float = 0.12
    n_areas: int = 5000
    n_districts: int = 30
    residents_total: int = 7_500_000
    population_scale_km: float = 12.0
    field_scale_m: float = 1500.0
    deprivation_minority_rho: float = 0.45
    minority_share_mean: float = 0.40
    n_town_centres: int = 40
    central_zone_radius_m: float = 1500.0
    central_zone_weight: float = 0.35
    town_centre_radius_m: float = 350.0
    n_shops: int = 2500
    n_transport_hubs: int = 150
    hub_radius_m: float = 150.0

    @field_validator("centre_lat")
    @classmethod
    def _lat(cls, v: float) -> float:
        return _check_range("geography.centre_lat", v, lo=-80, hi=80)

    @field_validator("centre_lon")
    @classmethod
    def _lon(cls, v: float) -> float:
        return _check_range("geography.centre_lon", v, lo=-180, hi=180)

    @field_validator("area_km2")
    @classmethod
    def _area(cls, v: float) -> float:
        return _check_range("geography.area_km2", v, lo=5, hi=5000)

    @field_validator("boundary_roughness")
    @classmethod
    def _rough(cls, v: float) -> float:
        return _check_range("geography.boundary_roughness", v, lo=0, hi=0.3)

    @field_validator("n_areas")
    @classmethod
    def _n_areas(cls, v: int) -> int:
        if not 10 <= v <= 20000:
            raise _fail("geography.n_areas", "an int in [10, 20000]", v)
        return v

    @field_validator("n_districts")
    @classmethod
    def _n_districts(cls, v: int) -> int:
        if not 1 <= v <= 100:
            raise _fail("geography.n_districts", "an int in [1, 100]", v)
        return v

    @field_validator("residents_total")
    @classmethod
    def _residents(cls, v: int) -> int:
        if v < 1000:
            raise _fail("geography.residents_total", "an int >= 1000", v)
        return v

    @field_validator("deprivation_minority_rho")
    @classmethod
    def _rho(cls, v: float) -> float:
        return _check_range("geography.deprivation_minority_rho", v, lo=-0.95, hi=0.95)

    @field_validator("minority_share_mean")
    @classmethod
    def _minority(cls, v: float) -> float:
        return _check_range("geography.minority_share_mean", v, lo=0.01, hi=0.99)

    @field_validator("central_zone_weight")
    @classmethod
    def _czw(cls, v: float) -> float:
        return _check_range("geography.central_zone_weight", v, lo=0, hi=1)

    @field_validator(
        "population_scale_km",
        "field_scale_m",
        "central_zone_radius_m",
        "town_centre_radius_m",
        "hub_radius_m",
    )
    @classmethod
    def _positive(cls, v: float, info: Any) -> float:
        return _check_range(f"geography.{info.field_name}", v, lo=0, open_lo=True)

    @field_validator("n_town_centres", "n_shops", "n_transport_hubs")
    @classmethod
    def _counts(cls, v: int, info: Any) -> int:
        if not 1 <= v <= 100000:
            raise _fail(f"geography.{info.field_name}", "an int in [1, 100000]", v)
        return v

    @model_validator(mode="after")
    def _areas_vs_districts(self) -> GeographyConfig:
        if self.n_districts * 2 > self.n_areas:
            raise _fail(
                "geography.n_districts",
                f"at most half of geography.n_areas ({self.n_areas})",
                self.n_districts,
            )
        return self


class SpatialConfig(_Frozen):
    """Where a type's background intensity sits: a mixture of place components and modifiers."""

    residential: float
    nightlife: float
    retail: float
    transit: float
    deprivation: float
    hotspot_sd: float

    @field_validator("residential", "nightlife", "retail", "transit")
    @classmethod
    def _weights(cls, v: float, info: Any) -> float:
        return _check_range(f"crime_types.<type>.spatial.{info.field_name}", v, lo=0, hi=1)

    @field_validator("deprivation")
    @classmethod
    def _dep(cls, v: float) -> float:
        return _check_range("crime_types.<type>.spatial.deprivation", v, lo=-3, hi=3)

    @field_validator("hotspot_sd")
    @classmethod
    def _hot(cls, v: float) -> float:
        return _check_range("crime_types.<type>.spatial.hotspot_sd", v, lo=0, hi=3)

    @model_validator(mode="after")
    def _some_weight(self) -> SpatialConfig:
        total = self.residential + self.nightlife + self.retail + self.transit
        if total <= 0:
            raise _fail(
                "crime_types.<type>.spatial",
                "a mixture with a positive weight on at least one component",
                total,
            )
        return self


class TriggeringConfig(_Frozen):
    """Self-excitation (Hawkes): repeats at the same place and near repeats around it."""

    branching_ratio: float
    repeat_share: float
    repeat_days: float
    near_repeat_sigma_m: float
    near_repeat_days: float

    @field_validator("branching_ratio")
    @classmethod
    def _br(cls, v: float) -> float:
        # < 1 keeps the branching process subcritical (finite cascades).
        return _check_range("crime_types.<type>.triggering.branching_ratio", v, lo=0, hi=0.9)

    @field_validator("repeat_share")
    @classmethod
    def _rs(cls, v: float) -> float:
        return _check_range("crime_types.<type>.triggering.repeat_share", v, lo=0, hi=1)

    @field_validator("repeat_days", "near_repeat_days")
    @classmethod
    def _days(cls, v: float, info: Any) -> float:
        return _check_range(f"crime_types.<type>.triggering.{info.field_name}", v, lo=0.5, hi=365)

    @field_validator("near_repeat_sigma_m")
    @classmethod
    def _sigma(cls, v: float) -> float:
        # Below ~60 m the kernel is finer than a micro-cell; above 600 m it costs memory.
        return _check_range("crime_types.<type>.triggering.near_repeat_sigma_m", v, lo=60, hi=600)


class CrimeTypeConfig(_Frozen):
    """One crime type: volume, place, time profile, self-excitation and recording."""

    yearly_volume: float
    spatial: SpatialConfig
    seasonal_amplitude: float
    seasonal_peak_day: int
    trend_per_year: float
    peak_hour: float
    peak_width_h: float
    peak_weight: float
    weekday_weights: tuple[float, float, float, float, float, float, float]
    triggering: TriggeringConfig
    recording_rate: float
    knife_share: float = 0.0

    @field_validator("yearly_volume")
    @classmethod
    def _vol(cls, v: float) -> float:
        return _check_range("crime_types.<type>.yearly_volume", v, lo=0, hi=5e6)

    @field_validator("seasonal_amplitude")
    @classmethod
    def _amp(cls, v: float) -> float:
        return _check_range("crime_types.<type>.seasonal_amplitude", v, lo=0, hi=0.5)

    @field_validator("seasonal_peak_day")
    @classmethod
    def _peak_day(cls, v: int) -> int:
        if not 1 <= v <= 366:
            raise _fail("crime_types.<type>.seasonal_peak_day", "an int in [1, 366]", v)
        return v

    @field_validator("trend_per_year")
    @classmethod
    def _trend(cls, v: float) -> float:
        return _check_range("crime_types.<type>.trend_per_year", v, lo=-0.3, hi=0.3)

    @field_validator("peak_hour")
    @classmethod
    def _peak_hour(cls, v: float) -> float:
        return _check_range("crime_types.<type>.peak_hour", v, lo=0, hi=23.99)

    @field_validator("peak_width_h")
    @classmethod
    def _width(cls, v: float) -> float:
        return _check_range("crime_types.<type>.peak_width_h", v, lo=0.5, hi=12)

    @field_validator("peak_weight")
    @classmethod
    def _pw(cls, v: float) -> float:
        return _check_range("crime_types.<type>.peak_weight", v, lo=0, hi=1)

    @field_validator("weekday_weights")
    @classmethod
    def _weekday(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if min(v) <= 0:
            raise _fail(
                "crime_types.<type>.weekday_weights", "seven positive numbers (Mon..Sun)", v
            )
        return v

    @field_validator("recording_rate")
    @classmethod
    def _rec(cls, v: float) -> float:
        return _check_range("crime_types.<type>.recording_rate", v, lo=0, hi=5, open_lo=True)

    @field_validator("knife_share")
    @classmethod
    def _knife(cls, v: float) -> float:
        return _check_range("crime_types.<type>.knife_share", v, lo=0, hi=1)


class PatrolConfig(_Frozen):
    """Where police attention goes (drives recording of police-activity types)."""

    deprivation: float = 0.4
    nightlife: float = 0.5

    @field_validator("deprivation", "nightlife")
    @classmethod
    def _coef(cls, v: float, info: Any) -> float:
        return _check_range(f"recording.patrol.{info.field_name}", v, lo=-2, hi=2)


class OverPolicingConfig(_Frozen):
    """Multiply patrol intensity in named districts and/or the most deprived areas."""

    districts: tuple[str, ...] = ()
    deprivation_decile_max: int | None = None
    factor: float = 1.0

    @field_validator("deprivation_decile_max")
    @classmethod
    def _decile(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 10:
            raise _fail("recording.over_policing.deprivation_decile_max", "null or 1..10", v)
        return v

    @field_validator("factor")
    @classmethod
    def _factor(cls, v: float) -> float:
        return _check_range("recording.over_policing.factor", v, lo=0, hi=20, open_lo=True)


class RecordingConfig(_Frozen):
    """The recording layer: victim reporting and police-activity detection."""

    reporting_deprivation_effect: float = 0.15
    patrol: PatrolConfig = PatrolConfig()
    over_policing: OverPolicingConfig = OverPolicingConfig()

    @field_validator("reporting_deprivation_effect")
    @classmethod
    def _rde(cls, v: float) -> float:
        return _check_range("recording.reporting_deprivation_effect", v, lo=0, hi=0.9)


class CityConfig(_Frozen):
    """The whole ``simulate:`` section.

    Refuses unknown keys, non-canonical crime type names, a start that is not a Monday, and
    values outside the documented ranges, with a message naming the key.
    """

    seed: int
    start: dt.date = dt.date(2022, 1, 3)
    n_weeks: int = 156
    burn_in_weeks: int = 26
    scale: float = 0.1
    kernel_truncation_sd: float = 2.5
    geography: GeographyConfig = GeographyConfig()
    base_hourly_activity: tuple[float, ...]
    crime_types: dict[str, CrimeTypeConfig]
    recording: RecordingConfig = RecordingConfig()

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if not 0 <= v < 2**63:
            raise _fail("seed", "an int in [0, 2**63)", v)
        return v

    @field_validator("start")
    @classmethod
    def _start(cls, v: dt.date) -> dt.date:
        if v.weekday() != 0:
            raise _fail("start", "a Monday (ISO week start)", v.isoformat())
        return v

    @field_validator("n_weeks")
    @classmethod
    def _weeks(cls, v: int) -> int:
        if not 4 <= v <= 1100:
            raise _fail("n_weeks", "an int in [4, 1100]", v)
        return v

    @field_validator("burn_in_weeks")
    @classmethod
    def _burn(cls, v: int) -> int:
        if not 0 <= v <= 260:
            raise _fail("burn_in_weeks", "an int in [0, 260]", v)
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: float) -> float:
        return _check_range("scale", v, lo=0, hi=5, open_lo=True)

    @field_validator("kernel_truncation_sd")
    @classmethod
    def _trunc(cls, v: float) -> float:
        return _check_range("kernel_truncation_sd", v, lo=1.5, hi=4)

    @field_validator("base_hourly_activity")
    @classmethod
    def _hourly(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 24 or min(v) <= 0:
            raise _fail("base_hourly_activity", "24 positive numbers (hours 0..23)", v)
        return v

    @field_validator("crime_types")
    @classmethod
    def _types(cls, v: dict[str, CrimeTypeConfig]) -> dict[str, CrimeTypeConfig]:
        if not v:
            raise _fail("crime_types", "a non-empty mapping of canonical type names", v)
        for name in v:
            if name not in CRIME_TYPES:
                raise _fail(
                    "crime_types",
                    f"keyed by canonical Beatwise types ({', '.join(CANONICAL_TYPES)}); "
                    f"{name!r} is not one",
                    sorted(v),
                )
        return v

    @model_validator(mode="after")
    def _victim_rates(self) -> CityConfig:
        for name, ct in self.crime_types.items():
            if CRIME_TYPES[name][2] == "victim" and ct.recording_rate > 1:
                raise _fail(
                    f"crime_types.{name}.recording_rate",
                    "a reporting probability in (0, 1] for a victim-reported type",
                    ct.recording_rate,
                )
        return self

    @property
    def type_names(self) -> tuple[str, ...]:
        """Simulated types in the canonical taxonomy order (the order of every type axis)."""
        return tuple(name for name in CANONICAL_TYPES if name in self.crime_types)


def load_city_config(
    path: Path | str = DEFAULT_PARAMS_PATH, *, overrides: dict[str, Any] | None = None
) -> CityConfig:
    """Read the ``simulate:`` section of a params YAML file into a validated CityConfig.

    ``overrides`` is merged recursively on top (nested dicts merge, other values replace), which
    is how tests build a small city from the defaults.
    """
    with Path(path).open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict) or "simulate" not in raw:
        raise ValueError(f"{path} has no top-level 'simulate:' section.")
    section = raw["simulate"]
    if overrides:
        section = _merge(section, overrides)
    return CityConfig.model_validate(section)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
