"""The synthetic city week by week, under a patrol the caller chooses (the closed loop's city).

``simulate_city`` records the city under a static patrol surface. A feedback loop needs the
reverse: each week it decides where patrol goes, and that week's crime and recording answer it.
``CityStepper`` does this::

    stepper = CityStepper(config)                  # or CityStepper(config, seed=...)
    week = stepper.step()                          # the next week under the static patrol
    mult = stepper.multiplier_for_cells(flagged_cells, 2.0)   # [micro-cell], 1 elsewhere
    expected = stepper.expected_counts(cells, ["burglary"], kind="committed",
                                       patrol_multiplier=mult)  # truth for the next week
    week = stepper.step(mult)                      # week.events, week.committed

A week's patrol is the baseline surface (``IntensityModel.patrol``, over-policing included) times a
multiplier per micro-cell; ``None`` is the static patrol (every multiplier 1). It acts only on
that week's events:

- police-activity detections: ``p = 1 - exp(-rate · patrol · multiplier)`` (the recording
  layer's formula with the week's patrol);
- victim reporting: ``p = rate · (1 - effect · deprivation_rank) · (1 + reporting_uplift ·
  (multiplier - 1))``, kept in [0, 1] (``simulate.patrol_response.reporting_uplift``, default 0);
- deterrence: where the multiplier is above 1, each committed event of the week happens with
  probability ``exp(-deterrence · (multiplier - 1))`` (``simulate.patrol_response.deterrence``,
  default 0); a prevented event has no offspring either.

How (the latent city). The stepper simulates the run once, as ``simulate_city`` does
(``simulate_latent``: the same seed tree, geography, background and cascade), before any patrol
acts: every event that *would* be committed under the baseline patrol, with its recording uniform
``u``. Patrol then works by thinning and by coupling. An event is committed when its own
deterrence uniform is below its keep probability and its parent was committed: thinning a
branching process event by event (a prevented event takes its offspring with it) gives exactly
the Hawkes process whose intensity is multiplied by the keep probability in that cell and week.
A committed event is recorded when ``u`` is below the week's recording probability, so more
patrol records a superset of the events (a coupling, not a fresh draw). Within a week, parents
are resolved day by day (an offspring comes at least a day after its parent): a loop of 7 over
vectorised slices, the only loop besides the one over weeks. Deterrence can only remove events:
a multiplier below 1 lowers recording but does not raise committed crime above the baseline city.

Determinism. Every random number is drawn when the stepper is built, one per latent event, from
the seed's ``SeedSequence`` tree (the deterrence uniforms from its seventh child). None is drawn
while stepping, so the same seed and the same patrol sequence give identical weeks, and a week's
randomness cannot depend on the patrol of earlier weeks; those weeks reach it only through the
events themselves (which parents were committed). The cosmetic outcome label follows the same
rule: an event that the static patrol records keeps ``simulate_city``'s label; any other takes
one hashed from its ``crime_id``.

Byte-identity. With the static patrol, or multipliers of exactly 1, every recording probability
is bit for bit the static one and nothing is thinned, so the weeks put together are exactly
``simulate_city``'s ``events`` and ``committed`` (a test compares every column); the ``simulate``
stage does not use this module and writes the same bytes as before it existed.

Truth. ``expected_counts`` gives ``E[events of the next week | everything before it]`` under a
given patrol: the truth model's background, pending excitation and within-week cascade, with the
keep probability applied at every step of the cascade and the week's recording probability.
Because deterrence acts inside the cascade, it runs the exact 7-day recursion with one sparse
kernel product per day (``simcity.truth`` folds chains longer than two near-repeat steps; without
deterrence the two agree to ~0.1% per micro-cell and exactly in total).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from beatwise.h3index import index_points
from beatwise.params import validate_params
from simcity.config import MICRO_RESOLUTION, CityConfig, SimulateParams
from simcity.episodes import weekly_background
from simcity.generate import (
    SECONDS_PER_DAY,
    SECONDS_PER_WEEK,
    committed_frame,
    crime_keys,
    location_codes,
    mix64,
    police_uk_events,
    simulate_latent,
)
from simcity.intensity import recording_probability

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
#: xor-ed into a crime_id key before hashing it into an outcome uniform (any fixed constant)
_OUTCOME_SALT = np.uint64(0x5EED_0A7C_0FFE_E000)


@dataclass(frozen=True)
class CityWeek:
    """One simulated week under the patrol supplied for it.

    ``events``: recorded events in the ``events.parquet`` schema (as ``SimulatedCity.events``);
    ``committed``: the committed events with their ``recorded`` flag (as
    ``SimulatedCity.committed``); ``n_prevented``: events of the baseline city that patrol
    prevented this week (deterred, or offspring of a prevented event).
    """

    week: int
    week_start: np.datetime64
    events: pd.DataFrame
    committed: pd.DataFrame
    n_prevented: int


class CityStepper:
    """The synthetic city, one week per ``step``, under a patrol multiplier per micro-cell.

    Parameters
    ----------
    config
        The ``simulate`` section (``simcity.config.load_city_config``).
    seed
        Replaces ``config.seed`` when given (another city).
    process_seed
        Keeps the city of ``config.seed`` (its geography and true risk) and draws its crimes and
        their recording from this seed (another history of the same place;
        ``simcity.generate.simulate_latent``).

    Building it simulates the latent city (as long as ``simulate_city``: ~4 s for the default
    city); each step then takes milliseconds to tens of milliseconds. Steps cover the
    ``config.n_weeks`` in-period weeks in order; a step past the last is refused.
    """

    def __init__(
        self, config: CityConfig, *, seed: int | None = None, process_seed: int | None = None
    ) -> None:
        t0 = time.perf_counter()
        if seed is not None:
            # through the params loader, so a bad seed is refused in the simulate stage's words
            raw = {"simulate": {**config.model_dump(), "seed": seed}}
            config = validate_params("simulate", SimulateParams, raw).simulate
        self.config = config
        latent = simulate_latent(config, process_seed=process_seed)
        self._latent = latent
        self.geography = latent.geography
        self.intensity = latent.intensity
        model = self.intensity
        n = latent.kind.size
        self._week_bounds = np.searchsorted(
            latent.t_sec, np.arange(model.n_weeks_total + 1, dtype=np.int64) * SECONDS_PER_WEEK
        )
        self._committed = np.ones(n, dtype=bool)
        self._any_prevented = False
        self._u_outcome = self._static_outcome_uniforms()
        self._locations = location_codes(self.geography)
        self._weekday_share = np.diff(model.hour_of_week_cdf[:, 23::24], axis=1, prepend=0.0)
        self._kernel_t: dict[float, sparse.csr_array] = {}
        self._parent_cache: dict[int, npt.NDArray[np.uint64]] = {}
        self._week = 0
        logger.info(
            "City stepper for seed %d: %d events in the latent city, %d weeks to step from %s; "
            "built in %.1fs",
            config.seed, n, self.n_weeks, config.start, time.perf_counter() - t0,
        )  # fmt: skip

    # ------------------------------------------------------------------ state
    @property
    def week(self) -> int:
        """The in-period index (0-based) of the next week ``step`` simulates."""
        return self._week

    @property
    def n_weeks(self) -> int:
        """In-period weeks in the run (``config.n_weeks``)."""
        return self.config.n_weeks

    @property
    def week_start(self) -> np.datetime64:
        """The Monday that starts the next week."""
        return np.datetime64(self.config.start, "D") + np.timedelta64(7 * self._week, "D")

    @property
    def cells(self) -> npt.NDArray[np.uint64]:
        """The micro-cells (H3 resolution 10), ascending: the axis of a patrol multiplier."""
        return self.geography.cells

    def fork(self) -> CityStepper:
        """An independent stepper at the same week with the same past: two loops that share a
        history (a closed and an open loop after the same prior weeks) go on from here apart.

        The latent city is shared (never written after it is built); the state that stepping
        changes (which events were committed, the week) is copied.
        """
        twin = copy.copy(self)
        twin._committed = self._committed.copy()
        return twin

    # ------------------------------------------------------------------ patrol
    def cell_index(self, cells: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """For each micro-cell, the position in ``cells`` of the H3 cell holding its centre, or -1.

        ``cells``: distinct H3 cells (uint64) of one resolution, at most the micro resolution.
        """
        arr = np.asarray(cells, dtype=np.uint64).ravel()
        if arr.size == 0:
            return np.full(self.cells.size, -1, dtype=np.int64)
        if np.unique(arr).size != arr.size:
            raise ValueError("cells must be distinct H3 cells. Got duplicates.")
        res = np.unique((arr >> np.uint64(52)) & np.uint64(15))  # the index's resolution bits
        if res.size != 1 or int(res[0]) > MICRO_RESOLUTION:
            raise ValueError(
                f"cells must share one H3 resolution of at most {MICRO_RESOLUTION}. "
                f"Got resolutions {res.tolist()}."
            )
        parent = self._parents(int(res[0]))
        order = np.argsort(arr)
        pos = np.minimum(np.searchsorted(arr[order], parent), arr.size - 1)
        return np.where(arr[order][pos] == parent, order[pos], -1).astype(np.int64)

    def _parents(self, resolution: int) -> npt.NDArray[np.uint64]:
        """Each micro-cell's parent at ``resolution`` (cached: a loop asks every week)."""
        if resolution not in self._parent_cache:
            geo = self.geography
            self._parent_cache[resolution] = index_points(geo.lat, geo.lon, resolution=resolution)
        return self._parent_cache[resolution]

    def multiplier_for_cells(
        self, cells: npt.ArrayLike, values: npt.ArrayLike, *, default: float = 1.0
    ) -> FloatArray:
        """A patrol multiplier per micro-cell: ``values`` (one per cell, or one for all) in the
        micro-cells whose centre lies in ``cells``, ``default`` elsewhere."""
        idx = self.cell_index(cells)
        vals = np.broadcast_to(np.asarray(values, dtype=np.float64), (np.asarray(cells).size,))
        out = np.full(self.cells.size, float(default))
        hit = idx >= 0
        out[hit] = vals[idx[hit]]
        return out

    def _multiplier(self, patrol_multiplier: npt.ArrayLike | None) -> FloatArray | None:
        if patrol_multiplier is None:
            return None
        mult = np.asarray(patrol_multiplier, dtype=np.float64)
        n_micro = self.cells.size
        if mult.shape != (n_micro,):
            raise ValueError(
                f"patrol_multiplier must hold one number per micro-cell, shape ({n_micro},). "
                f"Got shape {mult.shape}."
            )
        if not np.all(np.isfinite(mult) & (mult >= 0)):
            bad = mult[~(np.isfinite(mult) & (mult >= 0))][0]
            raise ValueError(f"patrol_multiplier must be finite and >= 0. Got {bad}.")
        return mult

    def recording_probability(self, patrol_multiplier: npt.ArrayLike | None = None) -> FloatArray:
        """Recording probability [type, micro-cell] under a week's patrol multiplier."""
        mult = self._multiplier(patrol_multiplier)
        if mult is None:
            return self.intensity.record_prob
        uplift = self.config.patrol_response.reporting_uplift
        return recording_probability(
            self.config,
            self.geography,
            patrol=self.intensity.patrol * mult,
            reporting_factor=np.maximum(1.0 + uplift * (mult - 1.0), 0.0),
        )

    def keep_probability(self, patrol_multiplier: npt.ArrayLike | None = None) -> FloatArray:
        """Probability that a baseline event in each micro-cell is committed (1 = not deterred)."""
        mult = self._multiplier(patrol_multiplier)
        deterrence = self.config.patrol_response.deterrence
        if mult is None or deterrence == 0:
            return np.ones(self.cells.size)
        return np.exp(-deterrence * np.maximum(mult - 1.0, 0.0))

    # ------------------------------------------------------------------ stepping
    def step(self, patrol_multiplier: npt.ArrayLike | None = None) -> CityWeek:
        """Simulate the next week under ``patrol_multiplier`` (one per micro-cell; None: static).

        Refuses a multiplier of the wrong shape, a negative or non-finite one, and a step past the
        last in-period week.
        """
        if self._week >= self.n_weeks:
            raise ValueError(
                f"the city has {self.n_weeks} weeks (simulate.n_weeks) and all have been stepped."
            )
        mult = self._multiplier(patrol_multiplier)
        lat, model = self._latent, self.intensity
        w_total = model.burn_in_weeks + self._week
        lo, hi = int(self._week_bounds[w_total]), int(self._week_bounds[w_total + 1])
        week = slice(lo, hi)
        kind, micro = lat.kind[week], lat.micro[week]
        keep = self.keep_probability(mult)
        deterring = mult is not None and self.config.patrol_response.deterrence > 0
        if deterring or self._any_prevented:
            own = self._deterrence_uniforms(lo, hi) < keep[micro]
            self._resolve_committed(lo, hi, w_total, own=own)
        committed = self._committed[week]
        recorded = committed & (lat.u_record[week] < self.recording_probability(mult)[kind, micro])
        events = self._events(lo + np.flatnonzero(recorded))
        idx = lo + np.flatnonzero(committed)
        committed_df = committed_frame(
            self.geography,
            model,
            event_id=idx.astype(np.int64),
            t_sec=lat.t_sec[idx],
            kind=lat.kind[idx],
            micro=lat.micro[idx],
            recorded=recorded[committed],
            knife=lat.knife[idx],
            gen=lat.gen[idx],
            parent=lat.parent[idx],
        )
        out = CityWeek(
            week=self._week,
            week_start=self.week_start,
            events=events,
            committed=committed_df,
            n_prevented=int(committed.size - committed.sum()),
        )
        self._week += 1
        return out

    def _resolve_committed(
        self, lo: int, hi: int, w_total: int, *, own: npt.NDArray[np.bool_]
    ) -> None:
        """Committed = not deterred itself and parent committed; parents come on earlier days."""
        lat = self._latent
        day = lat.t_sec[lo:hi] // SECONDS_PER_DAY - 7 * w_total
        bounds = lo + np.searchsorted(day, np.arange(8))
        for d in range(7):
            a, b = int(bounds[d]), int(bounds[d + 1])
            parent = lat.parent[a:b]
            parent_ok = np.where(parent >= 0, self._committed[np.maximum(parent, 0)], True)
            self._committed[a:b] = own[a - lo : b - lo] & parent_ok
        self._any_prevented = self._any_prevented or not self._committed[lo:hi].all()

    def _events(self, idx: npt.NDArray[np.int64]) -> pd.DataFrame:
        lat = self._latent
        key = crime_keys(self.config.seed, idx)
        order = np.lexsort((key, lat.t_sec[idx]))
        idx, key = idx[order], key[order]
        u = self._u_outcome[idx]
        fresh = np.isnan(u)
        if fresh.any():
            u[fresh] = (mix64(key[fresh] ^ _OUTCOME_SALT) >> np.uint64(11)) * 2.0**-53
        return police_uk_events(
            self.geography,
            self.intensity,
            key=key,
            t_sec=lat.t_sec[idx],
            kind=lat.kind[idx],
            micro=lat.micro[idx],
            knife=lat.knife[idx],
            outcome_u=u,
            locations=self._locations,
        )

    def _deterrence_uniforms(self, lo: int, hi: int) -> FloatArray:
        """Events ``lo`` to ``hi``'s deterrence uniforms: ``default_rng(deterrence_seed)
        .random(n)[lo:hi]``, drawn for the slice alone (PCG64 makes one 64-bit draw per uniform,
        so advancing the stream by ``lo`` lands on the slice's first), rather than held for every
        event of the run (a decade's 21M events: 166 MiB per process)."""
        bits = np.random.PCG64(self._latent.deterrence_seed)
        bits.advance(lo)
        return np.random.Generator(bits).random(hi - lo)

    def _static_outcome_uniforms(self) -> FloatArray:
        """``simulate_city``'s outcome uniform for each event the static patrol records, in its
        order (timestamp, then crime_id); NaN for the others."""
        lat = self._latent
        static = lat.u_record < self.intensity.record_prob[lat.kind, lat.micro]
        idx = lat.first + np.flatnonzero(static[lat.first :])
        key = crime_keys(self.config.seed, idx)
        order = np.lexsort((key, lat.t_sec[idx]))
        out = np.full(lat.kind.size, np.nan)
        out[idx[order]] = np.random.default_rng(lat.outcome_seed).random(idx.size)
        return out

    # ------------------------------------------------------------------ truth
    def expected_counts(
        self,
        cells: npt.ArrayLike | None,
        crime_types: Sequence[str],
        *,
        kind: Literal["recorded", "committed"],
        patrol_multiplier: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """Expected events of ``crime_types`` in the next week, per cell, given every event so far.

        Parameters
        ----------
        cells
            Distinct H3 cells of one resolution (at most 10); None: per micro-cell.
        crime_types
            Canonical names of simulated types.
        kind
            ``"committed"`` (true harm, after deterrence) or ``"recorded"``.
        patrol_multiplier
            The next week's patrol, as ``step`` would receive it.
        """
        if kind not in ("recorded", "committed"):
            raise ValueError(f"kind must be 'recorded' or 'committed'. Got {kind!r}.")
        if self._week >= self.n_weeks:
            raise ValueError("every week has been stepped; there is no next week.")
        k_idx = self._type_index(crime_types)
        keep = self.keep_probability(patrol_multiplier)
        rec = self.recording_probability(patrol_multiplier) if kind == "recorded" else None
        pend_r, pend_n = self._pending(k_idx)
        per_micro = np.zeros(self.cells.size)
        sigma = self.intensity.sigma_m[k_idx]
        for s in np.unique(sigma):
            cols = np.flatnonzero(sigma == s)
            total = self._week_cascade(
                k_idx[cols], pend_r[:, cols], pend_n[:, cols], self._kernel(float(s)), keep
            )
            if rec is not None:
                total = total * rec[k_idx[cols]].T
            per_micro += total.sum(axis=1)
        if cells is None:
            return per_micro
        idx = self.cell_index(cells)
        n_cells = np.asarray(cells).size
        hit = idx >= 0
        return _weighted_counts(idx[hit], per_micro[hit], size=n_cells)

    def _pending(self, k_idx: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        """Pending excitation [micro, type] at the start of the next week: the sums of
        ``q^(7w - day)`` over committed events before it, for repeats and near repeats."""
        lat, model = self._latent, self.intensity
        w_total = model.burn_in_weeks + self._week
        past = np.flatnonzero(self._committed[: int(self._week_bounds[w_total])])
        column = np.full(len(model.types), -1)
        column[k_idx] = np.arange(k_idx.size)
        col = column[lat.kind[past]]
        past, col = past[col >= 0], col[col >= 0]
        age = 7 * w_total - lat.t_sec[past] // SECONDS_PER_DAY  # whole days since, >= 1
        k = lat.kind[past]
        flat = lat.micro[past].astype(np.int64) * k_idx.size + col
        size = self.cells.size * k_idx.size
        shape = (self.cells.size, k_idx.size)
        pend_r = _weighted_counts(flat, model.q_repeat[k] ** age, size=size).reshape(shape)
        pend_n = _weighted_counts(flat, model.q_near[k] ** age, size=size).reshape(shape)
        return pend_r, pend_n

    def _week_cascade(
        self,
        group: npt.NDArray[np.int64],
        pend_r: FloatArray,
        pend_n: FloatArray,
        kernel_t: sparse.csr_array,
        keep: FloatArray,
    ) -> FloatArray:
        """Expected committed events [micro, type] of the next week for types sharing a kernel.

        Day ``j`` gets the background (by weekday share), the offspring that earlier events send
        into it (``pend_*`` hold sums of ``q^(7w - day)``, so day ``j`` gets ``q^(j-1)(1 - q)`` per
        unit) and those of the week's own earlier days, all multiplied by the keep probability
        at the place they land.
        """
        model = self.intensity
        w_total = model.burn_in_weeks + self._week
        alpha, rs = model.alpha[group], model.repeat_share[group]
        q_r, q_n = model.q_repeat[group], model.q_near[group]
        near_pend = kernel_t @ pend_n
        bg = weekly_background(
            model.background, model.weekly_factor, model.episodes, group, w_total
        )
        lags = np.arange(1, 7, dtype=np.float64)[:, None]
        c_r = alpha * rs * q_r ** (lags - 1) * (1 - q_r)  # [lag - 1, type]
        c_n = alpha * (1 - rs) * q_n ** (lags - 1) * (1 - q_n)
        days = np.empty((7, *pend_r.shape))
        for j in range(7):
            x = bg * self._weekday_share[group, j]
            x += pend_r * (alpha * rs * q_r ** (j - 1.0) * (1 - q_r))
            x += near_pend * (alpha * (1 - rs) * q_n ** (j - 1.0) * (1 - q_n))
            if j:
                earlier = days[j - 1 :: -1]  # days j-1, ..., 0: lags 1..j
                x += np.einsum("lt,lmt->mt", c_r[:j], earlier)
                x += kernel_t @ np.einsum("lt,lmt->mt", c_n[:j], earlier)
            days[j] = x * keep[:, None]
        return days.sum(axis=0)

    def _kernel(self, sigma: float) -> sparse.csr_array:
        if sigma not in self._kernel_t:
            self._kernel_t[sigma] = self._latent.kernels[sigma].to_csr().T.tocsr()
        return self._kernel_t[sigma]

    def _type_index(self, crime_types: Sequence[str]) -> npt.NDArray[np.int64]:
        names = [crime_types] if isinstance(crime_types, str) else list(crime_types)
        pos = {name: i for i, name in enumerate(self.intensity.types)}
        unknown = [name for name in names if name not in pos]
        if unknown:
            raise ValueError(
                f"crime type {unknown[0]!r} is not simulated in this city. "
                f"Expected one of: {', '.join(self.intensity.types)}."
            )
        return np.asarray([pos[name] for name in names], dtype=np.int64)


def _weighted_counts(index: npt.NDArray[np.int64], weights: FloatArray, *, size: int) -> FloatArray:
    """Sum of ``weights`` per ``index`` in [0, size)."""
    return np.bincount(index, weights=weights, minlength=size).astype(np.float64, copy=False)
