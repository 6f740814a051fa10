"""``reports/transparency_record.json``: the transparency record, written by ``audit`` each run.

The record follows the structure of the UK's Algorithmic Transparency Recording Standard (ATRS):
metadata, Tier 1 (an overview for the public) and the five sections of Tier 2 (owner and
responsibility; description and rationale; deployment context; tool specification; risks,
mitigations and impact assessments), then the gaps. :data:`ATRS_SECTIONS` fixes the sections'
keys, order and headings: the JSON's keys and the Markdown record's headings (which gate G10
checks) both come from it. Technical fields come from the run (model, data, periods, performance
against the baselines, the audit's verdict); accountability fields come from params
``governance`` and are null where nobody has filled them, each such field listed in ``gaps``.

Dates say what they are: ``audit_run`` is the day the audit judged the gates (the audit stage's
``--run-date``), the forecast period is the period the published forecast is for, the backtest
period is what the audit judged, ``accountability_last_reviewed`` is when the owner last reviewed
the governance fields. Nobody reads this file back in the pipeline; it is written through its
definition so that its layout is decided once, and so that it reads back byte for byte.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact
from beatwise.period import Period

#: the phases a record may be in (params ``governance.phase``)
Phase = Literal["research", "pilot", "production"]

#: the record's sections: key in the JSON, heading in the Markdown, in ATRS order
ATRS_SECTIONS: Final[tuple[tuple[str, str], ...]] = (
    ("metadata", "Metadata"),
    ("tier1_overview", "Tier 1: Overview"),
    ("tier2_owner_and_responsibility", "Tier 2.1: Owner and responsibility"),
    ("tier2_description_and_rationale", "Tier 2.2: Description and rationale"),
    ("tier2_deployment_context", "Tier 2.3: Deployment context"),
    ("tier2_tool_specification", "Tier 2.4: Tool specification"),
    (
        "tier2_risks_mitigations_and_impact_assessments",
        "Tier 2.5: Risks, mitigations and impact assessments",
    ),
    ("gaps", "Gaps in this record"),
)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordDates(_Record):
    """Every date the record states, each labelled by what it is the date of."""

    #: the day the audit judged the gates (and any expiry date)
    audit_run: dt.date
    period: Period
    #: first and last day of the period the published forecast is for
    forecast_period_start: dt.date
    forecast_period_end: dt.date
    #: the first and last backtest period the audit judged (their start days)
    backtest_first_period: dt.date
    backtest_last_period: dt.date
    n_backtest_periods: int = Field(ge=1)
    #: when the owner last reviewed the accountability fields (None: never)
    accountability_last_reviewed: dt.date | None


class Metadata(_Record):
    """What the record is, for whom, and when."""

    title: str
    standard: str
    phase: Phase
    model_version: str
    mlflow_run_id: str
    dates: RecordDates
    #: the documents beside this record: name -> file, relative to the record
    documents: dict[str, str]


class Tier1Overview(_Record):
    """What the tool is, for the public."""

    name: str
    description: str
    #: null where params ``governance`` do not say
    organisation: str | None
    function: str
    phase: str
    contact: str | None
    more_information: str


class OwnerAndResponsibility(_Record):
    """Who answers for the tool (params ``governance``)."""

    organisation: str | None
    owner: str | None
    senior_responsible_owner: str | None
    supplier: str | None
    data_access_terms: str | None


class PerformanceRow(_Record):
    """One forecast of the backtest at the operational coverage."""

    forecast: str
    hit_rate: float | None
    pai: float | None


class BaselineConclusion(_Record):
    """The model against the best simple baseline, as a board member would repeat it."""

    baseline: str
    baseline_words: str
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    conclusion: Literal["better", "no better", "worse", "unknown"]
    headline: str
    sentence: str
    #: the share of the baseline's flagged area the model flags too
    area_shared: float | None


class DescriptionAndRationale(_Record):
    """What the tool does in detail, why, what it is measured against, and its alternatives."""

    description: str
    scope: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    benefits: str
    comparison: BaselineConclusion
    performance: tuple[PerformanceRow, ...]
    alternatives_considered: str


class DeploymentContext(_Record):
    """How the forecast enters decisions: from the run where the run knows, else ``governance``."""

    process_integration: str | None
    provided_information: str
    frequency_and_scale: str
    human_review: str | None
    training: str | None
    appeals_and_review: str | None
    oversight_body: str | None
    review_cadence: str | None


class ToolSpecification(_Record):
    """The pipeline, the model and the data, from the run."""

    system_architecture: str
    model: str
    model_version: str
    training_data: str
    evaluation_data: str
    target: str
    sensitive_attributes: str
    published_output: str


class ImpactAssessment(_Record):
    """One impact assessment (params ``governance.assessments``)."""

    name: str
    kind: str
    date: dt.date
    reference: str


class Risk(_Record):
    """A known risk of the tool and how it is mitigated."""

    name: str
    description: str
    mitigation: str


class RisksAndImpactAssessments(_Record):
    """The impact assessments, the audit's verdict and what the board is asked, and the risks."""

    impact_assessments: tuple[ImpactAssessment, ...]
    audit_verdict: str
    publishable: bool
    blocking_gates: tuple[str, ...]
    review_gates: tuple[str, ...]
    reference_allocation: str
    #: the board's panel in sentences: what the reference itself does, what the model does
    board_panel: tuple[str, ...]
    #: the intersectional figures in sentences, or why the data do not allow them
    intersectional: tuple[str, ...]
    override: str | None
    risks: tuple[Risk, ...]


class RecordGap(_Record):
    """An accountability field nobody has filled (params ``governance``)."""

    #: ``governance.owner``, ``governance.assessments[DPIA]``
    field: str
    label: str
    #: what params say instead ("none: ..."), or None when the field is null
    stated: str | None
    #: whether it blocks publication in this record's phase (gate G10)
    blocks: bool
    #: the first phase in which it blocks publication (None: listed, never blocking)
    required_from: Phase | None


class TransparencyRecord(Artefact):
    """The transparency record of one audited model version, in the ATRS structure."""

    metadata: Metadata
    tier1_overview: Tier1Overview
    tier2_owner_and_responsibility: OwnerAndResponsibility
    tier2_description_and_rationale: DescriptionAndRationale
    tier2_deployment_context: DeploymentContext
    tier2_tool_specification: ToolSpecification
    tier2_risks_mitigations_and_impact_assessments: RisksAndImpactAssessments
    gaps: tuple[RecordGap, ...]

    @model_validator(mode="after")
    def _sections(self) -> Self:
        fields = list(type(self).model_fields)
        if fields != [key for key, _ in ATRS_SECTIONS]:
            raise ValueError(f"the record's sections must be {ATRS_SECTIONS}. Got {fields}")
        return self

    @property
    def blocking_gaps(self) -> tuple[RecordGap, ...]:
        """The gaps that block publication in this record's phase."""
        return tuple(g for g in self.gaps if g.blocks)

    @property
    def complete_for_phase(self) -> bool:
        """Whether nothing the record's phase requires is missing."""
        return not self.blocking_gaps
