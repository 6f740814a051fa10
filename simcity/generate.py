"""Simulate the city: background events, the Hawkes branching cascade, and the recording layer.

All sampling is vectorised numpy on one ``SeedSequence`` tree, so a seed gives identical arrays:
background events are drawn per type (weekly Poisson counts, micro-cells from a categorical
distribution, times from the hour-of-week profile); offspring are drawn generation by generation
(Poisson numbers of children, repeat or near repeat, geometric day delays, hour from the type's
profile); each committed event is recorded with its micro-cell's recording probability.

The random part ends in a ``LatentCity``: every committed event of the whole run with the uniforms
that decide its recording. ``simulate_city`` records it with the static patrol surface;
``simcity.loop.CityStepper`` replays the same latent city week by week under a patrol that changes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.taxonomy import DISPLAY_NAMES
from simcity.config import CityConfig
from simcity.episodes import add_episode_events
from simcity.geography import Geography, build_geography
from simcity.intensity import IntensityModel, apply_dynamics, build_intensity
from simcity.kernel import SpatialKernel, build_kernels
from simcity.truth import TruthModel

logger = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
FORCE_NAME = "Beatwise Synthetic Police"

#: data.police.uk outcome labels and rough shares (cosmetic; not used by any model).
_OUTCOMES = (
    ("Investigation complete; no suspect identified", 0.44),
    ("Unable to prosecute suspect", 0.24),
    ("Status update unavailable", 0.10),
    ("Under investigation", 0.05),
    ("Local resolution", 0.05),
    ("Awaiting court outcome", 0.04),
    ("Further action is not in the public interest", 0.03),
    ("Offender given a caution", 0.03),
    ("Court result unavailable", 0.02),
)


@dataclass(frozen=True)
class CommittedArrays:
    """Every committed event of a run as arrays indexed by event id (burn-in included; ``first``
    is the id of the first in-period event), recorded by the static patrol surface."""

    first: int
    kind: npt.NDArray[np.int8]
    micro: npt.NDArray[np.int32]
    t_sec: npt.NDArray[np.int64]
    recorded: npt.NDArray[np.bool_]
    knife: npt.NDArray[np.bool_]
    gen: npt.NDArray[np.int8]
    parent: npt.NDArray[np.int64]


@dataclass(frozen=True)
class SimulatedCity:
    """A simulated city and everything needed to write it and to know its true intensity.

    ``events``: recorded, in-period events in the ``events.parquet`` schema (string columns held
    as categoricals). ``committed``: every in-period committed event (canonical ``crime_type``,
    ``recorded`` flag, ``generation`` 0 = background, ``parent_id`` = the triggering event's
    ``event_id`` or -1; parents may be burn-in events, which are not in the frame), a frame built
    from ``committed_arrays`` on first use: the simulate stage never writes it, and at a decade it
    would hold a gigabyte.
    """

    config: CityConfig
    events: pd.DataFrame
    committed_arrays: CommittedArrays
    areas: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    truth: TruthModel
    geography: Geography
    intensity: IntensityModel

    @property
    def n_committed(self) -> int:
        """How many committed events fall in the period (the rows of ``committed``)."""
        return self.committed_arrays.kind.size - self.committed_arrays.first

    @functools.cached_property
    def committed(self) -> pd.DataFrame:
        """Every in-period committed event, in event-id order (``committed_frame``)."""
        c = self.committed_arrays
        period = slice(c.first, c.kind.size)
        return committed_frame(
            self.geography,
            self.intensity,
            event_id=np.arange(c.first, c.kind.size, dtype=np.int64),
            t_sec=c.t_sec[period],
            kind=c.kind[period],
            micro=c.micro[period],
            recorded=c.recorded[period],
            knife=c.knife[period],
            gen=c.gen[period],
            parent=c.parent[period],
        )


@dataclass(frozen=True)
class LatentCity:
    """Every committed event of a run (burn-in included) before any patrol acts on it.

    Arrays are indexed by event id: events sorted by time (then type, micro-cell, creation order),
    so a week is a contiguous slice and a parent's id is below its children's. ``u_record`` is
    the event's recording uniform (recorded when below its recording probability), ``knife`` its
    knife flag, ``first`` the id of the first in-period event. ``outcome_seed`` and
    ``deterrence_seed`` seed the cosmetic outcome labels and ``simcity.loop``'s deterrence draws.
    """

    config: CityConfig
    geography: Geography
    intensity: IntensityModel
    kernels: dict[float, SpatialKernel]
    kind: npt.NDArray[np.int8]
    micro: npt.NDArray[np.int32]
    t_sec: npt.NDArray[np.int64]
    gen: npt.NDArray[np.int8]
    parent: npt.NDArray[np.int64]
    u_record: npt.NDArray[np.float64]
    knife: npt.NDArray[np.bool_]
    first: int
    outcome_seed: np.random.SeedSequence
    deterrence_seed: np.random.SeedSequence


def simulate_latent(config: CityConfig, *, process_seed: int | None = None) -> LatentCity:
    """Geography, intensity, background events, their cascade and the recording uniforms.

    Deterministic for ``config.seed``: one ``SeedSequence`` tree, one child per concern (the
    seventh child, deterrence, and the eighth and ninth, the episodes and their events, are
    spawned after the original six, so their streams are unchanged).
    ``process_seed`` keeps the city (geography and true intensity, from ``config.seed``) and draws
    its crimes, their recording and outcomes from another seed's tree: another history of the
    same place.
    """
    t0 = time.perf_counter()
    seeds = np.random.SeedSequence(config.seed).spawn(9)
    s_geo, s_int, s_bg, s_off, s_rec, s_cos, s_det, s_epi, s_epi_ev = seeds
    if process_seed is not None:
        process = np.random.SeedSequence(process_seed).spawn(9)
        _, _, s_bg, s_off, s_rec, s_cos, s_det, _, s_epi_ev = process
    geo = build_geography(config, rng=np.random.default_rng(s_geo))
    model = build_intensity(config, geo, rng=np.random.default_rng(s_int))
    model = apply_dynamics(config, geo, model, rng=np.random.default_rng(s_epi))
    t_geo = time.perf_counter()
    kernels = build_kernels(geo.x, geo.y, sigmas=model.sigma_m, truncation_sd=model.truncation_sd)
    ev = _background(model, rng=np.random.default_rng(s_bg))
    ev = add_episode_events(
        model.background,
        model.weekly_factor,
        model.hour_of_week_cdf,
        model.episodes,
        ev,
        n_weeks=model.n_weeks_total,
        rng=np.random.default_rng(s_epi_ev),
    )
    ev = _cascade(model, kernels, ev, rng=np.random.default_rng(s_off))

    # Sort by time (then type, place, creation order) and give ids in that order. One packed
    # int64 key sorts faster and leaner than a multi-key lexsort (t < 2^33 s, micro < 2^25).
    packed = (ev["t"] << np.int64(30)) | (ev["type"].astype(np.int64) << np.int64(25))
    packed |= ev["micro"].astype(np.int64)
    order = np.argsort(packed, kind="stable")
    del packed
    new_id = np.empty_like(order)
    new_id[order] = np.arange(order.size)
    parent = ev.pop("parent")[order]
    parent = np.where(parent >= 0, new_id[np.maximum(parent, 0)], -1)
    del new_id
    kind = ev.pop("type")[order]
    micro = ev.pop("micro")[order]
    t_sec = ev.pop("t")[order]
    gen = ev.pop("gen")[order]
    del ev, order

    rng_rec = np.random.default_rng(s_rec)
    u_record = rng_rec.random(kind.size)
    knife = rng_rec.random(kind.size) < model.knife_share[kind]
    logger.debug("Latent city: geography %.1fs, events %.1fs",
                 t_geo - t0, time.perf_counter() - t_geo)  # fmt: skip
    return LatentCity(
        config=config,
        geography=geo,
        intensity=model,
        kernels=kernels,
        kind=kind,
        micro=micro,
        t_sec=t_sec,
        gen=gen,
        parent=parent,
        u_record=u_record,
        knife=knife,
        first=int(np.searchsorted(t_sec, model.burn_in_weeks * SECONDS_PER_WEEK)),
        outcome_seed=s_cos,
        deterrence_seed=s_det,
    )


def simulate_city(config: CityConfig) -> SimulatedCity:
    """Simulate the city described by ``config`` (deterministic for ``config.seed``).

    Recording uses the static patrol surface; ``simcity.loop.CityStepper`` gives the same city
    week by week under a patrol that changes.
    """
    t0 = time.perf_counter()
    latent = simulate_latent(config)
    geo, model = latent.geography, latent.intensity
    kind, micro, t_sec = latent.kind, latent.micro, latent.t_sec
    recorded = latent.u_record < model.record_prob[kind, micro]
    latent = dataclasses.replace(latent, u_record=np.empty(0))  # frees 8 bytes per event
    t_sim = time.perf_counter()

    truth = TruthModel(
        types=model.types,
        origin=model.origin,
        burn_in_weeks=model.burn_in_weeks,
        n_weeks_total=model.n_weeks_total,
        cells=geo.cells,
        lat=geo.lat,
        lon=geo.lon,
        x=geo.x,
        y=geo.y,
        background=model.background,
        weekly_factor=model.weekly_factor,
        weekday_share=np.diff(model.hour_of_week_cdf[:, 23::24], axis=1, prepend=0.0),
        record_prob=model.record_prob,
        alpha=model.alpha,
        repeat_share=model.repeat_share,
        q_repeat=model.q_repeat,
        q_near=model.q_near,
        sigma_m=model.sigma_m,
        truncation_sd=model.truncation_sd,
        hist_type=kind.astype(np.int8, copy=False),
        hist_micro=micro.astype(np.int32, copy=False),
        hist_day=(t_sec // SECONDS_PER_DAY).astype(np.int32),
        episodes=model.episodes,
    )

    first, n_total = latent.first, kind.size
    rec_idx = np.flatnonzero(recorded[first:]) + first
    key = crime_keys(config.seed, rec_idx)
    order = np.lexsort((key, t_sec[rec_idx]))
    rec_idx, key = rec_idx[order], key[order]
    events = police_uk_events(
        geo,
        model,
        key=key,
        t_sec=t_sec[rec_idx],
        kind=kind[rec_idx],
        micro=micro[rec_idx],
        knife=latent.knife[rec_idx],
        outcome_u=np.random.default_rng(latent.outcome_seed).random(rec_idx.size),
        locations=location_codes(geo),
    )
    del rec_idx, key, order
    committed = CommittedArrays(
        first=first,
        kind=kind,
        micro=micro,
        t_sec=t_sec,
        recorded=recorded,
        knife=latent.knife,
        gen=latent.gen,
        parent=latent.parent,
    )
    logger.info(
        "Simulated %d committed events (%d in period, %.1f%% triggered), %d recorded; "
        "events %.1fs, total %.1fs",
        n_total, n_total - first, 100 * float(np.mean(latent.gen[first:] > 0)) if n_total > first
        else 0.0, len(events), t_sim - t0, time.perf_counter() - t0,
    )  # fmt: skip
    return SimulatedCity(
        config=config,
        events=events,
        committed_arrays=committed,
        areas=geo.areas,
        districts=geo.districts,
        truth=truth,
        geography=geo,
        intensity=model,
    )


def committed_frame(
    geo: Geography,
    model: IntensityModel,
    *,
    event_id: npt.NDArray[np.int64],
    t_sec: npt.NDArray[np.int64],
    kind: npt.NDArray[np.int8],
    micro: npt.NDArray[np.int32],
    recorded: npt.NDArray[np.bool_],
    knife: npt.NDArray[np.bool_],
    gen: npt.NDArray[np.int8],
    parent: npt.NDArray[np.int64],
) -> pd.DataFrame:
    """Committed events as ``SimulatedCity.committed`` holds them, in the given order."""
    return pd.DataFrame(
        {
            "event_id": event_id,
            "timestamp": model.origin.astype("datetime64[ns]") + t_sec.astype("timedelta64[s]"),
            "crime_type": pd.Categorical.from_codes(kind, categories=list(model.types)),
            "micro_cell": geo.cells[micro],
            "latitude": geo.lat[micro],
            "longitude": geo.lon[micro],
            "area_code": pd.Categorical.from_codes(
                geo.area_index[micro].astype(np.int32), geo.areas["area_code"].to_numpy()
            ),
            "recorded": recorded,
            "knife_enabled": knife,
            "generation": gen,
            "parent_id": parent,
        },
        copy=False,
    )


def _background(model: IntensityModel, *, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Background (immigrant) events of every type over burn-in and period: ``type``, ``micro``
    and ``t`` (seconds from the first burn-in Monday)."""
    n_w = model.n_weeks_total
    types, micros, times = [], [], []
    for k in range(len(model.types)):
        mean = model.background[k].sum() * model.weekly_factor[k, :n_w]
        counts = rng.poisson(mean)
        total = int(counts.sum())
        week = np.repeat(np.arange(n_w, dtype=np.int64), counts)
        cdf = np.cumsum(model.background[k])
        cdf /= cdf[-1]
        micro = np.minimum(np.searchsorted(cdf, rng.random(total), side="right"), cdf.size - 1)
        slot = np.searchsorted(model.hour_of_week_cdf[k], rng.random(total), side="right")
        sec = rng.integers(0, 3600, total)
        types.append(np.full(total, k, dtype=np.int8))
        micros.append(micro.astype(np.int32))
        times.append(week * SECONDS_PER_WEEK + np.minimum(slot, 167) * 3600 + sec)
    return {
        "type": np.concatenate(types),
        "micro": np.concatenate(micros),
        "t": np.concatenate(times),
    }


