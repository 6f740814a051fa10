"""The transparency record: its sections against the ATRS structure, G10's phase rule (a pilot or
production phase with a missing owner blocks publication, naming the field; research publishes
with its gaps listed), the links between the documents, and dates that say what they are."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from audit_inputs import COVERAGE, SETUP, city, make_metrics

from beatwise.artefacts.audit import PublicationBlockedError
from beatwise.artefacts.transparency import ATRS_SECTIONS, TransparencyRecord
from models.audit import (
    REQUIRED_RECORD_SECTIONS,
    AuditResult,
    BacktestArrays,
    audit_backtest,
    check_documentation,
)
from models.governance import Assessment, GovernanceConfig
from models.report import (
    DataQualitySummary,
    DocumentPaths,
    Documents,
    ReportContext,
    build_record,
    document_audit,
    document_dates,
)

#: The ATRS template's structure (v3.0): a metadata section, Tier 1 (one section, for the
#: public) and Tier 2's five sections, in this order. Written out here, not read from the code,
#: so that a change to the record's sections fails until it is checked against the standard.
ATRS_TIER2 = (
    "Owner and responsibility",
    "Description and rationale",
    "Deployment context",
    "Tool specification",
    "Risks, mitigations and impact assessments",
)
#: the fields each ATRS section asks for, by the record's JSON keys
ATRS_FIELDS: dict[str, set[str]] = {
    "tier1_overview": {"name", "description", "organisation", "function", "phase", "contact"},
    "tier2_owner_and_responsibility": {
        "organisation",
        "owner",
        "senior_responsible_owner",
        "supplier",
        "data_access_terms",
    },
    "tier2_description_and_rationale": {"description", "scope", "benefits"}
    | {"alternatives_considered"},
    "tier2_deployment_context": {
        "process_integration",
        "provided_information",
        "frequency_and_scale",
        "human_review",
        "training",
        "appeals_and_review",
    },
    "tier2_tool_specification": {"system_architecture", "model", "training_data"}
    | {"sensitive_attributes"},
    "tier2_risks_mitigations_and_impact_assessments": {"impact_assessments", "risks"},
}
RUN_DATE = dt.date(2024, 4, 29)
FORECAST = dt.date(2024, 4, 22)
OWNER = "Head of the analysis unit"
FILLED = GovernanceConfig(
    organisation="A police force",
    phase="production",
    owner=OWNER,
    senior_responsible_owner="Assistant Chief Constable, Local Policing",
    supplier="none: built in house",
    contact="A public enquiries address",
    oversight_body="The force's data ethics committee",
    review_cadence="quarterly",
    process_integration="Inspectors receive the flagged cells each Monday",
    human_review="An inspector reviews every flagged cell before patrols are planned",
    training="A half-day course",
    complaint_route="The force's complaints procedure",
    data_access_terms="none: no supplier has access",
    assessments=(
        Assessment(kind="DPIA", date=dt.date(2024, 3, 1), reference="DPIA-14"),
        Assessment(kind="equality impact assessment", date=dt.date(2024, 3, 8), reference="EIA-7"),
        Assessment(kind="human-rights assessment", date=dt.date(2024, 3, 8), reference="HRA-2"),
    ),
    last_reviewed=dt.date(2024, 4, 1),
)


@pytest.fixture(scope="module")
def result() -> AuditResult:
    """The small city's audit before G10: every other hard gate passes (G6 asks for review)."""
    cells, backtest = city()
    return audit_backtest(
        BacktestArrays.from_frames(backtest, cells),
        setup=SETUP,
        metrics=make_metrics(),
        power=False,
        sensitivity_coverages=(COVERAGE,),
    )


def _context(governance: GovernanceConfig | None = None, **kw: Any) -> ReportContext:
    base: dict[str, Any] = {
        "model_version": "v-record",
        "run_id": "run-9",
        "audit_date": RUN_DATE,
        "forecast_period": FORECAST,
        "study_area": "Toy City",
        "target_types": ("burglary",),
        "published_resolution": 8,
        "backtest_period": "2024-01-01 to 2024-04-15",
        "training_data": "Synthetic events before the backtest.",
        "evaluation_data": "Synthetic events in the backtest weeks.",
        "governance": governance or GovernanceConfig(),
    }
    return ReportContext(**{**base, **kw})


def _documents(result: AuditResult, governance: GovernanceConfig | None = None) -> Documents:
    return document_audit(
        result,
        metrics=make_metrics(),
        data_quality=DataQualitySummary(),
        context=_context(governance),
    )


@pytest.fixture(scope="module")
def research(result: AuditResult) -> Documents:
    return _documents(result)


def _headings(markdown: str, level: str = "##") -> list[str]:
    return re.findall(rf"^{level} (.+)$", markdown, flags=re.MULTILINE)


# --------------------------------------------------------------------------------------------
# The structure: ATRS metadata, Tier 1, Tier 2's five sections, the gaps
# --------------------------------------------------------------------------------------------


