"""``reports/audit.json``: the bias audit's verdict, written by ``audit`` and read by ``publish``.

The audit stage (``models.audit``) writes it through :class:`AuditReport`; the documents render
from the same object and ``publish`` asks :meth:`AuditReport.check_publishable`. Its layout: the
gates, the reference allocation, figures by group and stratum, the board's panel, the power
check, the decision, the other rankings' gates and the coverage table.

A figure is a finite number or null (NaN and numpy scalars normalised by
:func:`beatwise.io.json_safe`), so the object in memory equals the file read back. How the gates
are judged is ``models.audit``'s; this is what they wrote.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact
from beatwise.artefacts.manifest import AuditStatus
from beatwise.artefacts.metrics import coverage_label
from beatwise.io import json_safe
from beatwise.period import Period

#: NOT APPLICABLE: a gate with nothing to judge by design (G12 when the board has ratified no
#: limit); it neither passes nor blocks
GateStatus = Literal["PASS", "REVIEW", "FAIL", "INSUFFICIENT DATA", "NOT CHECKED", "NOT APPLICABLE"]
GateKind = Literal["hard", "soft"]

#: a figure: a finite float, or None where it is undefined (NaN and numpy scalars normalised)
Figure = Annotated[float | None, BeforeValidator(json_safe)]
#: a 95% interval ``[low, high]``; either end None where undefined
Interval = tuple[Figure, Figure]
#: the value of one check: a ratio, a count, a resolution or a yes/no, as the gate judged it
CheckValue = Annotated[bool | int | float | None, BeforeValidator(json_safe)]


#: the statuses of a hard gate that block publication (``models.audit``'s ``BLOCKING``)
BLOCKING_STATUSES: frozenset[str] = frozenset({"FAIL", "INSUFFICIENT DATA", "NOT CHECKED"})


class PublicationBlockedError(RuntimeError):
    """The audit (or a check of publish's own) does not allow publication.

    ``blocked_by`` names what blocked it: gate ids (``G3``), or the file that failed a check
    (``audit.json``).
    """

    def __init__(self, message: str, *, blocked_by: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.blocked_by = blocked_by


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BandCheck(_Record):
    """One comparison behind a gate (a group, a stratum, a crime type) against its band."""

    #: a group's or stratum's plain-English label ("residents of the most deprived fifth of
    #: areas", "cells in the lowest fifth by ..."); None for any other comparison
    label: str | None = None
    value: CheckValue
    ci_low: Figure
    ci_high: Figure
    status: GateStatus
    band: str
    note: str


class Check(_Record):
    """One comparison without an interval (G9's granularity checks, G10's documents)."""

    value: CheckValue
    status: GateStatus
    band: str
    note: str

    @property
    def label(self) -> None:
        """No group or stratum: an exact check has no label."""
        return None

    @property
    def ci_low(self) -> None:
        """No interval: an exact check."""
        return None

    @property
    def ci_high(self) -> None:
        """No interval: an exact check."""
        return None


class Gate(_Record):
    """One gate's outcome; ``value`` and ``ci_*`` belong to the comparison named in ``deciding``."""

    status: GateStatus
    value: Figure
    ci_low: Figure
    ci_high: Figure
    band: str
    kind: GateKind
    #: the gate's name, and what it checks in words an ethics board reads without code
    title: str
    checks: str
    explanation: str
    deciding: str | None
    #: the deciding group's or stratum's plain-English label (None for other comparisons)
    deciding_label: str | None = None
    #: section (attribute, stratum spec, ...) -> label -> the comparison
    by_group: dict[str, dict[str, BandCheck | Check]]


class Estimate(_Record):
    """A figure with its 95% block-bootstrap interval."""

    value: Figure
    ci: Interval


#: the quantities whose amplification gates G2-G5 judge, in order
AMPLIFIED: tuple[str, ...] = (
    "exposure_ratio",
    "burden_benefit",
    "false_flag_ratio",
    "discovery_ratio",
)


class GroupFigures(_Record):
    """One group of residents under the model, over the backtest at the operational coverage.

    Ratios are to all residents together (METRICS.md "Group quantities"); ``amplification``
    holds each ratio under the model over the same ratio under the reference allocation (gates
    G2-G5), ``retention`` the group's discovery under the model over that under the reference.
    """

    #: the group in plain English, as every sentence about it names it (params
    #: ``audit.attributes[].groups.<key>.label``)
    label: str
    #: the ``res_<group>`` column of cells.parquet
    column: str
    residents: float
    population_share: Figure
    flagged_cell_periods: float
    #: E_g: the share of the group's residents living in flagged cells, averaged over periods
    exposure: Figure
    exposure_ci: Interval
    #: E_g as residents: how many of the group live in flagged cells in an average period
    residents_flagged_per_period: Figure
    #: the group's share of the attribute's residents living in flagged cells (its share of the
    #: flagging, beside ``population_share``)
    exposure_share: Figure
    exposure_ratio: Estimate
    victimisation: Figure
    #: D_g: the share of the group's recorded victimisation in flagged cell-periods
    discovery: Figure
    discovery_ci: Interval
    discovery_ratio: Estimate
    burden_benefit: Estimate
    false_flag_rate: Figure
    false_flag_rate_ci: Interval
    false_flag_ratio: Estimate
    observed_expected: Figure
    observed_expected_ci: Interval
    pai: Figure
    pai_ci: Interval
    #: quantity (``AMPLIFIED``) -> the model's ratio over the reference's
    amplification: dict[str, Estimate]
    retention: Estimate
    sufficient: bool
    insufficient_reason: str | None


class AllResidents(_Record):
    """The figures of all residents together: the denominators of every group's ratios."""

    residents: float
    exposure: Figure
    discovery: Figure
    false_flag_rate: Figure


class AttributeFigures(_Record):
    """The groups of one sensitive attribute, and all residents together (what ratios are to)."""

    all_residents: AllResidents
    groups: dict[str, GroupFigures]


class StratumFigures(_Record):
    """One stratum of cells: an equal-count quantile bin of a cell attribute (Q1 = lowest), or
    the cells with almost no residents (key ``none``)."""

    #: the stratum in words: "cells in the lowest fifth by deprivation score (...)"
    label: str
    lower: Figure
    upper: Figure
    n_cells: int = Field(ge=0)
    residents: float
    #: whether this is the stratum of cells with (almost) no residents
    no_residents: bool = False
    flagged_cell_periods: float
    exposure: Figure
    observed_expected: Figure
    observed_expected_ci: Interval
    #: observed over expected over the flagged cell-periods only (G6 b)
    observed_expected_flagged: Figure
    observed_expected_flagged_ci: Interval
    hit_rate: Figure
    pai: Figure
    pai_ci: Interval
    #: the reference allocation's PAI in this stratum, and the model's over it (G7)
    pai_reference: Figure
    pai_vs_reference: Estimate
    insufficient_reason: str | None
    insufficient_for_pai: str | None


class StrataFigures(_Record):
    """The strata of one cell attribute."""

    column: str
    #: the attribute in words (params ``audit.strata[].label``)
    label: str
    strata: dict[str, StratumFigures]


class ReferenceAllocation(_Record):
    """The allocation the model is held against (METRICS.md "The reference allocation")."""

    #: in words: "the true risk", "the all-history count (B4)"
    label: str
    #: the column of backtest.parquet it ranks by
    column: str
    #: why this reference, in one sentence
    why: str


class BoardGroup(_Record):
    """One group's absolute figures under one allocation (the board's panel; never blocks)."""

    label: str
    exposure: Figure
    residents_per_period: Figure
    exposure_ratio: Figure
    discovery: Figure
    #: synthetic data only: the share of the group's committed harm (reported or not) reached
    discovery_committed: Figure = None
    burden_benefit: Figure
    false_flag_rate: Figure
    #: the group's false-flag rate over all residents'
    false_flag_ratio: Figure = None
    #: flagged cell-periods where the group lives, weighted by its share of each cell's residents
    #: (shown for intersectional groups, where the small-group rule often bites)
    flagged_cell_periods: Figure = None
    #: why the group is too small to report (METRICS.md: fewer than ``min_residents`` residents or
    #: ``min_flagged_cell_periods`` flagged cell-periods); its figures are then null. None: enough
    insufficient_reason: str | None = None


class BoardAllocation(_Record):
    """One allocation's absolute figures, for the ethics board."""

    #: in words: "this model", "the true risk", ...
    label: str
    hit_rate: Figure
    pai: Figure
    #: attribute -> group key -> figures
    groups: dict[str, dict[str, BoardGroup]]
    #: all residents together: the share living in flagged cells, and of victimisation reached
    all_residents_exposure: Figure = None
    all_residents_discovery: Figure = None
    #: attribute -> the largest gap in discovery between its groups, percentage points
    discovery_gap_pp: dict[str, Figure]
    #: synthetic data: the same gap in the discovery of committed harm (reported or not)
    discovery_committed_gap_pp: dict[str, Figure] | None = None
    #: stratum spec -> stratum key -> PAI
    pai_by_stratum: dict[str, dict[str, Figure]]
    #: the share of the flagged area, and of the captured crime, in cells with almost no residents
    no_resident_area_share: Figure
    no_resident_crime_share: Figure
    #: the share of this allocation's flagged area that the model flags too, averaged over
    #: periods (1 for the model itself): how far it sends attention to the same places
    area_shared_with_model: Figure = None


class IntersectionGroup(_Record):
    """One group of residents by two attributes at once ("... in the most deprived fifth")."""

    label: str
    #: the ``res_<a>_<b>`` column of cells.parquet
    column: str
    residents: float


class IntersectionPanel(_Record):
    """Residents by two attributes at once, on the board's panel only (no gate judges them).

    Each allocation's figures are under ``BoardAllocation.groups[<name>]``; a group too small to
    report carries its reason there and no figures.
    """

    #: in words: "ethnicity by deprivation fifth"
    label: str
    #: the two attributes crossed
    attributes: tuple[str, str]
    #: whether the cells carry the joint counts (the areas knew both attributes for the same
    #: residents); False: no figures, and ``note`` says why
    available: bool
    #: how the joint counts were derived, or why they could not be
    note: str
    groups: dict[str, IntersectionGroup]


class BoardPanel(_Record):
    """The absolute disparities, side by side for every allocation (METRICS.md: never blocks,
    except through limits the board ratifies, gate G12)."""

    #: role ("model", "reference", "best_baseline", "policy") -> figures
    allocations: dict[str, BoardAllocation]
    #: whether ``discovery_committed`` is known (synthetic data)
    committed_harm: bool
    #: intersections of two attributes by name (params ``audit.intersections``)
    intersections: dict[str, IntersectionPanel] = Field(default_factory=dict)


class CanaryPower(_Record):
    """One canary of METRICS.md: the base ranking multiplied by ``1 + beta * share``."""

    #: key: ``minority`` or ``most_deprived``, with ``_rescaled`` when rescaled to the base total
    canary: str
    #: in words: what the canary favours
    label: str
    rescaled: bool
    betas: tuple[float, ...]
    #: the smallest beta of ``betas`` at which a hard gate FAILs (None: none caught it)
    smallest_beta_caught: Figure
    caught_by: tuple[str, ...]
    #: the hard gates that FAIL at beta = 0.5 (empty: the canary passes at 0.5)
    failed_at_half: tuple[str, ...]


class AuditPower(_Record):
    """Whether the gates can see a biased forecast: canaries of the base ranking."""

    #: the ranking the canaries start from, in words (the true risk on synthetic data)
    base: str
    #: the hard gates the unaltered base FAILs (should be none)
    base_failed: tuple[str, ...]
    canaries: tuple[CanaryPower, ...]


class PolicyRecord(_Record):
    """The declared allocation policy (``operational.policy``) and its cost."""

    column: str
    label: str
    max_share: float
    approved_by: str
    date: dt.date
    reason: str
    #: the model's expected count captured under the policy over that without it
    expected_hits_kept: Figure
    pai_without: Figure
    pai_with: Figure


class EnvelopeRecord(_Record):
    """The board's envelope (params ``audit.envelope``, gate G12) as the documents print it."""

    ratified_by: str
    date: dt.date
    reason: str
    expires: dt.date
    #: whether the audit's run date is after ``expires`` (G12 then FAILs)
    expired: bool
    #: each limit: quantity, attribute, group (None: every group), min, max
    limits: tuple[dict[str, str | float | None], ...]


class OverrideRecord(_Record):
    """The recorded override of params (``publish.override``), as the documents print it."""

    approving_body: str
    date: dt.date
    reason: str
    expires: dt.date
    #: whether the audit's run date is after ``expires`` (the override then lifts nothing)
    expired: bool


class OverrideApplied(_Record):
    """The override and the blocking gates it lifts, when it lifts them."""

    approving_body: str
    date: dt.date
    expires: dt.date
    reason: str
    approved_gates: tuple[str, ...]
    overridden_gates: tuple[str, ...]
    text: str


class AuditSettings(_Record):
    """The bootstrap, the sufficiency thresholds and the target the audit was run with."""

    n_boot: int
    seed: int
    block_len: int
    min_flagged_cell_periods: float
    min_residents: float
    target_types: tuple[str, ...]
    police_activity_reasons: dict[str, str]


class Caveats(_Record):
    """The caveats every bias report and model card carry."""

    feedback_loop: str
    ecological: str


class GateVerdict(_Record):
    """A gate's status and value for another ranking or coverage (no interval, no text)."""

    status: GateStatus
    value: Figure


class CoverageSensitivity(_Record):
    """The coverage-dependent gates at other coverages, for the model and (synthetic) the truth.

    ``rankings`` maps a ranking's label to coverage labels (``"5"`` for 5%, ``"0p5"`` for 0.5%;
    :func:`beatwise.artefacts.metrics.coverage_label`) to gate ids to verdicts.
    """

    coverages: tuple[float, ...]
    gates: tuple[str, ...]
    rankings: dict[str, dict[str, dict[str, GateVerdict]]]

    @model_validator(mode="after")
    def _complete(self) -> Self:
        labels = {coverage_label(k) for k in self.coverages}
        for ranking, by_coverage in self.rankings.items():
            if set(by_coverage) != labels:
                raise ValueError(
                    f"coverage_sensitivity ranking {ranking!r} must have the coverages "
                    f"{sorted(labels)}. Got {sorted(by_coverage)}"
                )
            for label, gates in by_coverage.items():
                if set(gates) != set(self.gates):
                    raise ValueError(
                        f"coverage_sensitivity ranking {ranking!r} at {label}% must have the "
                        f"gates {list(self.gates)}. Got {sorted(gates)}"
                    )
        return self

    def at(self, ranking: str, coverage: float) -> dict[str, GateVerdict]:
        """The verdicts of ``ranking`` at ``coverage`` (a share of the area)."""
        return self.rankings[ranking][coverage_label(coverage)]


#: keys of the file that are absent, not null, when the audit has nothing to say there
_OPTIONAL_KEYS: tuple[str, ...] = (
    "power",
    "policy",
    "envelope",
    "run_date",
    "counterfactuals",
    "counterfactual_gates",
    "coverage_sensitivity",
)


class AuditReport(Artefact):
    """The bias audit of one model version: gates, figures by group and stratum, the decision."""

    publishable: bool
    #: the operational coverage audited (share of the study area flagged each period)
    coverage: float = Field(gt=0.0, le=1.0)
    #: the share of the area the flagged cells actually covered, averaged over periods
    realised_area_share: Figure
    period: Period
    n_periods: int = Field(ge=1)
    n_cells: int = Field(ge=1)
    gates: dict[str, Gate]
    #: hard gates whose status blocks publication (FAIL, INSUFFICIENT DATA, NOT CHECKED)
    blocking_gates: tuple[str, ...]
    #: gates a person should look at (any REVIEW; soft gates without enough data)
    review_gates: tuple[str, ...]
    #: the allocation the model is held against (gates G2-G5, G7)
    reference: ReferenceAllocation
    groups: dict[str, AttributeFigures]
    strata: dict[str, StrataFigures]
    #: the absolute figures for the ethics board (never block by themselves)
    board: BoardPanel
    #: the canaries' verdicts: what the gates can see
    power: AuditPower | None = None
    #: the declared allocation policy and its cost, when params declare one
    policy: PolicyRecord | None = None
    #: the board's ratified limits (G12), when params carry them
    envelope: EnvelopeRecord | None = None
    #: the date the audit judged expiry dates against (only when an override or an envelope
    #: has one, so that a run's file does not change with the calendar otherwise)
    run_date: dt.date | None = None
    override: OverrideRecord | None
    override_applied: OverrideApplied | None
    settings: AuditSettings
    caveats: Caveats
    #: synthetic data only: ranking label -> gate -> verdict, for ``counterfactual_gates``
    counterfactuals: dict[str, dict[str, GateVerdict]] | None = None
    counterfactual_gates: tuple[str, ...] | None = None
    coverage_sensitivity: CoverageSensitivity | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unknown = sorted(set(self.blocking_gates + self.review_gates) - set(self.gates))
        if unknown:
            raise ValueError(f"blocking_gates and review_gates name unknown gates {unknown}")
        for gid in self.blocking_gates:
            gate = self.gates[gid]
            if gate.kind != "hard" or gate.status in ("PASS", "REVIEW"):
                raise ValueError(f"blocking gate {gid} is {gate.kind} and {gate.status}")
        # the verdict follows from the gates: a hand-edited "publishable: true" with an emptied
        # blocking_gates still names a hard gate that FAILs
        blocking = sorted(
            gid
            for gid, gate in self.gates.items()
            if gate.kind == "hard" and gate.status in BLOCKING_STATUSES
        )
        if sorted(self.blocking_gates) != blocking:
            raise ValueError(
                f"blocking_gates must be the hard gates whose status blocks ({blocking}). "
                f"Got {sorted(self.blocking_gates)}"
            )
        lifted = self.override_applied
        if lifted is not None and (
            sorted(lifted.overridden_gates) != blocking
            or any(self.gates[g].status == "NOT CHECKED" for g in blocking)
        ):
            raise ValueError(
                f"override_applied lifts {sorted(lifted.overridden_gates)}, but the gates that "
                f"block are {blocking} and an override lifts neither fewer nor a NOT CHECKED gate"
            )
        if self.publishable != (not self.blocking_gates or self.override_applied is not None):
            raise ValueError(
                f"publishable is {self.publishable} but the blocking gates are "
                f"{list(self.blocking_gates)} and the override applied is {self.override_applied}"
            )
        if (self.counterfactuals is None) != (self.counterfactual_gates is None):
            raise ValueError("counterfactuals and counterfactual_gates come together")
        for label, gates in (self.counterfactuals or {}).items():
            if set(gates) != set(self.counterfactual_gates or ()):
                raise ValueError(
                    f"counterfactual {label!r} must have the gates "
                    f"{list(self.counterfactual_gates or ())}. Got {sorted(gates)}"
                )
        return self

    def to_json(self) -> dict[str, Any]:
        """The file's object; ``counterfactuals`` and the coverage table only when present."""
        out = self.model_dump(mode="json")
        for key in _OPTIONAL_KEYS:
            if out[key] is None:
                del out[key]
        return out

    @property
    def status(self) -> AuditStatus:
        """One word for planners: ``pass``, ``pass with review``, or ``override``."""
        if self.override_applied is not None:
            return "override"
        if any(gate.status == "REVIEW" for gate in self.gates.values()):
            return "pass with review"
        return "pass"

    def check_publishable(self) -> None:
        """Raise :class:`PublicationBlockedError` naming each blocking gate and its figure."""
        if self.publishable:
            return
        lines = []
        for name in self.blocking_gates or sorted(self.gates):
            gate = self.gates[name]
            if gate.status == "PASS":
                continue
            lines.append(
                f"{name} {gate.status}: value {gate.value} "
                f"(95% interval {gate.ci_low} to {gate.ci_high}; band {gate.band}). "
                f"{gate.explanation}".strip()
            )
        raise PublicationBlockedError(
            "Publication blocked by the bias audit; no forecast was written and the last "
            "published forecast is unchanged.\n  "
            + "\n  ".join(lines or ["audit.json says not publishable"]),
            blocked_by=self.blocking_gates,
        )
