"""The ground truth: the expected count per H3 cell, period and crime type, given the past.

For a period of whole days (a week, Monday 00:00 to the next Monday; or a calendar month) the
truth is ``E[events of type k in micro-cell m during the period | every event before it]``: the
background of its days (``background[k, m] · weekly_factor[k, week]`` times the weekday's share),
the offspring that earlier events send into the period, *and* the offspring of all of these
inside the same period (the within-period cascade), so it is calibrated. A month's truth never
conditions on an event inside the month; a sum of its weekly truths would.

An offspring is a *repeat* (same micro-cell, geometric day delay with daily survival
``q_repeat``) with probability ``repeat_share`` and otherwise a *near repeat* (micro-cell drawn
from the Gaussian kernel ``K`` of ``simcity.kernel``, delay with survival ``q_near``); each event
has ``α_k`` offspring on average, delays are whole days ``>= 1`` counted from the parent's day.
Pending excitation: ``P(delay = d) = q^(d-1)(1 - q)``, so earlier events send ``q^t (1 - q) ·
Σ_e q^(first day - 1 - day_e)`` offspring per unit into day ``t`` of the period, and the sums are
one sparse product for all requested periods. Inside the period, events of day ``i`` have
offspring on day ``j > i`` (delay ``j - i``). A scalar recursion over the period's days
(``simcity.cascade``) gives, for each source (each touched week's background, pending repeats,
pending near repeats), its expected count split by the number ``p`` of near-repeat steps taken,
so the period's expectation is ``Σ_p Kᵀᵖ U_p``: a Horner chain of sparse kernel products. Chains
of more than ``max_kernel_power`` near steps inside one period (a few in 10^5 of a week's mass)
are spread by ``K^max_kernel_power``; their mass is kept, so committed totals are exact and only
their spread is slightly narrow (per micro-cell-week at most ~0.1% off the exact sum at power 2).

``kind="recorded"`` multiplies each micro-cell's expectation by its recording probability (every
committed event triggers, recorded or not). A coarser H3 cell's value is the exact sum over the
micro-cells whose centre it contains (events sit at micro-cell centres).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import h3
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import sparse

from beatwise.h3index import index_points
from beatwise.io import read_json, write_json, write_table
from simcity.cascade import MAX_PERIOD_DAYS, Offspring, period_weights
from simcity.config import MICRO_RESOLUTION
from simcity.episodes import Episodes, delta_matrix, episodes_from_tables, episodes_to_tables
from simcity.kernel import build_kernels

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TRUTH_FORMAT_VERSION = 3
#: Near-repeat steps tracked separately inside a week; the (tiny) mass of longer chains is spread
#: by this power of the kernel instead of a higher one, so totals stay exact (see the module doc).
MAX_KERNEL_POWER = 2


@dataclass(frozen=True)
class TruthModel:
    """Everything needed to compute expected counts; arrays indexed [type, micro-cell].

    ``hist_*`` hold every committed event of the simulation (burn-in included): type position,
    micro-cell position and day index counted from ``origin`` (the first burn-in Monday).
    """

    types: tuple[str, ...]
    origin: np.datetime64
    burn_in_weeks: int
    n_weeks_total: int
    cells: npt.NDArray[np.uint64]
    lat: FloatArray
    lon: FloatArray
    x: FloatArray
    y: FloatArray
    background: FloatArray
    weekly_factor: FloatArray
    weekday_share: FloatArray
    record_prob: FloatArray
    alpha: FloatArray
    repeat_share: FloatArray
    q_repeat: FloatArray
    q_near: FloatArray
    sigma_m: FloatArray
    truncation_sd: float
    hist_type: npt.NDArray[np.int8]
    hist_micro: npt.NDArray[np.int32]
    hist_day: npt.NDArray[np.int32]
    #: hot spots that emerge and fade: the background is ``background · weekly_factor · M``
    #: with ``M`` from ``simcity.episodes`` (1 outside every episode)
    episodes: Episodes
    max_kernel_power: int = MAX_KERNEL_POWER
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ queries
    def expected_counts(
        self,
        cells: npt.ArrayLike,
        week_starts: npt.ArrayLike,
        crime_types: Sequence[str],
        *,
        kind: Literal["recorded", "committed"],
    ) -> FloatArray:
        """Expected number of events of ``crime_types`` per (week, cell), float64 ``[week, cell]``.

        Parameters
        ----------
        cells
            H3 cells as uint64 (resolution 0..10, mixing allowed). Cells outside the city get 0.
        week_starts
            Mondays at midnight (datetime64), within the simulated period, its burn-in, or up to
            53 weeks after it (the past is complete there, so the truth is defined).
        crime_types
            Canonical names; each must be a simulated type.
        kind
            ``"committed"`` (true harm) or ``"recorded"`` (after the recording layer).

        Refuses finer-than-micro-cell resolutions, non-Monday or out-of-range weeks and unknown
        types with a ValueError naming the value.
        """
        _check_kind(kind)
        w_idx = self._week_index(week_starts)
        return self._expected(cells, 7 * w_idx, np.full(w_idx.size, 7), crime_types, kind=kind)

    def expected_counts_between(
        self,
        cells: npt.ArrayLike,
        starts: npt.ArrayLike,
        ends: npt.ArrayLike,
        crime_types: Sequence[str],
        *,
        kind: Literal["recorded", "committed"],
    ) -> FloatArray:
        """Expected number of events per (period, cell) for periods ``[start, end)`` of whole days.

        The expectation of a period conditions on every event before its first day, never on one
        inside it (a calendar month: ``E[events in the month | events before the month]``).

        Parameters
        ----------
        cells, crime_types, kind
            As :meth:`expected_counts`.
        starts, ends
            Each period's first day and the day after its last (datetime64 at midnight): 1 to
            ``MAX_PERIOD_DAYS`` days, inside the burn-in, the simulated period or the 53 weeks
            after it.

        Refuses periods that are empty, longer than ``MAX_PERIOD_DAYS``, not at midnight or out of
        range with a ValueError naming the period.
        """
        _check_kind(kind)
        first_day, length = self._day_spans(starts, ends)
        return self._expected(cells, first_day, length, crime_types, kind=kind)

    def _expected(
        self,
        cells: npt.ArrayLike,
        first_day: npt.NDArray[np.int64],
        length: npt.NDArray[np.int64],
        crime_types: Sequence[str],
        *,
        kind: Literal["recorded", "committed"],
    ) -> FloatArray:
        """``[period, cell]`` expected counts for validated periods (first day from the origin)."""
        cell_arr = np.asarray(cells, dtype=np.uint64).ravel()
        k_idx = self._type_index(crime_types)
        uniq, inverse = np.unique(cell_arr, return_inverse=True)
        projector = self._projector(uniq)  # [micro, unique cell]
        out = np.zeros((first_day.size, uniq.size))
        if uniq.size == 0 or first_day.size == 0 or k_idx.size == 0:
            return out[:, inverse]
        recorded = kind == "recorded"

        # Each type's expectation per micro-cell is Σ_p Kᵀᵖ U_p, where U_p combines three sources
        # (the background of each week the period touches, and the pending repeat and
        # near-repeat excitation of earlier events) with the scalar weights of the within-period
        # cascade (``simcity.cascade``). Every source is a sparse [micro, column] block times a
        # dense [column, period] coefficient, so U_p is one sparse product per kernel group, and
        # types sharing a kernel and a recording surface (up to scale) share one Horner chain.
        groups: dict[tuple[float, bytes], _KernelGroup] = {}
        for k in k_idx:
            p = self.record_prob[k] if recorded else np.ones(self.cells.size)
            scale = float(p.max()) if p.max() > 0 else 1.0
            key = (float(self.sigma_m[k]), np.round(p / scale, 12).tobytes())
            groups.setdefault(key, _KernelGroup(surface=p / scale)).types.append((int(k), scale))
        for (sigma, _), group in groups.items():
            # One group's sources at a time: a decade's pending blocks hold hundreds of MiB. By
            # columns, side by side is a concatenation (by rows it was three copies of them);
            # each output entry sums the same terms in the same column order either way.
            blocks, coefs = self._group_sources(group, first_day, length)
            sources = sparse.hstack(blocks, format="csc")  # [micro, column]
            coef = np.concatenate(coefs, axis=1)  # [power, column, period]
            del blocks, coefs
            top = int(np.flatnonzero(np.any(coef != 0, axis=(1, 2)))[-1])
            spread = sources @ coef[top]  # [micro, period]
            for power in range(top - 1, -1, -1):  # Horner: U_0 + Kᵀ(U_1 + Kᵀ(U_2 ...))
                spread = self._kernel_t(sigma) @ spread + sources @ coef[power]
            out += (projector.T @ (spread * group.surface[:, None])).T
        return out[:, inverse]

    def _group_sources(
        self,
        group: _KernelGroup,
        first_day: npt.NDArray[np.int64],
        length: npt.NDArray[np.int64],
    ) -> tuple[list[sparse.csc_array], list[FloatArray]]:
        """A kernel group's sources, sparse ``[micro, column]`` blocks by columns, and their
        coefficients ``[power, column, period]``, type by type in the group's order."""
        blocks: list[sparse.csc_array] = []
        coefs: list[FloatArray] = []
        for k, scale in group.types:
            weights = period_weights(
                self._offspring(k),
                self.weekday_share[k],
                first_day=first_day,
                length=length,
                cap=self.max_kernel_power,
            )
            # [power, week, period]: the background rate of each touched week, per unit of
            # ``background``, carried through the cascade.
            by_week = (scale * weights.background) * self.weekly_factor[k, weights.weeks][:, None]
            blocks.append(sparse.csc_array(self.background[k][:, None]))
            coefs.append(by_week.sum(axis=1)[:, None, :])
            # Episodes: the background's change, background · (M - 1), one column per touched
            # week, through the same weights.
            delta = delta_matrix(self.episodes, k, weights.weeks).tocoo()
            if delta.nnz:
                values = delta.data * self.background[k][delta.row]
                block = sparse.csr_array((values, (delta.row, delta.col)), shape=delta.shape)
                blocks.append(block.tocsc())
                coefs.append(by_week)
            for per_unit, q in ((weights.repeat, self.q_repeat[k]), (weights.near, self.q_near[k])):
                parts = self._pending(k, first_day, float(q))
                if parts is not None:
                    blocks.append(parts[0].tocsc())
                    coefs.append((scale * per_unit)[:, None, :] * parts[1][None])
        return blocks, coefs

    def with_history(
        self,
        hist_type: npt.ArrayLike,
        hist_micro: npt.ArrayLike,
        hist_day: npt.ArrayLike,
    ) -> TruthModel:
        """The same model with a different event history (for leakage and what-if checks)."""
        return dataclasses.replace(
            self,
            hist_type=np.asarray(hist_type, dtype=np.int8),
            hist_micro=np.asarray(hist_micro, dtype=np.int32),
            hist_day=np.asarray(hist_day, dtype=np.int32),
            _cache={k: v for k, v in self._cache.items() if k[0] != "pending"},
        )

    @property
    def first_week(self) -> np.datetime64:
        """The first in-period Monday (after the burn-in)."""
        return self.origin + np.timedelta64(7 * self.burn_in_weeks, "D")

    # ------------------------------------------------------------------ internals
    def _week_index(self, week_starts: npt.ArrayLike) -> npt.NDArray[np.int64]:
        ws = np.asarray(week_starts).ravel().astype("datetime64[ns]")
        days = ws.astype("datetime64[D]")
        if np.any(days != ws):
            raise ValueError("week_starts must be at midnight (Monday 00:00).")
        delta = (days - self.origin).astype(np.int64)
        if np.any(delta % 7 != 0):
            bad = days[delta % 7 != 0][0]
            raise ValueError(f"week_starts must be Mondays. Got {bad}.")
        w = delta // 7
        limit = self.weekly_factor.shape[1]
        if np.any((w < 0) | (w >= limit)):
            last = self.origin + np.timedelta64(7 * (limit - 1), "D")
            raise ValueError(
                f"week_starts must lie in [{self.origin}, {last}] (burn-in, simulated period and "
                f"{limit - self.n_weeks_total} weeks after). Got {days[(w < 0) | (w >= limit)][0]}."
            )
        return w

    def _day_spans(
        self, starts: npt.ArrayLike, ends: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each period's first day from the origin and its length in days, validated."""
        first = np.asarray(starts).ravel().astype("datetime64[ns]")
        after = np.asarray(ends).ravel().astype("datetime64[ns]")
        if first.shape != after.shape:
            raise ValueError(
                f"starts and ends must pair up. Got {first.size} starts and {after.size} ends."
            )
        for name, arr in (("starts", first), ("ends", after)):
            off = arr != arr.astype("datetime64[D]")
            if np.any(off):
                raise ValueError(f"period {name} must be at midnight. Got {arr[off][0]}.")
        first_day = (first.astype("datetime64[D]") - self.origin).astype(np.int64)
        length = (after.astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)
        bad = (length < 1) | (length > MAX_PERIOD_DAYS)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"a period must span 1 to {MAX_PERIOD_DAYS} days. Got {first[i]} to {after[i]} "
                f"({length[i]} days)."
            )
        limit = 7 * self.weekly_factor.shape[1]
        out = (first_day < 0) | (first_day + length > limit)
        if np.any(out):
            i = int(np.flatnonzero(out)[0])
            last = self.origin + np.timedelta64(limit - 1, "D")
            raise ValueError(
                f"periods must lie in [{self.origin}, {last}] (burn-in, simulated period and "
                f"{self.weekly_factor.shape[1] - self.n_weeks_total} weeks after). Got "
                f"{first[i]} to {after[i]}."
            )
        return first_day, length

    def _type_index(self, crime_types: Sequence[str]) -> npt.NDArray[np.int64]:
        if isinstance(crime_types, str):
            crime_types = [crime_types]
        pos = {name: i for i, name in enumerate(self.types)}
        out = []
        for name in crime_types:
            if name not in pos:
                raise ValueError(
                    f"crime type {name!r} is not simulated in this city. "
                    f"Expected one of: {', '.join(self.types)}."
                )
            out.append(pos[name])
        return np.asarray(out, dtype=np.int64)

    def _projector(self, uniq: npt.NDArray[np.uint64]) -> sparse.csr_array:
        """[micro-cell, query cell] 0/1 matrix: micro-cells whose centre lies in the cell."""
        cols = np.full(self.cells.size, -1, dtype=np.int64)
        if uniq.size:
            res = np.array([h3.get_resolution(h3.int_to_str(int(c))) for c in uniq])
            if np.any(res > MICRO_RESOLUTION):
                raise ValueError(
                    f"cells must be H3 resolution <= {MICRO_RESOLUTION} (the micro-cell "
                    f"resolution). Got resolution {int(res.max())}."
                )
            for r in np.unique(res):
                parent = self._parents(int(r))
                members = np.flatnonzero(res == r)
                sub = uniq[members]
                pos = np.searchsorted(sub, parent)
                pos_c = np.minimum(pos, sub.size - 1)
                hit = sub[pos_c] == parent
                cols[hit] = members[pos_c[hit]]
        rows = np.flatnonzero(cols >= 0)
        return sparse.csr_array(
            (np.ones(rows.size), (rows, cols[rows])), shape=(self.cells.size, uniq.size)
        )

    def _parents(self, res: int) -> npt.NDArray[np.uint64]:
        key = ("parents", res)
        if key not in self._cache:
            self._cache[key] = index_points(self.lat, self.lon, resolution=res)
        return self._cache[key]

    def _kernel_t(self, sigma: float) -> sparse.csr_array:
        key = ("kernel_t", sigma)
        if key not in self._cache:
            # Build every sigma's kernel at once: they share one neighbour search.
            kernels = build_kernels(
                self.x, self.y, sigmas=self.sigma_m, truncation_sd=self.truncation_sd
            )
            for s, kern in kernels.items():
                self._cache[("kernel_t", s)] = kern.to_csr().T.tocsr()  # [target, source]
        return self._cache[key]

    def _offspring(self, k: int) -> Offspring:
        return Offspring(
            alpha=float(self.alpha[k]),
            repeat_share=float(self.repeat_share[k]),
            q_repeat=float(self.q_repeat[k]),
            q_near=float(self.q_near[k]),
        )

    def _pending(
        self, k: int, first_day: npt.NDArray[np.int64], q: float
    ) -> tuple[sparse.csr_array, FloatArray] | None:
        """Type-k events before each period as ``(E, D)``: ``E @ D`` = Σ q^(first day - 1 - day)
        ``[micro, period]``.

        Events are binned by the periods' distinct first days: bin ``b`` ends at the ``b``-th
        first day. ``E[s, b]`` sums ``q^(end_b - 1 - day)`` over the bin's events in micro-cell
        ``s`` and ``D[b, p]`` decays it to period ``p``'s first day (zero when the bin ends
        after it), so an event counts for a period exactly when it falls before the period's
        first day. None when nothing is pending.
        """
        if self.alpha[k] <= 0:
            return None
        ends = np.unique(first_day)
        sel = self.hist_type == k
        day = self.hist_day[sel].astype(np.int64)
        bins = np.searchsorted(ends, day, side="right")
        keep = bins < ends.size
        day, bins = day[keep], bins[keep]
        if day.size == 0:
            return None
        micro = self.hist_micro[sel][keep].astype(np.int64)
        e_mat = sparse.csr_array(
            (q ** (ends[bins] - 1 - day), (micro, bins)), shape=(self.cells.size, ends.size)
        )
        gap = first_day[None, :] - ends[:, None]  # [bin, period]
        decay = np.where(gap >= 0, q ** np.maximum(gap, 0), 0.0)
        return e_mat, decay

    # ------------------------------------------------------------------ persistence
    def save(self, truth_dir: Path) -> None:
        """Write the model as ``meta.json`` and three Parquet files (deterministic bytes).

        ``meta.json`` holds only finite numbers (validated params and their derivatives), so the
        writer's NaN-to-null rule never applies to it.
        """
        truth_dir = Path(truth_dir)
        micro = {"h3_int": pa.array(self.cells), "lat": self.lat, "lon": self.lon}
        micro |= {"x_m": self.x, "y_m": self.y}
        for i, name in enumerate(self.types):
            micro[f"bg_{name}"] = self.background[i]
            micro[f"rec_{name}"] = self.record_prob[i]
        write_table(truth_dir / "micro_cells.parquet", pa.table(micro))
        weeks = self.origin + np.arange(self.weekly_factor.shape[1]) * np.timedelta64(7, "D")
        factors = {"week_start": pa.array(weeks.astype("datetime64[ns]"))}
        factors |= {f"factor_{n}": self.weekly_factor[i] for i, n in enumerate(self.types)}
        write_table(truth_dir / "weekly_factors.parquet", pa.table(factors))
        hist = pa.table(
            {"type_code": self.hist_type, "micro_index": self.hist_micro, "day": self.hist_day}
        )
        write_table(truth_dir / "history.parquet", hist)
        episodes, footprints, episode_meta = episodes_to_tables(self.episodes)
        write_table(truth_dir / "episodes.parquet", episodes)
        write_table(truth_dir / "episode_footprints.parquet", footprints)
        meta = {
            "format_version": TRUTH_FORMAT_VERSION,
            "micro_resolution": MICRO_RESOLUTION,
            "types": list(self.types),
            "origin": str(self.origin.astype("datetime64[D]")),
            "burn_in_weeks": self.burn_in_weeks,
            "n_weeks_total": self.n_weeks_total,
            "truncation_sd": self.truncation_sd,
            "alpha": self.alpha.tolist(),
            "repeat_share": self.repeat_share.tolist(),
            "q_repeat": self.q_repeat.tolist(),
            "q_near": self.q_near.tolist(),
            "sigma_m": self.sigma_m.tolist(),
            "weekday_share": self.weekday_share.tolist(),
            "episodes": episode_meta,
        }
        write_json(truth_dir / "meta.json", meta)