def test_the_record_has_the_atrs_sections_in_order(research: Documents) -> None:
    expected = [
        "Metadata",
        "Tier 1: Overview",
        *(f"Tier 2.{i}: {title[:1].upper()}{title[1:]}" for i, title in enumerate(ATRS_TIER2, 1)),
        "Gaps in this record",
    ]
    assert [title for _, title in ATRS_SECTIONS] == expected == list(REQUIRED_RECORD_SECTIONS)
    # the Markdown's sections, exactly and in order; the JSON's keys, in the same order
    assert _headings(research.record_md) == expected
    assert list(research.record.to_json()) == [key for key, _ in ATRS_SECTIONS]
    for key, fields in ATRS_FIELDS.items():
        assert fields <= set(research.record.to_json()[key]), key


def test_the_record_json_is_written_through_its_definition(
    research: Documents, tmp_path: Path
) -> None:
    path = tmp_path / "transparency_record.json"
    research.record.write(path)
    again = TransparencyRecord.read(path)
    assert again == research.record
    again.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_technical_fields_come_from_the_run(research: Documents) -> None:
    record = research.record
    assert record.metadata.model_version == "v-record" and record.metadata.mlflow_run_id == "run-9"
    rationale = record.tier2_description_and_rationale
    # backtest_metrics.json's lift, 1.12 (1.04 - 1.21) over b4_all_history: better, in words
    assert rationale.comparison.conclusion == "better"
    assert "12.0% more recorded crime caught" in rationale.comparison.headline
    assert rationale.comparison.lift == 1.12
    assert rationale.performance[0].forecast == "this model"
    risks = record.tier2_risks_mitigations_and_impact_assessments
    assert risks.publishable and risks.review_gates == ("G6",)
    assert risks.audit_verdict.startswith("Publishable.")
    assert risks.reference_allocation.startswith("The true risk. On synthetic data")
    assert risks.board_panel and "Even under the true risk" in risks.board_panel[0]
    assert record.tier2_deployment_context.frequency_and_scale.startswith(
        "Once per week: 300 cells"
    )


# --------------------------------------------------------------------------------------------
# G10 and the phase: research publishes with its gaps listed; pilot and production block
# --------------------------------------------------------------------------------------------


def test_research_publishes_with_the_gaps_listed(research: Documents) -> None:
    audit = research.audit
    assert audit.publishable and audit.gates["G10"].status == "PASS"
    record = research.record
    assert record.metadata.phase == "research" and record.complete_for_phase
    fields = [g.field for g in record.gaps]
    for field in (
        "governance.owner",
        "governance.senior_responsible_owner",
        "governance.assessments[DPIA]",
        "governance.complaint_route",
    ):
        assert field in fields
        gap = next(g for g in record.gaps if g.field == field)
        assert not gap.blocks and gap.required_from == "pilot"
        # listed in the Markdown's gaps table, marked as blocking from the pilot phase on
        assert re.search(rf"\| `{re.escape(field)}` \| .* \| from pilot \|", research.record_md)
    assert "| `governance.training` | The training of its users | nothing (null) | no |" in (
        research.record_md
    )
    assert "Complete for the research phase?** Yes" in research.record_md
    explanation = audit.gates["G10"].explanation
    assert f"{len(fields)} accountability field(s) are not filled" in explanation
    assert "governance.owner" in explanation and "would block publication in a pilot" in explanation
    # the null fields read as gaps in the record, not as blanks
    assert "*Not stated* (a gap: `governance.owner`)" in research.record_md


@pytest.mark.parametrize("phase", ["pilot", "production"])
def test_a_missing_owner_blocks_publication_naming_the_field(
    result: AuditResult, phase: str
) -> None:
    governance = FILLED.model_copy(update={"phase": phase, "owner": None})
    docs = _documents(result, governance)
    audit = docs.audit
    assert not audit.publishable and audit.blocking_gates == ("G10",)
    g10 = audit.gates["G10"]
    assert g10.status == "FAIL"
    assert f"the transparency record is not complete for the {phase} phase" in g10.explanation
    assert "governance.owner (the owner) is empty" in g10.explanation
    # the publish stage's refusal names the gate and the field
    with pytest.raises(PublicationBlockedError, match=r"G10 FAIL.*governance\.owner"):
        audit.check_publishable()
    # and so do the documents
    assert [g.field for g in docs.record.blocking_gaps] == ["governance.owner"]
    assert "**No: publication is blocked (gate G10)** until governance.owner is filled" in (
        docs.record_md
    )
    assert "| `governance.owner` | The owner | nothing (null) | **yes** |" in docs.record_md
    assert "governance.owner must be filled before a forecast may be published" in docs.model_card
    assert "governance.owner must be filled before a forecast may be published" in docs.bias_report


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"senior_responsible_owner": None}, "governance.senior_responsible_owner"),
        ({"complaint_route": "none: not set up yet"}, "governance.complaint_route"),
        ({"assessments": FILLED.assessments[1:]}, "governance.assessments[DPIA]"),
    ],
)
def test_each_required_field_blocks_production(
    result: AuditResult, change: dict[str, Any], field: str
) -> None:
    audit = _documents(result, FILLED.model_copy(update=change)).audit
    assert audit.blocking_gates == ("G10",)
    assert field in audit.gates["G10"].explanation


