"""``run_audit``: the model's flagged set, held against a reference allocation, judged against
gates G1-G9, G11 (the feedback stage's closed loop) and G12.

The steps, each a function of its own module: check the arrays and the cells' populations
(``_arrays``), draw the bootstrap's week weights (shared by the model and the reference, so every
amplification is a paired bootstrap), compute the figures by group and by stratum and the board's
absolute panel (``_figures``), judge the gates (``_gates``, ``_envelope``), and gather the result
(``_result``). G10 waits for the rendered documents (``AuditResult.with_documentation``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.audit import AuditSettings, BoardPanel, ReferenceAllocation
from beatwise.artefacts.feedback import FeedbackReport
from beatwise.artefacts.metrics import Lift
from beatwise.period import Period, check_period, period_words
from models.audit._arrays import cell_populations, validate_inputs, week_weights
from models.audit._config import AuditConfig, AuditOverride, GranularityCheck, TargetDefinition
from models.audit._envelope import EnvelopeFigures
from models.audit._figures import (
    Allocation,
    GroupInternals,
    Population,
    group_figures,
    group_replicates,
    strata_figures,
)
from models.audit._gates import judge_gates
from models.audit._intersections import with_intersections
from models.audit._panel import board_allocation
from models.audit._result import AuditResult

logger = logging.getLogger(__name__)


def population(cells: pd.DataFrame, config: AuditConfig) -> Population:
    """The cells' areas, residents and residents per audit group, checked."""
    area, residents, P = cell_populations(cells, config)
    columns = tuple((a.name, key) for a in config.attributes for key in a.groups)
    return Population(area=area, residents=residents, P=P, columns=columns)


