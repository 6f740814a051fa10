"""Gate G11 (feedback stability) and the documents' section "Does this forecast feed on itself?".

The feedback stage's ``feedback.json`` decides G11's status on the configured scenario; without
it G11 is NOT CHECKED, which blocks publication like any hard gate that was not checked and
which no override lifts. The bias report and the model card say what the loop does and what it
found, naming every district and group in words.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import pytest
from audit_inputs import SETUP, city, make_metrics, report_context
from feedback_inputs import make_feedback
from pydantic import ValidationError

from beatwise.artefacts.audit import AuditReport, PublicationBlockedError
from beatwise.artefacts.feedback import FeedbackReport
from models.audit import (
    GATE_IDS,
    GATE_KINDS,
    GATE_TITLES,
    REQUIRED_CARD_SECTIONS,
    REQUIRED_REPORT_SECTIONS,
    SYNTHETIC_EVIDENCE,
    AuditOverride,
    AuditResult,
    BacktestArrays,
    audit_backtest,
    check_documentation,
    configured_scenario,
    gate_feedback,
)
from models.report import DataQualitySummary, Documents, document_audit, read_feedback_figure

METRICS = make_metrics()
FIGURE = b"\x89PNG\r\n\x1a\n a drift figure"


def _audit(feedback: FeedbackReport | None, **kw: object) -> AuditResult:
    """The small city's audit (every other hard gate passes) with ``feedback`` for G11."""
    cells, backtest = city()
    return audit_backtest(
        BacktestArrays.from_frames(backtest, cells),
        setup=replace(SETUP, feedback=feedback),
        metrics=METRICS,
        power=False,
        sensitivity_coverages=(SETUP.config.coverage,),
        **kw,  # type: ignore[arg-type]
    )


def _documents(result: AuditResult, figure: bytes | None = FIGURE) -> Documents:
    return document_audit(
        result,
        metrics=METRICS,
        data_quality=DataQualitySummary(),
        context=report_context(),
        feedback_figure=figure,
    )


@pytest.fixture(scope="module")
def base() -> AuditResult:
    return _audit(make_feedback("PASS"))


def _with_feedback(result: AuditResult, feedback: FeedbackReport | None) -> AuditResult:
    """The same audit with G11 judged on another feedback report (the other gates unchanged)."""
    return replace(
        result, gates={**result.gates, "G11": gate_feedback(feedback)}, feedback=feedback
    )


def _section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}"')
    return html[start : html.index("</section>", start)]


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _rows(html: str) -> list[list[str]]:
    return [
        [_text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S)
    ]


def _card_section(card: str, heading: str) -> str:
    start = card.index(f"## {heading}\n")
    end = card.find("\n## ", start + 1)
    return card[start:end]


# --------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------


def test_g11_is_a_hard_gate_between_g10_and_g12() -> None:
    assert GATE_IDS[GATE_IDS.index("G10") + 1] == "G11"
    assert GATE_IDS[GATE_IDS.index("G11") + 1] == "G12"
    assert GATE_KINDS["G11"] == "hard" and GATE_TITLES["G11"] == "Feedback stability"


@pytest.mark.parametrize(
    ("status", "deciding", "label", "value"),
    [
        ("PASS", "districts: ashbourne", "district Ashbourne", 1.18),
        ("REVIEW", "ethnicity: minority", "residents of minority groups", 1.31),
        ("FAIL", "ethnicity: minority", "residents of minority groups", 1.62),
        ("INSUFFICIENT DATA", "districts: calder", "district Calder", 1.4),
    ],
)
def test_g11_takes_the_feedback_stage_status_on_the_configured_scenario(
    status: str, deciding: str, label: str, value: float
) -> None:
    report = make_feedback(status)  # type: ignore[arg-type]
    gate = gate_feedback(report).to_gate()
    assert gate.status == status and gate.kind == "hard"
    assert gate.title == "Feedback stability"
    assert gate.deciding == deciding and gate.deciding_label == label
    assert gate.value == pytest.approx(value)
    # one check per group of the configured scenario (not the other scenario's figures)
    configured = configured_scenario(report)
    assert sum(len(v) for v in gate.by_group.values()) == len(configured.groups)
    minority = gate.by_group["ethnicity"]["minority"]
    drift = next(g for g in configured.groups if g.key == "minority").drift
    assert minority.label == "residents of minority groups"
    assert (minority.value, minority.ci_low, minority.ci_high) == (
        drift.value,
        drift.low,
        drift.high,
    )
    assert minority.band == "[0.80, 1.25]" and gate.band == "[0.80, 1.25]"
    assert gate.by_group["districts"]["brill"].label == "district Brill"
    assert label in gate.explanation
    assert SYNTHETIC_EVIDENCE[:-1] not in gate.explanation


