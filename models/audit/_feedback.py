"""Gate G11: feedback stability, judged by the ``feedback`` stage's closed-loop simulation.

The simulation itself (``reports/feedback.json``, :class:`beatwise.artefacts.feedback.
FeedbackReport`) runs before the audit: on the synthetic city, each week the forecast flags cells,
patrol follows the flags and recording answers patrol (the closed loop), beside the same city and
seeds with flags that never reach the data (the open loop). Each group's drift is its share of
flags over its share of true harm, closed over open. The gate takes the report's verdict on the
scenario that matches the pipeline's configuration and shows each group's drift against the band.

Without a report the gate is NOT CHECKED: a hard gate that was not checked blocks publication,
and no override lifts it (``AuditResult.override_applied``).
"""

from __future__ import annotations

import math
from typing import Final

from beatwise.artefacts.audit import BandCheck, Check
from beatwise.artefacts.feedback import FeedbackReport, GroupDrift, ScenarioResult
from beatwise.artefacts.quality import SOURCE_WORDS
from models.audit._bands import band_text, fmt
from models.audit._catalogue import SEVERITY, Status
from models.audit._gate import GateResult

#: what G11 does with the report's status: a hard gate is judged, or it was not checked
_JUDGED: Final[frozenset[str]] = frozenset({"PASS", "REVIEW", "FAIL", "INSUFFICIENT DATA"})
#: the sentence every synthetic-only finding carries (the bias report prints it too)
SYNTHETIC_EVIDENCE: Final[str] = (
    "This city's data cannot run the loop; these are the synthetic city's results for the same "
    "configuration."
)


def configured_scenario(report: FeedbackReport) -> ScenarioResult:
    """The scenario matching the pipeline's own configuration (the one G11 judges).

    Refuses a report with none or more than one, naming the scenarios.
    """
    configured = [s for s in report.scenarios if s.configured]
    if len(configured) != 1:
        raise ValueError(
            "feedback.json must mark exactly one scenario as the configured one (the one gate "
            f"G11 judges). Got {len(configured)} among {[s.name for s in report.scenarios]}."
        )
    return configured[0]


def log_drift(g: GroupDrift) -> float:
    """How far a group's drift is from 1 on the log scale (0 when undefined)."""
    v = g.drift.value
    return abs(math.log(v)) if v is not None and math.isfinite(v) and v > 0 else 0.0


def largest_drift(groups: list[GroupDrift]) -> GroupDrift | None:
    """The group furthest from 1: the worst status first, then the largest log drift."""
    if not groups:
        return None
    return max(groups, key=lambda g: (SEVERITY.get(g.status, 0), log_drift(g)))


def check_feedback(report: FeedbackReport, *, coverage: float, band: tuple[float, float]) -> None:
    """Refuse a simulation of another configuration: its coverage and band must be the audit's."""
    if not math.isclose(report.coverage, coverage, rel_tol=1e-9):
        raise ValueError(
            f"feedback.json simulates flagging {report.coverage} of the area; the audit's "
            f"operational coverage is {coverage}. Re-run the feedback stage with the same "
            "operational.coverage."
        )
    if not all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(report.band, band, strict=True)):
        raise ValueError(
            f"feedback.json judges drift against the band {list(report.band)}; the audit's "
            f"amplification band is {list(band)}. Re-run the feedback stage with the same "
            "audit.amplification_band."
        )


def _section(g: GroupDrift) -> str:
    """Where a group's check sits in the gate's record: "districts", or its audit attribute."""
    return "districts" if g.kind == "district" else g.attribute


def _interval(g: GroupDrift) -> str:
    return f"95% interval over seeds {fmt(g.drift.low)}–{fmt(g.drift.high)}"


def not_checked_feedback() -> GateResult:
    """G11 without ``feedback.json``: NOT CHECKED, which blocks and cannot be overridden."""
    return GateResult(
        "G11",
        "NOT CHECKED",
        None,
        None,
        None,
        "the amplification band",
        "Not checked: the feedback stage did not run, so nothing shows whether this forecast, "
        "followed by patrol, drifts any district's or group's share of flags away from its "
        "share of true harm. A hard gate that was not checked blocks publication, and no "
        "override lifts it.",
    )


def gate_feedback(report: FeedbackReport | None) -> GateResult:
    """G11: the feedback report's status on the configured scenario, with each group's drift
    (closed loop over open) against the band; NOT CHECKED without a report."""
    if report is None:
        return not_checked_feedback()
    scenario = configured_scenario(report)
    low, high = report.band
    band = band_text(low, high)
    by_group: dict[str, dict[str, BandCheck | Check]] = {}
    for g in scenario.groups:
        by_group.setdefault(_section(g), {})[g.key] = BandCheck(
            label=g.label,
            value=g.drift.value,
            ci_low=g.drift.low,
            ci_high=g.drift.high,
            status=g.status,
            band=band,
            note=g.reason,
        )
    status: Status = report.status if report.status in _JUDGED else "NOT CHECKED"
    same_status = [g for g in scenario.groups if g.status == report.status]
    worst = largest_drift(same_status or scenario.groups)
    run = (
        f"In the closed-loop simulation of the synthetic city over {report.weeks} weeks and "
        f"{len(report.seeds)} seed{'s' if len(report.seeds) != 1 else ''}, under the configured "
        "scenario "
        f"({scenario.label.strip().rstrip('.')})"
    )
    if worst is None:
        # nothing judged is never a pass (METRICS.md: "never silently passed")
        status = "INSUFFICIENT DATA" if status in ("PASS", "REVIEW") else status
        text = (
            f"{run}, no district or group was reported, so this gate is not passed; publication "
            "is blocked unless an override is recorded."
        )
    else:
        found = (
            f"the drift of {worst.label} (its share of flags over its share of true harm, closed "
            f"loop over open loop) ends at {fmt(worst.drift.value)} ({_interval(worst)})"
        )
        text = {
            "PASS": f"{run}, every district's and group's share of flags stays within the band "
            f"{band} of what it is when flags never reach the data; the largest drift: {found}.",
            "REVIEW": f"{run}, {found}: outside the band {band}, but the interval reaches into "
            "it, so a person should review it before relying on the forecast.",
            "FAIL": f"{run}, {found}: entirely outside the band {band}. Followed by patrol, the "
            "forecast feeds on its own records, which blocks publication.",
            "INSUFFICIENT DATA": f"{run}, there is too little data to judge {worst.label} "
            f"({worst.reason}), so this gate is not passed; publication is blocked unless an "
            "override is recorded.",
        }.get(
            status,
            f"{run}, the feedback stage reported {report.status}, which a hard gate cannot pass; "
            "publication waits for a judged simulation.",
        )
        if worst.reason.strip() and status in ("REVIEW", "FAIL"):
            text += f" Why: {worst.reason.strip().rstrip('.')}."
    if report.synthetic_evidence_only:
        data = SOURCE_WORDS.get(report.data_source, report.data_source)
        text += f" {SYNTHETIC_EVIDENCE[:-1]} (this forecast's data are {data})."
    return GateResult(
        "G11",
        status,
        None if worst is None else worst.drift.value,
        None if worst is None else worst.drift.low,
        None if worst is None else worst.drift.high,
        band,
        text,
        by_group,
        None if worst is None else f"{_section(worst)}: {worst.key}",
        None if worst is None else worst.label,
    )
