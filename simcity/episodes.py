"""Hot spots that emerge and fade: episodes that change the background intensity for a while.

An *episode* ``e`` (a venue opening, a feud, an estate regenerated, ...) has a centre micro-cell,
a Gaussian footprint ``F_e(m) = exp(-d² / 2r²)`` (1 at the centre, cut at ``FOOTPRINT_SD`` sds),
a time profile ``T_e(w)`` in [0, 1] (0 before its onset week, a linear ramp up, a plateau, a linear
fade; a lasting episode never fades), an amplitude ``a_e`` and its kind's type weights
``mix[kind, k]``. With ``x_e = a_e · mix[kind_e, k] · F_e(m) · T_e(w)``, the background of type
``k`` in micro-cell ``m`` during week ``w`` is

    ``background[k, m] · weekly_factor[k, w] · M[k, m, w]``,
    ``M = (1 + Σ_{a_e > 0} x_e) · Π_{a_e < 0} exp(log1p(a_e · mix[kind_e, k]) · F_e(m) · T_e(w))``:

rising episodes add, falling ones (``a_e >= -0.95``) multiply, so ``M > 0`` wherever episodes
overlap. A falling episode's factor is log-linear, ``exp(log1p(a_e · mix) · F_e(m) · T_e(w))``:
``1 + a_e · mix`` at its centre at full effect, less around it and while it ramps up, so both
parts are sparse products of footprints and profiles. Self-excitation is untouched
(offspring follow their parent's place, not the episode).

This module is the one owner of that arithmetic: the simulator samples it (``add_episode_events``:
extra background events of the rising part, then thinning of every background event by the
falling part, exact for a Poisson process), the truth model asks for ``M - 1`` on a grid
(``delta_matrix``) and the week-by-week stepper for a week's background (``weekly_background``).
``multiplier`` states the formula point by point; the grids (``delta_matrix``, and
``falling_log`` for the thinning) compute it as sparse products over the footprints, and the tests
hold them to ``multiplier``. Episodes are drawn once per city from their own
branch of the seed tree (``draw_episodes``), so the static city's random streams are unchanged
and a city with no episodes is the static city byte for byte.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from scipy import sparse
from scipy.spatial import cKDTree

from simcity.config import CityConfig
from simcity.geography import Geography

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Footprints are cut at this many sds of their Gaussian (the weight there is 4% of the centre's).
FOOTPRINT_SD: Final[float] = 2.5
#: ``plateau`` of a lasting episode.
LASTING: Final[int] = -1
_SECONDS_PER_WEEK: Final[int] = 7 * 86_400


@dataclass(frozen=True)
class Episodes:
    """Every episode of a city, indexed by episode; weeks count from the first burn-in Monday.

    ``footprint`` is ``[micro-cell, episode]`` (CSC and CSR copies for the two access patterns),
    ``mix`` is ``[kind, type]`` in the city's type order, ``profile`` ``[episode, week]`` over the
    burn-in, the period and the weeks after it that the truth covers.
    """

    kind_names: tuple[str, ...]
    place_kinds: tuple[str | None, ...]
    kind: npt.NDArray[np.int16]
    centre: npt.NDArray[np.int32]
    onset: npt.NDArray[np.int32]
    ramp: npt.NDArray[np.int32]
    plateau: npt.NDArray[np.int32]
    fade: npt.NDArray[np.int32]
    amplitude: FloatArray
    mix: FloatArray
    footprint: sparse.csc_array
    n_weeks: int

    @property
    def size(self) -> int:
        """Number of episodes."""
        return int(self.kind.size)

    @functools.cached_property
    def profile(self) -> FloatArray:
        """``T_e(w)`` ``[episode, week]``, computed once (read-only: the grids of every type and
        the sampler share it)."""
        out = episode_profile(self.onset, self.ramp, self.plateau, self.fade, n_weeks=self.n_weeks)
        out.setflags(write=False)
        return out

    @property
    def by_micro(self) -> sparse.csr_array:
        """The footprint as CSR ``[micro-cell, episode]`` (a micro-cell's episodes in a row)."""
        return sparse.csr_array(self.footprint)


def episode_profile(
    onset: npt.ArrayLike,
    ramp: npt.ArrayLike,
    plateau: npt.ArrayLike,
    fade: npt.ArrayLike,
    *,
    n_weeks: int,
) -> FloatArray:
    """Time profiles ``T_e(w)`` in [0, 1], ``[episode, week]``.

    Week ``onset + i`` of the ramp has ``(i + 1) / (ramp + 1)`` (a ramp of 0 starts at full
    effect), then the plateau holds 1 for ``plateau`` weeks (``LASTING``: for ever), then the fade
    falls linearly over ``fade`` weeks to 0. Before the onset: 0.
    """
    t = np.arange(n_weeks, dtype=np.int64)[None, :] - np.asarray(onset, dtype=np.int64)[:, None]
    return _shape(
        t,
        np.asarray(ramp, dtype=np.int64)[:, None],
        np.asarray(plateau, dtype=np.int64)[:, None],
        np.asarray(fade, dtype=np.int64)[:, None],
    )


def _shape(t: IntArray, ramp: IntArray, plateau: IntArray, fade: IntArray) -> FloatArray:
    """The profile at ``t`` weeks after the onset (arrays broadcast)."""
    up = np.minimum((t + 1.0) / (ramp + 1.0), 1.0)
    end = ramp + plateau  # first week of the fade
    down = np.clip(1.0 - (t - end + 1.0) / (fade + 1.0), 0.0, 1.0)
    lasting = plateau == LASTING
    out = np.where(t < 0, 0.0, np.where(lasting | (t < end), up, np.minimum(up, down)))
    return np.asarray(out, dtype=np.float64)


def no_episodes(config: CityConfig, n_micro: int, n_weeks: int) -> Episodes:
    """An empty set of episodes (the static city)."""
    return _assemble(config, n_micro, n_weeks, columns=[])


def draw_episodes(
    config: CityConfig, geo: Geography, *, n_weeks: int, rng: np.random.Generator
) -> Episodes:
    """Draw every kind's episodes over ``n_weeks`` (burn-in, period and the weeks after it).

    Per kind: a Poisson number with mean ``rate_per_year_per_1000km2 · area / 1000 · years``,
    onsets uniform over the weeks, centres from the kind's component density tilted by
    deprivation, amplitudes ``amplitude · lognormal(0, amplitude_log_sd)``. Kinds are drawn in
    the order of ``config.dynamics.episodes``; a kind with rate 0 draws nothing.
    """
    columns = []
    area_km2 = config.geography.area_km2
    tree = cKDTree(np.c_[geo.x, geo.y])
    for name, kc in config.dynamics.episodes.items():
        mean = kc.rate_per_year_per_1000km2 * area_km2 / 1000.0 * n_weeks * 7.0 / 365.25
        n = int(rng.poisson(mean)) if mean > 0 else 0
        if n == 0:
            continue
        density = geo.components[kc.centre] * np.exp(kc.centre_deprivation * geo.deprivation_z)
        cdf = np.cumsum(density)
        centre = np.minimum(
            np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), cdf.size - 1
        )
        onset = rng.integers(0, n_weeks, n)
        amp = kc.amplitude * rng.lognormal(-0.5 * kc.amplitude_log_sd**2, kc.amplitude_log_sd, n)
        if kc.amplitude < 0:
            amp = np.maximum(amp, -0.95)
        # Footprints: one ball query per episode (a loop over episodes, not micro-cells).
        members = tree.query_ball_point(
            np.c_[geo.x[centre], geo.y[centre]], FOOTPRINT_SD * kc.radius_m
        )
        sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=n)
        micro = np.concatenate([np.asarray(m, dtype=np.int64) for m in members])
        ep = np.repeat(np.arange(n), sizes)
        d2 = (geo.x[micro] - geo.x[centre[ep]]) ** 2 + (geo.y[micro] - geo.y[centre[ep]]) ** 2
        weight = np.exp(-d2 / (2.0 * kc.radius_m**2))
        columns.append((name, centre, onset, amp, micro, ep, weight))
    episodes = _assemble(config, geo.cells.size, n_weeks, columns=columns)
    logger.info("Episodes: %s", ", ".join(
        f"{name} {int(np.sum(episodes.kind == i))}" for i, name in enumerate(episodes.kind_names)
    ) or "none")  # fmt: skip
    return episodes


