"""G10 and what it requires: the sections of the bias report, the model card and the
transparency record, the caveats, and the accountability fields the configured phase needs.

The documents are rendered by ``models.report`` from the audit's result; this module says what
they must carry (section ids of the report, headings of the card and of the record, the caveats'
words) and checks that they do. So the dependency points one way: the report imports this, never
the reverse. The record's headings are the ATRS sections of its typed definition
(``beatwise.artefacts.transparency.ATRS_SECTIONS``); whether its accountability fields are
complete for the phase is ``models.governance``'s rule: in a pilot or production phase an empty
owner, senior responsible owner, DPIA or complaint route fails G10, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Final

from beatwise.artefacts.audit import BandCheck, Check
from beatwise.artefacts.transparency import ATRS_SECTIONS
from models.audit._gate import GateResult
from models.governance import GovernanceConfig, accountability_gaps, describe_gap

#: ``id`` attributes every bias report carries (checked by gate G10), in the report's order: the
#: verdict, what the board is asked to decide (the absolute panel, what the reference itself does,
#: the envelope), the gates and amplification, the audit's power, whether the forecast feeds on
#: itself (G11's closed loop), the override, the reasons, the charts, the scope, the target,
#: performance, data quality and the caveats.
REQUIRED_REPORT_SECTIONS: Final[tuple[str, ...]] = (
    "dates",
    "decision",
    "summary",
    "decide",
    "reference-disparities",
    "envelope",
    "gates",
    "amplification",
    "power",
    "feedback",
    "override",
    "groups",
    "chart-exposure",
    "chart-coverage",
    "chart-calibration",
    "chart-map",
    "intended-use",
    "out-of-scope",
    "transparency",
    "target-definition",
    "performance",
    "data-quality",
    "feedback-loop-caveat",
    "ecological-caveat",
)

#: Headings every model card carries, in order: the verdict and the board's decision first, then
#: the sections of Mitchell et al. (2019), "Model Cards for Model Reporting", the audit's power and
#: its feedback stability (G11); the dates and who answers for the forecast (the transparency
#: record) beside them.
REQUIRED_CARD_SECTIONS: Final[tuple[str, ...]] = (
    "Verdict",
    "Dates",
    "What you are asked to decide",
    "Model details",
    "Intended use",
    "Out-of-scope uses",
    "Accountability and transparency record",
    "Factors",
    "Metrics",
    "Training data",
    "Evaluation data",
    "Quantitative analyses",
    "Audit power",
    "Feedback stability",
    "Ethical considerations",
    "Caveats and recommendations",
)

#: Headings every transparency record carries, in order (ATRS metadata, Tier 1, Tier 2, gaps).
REQUIRED_RECORD_SECTIONS: Final[tuple[str, ...]] = tuple(title for _, title in ATRS_SECTIONS)

#: the record's file name, which the bias report and the model card link (they sit beside it)
RECORD_FILE: Final[str] = "transparency_record.md"

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


def _headings(markdown: str) -> list[str]:
    return [_norm_heading(h) for h in _HEADING.findall(markdown)]


def _missing_headings(markdown: str, required: Sequence[str]) -> list[str]:
    headings = set(_headings(markdown))
    return [s for s in required if _norm_heading(s) not in headings]


def _accountability(governance: GovernanceConfig) -> tuple[Check, str | None, str]:
    """G10's check of the accountability fields for the configured phase: the check, the
    problem (None when nothing the phase requires is missing) and a note for the explanation."""
    gaps = accountability_gaps(governance)
    blocking = [g for g in gaps if g.blocks]
    phase = governance.phase
    check = Check(
        value=len(gaps),
        status="FAIL" if blocking else "PASS",
        band=f"nothing the {phase} phase requires is missing",
        note=", ".join(g.field for g in gaps),
    )
    if blocking:
        return (
            check,
            f"the transparency record is not complete for the {phase} phase: "
            + "; ".join(describe_gap(g) for g in blocking)
            + " (fill them in params governance)",
            "",
        )
    if not gaps:
        return check, None, f" Every accountability field is filled ({phase} phase)."
    would = [g.field for g in gaps if g.required_from is not None]
    note = (
        f" In the {phase} phase {len(gaps)} accountability field(s) are not filled; the "
        "transparency record lists them"
    )
    if would and phase == "research":
        note += f", and {', '.join(would)} would block publication in a pilot or production phase"
    return check, None, note + "."


def check_documentation(
    report_html: str,
    model_card_md: str,
    record_md: str,
    *,
    governance: GovernanceConfig | None = None,
    model_version: str | None = None,
    record_file: str = RECORD_FILE,
    required_report_sections: Sequence[str] | None = None,
    required_card_sections: Sequence[str] | None = None,
) -> GateResult:
    """G10: the bias report carries every required section id, the card and the transparency
    record every required heading, the report and the card link the record, and the record's
    accountability fields are complete for the configured phase.

    Defaults are :data:`REQUIRED_REPORT_SECTIONS`, :data:`REQUIRED_CARD_SECTIONS` and
    :data:`REQUIRED_RECORD_SECTIONS`, which the templates carry; ``governance`` defaults to the
    research phase with nothing filled. In a pilot or production phase an empty owner, senior
    responsible owner, DPIA or complaint route fails the gate with a message naming the field; in
    research they are listed in the record and noted here. When ``model_version`` is given, all
    three documents must name it. ``record_file`` is the record's file name the others link.
    """
    required_report_sections = required_report_sections or REQUIRED_REPORT_SECTIONS
    required_card_sections = required_card_sections or REQUIRED_CARD_SECTIONS
    governance = governance or GovernanceConfig()
    parser = _IdCollector()
    parser.feed(report_html)
    parser.close()
    missing_report = [s for s in required_report_sections if s not in parser.ids]
    missing_card = _missing_headings(model_card_md, required_card_sections)
    missing_record = _missing_headings(record_md, REQUIRED_RECORD_SECTIONS)
    problems = []
    if missing_report:
        problems.append(f"the bias report lacks section(s) {', '.join(missing_report)}")
    if missing_card:
        problems.append(f"the model card lacks section(s) {', '.join(missing_card)}")
    if missing_record:
        problems.append(f"the transparency record lacks section(s) {', '.join(missing_record)}")
    documents = {"bias report": report_html, "model card": model_card_md}
    for name, doc in documents.items():
        if record_file not in doc:
            problems.append(f"the {name} does not link the transparency record ({record_file})")
    if model_version is not None:
        for name, doc in {**documents, "transparency record": record_md}.items():
            if model_version not in doc:
                problems.append(f"the {name} does not name model version {model_version}")
    accountability, incomplete, note = _accountability(governance)
    if incomplete:
        problems.append(incomplete)
    by_group: dict[str, dict[str, BandCheck | Check]] = {
        "documents": {
            "bias_report": Check(
                value=len(required_report_sections) - len(missing_report),
                status="FAIL" if missing_report else "PASS",
                band=f"{len(required_report_sections)} sections",
                note=", ".join(missing_report),
            ),
            "model_card": Check(
                value=len(required_card_sections) - len(missing_card),
                status="FAIL" if missing_card else "PASS",
                band=f"{len(required_card_sections)} sections",
                note=", ".join(missing_card),
            ),
            "transparency_record": Check(
                value=len(REQUIRED_RECORD_SECTIONS) - len(missing_record),
                status="FAIL" if missing_record else "PASS",
                band=f"{len(REQUIRED_RECORD_SECTIONS)} sections",
                note=", ".join(missing_record),
            ),
            "accountability": accountability,
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
        "The bias report, model card and transparency record carry every required section"
        + (f" and name model version {model_version}." if model_version else ".")
        + note,
        by_group,
    )


def not_checked_documentation() -> GateResult:
    """G10 before the documents exist: NOT CHECKED, which blocks and cannot be overridden."""
    return GateResult(
        "G10",
        "NOT CHECKED",
        None,
        None,
        None,
        "complete",
        "The bias report, model card and transparency record have not been checked for their "
        "required sections yet; publication waits for that check.",
    )