def test_a_complete_production_record_publishes_and_shows_who(result: AuditResult) -> None:
    docs = _documents(result, FILLED)
    assert docs.audit.publishable and docs.record.gaps == ()
    assert docs.record.tier2_owner_and_responsibility.owner == OWNER
    assert f"- **Owner** (the team or role that owns the tool day to day): {OWNER}" in (
        docs.record_md
    )
    assert "| data protection impact assessment (DPIA) | data protection impact assessment" in (
        docs.record_md
    )
    assert "None: every accountability field is filled." in docs.record_md
    assert "Every accountability field is filled (production phase)." in (
        docs.audit.gates["G10"].explanation
    )


def test_g10_checks_the_record_and_the_links_to_it(research: Documents) -> None:
    html, card, record = research.bias_report, research.model_card, research.record_md
    assert check_documentation(html, card, record, model_version="v-record").status == "PASS"
    broken = record.replace("## Tier 2.3: Deployment context", "## Deployment")
    gate = check_documentation(html, card, broken)
    assert gate.status == "FAIL" and "record lacks section(s) Tier 2.3: Deployment context" in (
        gate.explanation
    )
    assert gate.by_group["documents"]["transparency_record"].status == "FAIL"
    unlinked = html.replace("transparency_record.md", "elsewhere.md")
    gate = check_documentation(unlinked, card, record)
    assert gate.status == "FAIL"
    assert "the bias report does not link the transparency record" in gate.explanation
    gate = check_documentation(html, card.replace("transparency_record.md", "x.md"), record)
    assert "the model card does not link the transparency record" in gate.explanation
    gate = check_documentation(
        html, card, record.replace("v-record", "v-x"), model_version="v-record"
    )
    assert "the transparency record does not name model version v-record" in gate.explanation


# --------------------------------------------------------------------------------------------
# Dates that say what they are, and documents that are a function of their inputs
# --------------------------------------------------------------------------------------------


def test_every_document_states_the_audit_date_and_the_forecast_period_apart(
    research: Documents,
) -> None:
    audit_line = "Audit run on**: 2024-04-29 — the day the audit judged the gates"
    forecast_line = "Forecast period**: Monday 2024-04-22 to Sunday 2024-04-28 (ISO week 2024-W17)"
    for doc in (research.record_md, research.model_card):
        assert audit_line in doc and forecast_line in doc
        assert "Backtest period**: 2024-01-01 to 2024-03-24 (12 weeks) — the past weeks" in doc
    html = research.bias_report
    dates = html[html.index('id="dates"') : html.index("</table>", html.index('id="dates"'))]
    assert '<th scope="row">Audit run on</th><td class="date">2024-04-29</td>' in dates
    assert "Monday 2024-04-22 to Sunday 2024-04-28 (ISO week 2024-W17)" in dates
    assert "report date" not in html
    dates_json = research.record.metadata.dates
    assert (dates_json.audit_run, dates_json.forecast_period_start) == (RUN_DATE, FORECAST)
    assert dates_json.forecast_period_end == dt.date(2024, 4, 28)


def test_the_documents_are_a_function_of_their_inputs_the_run_date_among_them(
    result: AuditResult, research: Documents
) -> None:
    again = _documents(result)
    assert (again.bias_report, again.model_card, again.record_md) == (
        research.bias_report,
        research.model_card,
        research.record_md,
    )
    assert again.record.to_json() == research.record.to_json()
    later = document_audit(
        result,
        metrics=make_metrics(),
        data_quality=DataQualitySummary(),
        context=_context(audit_date=dt.date(2024, 5, 6)),
    )
    changed = [
        line
        for a, b in zip(later.record_md.splitlines(), research.record_md.splitlines(), strict=True)
        if a != b
        for line in (a,)
    ]
    assert changed == [
        "- **Audit run on**: 2024-05-06 — the day the audit judged the gates and any expiry "
        "date; what it judged is the backtest below, not the forecast period."
    ]


def test_the_documents_must_sit_in_one_folder(tmp_path: Path) -> None:
    out = DocumentPaths(*(tmp_path / n for n in ("a.json", "r.html", "c.md", "t.md", "t.json")))
    assert out.links.record_md == "t.md" and out.links.bias_report == "r.html"
    with pytest.raises(ValueError, match=r"must be written to one folder.*record_json: "):
        DocumentPaths(
            tmp_path / "a.json",
            tmp_path / "r.html",
            tmp_path / "c.md",
            tmp_path / "t.md",
            tmp_path / "other" / "t.json",
        )


def test_the_record_says_whether_the_model_sees_an_audited_attribute(result: AuditResult) -> None:
    report, metrics = result.to_report(), make_metrics()
    for covariates, words in (
        (("residents",), "The model sees no group attribute; its cell attributes: residents."),
        (("residents", "minority_share"), "The model also sees minority_share"),
    ):
        context = _context(static_covariates=covariates)
        record = build_record(
            report, metrics=metrics, context=context, dates=document_dates(context, metrics)
        )
        assert words in record.tier2_tool_specification.sensitive_attributes
