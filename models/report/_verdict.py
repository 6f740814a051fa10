"""The verdict in plain words, and the texts around the gates: the override's and the envelope's
dates, what amplification means, and what the audit's power check found.

Every sentence is built from ``audit.json`` (:class:`beatwise.artefacts.audit.AuditReport`), so the
bias report and the model card say the same thing; the templates only lay the sentences out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from beatwise.artefacts.audit import AuditReport, CanaryPower
from models.audit import GATE_TITLES
from models.report._format import capfirst

#: the amplification gates (METRICS.md: G2 exposure, G3 burden per benefit, G4 false flags,
#: G5 protection)
AMPLIFICATION_GATES: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5")


@dataclass(frozen=True)
class GateLine:
    """A gate named in the verdict: id, title, status and its own explanation."""

    gid: str
    title: str
    status: str
    explanation: str


@dataclass(frozen=True)
class Verdict:
    """The publication decision in plain words, first in both documents."""

    kind: Literal["ok", "blocked", "override"]
    #: "Publishable.", "Blocked.", "Publishable by override."
    headline: str
    summary: str
    #: the gates that block publication (or would, but for the override)
    blocking: tuple[GateLine, ...]
    review: tuple[GateLine, ...]
    #: the override, the amplification gates, the board's envelope: one sentence each
    notes: tuple[str, ...]
    #: whether a recorded override has expired (the documents say so in so many words)
    override_expired: bool = False


def _title(audit: AuditReport, gid: str) -> str:
    gate = audit.gates.get(gid)
    return gate.title if gate is not None else GATE_TITLES.get(gid, gid)


def _line(audit: AuditReport, gid: str) -> GateLine:
    gate = audit.gates[gid]
    return GateLine(gid=gid, title=gate.title, status=gate.status, explanation=gate.explanation)


def named_gates(audit: AuditReport, gids: tuple[str, ...] | list[str]) -> str:
    """Gates as "G3 Burden-per-benefit amplification, G6 Calibration parity" ("none" if none)."""
    return ", ".join(f"{g} {_title(audit, g)}" for g in gids) or "none"


def override_note(audit: AuditReport) -> str | None:
    """The recorded override in one plain sentence: applied, expired, not needed, or unable to
    lift the block; None without one."""
    applied = audit.override_applied
    if applied is not None:
        return (
            f"An emergency override approved by {applied.approving_body} on "
            f"{applied.date.isoformat()} lifts {named_gates(audit, applied.overridden_gates)}. "
            f"It is valid until {applied.expires.isoformat()}; a run after that date is blocked "
            f"again. Its reason: {applied.reason}"
        )
    rec = audit.override
    if rec is None:
        return None
    who = f"{rec.approving_body} on {rec.date.isoformat()}"
    if rec.expired:
        ran = f" (this audit ran on {audit.run_date.isoformat()})" if audit.run_date else ""
        return (
            f"The override approved by {who} EXPIRED on {rec.expires.isoformat()}{ran}. An "
            "expired override lifts no gate"
            + (
                ": the blocked gates stand until the board approves anew."
                if audit.blocking_gates
                else "."
            )
        )
    if not audit.blocking_gates:
        return (
            f"An override approved by {who} (valid until {rec.expires.isoformat()}) is recorded "
            "but was not needed: no gate blocks publication."
        )
    return (
        f"An override approved by {who} (valid until {rec.expires.isoformat()}) is recorded "
        "but lifts nothing: it does not name every blocking gate, or a gate could not be "
        "checked (an unchecked gate cannot be overridden)."
    )


def _amplification_note(audit: AuditReport) -> str | None:
    gates = [g for g in AMPLIFICATION_GATES if g in audit.gates]
    if not gates:
        return None
    ref = audit.reference.label
    bad = [g for g in gates if audit.gates[g].status != "PASS"]
    if not bad:
        return (
            f"Held against {ref}, the model adds no disparity between groups that the "
            f"amplification gates ({gates[0]}–{gates[-1]}) can detect."
        )
    listed = ", ".join(f"{g} {audit.gates[g].title} ({audit.gates[g].status})" for g in bad)
    return f"Held against {ref}, the amplification gates do not all pass: {listed}."


def _envelope_note(audit: AuditReport) -> str | None:
    gate = audit.gates.get("G12")
    if gate is None:
        return None
    if gate.status == "NOT APPLICABLE":
        return (
            "The ethics board has ratified no absolute limits, so gate G12 is not applicable. "
            "How much absolute disparity to accept is the board's decision: see 'What you are "
            "asked to decide'."
        )
    if gate.status == "PASS":
        return f"The absolute limits the ethics board ratified hold (G12 PASS). {gate.explanation}"
    return f"G12 {gate.title} is {gate.status}: {gate.explanation}"


def verdict(audit: AuditReport) -> Verdict:
    """The publication decision, the gates behind it and the notes the board reads first."""
    blocking = tuple(_line(audit, g) for g in audit.blocking_gates)
    review = tuple(_line(audit, g) for g in audit.review_gates)
    notes = tuple(
        n
        for n in (override_note(audit), _amplification_note(audit), _envelope_note(audit))
        if n is not None
    )
    expired = audit.override is not None and audit.override.expired
    if audit.publishable and audit.override_applied is not None:
        return Verdict(
            kind="override",
            headline="Publishable by override.",
            summary="The forecast may be published only because an emergency override lifts "
            f"{_gates_n(len(blocking))} that would otherwise block it.",
            blocking=blocking,
            review=review,
            notes=notes,
            override_expired=expired,
        )
    if audit.publishable:
        summary = (
            "The forecast may be published: no gate that can block publication failed, and none "
            "lacked the data to be judged."
        )
        if review:
            summary += (
                f" {capfirst(_gates_n(len(review)))} {'asks' if len(review) == 1 else 'ask'} "
                "for a person's review before it is relied on."
            )
        else:
            summary += " No gate asks for review."
        return Verdict(
            kind="ok",
            headline="Publishable.",
            summary=summary,
            blocking=(),
            review=review,
            notes=notes,
            override_expired=expired,
        )
    return Verdict(
        kind="blocked",
        headline="Blocked.",
        summary="The forecast will not be published: the publish stage stops and writes no "
        f"forecast, because {_gates_n(len(blocking))} "
        f"{'blocks' if len(blocking) == 1 else 'block'} it.",
        blocking=blocking,
        review=review,
        notes=notes,
        override_expired=expired,
    )


def _gates_n(n: int) -> str:
    words = {1: "one gate", 2: "two gates", 3: "three gates", 4: "four gates", 5: "five gates"}
    return words.get(n, f"{n} gates")


def amplification_text(audit: AuditReport, *, coverage_words: str) -> str:
    """What gates G2-G5 measure, in one paragraph (``coverage_words``: "5.0% of the area")."""
    band = audit.gates["G2"].band if "G2" in audit.gates else "the amplification band"
    retention = ""
    if "G5" in audit.gates:
        retention = (
            " Gate G5 also asks for retention: each group's discovery under the model over "
            "its discovery under the reference, which must not fall below the level in G5's "
            f"band ({audit.gates['G5'].band}), so that no group is protected less in absolute "
            "terms (no levelling down)."
        )
    return (
        f"Gates G2–G5 do not judge absolute disparities; they ask whether the model adds any. "
        f"Each group's ratio to all residents (exposure, burden per benefit, false flags, "
        f"discovery) is computed twice: for the model's flags and for {audit.reference.label}'s "
        f"flags, both covering {coverage_words} in the same {_plural(audit)}. The amplification "
        "is the model's ratio over the reference's: 1 means the model adds nothing; above 1, "
        "the model raises that group's ratio beyond the reference's, below 1 it lowers it. "
        "The 95% interval comes from a paired block bootstrap: the same resampled "
        f"{_plural(audit)} for both allocations, so the noise they share "
        f"cancels. A gate passes when every group's amplification lies in its band ({band}); "
        "it fails when a group's whole interval lies outside." + retention
    )


def _plural(audit: AuditReport) -> str:
    return "months" if audit.period == "month" else "weeks"


@dataclass(frozen=True)
class PowerRow:
    """One canary of the power check as the documents print it."""

    favours: str
    rescaled: str
    smallest_beta: str
    caught_by: str
    failed_at_half: str
    caught_at_half: bool


@dataclass(frozen=True)
class PowerView:
    """The power check: what it starts from, one row per canary, and what that means."""

    base: str
    betas: str
    rows: tuple[PowerRow, ...]
    sentences: tuple[str, ...]


_REQUIRED_BETA: Final[float] = 0.5


def _beta(x: float | None) -> str:
    return "not caught at any beta tried" if x is None else f"{x:g}"


def power_view(audit: AuditReport) -> PowerView | None:
    """The canaries of ``audit.power`` as rows and sentences; None when the audit has none."""
    power = audit.power
    if power is None:
        return None
    rows = tuple(
        PowerRow(
            favours=capfirst(c.label),
            rescaled="yes" if c.rescaled else "no",
            smallest_beta=_beta(c.smallest_beta_caught),
            caught_by=named_gates(audit, c.caught_by) if c.caught_by else "—",
            failed_at_half=named_gates(audit, c.failed_at_half)
            if c.failed_at_half
            else "none: it passes every hard gate",
            caught_at_half=bool(c.failed_at_half),
        )
        for c in power.canaries
    )
    betas = sorted({b for c in power.canaries for b in c.betas})
    sentences = [
        f"Each canary is {power.base} made to favour one group on purpose: every cell's risk is "
        "multiplied by 1 + beta × the share of its residents in that group (beta = 0.2 inflates "
        "the risk of a cell where everyone belongs to the group by 20%). A rescaled canary keeps "
        f"each {_plural(audit)[:-1]}'s total risk unchanged, so only where the risk lies moves. "
        "Each canary is audited like a model; it is caught when a hard gate FAILs."
    ]
    escaped = [c for c in power.canaries if not c.failed_at_half]
    if power.base_failed:
        sentences.append(
            f"{capfirst(power.base)} itself, unaltered, fails "
            f"{named_gates(audit, power.base_failed)}: "
            "the gates would block a perfect allocation, so their verdicts need review."
        )
    if escaped:
        sentences.append(
            "At beta = 0.5 these canaries pass every hard gate, so the gates cannot see a "
            f"forecast biased that much towards them: {_canary_names(escaped)}. METRICS.md "
            "asks for the band to tighten until they are caught."
        )
    elif power.canaries and not power.base_failed:
        sentences.append(
            f"At beta = {_REQUIRED_BETA:g} every canary fails at least one hard gate while "
            f"{power.base}, unaltered, passes them all: the gates see a forecast biased this "
            "much, as METRICS.md requires."
        )
    caught = [c for c in power.canaries if c.smallest_beta_caught is not None]
    if caught:
        smallest = min(c.smallest_beta_caught or 0.0 for c in caught)
        largest = max(c.smallest_beta_caught or 0.0 for c in caught)
        first = [c for c in caught if c.smallest_beta_caught == smallest]
        last = [c for c in caught if c.smallest_beta_caught == largest]
        if smallest == largest and len(caught) == len(power.canaries):
            sentences.append(
                f"Every canary is caught from beta = {smallest:g}; a forecast biased less than "
                "that would pass unseen."
            )
        else:
            who = _canary_names(first) if len(first) == 1 else _count_of(first, power.canaries)
            sentences.append(
                f"The smallest bias caught is beta = {smallest:g} ({who}); the hardest to catch "
                f"is {_canary_names(last)}, caught from beta = {largest:g}. A forecast biased "
                "less than that towards it would pass unseen."
            )
    return PowerView(
        base=power.base,
        betas=", ".join(f"{b:g}" for b in betas),
        rows=rows,
        sentences=tuple(sentences),
    )


def _count_of(some: list[CanaryPower], every: tuple[CanaryPower, ...]) -> str:
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    return f"{words.get(len(some), len(some))} of the {words.get(len(every), len(every))} canaries"


def _canary_names(canaries: list[CanaryPower]) -> str:
    return "; ".join(
        f"the canary favouring {c.label}{' (rescaled)' if c.rescaled else ''}" for c in canaries
    )


_HEAD = re.compile(r"^([A-Za-z_][\w]*)(.*)$")
#: G6's two parts in words
_OVER: Final[dict[str, str]] = {"all cells": "over all cells", "flagged": "over flagged cells only"}


def section_title(audit: AuditReport, section: str) -> str:
    """A gate's section of comparisons in words: "Groups by deprivation: retention",
    "Strata of cells by <label> (deprivation_score), flagged"."""
    m = _HEAD.match(section)
    if m is None:
        return section
    name, rest = m.groups()
    suffix = rest.strip()
    if suffix.startswith("(") and suffix.endswith(")"):
        inner = suffix[1:-1]
        suffix = ", " + _OVER.get(inner, inner)
    elif suffix:
        suffix = rest
    if name in audit.strata:
        return f"Strata of cells by {audit.strata[name].label} ({name}){suffix}"
    if name in audit.groups:
        return f"Groups of residents by {name}{suffix}"
    return capfirst(section)