def test_g11_says_when_the_findings_are_the_synthetic_citys() -> None:
    gate = gate_feedback(make_feedback("PASS", synthetic_evidence_only=True))
    assert gate.status == "PASS"
    assert SYNTHETIC_EVIDENCE[:-1] in gate.explanation and "police_uk" in gate.explanation


def test_without_a_feedback_report_g11_is_not_checked() -> None:
    gate = gate_feedback(None)
    assert gate.status == "NOT CHECKED" and gate.value is None
    assert "the feedback stage did not run" in gate.explanation


def test_a_simulation_that_judged_no_group_is_not_passed() -> None:
    raw = make_feedback("PASS").model_dump()
    for s in raw["scenarios"]:
        s["groups"] = []
    gate = gate_feedback(FeedbackReport.model_validate(raw))
    assert gate.status == "INSUFFICIENT DATA" and gate.value is None and gate.by_group == {}
    assert "no district or group was reported" in gate.explanation


@pytest.mark.parametrize("reported", ["NOT CHECKED", "NOT APPLICABLE"])
def test_a_status_a_hard_gate_cannot_pass_is_not_checked(reported: str) -> None:
    report = make_feedback("PASS").model_copy(update={"status": reported})
    gate = gate_feedback(report)
    assert gate.status == "NOT CHECKED"
    assert f"the feedback stage reported {reported}" in gate.explanation


@pytest.mark.parametrize(
    ("status", "publishable"),
    [("PASS", True), ("REVIEW", True), ("FAIL", False), ("INSUFFICIENT DATA", False)],
)
def test_g11_status_decides_publication_as_a_hard_gate(
    base: AuditResult, status: str, publishable: bool
) -> None:
    audit = _documents(_with_feedback(base, make_feedback(status))).audit  # type: ignore[arg-type]
    assert audit.gates["G11"].status == status
    assert audit.publishable is publishable, audit.blocking_gates
    assert ("G11" in audit.blocking_gates) is (not publishable)
    assert ("G11" in audit.review_gates) is (status == "REVIEW")


def test_the_stage_audit_judges_g11_from_its_setup() -> None:
    result = _audit(make_feedback("FAIL"))
    assert result.gates["G11"].status == "FAIL" and result.feedback is not None
    audit = _documents(result).audit
    assert audit.blocking_gates == ("G11",)
    with pytest.raises(PublicationBlockedError, match=r"G11 FAIL: value 1\.62") as err:
        audit.check_publishable()
    assert err.value.blocked_by == ("G11",)


def test_a_missing_feedback_report_blocks_and_no_override_lifts_it(base: AuditResult) -> None:
    every = tuple(g for g in GATE_IDS if g != "G10")
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2024, 4, 1),
        reason="A test: an override cannot stand in for a check that was not made.",
        gates=every,
        expires=dt.date(2024, 6, 1),
    )
    missing = replace(_with_feedback(base, None), override=override, run_date=dt.date(2024, 4, 22))
    audit = _documents(missing).audit
    assert audit.gates["G11"].status == "NOT CHECKED"
    assert "G11" in audit.blocking_gates
    assert not audit.publishable and audit.override_applied is None
    with pytest.raises(PublicationBlockedError, match="the feedback stage did not run"):
        audit.check_publishable()
    # read back from audit.json, the file says the same
    assert not AuditReport.from_json(audit.to_json()).publishable


