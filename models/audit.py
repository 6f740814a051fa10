"""The bias audit: assess fairness-related harms of the flagged set against gates G1–G10.

The audit follows ``METRICS.md`` ("Audit groups" and "Audit gates"). It takes the model's flagged
set at the operational coverage over the backtest periods, the realised target counts and the
model's expected counts, all as dense ``[week, cell]`` arrays with cells in the order of
``cells.parquet``, and judges each gate. A "week" in this module is any forecast period: the rows
are calendar months in monthly mode (``features.period``); ``run_audit(period=...)`` only changes
the words of the texts and the ``period`` of ``audit.json``.

* **PASS** – the point estimate is inside the band.
* **REVIEW** – the point estimate is outside the band but its 95% block-bootstrap interval reaches
  into it. A soft gate (G2, G7) never does worse than REVIEW.
* **FAIL** – the whole interval is outside the band (or an exact gate is broken).
* **INSUFFICIENT DATA** – a group or stratum the gate needs is too small to judge (fewer than
  ``min_flagged_cell_periods`` flagged cell-periods (cell-weeks or cell-months) or fewer than
  ``min_residents`` residents), or an
  input the gate needs was not supplied. This is never a pass: on a hard gate it **blocks**
  publication exactly like a FAIL, and only a recorded :class:`AuditOverride` lifts the block. The
  remedy without an override is to redefine the groups (for example merge small ones) in params.
* **NOT CHECKED** – G10 before :meth:`AuditResult.with_documentation` has looked at the rendered
  documents. It blocks publication and cannot be overridden.

``publishable`` is True when no hard gate is FAIL, INSUFFICIENT DATA or NOT CHECKED, or when an
override is given and no hard gate is NOT CHECKED. REVIEW never blocks (METRICS.md: "any hard FAIL
blocks publication"); it is listed in ``review_gates`` so that a person looks at it.

Group figures describe residents of areas, not individuals: a cell's residents of group ``g``
(``P_gc``) are apportioned by area overlap, and a cell's recorded victimisation is shared among its
residents in proportion (``Y_c · P_gc / P_c``). The point estimates by group are fairlearn
``MetricFrame`` results on cell-level aggregates, one row per (cell, group) pair weighted by
``P_gc``; the intervals come from a vectorised block bootstrap over weeks (per-week group sums by a
``[week, cell] @ [cell, group]`` product, then resampled weeks as a count matrix).

The audit stage calls, in order::

    result = run_audit(flagged, y, scores, cells, config=..., target=..., ...)
    html = render_bias_report(result.to_dict(), ...)
    card = render_model_card(result.to_dict(), ...)
    result = result.with_documentation(report_html=html, model_card_md=card, model_version=v)
    # render once more so the documents show the G10 outcome; their sections do not depend on it
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Annotated, Any, Final, Literal, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from fairlearn.metrics import MetricFrame
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from beatwise.period import Period, check_period, period_words
from beatwise.taxonomy import POLICE_ACTIVITY_TYPES, validate_crime_types
from models.bootstrap import block_bootstrap_indices, percentile_interval

logger = logging.getLogger(__name__)

Status = Literal["PASS", "REVIEW", "FAIL", "INSUFFICIENT DATA", "NOT CHECKED"]
GateKind = Literal["hard", "soft"]
GateId = Literal["G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10"]

GATE_IDS: Final[tuple[GateId, ...]] = ("G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10")
GATE_KINDS: Final[dict[str, GateKind]] = {
    "G1": "hard",
    "G2": "soft",
    "G3": "hard",
    "G4": "hard",
    "G5": "hard",
    "G6": "hard",
    "G7": "soft",
    "G8": "hard",
    "G9": "hard",
    "G10": "hard",
}
GATE_TITLES: Final[dict[str, str]] = {
    "G1": "Target purity",
    "G2": "Exposure parity",
    "G3": "Burden vs benefit",
    "G4": "False-flag parity",
    "G5": "Missed-protection parity",
    "G6": "Calibration parity",
    "G7": "Quality of service",
    "G8": "No worse than the baselines",
    "G9": "Granularity",
    "G10": "Documentation",
}
#: What each gate checks, in words an ethics board reads without code.
GATE_CHECKS: Final[dict[str, str]] = {
    "G1": "The crimes being forecast are ones victims report, not offences that are mostly "
    "recorded where police chose to look (drugs, weapons possession, public order, anti-social "
    "behaviour, other crime), unless a written reason is given.",
    "G2": "Each group's residents live in flagged cells about as often as the largest group's "
    "residents (ratio of exposure).",
    "G3": "Each group's share of the flagging is matched by its share of the protection: exposure "
    "ratio divided by the ratio of victimisation covered.",
    "G4": "Flagged cells where a group lives turn out to have no target crime about as often as "
    "for the largest group (ratio of false-flag rates).",
    "G5": "Each group's recorded victimisation is captured by the flagged cells at least 80% as "
    "well as the largest group's (ratio of victimisation-weighted recall).",
    "G6": "Forecast counts match recorded counts (observed / expected) in every stratum of areas, "
    "and no stratum is much better served than another.",
    "G7": "The forecast picks out crime about as efficiently (PAI) in every stratum of areas.",
    "G8": "The model beats the best simple baseline at the operational coverage (lift of PAI).",
    "G9": "What is published is coarse enough: cells no finer than allowed, no event-level rows, "
    "small historical counts suppressed.",
    "G10": "The bias report and model card for this model version carry every required section.",
}

_SEVERITY: Final[dict[str, int]] = {
    "PASS": 1,
    "REVIEW": 2,
    "INSUFFICIENT DATA": 3,
    "FAIL": 4,
    "NOT CHECKED": 5,
}
_BLOCKING: Final[frozenset[str]] = frozenset({"FAIL", "INSUFFICIENT DATA", "NOT CHECKED"})
_EPS: Final[float] = 1e-12

#: The caveats every bias report and model card carry (STYLE.md; METRICS.md "Audit groups").
CAVEATS: Final[dict[str, str]] = {
    "feedback_loop": (
        "Recorded crime partly reflects where police were sent. Areas that were patrolled more "
        "record more crime, so a forecast trained on recorded crime can send police back to the "
        "same places and make its own predictions come true. Every figure in this report is "
        "measured against recorded crime, not against all crime that happened, and cannot rule "
        "this loop out."
    ),
    "ecological": (
        "Group figures describe residents of areas, not people. A cell's residents are counted "
        "by group from census areas, and its recorded crime is shared among them in proportion "
        "to their numbers. The figures say nothing about any individual, nor about who offended "
        "or who was victimised."
    ),
}

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttributeSpec(_Frozen):
    """A sensitive attribute: groups of residents, each a ``res_<group>`` column of cells.

    ``reference`` is ``"largest"`` (the group with most residents, METRICS.md's default) or one of
    the group labels.
    """

    name: NonEmptyStr
    groups: dict[str, str] = Field(min_length=2)
    reference: NonEmptyStr = "largest"

    @model_validator(mode="after")
    def _check_reference(self) -> AttributeSpec:
        if self.reference != "largest" and self.reference not in self.groups:
            raise ValueError(
                f"Attribute {self.name!r}: reference must be 'largest' or one of its group labels "
                f"{sorted(self.groups)}. Got {self.reference!r}."
            )
        return self


class StratumSpec(_Frozen):
    """Strata of cells: ``n_quantiles`` equal-count bins of a cell attribute (Q1 = lowest)."""

    name: NonEmptyStr
    column: NonEmptyStr
    n_quantiles: int = Field(5, ge=2, le=20)


def _default_attributes() -> tuple[AttributeSpec, ...]:
    return (
        AttributeSpec(
            name="ethnicity", groups={"minority": "res_minority", "majority": "res_majority"}
        ),
        AttributeSpec(
            name="deprivation",
            groups={f"q{i}": f"res_dep_q{i}" for i in range(1, 6)},
        ),
    )


def _default_strata() -> tuple[StratumSpec, ...]:
    return (
        StratumSpec(name="minority_share", column="minority_share"),
        StratumSpec(name="deprivation_score", column="deprivation_score"),
    )


Band = tuple[float, float]


class AuditConfig(_Frozen):
    """Knobs of the audit; defaults are METRICS.md's bands and thresholds.

    Ratio bands are closed intervals ``(low, high)``; one-sided gates take a single bound.
    """

    coverage: float = Field(0.05, gt=0.0, le=1.0)
    exposure_band: Band = (0.8, 1.25)
    burden_benefit_band: Band = (0.8, 1.25)
    false_flag_band: Band = (0.8, 1.25)
    recall_ratio_min: float = Field(0.8, gt=0.0)
    calibration_band: Band = (0.9, 1.1)
    calibration_max_ratio: float = Field(1.15, ge=1.0)
    quality_of_service_min: float = Field(0.8, gt=0.0, le=1.0)
    lift_min: float = Field(1.0, gt=0.0)
    #: fewer flagged cell-periods (cell-weeks, or cell-months in monthly mode): INSUFFICIENT DATA
    min_flagged_cell_periods: float = Field(30, ge=0)
    min_residents: float = Field(10_000, ge=0)
    n_boot: int = Field(1000, ge=100)
    seed: int = 0
    block_len: int = Field(4, ge=1)
    residents_column: NonEmptyStr = "residents"
    area_column: NonEmptyStr = "area_km2"
    attributes: tuple[AttributeSpec, ...] = Field(default_factory=_default_attributes)
    strata: tuple[StratumSpec, ...] = Field(default_factory=_default_strata)

    @model_validator(mode="after")
    def _check_bands(self) -> AuditConfig:
        for name in ("exposure_band", "burden_benefit_band", "false_flag_band", "calibration_band"):
            low, high = getattr(self, name)
            if not 0.0 < low < high:
                raise ValueError(
                    f"{name} must be (low, high) with 0 < low < high. Got {(low, high)}."
                )
        names = [a.name for a in self.attributes] + [s.name for s in self.strata]
        if len(set(names)) != len(names):
            raise ValueError(f"Attribute and stratum names must be unique. Got {names}.")
        return self


class AuditOverride(_Frozen):
    """A recorded decision to publish despite blocking gates (METRICS.md: a params entry).

    Every field is required and non-empty; the override is printed on the report and the
    forecast's metadata. It does not change any gate's status, only ``publishable``, and only for
    the gates it names: an approval is for known failures, so a gate that starts failing later
    still blocks until someone approves that one too.
    """

    approving_body: NonEmptyStr
    date: dt.date
    reason: NonEmptyStr
    gates: tuple[GateId, ...] = Field(min_length=1)


class TargetDefinition(_Frozen):
    """The target crime types and, for any police-activity type among them, the written reason."""

    target_types: tuple[str, ...] = Field(min_length=1)
    police_activity_reasons: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_types(self) -> TargetDefinition:
        validate_crime_types(self.target_types, what="target.target_types")
        bad = sorted(set(self.police_activity_reasons) - set(POLICE_ACTIVITY_TYPES))
        if bad:
            raise ValueError(
                f"target.police_activity_reasons may only name police-activity types "
                f"{list(POLICE_ACTIVITY_TYPES)}. Got {bad}."
            )
        return self


class GranularityCheck(_Frozen):
    """What the publish stage will write, for G9.

    ``min_count_shown`` is the smallest historical count that appears unsuppressed in published
    output, or None when no historical counts are shown. METRICS.md suppresses counts below 3, so
    any shown count of 0, 1 or 2 fails.
    """

    published_resolution: int = Field(ge=0, le=15)
    max_resolution: int = Field(ge=0, le=15)
    event_level_rows: bool
    min_count_shown: int | None = Field(default=None, ge=0)


class LiftEstimate(_Frozen):
    """Lift of the model's PAI over the best baseline at the operational coverage (for G8)."""

    estimate: float
    ci_low: float
    ci_high: float
    baseline: str | None = None

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any], *, key: str = "lift_pai_at_5pct") -> Self:
        """Read the evaluate stage's ``metrics[key]``.

        Accepts ``{"estimate"|"value"|"point"|"lift": x, "ci_low": a, "ci_high": b}`` or
        ``{..., "ci": [a, b]}``, with an optional ``"baseline"``/``"best_baseline"`` name.
        """
        if key not in metrics:
            raise KeyError(f"metrics has no {key!r} entry; keys are {sorted(metrics)}.")
        return cls.model_validate(parse_lift_entry(metrics[key]))


