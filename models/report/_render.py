"""Render the bias report (one self-contained HTML file), the model card (markdown) and the
transparency record (markdown, and its typed JSON).

All three render from the typed ``audit.json`` (:class:`beatwise.artefacts.audit.AuditReport`),
the typed ``backtest_metrics.json`` (:class:`beatwise.artefacts.metrics.BacktestMetrics`) and a
:class:`ReportContext` (which carries params ``governance``); the report adds the data-quality
tables and the charts. Output is deterministic for the same inputs, the audit's run date among
them: no clock is read here, charts are PNGs without a timestamp, and nothing is fetched from the
network (inline CSS, images as ``data:`` URIs).

The section ids of the report and the headings of the card and of the record are what gate G10
checks (``models.audit.REQUIRED_REPORT_SECTIONS`` / ``REQUIRED_CARD_SECTIONS`` /
``REQUIRED_RECORD_SECTIONS``), so they are stable: change them only together with the audit.
:func:`document_audit` renders, lets G10 judge the documents, and renders once more so that they
show G10's outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jinja2
import pandas as pd

from beatwise.artefacts.audit import AMPLIFIED, AuditReport
from beatwise.artefacts.feedback import FeedbackReport
from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.transparency import TransparencyRecord
from beatwise.io import write_text
from beatwise.period import period_words
from beatwise.taxonomy import DISPLAY_NAMES, POLICE_ACTIVITY_TYPES
from models.audit import CAVEATS, REQUIRED_REPORT_SECTIONS, AuditResult
from models.baselines import baseline_label
from models.report._board import board_panel, compact_panel
from models.report._charts import chart_calibration, chart_coverage, chart_exposure, chart_map
from models.report._context import DocumentPaths, ReportContext
from models.report._dates import DocumentDates, document_dates
from models.report._feedback import feedback_view
from models.report._format import capfirst, count, fmt, interval, md, pct
from models.report._quality import DataQualitySummary
from models.report._record import build_record, comparison_of
from models.report._tables import coverage_sensitivity_rows, performance_rows
from models.report._verdict import (
    amplification_text,
    override_note,
    power_view,
    section_title,
    verdict,
)
from models.track_chart import track_record_html
from models.track_record import TrackRecord

logger = logging.getLogger(__name__)

_TEMPLATES: Final[Path] = Path(__file__).parent / "templates"

FEEDBACK_LOOP_CAVEAT: Final[str] = CAVEATS["feedback_loop"]
ECOLOGICAL_CAVEAT: Final[str] = CAVEATS["ecological"]

_STATUS_CLASS: Final[dict[str, str]] = {
    "PASS": "status-pass",
    "REVIEW": "status-review",
    "FAIL": "status-fail",
    "INSUFFICIENT DATA": "status-insufficient",
    "NOT CHECKED": "status-not-checked",
    "NOT APPLICABLE": "status-not-applicable",
}


def _markdown_text(value: Any) -> Any:
    """Every value the model card prints, with HTML's special characters escaped: text from
    params (an override's body and reason, a policy's, group labels) is data, never markup, in a
    Markdown file that a viewer may render as HTML."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _environment(*, markdown: bool = False) -> jinja2.Environment:
    """The templates' environment: HTML autoescaped; Markdown with HTML's characters escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_markdown_text if markdown else None,
    )
    env.filters.update(
        fmt=fmt,
        pct=pct,
        whole=count,
        interval=interval,
        md=md,
        capfirst=capfirst,
        status_class=lambda s: _STATUS_CLASS.get(str(s), "status-insufficient"),
        crime=lambda t: DISPLAY_NAMES.get(t, t),
        baseline=baseline_label,
    )
    return env


def _gate_number(gid: str) -> tuple[int, str]:
    digits = gid[1:]
    return (int(digits), gid) if digits.isdigit() else (10**6, gid)


def _common(
    audit: AuditReport,
    metrics: BacktestMetrics,
    context: ReportContext,
    *,
    feedback: FeedbackReport | None = None,
    feedback_figure: bytes | None = None,
) -> dict:
    record = build_record(
        audit, metrics=metrics, context=context, dates=document_dates(context, metrics)
    )
    excluded = [t for t in POLICE_ACTIVITY_TYPES if t not in context.target_types]
    included_pa = {
        t: context.police_activity_reasons.get(t, "")
        for t in context.target_types
        if t in POLICE_ACTIVITY_TYPES
    }
    words = period_words(context.period)
    return {
        "audit": audit,
        "ctx": context,
        "dates": document_dates(context, metrics),
        "comparison": comparison_of(audit, metrics),
        "record": record,
        "links": context.links,
        "verdict": verdict(audit),
        "override_note": override_note(audit),
        "board": board_panel(audit, one=words.singular, many=words.plural),
        "power": power_view(audit),
        "feedback": feedback_view(audit.gates.get("G11"), feedback, figure_png=feedback_figure),
        "compact": compact_panel(audit),
        "amplification_text": amplification_text(
            audit, coverage_words=f"{pct(audit.coverage)} of the area"
        ),
        "amplified": AMPLIFIED,
        "section_title": lambda section: section_title(audit, section),
        # the period's words: one "week", many "weeks", adj "weekly", long "ISO week"
        "p": {
            "one": words.singular,
            "many": words.plural,
            "adj": words.adjective,
            "long": "ISO week" if context.period == "week" else "calendar month",
        },
        # by number (G2 before G10), also for an audit read back from its sorted JSON file
        "gates": dict(sorted(audit.gates.items(), key=lambda kv: _gate_number(kv[0]))),
        "coverage": audit.coverage,
        "performance": performance_rows(metrics, coverage=audit.coverage),
        "truth_column": metrics.model.pei_truth is not None,
        "headline_lift": metrics.lift,
        "excluded_police_activity": excluded,
        "included_police_activity": included_pa,
        "feedback_loop_caveat": FEEDBACK_LOOP_CAVEAT,
        "ecological_caveat": ECOLOGICAL_CAVEAT,
        "model_params": sorted(context.model_params.items()),
    }


def render_bias_report(
    audit: AuditReport,
    *,
    metrics: BacktestMetrics,
    data_quality: DataQualitySummary,
    context: ReportContext,
    cell_map: pd.DataFrame | None = None,
    calibration_band: tuple[float, float] = (0.9, 1.1),
    feedback: FeedbackReport | None = None,
    feedback_figure: bytes | None = None,
    track: TrackRecord | None = None,
) -> str:
    """The bias report as one self-contained HTML page an ethics board reads without code.

    Parameters
    ----------
    audit : AuditReport
        The audit (``AuditResult.to_report()``).
    metrics : BacktestMetrics
        The evaluate stage's metrics: the model's and baselines' figures and the lift.
    data_quality : DataQualitySummary
        The ingest stage's data-quality summary, shown as tables.
    context : ReportContext
        Model version, run id, date, study area, target and data descriptions.
    cell_map : DataFrame, optional
        Cell centroids ``lon``, ``lat`` and ``flag_share`` (share of backtest periods flagged) for
        the map (:func:`models.report.flag_share_map`). Without it the map section says that no
        map was supplied.
    calibration_band : (float, float)
        The G6 band (``audit.calibration_band``) to shade on the calibration chart.
    feedback : FeedbackReport, optional
        The feedback stage's closed loop that G11 judged (``feedback.json``), for the section
        "Does this forecast feed on itself?"; without it the section gives G11's words only.
    feedback_figure : bytes, optional
        The feedback stage's drift figure (PNG), embedded in that section.
    track : TrackRecord, optional
        How recent forecasts did (:mod:`models.track_record`): the scored publications and the
        backtest's last periods, drawn as a line in the performance section; without it the
        section says that none was supplied.

    Returns
    -------
    str
        HTML with inline CSS and base64 PNG charts; no external references.
    """
    data = _common(audit, metrics, context, feedback=feedback, feedback_figure=feedback_figure)
    data.update(
        data_quality_tables=list(data_quality.tables),
        groups_made=list(data_quality.groups_made),
        charts={
            "exposure": chart_exposure(audit.groups, audit.board.allocations.get("reference")),
            "coverage": chart_coverage(audit.groups, audit.board.allocations.get("reference")),
            "calibration": chart_calibration(audit.strata, calibration_band),
            "map": chart_map(cell_map, period=context.period),
        },
        has_map=cell_map is not None and len(cell_map) > 0,
        track=None if track is None else track_record_html(track),
        sensitivity_rows=coverage_sensitivity_rows(audit),
        required_sections=REQUIRED_REPORT_SECTIONS,
    )
    html = _environment().get_template("bias_report.html").render(**data)
    logger.info("Rendered bias report: %d characters.", len(html))
    return html


def render_model_card(
    audit: AuditReport,
    *,
    metrics: BacktestMetrics,
    context: ReportContext,
    feedback: FeedbackReport | None = None,
) -> str:
    """The model card (Mitchell et al. 2019) as markdown, with the audit's figures by group and
    G11's verdict on the feedback stage's closed loop (``feedback``)."""
    data = _common(audit, metrics, context, feedback=feedback)
    text = _environment(markdown=True).get_template("model_card.md").render(**data)
    logger.info("Rendered model card: %d characters.", len(text))
    return text


def render_transparency_record(
    record: TransparencyRecord, *, dates: DocumentDates, coverage: float
) -> str:
    """The transparency record as Markdown: metadata, Tier 1, Tier 2's five sections, the gaps
    (the headings of ``beatwise.artefacts.transparency.ATRS_SECTIONS``)."""
    text = (
        _environment()
        .get_template("transparency_record.md")
        .render(
            r=record,
            dates=dates,
            coverage=pct(coverage),
            gap_fields={g.field for g in record.gaps},
        )
    )
    logger.info("Rendered transparency record: %d characters.", len(text))
    return text


@dataclass(frozen=True)
class Documents:
    """The audit with G10 judged, and the documents that show it."""

    audit: AuditReport
    bias_report: str
    model_card: str
    #: the transparency record (its typed JSON) and its Markdown
    record: TransparencyRecord
    record_md: str

    def write(self, paths: DocumentPaths) -> list[Path]:
        """Write ``audit.json``, the bias report, the model card and the record (Markdown and
        JSON), each atomically; return the documents people read, for tracking."""
        self.audit.write(paths.audit_json)
        write_text(paths.bias_report, self.bias_report)
        write_text(paths.model_card, self.model_card)
        write_text(paths.record_md, self.record_md)
        self.record.write(paths.record_json)
        return [paths.bias_report, paths.model_card, paths.record_md, paths.record_json]


def document_audit(
    result: AuditResult,
    *,
    metrics: BacktestMetrics,
    data_quality: DataQualitySummary,
    context: ReportContext,
    cell_map: pd.DataFrame | None = None,
    calibration_band: tuple[float, float] = (0.9, 1.1),
    feedback_figure: bytes | None = None,
    track: TrackRecord | None = None,
) -> Documents:
    """Render the documents, let G10 judge them, and render again so they show G10's outcome.

    The documents' sections do not depend on G10's status, so the second judgement is the same
    as the first; the final ``audit`` is judged on the documents returned. G10 also asks whether
    ``context.governance`` is complete for its phase. The section on the closed loop shows the
    feedback report G11 judged (``result.feedback``) and embeds ``feedback_figure`` (PNG); the
    performance section draws ``track``, how recent forecasts did.
    """

    def render(audited: AuditResult) -> tuple[str, str, TransparencyRecord, str]:
        report = audited.to_report()
        html = render_bias_report(
            report,
            metrics=metrics,
            data_quality=data_quality,
            context=context,
            cell_map=cell_map,
            calibration_band=calibration_band,
            feedback=audited.feedback,
            feedback_figure=feedback_figure,
            track=track,
        )
        dates = document_dates(context, metrics)
        record = build_record(report, metrics=metrics, context=context, dates=dates)
        record_md = render_transparency_record(record, dates=dates, coverage=report.coverage)
        card = render_model_card(
            report, metrics=metrics, context=context, feedback=audited.feedback
        )
        return html, card, record, record_md

    def judged(audited: AuditResult, html: str, card: str, record_md: str) -> AuditResult:
        return audited.with_documentation(
            report_html=html,
            model_card_md=card,
            record_md=record_md,
            governance=context.governance,
            model_version=context.model_version,
        )

    html, card, _, record_md = render(result)
    result = judged(result, html, card, record_md)
    html, card, record, record_md = render(result)
    final = judged(result, html, card, record_md).to_report()
    for name, gate in sorted(final.gates.items(), key=lambda kv: int(kv[0][1:])):
        logger.info("%s %-18s %s", name, gate.status, gate.explanation)
    logger.info("publishable: %s", final.publishable)
    return Documents(
        audit=final, bias_report=html, model_card=card, record=record, record_md=record_md
    )
