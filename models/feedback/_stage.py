"""The ``feedback`` stage's work: every scenario on every seed, measured, as one typed report.

Seeds are histories of one city: the simulate stage's city (its geography and true risk) with its
crimes and their recording drawn from ``simulate.seed`` (the simulate stage's own events, event
for event), then ``simulate.seed + 1``, ``+ 2``, ... So districts and resident groups are the same
places in every seed, and each seed's closed and open loops are paired.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
import pandas as pd

from beatwise.artefacts.feedback import FeedbackReport, ScenarioResult
from beatwise.progress import progress, progress_workers
from features.build import CovariatesConfig
from features.engineering import FeatureConfig
from models.audit import AuditConfig
from models.feedback.city import CityRun, LoopSettings, city_history, run_city_scenario
from models.feedback.config import (
    CONFIGURED,
    MIN_GATE_WEEKS,
    FeedbackConfig,
    Scenario,
    build_scenarios,
    loop_model,
    loop_weeks,
)
from models.feedback.loop import LoopTrace
from models.feedback.measures import (
    GroupSet,
    RunArrays,
    ScenarioMeasures,
    group_set,
    scenario_measures,
)
from models.operational import OperationalConfig
from models.risk_model import RiskModelConfig
from simcity.config import CityConfig

logger = logging.getLogger(__name__)

#: the data source whose reports are the loop's own city (any other reads them as evidence)
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class FeedbackInputs:
    """Everything the stage reads from params, each section validated once by its owner."""

    feedback: FeedbackConfig
    features: FeatureConfig
    covariates: CovariatesConfig
    model: RiskModelConfig
    #: ``evaluate.refit_every``, in the pipeline's periods (the loop converts months to weeks)
    refit_every: int
    operational: OperationalConfig
    audit: AuditConfig
    city: CityConfig
    h3_resolution: int
    data_source: str


def _arrays(run: CityRun) -> tuple[RunArrays, RunArrays]:
    def one(trace: LoopTrace) -> RunArrays:
        return RunArrays(flags=trace.flags, harm=trace.committed, recorded=trace.recorded)

    return one(run.closed), one(run.open)


def _same_loops(runs: list[CityRun]) -> bool:
    return all(np.array_equal(r.closed.flags, r.open.flags) for r in runs)


class SeedProcessDiedError(OSError):
    """A process running the loop's seeds ended without a result (killed, most often for memory).

    An ``OSError``, so the stage prints its message, which names the param to change, instead of
    a traceback."""

    def __init__(self, workers: int) -> None:
        super().__init__(
            f"A process of the closed loop ended before its seed finished: {workers} processes "
            "ran seeds side by side, each holding a whole simulated city and its panel, and the "
            "usual cause is that the machine ran out of memory (about 1.5 GB each on the default "
            "city, 7 GB on the london_decade recipe). Set feedback.workers to fewer in "
            "params.yaml (1 runs the seeds one after another in the stage's own process)."
        )


def _seed_job(
    job: tuple[FeedbackInputs, LoopSettings, int | None, int | None],
) -> tuple[pd.DataFrame, dict[str, CityRun]]:
    """Every scenario on one seed: the study cells and each scenario's run. The last item of
    ``job`` is the line of the seed's progress bar (None: the next free one)."""
    inputs, settings, process_seed, line = job
    scenarios = build_scenarios(inputs.feedback, features=inputs.features, city=inputs.city)
    by_city: dict[str, list[Scenario]] = {}
    for s in scenarios:
        by_city.setdefault(s.city.model_dump_json(), []).append(s)
    out: dict[str, CityRun] = {}
    cells = None
    seed = inputs.city.seed if process_seed is None else process_seed
    with progress(
        desc=f"feedback loop weeks, seed {seed}",
        unit="week",
        total=len(scenarios) * 2 * settings.weeks,  # each scenario runs closed and open
        position=line,
    ) as bar:
        for group in by_city.values():
            history = city_history(group[0].city, settings, process_seed=process_seed)
            cells = history.cells if cells is None else cells
            for s in group:
                out[s.name] = run_city_scenario(s, settings, history, on_week=bar.update)
    assert cells is not None
    return cells, {s.name: out[s.name] for s in scenarios}