def test_an_override_may_name_g11_but_never_g10(base: AuditResult) -> None:
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2024, 4, 1),
        reason="A pilot with weekly review of where patrols went.",
        gates=("G11",),
        expires=dt.date(2024, 6, 1),
    )
    failing = replace(
        _with_feedback(base, make_feedback("FAIL")),
        override=override,
        run_date=dt.date(2024, 4, 22),
    )
    audit = _documents(failing).audit
    assert audit.publishable and audit.override_applied is not None
    assert audit.override_applied.overridden_gates == ("G11",)
    with pytest.raises(ValidationError, match="cannot name G10"):
        AuditOverride(
            approving_body="Board",
            date=dt.date(2024, 4, 1),
            reason="Because.",
            gates=("G10", "G11"),
            expires=dt.date(2024, 6, 1),
        )


def test_a_simulation_of_another_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match=r"operational coverage is 0\.05"):
        _audit(make_feedback("PASS", coverage=0.1))
    with pytest.raises(ValueError, match=r"amplification band is \[0\.8, 1\.25\]"):
        _audit(make_feedback("PASS", band=(0.9, 1.11)))


def test_exactly_one_scenario_is_the_configured_one() -> None:
    raw = make_feedback("PASS").model_dump()
    for s in raw["scenarios"]:
        s["configured"] = False
    with pytest.raises(ValueError, match=r"exactly one scenario.*Got 0 among"):
        gate_feedback(FeedbackReport.model_validate(raw))


# --------------------------------------------------------------------------------------------
# The documents
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_only(base: AuditResult) -> Documents:
    """A real city's documents: the synthetic city's results for the same configuration."""
    return _documents(_with_feedback(base, make_feedback("REVIEW", synthetic_evidence_only=True)))


def test_the_section_follows_the_power_check_and_g10_requires_it(
    synthetic_only: Documents,
) -> None:
    html, card = synthetic_only.bias_report, synthetic_only.model_card
    assert "feedback" in REQUIRED_REPORT_SECTIONS and "Feedback stability" in REQUIRED_CARD_SECTIONS
    assert html.index('<section id="power"') < html.index('<section id="feedback"')
    assert html.index('<section id="feedback"') < html.index('<section id="override"')
    assert synthetic_only.audit.gates["G10"].status == "PASS"
    record = synthetic_only.record_md
    assert check_documentation(html, card, record).status == "PASS"
    gate = check_documentation(html.replace('id="feedback"', 'id="x"'), card, record)
    assert gate.status == "FAIL" and "feedback" in gate.explanation
    gate = check_documentation(html, card.replace("## Feedback stability\n", "## Loop\n"), record)
    assert gate.status == "FAIL" and "Feedback stability" in gate.explanation


