"""The headline figures DVC compares: ``reports/compare/backtest.json`` and ``gates.json``.

``dvc exp show``, ``dvc metrics diff`` and ``python -m beatwise compare`` read these two small
files, not the backtest's full table (``reports/backtest_metrics.json``, every baseline at every
coverage, which the reports and tests read). Both are written by their stage through the
definitions here, rounded to five significant figures (what ``dvc exp show`` prints), and
committed to git with the ``reports/compare/`` folder, so that a fresh clone compares an
experiment against the committed run before it has run anything, and so that a run on another
machine, whose last bits of floating point may differ, leaves the committed files as they were.
"""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import Field

from beatwise.artefacts._base import Artefact
from beatwise.artefacts.audit import AuditReport, GateStatus
from beatwise.artefacts.metrics import BacktestMetrics

#: Significant figures of every headline figure.
SIGNIFICANT: int = 5

#: The headline figures, in the order ``python -m beatwise compare`` shows them, each with the
#: words it is shown with (``{coverage}``: the operational coverage as a percentage).
BACKTEST_WORDS: dict[str, str] = {
    "pai": "PAI at {coverage} of the area",
    "hit_rate": "hit rate at {coverage}",
    "pei": "PEI at {coverage}",
    "pei_truth": "truth efficiency PEI_T at {coverage}",
    "lift": "lift over the best baseline",
    "lift_ci_low": "lift, 95% interval low",
    "lift_ci_high": "lift, 95% interval high",
    "best_baseline": "best baseline",
    "poisson_deviance": "Poisson deviance per cell-period",
    "calibration_oe": "calibration (observed / expected)",
    "churn": "churn of the flagged cells",
    "coverage": "operational coverage",
}
#: The audit's headline, in the same sense.
GATES_WORDS: dict[str, str] = {"verdict": "audit verdict"}


def significant(value: float | None, digits: int = SIGNIFICANT) -> float | None:
    """``value`` to ``digits`` significant figures; None for None or a non-finite value."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


class BacktestHeadline(Artefact):
    """``reports/compare/backtest.json``: the backtest's headline at the operational coverage."""

    #: the operational coverage every figure here is at (share of the study area flagged)
    coverage: float = Field(gt=0.0, le=1.0)
    pai: float | None
    hit_rate: float | None
    pei: float | None
    #: synthetic weekly data only (the simulator's true risk); None elsewhere
    pei_truth: float | None
    #: pooled PAI of the model over the best baseline's, with its 95% block-bootstrap interval
    lift: float | None
    lift_ci_low: float | None
    lift_ci_high: float | None
    best_baseline: str
    poisson_deviance: float | None
    calibration_oe: float | None
    churn: float | None

    @classmethod
    def from_backtest(cls, metrics: BacktestMetrics) -> Self:
        """The headline of the full backtest figures, rounded to :data:`SIGNIFICANT` figures."""
        at = metrics.coverage
        model = metrics.model
        truth = model.at("pei_truth", at) if model.pei_truth is not None else None
        return cls(
            coverage=at,
            pai=significant(model.at("pai", at)),
            hit_rate=significant(model.at("hr", at)),
            pei=significant(model.at("pei", at)),
            pei_truth=significant(truth),
            lift=significant(metrics.lift.estimate),
            lift_ci_low=significant(metrics.lift.ci_low),
            lift_ci_high=significant(metrics.lift.ci_high),
            best_baseline=metrics.best_baseline,
            poisson_deviance=significant(model.poisson_deviance),
            calibration_oe=significant(model.calibration_oe),
            churn=significant(model.churn),
        )


#: The audit's verdict in one word: what ``publish`` will do with the forecast.
Verdict = Literal["pass", "pass with review", "override", "blocked"]


class GatesHeadline(Artefact):
    """``reports/compare/gates.json``: the audit's verdict and each gate's status."""

    verdict: Verdict
    #: gate id -> status (PASS, REVIEW, FAIL, ...)
    gates: dict[str, GateStatus]

    @classmethod
    def from_audit(cls, audit: AuditReport) -> Self:
        """The verdict (``blocked`` when a hard gate blocks and no override lifts it)."""
        verdict: Verdict = audit.status if audit.publishable else "blocked"
        return cls(verdict=verdict, gates={gid: gate.status for gid, gate in audit.gates.items()})