def _cascade(
    model: IntensityModel,
    kernels: dict[float, SpatialKernel],
    ev: dict[str, np.ndarray],
    *,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Add offspring generation by generation until a generation has no children.

    ``ev`` holds the immigrants (``type``, ``micro``, ``t``); the result adds each event's
    ``gen`` (0 for an immigrant) and ``parent`` (its parent's position, -1 for an immigrant).
    """
    end_day = model.n_weeks_total * 7
    p_type, p_micro, p_t = ev["type"], ev["micro"], ev["t"]
    parts = {
        "type": [p_type],
        "micro": [p_micro],
        "t": [p_t],
        "gen": [np.zeros(p_type.size, dtype=np.int8)],
        "parent": [np.full(p_type.size, -1, dtype=np.int64)],
    }
    p_id = np.arange(p_type.size, dtype=np.int64)
    next_id = p_type.size
    generation = 0
    while p_type.size:
        generation += 1
        n_child = rng.poisson(model.alpha[p_type])
        src = np.repeat(np.arange(p_type.size), n_child)
        if src.size == 0:
            break
        c_type = p_type[src]
        c_parent = p_id[src]
        c_micro = p_micro[src].astype(np.int64)
        is_near = rng.random(src.size) >= model.repeat_share[c_type]
        q = np.where(is_near, model.q_near[c_type], model.q_repeat[c_type])
        delay = rng.geometric(1.0 - q)
        day = p_t[src] // SECONDS_PER_DAY + delay
        u = rng.random(src.size)
        for sigma, kern in kernels.items():
            sel = is_near & (model.sigma_m[c_type] == sigma)
            c_micro[sel] = kern.sample(c_micro[sel], u[sel])
        hour = np.empty(src.size, dtype=np.int64)
        u_h = rng.random(src.size)
        for k in np.unique(c_type):
            sel = c_type == k
            hour[sel] = np.searchsorted(model.hour_of_day_cdf[k], u_h[sel], side="right")
        sec = rng.integers(0, 3600, src.size)
        keep = day < end_day
        c_t = day * SECONDS_PER_DAY + np.minimum(hour, 23) * 3600 + sec
        n_keep = int(keep.sum())
        parts["type"].append(c_type[keep])
        parts["micro"].append(c_micro[keep].astype(np.int32))
        parts["t"].append(c_t[keep])
        parts["gen"].append(np.full(n_keep, min(generation, 127), dtype=np.int8))
        parts["parent"].append(c_parent[keep])
        p_type, p_micro, p_t = c_type[keep], c_micro[keep].astype(np.int32), c_t[keep]
        p_id = np.arange(next_id, next_id + n_keep, dtype=np.int64)
        next_id += n_keep
    logger.debug("Cascade ran %d generations", generation)
    return {key: np.concatenate(val) for key, val in parts.items()}


def crime_keys(seed: int, event_id: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """The key behind each recorded event's ``crime_id``: a bijection of (seed, event id)."""
    return mix64(event_id.astype(np.uint64) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))


def location_codes(geo: Geography) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.intp]]:
    """The street-name categories and each micro-cell's code (computed once per city)."""
    cats, codes = np.unique(geo.location_names, return_inverse=True)
    return cats, codes


