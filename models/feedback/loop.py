"""A closed feedback loop between a forecast and what patrol records, generic over both.

Recorded crime partly reflects where police were sent, and the forecast learns from recorded
crime (Ensign et al. 2018, "Runaway feedback loops in predictive policing"). :func:`run_loop`
plays that loop period by period over a fixed set of *units* (areas, H3 cells):

1. **forecast**: the forecaster scores every unit from the history of earlier periods only;
2. **allocate**: the allocator flags units from the scores (top-k, or a random draw) and says
   how likely each unit was to be flagged;
3. **dose**: flags become a patrol level per unit (:func:`patrol_dose`); in an *open* loop the
   recorder gets the patrol of no flags instead, so flags never reach the data;
4. **observe**: the recorder returns what was recorded under that patrol, the true committed
   harm (kept from the forecaster) and any payload (the week's events, say);
5. **append**: the period joins the history the next forecast sees.

Everything pluggable is a plain callable (:class:`Forecaster`, :class:`Allocator`,
:class:`Recorder`), so the same machinery drives a two-area urn in the tests and the pipeline's
own model on the synthetic city. Randomness: period ``t``'s allocator and recorder each get a
generator seeded by ``(seed, role, t)``, so a seed gives the same run and no period's random
numbers depend on what earlier periods drew; they see earlier periods only through the history.
The forecaster sees read-only arrays of the periods before ``t`` (and any prior periods given
to start the loop); committed harm never reaches it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: spawn keys of the per-period generators: one role each, so adding a role moves no stream
_ALLOCATOR, _RECORDER = 0, 1


@dataclass(frozen=True)
class Allocation:
    """A period's flags and each unit's probability of being flagged (1 or 0 when chosen
    deterministically), for estimators that weight what patrol found by it."""

    flags: BoolArray
    probability: FloatArray


@dataclass(frozen=True)
class Observation:
    """What one period recorded per unit, the true committed harm per unit, and a payload."""

    recorded: FloatArray
    committed: FloatArray
    payload: Any = None


@dataclass(frozen=True)
class LoopHistory:
    """What the forecaster may see: the periods before the one being forecast, ``[period, unit]``.

    ``prior`` leading rows are the history given to start the loop (no flags, baseline patrol,
    probability 0); arrays are read-only views. ``payloads`` holds one payload per period (the
    prior's as given, then each recorder's), for forecasters that need more than one number per
    unit (the pipeline's model reads counts by crime type).
    """

    recorded: FloatArray
    flags: BoolArray
    probability: FloatArray
    patrol: FloatArray
    prior: int
    payloads: tuple[Any, ...] = ()

    @property
    def n_periods(self) -> int:
        return int(self.recorded.shape[0])


class Forecaster(Protocol):
    def __call__(self, history: LoopHistory, /) -> FloatArray:
        """A score per unit for the next period (higher = more risk)."""
        ...


class Allocator(Protocol):
    def __call__(self, scores: FloatArray, /, *, rng: np.random.Generator) -> Allocation:
        """Flags for the next period from the forecaster's scores."""
        ...


class Recorder(Protocol):
    def __call__(
        self, patrol: FloatArray, /, *, period: int, rng: np.random.Generator
    ) -> Observation:
        """Simulate period ``period`` (0-based in the loop) under ``patrol`` (one per unit)."""
        ...


@dataclass(frozen=True)
class LoopTrace:
    """A whole run, ``[period, unit]`` per array (loop periods only, the prior excluded)."""

    scores: FloatArray
    flags: BoolArray
    probability: FloatArray
    patrol: FloatArray
    recorded: FloatArray
    committed: FloatArray
    payloads: list[Any] = field(repr=False)
    closed: bool

    @property
    def n_periods(self) -> int:
        return int(self.flags.shape[0])


def patrol_dose(*, flagged: float, elsewhere: float = 1.0) -> Callable[[BoolArray], FloatArray]:
    """The dose: patrol ``flagged`` in flagged units and ``elsewhere`` in the others (multiples of
    the baseline patrol; Ensign's urn sends its one patrol to the flagged area: 1 and 0)."""
    if not (np.isfinite(flagged) and np.isfinite(elsewhere) and flagged >= 0 and elsewhere >= 0):
        raise ValueError(
            f"patrol_dose needs finite, non-negative patrol levels. Got flagged={flagged}, "
            f"elsewhere={elsewhere}."
        )

    def dose(flags: BoolArray) -> FloatArray:
        return np.where(flags, float(flagged), float(elsewhere))

    return dose


def flag_top_k(k: int) -> Allocator:
    """Flag the ``k`` highest scores; ties go to the lower unit index (as the pipeline's ranking
    breaks ties by cell id)."""
    if k < 1:
        raise ValueError(f"flag_top_k needs k >= 1. Got {k}.")

    def allocate(scores: FloatArray, *, rng: np.random.Generator) -> Allocation:
        order = np.lexsort((np.arange(scores.size), -scores))
        flags = np.zeros(scores.size, dtype=bool)
        flags[order[:k]] = True
        return Allocation(flags=flags, probability=flags.astype(np.float64))

    return allocate


def draw_one_in_proportion() -> Allocator:
    """Flag one unit drawn with probability proportional to its score (Ensign's urn: the police
    go where a ball drawn from the urn of recorded incidents says)."""

    def allocate(scores: FloatArray, *, rng: np.random.Generator) -> Allocation:
        total = float(scores.sum())
        if not (np.all(scores >= 0) and np.isfinite(total) and total > 0):
            raise ValueError(
                "draw_one_in_proportion needs non-negative scores with a positive, finite sum. "
                f"Got sum {total} and minimum {float(scores.min())}."
            )
        probability = scores / total
        flags = np.zeros(scores.size, dtype=bool)
        flags[rng.choice(scores.size, p=probability)] = True
        return Allocation(flags=flags, probability=probability)

    return allocate


def run_loop(
    *,
    n_units: int,
    n_periods: int,
    forecaster: Forecaster,
    allocator: Allocator,
    dose: Callable[[BoolArray], FloatArray],
    recorder: Recorder,
    seed: int,
    prior_recorded: npt.ArrayLike | None = None,
    prior_payloads: Sequence[Any] | None = None,
    closed: bool = True,
    on_period: Callable[[], object] | None = None,
) -> LoopTrace:
    """Run the loop for ``n_periods`` periods over ``n_units`` units.

    Parameters
    ----------
    prior_recorded
        ``[period, unit]`` (or one row ``[unit]``) recorded before the loop starts, shown to the
        forecaster ahead of the loop's own periods.
    prior_payloads
        One payload per prior period (``LoopHistory.payloads``); default None for each.
    closed
        False runs the open loop: the recorder gets the patrol of no flags every period, so the
        forecast never changes what is recorded (flags and scores are still traced).
    on_period
        Called after each period (a progress bar's update); it sees nothing of the loop.

    Refuses a forecaster, allocator, dose or recorder whose arrays do not hold one value per unit.
    """
    if n_units < 1 or n_periods < 0:
        raise ValueError(
            f"run_loop needs n_units >= 1 and n_periods >= 0. Got {n_units} and {n_periods}."
        )
    prior = np.zeros((0, n_units)) if prior_recorded is None else np.asarray(prior_recorded, float)
    prior = prior.reshape(-1, n_units) if prior.ndim == 1 else prior
    if prior.ndim != 2 or prior.shape[1] != n_units:
        raise ValueError(
            f"prior_recorded must be [period, unit] with {n_units} units. Got shape {prior.shape}."
        )
    p0, total = prior.shape[0], prior.shape[0] + n_periods
    seen: list[Any] = [None] * p0 if prior_payloads is None else list(prior_payloads)
    if len(seen) != p0:
        raise ValueError(
            f"prior_payloads must hold one payload per prior period ({p0}). Got {len(seen)}."
        )
    recorded = np.zeros((total, n_units))
    recorded[:p0] = prior
    flags = np.zeros((total, n_units), dtype=bool)
    probability = np.zeros((total, n_units))
    baseline = _per_unit(dose(np.zeros(n_units, dtype=bool)), n_units, "dose")
    patrol = np.tile(baseline, (total, 1))
    scores = np.zeros((n_periods, n_units))
    committed = np.zeros((n_periods, n_units))
    payloads: list[Any] = []
    root = np.random.SeedSequence(seed)
    for t in range(n_periods):
        row = p0 + t
        history = LoopHistory(
            recorded=_read_only(recorded[:row]),
            flags=_read_only(flags[:row]),
            probability=_read_only(probability[:row]),
            patrol=_read_only(patrol[:row]),
            prior=p0,
            payloads=tuple(seen),
        )
        scores[t] = _per_unit(forecaster(history), n_units, "forecaster")
        alloc = allocator(scores[t].copy(), rng=_generator(root, _ALLOCATOR, t))
        flags[row] = _per_unit(alloc.flags, n_units, "allocator flags").astype(bool)
        probability[row] = _per_unit(alloc.probability, n_units, "allocator probability")
        if closed:
            patrol[row] = _per_unit(dose(flags[row].copy()), n_units, "dose")
        obs = recorder(patrol[row].copy(), period=t, rng=_generator(root, _RECORDER, t))
        recorded[row] = _per_unit(obs.recorded, n_units, "recorder recorded")
        committed[t] = _per_unit(obs.committed, n_units, "recorder committed")
        payloads.append(obs.payload)
        seen.append(obs.payload)
        if on_period is not None:
            on_period()
    kind = "closed" if closed else "open"
    logger.debug("Ran a %s loop: %d periods x %d units (prior %d)", kind, n_periods, n_units, p0)
    return LoopTrace(
        scores=scores,
        flags=flags[p0:],
        probability=probability[p0:],
        patrol=patrol[p0:],
        recorded=recorded[p0:],
        committed=committed,
        payloads=payloads,
        closed=closed,
    )


def _generator(root: np.random.SeedSequence, role: int, period: int) -> np.random.Generator:
    child = np.random.SeedSequence(root.entropy, spawn_key=(role, period))
    return np.random.default_rng(child)


def _read_only(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view = a.view()
    view.flags.writeable = False
    return view


def _per_unit(values: npt.ArrayLike, n_units: int, what: str) -> FloatArray:
    arr = np.asarray(values)
    if arr.shape != (n_units,):
        raise ValueError(
            f"The {what} must give one value per unit, shape ({n_units},). Got shape {arr.shape}."
        )
    return arr.astype(np.float64, copy=False)
