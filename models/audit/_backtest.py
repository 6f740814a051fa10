"""The audit of a backtest as one call: the model against its reference, the counterfactuals,
the coverage table and the power check.

:func:`audit_backtest` is what the audit stage runs. It holds the model's flagged set at the
operational coverage against the **reference allocation** (METRICS.md): the simulator's true
risk where it is known (synthetic data), else the all-history count (B4), flagging the same share
of the area in the same periods (:func:`run_audit`). It then asks the gates of other questions,
each through :func:`gates_of_ranking`:

* **counterfactuals**: would the best simple baseline (and, on synthetic data, the true risk
  itself) pass the same gates against the same reference?
* **coverage sensitivity**: the coverage-dependent gates at other coverages, for the model and
  the best baseline. Informational: the verdict is the one at the operational coverage.
* **power** (``_power``): do the gates catch the canaries of METRICS.md?
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from beatwise.artefacts.audit import CoverageSensitivity, GateVerdict, ReferenceAllocation
from beatwise.artefacts.metrics import BacktestMetrics, coverage_label
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN, Period
from models.audit._config import AuditConfig, AuditOverride, GranularityCheck, TargetDefinition
from models.audit._figures import Allocation
from models.audit._power import audit_power
from models.audit._result import AuditResult, Counterfactuals
from models.audit._run import run_audit
from models.backtest import to_matrix
from models.metrics import flag_top_area

#: gates that judge a flagged set, so they can be asked of other rankings too
COUNTERFACTUAL_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G6", "G7")
#: the gates of the coverage table: those that depend on how much area is flagged
SENSITIVITY_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G7")
#: coverages of the coverage table (METRICS.md's list, from 1%: at 0.5% few groups have 30
#: flagged cell-periods, and the table would be mostly "insufficient data")
SENSITIVITY_COVERAGES: Final[tuple[float, ...]] = (0.01, 0.02, 0.05, 0.10, 0.20)
#: the label of the model's own ranking
MODEL_RANKING: Final[str] = "this model"
#: the label of the simulator's true risk (recorded, not committed: outcomes are recorded
#: events, so only the recorded truth is on the same scale for calibration, G6)
TRUTH_RANKING: Final[str] = "true risk"
#: the references: (backtest column, label, why)
TRUTH_REFERENCE: Final[ReferenceAllocation] = ReferenceAllocation(
    label="the true risk",
    column="truth_recorded",
    why=(
        "On synthetic data the simulator knows each cell's true expected count of recorded "
        "target crime, so the model is held against the allocation a perfect forecast would make."
    ),
)
PRIOR_COUNTS_REFERENCE: Final[ReferenceAllocation] = ReferenceAllocation(
    label="the all-history count (B4)",
    column="score_all_history",
    why=(
        "On real data the true risk is unknown, so the model is held against the long-memory "
        "'prior counts' allocation an analyst would make without it."
    ),
)


@dataclass(frozen=True)
class AuditSetup:
    """Everything a gate needs besides the flags: the knobs, the target, what publish writes, and
    the date expiry dates are judged against."""

    #: the audit's knobs, at the operational coverage
    config: AuditConfig
    target: TargetDefinition
    granularity: GranularityCheck
    period: Period = "week"
    #: the run's date (an input, so that tests and re-runs are reproducible); default today
    run_date: dt.date = field(default_factory=dt.date.today)

    @classmethod
    def for_panel(
        cls,
        config: AuditConfig,
        *,
        coverage: float,
        panel: PanelMeta,
        max_resolution: int,
        suppress_below: int,
        run_date: dt.date | None = None,
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
            run_date=run_date or dt.date.today(),
        )

    def at(self, coverage: float) -> AuditSetup:
        """The same setup at another coverage."""
        return replace(self, config=self.config.model_copy(update={"coverage": coverage}))

    def run(
        self,
        model: Allocation,
        reference: Allocation,
        y: np.ndarray,
        cells: pd.DataFrame,
        *,
        reference_info: ReferenceAllocation,
        **kw: Any,
    ) -> AuditResult:
        """:func:`run_audit` with this setup (``kw``: counts, lift, override, others, ...)."""
        return run_audit(
            model,
            reference,
            y,
            cells,
            config=self.config,
            target=self.target,
            granularity=self.granularity,
            period=self.period,
            reference_info=reference_info,
            run_date=self.run_date,
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

    @property
    def reference_info(self) -> ReferenceAllocation:
        """The true risk on synthetic data, else the all-history count (METRICS.md)."""
        return TRUTH_REFERENCE if self.has_truth else PRIOR_COUNTS_REFERENCE

    @property
    def committed(self) -> np.ndarray | None:
        """Synthetic data: the true expected committed count (reported or not); else None."""
        return self.ranking("truth_committed") if self.has_truth else None

    def ranking(self, column: str) -> np.ndarray:
        """Any score column of the backtest (``truth_recorded``, ``score_<baseline>``, ...)."""
        order = self.cells["h3_cell"].to_numpy()
        if column not in self.backtest.columns:
            raise ValueError(
                f"backtest.parquet has no column {column!r}; re-run the evaluate stage. "
                f"Columns: {list(self.backtest.columns)}."
            )
        return to_matrix(self.backtest, column, periods=self.periods, cells=order)

    def flags(self, ranking: np.ndarray, coverage: float) -> np.ndarray:
        """The top ``coverage`` of the area by ``ranking`` in every period (ties by cell id)."""
        return flag_top_area(
            ranking,
            areas_km2=self.cells["area_km2"].to_numpy(),
            cell_ids=self.cells["h3_int"].to_numpy(),
            coverage=coverage,
        )

    def allocation(self, label: str, ranking: np.ndarray, coverage: float) -> Allocation:
        """The allocation ``ranking`` makes at ``coverage``, with the ranking as expected counts."""
        return Allocation(label, self.flags(ranking, coverage), ranking)

    def reference(self, coverage: float) -> Allocation:
        """The reference allocation at ``coverage``."""
        info = self.reference_info
        return self.allocation(info.label, self.ranking(info.column), coverage)


def gates_of_ranking(
    ranking: np.ndarray,
    arrays: BacktestArrays,
    setup: AuditSetup,
    *,
    coverage: float,
    gates: tuple[str, ...],
    expected: np.ndarray | None = None,
) -> dict[str, GateVerdict]:
    """Status and value of ``gates`` for the cells that ``ranking`` flags at ``coverage``,
    held against the reference allocation at the same coverage.

    The flags are the top ``coverage`` of the area by ``ranking`` (ties by cell id), judged
    against the realised counts with ``expected`` as the expected counts (default: the ranking).
    """
    model = Allocation(
        "ranking", arrays.flags(ranking, coverage), ranking if expected is None else expected
    )
    judged = (
        setup.at(coverage)
        .run(
            model,
            arrays.reference(coverage),
            arrays.y,
            arrays.cells,
            reference_info=arrays.reference_info,
        )
        .gates
    )
    return {gid: GateVerdict(status=judged[gid].status, value=judged[gid].value) for gid in gates}


def _other_rankings(arrays: BacktestArrays, best_baseline: str) -> dict[str, str]:
    """Label -> backtest column of the rankings asked besides the model."""
    out = {f"best baseline ({best_baseline})": f"score_{best_baseline}"}
    if arrays.has_truth:
        out = {TRUTH_RANKING: "truth_recorded", **out}
    return out


def audit_counterfactuals(
    arrays: BacktestArrays, setup: AuditSetup, *, best_baseline: str
) -> Counterfactuals:
    """Gates G2-G7 for the flags of the best baseline (and, on synthetic data, the true risk)
    against the same reference: what the model's verdict should be compared with."""
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
            for label, column in _other_rankings(arrays, best_baseline).items()
        },
    )


