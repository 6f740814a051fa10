"""What the audit is told: its knobs (params ``audit``), the target, what publish will write, and
an override. Each is a frozen pydantic model, so a typo in params is an error."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from beatwise.taxonomy import POLICE_ACTIVITY_TYPES, validate_crime_types
from models.audit._catalogue import GateId

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Band = tuple[float, float]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GroupSpec(_Frozen):
    """One group of residents: its ``res_<group>`` column of cells and its name in plain English.

    ``label`` names the residents, as the documents write it inside a sentence (lower case unless
    a proper noun starts it): "residents of the most deprived fifth of areas". Every sentence and
    table about the group shows it beside the group's key.
    """

    column: NonEmptyStr
    label: NonEmptyStr


class AttributeSpec(_Frozen):
    """A sensitive attribute: groups of residents, each a ``res_<group>`` column of cells with a
    plain-English label.

    Every group's ratios are taken to all residents together (METRICS.md: no group is made the
    norm). Refuses a group without a label, naming the attribute and the group.
    """

    name: NonEmptyStr
    groups: dict[str, GroupSpec] = Field(min_length=2)

    @field_validator("groups", mode="before")
    @classmethod
    def _require_labels(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, dict):
            return value
        name = info.data.get("name", "?")
        for key, group in value.items():
            if isinstance(group, GroupSpec):
                continue
            if not isinstance(group, dict) or not str(group.get("label") or "").strip():
                column = group if isinstance(group, str) else "res_<group>"
                raise ValueError(
                    f"Attribute {name!r}, group {key!r}: every group needs a plain-English label "
                    f'naming its residents, as {{column: {column}, label: "residents of ..."}}. '
                    f"Got {group!r}."
                )
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_reference_group(cls, value: Any) -> Any:
        if isinstance(value, dict) and "reference" in value:
            raise ValueError(
                f"Attribute {value.get('name', '?')!r}: 'reference' is gone; every group's ratios "
                "are now taken to all residents together (METRICS.md, 'Group quantities'). "
                "Remove the key."
            )
        return value

    @model_validator(mode="after")
    def _check_labels(self) -> AttributeSpec:
        labels = [g.label.casefold() for g in self.groups.values()]
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"Attribute {self.name!r}: each group needs its own label. Got "
                f"{ {k: g.label for k, g in self.groups.items()} }."
            )
        return self

    def label_of(self, key: str) -> str:
        """The plain-English label of group ``key``."""
        return self.groups[key].label


class StratumSpec(_Frozen):
    """Strata of cells: ``n_quantiles`` equal-count bins of a cell attribute (Q1 = lowest).

    ``label`` names the attribute in words, with its direction where the name does not say it
    ("deprivation score, where higher means more deprived"); each stratum is then written as
    "cells in the lowest fifth by <label>" beside its key (:func:`stratum_label`).
    """

    name: NonEmptyStr
    column: NonEmptyStr
    label: NonEmptyStr
    n_quantiles: int = Field(5, ge=2, le=20)

    @model_validator(mode="before")
    @classmethod
    def _require_label(cls, value: Any) -> Any:
        if isinstance(value, dict) and not str(value.get("label") or "").strip():
            raise ValueError(
                f"Stratum {value.get('name', '?')!r}: a stratum spec needs a plain-English label "
                'naming its attribute and its direction, as label: "deprivation score, where '
                f'higher means more deprived". Got {value.get("label")!r}.'
            )
        return value


_FRACTIONS: dict[int, str] = {2: "half", 3: "third", 4: "quarter", 5: "fifth", 10: "tenth"}
_ORDINALS: dict[int, str] = {
    2: "second",
    3: "third",
    4: "fourth",
    5: "fifth",
    6: "sixth",
    7: "seventh",
    8: "eighth",
    9: "ninth",
    10: "tenth",
}


def stratum_label(index: int, n_bins: int, measure: str) -> str:
    """Stratum ``index`` (0 = lowest) of ``n_bins`` equal-count bins in words: "cells in the
    lowest fifth by <measure>", "... the second highest quarter ...", "... the middle third ..."."""
    if index == 0:
        pos = "lowest"
    elif index == n_bins - 1:
        pos = "highest"
    elif n_bins % 2 == 1 and index == n_bins // 2:
        pos = "middle"
    elif index < n_bins / 2:
        pos = f"{_ORDINALS.get(index + 1, f'{index + 1}th')} lowest"
    else:
        pos = f"{_ORDINALS.get(n_bins - index, f'{n_bins - index}th')} highest"
    part = _FRACTIONS.get(n_bins)
    where = f"the {pos} {part}" if part else f"the {pos} of {n_bins} equal-count bands"
    return f"cells in {where} by {measure}"