def run_feedback(
    inputs: FeedbackInputs,
    *,
    figure: str,
    workers: int | None = None,
    progress: Callable[[str], None] = logger.info,
) -> FeedbackReport:
    """Run every scenario closed and open on every seed and measure them (METRICS.md, G11).

    ``workers``: processes running seeds side by side (default: ``feedback.workers``, and when
    that is null one per seed, at most two per core); the report does not depend on it. A process
    that dies (for memory, most often) raises :class:`SeedProcessDiedError`, naming the param.
    """
    started = time.perf_counter()
    cfg = inputs.feedback
    scenarios = build_scenarios(cfg, features=inputs.features, city=inputs.city)
    # A monthly pipeline's refit cadence and model windows, in the loop's weeks (config.py).
    refit_every = loop_weeks(inputs.refit_every, features=inputs.features)
    settings = LoopSettings(
        weeks=cfg.weeks,
        dose=cfg.dose,
        refit_every=refit_every,
        coverage=inputs.operational.coverage,
        model=loop_model(inputs.model, features=inputs.features),
        static_covariates=tuple(inputs.covariates.static),
        h3_resolution=inputs.h3_resolution,
        policy=inputs.operational.policy,
    )
    process_seeds: list[int | None] = [None, *(inputs.city.seed + i for i in range(1, cfg.seeds))]
    runs: dict[str, list[CityRun]] = {s.name: [] for s in scenarios}
    cells = None
    # One process per seed by default, up to twice the cores: seeds take about as long each, so
    # three on two cores finish together instead of two rounds (measured: 95 s against 105 s).
    cores = os.cpu_count() or 1
    workers = workers or cfg.workers
    workers = max(1, min(len(process_seeds), workers if workers else 2 * cores))
    # Side by side, each process fits with one thread: the thread count changes how fast
    # LightGBM fits, not what it fits (tests/models/test_feedback_city.py), and two processes
    # of two threads would fight over two cores.
    job_settings = (
        settings
        if workers == 1
        else dataclasses.replace(
            settings, model=settings.model.model_copy(update={"num_threads": 1})
        )
    )
    # side by side, each seed's progress bar keeps a line of its own
    jobs = [
        (inputs, job_settings, p, i if workers > 1 else None) for i, p in enumerate(process_seeds)
    ]
    done: Iterator[tuple[pd.DataFrame, dict[str, CityRun]]]
    if workers == 1:
        done = map(_seed_job, jobs)
    else:
        # Seeds are independent: one process each, results in seed order whatever finishes first
        # (spawned, so no worker inherits a parent's threads).
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context, **progress_workers(context))
        done = pool.map(_seed_job, jobs)
    try:
        for seed_cells, seed_runs in done:
            cells = seed_cells if cells is None else cells
            for name, run in seed_runs.items():
                runs[name].append(run)
                progress(
                    f"scenario {name}, seed {run.seed}: closed and open loops of {cfg.weeks} "
                    f"weeks, {run.fits} model fits, {run.seconds:.0f} s"
                )
    except BrokenProcessPool as err:
        raise SeedProcessDiedError(workers) from err
    finally:
        if workers > 1:
            pool.shutdown()
    assert cells is not None
    groups = group_set(cells, inputs.audit.attributes)
    results = [_scenario_result(s, runs[s.name], groups=groups, inputs=inputs) for s in scenarios]
    configured = results[0]
    seeds = [inputs.city.seed if p is None else p for p in process_seeds]
    summary = configured.summary
    if _same_loops(runs[CONFIGURED]):
        summary = (
            "Under this configuration patrol cannot change what the forecast learns from: the "
            "closed loop flagged exactly the cells the open loop flagged, every week and seed. "
            + summary
        )
    status = configured.status
    if cfg.weeks < MIN_GATE_WEEKS and status == "PASS":
        status = "REVIEW"
        summary = (
            f"The loop ran {cfg.weeks} weeks, fewer than the {MIN_GATE_WEEKS} that METRICS.md "
            "asks of G11, so it cannot pass: it only shows the loop runs. " + summary
        )
    synthetic_only = inputs.data_source != SYNTHETIC
    return FeedbackReport(
        data_source=inputs.data_source,
        synthetic_evidence_only=synthetic_only,
        weeks=cfg.weeks,
        seeds=seeds,
        window=cfg.window,
        dose=cfg.dose,
        dose_basis=cfg.dose_basis,
        refit_every=refit_every,
        coverage=inputs.operational.coverage,
        band=inputs.audit.amplification_band,
        reporting_uplift=inputs.city.patrol_response.reporting_uplift,
        reporting_uplift_basis=inputs.city.patrol_response.basis,
        deterrence=inputs.city.patrol_response.deterrence,
        min_flagged_cell_weeks=int(inputs.audit.min_flagged_cell_periods),
        min_residents=inputs.audit.min_residents,
        scenarios=results,
        status=status,
        summary=summary,
        seconds=round(time.perf_counter() - started, 1),
        figure=figure,
    )


def _scenario_result(
    scenario: Scenario,
    runs: list[CityRun],
    *,
    groups: GroupSet,
    inputs: FeedbackInputs,
) -> ScenarioResult:
    pairs = [_arrays(r) for r in runs]
    m: ScenarioMeasures = scenario_measures(
        [c for c, _ in pairs],
        [o for _, o in pairs],
        groups=groups,
        true_risk=runs[0].true_risk,
        window=inputs.feedback.window,
        band=inputs.audit.amplification_band,
        min_flagged_cell_weeks=int(inputs.audit.min_flagged_cell_periods),
        min_residents=inputs.audit.min_residents,
    )
    return ScenarioResult(
        name=scenario.name,
        label=scenario.label,
        configured=scenario.name == CONFIGURED,
        target_types=list(scenario.features.target_types),
        police_activity_features=scenario.features.police_activity_features,
        over_policing=scenario.over_policing,
        downweight_discovered=scenario.downweight_discovered,
        max_consecutive_weeks=scenario.max_consecutive_weeks,
        groups=m.groups,
        concentration=m.concentration,
        recorded_in_flagged_ratio=m.recorded_in_flagged_ratio,
        status=m.status,
        summary=m.summary,
        seconds=round(sum(r.seconds for r in runs), 1),
    )