def parse_lift_entry(entry: Any) -> dict[str, Any]:
    """Normalise a lift entry of the metrics dict to ``{estimate, ci_low, ci_high, baseline}``."""
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"A lift entry must be a mapping with an estimate and a 95% interval. Got {entry!r}."
        )
    estimate = next(
        (entry[k] for k in ("estimate", "value", "point", "lift") if entry.get(k) is not None),
        None,
    )
    if estimate is None:
        raise ValueError(
            "A lift entry needs an estimate ('estimate', 'value', 'point' or 'lift'). "
            f"Got {dict(entry)!r}."
        )
    if entry.get("ci") is not None:
        ci_low, ci_high = entry["ci"]
    else:
        ci_low, ci_high = entry.get("ci_low"), entry.get("ci_high")
    baseline = entry.get("baseline", entry.get("best_baseline"))
    return {
        "estimate": float(estimate),
        # A missing interval (metrics.py writes null for NaN) cannot rescue a low estimate.
        "ci_low": math.nan if ci_low is None else float(ci_low),
        "ci_high": math.nan if ci_high is None else float(ci_high),
        "baseline": None if baseline is None else str(baseline),
    }


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome; ``value`` and ``ci_*`` belong to the comparison named in ``deciding``."""

    gate: str
    status: Status
    value: float | None
    ci_low: float | None
    ci_high: float | None
    band: str
    explanation: str
    by_group: dict[str, Any] = field(default_factory=dict)
    deciding: str | None = None

    @property
    def kind(self) -> GateKind:
        return GATE_KINDS[self.gate]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(
            {
                "status": self.status,
                "value": self.value,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "band": self.band,
                "kind": self.kind,
                "title": GATE_TITLES[self.gate],
                "checks": GATE_CHECKS[self.gate],
                "explanation": self.explanation,
                "deciding": self.deciding,
                "by_group": self.by_group,
            }
        )


@dataclass(frozen=True)
class AuditResult:
    """Gates, group and stratum figures, and the publication decision of one audit."""

    coverage: float
    gates: dict[str, GateResult]
    groups: dict[str, Any]
    strata: dict[str, Any]
    n_periods: int
    n_cells: int
    realised_area_share: float
    override: AuditOverride | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: the backtest's period ("week" or "month"), for the words of the documents
    period: Period = "week"

    @property
    def blocking_gates(self) -> list[str]:
        """Hard gates whose status blocks publication (FAIL, INSUFFICIENT DATA, NOT CHECKED)."""
        return [
            gid
            for gid in GATE_IDS
            if gid in self.gates
            and self.gates[gid].kind == "hard"
            and self.gates[gid].status in _BLOCKING
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
                or (self.gates[gid].kind == "soft" and self.gates[gid].status in _BLOCKING)
            )
        ]

    @property
    def override_applied(self) -> dict[str, Any] | None:
        """The override and the gates it lifts, when one is given and something blocks."""
        blocking = self.blocking_gates
        if self.override is None or not blocking:
            return None
        if any(self.gates[g].status == "NOT CHECKED" for g in blocking):
            return None
        if not set(blocking) <= set(self.override.gates):
            return None
        return {
            "approving_body": self.override.approving_body,
            "date": self.override.date.isoformat(),
            "reason": self.override.reason,
            "approved_gates": list(self.override.gates),
            "overridden_gates": blocking,
            "text": (
                f"Publication of this forecast was approved by {self.override.approving_body} "
                f"on {self.override.date.isoformat()} despite gate(s) "
                f"{', '.join(blocking)}, for this reason: {self.override.reason}"
            ),
        }

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
        model_version: str | None = None,
        required_report_sections: Sequence[str] | None = None,
        required_card_sections: Sequence[str] | None = None,
    ) -> AuditResult:
        """A copy with G10 judged on the rendered bias report and model card."""
        gate = check_documentation(
            report_html,
            model_card_md,
            model_version=model_version,
            required_report_sections=required_report_sections,
            required_card_sections=required_card_sections,
        )
        return replace(self, gates={**self.gates, "G10": gate})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (NaN -> null) for ``reports/audit.json`` and the report."""
        override = None
        if self.override is not None:
            override = {
                "approving_body": self.override.approving_body,
                "date": self.override.date.isoformat(),
                "reason": self.override.reason,
            }
        return _jsonable(
            {
                "publishable": self.publishable,
                "coverage": self.coverage,
                "realised_area_share": self.realised_area_share,
                "period": self.period,
                "n_periods": self.n_periods,
                "n_cells": self.n_cells,
                "gates": {gid: self.gates[gid].to_dict() for gid in GATE_IDS if gid in self.gates},
                "blocking_gates": self.blocking_gates,
                "review_gates": self.review_gates,
                "groups": self.groups,
                "strata": self.strata,
                "override": override,
                "override_applied": self.override_applied,
                "settings": self.settings,
                "caveats": dict(CAVEATS),
            }
        )


