"""Per-type intensity: spatial background, weekly factors, time-of-week profiles, recording.

The background intensity of type ``k`` in micro-cell ``m`` during week ``w`` is
``background[k, m] · weekly_factor[k, w]``, constant within the week; time within the week follows
the type's hour-of-week profile. ``background`` is scaled so that recorded volumes match
``yearly_volume · scale`` once self-excitation (``1 / (1 - branching_ratio)``) and the mean
recording probability are accounted for.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from beatwise.taxonomy import CRIME_TYPES
from simcity.config import CityConfig
from simcity.episodes import Episodes, draw_episodes, no_episodes, with_episodes
from simcity.geography import COMPONENTS, Geography

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Weekly factors are tabulated this many weeks past the simulated period (truth for the
#: forecast week and a year beyond).
EXTRA_WEEKS = 53
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class IntensityModel:
    """Arrays indexed [type, ...] in ``types`` order (canonical taxonomy order)."""

    types: tuple[str, ...]
    origin: np.datetime64
    burn_in_weeks: int
    n_weeks_total: int
    background: FloatArray
    weekly_factor: FloatArray
    hour_of_week_cdf: FloatArray
    hour_of_day_cdf: FloatArray
    #: baseline patrol intensity per micro-cell (mean 1 before over-policing), the surface a
    #: patrol multiplier scales (``simcity.loop``)
    patrol: FloatArray
    record_prob: FloatArray
    alpha: FloatArray
    repeat_share: FloatArray
    q_repeat: FloatArray
    q_near: FloatArray
    sigma_m: FloatArray
    knife_share: FloatArray
    truncation_sd: float
    #: hot spots that emerge and fade (``simcity.episodes``); none until ``apply_dynamics``
    episodes: Episodes


def build_intensity(
    config: CityConfig, geo: Geography, *, rng: np.random.Generator
) -> IntensityModel:
    """Turn the config and the geography into the arrays the simulator and truth model use."""
    types = config.type_names
    n_micro = geo.cells.size
    origin = np.datetime64(config.start, "D") - np.timedelta64(7 * config.burn_in_weeks, "D")
    n_total = config.burn_in_weeks + config.n_weeks

    shared_noise = rng.standard_normal(n_micro)
    patrol = patrol_surface(config, geo)
    record_prob = recording_probability(config, geo, patrol=patrol)
    record_ref = recording_probability(
        config, geo, patrol=patrol_surface(config, geo, with_over_policing=False)
    )

    k_n = len(types)
    background = np.empty((k_n, n_micro))
    weekly = np.empty((k_n, n_total + EXTRA_WEEKS))
    how_cdf = np.empty((k_n, 168))
    hod_cdf = np.empty((k_n, 24))
    for i, name in enumerate(types):
        ct = config.crime_types[name]
        share = _spatial_share(ct.spatial, geo, shared_noise, rng.standard_normal(n_micro))
        p_mean = float(share @ record_ref[i])
        weekly_committed = (
            ct.yearly_volume
            * config.scale
            * (1.0 - ct.triggering.branching_ratio)
            / p_mean
            * 7.0
            / DAYS_PER_YEAR
        )
        background[i] = weekly_committed * share
        weekly[i] = _weekly_factor(
            origin,
            n_total + EXTRA_WEEKS,
            amplitude=ct.seasonal_amplitude,
            peak_day=ct.seasonal_peak_day,
            trend=ct.trend_per_year,
            centre=np.datetime64(config.start, "D") + np.timedelta64(7 * config.n_weeks // 2, "D"),
        )
        hourly = hourly_profile(config.base_hourly_activity, ct.peak_hour, ct.peak_width_h,
                                ct.peak_weight)  # fmt: skip
        weekday = np.asarray(ct.weekday_weights) / np.sum(ct.weekday_weights)
        how = (weekday[:, None] * hourly[None, :]).ravel()
        how_cdf[i] = _cdf(how)
        hod_cdf[i] = _cdf(hourly)
        logger.debug("%s: %.1f committed background events/week, mean recording %.2f",
                     name, weekly_committed, p_mean)  # fmt: skip

    trig = [config.crime_types[n].triggering for n in types]
    return IntensityModel(
        types=types,
        origin=origin,
        burn_in_weeks=config.burn_in_weeks,
        n_weeks_total=n_total,
        background=background,
        weekly_factor=weekly,
        hour_of_week_cdf=how_cdf,
        hour_of_day_cdf=hod_cdf,
        patrol=patrol,
        record_prob=record_prob,
        alpha=np.array([t.branching_ratio for t in trig]),
        repeat_share=np.array([t.repeat_share for t in trig]),
        q_repeat=np.array([_geometric_q(t.repeat_days) for t in trig]),
        q_near=np.array([_geometric_q(t.near_repeat_days) for t in trig]),
        sigma_m=np.array([t.near_repeat_sigma_m for t in trig]),
        knife_share=np.array([config.crime_types[n].knife_share for n in types]),
        truncation_sd=config.kernel_truncation_sd,
        episodes=no_episodes(config, n_micro, n_total + EXTRA_WEEKS),
    )


def apply_dynamics(
    config: CityConfig, geo: Geography, model: IntensityModel, *, rng: np.random.Generator
) -> IntensityModel:
    """The model with the city's episodes (``simulate.dynamics``) drawn from ``rng``.

    With ``dynamics.renormalise`` each type's background is divided by its mean episode
    multiplier over the simulated period, weighted by background and recording probability
    (over-policing left out, as in the volume calibration), so recorded volumes stay at
    ``yearly_volume · scale``. No kinds, or rates of 0, return ``model`` unchanged.
    """
    episodes = draw_episodes(config, geo, n_weeks=model.weekly_factor.shape[1], rng=rng)
    if episodes.size == 0:
        return model
    record_ref = recording_probability(
        config, geo, patrol=patrol_surface(config, geo, with_over_policing=False)
    )
    period = np.arange(model.burn_in_weeks, model.n_weeks_total)
    background = with_episodes(
        model.background,
        model.weekly_factor,
        record_ref,
        episodes,
        period=period,
        renormalise=config.dynamics.renormalise,
    )
    return dataclasses.replace(model, background=background, episodes=episodes)


def hour_of_week_profiles(config: CityConfig) -> FloatArray:
    """Each type's share of its background events in each hour of the week, ``[type, 168]``
    (Monday 00:00 first), in ``config.type_names`` order: the weekday weights times the hourly
    profile, as the simulator draws them. Offspring take their hour from the hourly profile and
    their day from their parent's, so a type's whole profile differs from this by a little."""
    rows = []
    for name in config.type_names:
        ct = config.crime_types[name]
        hourly = hourly_profile(config.base_hourly_activity, ct.peak_hour, ct.peak_width_h,
                                ct.peak_weight)  # fmt: skip
        weekday = np.asarray(ct.weekday_weights) / np.sum(ct.weekday_weights)
        rows.append((weekday[:, None] * hourly[None, :]).ravel())
    return np.asarray(rows)


def hourly_profile(
    base: tuple[float, ...], peak_hour: float, width_h: float, peak_weight: float
) -> FloatArray:
    """Share of a type's events in each hour 0..23: base activity plus a wrapped-normal peak."""
    base_arr = np.asarray(base, dtype=np.float64)
    base_arr = base_arr / base_arr.sum()
    mid = np.arange(24) + 0.5
    diff = (mid - peak_hour + 12.0) % 24.0 - 12.0
    bump = np.exp(-(diff**2) / (2 * width_h**2))
    bump = bump / bump.sum()
    return (1.0 - peak_weight) * base_arr + peak_weight * bump


