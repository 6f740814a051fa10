"""The audit's result: gates, figures, and the publication decision, and its ``audit.json`` form.

``publishable`` is True when no hard gate is FAIL, INSUFFICIENT DATA or NOT CHECKED, or when an
override names every blocking gate and none is NOT CHECKED. REVIEW never blocks (METRICS.md: "any
hard FAIL blocks publication"); it is listed in ``review_gates`` so that a person looks at it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from beatwise.artefacts.audit import (
    AttributeFigures,
    AuditPower,
    AuditReport,
    AuditSettings,
    BoardPanel,
    Caveats,
    CoverageSensitivity,
    EnvelopeRecord,
    GateVerdict,
    OverrideApplied,
    OverrideRecord,
    PolicyRecord,
    ReferenceAllocation,
    StrataFigures,
)
from beatwise.artefacts.feedback import FeedbackReport
from beatwise.period import Period
from models.audit._catalogue import BLOCKING, GATE_IDS
from models.audit._config import AuditOverride, PolicyEnvelope
from models.audit._documentation import CAVEATS, check_documentation
from models.audit._gate import GateResult
from models.governance import GovernanceConfig


@dataclass(frozen=True)
class Counterfactuals:
    """Gates asked of other rankings' flags (synthetic data: the true risk, the best baseline)."""

    #: the gates asked, in order
    gates: tuple[str, ...]
    #: ranking label -> gate -> status and value
    rankings: dict[str, dict[str, GateVerdict]]


@dataclass(frozen=True)
class AuditResult:
    """Gates, group and stratum figures, and the publication decision of one audit.

    ``counterfactuals`` and ``coverage_sensitivity`` are added by
    :func:`models.audit.audit_backtest` where it can ask them; ``to_report`` gives the typed
    ``audit.json``.
    """

    coverage: float
    gates: dict[str, GateResult]
    groups: dict[str, AttributeFigures]
    strata: dict[str, StrataFigures]
    reference: ReferenceAllocation
    board: BoardPanel
    n_periods: int
    n_cells: int
    realised_area_share: float
    settings: AuditSettings
    override: AuditOverride | None = None
    #: the date expiry dates were judged against; None when nothing has one
    run_date: dt.date | None = None
    power: AuditPower | None = None
    policy: PolicyRecord | None = None
    envelope: PolicyEnvelope | None = None
    #: the backtest's period ("week" or "month"), for the words of the documents
    period: Period = "week"
    counterfactuals: Counterfactuals | None = None
    coverage_sensitivity: CoverageSensitivity | None = None
    #: the feedback stage's closed-loop simulation that G11 judged (None: G11 NOT CHECKED), for
    #: the documents' section on it
    feedback: FeedbackReport | None = None

    @property
    def blocking_gates(self) -> list[str]:
        """Hard gates whose status blocks publication (FAIL, INSUFFICIENT DATA, NOT CHECKED)."""
        return [
            gid
            for gid in GATE_IDS
            if gid in self.gates
            and self.gates[gid].kind == "hard"
            and self.gates[gid].status in BLOCKING
        ]

    @property
    def review_gates(self) -> list[str]:
        """Gates a person should look at: any REVIEW, and soft gates with insufficient data."""
        return [
            gid
            for gid in GATE_IDS
            if gid in self.gates
            and (
                self.gates[gid].status == "REVIEW"
                or (self.gates[gid].kind == "soft" and self.gates[gid].status in BLOCKING)
            )
        ]

    @property
    def override_applied(self) -> OverrideApplied | None:
        """The override and the gates it lifts, when one is given and something blocks."""
        blocking = self.blocking_gates
        if self.override is None or not blocking:
            return None
        if self.run_date is not None and self.override.expired_on(self.run_date):
            return None
        if any(self.gates[g].status == "NOT CHECKED" for g in blocking):
            return None
        if not set(blocking) <= set(self.override.gates):
            return None
        return OverrideApplied(
            approving_body=self.override.approving_body,
            date=self.override.date,
            expires=self.override.expires,
            reason=self.override.reason,
            approved_gates=self.override.gates,
            overridden_gates=tuple(blocking),
            text=(
                f"Publication of this forecast was approved by {self.override.approving_body} "
                f"on {self.override.date.isoformat()} (valid until "
                f"{self.override.expires.isoformat()}) despite gate(s) "
                f"{', '.join(blocking)}, for this reason: {self.override.reason}"
            ),
        )

    @property
    def publishable(self) -> bool:
        """True when nothing blocks, or an override naming every blocking gate lifts them."""
        blocking = self.blocking_gates
        return not blocking or self.override_applied is not None

    def with_documentation(
        self,
        *,
        report_html: str,
        model_card_md: str,
        record_md: str,
        governance: GovernanceConfig | None = None,
        model_version: str | None = None,
        required_report_sections: Sequence[str] | None = None,
        required_card_sections: Sequence[str] | None = None,
    ) -> AuditResult:
        """A copy with G10 judged on the rendered bias report, model card and transparency
        record, and on the accountability fields ``governance`` gives for its phase."""
        gate = check_documentation(
            report_html,
            model_card_md,
            record_md,
            governance=governance,
            model_version=model_version,
            required_report_sections=required_report_sections,
            required_card_sections=required_card_sections,
        )
        return replace(self, gates={**self.gates, "G10": gate})

    def _envelope_record(self) -> EnvelopeRecord | None:
        env = self.envelope
        if env is None:
            return None
        return EnvelopeRecord(
            ratified_by=env.ratified_by,
            date=env.date,
            reason=env.reason,
            expires=env.expires,
            expired=self.run_date is not None and self.run_date > env.expires,
            limits=tuple(limit.model_dump(mode="json") for limit in env.limits),
        )

    def to_report(self) -> AuditReport:
        """The typed ``reports/audit.json`` (what the documents render and publish reads)."""
        override = None
        if self.override is not None:
            override = OverrideRecord(
                approving_body=self.override.approving_body,
                date=self.override.date,
                reason=self.override.reason,
                expires=self.override.expires,
                expired=self.run_date is not None and self.override.expired_on(self.run_date),
            )
        cf = self.counterfactuals
        return AuditReport(
            publishable=self.publishable,
            coverage=self.coverage,
            realised_area_share=self.realised_area_share,
            period=self.period,
            n_periods=self.n_periods,
            n_cells=self.n_cells,
            gates={gid: self.gates[gid].to_gate() for gid in GATE_IDS if gid in self.gates},
            blocking_gates=tuple(self.blocking_gates),
            review_gates=tuple(self.review_gates),
            reference=self.reference,
            groups=self.groups,
            strata=self.strata,
            board=self.board,
            power=self.power,
            policy=self.policy,
            envelope=self._envelope_record(),
            run_date=self.run_date,
            override=override,
            override_applied=self.override_applied,
            settings=self.settings,
            caveats=Caveats(**CAVEATS),
            counterfactuals=None if cf is None else cf.rankings,
            counterfactual_gates=None if cf is None else cf.gates,
            coverage_sensitivity=self.coverage_sensitivity,
        )