def _jsonable(obj: Any) -> Any:
    """Plain Python types for JSON: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


# --------------------------------------------------------------------------------------------
# Judging a value against a band
# --------------------------------------------------------------------------------------------


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
    lo_ok = low is None or value >= low - _EPS
    hi_ok = high is None or value <= high + _EPS
    if lo_ok and hi_ok:
        return "PASS"
    if ci_low is not None and ci_high is not None and math.isfinite(ci_low + ci_high):
        reaches = (low is None or ci_high >= low - _EPS) and (high is None or ci_low <= high + _EPS)
        if reaches:
            return "REVIEW"
    return "FAIL"


def _band_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"[{low:.2f}, {high:.2f}]"
    if low is not None:
        return f"≥ {low:.2f}"
    return f"≤ {high:.2f}"


def _distance(value: float | None, low: float | None, high: float | None) -> float:
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
class _Entry:
    section: str  # attribute or stratum spec name
    label: str  # group, stratum or comparison label
    value: float | None
    ci_low: float | None
    ci_high: float | None
    status: Status
    band: str
    phrase: str  # plain-English description of the value
    note: str = ""
    distance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "status": self.status,
            "band": self.band,
            "note": self.note,
        }


def _judged_entry(
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
) -> _Entry:
    band = _band_text(low, high)
    if insufficient:
        return _Entry(
            section, label, value, *interval, "INSUFFICIENT DATA", band, phrase, insufficient
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
    return _Entry(
        section,
        label,
        value,
        *interval,
        status,
        band,
        phrase,
        note,
        _distance(value, low, high),
    )


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _gate_from_entries(
    gate: str, entries: list[_Entry], *, band: str, what: str, empty_reason: str
) -> GateResult:
    """Combine comparisons: the worst status decides, then the furthest from the band."""
    soft = GATE_KINDS[gate] == "soft"
    by_group: dict[str, dict[str, Any]] = {}
    for e in entries:
        by_group.setdefault(e.section, {})[e.label] = e.to_dict()
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

    def key(e: _Entry) -> tuple[float, float, float]:
        spread = abs(math.log(e.value)) if e.value and math.isfinite(e.value) else 0.0
        return (_SEVERITY[e.status], e.distance, spread)

    worst = max(entries, key=key)
    status = worst.status
    interval = f"95% interval {_fmt(worst.ci_low)}–{_fmt(worst.ci_high)}"
    phrase = worst.phrase[:1].upper() + worst.phrase[1:]
    if status == "PASS":
        text = (
            f"Every {what} is inside its band ({band}); the furthest from parity: {worst.phrase} "
            f"({interval})."
        )
    elif status == "REVIEW" and worst.note.startswith("whole interval"):
        text = (
            f"{phrase} ({interval}), entirely outside the band {worst.band}; this gate is "
            "advisory, so it asks for review rather than blocking publication."
        )
    elif status == "REVIEW":
        text = (
            f"{phrase} ({interval}), outside the band {worst.band}, but the interval reaches "
            "into it, so a person should review it before relying on the forecast."
        )
    elif status == "FAIL":
        text = (
            f"{phrase} ({interval}), entirely outside the band {worst.band}, which blocks "
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
            f"There is too little data to judge {worst.section} '{worst.label}' ({worst.note}), "
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
    )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _as_week_cell(name: str, arr: npt.ArrayLike, shape: tuple[int, int] | None) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [week, cell]. Got shape {a.shape}.")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have the shape of flagged {shape}. Got {a.shape}.")
    return a


def _validate_inputs(
    flagged: npt.ArrayLike, y: npt.ArrayLike, scores: npt.ArrayLike, cells: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = _as_week_cell("flagged", flagged, None)
    if f.dtype != np.bool_:
        raise ValueError(f"flagged must be a boolean array. Got dtype {f.dtype}.")
    if f.shape[0] < 1 or f.shape[1] < 1:
        raise ValueError(f"flagged must have at least one week and one cell. Got {f.shape}.")
    yy = _as_week_cell("y", y, f.shape).astype(np.float64)
    ss = _as_week_cell("scores", scores, f.shape).astype(np.float64)
    for name, a in (("y", yy), ("scores", ss)):
        if not np.isfinite(a).all() or (a < 0).any():
            raise ValueError(f"{name} must be finite and non-negative everywhere.")
    if len(cells) != f.shape[1]:
        raise ValueError(
            f"cells must have one row per cell of the arrays ({f.shape[1]}). Got {len(cells)}."
        )
    return f, yy, ss


def _cell_column(cells: pd.DataFrame, column: str, *, what: str) -> np.ndarray:
    if column not in cells.columns:
        raise ValueError(
            f"cells has no column {column!r} ({what}). Columns: {list(cells.columns)}."
        )
    values = cells[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _safe_div(num: npt.ArrayLike, den: npt.ArrayLike) -> np.ndarray:
    """num / den with NaN (not a warning) where den is zero."""
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(n, d).shape, np.nan)
    np.divide(n, d, out=out, where=d != 0)
    return out


def _rate_ratio(num: npt.ArrayLike, den: npt.ArrayLike) -> np.ndarray:
    """Ratio of two rates, with 0 / 0 = 1: when neither group's flagged cells had a false flag,
    the groups are at parity (every flagged cell saw a target event), not unknown."""
    n = np.asarray(num, dtype=np.float64)
    d = np.asarray(den, dtype=np.float64)
    return np.where((n == 0) & (d == 0), 1.0, _safe_div(n, d))


def _week_weights(n_weeks: int, config: AuditConfig) -> np.ndarray:
    """Row 0: every week once (the point estimate); rows 1..B: bootstrap week counts."""
    idx = block_bootstrap_indices(
        n_weeks, n_boot=config.n_boot, block_len=config.block_len, seed=config.seed
    )
    flat = (idx + np.arange(config.n_boot)[:, None] * n_weeks).ravel()
    counts = np.bincount(flat, minlength=config.n_boot * n_weeks).reshape(config.n_boot, n_weeks)
    return np.vstack([np.ones((1, n_weeks)), counts.astype(np.float64)])


def _intervals(rep: np.ndarray) -> list[tuple[float, float]]:
    """95% percentile interval of each column of bootstrap replicates (row 0 is the point)."""
    return [percentile_interval(rep[1:, j]) for j in range(rep.shape[1])]


def _ratio_metric(
    y_true: Any, y_pred: Any, *, sample_weight: np.ndarray, num: np.ndarray, den: np.ndarray
) -> float:
    """Σ w·num / Σ w·den (NaN when the denominator is zero), for MetricFrame."""
    d = float(np.sum(sample_weight * den))
    return float(np.sum(sample_weight * num)) / d if d > 0 else math.nan


def _sum_metric(y_true: Any, y_pred: Any, *, sample_weight: np.ndarray, num: np.ndarray) -> float:
    """Σ w·num, for MetricFrame."""
    return float(np.sum(sample_weight * num))


# --------------------------------------------------------------------------------------------
# Group and stratum figures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CellAggregates:
    """Per-cell sums over the backtest weeks (the grain MetricFrame sees)."""

    n_weeks: int
    flagged_weeks: np.ndarray  # f_c
    flagged_zero_weeks: np.ndarray  # flagged weeks with no target event
    events: np.ndarray  # y_c
    events_flagged: np.ndarray  # events in flagged weeks
    expected: np.ndarray  # Σ_w S_cw
    area: np.ndarray
    residents: np.ndarray


def _group_figures(
    agg: _CellAggregates,
    weekly: dict[str, np.ndarray],
    weights: np.ndarray,
    config: AuditConfig,
    P: np.ndarray,
    share: np.ndarray,
    *,
    unit: str,
) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, Any]]]]:
    """Per-attribute per-group figures: MetricFrame point estimates, bootstrap intervals.

    Returns the JSON-able ``groups`` dict and, per attribute and group, the replicate arrays and
    sufficiency that the gates need.
    """
    W = agg.n_weeks
    rep = {k: weights @ v for k, v in weekly.items()}  # [1 + B, G]
    Pg = P.sum(axis=0)
    As = (share * agg.area[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = rep["fp"] / (W * Pg)
        coverage = _safe_div(rep["fys"], rep["ys"])
        false_flag = _safe_div(rep["zp"], rep["fp"])
        oe = _safe_div(rep["ys"], rep["ss"])
        area_share = _safe_div(rep["fas"], W * As)
        pai = _safe_div(coverage, area_share)

    groups_out: dict[str, Any] = {}
    internals: dict[str, dict[str, dict[str, Any]]] = {}
    col = 0
    Pc = agg.residents
    for attr in config.attributes:
        labels = list(attr.groups)
        j = np.arange(col, col + len(labels))
        col += len(labels)
        mf = _metric_frame_for_attribute(agg, P[:, j], labels, attr.name, Pc)
        ref = attr.reference
        if ref == "largest":
            ref = labels[int(np.argmax(Pg[j]))]
        ref_j = j[labels.index(ref)]
        attr_pop = float(Pg[j].sum())
        attr_fp = float(rep["fp"][0, j].sum())
        internals[attr.name] = {}
        out_groups: dict[str, Any] = {}
        for label, gj in zip(labels, j, strict=True):
            point = mf.loc[label]
            residents = float(point["residents"])
            n_flag = float(point["flagged_cell_periods"])
            reasons = []
            if n_flag < config.min_flagged_cell_periods:
                reasons.append(
                    f"{n_flag:,.1f} flagged {unit}, {config.min_flagged_cell_periods:,.0f} needed"
                )
            if residents < config.min_residents:
                reasons.append(f"{residents:,.0f} residents, {config.min_residents:,.0f} needed")
            e_pt = float(point["exposure"])
            cov_pt = float(point["victimisation_coverage"])
            e_ref = float(mf.loc[ref, "exposure"])
            cov_ref = float(mf.loc[ref, "victimisation_coverage"])
            ff_ref = float(mf.loc[ref, "false_flag_rate"])
            with np.errstate(divide="ignore", invalid="ignore"):
                exp_ratio_rep = _safe_div(exposure[:, gj], exposure[:, ref_j])
                cov_ratio_rep = _safe_div(coverage[:, gj], coverage[:, ref_j])
                bbr_rep = _safe_div(exp_ratio_rep, cov_ratio_rep)
                ff_ratio_rep = _rate_ratio(false_flag[:, gj], false_flag[:, ref_j])
            exp_ratio = float(_safe_div(e_pt, e_ref))
            cov_ratio = float(_safe_div(cov_pt, cov_ref))
            internals[attr.name][label] = {
                "reference": ref,
                "is_reference": label == ref,
                "insufficient": "; ".join(reasons),
                "exposure_ratio": (exp_ratio, *percentile_interval(exp_ratio_rep[1:])),
                "burden_benefit_ratio": (
                    float(_safe_div(exp_ratio, cov_ratio)),
                    *percentile_interval(bbr_rep[1:]),
                ),
                "false_flag_ratio": (
                    float(_rate_ratio(float(point["false_flag_rate"]), ff_ref)),
                    *percentile_interval(ff_ratio_rep[1:]),
                ),
                "recall_ratio": (cov_ratio, *percentile_interval(cov_ratio_rep[1:])),
            }
            # Consistency: MetricFrame's point and the bootstrap's row 0 are the same sums.
            if math.isfinite(e_pt) and not math.isclose(e_pt, exposure[0, gj], rel_tol=1e-9):
                raise RuntimeError(
                    f"Internal error: exposure of {attr.name}/{label} differs between MetricFrame "
                    f"({e_pt}) and the weekly sums ({exposure[0, gj]})."
                )
            out_groups[label] = {
                "column": attr.groups[label],
                "residents": residents,
                "population_share": residents / attr_pop if attr_pop > 0 else None,
                "flagged_cell_periods": n_flag,
                "exposure": e_pt,
                "exposure_ci": list(percentile_interval(exposure[1:, gj])),
                "exposure_share": float(rep["fp"][0, gj]) / attr_fp if attr_fp > 0 else None,
                "exposure_ratio": exp_ratio,
                "victimisation": float(weekly["ys"][:, gj].sum()),
                "victimisation_coverage": cov_pt,
                "victimisation_coverage_ci": list(percentile_interval(coverage[1:, gj])),
                "recall": cov_pt,
                "recall_ratio": cov_ratio,
                "burden_benefit_ratio": float(_safe_div(exp_ratio, cov_ratio)),
                "false_flag_rate": float(point["false_flag_rate"]),
                "false_flag_rate_ci": list(percentile_interval(false_flag[1:, gj])),
                "false_flag_ratio": float(_rate_ratio(float(point["false_flag_rate"]), ff_ref)),
                "observed_expected": float(point["observed_expected"]),
                "observed_expected_ci": list(percentile_interval(oe[1:, gj])),
                "pai": float(_safe_div(cov_pt, float(point["flagged_area_share"]))),
                "pai_ci": list(percentile_interval(pai[1:, gj])),
                "sufficient": not reasons,
                "insufficient_reason": "; ".join(reasons) or None,
            }
        groups_out[attr.name] = {"reference": ref, "groups": out_groups}
    return groups_out, internals


def _metric_frame_for_attribute(
    agg: _CellAggregates, P: np.ndarray, labels: list[str], name: str, Pc: np.ndarray
) -> pd.DataFrame:
    """fairlearn MetricFrame on (cell, group) rows weighted by the group's residents ``P_gc``."""
    cell_idx, grp_idx = np.nonzero(P > 0)
    order = np.lexsort((cell_idx, grp_idx))
    cell_idx, grp_idx = cell_idx[order], grp_idx[order]
    w = P[cell_idx, grp_idx]
    inv_p = 1.0 / Pc[cell_idx]  # Pc > 0 wherever P_gc > 0 (checked by the caller)
    f = agg.flagged_weeks[cell_idx]
    y = agg.events[cell_idx]
    a = agg.area[cell_idx]
    ones = np.ones_like(w)
    sensitive = pd.Series(np.asarray(labels, dtype=object)[grp_idx], name=name)
    params = {
        "residents": {"sample_weight": w, "num": ones},
        "flagged_cell_periods": {"sample_weight": w, "num": f * inv_p},
        "exposure": {"sample_weight": w, "num": f / agg.n_weeks, "den": ones},
        "victimisation_coverage": {
            "sample_weight": w,
            "num": agg.events_flagged[cell_idx] * inv_p,
            "den": y * inv_p,
        },
        "false_flag_rate": {"sample_weight": w, "num": agg.flagged_zero_weeks[cell_idx], "den": f},
        "observed_expected": {
            "sample_weight": w,
            "num": y * inv_p,
            "den": agg.expected[cell_idx] * inv_p,
        },
        "flagged_area_share": {
            "sample_weight": w,
            "num": a * f / agg.n_weeks * inv_p,
            "den": a * inv_p,
        },
    }
    metrics = {
        k: (_sum_metric if k in ("residents", "flagged_cell_periods") else _ratio_metric)
        for k in params
    }
    mf = MetricFrame(
        metrics=metrics, y_true=y, y_pred=f, sensitive_features=sensitive, sample_params=params
    )
    by_group = mf.by_group.reindex(labels)
    # A group with no residents anywhere has no rows: it counts zero residents, not unknown.
    return by_group.fillna({"residents": 0.0, "flagged_cell_periods": 0.0})