def test_the_section_says_what_the_loop_does_and_names_groups_in_words(
    synthetic_only: Documents,
) -> None:
    section = _section(synthetic_only.bias_report, "feedback")
    text = _text(section)
    assert "Does this forecast feed on itself?" in text
    # prominently, before anything else the section says
    assert text.index(SYNTHETIC_EVIDENCE) < text.index("G11 REVIEW")
    for words in (
        "flags the 5.0% of the area",
        "2 times its usual level",
        "recorded more where there is more patrol",
        "rises by 10.0%",
        "Basis: victims report more where police are visible (assumed).",
        "deters no crime",
        "52 weeks on each of 3 seeds",
    ):
        assert words in text, words
    rows = _rows(section)
    scenarios = [r for r in rows if len(r) == 9 and r[0] != "Scenario"]
    assert scenarios[0][0].startswith("Configured: The pipeline as configured")  # first
    assert scenarios[0][1] == "REVIEW" and scenarios[1][1] == "FAIL"
    assert (
        scenarios[0][2]
        == "Residents of minority groups: 1.31 (95% interval over seeds 1.18 – 1.45)"
    )
    assert scenarios[1][2].startswith("District Ashbourne: 1.74")
    assert scenarios[0][3:6] == ["0.62", "0.55", "0.41"]  # Gini: closed, open, harm
    assert scenarios[0][6:8] == ["36.0%", "22.0%"]
    groups = [r for r in rows if len(r) == 8 and r[0] != "District or group"]
    assert [r[0] for r in groups] == [
        "Residents of minority groups (minority)",
        "Residents of the majority group (majority)",
        "District Ashbourne (ashbourne)",
        "District Brill (brill)",
    ]
    assert groups[0][4] == "1.31 1.18 – 1.45" and groups[0][6] == "REVIEW"
    assert groups[0][5].startswith("×1.02 a year")
    # the feedback stage's figure, embedded as the other charts are
    src = re.search(r'id="chart-feedback">\s*<img alt="[^"]+" src="([^"]+)"', section)
    assert src is not None
    assert src.group(1) == "data:image/png;base64," + base64.b64encode(FIGURE).decode()


def test_on_the_synthetic_city_itself_there_is_no_such_caveat(base: AuditResult) -> None:
    docs = _documents(base, figure=None)
    section = _section(docs.bias_report, "feedback")
    assert SYNTHETIC_EVIDENCE not in _text(section)
    assert "G11 PASS" in _text(section)
    assert "The drift figure was not supplied to this report." in _text(section)
    card = _card_section(docs.model_card, "Feedback stability")
    assert SYNTHETIC_EVIDENCE not in card
    assert "**G11 PASS**" in card
    assert (
        "In the configured scenario, the largest drift is that of district Ashbourne: 1.18 times"
        in card
    )


def test_the_model_card_gives_g11_and_the_largest_drift_in_words(synthetic_only: Documents) -> None:
    card = _card_section(synthetic_only.model_card, "Feedback stability")
    assert f"**{SYNTHETIC_EVIDENCE}**" in card
    assert "**G11 REVIEW**" in card
    assert "largest drift is that of residents of minority groups: 1.31 times" in card
    assert "(95% interval over seeds 1.18 – 1.45; REVIEW)" in card


def test_documents_without_the_feedback_stage_say_it_did_not_run(base: AuditResult) -> None:
    docs = _documents(_with_feedback(base, None), figure=None)
    text = _text(_section(docs.bias_report, "feedback"))
    assert "G11 NOT CHECKED" in text and "the feedback stage did not run" in text
    assert "blocks publication" in text
    assert "the feedback stage did not run" in _card_section(docs.model_card, "Feedback stability")
    # the verdict names it among the blocking gates
    assert "G11 Feedback stability" in _text(_section(docs.bias_report, "decision"))


def test_the_stage_reads_the_figure_beside_feedback_json(tmp_path: Path) -> None:
    report = make_feedback("PASS")
    path = tmp_path / "reports" / "feedback.json"
    report.write(path)
    with pytest.raises(FileNotFoundError, match=r"feedback\.json names its drift figure"):
        read_feedback_figure(path, report)
    figure = path.parent / report.figure
    figure.parent.mkdir(parents=True)
    figure.write_bytes(FIGURE)
    assert read_feedback_figure(path, FeedbackReport.read(path)) == FIGURE


def test_a_report_of_the_configured_scenario_alone_says_where_the_others_are(
    base: AuditResult,
) -> None:
    both = _text(_section(_documents(base).bias_report, "feedback"))
    assert "docs/feedback-loop.md" not in both  # two scenarios ran: the table shows them
    report = make_feedback("PASS")
    alone = report.model_copy(update={"scenarios": [s for s in report.scenarios if s.configured]})
    text = _text(_section(_documents(_with_feedback(base, alone)).bias_report, "feedback"))
    assert "Only the configured pipeline ran here" in text
    assert "feedback.scenarios" in text and "docs/feedback-loop.md" in text
