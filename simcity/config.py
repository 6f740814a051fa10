"""The schema of the synthetic city: the ``simulate:`` section of params.yaml, key for key.

Frozen pydantic models that refuse unknown keys; bounds are ``Field`` constraints and the checks
that involve more than one value are validators. The ``simulate`` stage validates the section
through the project's params loader (``beatwise.params``), which words every refusal as
"The 'simulate.<key>' parameter of stage 'simulate' must be ... Got ...". A field's comment says
what the knob means where its name does not; docs/synthetic-city.md explains the model and where
the defaults come from. District names are known only once the city is built, so
``simcity.intensity`` checks ``recording.over_policing.districts``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from beatwise.params import StageParams, params_refusal, read_params_file, validate_params
from beatwise.taxonomy import CANONICAL_TYPES, CRIME_TYPES

#: H3 resolution of the micro-cells on which intensity is defined (fixed: truth sums children).
MICRO_RESOLUTION: Final[int] = 10

#: The repository's params.yaml: the one home of the default city (tests shrink it from there).
DEFAULT_PARAMS_PATH: Final[Path] = Path(__file__).resolve().parents[1] / "params.yaml"


#: a mapping keyed by crime type (its values untouched by the check)
_Keyed = TypeVar("_Keyed", bound=dict[str, Any])


def _canonical_keys(v: _Keyed) -> _Keyed:
    """``v`` unchanged when every key is a canonical Beatwise crime type; else refused."""
    for name in v:
        if name not in CRIME_TYPES:
            raise params_refusal(
                f"must be keyed by canonical Beatwise types ({', '.join(CANONICAL_TYPES)}); "
                f"{name!r} is not one",
                got=sorted(v),
            )
    return v


def _of_length(n: int, what: str) -> AfterValidator:
    def check(values: tuple[float, ...]) -> tuple[float, ...]:
        if len(values) != n:
            raise params_refusal(f"must hold {n} positive numbers ({what})", got=list(values))
        return values

    return AfterValidator(check)


Positive = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Days = Annotated[float, Field(ge=0.5, le=365)]
Count = Annotated[int, Field(ge=1, le=100_000)]


def monday(v: dt.date) -> dt.date:
    """``v`` if it is a Monday (the simulation's weeks are ISO weeks); else the refusal."""
    if v.weekday() != 0:
        raise params_refusal("must be a Monday (ISO week start)", got=v.isoformat())
    return v


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeographyConfig(_Frozen):
    """Study area, small areas, districts, residents and the places that attract crime."""

    #: centre of the study area (default: Charing Cross, London)
    centre_lat: float = Field(51.5074, ge=-80, le=80)
    centre_lon: float = Field(-0.1278, ge=-180, le=180)
    area_km2: float = Field(1500.0, ge=5, le=5000)
    #: relative radial wobble of the irregular boundary
    boundary_roughness: float = Field(0.12, ge=0, le=0.3)
    #: small areas ("LSOAs"); at least twice ``n_districts``
    n_areas: int = Field(5000, ge=10, le=20_000)
    #: districts ("boroughs"): residents-weighted clusters of small areas
    n_districts: int = Field(30, ge=1, le=100)
    residents_total: int = Field(7_500_000, ge=1000)
    #: residential density falls as exp(-distance / this) from the centre
    population_scale_km: Positive = 12.0
    #: correlation length of the deprivation and minority-share fields
    field_scale_m: Positive = 1500.0
    #: correlation of the deprivation and minority-share latent fields
    deprivation_minority_rho: float = Field(0.45, ge=-0.95, le=0.95)
    #: mean share of ethnic-minority residents
    minority_share_mean: float = Field(0.40, ge=0.01, le=0.99)
    n_town_centres: Count = 40
    #: spatial sd of the central activity zone's Gaussian blob of night-time economy
    central_zone_radius_m: Positive = 1500.0
    #: share of the night-time economy in the central zone (the rest: town centres)
    central_zone_weight: Share = 0.35
    #: spatial sd of a town centre's night-time economy
    town_centre_radius_m: Positive = 350.0
    #: retail point sources
    n_shops: Count = 2500
    #: stations
    n_transport_hubs: Count = 150
    #: spatial sd of a hub's attraction
    hub_radius_m: Positive = 150.0

    @field_validator("n_districts")
    @classmethod
    def _at_most_half_the_areas(cls, v: int, info: ValidationInfo) -> int:
        n_areas = info.data.get("n_areas")
        if n_areas is not None and v * 2 > n_areas:
            raise params_refusal(f"must be at most half of geography.n_areas ({n_areas})", got=v)
        return v


class SpatialConfig(_Frozen):
    """Where a type's background intensity sits: a mixture of place components and modifiers."""

    #: mixture weights of the place components (at least one positive)
    residential: Share
    nightlife: Share
    retail: Share
    transit: Share
    #: log-intensity per sd of deprivation
    deprivation: float = Field(ge=-3, le=3)
    #: sd of micro-place heterogeneity (log scale)
    hotspot_sd: float = Field(ge=0, le=3)

    @model_validator(mode="after")
    def _some_weight(self) -> SpatialConfig:
        total = self.residential + self.nightlife + self.retail + self.transit
        if total <= 0:
            raise params_refusal(
                "must be a mixture with a positive weight on at least one component", got=total
            )
        return self


class TriggeringConfig(_Frozen):
    """Self-excitation (Hawkes): repeats at the same place and near repeats around it."""

    #: share of events that are triggered (Poisson offspring per event); < 1 keeps cascades finite
    branching_ratio: float = Field(ge=0, le=0.9)
    #: share of offspring at the same micro-cell (repeats); the rest are near repeats
    repeat_share: Share
    #: mean delay of a repeat (geometric, whole days >= 1)
    repeat_days: Days
    #: sd of a near repeat's Gaussian offset; below ~60 m finer than a micro-cell, above 600 m
    #: costly in memory
    near_repeat_sigma_m: float = Field(ge=60, le=600)
    #: mean delay of a near repeat
    near_repeat_days: Days


class CrimeTypeConfig(_Frozen):
    """One crime type: volume, place, time profile, self-excitation and recording."""

    #: recorded events per year at scale 1.0 (London's volume)
    yearly_volume: float = Field(ge=0, le=5e6)
    spatial: SpatialConfig
    #: weekly factor 1 + A cos(2 pi (day - peak) / 365.25): A and the peak day of year
    seasonal_amplitude: float = Field(ge=0, le=0.5)
    seasonal_peak_day: int = Field(ge=1, le=366)
    #: slow multiplicative trend per year, centred on the middle of the simulated period
    trend_per_year: float = Field(ge=-0.3, le=0.3)
    #: a wrapped-normal bump (hour, sd in hours, weight) mixed into base_hourly_activity
    peak_hour: float = Field(ge=0, le=23.99)
    peak_width_h: float = Field(ge=0.5, le=12)
    peak_weight: Share
    #: relative activity Monday..Sunday
    weekday_weights: Annotated[tuple[Positive, ...], _of_length(7, "Monday..Sunday")]
    triggering: TriggeringConfig
    #: victim types: reporting probability in the least-deprived area (at most 1);
    #: police-activity types: detections per unit patrol, p = 1 - exp(-rate * patrol)
    recording_rate: float = Field(gt=0, le=5)
    #: share of recorded events flagged knife-enabled
    knife_share: Share = 0.0


class PatrolConfig(_Frozen):
    """Where police attention goes: exp(deprivation * z_dep + nightlife * z_night), mean 1."""

    deprivation: float = Field(0.4, ge=-2, le=2)
    nightlife: float = Field(0.5, ge=-2, le=2)


class OverPolicingConfig(_Frozen):
    """Multiply patrol intensity in named districts and/or the most deprived areas."""

    #: district names of the simulated city
    districts: tuple[str, ...] = ()
    #: areas in deprivation deciles 1..this (1 = most deprived); null: none by decile
    deprivation_decile_max: Annotated[int, Field(ge=1, le=10)] | None = None
    factor: float = Field(1.0, gt=0, le=20)


class RecordingConfig(_Frozen):
    """The recording layer: victim reporting and police-activity detection."""

    #: victim reporting is this share lower in the most deprived area than in the least
    #: (linear in deprivation rank)
    reporting_deprivation_effect: float = Field(0.15, ge=0, le=0.9)
    patrol: PatrolConfig = PatrolConfig()
    over_policing: OverPolicingConfig = OverPolicingConfig()


class PatrolResponseConfig(_Frozen):
    """How the city answers a patrol that changes week by week (``simcity.loop.CityStepper``).

    A week's patrol is the baseline surface times a multiplier per micro-cell (1 = baseline).
    Police-activity detections follow the recording layer's ``1 - exp(-rate · patrol)`` with no
    extra knob; these two are the other responses. The static city never reads them.
    """

    #: victim reporting probability times 1 + this · (multiplier - 1), kept in [0, 1]; 0 = none
    reporting_uplift: float = Field(0.0, ge=0, le=1)
    #: committed crime times exp(-this · (multiplier - 1)) where the multiplier is above 1;
    #: 0 = none
    deterrence: float = Field(0.0, ge=0, le=5)
    #: where the two values come from, in words the reports print (a source, or "assumed")
    basis: str = Field("assumed", min_length=1)


EpisodeCentre = Literal["residential", "nightlife", "retail", "transit"]


class EpisodeKindConfig(_Frozen):
    """One kind of episode: a hot spot that emerges and fades (or a lasting change of place).

    An episode multiplies the local background of the types in ``types`` by
    ``1 + amplitude · F(m) · T(w) · mix[k]`` (``simcity.episodes``): ``F`` a Gaussian footprint of
    sd ``radius_m`` around a centre (1 at the centre), ``T`` a time profile (ramp up, plateau,
    fade; 0..1) and ``mix[k]`` the type's weight in ``types``.
    """

    #: episodes that start per year per 1,000 km² of the city (0 = none of this kind)
    rate_per_year_per_1000km2: float = Field(ge=0, le=1000)
    #: the place component the centres are drawn from (times exp(centre_deprivation · z_dep))
    centre: EpisodeCentre
    #: tilt of the centre density toward deprived places (log-intensity per sd of deprivation)
    centre_deprivation: float = Field(0.0, ge=-3, le=3)
    #: sd of the Gaussian footprint (cut at 2.5 sd)
    radius_m: float = Field(ge=50, le=2000)
    #: multiplier at the peak: +1.5 = +150%; a negative value (down to -0.95) is a decrease
    amplitude: float = Field(ge=-0.95, le=20)
    #: episode-to-episode spread of the amplitude: its size times lognormal(0, this)
    amplitude_log_sd: float = Field(0.0, ge=0, le=1.5)
    #: weeks from onset to full effect (linear ramp; 0 = at once)
    ramp_weeks: int = Field(ge=0, le=260)
    #: weeks at full effect; null = lasting (the episode never fades)
    plateau_weeks: Annotated[int, Field(ge=0, le=1100)] | None
    #: weeks of linear fade after the plateau (unused when lasting)
    fade_weeks: int = Field(0, ge=0, le=260)
    #: weight of each crime type in [0, 1], keyed by canonical name; other types are untouched
    types: dict[str, Share] = Field(min_length=1)
    #: the ``kind`` of the point written to places.csv for each episode (its ``opened`` date is
    #: the onset); null = not a place (not foreseeable from places, e.g. a feud)
    place_kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] | None = None

    @field_validator("types")
    @classmethod
    def _known_types(cls, v: dict[str, float]) -> dict[str, float]:
        return _canonical_keys(v)


