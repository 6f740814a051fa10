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

:func:`audit_backtest` itself lives in ``_stage``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import pandas as pd

from beatwise.artefacts.audit import (
    CoverageSensitivity,
    GateVerdict,
    PolicyRecord,
    ReferenceAllocation,
)
from beatwise.artefacts.feedback import FeedbackReport
from beatwise.artefacts.metrics import coverage_label
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN, Period
from models.allocation import AllocationPolicy, flag_with_policy, policy_codes, policy_cost
from models.audit._config import AuditConfig, GranularityCheck, TargetDefinition
from models.audit._figures import Allocation
from models.audit._result import AuditResult, Counterfactuals
from models.audit._run import run_audit
from models.backtest import to_matrix
from models.baselines import baseline_label
from models.metrics import flag_top_area

#: gates that judge a flagged set, so they can be asked of other rankings too
COUNTERFACTUAL_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G6", "G7")
#: the gates of the coverage table: those that depend on how much area is flagged
SENSITIVITY_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G7")
#: coverages of the coverage table (METRICS.md's list, from 1%: at 0.5% few groups have 30
#: flagged cell-periods, and the table would be mostly "insufficient data")
SENSITIVITY_COVERAGES: Final[tuple[float, ...]] = (0.01, 0.02, 0.05, 0.10, 0.20)
#: the columns of backtest.parquet the audit reads (the baselines' and the truth's too)
BACKTEST_COLUMNS: Final[tuple[str, ...]] = (
    PERIOD_COLUMN,
    "h3_cell",
    "target_count",
    "risk_score",
    "flagged",
    "score_all_history",
    "truth_recorded",
    "truth_committed",
)
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
    """Everything a gate needs besides the flags: the knobs, the target, what publish writes, the
    date expiry dates are judged against, and the feedback stage's closed loop (G11)."""

    #: the audit's knobs, at the operational coverage
    config: AuditConfig
    target: TargetDefinition
    granularity: GranularityCheck
    period: Period = "week"
    #: the run's date (an input, so that tests and re-runs are reproducible); default today
    run_date: dt.date = field(default_factory=dt.date.today)
    #: the feedback stage's closed-loop simulation (``feedback.json``); None: G11 NOT CHECKED
    feedback: FeedbackReport | None = None

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
        smallest_count_shown: int | None = None,
        feedback: FeedbackReport | None = None,
    ) -> AuditSetup:
        """The setup of the audit stage: the operational coverage, the panel's target, period and
        resolution, and the publish limits (``publish.max_resolution``, ``min_count_shown``).

        ``smallest_count_shown`` is the smallest historical count of crime by place that the
        documents print (the data-quality tables' districts), which G9 judges; ``feedback`` the
        feedback stage's ``feedback.json``, which G11 judges.

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
                # the CSV shows no historical counts; the documents' district table may
                smallest_count_shown=smallest_count_shown,
                suppress_below=suppress_below,
            ),
            period=panel.period,
            run_date=run_date or dt.date.today(),
            feedback=feedback,
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
        kw.setdefault("feedback", self.feedback)
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
    #: the declared allocation policy (``operational.policy``): every allocation the audit makes
    #: (the model's, the reference's, a baseline's, a canary's) is capped by it, as publish caps
    #: the forecast
    policy: AllocationPolicy | None = None

    @classmethod
    def from_frames(
        cls,
        backtest: pd.DataFrame,
        cells: pd.DataFrame,
        *,
        policy: AllocationPolicy | None = None,
    ) -> BacktestArrays:
        """Pivot ``backtest.parquet`` onto the cells of ``cells.parquet``; refuses a gap."""
        periods = np.sort(backtest[PERIOD_COLUMN].unique())
        order = cells["h3_cell"].to_numpy()
        return cls(
            policy=policy,
            backtest=backtest,
            cells=cells,
            periods=periods,
            flagged=to_matrix(backtest, "flagged", periods=periods, cells=order).astype(bool),
            y=to_matrix(backtest, "target_count", periods=periods, cells=order),
            scores=to_matrix(backtest, "risk_score", periods=periods, cells=order),
        )

    @property
    def has_truth(self) -> bool:
        """Whether the simulator's true risk is known (synthetic data, weekly or monthly)."""
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

    def flags(self, ranking: np.ndarray, coverage: float, *, capped: bool = True) -> np.ndarray:
        """The top ``coverage`` of the area by ``ranking`` in every period (ties by cell id),
        under the declared policy unless ``capped`` is False."""
        areas = self.cells["area_km2"].to_numpy()
        ids = self.cells["h3_int"].to_numpy()
        if self.policy is None or not capped:
            return flag_top_area(ranking, areas_km2=areas, cell_ids=ids, coverage=coverage)
        return flag_with_policy(
            ranking,
            areas_km2=areas,
            cell_ids=ids,
            coverage=coverage,
            codes=policy_codes(self.policy, self.cells),
            max_share=self.policy.max_share,
        )

    def policy_record(self, coverage: float) -> PolicyRecord | None:
        """The declared policy and its cost to the model (expected hits kept, PAI)."""
        if self.policy is None:
            return None
        p = self.policy
        cost = policy_cost(
            self.scores,
            self.y,
            areas_km2=self.cells["area_km2"].to_numpy(),
            cell_ids=self.cells["h3_int"].to_numpy(),
            coverage=coverage,
            codes=policy_codes(p, self.cells),
            max_share=p.max_share,
        )
        return PolicyRecord(
            column=p.column,
            label=p.label,
            max_share=p.max_share,
            approved_by=p.approved_by,
            date=p.date,
            reason=p.reason,
            expected_hits_kept=cost.expected_hits_kept,
            pai_without=cost.pai_without,
            pai_with=cost.pai_with,
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
            cross_check=False,
        )
        .gates
    )
    return {gid: GateVerdict(status=judged[gid].status, value=judged[gid].value) for gid in gates}


def _other_rankings(arrays: BacktestArrays, best_baseline: str) -> dict[str, str]:
    """Label -> backtest column of the rankings asked besides the model."""
    out = {f"best baseline ({baseline_label(best_baseline)})": f"score_{best_baseline}"}
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
        f"best baseline ({baseline_label(best_baseline)})": f"score_{best_baseline}",
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
