"""The bias audit: assess fairness-related harms of the flagged set against gates G1–G12.

The audit follows ``METRICS.md`` ("Audit groups" and "Audit gates"). It takes the model's flagged
set at the operational coverage over the backtest periods, the realised target counts and the
model's expected counts, all as dense ``[week, cell]`` arrays with cells in the order of
``cells.parquet``, and judges each gate. A "week" here is any forecast period: the rows are
calendar months in monthly mode (``features.period``); ``period`` only changes the words of the
texts and the ``period`` of ``audit.json``.

* **PASS** – the point estimate is inside the band.
* **REVIEW** – the point estimate is outside the band but its 95% block-bootstrap interval reaches
  into it. A soft gate (G2, G7) never does worse than REVIEW.
* **FAIL** – the whole interval is outside the band (or an exact gate is broken).
* **INSUFFICIENT DATA** – a group or stratum the gate needs is too small to judge (fewer than
  ``min_flagged_cell_periods`` flagged cell-periods or fewer than ``min_residents`` residents), or
  an input the gate needs was not supplied. This is never a pass: on a hard gate it **blocks**
  publication exactly like a FAIL, and only a recorded :class:`AuditOverride` lifts the block.
* **NOT CHECKED** – G10 before :meth:`AuditResult.with_documentation` has looked at the rendered
  documents; G11 when the feedback stage's ``feedback.json`` was not given. It blocks
  publication and cannot be overridden.

The public face, by use:

- the audit stage: :func:`audit_backtest` on :class:`BacktestArrays` with an :class:`AuditSetup`
  (which carries the feedback stage's report for G11; then ``models.report.document_audit``
  renders the documents and judges G10);
- one flagged set: :func:`run_audit` -> :class:`AuditResult` (``to_report()``: the typed
  ``audit.json``, :class:`beatwise.artefacts.audit.AuditReport`);
- another ranking's flags: :func:`gates_of_ranking`, :func:`audit_counterfactuals`,
  :func:`coverage_sensitivity`;
- the closed loop (G11): :func:`gate_feedback` on the feedback stage's report, its
  :func:`configured_scenario` and :func:`largest_drift`, and :data:`SYNTHETIC_EVIDENCE` (what a
  real city's documents say of it);
- params: :class:`AuditConfig`, :class:`AttributeSpec` (its groups, :class:`GroupSpec`),
  :class:`StratumSpec`, :class:`AuditOverride`; inputs :class:`TargetDefinition`,
  :class:`GranularityCheck`;
- what the documents must carry (G10): :data:`REQUIRED_REPORT_SECTIONS`,
  :data:`REQUIRED_CARD_SECTIONS`, :data:`REQUIRED_RECORD_SECTIONS` (the transparency record's
  ATRS sections), :data:`RECORD_FILE`, :data:`CAVEATS`, :func:`check_documentation` (which also
  asks ``models.governance`` whether the accountability fields are complete for the phase).

Private modules, one concern each: ``_catalogue`` (gate ids and words), ``_config``, ``_arrays``
(inputs), ``_figures`` (by group and stratum), ``_bands`` (judging and wording), ``_gates``,
``_documentation`` (G10), ``_feedback`` (G11: the feedback stage's closed loop), ``_envelope``
(G12), ``_intersections`` (the board's figures by two attributes at once), ``_gate`` and
``_result`` (result types), ``_run``
(``run_audit``), ``_backtest`` (the reference, other rankings and coverages), ``_power`` (the
canaries), ``_stage`` (``audit_backtest``, the stage's audit).
"""

from models.allocation import NO_RESIDENTS_LABEL
from models.audit._backtest import (
    BACKTEST_COLUMNS,
    COUNTERFACTUAL_GATES,
    PRIOR_COUNTS_REFERENCE,
    SENSITIVITY_COVERAGES,
    SENSITIVITY_GATES,
    TRUTH_REFERENCE,
    AuditSetup,
    BacktestArrays,
    audit_counterfactuals,
    coverage_sensitivity,
    gates_of_ranking,
)
from models.audit._bands import classify_against_band
from models.audit._catalogue import (
    GATE_CHECKS,
    GATE_IDS,
    GATE_KINDS,
    GATE_TITLES,
    GateId,
    Status,
)
from models.audit._config import (
    AttributeSpec,
    AuditConfig,
    AuditOverride,
    CanarySpec,
    EnvelopeLimit,
    GranularityCheck,
    GroupSpec,
    IntersectionSpec,
    PolicyEnvelope,
    StratumSpec,
    TargetDefinition,
    stratum_label,
)
from models.audit._documentation import (
    CAVEATS,
    RECORD_FILE,
    REQUIRED_CARD_SECTIONS,
    REQUIRED_RECORD_SECTIONS,
    REQUIRED_REPORT_SECTIONS,
    check_documentation,
)
from models.audit._feedback import (
    SYNTHETIC_EVIDENCE,
    configured_scenario,
    gate_feedback,
    largest_drift,
)
from models.audit._figures import NO_RESIDENTS_KEY, Allocation
from models.audit._gate import GateResult
from models.audit._power import canary_scores
from models.audit._result import AuditResult, Counterfactuals
from models.audit._run import run_audit
from models.audit._stage import audit_backtest

__all__ = [
    "BACKTEST_COLUMNS",
    "CAVEATS",
    "COUNTERFACTUAL_GATES",
    "GATE_CHECKS",
    "GATE_IDS",
    "GATE_KINDS",
    "GATE_TITLES",
    "NO_RESIDENTS_KEY",
    "NO_RESIDENTS_LABEL",
    "PRIOR_COUNTS_REFERENCE",
    "RECORD_FILE",
    "REQUIRED_CARD_SECTIONS",
    "REQUIRED_RECORD_SECTIONS",
    "REQUIRED_REPORT_SECTIONS",
    "SENSITIVITY_COVERAGES",
    "SENSITIVITY_GATES",
    "SYNTHETIC_EVIDENCE",
    "TRUTH_REFERENCE",
    "Allocation",
    "AttributeSpec",
    "AuditConfig",
    "AuditOverride",
    "AuditResult",
    "AuditSetup",
    "BacktestArrays",
    "CanarySpec",
    "Counterfactuals",
    "EnvelopeLimit",
    "GateId",
    "GateResult",
    "GranularityCheck",
    "GroupSpec",
    "IntersectionSpec",
    "PolicyEnvelope",
    "Status",
    "StratumSpec",
    "TargetDefinition",
    "audit_backtest",
    "audit_counterfactuals",
    "canary_scores",
    "check_documentation",
    "classify_against_band",
    "configured_scenario",
    "coverage_sensitivity",
    "gate_feedback",
    "gates_of_ranking",
    "largest_drift",
    "run_audit",
    "stratum_label",
]