class DynamicsConfig(_Frozen):
    """Hot spots that emerge and fade: kinds of episode keyed by a snake_case name.

    No kinds (or every rate 0) gives the static city, byte for byte.
    """

    episodes: dict[str, EpisodeKindConfig] = Field(default_factory=dict)
    #: divide each type's background by its mean episode multiplier over the period (recording-
    #: weighted), so yearly recorded volumes stay at ``yearly_volume · scale``
    renormalise: bool = True

    @field_validator("episodes")
    @classmethod
    def _snake_names(cls, v: dict[str, EpisodeKindConfig]) -> dict[str, EpisodeKindConfig]:
        for name in v:
            if (
                not name.replace("_", "a").isalnum()
                or not name[:1].isalpha()
                or name != name.lower()
            ):
                raise params_refusal("must be keyed by snake_case names", got=sorted(v))
        return v


class CityConfig(_Frozen):
    """The whole ``simulate:`` section.

    Refuses unknown keys, non-canonical crime type names, a start that is not a Monday, a
    victim-reported type with a reporting probability above 1, and values outside the bounds.
    """

    #: one seed gives byte-identical outputs
    seed: int = Field(ge=0, lt=2**63)
    #: first simulated Monday (ISO week start), local time
    start: dt.date = dt.date(2022, 1, 3)
    n_weeks: int = Field(156, ge=4, le=1100)
    #: weeks simulated before ``start`` so self-excitation is stationary; not written out
    burn_in_weeks: int = Field(26, ge=0, le=260)
    #: share of London's yearly recorded volume per type (1.0 = London)
    scale: float = Field(0.1, gt=0, le=5)
    #: near-repeat offsets are cut at this many sigmas (keeps the kernel sparse)
    kernel_truncation_sd: float = Field(2.5, ge=1.5, le=4)
    geography: GeographyConfig = GeographyConfig()
    #: relative activity by hour of day (0..23), shared by every type
    base_hourly_activity: Annotated[tuple[Positive, ...], _of_length(24, "hours 0..23")]
    #: keyed by canonical type name (beatwise/taxonomy.py)
    crime_types: dict[str, CrimeTypeConfig] = Field(min_length=1)
    recording: RecordingConfig = RecordingConfig()
    patrol_response: PatrolResponseConfig = PatrolResponseConfig()
    #: hot spots that emerge and fade (``simcity.episodes``); empty = the static city
    dynamics: DynamicsConfig = DynamicsConfig()

    _monday = field_validator("start")(monday)

    @field_validator("crime_types")
    @classmethod
    def _canonical(cls, v: dict[str, CrimeTypeConfig]) -> dict[str, CrimeTypeConfig]:
        return _canonical_keys(v)

    @model_validator(mode="after")
    def _victim_rates(self) -> CityConfig:
        for name, ct in self.crime_types.items():
            if CRIME_TYPES[name][2] == "victim" and ct.recording_rate > 1:
                raise params_refusal(
                    "must be a reporting probability in (0, 1] for a victim-reported type",
                    key=f"crime_types.{name}.recording_rate",
                    got=ct.recording_rate,
                )
        return self

    @model_validator(mode="after")
    def _episode_types_simulated(self) -> CityConfig:
        for kind, ep in self.dynamics.episodes.items():
            for name in ep.types:
                if name not in self.crime_types:
                    raise params_refusal(
                        f"must name simulated types ({', '.join(self.type_names)})",
                        key=f"dynamics.episodes.{kind}.types",
                        got=name,
                    )
        return self

    @property
    def type_names(self) -> tuple[str, ...]:
        """Simulated types in the canonical taxonomy order (the order of every type axis)."""
        return tuple(name for name in CANONICAL_TYPES if name in self.crime_types)

    @property
    def last_day(self) -> dt.date:
        """The last simulated day: the Sunday of week ``n_weeks``."""
        return self.start + dt.timedelta(weeks=self.n_weeks) - dt.timedelta(days=1)

    def refuse_future(self, today: dt.date) -> None:
        """Refuse a city that runs past ``today``: ingest would quarantine those weeks as future
        dates (``ingest.as_of`` defaults to the day it runs), most of the source for a long run."""
        if self.last_day <= today:
            return
        weeks_before = (today - self.start).days // 7
        raise ValueError(
            f"simulate.start {self.start.isoformat()} with simulate.n_weeks {self.n_weeks} "
            f"runs to {self.last_day.isoformat()}, after today ({today.isoformat()}): ingest "
            "would quarantine every later event as a future date. Start earlier (a Monday, "
            f'quoted: the preset london_decade starts a decade on "2015-01-05") or simulate '
            f"at most {max(weeks_before, 0)} weeks from this start."
        )


class SimulateParams(StageParams):
    """The ``simulate`` section of ``params.yaml``, as the ``simulate`` stage declares it."""

    simulate: CityConfig


def load_city_config(
    path: Path | str = DEFAULT_PARAMS_PATH, *, overrides: dict[str, Any] | None = None
) -> CityConfig:
    """The ``simulate:`` section of a params file as a CityConfig, ``overrides`` merged on top.

    For code that builds a city outside the pipeline (the tiny test city, the realism report,
    the benchmark). Nested dicts in ``overrides`` merge, other values replace. Validated by the
    project's one params loader (``beatwise.params``), so a bad value is refused with the same
    message the ``simulate`` stage gives.
    """
    raw = read_params_file(Path(path))
    if "simulate" in raw:
        raw = {**raw, "simulate": merge_overrides(raw["simulate"], overrides or {})}
    return validate_params("simulate", SimulateParams, raw).simulate


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top: nested dicts merge key by key, other values replace."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out
