"""``run_audit``: one flagged set over the backtest periods, judged against gates G1-G9.

The steps, each a function of its own module: check the arrays and the cells' populations
(``_arrays``), sum the flagged set per cell and draw the bootstrap's week weights, compute the
figures by group and by stratum (``_figures``), judge the gates (``_gates``), and gather the result
(``_result``). G10 waits for the rendered documents (``AuditResult.with_documentation``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.audit import AuditSettings
from beatwise.artefacts.metrics import Lift
from beatwise.period import Period, check_period, period_words
from models.audit._arrays import cell_populations, validate_inputs, week_weights
from models.audit._config import AuditConfig, AuditOverride, GranularityCheck, TargetDefinition
from models.audit._figures import FlagSums, aggregate, group_figures, strata_figures
from models.audit._gates import judge_gates
from models.audit._result import AuditResult

logger = logging.getLogger(__name__)


def run_audit(
    flagged: npt.ArrayLike,
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    cells: pd.DataFrame,
    *,
    config: AuditConfig,
    target: TargetDefinition,
    granularity: GranularityCheck,
    target_event_counts: Mapping[str, float] | None = None,
    lift: Lift | None = None,
    override: AuditOverride | None = None,
    period: Period = "week",
) -> AuditResult:
    """Assess the flagged set over the backtest periods against gates G1–G9 (G10: see below).

    Parameters
    ----------
    flagged : bool array [week, cell]
        The model's flagged set at ``config.coverage`` in each backtest week.
    y : array [week, cell]
        Realised target counts ``Y_cw`` (non-negative).
    scores : array [week, cell]
        The model's expected counts ``S_cw`` (non-negative).
    cells : DataFrame
        One row per cell in the arrays' cell order, with ``config.residents_column``,
        ``config.area_column`` (km²), every ``res_<group>`` column named by
        ``config.attributes`` and every stratum column named by ``config.strata``.
    config : AuditConfig
        Bands, thresholds, bootstrap settings, groups and strata.
    target : TargetDefinition
        Target crime types and written reasons for any police-activity type among them (G1).
    granularity : GranularityCheck
        What the publish stage will write (G9).
    target_event_counts : mapping, optional
        Target events by canonical type over the backtest weeks, for G1's share. Without it G1
        still judges the definition, and reports no share.
    lift : Lift, optional
        The lift of ``metrics.json`` (:attr:`BacktestMetrics.lift`) for G8. Missing, or without
        an estimate: G8 is INSUFFICIENT DATA, which blocks publication.
    override : AuditOverride, optional
        A recorded approval to publish despite FAIL / INSUFFICIENT DATA hard gates.
    period : {"week", "month"}
        The period of the arrays' rows (``panel_meta.json``): the texts say cell-weeks or
        cell-months, and ``audit.json`` records it.

    Returns
    -------
    AuditResult
        G10 is NOT CHECKED until :meth:`AuditResult.with_documentation` is called with the
        rendered documents, so ``publishable`` is False before that.
    """
    t0 = time.perf_counter()
    F_bool, Y, S = validate_inputs(flagged, y, scores, cells)
    words = period_words(period)
    n_weeks, n_cells = F_bool.shape
    logger.info(
        "Audit: %d %s x %d cells, coverage %.3f.", n_weeks, words.plural, n_cells, config.coverage
    )
    if lift is not None and lift.estimate is None:
        logger.warning("Audit: the lift has no estimate (%r); G8 lacks data.", lift)
        lift = None
    area, residents, P = cell_populations(cells, config)
    sums = aggregate(F_bool, Y, S, area, residents)
    realised = _realised_area_share(sums, config.coverage)
    weights = week_weights(n_weeks, config)
    unit = f"cell-{words.plural}"
    groups, group_internals = group_figures(sums, weights, config, P, unit=unit)
    strata, strata_internals = strata_figures(sums, weights, cells, config, unit=unit)
    gates = judge_gates(
        config=config,
        target=target,
        target_event_counts=target_event_counts,
        groups=group_internals,
        strata=strata_internals,
        lift=lift,
        granularity=granularity,
    )
    result = AuditResult(
        coverage=config.coverage,
        gates=gates,
        groups=groups,
        strata=strata,
        n_periods=n_weeks,
        n_cells=n_cells,
        realised_area_share=realised,
        override=override,
        settings=AuditSettings(
            n_boot=config.n_boot,
            seed=config.seed,
            block_len=config.block_len,
            min_flagged_cell_periods=config.min_flagged_cell_periods,
            min_residents=config.min_residents,
            target_types=target.target_types,
            police_activity_reasons=dict(target.police_activity_reasons),
        ),
        period=check_period(period),
    )
    logger.info(
        "Audit done in %.2f s: %s.",
        time.perf_counter() - t0,
        ", ".join(f"{g} {r.status}" for g, r in gates.items()),
    )
    return result


def _realised_area_share(sums: FlagSums, coverage: float) -> float:
    """The flagged share of the study area, averaged over weeks; warns when far from coverage."""
    area = sums.agg.area
    realised = float(np.mean(sums.F @ area) / area.sum())
    if not 0.5 * coverage <= realised <= 2.0 * coverage:
        logger.warning(
            "Audit: flagged cells cover %.2f%% of the area on average; config.coverage is %.2f%%.",
            100 * realised,
            100 * coverage,
        )
    return realised
