"""``audit_backtest``: what the audit stage runs, over the backtest (``_backtest``'s pieces)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from beatwise.artefacts.metrics import BacktestMetrics, coverage_label
from models.audit._backtest import (
    MODEL_RANKING,
    SENSITIVITY_COVERAGES,
    AuditSetup,
    BacktestArrays,
    audit_counterfactuals,
    coverage_sensitivity,
)
from models.audit._config import AuditOverride
from models.audit._feedback import check_feedback
from models.audit._figures import Allocation
from models.audit._power import audit_power
from models.audit._result import AuditResult
from models.baselines import baseline_label


def audit_backtest(
    arrays: BacktestArrays,
    *,
    setup: AuditSetup,
    metrics: BacktestMetrics,
    accepted_by_type: Mapping[str, float] | None = None,
    override: AuditOverride | None = None,
    sensitivity_coverages: tuple[float, ...] = SENSITIVITY_COVERAGES,
    power: bool = True,
) -> AuditResult:
    """The audit stage's audit: the model against its reference (G1-G9, G12), the closed loop
    of the feedback stage (G11, ``setup.feedback``), the counterfactuals, the coverage table and
    the power check.

    Parameters
    ----------
    arrays : BacktestArrays
        The backtest (``backtest.parquet``) on the cells (``cells.parquet``).
    setup : AuditSetup
        Knobs at the operational coverage, target, granularity, period and run date, and the
        feedback stage's simulation; refused when it simulated another coverage or band.
    metrics : BacktestMetrics
        ``backtest_metrics.json``: the lift over the best baseline (G8) and that baseline's name.
        Its coverage must be the operational coverage.
    accepted_by_type : mapping, optional
        Accepted events by crime type (``data_quality.json``), for G1's share.
    override : AuditOverride, optional
        ``publish.override``.
    sensitivity_coverages : tuple of float
        The coverages of the coverage table.
    power : bool
        Run the canaries (``audit.canaries``); off only in tests that do not look at them.

    Returns
    -------
    AuditResult
        G10 is NOT CHECKED until the documents are judged (``models.report.document_audit``).
    """
    coverage = setup.config.coverage
    if coverage_label(metrics.coverage) != coverage_label(coverage):
        raise ValueError(
            f"backtest_metrics.json reports the lift at coverage {metrics.coverage}; the audit's "
            f"operational coverage is {coverage}. Re-run evaluate with the same "
            "operational.coverage."
        )
    if setup.feedback is not None:
        check_feedback(setup.feedback, coverage=coverage, band=setup.config.amplification_band)
    counts = None
    if accepted_by_type is not None:
        counts = {t: float(accepted_by_type.get(t, 0)) for t in setup.target.target_types}
    best = metrics.best_baseline
    baseline = arrays.allocation(
        f"the best baseline ({baseline_label(best)})", arrays.ranking(f"score_{best}"), coverage
    )
    # evaluate's flags are the model's top share of the area; under a declared policy the audit
    # judges the capped flags publish will write, and shows the uncapped ones to the board
    others = {"best_baseline": baseline}
    model = Allocation(MODEL_RANKING, arrays.flagged, arrays.scores)
    if arrays.policy is not None:
        others["model_without_policy"] = Allocation(
            f"{MODEL_RANKING}, without the policy", arrays.flagged, arrays.scores
        )
        model = Allocation(
            f"{MODEL_RANKING}, under the policy",
            arrays.flags(arrays.scores, coverage),
            arrays.scores,
        )
    result = setup.run(
        model,
        arrays.reference(coverage),
        arrays.y,
        arrays.cells,
        reference_info=arrays.reference_info,
        target_event_counts=counts,
        lift=metrics.lift,
        override=override,
        committed=arrays.committed,
        others=others,
    )
    return replace(
        result,
        policy=arrays.policy_record(coverage),
        counterfactuals=audit_counterfactuals(arrays, setup, best_baseline=best),
        coverage_sensitivity=coverage_sensitivity(
            arrays, setup, best_baseline=best, coverages=sensitivity_coverages
        ),
        power=audit_power(arrays, setup) if power else None,
    )