#: the default groups: key -> (column of cells, plain-English label). docs/synthetic-city.md: the
#: minority share is of residents outside the White groups (the 2011 Census split of London);
#: deprivation deciles are 1 = most deprived, and fifth q1 pairs deciles 1-2.
DEFAULT_GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "ethnicity": {
        "minority": (
            "res_minority",
            "residents of Black, Asian, mixed and other minority ethnic groups",
        ),
        "majority": ("res_majority", "residents of White ethnic groups"),
    },
    "deprivation": {
        "q1": ("res_dep_q1", "residents of the most deprived fifth of areas"),
        "q2": ("res_dep_q2", "residents of the second most deprived fifth of areas"),
        "q3": ("res_dep_q3", "residents of the middle fifth of areas by deprivation"),
        "q4": ("res_dep_q4", "residents of the second least deprived fifth of areas"),
        "q5": ("res_dep_q5", "residents of the least deprived fifth of areas"),
    },
}


def _default_attributes() -> tuple[AttributeSpec, ...]:
    return tuple(
        AttributeSpec(
            name=name,
            groups={
                key: GroupSpec(column=column, label=label)
                for key, (column, label) in groups.items()
            },
        )
        for name, groups in DEFAULT_GROUPS.items()
    )


class IntersectionSpec(_Frozen):
    """Residents by two attributes at once ("ethnicity by deprivation fifth"), for the board's
    panel only: the gates judge each attribute on its own (METRICS.md's groups).

    The groups are every pair of the two attributes' groups, keyed ``<a>_<b>``
    (``minority_q1``). A pair's residents are the cells' column ``res_<a>_<b>``, the two groups'
    columns without their ``res_`` joined (``res_minority_dep_q1``); build_cells writes it only
    where one area carries both attributes for the same residents. Without those columns the
    panel says that the data do not allow the figures: a pair is never apportioned by
    multiplying the two shares, which would assume the attributes independent.
    """

    name: NonEmptyStr
    #: the two attributes crossed (names of ``audit.attributes``)
    attributes: tuple[NonEmptyStr, NonEmptyStr]
    #: the crossing in words: "ethnicity by deprivation fifth"
    label: NonEmptyStr

    def groups(self, attributes: tuple[AttributeSpec, ...]) -> dict[str, GroupSpec]:
        """Every pair of groups: key -> its joint column and plain-English label."""
        by_name = {a.name: a for a in attributes}
        first, second = (by_name[n] for n in self.attributes)
        return {
            f"{ka}_{kb}": GroupSpec(
                column=f"res_{_bare(ga.column)}_{_bare(gb.column)}",
                label=_joint_label(ga.label, gb.label),
            )
            for ka, ga in first.groups.items()
            for kb, gb in second.groups.items()
        }


def _bare(column: str) -> str:
    return column.removeprefix("res_")


def _joint_label(first: str, second: str) -> str:
    """ "residents of White ethnic groups" and "residents of the most deprived fifth of areas"
    -> "residents of White ethnic groups in the most deprived fifth of areas"."""
    rest = second.removeprefix("residents of ")
    return f"{first} in {rest}" if rest != second else f"{first} among {second}"


#: the default strata: name (= column) -> plain-English label
DEFAULT_STRATA: dict[str, str] = {
    "minority_share": "share of residents from minority ethnic groups",
    "deprivation_score": "deprivation score, where higher means more deprived",
}


def _default_strata() -> tuple[StratumSpec, ...]:
    return tuple(
        StratumSpec(name=name, column=name, label=label) for name, label in DEFAULT_STRATA.items()
    )


class CanarySpec(_Frozen):
    """A canary of METRICS.md: the reference ranking multiplied by ``1 + beta * share``, where
    ``share`` is a cell's share of residents in ``column`` (``res_<group>`` over residents)."""

    name: NonEmptyStr
    column: NonEmptyStr
    #: what the canary favours, in words: "cells where more residents are from minority groups"
    label: NonEmptyStr


def _default_canaries() -> tuple[CanarySpec, ...]:
    return (
        CanarySpec(
            name="minority",
            column="res_minority",
            label="cells where more residents are from minority ethnic groups",
        ),
        CanarySpec(
            name="most_deprived",
            column="res_dep_q1",
            label="cells where more residents live in the most deprived fifth of areas",
        ),
    )


