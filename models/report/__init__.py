"""The bias report and the model card: rendered from the typed audit, metrics and stage files.

The public face, by use:

- the audit stage: :func:`read_data_quality` and :func:`read_feedback_figure`, then
  :func:`audit_documents` (the context with the run date, params ``governance`` and the
  :class:`DocumentPaths`; the cell map; the feedback stage's drift figure; then
  :func:`document_audit`: render, let G10 judge, render again) -> :class:`Documents`, whose
  ``write`` writes them all;
- one document: :func:`render_bias_report`, :func:`render_model_card`,
  :func:`render_transparency_record` (of :func:`build_record`) with a :class:`ReportContext`;
- the words: :func:`compare_with_baseline` (the model against the best simple baseline, as a
  board member would repeat it), :func:`document_dates` (every date, labelled),
  :func:`feedback_view` (gate G11 and the feedback stage's closed loop);
- the tables: :func:`performance_rows`, :func:`coverage_sensitivity_rows`;
- the charts: :func:`interval_chart` (values with 95% intervals, one panel per attribute or
  stratum spec).

Both documents put the verdict first, in plain words, then "What you are asked to decide" (the
board's absolute panel: this model, the reference allocation, the best baseline and any declared
policy side by side, and what the reference itself does), then the gates, the audit's power and
the reasons.

Private modules, one concern each: ``_context`` (what the documents describe, and where they are
written), ``_dates``, ``_quality`` (the one reader of ``data_quality.json``), ``_verdict`` (the
verdict, the override's and envelope's dates, amplification and power in words), ``_feedback``
(the closed loop of gate G11 in words and tables), ``_board`` (the
board's panel as tables, the intersections included), ``_comparison``, ``_record`` (the
transparency record), ``_stage`` (the audit stage's one call), ``_tables``,
``_charts``, ``_format`` (the templates' filters), ``_render``; the jinja templates live in
``templates/`` (``bias_report.html`` includes ``_decide.html``, ``_power.html``,
``_feedback.html``, ``_reasons.html``; shared tables in ``_macros.html``; ``model_card.md``;
``transparency_record.md``). This package imports
``models.audit`` (the result, what G10 requires, the caveats); the audit never imports it.
"""

from models.audit import REQUIRED_CARD_SECTIONS, REQUIRED_REPORT_SECTIONS
from models.report._charts import IntervalPanel, flag_share_map, interval_chart
from models.report._comparison import BaselineComparison, compare_with_baseline
from models.report._context import (
    DocumentLinks,
    DocumentPaths,
    ReportContext,
    report_context,
)
from models.report._dates import DocumentDates, document_dates
from models.report._feedback import FeedbackView, feedback_view, read_feedback_figure
from models.report._quality import MAX_FILES_LISTED, DataQualitySummary, read_data_quality
from models.report._record import build_record
from models.report._render import (
    ECOLOGICAL_CAVEAT,
    FEEDBACK_LOOP_CAVEAT,
    Documents,
    document_audit,
    render_bias_report,
    render_model_card,
    render_transparency_record,
)
from models.report._stage import audit_documents
from models.report._tables import coverage_sensitivity_rows, performance_rows

__all__ = [
    "ECOLOGICAL_CAVEAT",
    "FEEDBACK_LOOP_CAVEAT",
    "MAX_FILES_LISTED",
    "REQUIRED_CARD_SECTIONS",
    "REQUIRED_REPORT_SECTIONS",
    "BaselineComparison",
    "DataQualitySummary",
    "DocumentDates",
    "DocumentLinks",
    "DocumentPaths",
    "Documents",
    "FeedbackView",
    "IntervalPanel",
    "ReportContext",
    "audit_documents",
    "build_record",
    "compare_with_baseline",
    "coverage_sensitivity_rows",
    "document_audit",
    "document_dates",
    "feedback_view",
    "flag_share_map",
    "interval_chart",
    "performance_rows",
    "read_data_quality",
    "read_feedback_figure",
    "render_bias_report",
    "render_model_card",
    "render_transparency_record",
    "report_context",
]