def _check_kind(kind: str) -> None:
    if kind not in ("recorded", "committed"):
        raise ValueError(f"kind must be 'recorded' or 'committed'. Got {kind!r}.")


@dataclass
class _KernelGroup:
    """Types that share a kernel and a recording surface (up to scale) in one query."""

    surface: FloatArray
    #: (type index, the scale its recording surface is ``surface`` times), in query order
    types: list[tuple[int, float]] = field(default_factory=list)


def load_truth_model(truth_dir: Path | str) -> TruthModel:
    """Read a truth model written by ``simcity.io.write_city`` (``<out>/truth``)."""
    truth_dir = Path(truth_dir)
    meta = read_json(truth_dir / "meta.json")
    if meta.get("format_version") != TRUTH_FORMAT_VERSION:
        raise ValueError(
            f"{truth_dir / 'meta.json'} has truth format version {meta.get('format_version')}; "
            f"this code reads version {TRUTH_FORMAT_VERSION}. Re-run the 'simulate' stage."
        )
    types = tuple(meta["types"])
    micro = pq.read_table(truth_dir / "micro_cells.parquet")
    factors = pq.read_table(truth_dir / "weekly_factors.parquet")
    hist = pq.read_table(truth_dir / "history.parquet")

    def col(table: pa.Table, name: str) -> npt.NDArray[Any]:
        return table.column(name).to_numpy()

    return TruthModel(
        types=types,
        origin=np.datetime64(meta["origin"], "D"),
        burn_in_weeks=int(meta["burn_in_weeks"]),
        n_weeks_total=int(meta["n_weeks_total"]),
        cells=col(micro, "h3_int").astype(np.uint64),
        lat=col(micro, "lat"),
        lon=col(micro, "lon"),
        x=col(micro, "x_m"),
        y=col(micro, "y_m"),
        background=np.vstack([col(micro, f"bg_{n}") for n in types]),
        weekly_factor=np.vstack([col(factors, f"factor_{n}") for n in types]),
        weekday_share=np.asarray(meta["weekday_share"], dtype=np.float64),
        record_prob=np.vstack([col(micro, f"rec_{n}") for n in types]),
        alpha=np.asarray(meta["alpha"], dtype=np.float64),
        repeat_share=np.asarray(meta["repeat_share"], dtype=np.float64),
        q_repeat=np.asarray(meta["q_repeat"], dtype=np.float64),
        q_near=np.asarray(meta["q_near"], dtype=np.float64),
        sigma_m=np.asarray(meta["sigma_m"], dtype=np.float64),
        truncation_sd=float(meta["truncation_sd"]),
        hist_type=col(hist, "type_code").astype(np.int8),
        hist_micro=col(hist, "micro_index").astype(np.int32),
        hist_day=col(hist, "day").astype(np.int32),
        episodes=episodes_from_tables(
            pq.read_table(truth_dir / "episodes.parquet"),
            pq.read_table(truth_dir / "episode_footprints.parquet"),
            meta["episodes"],
            n_micro=micro.num_rows,
            n_types=len(types),
        ),
    )