def _assemble(
    config: CityConfig,
    n_micro: int,
    n_weeks: int,
    *,
    columns: list[tuple[str, IntArray, IntArray, FloatArray, IntArray, IntArray, FloatArray]],
) -> Episodes:
    kinds = config.dynamics.episodes
    names = tuple(kinds)
    types = config.type_names
    mix = np.array([[kc.types.get(t, 0.0) for t in types] for kc in kinds.values()])
    mix = mix.reshape(len(names), len(types))
    pos = {name: i for i, name in enumerate(names)}
    kind, centre, onset, amp, ramp, plateau, fade = ([] for _ in range(7))
    rows, cols, vals = [], [], []
    offset = 0
    for name, c, o, a, micro, ep, weight in columns:
        kc = kinds[name]
        kind.append(np.full(c.size, pos[name], dtype=np.int16))
        centre.append(c)
        onset.append(o)
        amp.append(a)
        ramp.append(np.full(c.size, kc.ramp_weeks))
        plateau.append(np.full(c.size, LASTING if kc.plateau_weeks is None else kc.plateau_weeks))
        fade.append(np.full(c.size, kc.fade_weeks))
        rows.append(micro)
        cols.append(ep + offset)
        vals.append(weight)
        offset += c.size

    def cat(parts: Sequence[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    footprint = sparse.csc_array(
        (cat(vals, np.float64), (cat(rows, np.int64), cat(cols, np.int64))),
        shape=(n_micro, offset),
    )
    footprint.sort_indices()
    return Episodes(
        kind_names=names,
        place_kinds=tuple(kc.place_kind for kc in kinds.values()),
        kind=cat(kind, np.int16),
        centre=cat(centre, np.int32),
        onset=cat(onset, np.int32),
        ramp=cat(ramp, np.int32),
        plateau=cat(plateau, np.int32),
        fade=cat(fade, np.int32),
        amplitude=cat(amp, np.float64),
        mix=mix,
        footprint=footprint,
        n_weeks=n_weeks,
    )


# ---------------------------------------------------------------------- the arithmetic
def multiplier(
    episodes: Episodes,
    k: int,
    micro: npt.ArrayLike,
    week: npt.ArrayLike,
    *,
    rising: bool = True,
    falling: bool = True,
) -> FloatArray:
    """``M[k, m, w]`` at points (``micro[i]``, ``week[i]``), type position ``k``.

    ``rising=False`` leaves out the additive part, ``falling=False`` the multiplicative one (the
    simulator samples the two separately). Points outside every footprint get exactly 1.
    """
    m = np.asarray(micro, dtype=np.int64).ravel()
    w = np.asarray(week, dtype=np.int64).ravel()
    out = np.ones(m.size)
    if episodes.size == 0 or m.size == 0:
        return out
    by_micro = episodes.by_micro
    start, stop = by_micro.indptr[m], by_micro.indptr[m + 1]
    counts = stop - start
    point = np.repeat(np.arange(m.size), counts)
    entry = np.arange(point.size) - np.repeat(np.cumsum(counts) - counts, counts)
    entry += np.repeat(start, counts)
    ep = by_micro.indices[entry]
    amp = episodes.amplitude[ep]
    up, down = amp > 0, amp < 0
    if rising:
        x = amp[up] * episodes.mix[episodes.kind[ep[up]], k] * by_micro.data[entry[up]]
        x *= _profile_at(episodes, ep[up], w[point[up]])
        out += np.bincount(point[up], weights=x, minlength=m.size)
    if falling:
        # log-linear: exp(log1p(a·mix) · F · T), which is 1 + a·mix at the centre at full effect
        log_x = np.log1p(amp[down] * episodes.mix[episodes.kind[ep[down]], k])
        log_x *= by_micro.data[entry[down]] * _profile_at(episodes, ep[down], w[point[down]])
        out *= np.exp(np.bincount(point[down], weights=log_x, minlength=m.size))
    return out


def _profile_at(episodes: Episodes, ep: IntArray, week: IntArray) -> FloatArray:
    """``T_e(w)`` at pairs (episode, week), without the full profile table."""
    return _shape(
        week - episodes.onset[ep].astype(np.int64),
        episodes.ramp[ep].astype(np.int64),
        episodes.plateau[ep].astype(np.int64),
        episodes.fade[ep].astype(np.int64),
    )


def _touched(episodes: Episodes, k: int, weeks: IntArray) -> IntArray:
    """Micro-cells inside a footprint of an episode that acts on type ``k`` in any of ``weeks``."""
    if episodes.size == 0 or weeks.size == 0:
        return np.zeros(0, dtype=np.int64)
    acts = (episodes.mix[episodes.kind, k] > 0) & (episodes.amplitude != 0)
    live = np.any(episodes.profile[:, weeks] > 0, axis=1)
    sel = np.flatnonzero(acts & live)
    sub = episodes.footprint[:, sel]
    return np.unique(sparse.csc_array(sub).indices).astype(np.int64)


def delta_matrix(episodes: Episodes, k: int, weeks: npt.ArrayLike) -> sparse.csr_array:
    """``M - 1`` for type ``k`` as a sparse ``[micro-cell, week]`` array over ``weeks`` (indices
    from the first burn-in Monday); zero outside the footprints that act on ``k`` then.

    The same formula as ``multiplier``, as two sparse-dense products: the rising sum
    ``F · diag(a·mix) · T`` and the falling log ``F · diag(log1p(a·mix)) · T``.
    """
    w = np.asarray(weeks, dtype=np.int64).ravel()
    n_micro = episodes.footprint.shape[0]
    rows, delta = _delta_dense(episodes, k, w)
    nz_r, nz_c = np.nonzero(delta)
    return sparse.csr_array((delta[nz_r, nz_c], (rows[nz_r], nz_c)), shape=(n_micro, w.size))


def falling_log(episodes: Episodes, k: int, w: IntArray) -> tuple[IntArray, FloatArray]:
    """The micro-cells inside a falling episode's footprint that acts on type ``k`` in any of the
    weeks ``w``, and the falling part's log there, dense ``[row, week]``:
    ``Σ_{a_e < 0} log1p(a_e · mix[kind_e, k]) · F_e(m) · T_e(w)`` (its exp is the falling factor
    of ``multiplier``)."""
    coef = episodes.amplitude * episodes.mix[episodes.kind, k]
    falling = np.flatnonzero(coef < 0)
    if falling.size == 0 or w.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, w.size))
    profile = episodes.profile[falling][:, w]
    live = np.flatnonzero(np.any(profile > 0, axis=1))
    sub = sparse.csc_array(episodes.footprint[:, falling[live]])
    rows = np.unique(sub.indices).astype(np.int64)
    if rows.size == 0:
        return rows, np.zeros((0, w.size))
    foot = sparse.csr_array(sub)[rows]
    return rows, foot @ (np.log1p(coef[falling[live]])[:, None] * profile[live])