def _strata_bins(values: np.ndarray, residents: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Equal-count quantile bin of each cell (0 = lowest); -1 where the attribute is undefined.

    Cells without residents are left out: a resident attribute says nothing about them.
    """
    codes = np.full(values.shape, -1, dtype=np.int64)
    ok = np.isfinite(values) & (residents > 0)
    if ok.sum() == 0:
        return codes
    binned = pd.qcut(values[ok], n_quantiles, labels=False, duplicates="drop")
    codes[ok] = np.asarray(binned, dtype=np.int64)
    return codes


def _strata_figures(
    F: np.ndarray,
    Y: np.ndarray,
    S: np.ndarray,
    FY: np.ndarray,
    agg: _CellAggregates,
    weights: np.ndarray,
    cells: pd.DataFrame,
    config: AuditConfig,
    *,
    unit: str,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    W = agg.n_weeks
    out: dict[str, Any] = {}
    internals: dict[str, dict[str, Any]] = {}
    Fa = F * agg.area[None, :]
    for spec in config.strata:
        values = _cell_column(cells, spec.column, what=f"stratum attribute of {spec.name!r}")
        codes = _strata_bins(values, agg.residents, spec.n_quantiles)
        n_bins = int(codes.max()) + 1
        if n_bins < 1:
            out[spec.name] = {"column": spec.column, "strata": {}}
            internals[spec.name] = {"labels": [], "oe": None, "pai": None, "insufficient": []}
            continue
        labels = [f"Q{i + 1}" for i in range(n_bins)]
        M = np.zeros((codes.size, n_bins))
        in_bin = codes >= 0
        M[np.nonzero(in_bin)[0], codes[in_bin]] = 1.0
        weekly = {
            "y": Y @ M,
            "s": S @ M,
            "fy": FY @ M,
            "fa": Fa @ M,
            "f": F @ M,
            "fp": F @ (M * agg.residents[:, None]),
        }
        rep = {k: weights @ v for k, v in weekly.items()}
        A_s = agg.area @ M
        P_s = agg.residents @ M
        oe = _safe_div(rep["y"], rep["s"])
        hr = _safe_div(rep["fy"], rep["y"])
        pai = _safe_div(hr, _safe_div(rep["fa"], W * A_s))

        # Strata are sets of cells and a count forecast is calibrated per cell, not per
        # resident, so these figures are unweighted; row 0 of the replicates is the point.
        exposure = _safe_div(rep["fp"][0], W * P_s)
        edges = [
            (float(np.min(values[codes == i])), float(np.max(values[codes == i])))
            for i in range(n_bins)
        ]
        strata_out: dict[str, Any] = {}
        insufficient: list[str] = []
        for i, label in enumerate(labels):
            n_flag = float(weekly["f"][:, i].sum())
            reasons = []
            if P_s[i] < config.min_residents:
                reasons.append(f"{P_s[i]:,.0f} residents, {config.min_residents:,.0f} needed")
            pai_reasons = list(reasons)
            if n_flag < config.min_flagged_cell_periods:
                pai_reasons.append(
                    f"{n_flag:,.0f} flagged {unit}, {config.min_flagged_cell_periods:,.0f} needed"
                )
            insufficient.append("; ".join(reasons))
            strata_out[label] = {
                "lower": edges[i][0],
                "upper": edges[i][1],
                "n_cells": int((codes == i).sum()),
                "residents": float(P_s[i]),
                "flagged_cell_periods": n_flag,
                "exposure": float(exposure[i]),
                "observed_expected": float(oe[0, i]),
                "observed_expected_ci": list(percentile_interval(oe[1:, i])),
                "hit_rate": float(hr[0, i]),
                "pai": float(pai[0, i]),
                "pai_ci": list(percentile_interval(pai[1:, i])),
                "insufficient_reason": "; ".join(reasons) or None,
                "insufficient_for_pai": "; ".join(pai_reasons) or None,
            }
        out[spec.name] = {"column": spec.column, "strata": strata_out}
        internals[spec.name] = {
            "labels": labels,
            "oe": oe,
            "pai": pai,
            "oe_point": np.array([strata_out[lb]["observed_expected"] for lb in labels]),
            "pai_point": np.array([strata_out[lb]["pai"] for lb in labels]),
            "insufficient": insufficient,
            "insufficient_pai": [strata_out[lb]["insufficient_for_pai"] or "" for lb in labels],
        }
    return out, internals


# --------------------------------------------------------------------------------------------
# Gates
# --------------------------------------------------------------------------------------------


def _gate_target_purity(target: TargetDefinition, counts: Mapping[str, float] | None) -> GateResult:
    pa = [t for t in target.target_types if t in POLICE_ACTIVITY_TYPES]
    reasons = {t: target.police_activity_reasons.get(t, "").strip() for t in pa}
    unjustified = [t for t in pa if not reasons[t]]
    total = sum(float(counts.get(t, 0.0)) for t in target.target_types) if counts else 0.0
    share: float | None = None
    by_type: dict[str, Any] = {}
    if counts is not None and total > 0:
        share = sum(float(counts.get(t, 0.0)) for t in unjustified) / total
    for t in pa:
        t_share = float(counts.get(t, 0.0)) / total if counts is not None and total > 0 else None
        by_type[t] = {
            "value": t_share,
            "ci_low": None,
            "ci_high": None,
            "status": "PASS" if reasons[t] else "FAIL",
            "band": "named with a written reason",
            "note": reasons[t] or "no written reason given in params",
        }
    if counts is not None and total <= 0:
        logger.warning("G1: the target event counts sum to zero; judging the definition alone.")
    if unjustified:
        status: Status = "FAIL"
        share_text = f" ({share:.1%} of target events)" if share is not None else ""
        text = (
            f"The target includes police-activity type(s) {', '.join(unjustified)}{share_text} "
            "without a written reason, so the forecast would partly predict where police look "
            "rather than where victims are harmed."
        )
    elif pa:
        status = "PASS"
        text = (
            f"The target includes police-activity type(s) {', '.join(pa)}, each named in params "
            "with a written reason that this report shows."
        )
        share = 0.0 if share is not None else None
    else:
        status = "PASS"
        share = 0.0
        text = "The target contains only victim-reported crime types; no police-activity types."
    return GateResult(
        "G1",
        status,
        share,
        None,
        None,
        "0 unless named with a written reason",
        text,
        {"police_activity_in_target": by_type} if by_type else {},
    )


def _ratio_gate(
    gate: str,
    internals: dict[str, dict[str, dict[str, Any]]],
    *,
    key: str,
    low: float | None,
    high: float | None,
    phrase: str,
    what: str,
) -> GateResult:
    entries: list[_Entry] = []
    for attr_name, groups in internals.items():
        for label, g in groups.items():
            if g["is_reference"]:
                continue
            ref = g["reference"]
            why = g["insufficient"] or (
                f"reference group '{ref}': {groups[ref]['insufficient']}"
                if groups[ref]["insufficient"]
                else ""
            )
            value, lo, hi = g[key]
            entries.append(
                _judged_entry(
                    section=attr_name,
                    label=label,
                    value=value,
                    interval=(lo, hi),
                    low=low,
                    high=high,
                    phrase=phrase.format(g=label, ref=ref, attr=attr_name, v=_fmt(value)),
                    insufficient=why or None,
                    soft=GATE_KINDS[gate] == "soft",
                )
            )
    return _gate_from_entries(
        gate,
        entries,
        band=_band_text(low, high),
        what=what,
        empty_reason="no sensitive attributes with two or more groups are configured",
    )


def _gate_calibration(strata: dict[str, dict[str, Any]], config: AuditConfig) -> GateResult:
    low, high = config.calibration_band
    entries: list[_Entry] = []
    for name, s in strata.items():
        labels = s["labels"]
        if not labels:
            continue
        for i, label in enumerate(labels):
            value = float(s["oe_point"][i])
            entries.append(
                _judged_entry(
                    section=name,
                    label=label,
                    value=value,
                    interval=percentile_interval(s["oe"][1:, i]),
                    low=low,
                    high=high,
                    phrase=(
                        f"in stratum {label} of {name}, recorded target events were "
                        f"{_fmt(value)} times the forecast count"
                    ),
                    insufficient=s["insufficient"][i] or None,
                    soft=False,
                )
            )
        ok = [i for i in range(len(labels)) if not s["insufficient"][i]]
        if len(ok) >= 2:
            with np.errstate(invalid="ignore"):
                rep = s["oe"][:, ok].max(axis=1) / s["oe"][:, ok].min(axis=1)
            value = float(s["oe_point"][ok].max() / s["oe_point"][ok].min())
            why = None
        else:
            rep = np.full(2, np.nan)
            value = math.nan
            why = "fewer than two strata large enough to compare"
        entries.append(
            _judged_entry(
                section=name,
                label="max/min",
                value=value,
                interval=percentile_interval(rep[1:]),
                low=None,
                high=config.calibration_max_ratio,
                phrase=(
                    f"across the strata of {name}, the highest observed/expected ratio is "
                    f"{_fmt(value)} times the lowest"
                ),
                insufficient=why,
                soft=False,
            )
        )
    band = f"each stratum in {_band_text(low, high)}; max/min ≤ {config.calibration_max_ratio:.2f}"
    return _gate_from_entries(
        "G6", entries, band=band, what="comparison", empty_reason="no strata are configured"
    )


def _gate_quality_of_service(strata: dict[str, dict[str, Any]], config: AuditConfig) -> GateResult:
    entries: list[_Entry] = []
    for name, s in strata.items():
        labels = s["labels"]
        if not labels:
            continue
        ok = [i for i in range(len(labels)) if not s["insufficient_pai"][i]]
        small = [
            f"{labels[i]}: {s['insufficient_pai'][i]}" for i in range(len(labels)) if i not in ok
        ]
        if len(ok) >= 2 and not small:
            with np.errstate(invalid="ignore"):
                rep = s["pai"][:, ok].min(axis=1) / s["pai"][:, ok].max(axis=1)
            value = float(s["pai_point"][ok].min() / s["pai_point"][ok].max())
            why = None
        else:
            rep = np.full(2, np.nan)
            value = math.nan
            why = "; ".join(small) or "fewer than two strata large enough to compare"
        entries.append(
            _judged_entry(
                section=name,
                label="min/max",
                value=value,
                interval=percentile_interval(rep[1:]),
                low=config.quality_of_service_min,
                high=None,
                phrase=(
                    f"across the strata of {name}, the lowest PAI is {_fmt(value)} times the "
                    "highest"
                ),
                insufficient=why,
                soft=True,
            )
        )
    return _gate_from_entries(
        "G7",
        entries,
        band=_band_text(config.quality_of_service_min, None),
        what="comparison",
        empty_reason="no strata are configured",
    )


def _gate_baselines(lift: LiftEstimate | None, config: AuditConfig) -> GateResult:
    band = _band_text(config.lift_min, None)
    if lift is None:
        return GateResult(
            "G8",
            "INSUFFICIENT DATA",
            None,
            None,
            None,
            band,
            "No lift over the baselines was supplied by the evaluate stage, so this gate is not "
            "passed; publication is blocked unless an override is recorded.",
        )
    status = classify_against_band(
        lift.estimate, lift.ci_low, lift.ci_high, low=config.lift_min, high=None
    )
    against = f"the best baseline ({lift.baseline})" if lift.baseline else "the best baseline"
    core = (
        # three decimals: lifts near 1 are the common case and 0.996-1.004 must not read 1.00-1.00
        f"The model's PAI is {_fmt(lift.estimate, 3)} times that of {against} (95% interval "
        f"{_fmt(lift.ci_low, 3)}–{_fmt(lift.ci_high, 3)})"
    )
    tail = {
        "PASS": f", at or above the required {config.lift_min:.2f}.",
        "REVIEW": ", below the required level but the interval reaches it, so a person should "
        "review whether the model is worth its cost over the simple baseline.",
        "FAIL": ", clearly below the required level: a simpler baseline does better, which blocks "
        "publication.",
        "INSUFFICIENT DATA": ", which could not be computed.",
    }[status]
    return GateResult("G8", status, lift.estimate, lift.ci_low, lift.ci_high, band, core + tail)


def _gate_granularity(check: GranularityCheck) -> GateResult:
    problems = []
    items: dict[str, Any] = {}
    res_ok = check.published_resolution <= check.max_resolution
    items["resolution"] = {
        "value": check.published_resolution,
        "status": "PASS" if res_ok else "FAIL",
        "band": f"≤ {check.max_resolution}",
        "note": "H3 resolution: a higher number is a finer cell",
    }
    if not res_ok:
        problems.append(
            f"cells at H3 resolution {check.published_resolution} are finer than the allowed "
            f"{check.max_resolution}"
        )
    items["event_level_rows"] = {
        "value": check.event_level_rows,
        "status": "FAIL" if check.event_level_rows else "PASS",
        "band": "none",
        "note": "",
    }
    if check.event_level_rows:
        problems.append("event-level rows would be published")
    small_ok = check.min_count_shown is None or check.min_count_shown >= 3
    items["small_counts"] = {
        "value": check.min_count_shown,
        "status": "PASS" if small_ok else "FAIL",
        "band": "counts below 3 suppressed",
        "note": "None means no historical counts are shown",
    }
    if not small_ok:
        problems.append(f"a historical count of {check.min_count_shown} is shown unsuppressed")
    band = f"resolution ≤ {check.max_resolution}; no event-level rows; counts < 3 suppressed"
    if problems:
        text = "What would be published is too detailed: " + "; ".join(problems) + "."
        status: Status = "FAIL"
    else:
        text = (
            f"Published cells are at H3 resolution {check.published_resolution} (no finer than "
            f"{check.max_resolution}), with no event-level rows and small counts suppressed."
        )
        status = "PASS"
    return GateResult(
        "G9", status, float(check.published_resolution), None, None, band, text, {"checks": items}
    )


class _IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" and value:
                self.ids.add(value)


_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def _norm_heading(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


def check_documentation(
    report_html: str,
    model_card_md: str,
    *,
    model_version: str | None = None,
    required_report_sections: Sequence[str] | None = None,
    required_card_sections: Sequence[str] | None = None,
) -> GateResult:
    """G10: the bias report carries every required section id, the card every required heading.

    Defaults come from :mod:`models.report` (``REQUIRED_REPORT_SECTIONS``,
    ``REQUIRED_CARD_SECTIONS``). When ``model_version`` is given, both documents must name it.
    """
    if required_report_sections is None or required_card_sections is None:
        from models.report import REQUIRED_CARD_SECTIONS, REQUIRED_REPORT_SECTIONS

        required_report_sections = required_report_sections or REQUIRED_REPORT_SECTIONS
        required_card_sections = required_card_sections or REQUIRED_CARD_SECTIONS
    parser = _IdCollector()
    parser.feed(report_html)
    parser.close()
    missing_report = [s for s in required_report_sections if s not in parser.ids]
    headings = {_norm_heading(h) for h in _HEADING.findall(model_card_md)}
    missing_card = [s for s in required_card_sections if _norm_heading(s) not in headings]
    problems = []
    if missing_report:
        problems.append(f"the bias report lacks section(s) {', '.join(missing_report)}")
    if missing_card:
        problems.append(f"the model card lacks section(s) {', '.join(missing_card)}")
    if model_version is not None:
        for name, doc in (("bias report", report_html), ("model card", model_card_md)):
            if model_version not in doc:
                problems.append(f"the {name} does not name model version {model_version}")
    by_group = {
        "documents": {
            "bias_report": {
                "value": len(required_report_sections) - len(missing_report),
                "status": "FAIL" if missing_report else "PASS",
                "band": f"{len(required_report_sections)} sections",
                "note": ", ".join(missing_report),
            },
            "model_card": {
                "value": len(required_card_sections) - len(missing_card),
                "status": "FAIL" if missing_card else "PASS",
                "band": f"{len(required_card_sections)} sections",
                "note": ", ".join(missing_card),
            },
        }
    }
    if problems:
        return GateResult(
            "G10",
            "FAIL",
            None,
            None,
            None,
            "complete",
            "The documentation is incomplete: " + "; ".join(problems) + ".",
            by_group,
        )
    return GateResult(
        "G10",
        "PASS",
        None,
        None,
        None,
        "complete",
        "The bias report and model card carry every required section"
        + (f" and name model version {model_version}." if model_version else "."),
        by_group,
    )


def _not_checked_documentation() -> GateResult:
    return GateResult(
        "G10",
        "NOT CHECKED",
        None,
        None,
        None,
        "complete",
        "The bias report and model card have not been checked for their required sections yet; "
        "publication waits for that check.",
    )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def run_audit(
    flagged: npt.ArrayLike,
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    cells: pd.DataFrame,
    *,
    config: AuditConfig,
    target: TargetDefinition,
    granularity: GranularityCheck,
    target_event_counts: Mapping[str, float] | None = None,
    lift: LiftEstimate | Mapping[str, Any] | None = None,
    override: AuditOverride | None = None,
    period: Period = "week",
) -> AuditResult:
    """Assess the flagged set over the backtest periods against gates G1–G9 (G10: see below).

    Parameters
    ----------
    flagged : bool array [week, cell]
        The model's flagged set at ``config.coverage`` in each backtest week.
    y : array [week, cell]
        Realised target counts ``Y_cw`` (non-negative).
    scores : array [week, cell]
        The model's expected counts ``S_cw`` (non-negative).
    cells : DataFrame
        One row per cell in the arrays' cell order, with ``config.residents_column``,
        ``config.area_column`` (km²), every ``res_<group>`` column named by
        ``config.attributes`` and every stratum column named by ``config.strata``.
    config : AuditConfig
        Bands, thresholds, bootstrap settings, groups and strata.
    target : TargetDefinition
        Target crime types and written reasons for any police-activity type among them (G1).
    granularity : GranularityCheck
        What the publish stage will write (G9).
    target_event_counts : mapping, optional
        Target events by canonical type over the backtest weeks, for G1's share. Without it G1
        still judges the definition, and reports no share.
    lift : LiftEstimate or mapping, optional
        The evaluate stage's ``metrics["lift_pai_at_5pct"]`` (G8). Missing: G8 is INSUFFICIENT
        DATA, which blocks publication.
    override : AuditOverride, optional
        A recorded approval to publish despite FAIL / INSUFFICIENT DATA hard gates.
    period : {"week", "month"}
        The period of the arrays' rows (``panel_meta.json``): the texts say cell-weeks or
        cell-months, and ``audit.json`` records it.

    Returns
    -------
    AuditResult
        G10 is NOT CHECKED until :meth:`AuditResult.with_documentation` is called with the
        rendered documents, so ``publishable`` is False before that.
    """
    t0 = time.perf_counter()
    F_bool, Y, S = _validate_inputs(flagged, y, scores, cells)
    words = period_words(period)
    unit = f"cell-{words.plural}"
    n_weeks, n_cells = F_bool.shape
    logger.info(
        "Audit: %d %s x %d cells, coverage %.3f.", n_weeks, words.plural, n_cells, config.coverage
    )
    if isinstance(lift, Mapping):
        if all(lift.get(k) is None for k in ("estimate", "value", "point", "lift")):
            logger.warning("Audit: the lift entry has no estimate (%r); G8 lacks data.", lift)
            lift = None
        else:
            lift = LiftEstimate.model_validate(parse_lift_entry(lift))

    area = _cell_column(cells, config.area_column, what="cell area in km²")
    if not (np.isfinite(area).all() and (area > 0).all()):
        raise ValueError(f"cells[{config.area_column!r}] must be finite and positive everywhere.")
    residents = _cell_column(cells, config.residents_column, what="residents per cell")
    if not (np.isfinite(residents).all() and (residents >= 0).all()):
        raise ValueError(
            f"cells[{config.residents_column!r}] must be finite and non-negative everywhere."
        )
    group_cols = [col for attr in config.attributes for col in attr.groups.values()]
    P = (
        np.column_stack(
            [_cell_column(cells, c, what="residents of an audit group") for c in group_cols]
        )
        if group_cols
        else np.zeros((n_cells, 0))
    )
    if not (np.isfinite(P).all() and (P >= 0).all()):
        raise ValueError(f"cells columns {group_cols} must be finite and non-negative everywhere.")
    orphan = np.nonzero((P > 0).any(axis=1) & (residents <= 0))[0]
    if orphan.size:
        raise ValueError(
            f"cells row {int(orphan[0])} has group residents but {config.residents_column!r} is "
            f"{residents[orphan[0]]}; expected the cell's total residents (> 0)."
        )

    F = F_bool.astype(np.float64)
    FY = F * Y
    Z = F * (Y == 0)
    agg = _CellAggregates(
        n_weeks=n_weeks,
        flagged_weeks=F.sum(axis=0),
        flagged_zero_weeks=Z.sum(axis=0),
        events=Y.sum(axis=0),
        expected=S.sum(axis=0),
        events_flagged=FY.sum(axis=0),
        area=area,
        residents=residents,
    )
    realised = float(np.mean(F @ area) / area.sum())
    if not 0.5 * config.coverage <= realised <= 2.0 * config.coverage:
        logger.warning(
            "Audit: flagged cells cover %.2f%% of the area on average; config.coverage is %.2f%%.",
            100 * realised,
            100 * config.coverage,
        )

    weights = _week_weights(n_weeks, config)
    share = _safe_div(P, residents[:, None])
    share[~np.isfinite(share)] = 0.0
    weekly = {
        "fp": F @ P,
        "zp": Z @ P,
        "fys": FY @ share,
        "ys": Y @ share,
        "ss": S @ share,
        "fas": F @ (share * area[:, None]),
    }
    groups, g_int = _group_figures(agg, weekly, weights, config, P, share, unit=unit)
    strata, s_int = _strata_figures(F, Y, S, FY, agg, weights, cells, config, unit=unit)

    ex_lo, ex_hi = config.exposure_band
    bb_lo, bb_hi = config.burden_benefit_band
    ff_lo, ff_hi = config.false_flag_band
    gates = {
        "G1": _gate_target_purity(target, target_event_counts),
        "G2": _ratio_gate(
            "G2",
            g_int,
            key="exposure_ratio",
            low=ex_lo,
            high=ex_hi,
            phrase="'{g}' residents ({attr}) live in flagged cells {v} times as often as "
            "'{ref}' residents",
            what="group's exposure ratio",
        ),
        "G3": _ratio_gate(
            "G3",
            g_int,
            key="burden_benefit_ratio",
            low=bb_lo,
            high=bb_hi,
            phrase="'{g}' residents ({attr}) bear {v} times the flagging per unit of protection "
            "that '{ref}' residents bear",
            what="group's burden-to-benefit ratio",
        ),
        "G4": _ratio_gate(
            "G4",
            g_int,
            key="false_flag_ratio",
            low=ff_lo,
            high=ff_hi,
            phrase="flagged cells where '{g}' residents ({attr}) live had no target event {v} "
            "times as often as those where '{ref}' residents live",
            what="group's false-flag ratio",
        ),
        "G5": _ratio_gate(
            "G5",
            g_int,
            key="recall_ratio",
            low=config.recall_ratio_min,
            high=None,
            phrase="the flagged cells captured {v} times as large a share of '{g}' residents' "
            "({attr}) recorded victimisation as of '{ref}' residents'",
            what="group's recall ratio",
        ),
        "G6": _gate_calibration(s_int, config),
        "G7": _gate_quality_of_service(s_int, config),
        "G8": _gate_baselines(lift, config),
        "G9": _gate_granularity(granularity),
        "G10": _not_checked_documentation(),
    }
    result = AuditResult(
        coverage=config.coverage,
        gates=gates,
        groups=groups,
        strata=strata,
        n_periods=n_weeks,
        n_cells=n_cells,
        realised_area_share=realised,
        override=override,
        settings={
            "n_boot": config.n_boot,
            "seed": config.seed,
            "block_len": config.block_len,
            "min_flagged_cell_periods": config.min_flagged_cell_periods,
            "min_residents": config.min_residents,
            "target_types": list(target.target_types),
            "police_activity_reasons": dict(target.police_activity_reasons),
        },
        period=check_period(period),
    )
    logger.info(
        "Audit done in %.2f s: %s.",
        time.perf_counter() - t0,
        ", ".join(f"{g} {r.status}" for g, r in gates.items()),
    )
    return result