def _geometric_q(mean_days: float) -> float:
    """Daily survival q of a geometric delay on {1, 2, ...} with the given mean (1 / (1 - q))."""
    return 1.0 - 1.0 / max(mean_days, 1.0 + 1e-9)


def _cdf(weights: FloatArray) -> FloatArray:
    c = np.cumsum(weights / weights.sum())
    c[-1] = 1.0
    return c


def _spatial_share(spatial, geo: Geography, shared: FloatArray, own: FloatArray) -> FloatArray:
    mix = sum(getattr(spatial, c) * geo.components[c] for c in COMPONENTS)
    noise = np.sqrt(0.5) * shared + np.sqrt(0.5) * own
    h = spatial.hotspot_sd
    share = mix * np.exp(spatial.deprivation * geo.deprivation_z + h * noise - 0.5 * h * h)
    return share / share.sum()


def _weekly_factor(
    origin: np.datetime64,
    n_weeks: int,
    *,
    amplitude: float,
    peak_day: int,
    trend: float,
    centre: np.datetime64,
) -> FloatArray:
    mids = origin + np.arange(n_weeks) * np.timedelta64(7, "D")
    year_start = mids.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (mids - year_start).astype(np.float64) + 1.0 + 3.5
    season = 1.0 + amplitude * np.cos(2 * np.pi * (doy - peak_day) / DAYS_PER_YEAR)
    years = (mids + np.timedelta64(3, "D") - centre).astype(np.float64) / DAYS_PER_YEAR
    return season * (1.0 + trend) ** years