def police_uk_events(
    geo: Geography,
    model: IntensityModel,
    *,
    key: npt.NDArray[np.uint64],
    t_sec: npt.NDArray[np.int64],
    kind: npt.NDArray[np.int8],
    micro: npt.NDArray[np.int32],
    knife: npt.NDArray[np.bool_],
    outcome_u: npt.NDArray[np.float64],
    locations: tuple[npt.NDArray[np.object_], npt.NDArray[np.intp]],
) -> pd.DataFrame:
    """Recorded events in the events.parquet schema, in the order given.

    Callers pass rows sorted by ``(t_sec, key)`` (timestamp, then crime_id), ``key`` from
    ``crime_keys``, one uniform per row for the cosmetic outcome label and ``location_codes``.
    """
    ts = model.origin.astype("datetime64[ns]") + t_sec.astype("timedelta64[s]")
    months = ts.astype("datetime64[M]")
    m0 = months.min() if months.size else np.datetime64("2000-01", "M")
    m_code = (months - m0).astype(np.int64)
    n_months = int(m_code.max()) + 1 if m_code.size else 0
    month_labels = [str(m0 + np.timedelta64(i, "M")) for i in range(n_months)]
    n = kind.size
    constant = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[FORCE_NAME])
    labels = [lab for lab, _ in _OUTCOMES]
    shares = np.array([s for _, s in _OUTCOMES])
    outcome = np.searchsorted(np.cumsum(shares / shares.sum()), outcome_u, side="right")
    outcome = np.minimum(outcome, len(labels) - 1)
    asb = np.array([name == "anti_social_behaviour" for name in model.types])
    outcome = np.where(asb[kind], -1, outcome)  # police.uk leaves ASB outcomes empty
    area = geo.area_index[micro]
    loc_cats, loc_codes = locations
    return pd.DataFrame(
        {
            "crime_id": hex_ids(key),
            "timestamp": ts,
            "month": pd.Categorical.from_codes(m_code, categories=month_labels),
            "reported_by": constant,
            "falls_within": constant.copy(),
            "longitude": geo.lon[micro],
            "latitude": geo.lat[micro],
            "location": pd.Categorical.from_codes(loc_codes[micro], categories=list(loc_cats)),
            "area_code": pd.Categorical.from_codes(area, geo.areas["area_code"].tolist()),
            "area_name": pd.Categorical.from_codes(area, geo.areas["area_name"].tolist()),
            "crime_type": pd.Categorical.from_codes(
                kind, categories=[DISPLAY_NAMES[t] for t in model.types]
            ),
            "knife_enabled": knife,
            "last_outcome_category": pd.Categorical.from_codes(outcome, categories=labels),
            "context": pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=[""]),
        },
        copy=False,  # the columns are new arrays already: no second copy of each
    )


def mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser: a bijection on uint64 that scrambles bits, so distinct ids stay
    distinct and neighbouring ids look unrelated."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hex_ids(key: npt.NDArray[np.uint64]) -> pd.Series:
    """Fixed-width 16-digit lowercase hex strings (sort order = numeric order), vectorised."""
    import pyarrow as pa

    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((key.size, 16), dtype=np.uint8)
    for i in range(16):
        chars[:, i] = digits[((key >> np.uint64(60 - 4 * i)) & np.uint64(15)).astype(np.intp)]
    as_bytes = chars.view("S16").ravel()
    return pd.Series(pa.array(as_bytes).cast(pa.string()).to_pandas())