def coverage_sensitivity(
    arrays: BacktestArrays,
    setup: AuditSetup,
    *,
    best_baseline: str,
    coverages: tuple[float, ...] = SENSITIVITY_COVERAGES,
) -> CoverageSensitivity:
    """Would flagging more or less of the area change the verdict? Gates at other coverages.

    For the model and the best baseline, each against the reference at the same coverage, the
    gates of :data:`SENSITIVITY_GATES`, keyed by coverage label (``"5"`` for 5%).
    """
    rankings = {
        MODEL_RANKING: "risk_score",
        f"best baseline ({best_baseline})": f"score_{best_baseline}",
    }
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
    power: bool = True,
) -> AuditResult:
    """The audit stage's audit: the model against its reference (G1-G9, G12), the
    counterfactuals, the coverage table and the power check.

    Parameters
    ----------
    arrays : BacktestArrays
        The backtest (``backtest.parquet``) on the cells (``cells.parquet``).
    setup : AuditSetup
        Knobs at the operational coverage, target, granularity, period and run date.
    metrics : BacktestMetrics
        ``metrics.json``: the lift over the best baseline (G8) and the best baseline's name.
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
            f"metrics.json reports the lift at coverage {metrics.coverage}; the audit's "
            f"operational coverage is {coverage}. Re-run evaluate with the same "
            "operational.coverage."
        )
    counts = None
    if accepted_by_type is not None:
        counts = {t: float(accepted_by_type.get(t, 0)) for t in setup.target.target_types}
    best = metrics.best_baseline
    baseline = arrays.allocation(
        f"the best baseline ({best})", arrays.ranking(f"score_{best}"), coverage
    )
    result = setup.run(
        Allocation(MODEL_RANKING, arrays.flagged, arrays.scores),
        arrays.reference(coverage),
        arrays.y,
        arrays.cells,
        reference_info=arrays.reference_info,
        target_event_counts=counts,
        lift=metrics.lift,
        override=override,
        committed=arrays.committed,
        others={"best_baseline": baseline},
    )
    return replace(
        result,
        counterfactuals=audit_counterfactuals(arrays, setup, best_baseline=best),
        coverage_sensitivity=coverage_sensitivity(
            arrays, setup, best_baseline=best, coverages=sensitivity_coverages
        ),
        power=audit_power(arrays, setup) if power else None,
    )