def _delta_dense(episodes: Episodes, k: int, w: IntArray) -> tuple[IntArray, FloatArray]:
    """The touched micro-cells and ``M - 1`` on them, dense ``[row, week]``."""
    rows = _touched(episodes, k, w)
    if rows.size == 0:
        return rows, np.zeros((0, w.size))
    coef = episodes.amplitude * episodes.mix[episodes.kind, k]
    profile = episodes.profile[:, w]
    foot = sparse.csr_array(episodes.footprint)[rows]
    up, down = coef > 0, coef < 0
    rising = foot[:, up] @ (coef[up, None] * profile[up])
    log_fall = foot[:, down] @ (np.log1p(coef[down])[:, None] * profile[down])
    return rows, (1.0 + rising) * np.exp(log_fall) - 1.0


def weekly_background(
    background: FloatArray,
    weekly_factor: FloatArray,
    episodes: Episodes,
    types: npt.ArrayLike,
    week: int,
) -> FloatArray:
    """The background of one week, ``[micro-cell, type]`` for type positions ``types``."""
    k_idx = np.asarray(types, dtype=np.int64).ravel()
    out = background[k_idx].T * weekly_factor[k_idx, week]
    for col, k in enumerate(k_idx):
        delta = delta_matrix(episodes, int(k), [week]).tocoo()
        out[delta.row, col] *= 1.0 + delta.data
    return out


