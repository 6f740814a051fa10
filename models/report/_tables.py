"""The documents' tables built from typed inputs: performance against the baselines, and the
gates at other coverages."""

from __future__ import annotations

import math
from typing import Any

from beatwise.artefacts.audit import AuditReport
from beatwise.artefacts.metrics import BacktestMetrics, ForecastScores, coverage_label


def _figures(scores: ForecastScores, coverage: float) -> dict[str, float | None]:
    return {
        "hit_rate": scores.at("hr", coverage),
        "pai": scores.at("pai", coverage),
        "pei": scores.at("pei", coverage),
        # the truth efficiency, known on synthetic data only (None elsewhere)
        "pei_truth": scores.at("pei_truth", coverage) if scores.pei_truth is not None else None,
    }


def performance_rows(metrics: BacktestMetrics, *, coverage: float) -> list[dict[str, Any]]:
    """Model and baselines at ``coverage``: hit rate, PAI, PEI, the truth efficiency PEI_T (None
    unless the data are synthetic) and the model's lift.

    ``backtest_metrics.json`` holds one lift, over the best baseline: only that baseline's row has
    one.
    Refuses a coverage the backtest did not report.
    """
    if coverage not in metrics.coverages:
        raise ValueError(
            f"The metrics have no figures at the audited coverage {coverage}; they report "
            f"{list(metrics.coverages)}. Audit and evaluate must use the same operational.coverage."
        )
    rows: list[dict[str, Any]] = [
        {"name": "model", "is_model": True, **_figures(metrics.model, coverage), "lift": None}
    ]
    for name, scores in metrics.baselines.items():
        lift = metrics.lift if name == metrics.best_baseline else None
        rows.append({"name": name, "is_model": False, **_figures(scores, coverage), "lift": lift})
    return rows


def coverage_sensitivity_rows(audit: AuditReport) -> list[dict[str, Any]]:
    """Rows of the coverage table: one per (coverage, ranking), each gate's status and value.

    Empty when ``audit`` has no ``coverage_sensitivity``. The row at the operational coverage is
    marked ``operational``.
    """
    table = audit.coverage_sensitivity
    if table is None:
        return []
    rows = []
    for coverage in table.coverages:
        label = coverage_label(coverage)
        for ranking, by_coverage in table.rankings.items():
            gates = by_coverage[label]
            rows.append(
                {
                    "coverage": float(coverage),
                    "ranking": ranking,
                    "operational": math.isclose(coverage, audit.coverage),
                    "gates": [gates[gid] for gid in table.gates],
                }
            )
    return rows
