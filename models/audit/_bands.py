"""Judging a figure against its band, in numbers and in words.

A comparison (a group, a stratum) is an :class:`Entry`: its value and 95% interval, the status of
:func:`classify_against_band`, and a plain-English phrase. :func:`gate_from_entries` combines a
gate's comparisons: the worst status decides, then the one furthest from its band, and the text
says what that comparison found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from beatwise.artefacts.audit import BandCheck, Check
from models.audit._catalogue import GATE_KINDS, SEVERITY, Status
from models.audit._gate import GateResult

EPS: Final[float] = 1e-12


def classify_against_band(
    value: float | None,
    ci_low: float | None,
    ci_high: float | None,
    *,
    low: float | None = None,
    high: float | None = None,
) -> Literal["PASS", "REVIEW", "FAIL", "INSUFFICIENT DATA"]:
    """PASS inside the band; REVIEW outside but the interval reaches in; FAIL otherwise.

    The band is closed ``[low, high]``; either side may be None (one-sided). A missing or
    non-finite value is INSUFFICIENT DATA; a missing interval cannot rescue a value outside the
    band, so it FAILs.
    """
    if value is None or not math.isfinite(value):
        return "INSUFFICIENT DATA"
    lo_ok = low is None or value >= low - EPS
    hi_ok = high is None or value <= high + EPS
    if lo_ok and hi_ok:
        return "PASS"
    if ci_low is not None and ci_high is not None and math.isfinite(ci_low + ci_high):
        reaches = (low is None or ci_high >= low - EPS) and (high is None or ci_low <= high + EPS)
        if reaches:
            return "REVIEW"
    return "FAIL"


def band_text(low: float | None, high: float | None) -> str:
    """A band in words: ``[0.80, 1.25]``, ``≥ 0.80`` or ``≤ 1.15``."""
    if low is not None and high is not None:
        return f"[{low:.2f}, {high:.2f}]"
    if low is not None:
        return f"≥ {low:.2f}"
    return f"≤ {high:.2f}"


def band_distance(value: float | None, low: float | None, high: float | None) -> float:
    """How far outside the band a ratio is, on the log scale (0 inside)."""
    if value is None or not math.isfinite(value) or value <= 0:
        return math.inf if value is not None and value == 0 else 0.0
    lv = math.log(value)
    d = 0.0
    if low is not None:
        d = max(d, math.log(low) - lv)
    if high is not None:
        d = max(d, lv - math.log(high))
    return d


@dataclass(frozen=True)
class Entry:
    """One judged comparison, with the phrase that describes it in a gate's text."""

    section: str  # attribute or stratum spec name
    label: str  # group key, stratum or comparison label
    value: float | None
    ci_low: float | None
    ci_high: float | None
    status: Status
    band: str
    phrase: str  # plain-English description of the value
    note: str = ""
    distance: float = 0.0
    #: a group's or stratum's plain-English label; None for another comparison
    name: str | None = None

    @property
    def named(self) -> str:
        """The comparison in words: "residents of ... (q1)" for a group, "cells in ... (Q1)" for
        a stratum, else its section and label."""
        if self.name:
            return f"{self.name} ({self.label})"
        return f"{self.section} '{self.label}'"

    def to_check(self) -> BandCheck:
        """The comparison as the gate's ``by_group`` entry records it."""
        return BandCheck(
            label=self.name,
            value=self.value,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            status=self.status,
            band=self.band,
            note=self.note,
        )