def run_audit(
    model: Allocation,
    reference: Allocation,
    y: npt.ArrayLike,
    cells: pd.DataFrame,
    *,
    config: AuditConfig,
    target: TargetDefinition,
    granularity: GranularityCheck,
    reference_info: ReferenceAllocation,
    target_event_counts: Mapping[str, float] | None = None,
    lift: Lift | None = None,
    override: AuditOverride | None = None,
    period: Period = "week",
    committed: np.ndarray | None = None,
    others: Mapping[str, Allocation] | None = None,
    run_date: dt.date | None = None,
    cross_check: bool = True,
    feedback: FeedbackReport | None = None,
) -> AuditResult:
    """Assess the model's flagged set over the backtest periods (G1-G9, G11, G12; G10: see
    below).

    Parameters
    ----------
    model, reference : Allocation
        The model's flagged set at ``config.coverage`` and its expected counts, and the
        reference allocation's (the true risk on synthetic data, the all-history count on real
        data) at the same coverage in the same periods, both ``[period, cell]``.
    y : array [period, cell]
        Realised target counts ``Y_cw`` (non-negative).
    cells : DataFrame
        One row per cell in the arrays' cell order, with ``config.residents_column``,
        ``config.area_column`` (km²), every ``res_<group>`` column named by
        ``config.attributes`` and every stratum column named by ``config.strata``.
    config : AuditConfig
        Bands, thresholds, bootstrap settings, groups, strata and the board's envelope.
    target : TargetDefinition
        Target crime types and written reasons for any police-activity type among them (G1).
    granularity : GranularityCheck
        What the publish stage will write (G9).
    reference_info : ReferenceAllocation
        The reference in words, as the documents name it.
    target_event_counts : mapping, optional
        Target events by canonical type, for G1's share.
    lift : Lift, optional
        The lift of ``backtest_metrics.json`` for G8; missing: G8 is INSUFFICIENT DATA (blocks).
    override : AuditOverride, optional
        A recorded approval to publish despite FAIL / INSUFFICIENT DATA hard gates, until its
        expiry date.
    period : {"week", "month"}
        The period of the arrays' rows.
    committed : array [period, cell], optional
        Synthetic data: the true expected committed count (reported or not), for the board's
        discovery of committed harm.
    others : mapping, optional
        More allocations for the board's panel, by role (``best_baseline``, ``policy``).
    run_date : date, optional
        The date the override's and the envelope's expiry are judged against (default today);
        recorded in ``audit.json`` only when one of them has an expiry date.
    cross_check : bool
        Compute the model's point figures by group with fairlearn's MetricFrame and check them
        against the weekly sums (the audit of the model); off for the many other rankings the
        stage asks, whose figures come from the same sums.
    feedback : FeedbackReport, optional
        The feedback stage's closed-loop simulation (``feedback.json``), for G11; missing: G11
        is NOT CHECKED, which blocks publication and cannot be overridden.

    Returns
    -------
    AuditResult
        G10 is NOT CHECKED until :meth:`AuditResult.with_documentation` is called with the
        rendered documents, so ``publishable`` is False before that.
    """
    t0 = time.perf_counter()
    F, Y, S = validate_inputs(model.flagged, y, model.scores, cells)
    F_ref, _, S_ref = validate_inputs(reference.flagged, Y, reference.scores, cells)
    model = Allocation(model.label, F, S)
    reference = Allocation(reference.label, F_ref, S_ref)
    words = period_words(period)
    n_weeks, n_cells = F.shape
    logger.info(
        "Audit: %d %s x %d cells, coverage %.3f, against %s.",
        n_weeks,
        words.plural,
        n_cells,
        config.coverage,
        reference_info.label,
    )
    if lift is not None and lift.estimate is None:
        logger.warning("Audit: the lift has no estimate (%r); G8 lacks data.", lift)
        lift = None
    pop = population(cells, config)
    weights = week_weights(n_weeks, config)
    unit = f"cell-{words.plural}"
    model_rep = group_replicates(F, Y, pop, weights, committed=committed)
    reference_rep = group_replicates(F_ref, Y, pop, weights, committed=committed)
    groups, group_internals = group_figures(
        model,
        Y,
        pop,
        weights,
        config,
        model_rep=model_rep,
        reference_rep=reference_rep,
        unit=unit,
        cross_check=cross_check,
    )
    strata, strata_internals = strata_figures(
        model, reference, Y, pop, weights, cells, config, unit=unit
    )
    day = run_date or dt.date.today()
    gates = judge_gates(
        config=config,
        target=target,
        target_event_counts=target_event_counts,
        groups=group_internals,
        strata=strata_internals,
        lift=lift,
        granularity=granularity,
        reference=reference_info.label,
        envelope=_envelope_figures(config, model_rep, pop, group_internals, day),
        feedback=feedback,
    )
    roles = {"model": model, "reference": reference, **(others or {})}
    board = BoardPanel(
        allocations={
            role: board_allocation(
                alloc,
                model_rep
                if role == "model"
                else reference_rep
                if role == "reference"
                else group_replicates(alloc.flagged, Y, pop, weights[:1], committed=committed),
                Y,
                pop,
                config,
                strata_internals,
                model=model,
            )
            for role, alloc in roles.items()
        },
        committed_harm=committed is not None,
    )
    board = with_intersections(board, roles, Y, pop, cells, config, committed=committed, unit=unit)
    dated = override is not None or config.envelope is not None
    result = AuditResult(
        coverage=config.coverage,
        gates=gates,
        groups=groups,
        strata=strata,
        reference=reference_info,
        board=board,
        n_periods=n_weeks,
        n_cells=n_cells,
        realised_area_share=_realised_area_share(F, pop.area, config.coverage),
        override=override,
        envelope=config.envelope,
        run_date=day if dated else None,
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
        feedback=feedback,
    )
    logger.info(
        "Audit done in %.2f s: %s.",
        time.perf_counter() - t0,
        ", ".join(f"{g} {r.status}" for g, r in gates.items()),
    )
    return result


def _envelope_figures(
    config: AuditConfig,
    rep: object,
    pop: Population,
    internals: GroupInternals,
    run_date: dt.date,
) -> EnvelopeFigures | None:
    if config.envelope is None:
        return None
    ratios: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for attr in config.attributes:
        j = pop.index_of(attr.name)
        ratios[attr.name] = {
            key: {
                name: rep.quantity(name)[:, gj]  # type: ignore[attr-defined]
                for name in (
                    "exposure_ratio",
                    "discovery_ratio",
                    "burden_benefit",
                    "false_flag_ratio",
                )
            }
            for key, gj in zip(attr.groups, j, strict=True)
        }
    return EnvelopeFigures(
        envelope=config.envelope,
        run_date=run_date,
        ratios=ratios,
        labels={a.name: {k: a.label_of(k) for k in a.groups} for a in config.attributes},
        insufficient={
            a: {k: str(g["insufficient"]) for k, g in groups.items()}
            for a, groups in internals.items()
        },
    )


def _realised_area_share(F: np.ndarray, area: np.ndarray, coverage: float) -> float:
    """The flagged share of the study area, averaged over weeks; warns when far from coverage."""
    realised = float(np.mean(F.astype(np.float64) @ area) / area.sum())
    if not 0.5 * coverage <= realised <= 2.0 * coverage:
        logger.warning(
            "Audit: flagged cells cover %.2f%% of the area on average; config.coverage is %.2f%%.",
            100 * realised,
            100 * coverage,
        )
    return realised