def mean_multiplier(
    episodes: Episodes, k: int, weight: FloatArray, weekly: FloatArray, weeks: IntArray
) -> float:
    """``Σ weight[m] weekly[w] M[k, m, w] / Σ weight[m] weekly[w]`` over micro-cells and
    ``weeks``: the factor by which episodes change type ``k``'s volume there (``weight``:
    background times recording probability)."""
    rows, delta = _delta_dense(episodes, k, weeks)
    base = float(weight.sum() * weekly[weeks].sum())
    return 1.0 + float(weight[rows] @ (delta @ weekly[weeks])) / base


# ---------------------------------------------------------------------- sampling
def add_episode_events(
    background: FloatArray,
    weekly_factor: FloatArray,
    hour_of_week_cdf: FloatArray,
    episodes: Episodes,
    ev: dict[str, npt.NDArray[np.generic]],
    *,
    n_weeks: int,
    rng: np.random.Generator,
) -> dict[str, npt.NDArray[np.generic]]:
    """The background events ``ev`` of the static city turned into the episodes' city.

    Adds Poisson events for the rising part (per episode, type and week: mean ``a_e mix F-mass
    T_e(w) weekly``, micro-cell drawn from ``F_e · background``), then keeps each background
    event with probability ``Π_falling (1 + x_e)`` at its type, micro-cell and week. The result
    is a Poisson process with intensity ``background · weekly · M``. Returns ``ev`` itself when
    there are no episodes (no draw is made).
    """
    if episodes.size == 0:
        return ev
    foot = episodes.footprint  # CSC [micro, episode]
    parts: dict[str, list[npt.NDArray[np.generic]]] = {key: [val] for key, val in ev.items()}
    for k in range(background.shape[0]):
        kinds, micros, times = _rising_events(
            background[k], weekly_factor[k, :n_weeks], hour_of_week_cdf[k], episodes, k,
            n_weeks=n_weeks, rng=rng,
        )  # fmt: skip
        parts["type"].append(kinds)
        parts["micro"].append(micros)
        parts["t"].append(times)
    merged = {key: np.concatenate(parts.pop(key)) for key in ("type", "micro", "t")}
    n_events = merged["type"].size
    n_added = n_events - ev["type"].size

    # Thinning by the falling part (one uniform per background event, in order). The factor is
    # looked up in its [micro-cell, week] grid, built once per type, so the cost grows with the
    # events plus the falling footprints times the weeks, not with events times the episodes that
    # cover them (which grow with the years simulated).
    u = rng.random(n_events)
    keep = np.ones(n_events, dtype=bool)
    row_of = np.full(foot.shape[0], -1, dtype=np.int64)
    for k in np.unique(merged["type"]):
        rows, log_fall = falling_log(episodes, int(k), np.arange(n_weeks, dtype=np.int64))
        if rows.size == 0:
            continue  # no falling episode acts on this type: every event is kept (u < 1)
        sel = np.flatnonzero(merged["type"] == k)
        row_of[rows] = np.arange(rows.size)
        r = row_of[merged["micro"][sel]]
        row_of[rows] = -1
        inside = np.flatnonzero(r >= 0)
        at = sel[inside]
        p = np.exp(log_fall[r[inside], merged["t"][at] // _SECONDS_PER_WEEK])
        keep[at] = u[at] < p
        del log_fall, sel, r, inside, at, p
    del u
    logger.debug("Episodes added %d background events and removed %d", n_added,
                 int((~keep).sum()))  # fmt: skip
    # One column at a time, each freed as its kept copy is made.
    return {key: merged.pop(key)[keep] for key in ("type", "micro", "t")}


def _rising_events(
    background: FloatArray,
    weekly: FloatArray,
    hour_of_week_cdf: FloatArray,
    episodes: Episodes,
    k: int,
    *,
    n_weeks: int,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Type ``k``'s events of the rising episodes (type, micro-cell, second from the first
    burn-in Monday): per episode and week a Poisson count of mean ``a_e mix F-mass T_e(w)
    weekly``, each event in a micro-cell drawn from ``F_e · background``. Draws nothing when no
    rising episode acts on ``k``."""
    rising = np.flatnonzero(episodes.amplitude > 0)
    sel = rising[episodes.mix[episodes.kind[rising], k] > 0]
    if sel.size == 0:
        return np.zeros(0, np.int8), np.zeros(0, np.int32), np.zeros(0, np.int64)
    sub = sparse.csc_array(episodes.footprint[:, sel])
    mass_w = sub.data * background[sub.indices]  # F · background, per footprint entry
    seg = np.repeat(np.arange(sel.size), np.diff(sub.indptr))
    mass = np.bincount(seg, weights=mass_w, minlength=sel.size)
    scale = episodes.amplitude[sel] * episodes.mix[episodes.kind[sel], k] * mass
    mean = scale[:, None] * episodes.profile[sel, :n_weeks] * weekly[None, :]
    counts = rng.poisson(mean)
    e_of, w_of = np.nonzero(counts)
    n_each = counts[e_of, w_of]
    e_ev = np.repeat(e_of, n_each)
    w_ev = np.repeat(w_of, n_each).astype(np.int64)
    cum = np.cumsum(mass_w)
    lo = np.r_[0.0, cum][sub.indptr[:-1]]
    target = lo[e_ev] + rng.random(e_ev.size) * mass[e_ev]
    pos = np.searchsorted(cum, target, side="right")
    pos = np.clip(pos, sub.indptr[e_ev], sub.indptr[e_ev + 1] - 1)
    micro = sub.indices[pos].astype(np.int32)
    slot = np.searchsorted(hour_of_week_cdf, rng.random(e_ev.size), side="right")
    sec = rng.integers(0, 3600, e_ev.size)
    t = w_ev * _SECONDS_PER_WEEK + np.minimum(slot, 167) * 3600 + sec
    return np.full(e_ev.size, k, dtype=np.int8), micro, t


def places_frame(episodes: Episodes, geo: Geography, *, origin: np.datetime64) -> pd.DataFrame:
    """Places in the places.csv layout (``kind, lon, lat, opened, closed``): the geography's
    stations, shops and town centres (always there) and each episode of a kind with a
    ``place_kind`` at its centre, ``opened`` = its onset Monday.

    Sorted by kind, opened, lon, lat."""
    frames = [
        pd.DataFrame({"kind": kind, "micro": idx, "opened": pd.NaT})
        for kind, idx in geo.places.items()
    ]
    placed = np.array([episodes.place_kinds[i] is not None for i in episodes.kind], dtype=bool)
    if placed.any():
        kinds = np.array([episodes.place_kinds[i] or "" for i in episodes.kind], dtype=object)
        opened = origin.astype("datetime64[D]") + episodes.onset.astype(np.int64) * np.timedelta64(
            7, "D"
        )
        frames.append(
            pd.DataFrame(
                {"kind": kinds[placed], "micro": episodes.centre[placed], "opened": opened[placed]}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    micro = out["micro"].to_numpy()
    result = pd.DataFrame(
        {
            "kind": out["kind"].astype(str),
            "lon": np.round(geo.lon[micro], 6),
            "lat": np.round(geo.lat[micro], 6),
            "opened": pd.to_datetime(out["opened"]).dt.strftime("%Y-%m-%d").fillna(""),
            "closed": "",
        }
    )
    return result.sort_values(["kind", "opened", "lon", "lat"], kind="stable").reset_index(
        drop=True
    )


def with_episodes(
    background: FloatArray,
    weekly_factor: FloatArray,
    record_ref: FloatArray,
    episodes: Episodes,
    *,
    period: IntArray,
    renormalise: bool,
) -> FloatArray:
    """The background rescaled so that each type's recorded volume over ``period`` weeks is what
    the static city's would be (``renormalise``), or unchanged. Exact for the background; the
    self-excited share scales with it."""
    if episodes.size == 0 or not renormalise:
        return background
    out = background.copy()
    for k in range(background.shape[0]):
        factor = mean_multiplier(
            episodes, k, background[k] * record_ref[k], weekly_factor[k], period
        )
        out[k] = background[k] / factor
    return out


# ---------------------------------------------------------------------- persistence
def episodes_to_tables(episodes: Episodes) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """The episodes as two Arrow tables (one row per episode; one per footprint entry) and the
    meta fields (kinds, place kinds, type mix, weeks) that ``episodes_from_tables`` reads."""
    table = pa.table(
        {
            "kind_code": episodes.kind,
            "centre_micro": episodes.centre,
            "onset_week": episodes.onset,
            "ramp_weeks": episodes.ramp,
            "plateau_weeks": episodes.plateau,
            "fade_weeks": episodes.fade,
            "amplitude": episodes.amplitude,
        }
    )
    coo = episodes.footprint.tocoo()
    order = np.lexsort((coo.row, coo.col))
    foot = pa.table(
        {
            "episode": coo.col[order].astype(np.int32),
            "micro_index": coo.row[order].astype(np.int32),
            "weight": coo.data[order],
        }
    )
    meta = {
        "kinds": list(episodes.kind_names),
        "place_kinds": list(episodes.place_kinds),
        "mix": episodes.mix.tolist(),
        "n_weeks": episodes.n_weeks,
    }
    return table, foot, meta


def episodes_from_tables(
    table: pa.Table, foot: pa.Table, meta: dict[str, Any], *, n_micro: int, n_types: int
) -> Episodes:
    """Episodes written by ``episodes_to_tables``."""

    def col(t: pa.Table, name: str) -> npt.NDArray[Any]:
        return np.asarray(t.column(name).to_numpy())

    footprint = sparse.csc_array(
        (
            col(foot, "weight").astype(np.float64),
            (col(foot, "micro_index").astype(np.int64), col(foot, "episode").astype(np.int64)),
        ),
        shape=(n_micro, table.num_rows),
    )
    footprint.sort_indices()
    return Episodes(
        kind_names=tuple(meta["kinds"]),
        place_kinds=tuple(meta["place_kinds"]),
        kind=col(table, "kind_code").astype(np.int16),
        centre=col(table, "centre_micro").astype(np.int32),
        onset=col(table, "onset_week").astype(np.int32),
        ramp=col(table, "ramp_weeks").astype(np.int32),
        plateau=col(table, "plateau_weeks").astype(np.int32),
        fade=col(table, "fade_weeks").astype(np.int32),
        amplitude=col(table, "amplitude").astype(np.float64),
        mix=np.asarray(meta["mix"], dtype=np.float64).reshape(len(meta["kinds"]), n_types),
        footprint=footprint,
        n_weeks=int(meta["n_weeks"]),
    )
