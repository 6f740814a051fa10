"""The pipeline's own forecast in a closed loop with the synthetic city.

:func:`run_city_scenario` plays one scenario for one seed, closed and open, with the generic
machinery of :mod:`models.feedback.loop`. The pieces are the stages' own code:

- **forecaster**: the ``build_features`` stage's table (:func:`features.engineering.
  build_feature_table`, from the recorded counts per crime type and cell of every week before the
  one forecast) and the ``train`` stage's model (:func:`models.risk_model.fit_risk_model`),
  refitted every ``evaluate.refit_every`` weeks on the labelled weeks (the latest
  ``train.history_periods`` when set), as the backtest does;
- **allocator**: the ``publish`` stage's flags (:func:`models.metrics.ranking.flag_top_area` at
  ``operational.coverage``, or :func:`models.allocation.flag_with_policy` when a policy is
  declared), optionally with a cap on consecutive weeks;
- **recorder**: :class:`simcity.loop.CityStepper` under the week's patrol (the dose in flagged
  cells); each event is counted in the study cell holding its coordinates, as ``build_cells`` does.

The city's weeks before the loop are its history: stepped under the static patrol, they are the
simulate stage's events for the same seed. The closed and open loops fork from the stepper after
that history and share the first model (fitted on the same weeks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.taxonomy import POLICE_ACTIVITY_TYPES
from features.cells import CellsConfig, build_cells
from features.engineering import FeatureConfig, build_feature_table
from models.allocation import AllocationPolicy, flag_with_policy, policy_codes
from models.feedback.config import Scenario
from models.feedback.loop import (
    Allocation,
    Allocator,
    LoopHistory,
    LoopTrace,
    Observation,
    patrol_dose,
    run_loop,
)
from models.metrics.ranking import flag_top_area
from models.risk_model import RiskModel, RiskModelConfig, fit_risk_model
from simcity.config import CityConfig
from simcity.episodes import delta_matrix
from simcity.loop import CityStepper

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LoopSettings:
    """What every scenario shares: the pipeline's params the loop reads."""

    weeks: int
    dose: float
    refit_every: int
    coverage: float
    model: RiskModelConfig
    static_covariates: tuple[str, ...]
    h3_resolution: int
    policy: AllocationPolicy | None = None


#: what the loop reads of a history week's committed events (``_Counts.of_week``)
HISTORY_COLUMNS: Final[tuple[str, ...]] = ("crime_type", "micro_cell", "recorded")


@dataclass(frozen=True)
class CityHistory:
    """A city of one seed stepped through its weeks before the loop, under the static patrol
    (the simulate stage's events), and its study cells. Scenarios on the same city share it:
    each loop forks ``stepper``."""

    seed: int
    stepper: CityStepper
    #: each week's committed events, the three columns the loop counts from (``crime_type``,
    #: ``micro_cell``, ``recorded``) of ``CityWeek.committed``. Neither the weeks' recorded-event
    #: frames nor the committed frames' other columns are kept: at London's volume over a decade
    #: they held 1.3 and 0.9 GiB of a seed's process
    committed: list[pd.DataFrame]
    cells: pd.DataFrame


@dataclass(frozen=True)
class CityRun:
    """One scenario and seed: the closed and the open loop, and the city's true risk per cell."""

    seed: int
    closed: LoopTrace
    open: LoopTrace
    true_risk: FloatArray
    fits: int
    seconds: float


