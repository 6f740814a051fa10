"""G10 and what it requires: the sections of the bias report and the model card, the caveats.

The documents are rendered by ``models.report`` from the audit's result; this module says what
they must carry (section ids of the report, headings of the card, the caveats' words) and checks
that they do. So the dependency points one way: the report imports this, never the reverse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Final

from beatwise.artefacts.audit import BandCheck, Check
from models.audit._gate import GateResult

#: ``id`` attributes every bias report carries (checked by gate G10), in the report's order: the
#: verdict, what the board is asked to decide (the absolute panel, what the reference itself does,
#: the envelope), the gates and amplification, the audit's power, the override, the reasons, the
#: charts, the scope, the target, performance, data quality and the caveats.
REQUIRED_REPORT_SECTIONS: Final[tuple[str, ...]] = (
    "decision",
    "summary",
    "decide",
    "reference-disparities",
    "envelope",
    "gates",
    "amplification",
    "power",
    "override",
    "groups",
    "chart-exposure",
    "chart-coverage",
    "chart-calibration",
    "chart-map",
    "intended-use",
    "out-of-scope",
    "target-definition",
    "performance",
    "data-quality",
    "feedback-loop-caveat",
    "ecological-caveat",
)

#: Headings every model card carries, in order: the verdict and the board's decision first, then
#: the sections of Mitchell et al. (2019), "Model Cards for Model Reporting", and the audit's power.
REQUIRED_CARD_SECTIONS: Final[tuple[str, ...]] = (
    "Verdict",
    "What you are asked to decide",
    "Model details",
    "Intended use",
    "Out-of-scope uses",
    "Factors",
    "Metrics",
    "Training data",
    "Evaluation data",
    "Quantitative analyses",
    "Audit power",
    "Ethical considerations",
    "Caveats and recommendations",
)

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


def check_documentation(
    report_html: str,
    model_card_md: str,
    *,
    model_version: str | None = None,
    required_report_sections: Sequence[str] | None = None,
    required_card_sections: Sequence[str] | None = None,
) -> GateResult:
    """G10: the bias report carries every required section id, the card every required heading.

    Defaults are :data:`REQUIRED_REPORT_SECTIONS` and :data:`REQUIRED_CARD_SECTIONS`, which the
    report's templates carry. When ``model_version`` is given, both documents must name it.
    """
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


def not_checked_documentation() -> GateResult:
    """G10 before the documents exist: NOT CHECKED, which blocks and cannot be overridden."""
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
