"""Who answers for the forecast: the ``governance`` params section, and what each phase needs.

The audit stage reads it; the transparency record (``models.report``) prints it as the record's
accountability fields (ATRS Tier 1 and Tier 2); gate G10 (``models.audit``) checks that it is
complete for the configured phase. The deploying organisation fills it (README, "Who fills
``governance``"), never the code: Beatwise cannot know who owns a deployment.

Each text field holds a statement, or ``none: <why>`` where the answer is that there is none
(a research demonstration has no owner), or is left null. A bare ``none`` is refused: the record
must say why. :func:`accountability_gaps` lists every field that is not filled; in a pilot or
production phase the owner, the senior responsible owner, a DPIA and the complaint route block
publication until they are (:data:`REQUIRED_BEYOND_RESEARCH`); in research they are listed only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

# the phases (research, pilot, production) are defined with the record that prints them
from beatwise.artefacts.transparency import Phase as Phase

#: the phases in words, as the record's Tier 1 prints them (ATRS: pre-deployment, pilot, production)
PHASE_WORDS: Final[dict[str, str]] = {
    "research": "research (pre-deployment): a demonstration that is not used to decide anything",
    "pilot": "pilot: used on trial to inform real decisions",
    "production": "production: used to inform real decisions",
}

#: the kinds of impact assessment a record lists (ATRS Tier 2, "Risks, mitigations and impact
#: assessments"); ``other`` needs a ``title``
AssessmentKind = Literal[
    "DPIA",
    "equality impact assessment",
    "human-rights assessment",
    "community impact assessment",
    "other",
]

#: each kind in words
ASSESSMENT_WORDS: Final[dict[str, str]] = {
    "DPIA": "data protection impact assessment (DPIA)",
    "equality impact assessment": "equality impact assessment",
    "human-rights assessment": "human-rights assessment",
    "community impact assessment": "community impact assessment",
    "other": "other assessment",
}

#: the prefix of a statement that there is none, with the reason after it
NONE_PREFIX: Final[str] = "none:"


def _statement(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must be a statement, 'none: <why>', or null (an empty text says nothing)")
    if text.lower().rstrip(".") == "none" or (
        text.lower().startswith(NONE_PREFIX) and not text[len(NONE_PREFIX) :].strip()
    ):
        raise ValueError("must say why there is none, as 'none: <why>'")
    return text


#: a field's text: a statement, or "none: <why>"
Statement = Annotated[str, AfterValidator(_statement)]


def stated_none(value: str | None) -> bool:
    """Whether ``value`` says there is none ("none: ...")."""
    return value is not None and value.lower().startswith(NONE_PREFIX)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Assessment(_Frozen):
    """One impact assessment of this deployment: its kind, date and where to read it."""

    kind: AssessmentKind
    #: the assessment's own name (required for ``other``)
    title: Statement | None = None
    #: the date it was completed
    date: dt.date
    #: a link, or a document reference a reader can ask for
    reference: Statement

    @model_validator(mode="after")
    def _titled(self) -> Assessment:
        if self.kind == "other" and self.title is None:
            raise ValueError("must give a 'title' naming the assessment when kind is 'other'")
        return self

    @property
    def name(self) -> str:
        """The assessment in words: its title, or its kind."""
        return self.title or ASSESSMENT_WORDS[self.kind]


class GovernanceConfig(_Frozen):
    """The accountability side of the transparency record (params ``governance``).

    Every field but ``phase`` may be null (not filled); a text field may also state that there
    is none, with the reason (``none: research demonstration``). The defaults are all null, in
    the research phase.
    """

    #: the organisation that uses the forecast (ATRS: organisation / department)
    organisation: Statement | None = None
    phase: Phase = "research"
    #: the team or role that owns the tool day to day (ATRS: team)
    owner: Statement | None = None
    #: the senior responsible owner's role, accountable for the tool and its outputs
    senior_responsible_owner: Statement | None = None
    #: who built or supplies the tool, and in what role (ATRS: external supplier)
    supplier: Statement | None = None
    #: where the public and partners ask about the tool (an address, a form, a team)
    contact: Statement | None = None
    #: the body that reviews the tool and this record (ethics board, police and crime panel)
    oversight_body: Statement | None = None
    #: how often that body reviews it ("every quarter", "before each phase change")
    review_cadence: Statement | None = None
    #: who receives the forecast and what they decide with it (ATRS: process integration)
    process_integration: Statement | None = None
    #: how a person reviews the forecast before anything is done (ATRS: human decisions and review)
    human_review: Statement | None = None
    #: the training its users receive (ATRS: required training)
    training: Statement | None = None
    #: how residents and others challenge the forecast or its use (ATRS: appeals and review)
    complaint_route: Statement | None = None
    #: the terms on which a supplier or partner may access the data
    data_access_terms: Statement | None = None
    #: impact assessments: DPIA, equality impact assessment, human-rights assessment, ...
    assessments: tuple[Assessment, ...] = ()
    #: the date the owner last reviewed these fields (null: never)
    last_reviewed: dt.date | None = None

    def assessment(self, kind: str) -> Assessment | None:
        """The latest assessment of ``kind``, if any."""
        found = [a for a in self.assessments if a.kind == kind]
        return max(found, key=lambda a: a.date) if found else None


@dataclass(frozen=True)
class AccountabilityItem:
    """One accountability field of the record: its params key, its name, and whether stating
    "none: <why>" answers it (a supplier: "none: built in house") or leaves a gap (an owner)."""

    key: str
    label: str
    none_answers: bool = False


#: the accountability fields, in the record's order; an assessment kind is keyed
#: ``assessments[<kind>]``
ACCOUNTABILITY_ITEMS: Final[tuple[AccountabilityItem, ...]] = (
    AccountabilityItem("organisation", "the organisation that uses the forecast"),
    AccountabilityItem("owner", "the owner"),
    AccountabilityItem("senior_responsible_owner", "the senior responsible owner"),
    AccountabilityItem("supplier", "the supplier", none_answers=True),
    AccountabilityItem("contact", "the public contact"),
    AccountabilityItem("oversight_body", "the oversight body"),
    AccountabilityItem("review_cadence", "how often the oversight body reviews it"),
    AccountabilityItem("process_integration", "who receives the forecast and what they decide"),
    AccountabilityItem("human_review", "the human-review procedure"),
    AccountabilityItem("training", "the training of its users"),
    AccountabilityItem("complaint_route", "the complaint route"),
    AccountabilityItem("data_access_terms", "the data-access terms", none_answers=True),
    AccountabilityItem("assessments[DPIA]", "a data protection impact assessment"),
    AccountabilityItem("assessments[equality impact assessment]", "an equality impact assessment"),
    AccountabilityItem("assessments[human-rights assessment]", "a human-rights assessment"),
    AccountabilityItem("last_reviewed", "the date the owner last reviewed these fields"),
)

#: what a pilot or production phase must fill before it may publish (gate G10)
REQUIRED_BEYOND_RESEARCH: Final[tuple[str, ...]] = (
    "owner",
    "senior_responsible_owner",
    "assessments[DPIA]",
    "complaint_route",
)


@dataclass(frozen=True)
class AccountabilityGap:
    """An accountability field that is not filled, as the record lists it."""

    #: the params key, as ``governance.owner`` or ``governance.assessments[DPIA]``
    field: str
    label: str
    #: what params say instead ("none: research demonstration"), or None when the field is null
    stated: str | None
    #: whether it blocks publication in the configured phase (G10)
    blocks: bool
    #: the first phase in which it blocks publication (None: it never blocks, it is listed)
    required_from: Phase | None


def _value(governance: GovernanceConfig, key: str) -> tuple[bool, str | None]:
    """Whether the field ``key`` is filled, and what it states."""
    if key.startswith("assessments["):
        found = governance.assessment(key[len("assessments[") : -1])
        return found is not None, None
    value = getattr(governance, key)
    if isinstance(value, dt.date):
        return True, value.isoformat()
    return value is not None, value


def accountability_gaps(governance: GovernanceConfig) -> tuple[AccountabilityGap, ...]:
    """Every accountability field that is not filled, in the record's order.

    A field is filled by a statement; a null field is a gap, and so is "none: <why>" unless
    "none" answers the question (a supplier, data-access terms). A gap of
    :data:`REQUIRED_BEYOND_RESEARCH` blocks publication in a pilot or production phase.
    """
    gaps = []
    for item in ACCOUNTABILITY_ITEMS:
        present, stated = _value(governance, item.key)
        if present and (item.none_answers or not stated_none(stated)):
            continue
        required = item.key in REQUIRED_BEYOND_RESEARCH
        gaps.append(
            AccountabilityGap(
                field=f"governance.{item.key}",
                label=item.label,
                stated=stated,
                blocks=required and governance.phase != "research",
                required_from="pilot" if required else None,
            )
        )
    return tuple(gaps)


def describe_gap(gap: AccountabilityGap) -> str:
    """A gap in one clause: "governance.owner (the owner) says 'none: ...'"."""
    if gap.stated is not None:
        return f"{gap.field} ({gap.label}) says {gap.stated!r}"
    if gap.field.startswith("governance.assessments["):
        return f"{gap.field} ({gap.label}) is not among the assessments"
    return f"{gap.field} ({gap.label}) is empty"