#: the ratios a board may limit (G12), each a group's figure over all residents' together
EnvelopeQuantity = Literal[
    "exposure_ratio", "discovery_ratio", "burden_benefit_ratio", "false_flag_ratio"
]


class EnvelopeLimit(_Frozen):
    """One absolute limit the board ratified: a group's ratio to all residents within bounds.

    ``group`` None applies the limit to every group of ``attribute``.
    """

    quantity: EnvelopeQuantity
    attribute: NonEmptyStr
    group: NonEmptyStr | None = None
    min: float | None = Field(None, gt=0.0)
    max: float | None = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _bounded(self) -> EnvelopeLimit:
        if self.min is None and self.max is None:
            raise ValueError(
                f"Envelope limit on {self.quantity} of {self.attribute!r}: give 'min', 'max' or "
                "both; a limit without a bound limits nothing."
            )
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(
                f"Envelope limit on {self.quantity} of {self.attribute!r}: 'min' ({self.min}) must "
                f"be below 'max' ({self.max})."
            )
        return self


class PolicyEnvelope(_Frozen):
    """Gate G12: absolute limits an ethics board ratified, hard once present (METRICS.md).

    The body, the date, the reason and an expiry date are required: after ``expires`` the
    envelope blocks publication until the board reviews it.
    """

    ratified_by: NonEmptyStr
    date: dt.date
    reason: NonEmptyStr
    expires: dt.date
    limits: tuple[EnvelopeLimit, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _dates(self) -> PolicyEnvelope:
        if self.expires <= self.date:
            raise ValueError(
                f"audit.envelope: 'expires' ({self.expires}) must come after 'date' ({self.date})."
            )
        return self


class AuditConfig(_Frozen):
    """Knobs of the audit; defaults are METRICS.md's bands and thresholds.

    Ratio bands are closed intervals ``(low, high)``; one-sided gates take a single bound.
    """

    coverage: float = Field(0.05, gt=0.0, le=1.0)
    #: G2-G5: a group's ratio under the model over the same ratio under the reference allocation
    amplification_band: Band = (0.8, 1.25)
    #: G5 (b): each group's discovery under the model over that under the reference (no
    #: levelling down)
    retention_min: float = Field(0.9, gt=0.0, le=1.0)
    calibration_band: Band = (0.9, 1.1)
    calibration_max_ratio: float = Field(1.15, ge=1.0)
    #: G7 (soft): PAI within each stratum, the model's over the reference's, the lowest stratum
    quality_of_service_min: float = Field(0.8, gt=0.0, le=1.0)
    lift_min: float = Field(1.0, gt=0.0)
    #: fewer flagged cell-periods (cell-weeks, or cell-months in monthly mode): INSUFFICIENT DATA
    min_flagged_cell_periods: float = Field(30, ge=0)
    min_residents: float = Field(10_000, ge=0)
    #: a stratum's calibration (G6) is judged only over at least this many recorded target
    #: events (all its cells for part a, its flagged cell-periods for part b); fewer: shown as
    #: "not applicable" with the count, since nothing is at stake there
    min_stratum_events: float = Field(30, ge=0)
    #: cells with fewer residents form their own stratum ("almost no residents"), so the crime of
    #: town centres and parks is never dropped from G6 and G7
    no_resident_max: float = Field(50.0, ge=0)
    n_boot: int = Field(1000, ge=100)
    seed: int = 0
    block_len: int = Field(4, ge=1)
    residents_column: NonEmptyStr = "residents"
    area_column: NonEmptyStr = "area_km2"
    attributes: tuple[AttributeSpec, ...] = Field(default_factory=_default_attributes)
    strata: tuple[StratumSpec, ...] = Field(default_factory=_default_strata)
    #: residents by two attributes at once, for the board's panel only (never judged by a gate)
    intersections: tuple[IntersectionSpec, ...] = ()
    #: G12: absolute limits the ethics board ratified (none by default)
    envelope: PolicyEnvelope | None = None
    #: the power check: canaries of the reference ranking, and the betas tried (ascending)
    canaries: tuple[CanarySpec, ...] = Field(default_factory=_default_canaries)
    canary_betas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, value: Any) -> Any:
        gone = {
            "exposure_band": "amplification_band",
            "burden_benefit_band": "amplification_band",
            "false_flag_band": "amplification_band",
            "recall_ratio_min": "amplification_band (G5 a) and retention_min (G5 b)",
        }
        if isinstance(value, dict):
            for key, now in gone.items():
                if key in value:
                    raise ValueError(
                        f"audit.{key} is gone: gates G2-G5 now judge the model against the "
                        f"reference allocation (METRICS.md); set audit.{now} instead."
                    )
        return value

    @model_validator(mode="after")
    def _check_bands(self) -> AuditConfig:
        for name in ("amplification_band", "calibration_band"):
            low, high = getattr(self, name)
            if not 0.0 < low < 1.0 < high:
                raise ValueError(
                    f"audit.{name} must be (low, high) with 0 < low < 1 < high. Got {(low, high)}."
                )
        names = [a.name for a in self.attributes] + [s.name for s in self.strata]
        names += [i.name for i in self.intersections]
        if len(set(names)) != len(names):
            raise ValueError(
                f"Attribute, stratum and intersection names must be unique. Got {names}."
            )
        known = [a.name for a in self.attributes]
        for cross in self.intersections:
            if cross.attributes[0] == cross.attributes[1] or not set(cross.attributes) <= set(
                known
            ):
                raise ValueError(
                    f"audit.intersections {cross.name!r} must cross two different attributes of "
                    f"audit.attributes {known}. Got {list(cross.attributes)}."
                )
        betas = self.canary_betas
        if not betas or any(b <= 0 for b in betas) or list(betas) != sorted(set(betas)):
            raise ValueError(
                f"audit.canary_betas must be positive and ascending without repeats. Got {betas}."
            )
        if self.envelope is not None:
            groups = {a.name: set(a.groups) for a in self.attributes}
            for limit in self.envelope.limits:
                if limit.attribute not in groups:
                    raise ValueError(
                        f"audit.envelope limit names attribute {limit.attribute!r}; the audit's "
                        f"attributes are {sorted(groups)}."
                    )
                if limit.group is not None and limit.group not in groups[limit.attribute]:
                    raise ValueError(
                        f"audit.envelope limit names group {limit.group!r} of "
                        f"{limit.attribute!r}; its groups are {sorted(groups[limit.attribute])}."
                    )
        return self


