"""The audit of a backtest as one call: the model's gates, the counterfactuals, the coverage table.

:func:`audit_backtest` is what the audit stage runs. It judges the model's flagged set at the
operational coverage (:func:`run_audit`) and asks the gates that judge a flagged set of two more
questions, each through :func:`gates_of_ranking`:

* **counterfactuals** (synthetic data only, where the truth is known): would the true risk, or the
  best simple baseline, flagging the same share of the area pass gates G2-G7? A gate that fails
  for the true risk too is a property of hot-spot allocation in that place, not of the model.
* **coverage sensitivity**: gates G2-G5 and G7 at other coverages, for the model and (synthetic)
  the true risk. Informational: the verdict is the one at the operational coverage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from beatwise.artefacts.audit import CoverageSensitivity, GateVerdict
from beatwise.artefacts.metrics import BacktestMetrics, coverage_label
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN, Period
from models.audit._config import AuditConfig, AuditOverride, GranularityCheck, TargetDefinition
from models.audit._result import AuditResult, Counterfactuals
from models.audit._run import run_audit
from models.backtest import to_matrix
from models.metrics import flag_top_area

#: gates that judge the flagged set itself, so they can be asked of other rankings too
COUNTERFACTUAL_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G6", "G7")
#: the gates of the coverage table: those that depend on how much area is flagged
SENSITIVITY_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G7")
#: coverages of the coverage table (METRICS.md's list, from 1%: at 0.5% few groups have 30
#: flagged cell-periods, and the table would be mostly "insufficient data")
SENSITIVITY_COVERAGES: Final[tuple[float, ...]] = (0.01, 0.02, 0.05, 0.10, 0.20)
#: the label of the model's own ranking in the coverage table
MODEL_RANKING: Final[str] = "this model"
#: the label of the simulator's true risk (recorded, not committed: outcomes are recorded
#: events, so only the recorded truth is on the same scale for calibration, G6)
TRUTH_RANKING: Final[str] = "true risk"


@dataclass(frozen=True)
class AuditSetup:
    """Everything a gate needs besides the flags: the knobs, the target, what publish writes."""

    #: the audit's knobs, at the operational coverage
    config: AuditConfig
    target: TargetDefinition
    granularity: GranularityCheck
    period: Period = "week"

    @classmethod
    def for_panel(
        cls,
        config: AuditConfig,
        *,
        coverage: float,
        panel: PanelMeta,
        max_resolution: int,
        suppress_below: int,
    ) -> AuditSetup:
        """The setup of the audit stage: the operational coverage, the panel's target, period and
        resolution, and the publish limits (``publish.max_resolution``, ``min_count_shown``).

        Refuses a ``config`` that sets its own coverage: the audited coverage is the published one.
        """
        if "coverage" in config.model_fields_set:
            raise ValueError(
                "The 'audit.coverage' parameter of stage 'audit' is set by "
                "'operational.coverage'; remove it from the audit section so the audited and "
                "published coverage agree."
            )
        return cls(
            config=config.model_copy(update={"coverage": coverage}),
            target=TargetDefinition.with_reason(panel.target_types, panel.target_reason),
            granularity=GranularityCheck(
                published_resolution=panel.h3_resolution,
                max_resolution=max_resolution,
                event_level_rows=False,  # the forecast CSV has one row per cell, never per event
                smallest_count_shown=None,  # and shows no historical counts
                suppress_below=suppress_below,
            ),
            period=panel.period,
        )

    def at(self, coverage: float) -> AuditSetup:
        """The same setup at another coverage."""
        return replace(self, config=self.config.model_copy(update={"coverage": coverage}))

    def run(
        self, flagged: np.ndarray, y: np.ndarray, scores: np.ndarray, cells: pd.DataFrame, **kw: Any
    ) -> AuditResult:
        """:func:`run_audit` with this setup (``kw``: counts, lift, override)."""
        return run_audit(
            flagged,
            y,
            scores,
            cells,
            config=self.config,
            target=self.target,
            granularity=self.granularity,
            period=self.period,
            **kw,
        )


@dataclass(frozen=True)
class BacktestArrays:
    """The backtest as dense ``[period, cell]`` arrays, cells in the order of ``cells.parquet``."""

    backtest: pd.DataFrame
    cells: pd.DataFrame
    periods: np.ndarray
    #: the model's flagged set at the operational coverage (evaluate's ``flagged`` column)
    flagged: np.ndarray
    y: np.ndarray
    #: the model's expected counts
    scores: np.ndarray

    @classmethod
    def from_frames(cls, backtest: pd.DataFrame, cells: pd.DataFrame) -> BacktestArrays:
        """Pivot ``backtest.parquet`` onto the cells of ``cells.parquet``; refuses a gap."""
        periods = np.sort(backtest[PERIOD_COLUMN].unique())
        order = cells["h3_cell"].to_numpy()
        return cls(
            backtest=backtest,
            cells=cells,
            periods=periods,
            flagged=to_matrix(backtest, "flagged", periods=periods, cells=order).astype(bool),
            y=to_matrix(backtest, "target_count", periods=periods, cells=order),
            scores=to_matrix(backtest, "risk_score", periods=periods, cells=order),
        )

    @property
    def has_truth(self) -> bool:
        """Whether the simulator's true risk is known (synthetic weekly data)."""
        return not self.backtest["truth_recorded"].isna().all()

    def ranking(self, column: str) -> np.ndarray:
        """Any score column of the backtest (``truth_recorded``, ``score_<baseline>``, ...)."""
        order = self.cells["h3_cell"].to_numpy()
        return to_matrix(self.backtest, column, periods=self.periods, cells=order)