def judged_entry(
    *,
    section: str,
    label: str,
    value: float,
    interval: tuple[float, float],
    low: float | None,
    high: float | None,
    phrase: str,
    insufficient: str | None,
    soft: bool,
    name: str | None = None,
    not_applicable: str | None = None,
) -> Entry:
    """One comparison judged against its band; ``insufficient`` (a reason) overrides the figure,
    and a soft gate's FAIL becomes REVIEW. ``name`` is a group's or stratum's plain-English
    label.

    ``not_applicable`` (a reason) records a comparison with nothing at stake, for example a
    stratum's calibration among flagged cells when the stratum was hardly ever flagged: it is
    shown with its reason and does not decide the gate.
    """
    band = band_text(low, high)
    if not_applicable:
        return Entry(
            section,
            label,
            value,
            *interval,
            "NOT APPLICABLE",
            band,
            phrase,
            not_applicable,
            name=name,
        )
    if insufficient:
        return Entry(
            section,
            label,
            value,
            *interval,
            "INSUFFICIENT DATA",
            band,
            phrase,
            insufficient,
            name=name,
        )
    status: Status = classify_against_band(value, *interval, low=low, high=high)
    note = ""
    if status == "INSUFFICIENT DATA":
        note = "the figure cannot be computed (no flagged cells or no recorded events)"
    elif status == "FAIL" and soft:
        status = "REVIEW"
        note = "whole interval outside the band; advisory gate, so review rather than fail"
    elif status == "FAIL":
        note = "whole interval outside the band"
    elif status == "REVIEW":
        note = "outside the band, but the interval reaches into it"
    return Entry(
        section,
        label,
        value,
        *interval,
        status,
        band,
        phrase,
        note,
        band_distance(value, low, high),
        name,
    )


def fmt(x: float | None, digits: int = 2) -> str:
    """A figure in a gate's text; "n/a" where it is undefined."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def gate_from_entries(
    gate: str, entries: list[Entry], *, band: str, what: str, empty_reason: str
) -> GateResult:
    """Combine comparisons: the worst status decides, then the furthest from the band."""
    soft = GATE_KINDS[gate] == "soft"
    by_group: dict[str, dict[str, BandCheck | Check]] = {}
    for e in entries:
        by_group.setdefault(e.section, {})[e.label] = e.to_check()
    if not entries:
        tail = "" if soft else "; publication is blocked unless an override is recorded"
        return GateResult(
            gate,
            "INSUFFICIENT DATA",
            None,
            None,
            None,
            band,
            f"This gate cannot be judged because {empty_reason}{tail}.",
        )

    def key(e: Entry) -> tuple[float, float, float]:
        spread = abs(math.log(e.value)) if e.value and math.isfinite(e.value) else 0.0
        return (SEVERITY[e.status], e.distance, spread)

    worst = max(entries, key=key)
    status = worst.status
    if status == "NOT APPLICABLE":
        return GateResult(
            gate,
            "INSUFFICIENT DATA",
            None,
            None,
            None,
            band,
            f"Every comparison of this gate has too little at stake to judge ({worst.note}); "
            "it is not passed.",
            by_group,
        )
    # after the phrase, which may end on a group's key in brackets: a comma, not more brackets
    interval = f"with a 95% interval of {fmt(worst.ci_low)}–{fmt(worst.ci_high)}"
    phrase = worst.phrase[:1].upper() + worst.phrase[1:]
    if status == "PASS":
        text = (
            f"Every {what} is inside its band ({band}); the furthest from parity: {worst.phrase}, "
            f"{interval}."
        )
    elif status == "REVIEW" and worst.note.startswith("whole interval"):
        text = (
            f"{phrase}, {interval}, entirely outside the band {worst.band}; this gate is "
            "advisory, so it asks for review rather than blocking publication."
        )
    elif status == "REVIEW":
        text = (
            f"{phrase}, {interval}, outside the band {worst.band}, but the interval reaches "
            "into it, so a person should review it before relying on the forecast."
        )
    elif status == "FAIL":
        text = (
            f"{phrase}, {interval}, entirely outside the band {worst.band}, which blocks "
            "publication."
        )
    else:
        tail = (
            "; this gate is advisory"
            if soft
            else "; publication is blocked unless the groups are redefined or an override is "
            "recorded"
        )
        text = (
            f"There is too little data to judge {worst.named} ({worst.note}), "
            f"so this gate is not passed{tail}."
        )
    return GateResult(
        gate,
        status,
        worst.value,
        worst.ci_low,
        worst.ci_high,
        band,
        text,
        by_group,
        f"{worst.section}: {worst.label}",
        worst.name,
    )