class AuditOverride(_Frozen):
    """A recorded decision to publish despite blocking gates (METRICS.md: an emergency entry).

    Every field is required and non-empty; the override is printed on the report, the model
    card and the manifest. It does not change any gate's status, only ``publishable``, and only
    for the gates it names and until ``expires``: an approval is for known failures, so a gate
    that starts failing later still blocks until someone approves that one too, and a run after
    the expiry date blocks (the run's date is an input of the audit, see ``AuditSetup``).
    """

    approving_body: NonEmptyStr
    date: dt.date
    reason: NonEmptyStr
    gates: tuple[GateId, ...] = Field(min_length=1)
    expires: dt.date

    @model_validator(mode="after")
    def _dates(self) -> AuditOverride:
        if "G10" in self.gates:
            raise ValueError(
                "publish.override cannot name G10: the bias report, the model card and the "
                "transparency record (with its owner and complaint route in a pilot or "
                "production) must be complete; no override lifts that."
            )
        if self.expires <= self.date:
            raise ValueError(
                f"publish.override: 'expires' ({self.expires}) must come after 'date' "
                f"({self.date})."
            )
        return self

    def expired_on(self, run_date: dt.date) -> bool:
        """Whether a run on ``run_date`` is after the override's expiry."""
        return run_date > self.expires


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

    @classmethod
    def with_reason(cls, target_types: tuple[str, ...], reason: str | None) -> TargetDefinition:
        """The target of ``panel_meta.json``: its one written reason covers every police-activity
        type among the target types (none without a reason)."""
        return cls(
            target_types=target_types,
            police_activity_reasons={
                t: reason for t in target_types if t in POLICE_ACTIVITY_TYPES and reason
            },
        )


class GranularityCheck(_Frozen):
    """What the publish stage will write, for G9.

    ``smallest_count_shown`` is the smallest historical count that appears unsuppressed in
    published output, or None when no historical counts are shown. ``suppress_below`` is
    ``publish.min_count_shown``: any shown count below it fails (METRICS.md: below 3).
    """

    published_resolution: int = Field(ge=0, le=15)
    max_resolution: int = Field(ge=0, le=15)
    event_level_rows: bool
    smallest_count_shown: int | None = Field(default=None, ge=0)
    suppress_below: int = Field(default=3, ge=1)