class _Counts:
    """Events of one week per crime type and study cell, from the stepper's committed events."""

    def __init__(self, stepper: CityStepper, cells: pd.DataFrame, scenario: Scenario) -> None:
        self.types = stepper.intensity.types
        features = scenario.features
        self.payload_types = tuple(
            dict.fromkeys((*features.target_types, *features.per_type_feature_types))
        )
        self.payload_index = np.array([self.types.index(t) for t in self.payload_types])
        self.target_index = np.array([self.types.index(t) for t in features.target_types])
        self.police = np.array([t in POLICE_ACTIVITY_TYPES for t in self.types])
        self.cell_of_micro = stepper.cell_index(cells["h3_int"].to_numpy(dtype=np.uint64))
        self.n_cells = len(cells)
        self.micro_cells = stepper.cells

    def kind_micro(
        self, committed: pd.DataFrame
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each committed event's type index and micro-cell index."""
        kind = committed["crime_type"].cat.codes.to_numpy(np.int64)
        micro = np.searchsorted(self.micro_cells, committed["micro_cell"].to_numpy(np.uint64))
        return kind, micro.astype(np.int64)

    def of_week(
        self, committed: pd.DataFrame, *, keep: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Counts ``[type, cell]`` of recorded events, of recorded events kept (``keep``: one
        per committed event) and of committed events."""
        kind, micro = self.kind_micro(committed)
        cell = self.cell_of_micro[micro]
        inside = cell >= 0
        flat = kind * self.n_cells + np.where(inside, cell, 0)
        size = len(self.types) * self.n_cells
        shape = (len(self.types), self.n_cells)
        rec = committed["recorded"].to_numpy(bool) & inside

        def count(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
            return np.bincount(flat[mask], minlength=size).reshape(shape)

        recorded = count(rec)
        kept = recorded if keep is None else count(rec & keep)
        return recorded, kept, count(inside)


class PipelineForecaster:
    """The ``build_features`` table and the ``train`` model, refitted every ``refit_every``
    loop weeks on the labelled weeks of the history it is shown (the latest
    ``train.history_periods`` of them when set)."""

    def __init__(
        self,
        *,
        cells: pd.DataFrame,
        features: FeatureConfig,
        settings: LoopSettings,
        payload_types: Sequence[str],
        first_week: np.datetime64,
        model: RiskModel | None = None,
    ) -> None:
        self.cells = cells
        self.features = features
        self.settings = settings
        self.payload_types = tuple(payload_types)
        self.first_week = first_week
        self.model = model
        self.fits = 0
        self._buffer: npt.NDArray[np.int32] | None = None
        self._filled = 0

    def _counts(self, history: LoopHistory) -> dict[str, npt.NDArray[np.int32]]:
        """The history's counts per type, ``[period, cell]`` each, contiguous. The history only
        grows, so each call copies in the periods it has not seen yet."""
        n = len(history.payloads)
        if self._buffer is None or n > self._buffer.shape[1] or n < self._filled:
            first = np.asarray(history.payloads[0])
            self._buffer = np.zeros((first.shape[0], max(n, 1) + 64, first.shape[1]), np.int32)
            self._filled = 0
        for t in range(self._filled, n):  # one copy per new period, not per week's history
            self._buffer[:, t] = history.payloads[t]
        self._filled = n
        return {t: self._buffer[j, :n] for j, t in enumerate(self.payload_types)}

    def _table(self, history: LoopHistory, *, first_row: int | None) -> tuple[pd.DataFrame, dict]:
        n = len(history.payloads)
        periods = self.first_week + np.arange(n) * np.timedelta64(7, "D")
        static = self.cells[["h3_int", *self.settings.static_covariates]]
        return build_feature_table(
            self._counts(history),
            cell_ids=self.cells["h3_int"].to_numpy(dtype=np.uint64),
            periods=periods.astype("datetime64[ns]"),
            period="week",
            static=static,
            config=self.features,
            first_row=first_row,
        )

    def fit(self, history: LoopHistory) -> RiskModel:
        """The model the train stage would fit on this history: on every labelled week, or on
        the latest ``train.history_periods`` of them (only their rows are built)."""
        window = self.settings.model.history_periods
        first_row = None
        if window is not None:
            first_row = max(len(history.payloads) - window, self.features.min_history_periods)
        table, meta = self._table(history, first_row=first_row)
        labelled = table[table["target_count"].notna()]
        self.fits += 1
        model = self.settings.model  # the loop's panel has no places: their prefixes match none
        columns = model.model_columns(meta["feature_columns"], strict=False)
        return fit_risk_model(labelled, feature_columns=columns, config=model)

    def __call__(self, history: LoopHistory, /) -> FloatArray:
        week = history.n_periods - history.prior
        if self.model is None or (week > 0 and week % self.settings.refit_every == 0):
            self.model = self.fit(history)
        row, _ = self._table(history, first_row=len(history.payloads))
        return self.model.predict(row)


def pipeline_allocator(
    cells: pd.DataFrame,
    *,
    coverage: float,
    policy: AllocationPolicy | None,
    max_consecutive_weeks: int | None,
) -> Allocator:
    """The publish stage's flags; with a cap, a cell flagged ``max_consecutive_weeks`` weeks
    running ranks last for one week (its streak then starts again)."""
    areas = cells["area_km2"].to_numpy(dtype=np.float64)
    ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    codes = np.zeros(len(cells), dtype=np.int64) if policy is None else policy_codes(policy, cells)
    streak = np.zeros(len(cells), dtype=np.int64)

    def allocate(scores: FloatArray, *, rng: np.random.Generator) -> Allocation:
        nonlocal streak
        s = scores.copy()
        if max_consecutive_weeks is not None:
            s[streak >= max_consecutive_weeks] = -1.0  # below every expected count
        if policy is None:
            flags = flag_top_area(s[None, :], areas_km2=areas, cell_ids=ids, coverage=coverage)[0]
        else:
            flags = flag_with_policy(
                s[None, :],
                areas_km2=areas,
                cell_ids=ids,
                coverage=coverage,
                codes=codes,
                max_share=policy.max_share,
            )[0]
        streak = np.where(flags, streak + 1, 0)
        return Allocation(flags=flags, probability=flags.astype(np.float64))

    return allocate


class CityRecorder:
    """One week of the city under the loop's patrol per study cell (a multiple of baseline)."""

    def __init__(self, stepper: CityStepper, counts: _Counts, *, downweight: bool) -> None:
        self.stepper = stepper
        self.counts = counts
        self.downweight = downweight

    def __call__(
        self, patrol: FloatArray, /, *, period: int, rng: np.random.Generator
    ) -> Observation:
        c = self.counts
        mult = np.where(c.cell_of_micro >= 0, patrol[np.maximum(c.cell_of_micro, 0)], 1.0)
        week = self.stepper.step(mult)
        keep = None
        if self.downweight:
            # Ensign et al.'s remedy: a police-found offence counts with probability 1/dose
            kind, micro = c.kind_micro(week.committed)
            u = rng.random(kind.size)
            keep = ~c.police[kind] | (u * mult[micro] < 1.0)
        recorded, kept, committed_counts = c.of_week(week.committed, keep=keep)
        return Observation(
            recorded=recorded[c.target_index].sum(axis=0).astype(np.float64),
            committed=committed_counts[c.target_index].sum(axis=0).astype(np.float64),
            payload=kept[c.payload_index].astype(np.int32),
        )


def true_risk(
    stepper: CityStepper, cells: pd.DataFrame, target_types: Sequence[str], *, weeks: int
) -> FloatArray:
    """Each cell's true background rate of the target over the loop's weeks (self-excitation
    aside), the hot spots that emerge and fade included: the cells of highest true risk, against
    which flags outside them are counted."""
    model = stepper.intensity
    k = np.array([model.types.index(t) for t in target_types])
    w = model.burn_in_weeks + stepper.n_weeks - weeks + np.arange(weeks)
    per_micro = (model.background[k] * model.weekly_factor[k][:, w].sum(axis=1)[:, None]).sum(
        axis=0
    )
    for kk in k:  # the episodes' M - 1, weighted by the weekly factor (a few target types)
        shift = delta_matrix(model.episodes, int(kk), w) @ model.weekly_factor[kk, w]
        per_micro += model.background[kk] * shift
    idx = stepper.cell_index(cells["h3_int"].to_numpy(dtype=np.uint64))
    hit = idx >= 0
    return np.bincount(idx[hit], weights=per_micro[hit], minlength=len(cells)).astype(np.float64)


def city_history(
    city: CityConfig, settings: LoopSettings, *, process_seed: int | None = None
) -> CityHistory:
    """Step the city of ``city.seed`` through the weeks before the loop, its crimes drawn from
    ``process_seed`` (None: the simulate stage's own, event for event)."""
    stepper = CityStepper(city, process_seed=process_seed)
    prior_weeks = stepper.n_weeks - settings.weeks
    if prior_weeks < 1:
        raise ValueError(
            f"feedback.weeks={settings.weeks} leaves no history in a city of "
            f"simulate.n_weeks={stepper.n_weeks} weeks."
        )
    committed = [stepper.step().committed[list(HISTORY_COLUMNS)] for _ in range(prior_weeks)]
    geo = stepper.geography
    # The study cells from the areas and every place an event can happen (the micro-cells),
    # so they are the same for every history of the city.
    places = pd.DataFrame({"latitude": geo.lat, "longitude": geo.lon})
    cells = build_cells(
        places,
        geo.areas,
        config=CellsConfig(h3_resolution=settings.h3_resolution),
        source="synthetic",
    ).cells
    seed = city.seed if process_seed is None else process_seed
    return CityHistory(seed=seed, stepper=stepper, committed=committed, cells=cells)


def run_city_scenario(
    scenario: Scenario,
    settings: LoopSettings,
    history: CityHistory,
    *,
    on_week: Callable[[], object] | None = None,
) -> CityRun:
    """Run ``scenario`` on a city's history: the closed loop and the open loop, from one model
    fitted on the history (as the first backtest block would be). ``on_week`` is called after
    each week of either loop (a progress bar's update)."""
    started = time.perf_counter()
    cells, prior_weeks = history.cells, len(history.committed)
    counts = _Counts(history.stepper, cells, scenario)
    prior_payloads = [
        counts.of_week(week)[0][counts.payload_index].astype(np.int32) for week in history.committed
    ]
    n_target = len(scenario.features.target_types)
    prior_recorded = np.array([p[:n_target].sum(axis=0) for p in prior_payloads], dtype=float)
    first_week = np.datetime64(scenario.city.start, "D")

    def forecaster(model: RiskModel | None) -> PipelineForecaster:
        return PipelineForecaster(
            cells=cells,
            features=scenario.features,
            settings=settings,
            payload_types=counts.payload_types,
            first_week=first_week,
            model=model,
        )

    first = forecaster(None)
    shared_model = first.fit(
        LoopHistory(
            recorded=prior_recorded,
            flags=np.zeros(prior_recorded.shape, dtype=bool),
            probability=np.zeros(prior_recorded.shape),
            patrol=np.ones(prior_recorded.shape),
            prior=prior_weeks,
            payloads=tuple(prior_payloads),
        )
    )
    traces: dict[bool, LoopTrace] = {}
    fits = first.fits
    for closed in (True, False):
        f = forecaster(shared_model)
        traces[closed] = run_loop(
            n_units=len(cells),
            n_periods=settings.weeks,
            forecaster=f,
            allocator=pipeline_allocator(
                cells,
                coverage=settings.coverage,
                policy=settings.policy,
                max_consecutive_weeks=scenario.max_consecutive_weeks,
            ),
            dose=patrol_dose(flagged=settings.dose, elsewhere=1.0),
            recorder=CityRecorder(
                history.stepper.fork(), counts, downweight=scenario.downweight_discovered
            ),
            seed=history.seed,
            prior_recorded=prior_recorded,
            prior_payloads=prior_payloads,
            closed=closed,
            on_period=on_week,
        )
        fits += f.fits
    seconds = time.perf_counter() - started
    logger.info(
        "scenario %s, seed %d: %d cells, %d history weeks + %d loop weeks closed and open, "
        "%d fits, %.1f s",
        scenario.name, history.seed, len(cells), prior_weeks, settings.weeks, fits, seconds,
    )  # fmt: skip
    return CityRun(
        seed=history.seed,
        closed=traces[True],
        open=traces[False],
        true_risk=true_risk(
            history.stepper, cells, scenario.features.target_types, weeks=settings.weeks
        ),
        fits=fits,
        seconds=seconds,
    )