def patrol_surface(
    config: CityConfig, geo: Geography, *, with_over_policing: bool = True
) -> FloatArray:
    """Baseline patrol intensity per micro-cell: exp(a · deprivation z + b · nightlife z), mean 1,
    multiplied by the over-policing factor where configured."""
    rec = config.recording
    patrol = np.exp(
        rec.patrol.deprivation * geo.deprivation_z + rec.patrol.nightlife * geo.nightlife_z
    )
    patrol = patrol / patrol.mean()
    if with_over_policing:
        patrol = patrol * over_policing_factor(config, geo)
    return patrol


def recording_probability(
    config: CityConfig,
    geo: Geography,
    *,
    patrol: FloatArray,
    reporting_factor: FloatArray | None = None,
) -> FloatArray:
    """Recording probability [type, micro-cell] given the patrol intensity per micro-cell.

    Victim types: ``rate · (1 - effect · deprivation_rank)``, times ``reporting_factor`` (victim
    reporting that answers visible patrol, ``simcity.loop``) capped at 1 when one is given.
    Police-activity types: ``1 - exp(-rate · patrol)``. The static city passes the baseline
    ``patrol_surface`` and no factor.
    """
    reporting = 1.0 - config.recording.reporting_deprivation_effect * geo.deprivation_rank
    out = np.empty((len(config.type_names), geo.cells.size))
    for i, name in enumerate(config.type_names):
        rate = config.crime_types[name].recording_rate
        if CRIME_TYPES[name][2] == "victim":
            if reporting_factor is None:
                out[i] = rate * reporting
            else:
                out[i] = np.minimum(rate * reporting * reporting_factor, 1.0)
        else:
            out[i] = 1.0 - np.exp(-rate * patrol)
    return out


def over_policing_factor(config: CityConfig, geo: Geography) -> FloatArray:
    """Patrol multiplier per micro-cell (1 outside the over-policed places)."""
    op = config.recording.over_policing
    mask = np.zeros(geo.cells.size, dtype=bool)
    names = geo.districts["district_name"].to_numpy()
    for district in op.districts:
        hits = np.flatnonzero(names == district)
        if hits.size == 0:
            raise ValueError(
                "The 'simulate.recording.over_policing.districts' parameter of stage 'simulate' "
                f"must name districts of this city ({', '.join(sorted(names))}). Got {district!r}."
            )
        mask |= geo.district_index == hits[0]
    if op.deprivation_decile_max is not None:
        decile = geo.areas["deprivation_decile"].to_numpy()[geo.area_index]
        mask |= decile <= op.deprivation_decile_max
    return np.where(mask, op.factor, 1.0)