def gates_of_ranking(
    ranking: np.ndarray,
    arrays: BacktestArrays,
    setup: AuditSetup,
    *,
    coverage: float,
    gates: tuple[str, ...],
    expected: np.ndarray | None = None,
) -> dict[str, GateVerdict]:
    """Status and value of ``gates`` for the cells that ``ranking`` flags at ``coverage``.

    The flags are the top ``coverage`` of the area by ``ranking`` (ties by cell id), judged
    against the realised counts with ``expected`` as the expected counts (default: the ranking).
    """
    cells = arrays.cells
    flagged = flag_top_area(
        ranking,
        areas_km2=cells["area_km2"].to_numpy(),
        cell_ids=cells["h3_int"].to_numpy(),
        coverage=coverage,
    )
    scores = ranking if expected is None else expected
    judged = setup.at(coverage).run(flagged, arrays.y, scores, cells).gates
    return {gid: GateVerdict(status=judged[gid].status, value=judged[gid].value) for gid in gates}


def audit_counterfactuals(
    arrays: BacktestArrays, setup: AuditSetup, *, best_baseline: str
) -> Counterfactuals | None:
    """Gates G2-G7 for the flags the true risk and the best baseline would have raised.

    Only where the truth is known (synthetic data); None otherwise.
    """
    if not arrays.has_truth:
        return None
    rankings = {
        TRUTH_RANKING: "truth_recorded",
        f"best baseline ({best_baseline})": f"score_{best_baseline}",
    }
    coverage = setup.config.coverage
    return Counterfactuals(
        gates=COUNTERFACTUAL_GATES,
        rankings={
            label: gates_of_ranking(
                arrays.ranking(column),
                arrays,
                setup,
                coverage=coverage,
                gates=COUNTERFACTUAL_GATES,
            )
            for label, column in rankings.items()
        },
    )


def coverage_sensitivity(
    arrays: BacktestArrays,
    setup: AuditSetup,
    *,
    coverages: tuple[float, ...] = SENSITIVITY_COVERAGES,
) -> CoverageSensitivity:
    """Would flagging more or less of the area change the verdict? Gates at other coverages.

    For the model, and for the true risk where it is known (synthetic data), the gates of
    :data:`SENSITIVITY_GATES` at each coverage, keyed by coverage label (``"5"`` for 5%).
    """
    rankings = {MODEL_RANKING: "risk_score"}
    if arrays.has_truth:
        rankings[TRUTH_RANKING] = "truth_recorded"
    out: dict[str, dict[str, dict[str, GateVerdict]]] = {}
    for label, column in rankings.items():
        scores = arrays.ranking(column)
        out[label] = {
            coverage_label(coverage): gates_of_ranking(
                scores, arrays, setup, coverage=coverage, gates=SENSITIVITY_GATES
            )
            for coverage in coverages
        }
    return CoverageSensitivity(
        coverages=tuple(float(c) for c in coverages), gates=SENSITIVITY_GATES, rankings=out
    )


def audit_backtest(
    arrays: BacktestArrays,
    *,
    setup: AuditSetup,
    metrics: BacktestMetrics,
    accepted_by_type: Mapping[str, float] | None = None,
    override: AuditOverride | None = None,
    sensitivity_coverages: tuple[float, ...] = SENSITIVITY_COVERAGES,
) -> AuditResult:
    """The audit stage's audit: the model's gates G1-G9, the counterfactuals, the coverage table.

    Parameters
    ----------
    arrays : BacktestArrays
        The backtest (``backtest.parquet``) on the cells (``cells.parquet``).
    setup : AuditSetup
        Knobs at the operational coverage, target, granularity and period.
    metrics : BacktestMetrics
        ``metrics.json``: the lift over the best baseline (G8) and the best baseline's name.
        Its coverage must be the operational coverage.
    accepted_by_type : mapping, optional
        Accepted events by crime type (``data_quality.json``), for G1's share.
    override : AuditOverride, optional
        ``publish.override``.
    sensitivity_coverages : tuple of float
        The coverages of the coverage table.

    Returns
    -------
    AuditResult
        G10 is NOT CHECKED until the documents are judged (``models.report.document_audit``).
    """
    coverage = setup.config.coverage
    if coverage_label(metrics.coverage) != coverage_label(coverage):
        raise ValueError(
            f"metrics.json reports the lift at coverage {metrics.coverage}; the audit's "
            f"operational coverage is {coverage}. Re-run evaluate with the same "
            "operational.coverage."
        )
    counts = None
    if accepted_by_type is not None:
        counts = {t: float(accepted_by_type.get(t, 0)) for t in setup.target.target_types}
    result = setup.run(
        arrays.flagged,
        arrays.y,
        arrays.scores,
        arrays.cells,
        target_event_counts=counts,
        lift=metrics.lift,
        override=override,
    )
    return replace(
        result,
        counterfactuals=audit_counterfactuals(arrays, setup, best_baseline=metrics.best_baseline),
        coverage_sensitivity=coverage_sensitivity(arrays, setup, coverages=sensitivity_coverages),
    )
