"""The ground truth: the expected count per H3 cell, week and crime type, given the past.

For week ``w`` (Monday 00:00 to the next Monday) the truth is ``E[events of type k in micro-cell
m during w | every event before w]``: the week's background ``background[k, m] ·
weekly_factor[k, w]``, the offspring that earlier events send into the week, *and* the
offspring of all of these inside the same week (the within-week cascade), so it is calibrated.

An offspring is a *repeat* (same micro-cell, geometric day delay with daily survival
``q_repeat``) with probability ``repeat_share`` and otherwise a *near repeat* (micro-cell drawn
from the Gaussian kernel ``K`` of ``simcity.kernel``, delay with survival ``q_near``); each event
has ``α_k`` offspring on average, delays are whole days ``>= 1`` counted from the parent's day.
Pending excitation: ``P(delay = d) = q^(d-1)(1 - q)``, so earlier events send ``q^(j-1)(1 - q)
· Σ_e q^(7w - day_e)`` offspring per unit into day ``j`` of week ``w``, and the sums are one
sparse product for all requested weeks. Within the week, events of day ``i`` have offspring on
day ``j > i`` (delay ``j - i``); the background's days follow the type's weekday shares. A
7-step scalar recursion over the days gives, for each source (background, pending repeats,
pending near repeats), its expected weekly count split by the number ``p`` of near-repeat steps
taken, so the week's expectation is ``Σ_p Kᵀᵖ U_p``: a Horner chain of sparse kernel products.
Chains of more than ``max_kernel_power`` near steps inside one week (a few in 10^5 of the mass)
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
from simcity.config import MICRO_RESOLUTION
from simcity.episodes import Episodes, delta_matrix, episodes_from_tables, episodes_to_tables
from simcity.kernel import build_kernels

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
TRUTH_FORMAT_VERSION = 3
#: Near-repeat steps tracked separately inside a week; the (tiny) mass of longer chains is spread
#: by this power of the kernel instead of a higher one, so totals stay exact (see the module doc).
MAX_KERNEL_POWER = 2
#: Most near-repeat steps a chain can take from before a week to its end (delays are >= 1 day).
_FULL_KERNEL_POWER = 7


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
        if kind not in ("recorded", "committed"):
            raise ValueError(f"kind must be 'recorded' or 'committed'. Got {kind!r}.")
        cell_arr = np.asarray(cells, dtype=np.uint64).ravel()
        w_idx = self._week_index(week_starts)
        k_idx = self._type_index(crime_types)
        uniq, inverse = np.unique(cell_arr, return_inverse=True)
        projector = self._projector(uniq)  # [micro, unique cell]
        out = np.zeros((w_idx.size, uniq.size))
        if uniq.size == 0 or w_idx.size == 0 or k_idx.size == 0:
            return out[:, inverse]
        recorded = kind == "recorded"

        # Each type's weekly expectation per micro-cell is Σ_p Kᵀᵖ U_p, where U_p combines three
        # sources (the week's background, pending repeat and pending near-repeat excitation of
        # earlier events) with the scalar weights of the within-week recursion
        # (``_cascade_weights``). Every source is a sparse [micro, column] block times a dense
        # [column, week] coefficient, so U_p is one sparse product per kernel group, and types
        # sharing a kernel and a recording surface (up to scale) share one Horner chain in Kᵀ.
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
            blocks, coefs = self._group_sources(group, w_idx)
            sources = sparse.hstack(blocks, format="csc")  # [micro, column]
            coef = np.concatenate(coefs, axis=1)  # [power, column, week]
            del blocks, coefs
            top = int(np.flatnonzero(np.any(coef != 0, axis=(1, 2)))[-1])
            spread = sources @ coef[top]  # [micro, week]
            for power in range(top - 1, -1, -1):  # Horner: U_0 + Kᵀ(U_1 + Kᵀ(U_2 ...))
                spread = self._kernel_t(sigma) @ spread + sources @ coef[power]
            out += (projector.T @ (spread * group.surface[:, None])).T
        return out[:, inverse]

    def _group_sources(
        self, group: _KernelGroup, w_idx: npt.NDArray[np.int64]
    ) -> tuple[list[sparse.csc_array], list[FloatArray]]:
        """A kernel group's sources, sparse ``[micro, column]`` blocks by columns, and their
        coefficients ``[power, column, week]``, type by type in the group's order."""
        blocks: list[sparse.csc_array] = []
        coefs: list[FloatArray] = []
        for k, scale in group.types:
            weights = scale * self._cascade_weights(k)  # [source, power]
            blocks.append(sparse.csc_array(self.background[k][:, None]))
            coefs.append(weights[0][:, None, None] * self.weekly_factor[k, w_idx])
            # Episodes: the background's change, background · weekly · (M - 1), one column per
            # requested week, sent through the same cascade weights.
            delta = delta_matrix(self.episodes, k, w_idx).tocoo()
            if delta.nnz:
                values = delta.data * self.background[k][delta.row]
                values *= self.weekly_factor[k, w_idx][delta.col]
                block = sparse.csr_array((values, (delta.row, delta.col)), shape=delta.shape)
                blocks.append(block.tocsc())
                coefs.append(weights[0][:, None, None] * np.eye(w_idx.size)[None])
            for source, q in ((1, self.q_repeat[k]), (2, self.q_near[k])):
                parts = self._pending(k, w_idx, float(q))
                if parts is not None:
                    blocks.append(parts[0].tocsc())
                    coefs.append(weights[source][:, None, None] * parts[1][None])
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
    def _cascade_weights(self, k: int) -> FloatArray:
        """Weights ``[source, power]`` of type ``k``'s expected weekly count, cascade included.

        Sources: 0 = the background of the week (per unit of ``background · weekly_factor``),
        1 = pending repeat excitation, 2 = pending near-repeat excitation (per unit of
        ``_pending``). Power ``p`` = the number of near-repeat steps, i.e. the weight goes with
        ``Kᵀᵖ``. Day ``j`` (0 = Monday) of the week receives the source's first events (background
        by the weekday share; an earlier event's offspring with ``P(delay = d) = q^(d-1)(1 - q)``,
        and pending sums hold ``q^(7w - day)``, so day ``j`` gets ``q^(j-1)(1 - q)`` per unit);
        each event on day ``i`` has ``α`` offspring of which those with delay ``j - i <= 6 - i``
        land on day ``j`` of the same week. The recursion runs over the 7 days, so it is exact;
        powers above ``max_kernel_power`` are folded into it (same mass, slightly narrower).
        """
        alpha, rs = float(self.alpha[k]), float(self.repeat_share[k])
        q_r, q_n = float(self.q_repeat[k]), float(self.q_near[k])
        days = np.arange(7)
        x = np.zeros((3, 7, _FULL_KERNEL_POWER + 1))
        x[0, :, 0] = self.weekday_share[k]
        if alpha > 0 and q_r > 0:
            x[1, :, 0] = alpha * rs * q_r ** (days - 1.0) * (1.0 - q_r)
        if alpha > 0 and q_n > 0:
            x[2, :, 1] = alpha * (1.0 - rs) * q_n ** (days - 1.0) * (1.0 - q_n)
        lag = np.arange(1, 7)
        c_r = alpha * rs * q_r ** (lag - 1.0) * (1.0 - q_r)  # P(repeat child, delay = lag)
        c_n = alpha * (1.0 - rs) * q_n ** (lag - 1.0) * (1.0 - q_n)
        for j in range(1, 7):  # days of the week: a 7-step scalar recursion
            before = x[:, :j, :][:, ::-1, :]  # days j-1, ..., 0 (lags 1..j)
            x[:, j, :] += np.einsum("l,slp->sp", c_r[:j], before)
            x[:, j, 1:] += np.einsum("l,slp->sp", c_n[:j], before[:, :, :-1])
        total = x.sum(axis=1)
        cap = max(int(self.max_kernel_power), 1)
        total[:, cap] += total[:, cap + 1 :].sum(axis=1)
        return total[:, : cap + 1]

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

    def _pending(
        self, k: int, w_idx: npt.NDArray[np.int64], q: float
    ) -> tuple[sparse.csr_array, FloatArray] | None:
        """Type-k events before each week as ``(E, D)``: ``E @ D`` = Σ q^(7w - day) [micro, week].

        ``E[s, we]`` sums ``q^(7(we+1) - day)`` over the events of history week ``we`` in
        micro-cell ``s`` (each event's weight at the end of its own week) and ``D[we, w]`` decays
        it to the start of week ``w`` (zero unless ``we < w``). None when nothing is pending.
        """
        if q <= 0 or self.alpha[k] <= 0:
            return None
        sel = self.hist_type == k
        day = self.hist_day[sel].astype(np.int64)
        keep = day < 7 * int(w_idx.max())
        day, micro = day[keep], self.hist_micro[sel][keep].astype(np.int64)
        if day.size == 0:
            return None
        ev_week = day // 7
        n_hist = int(ev_week.max()) + 1
        e_mat = sparse.csr_array(
            (q ** (7 * (ev_week + 1) - day), (micro, ev_week)), shape=(self.cells.size, n_hist)
        )
        lag = w_idx[None, :] - np.arange(n_hist)[:, None] - 1  # weeks between
        decay = np.where(lag >= 0, q ** (7.0 * np.maximum(lag, 0)), 0.0)
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
