"""What the audit stage asks of the documents: one call from the audit to the written files'
contents (the context, the cell map, how recent forecasts did, the documents with G10 judged)."""

from __future__ import annotations

from pathlib import Path

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from models.audit import AuditResult, AuditSetup, BacktestArrays
from models.governance import GovernanceConfig
from models.report._charts import flag_share_map
from models.report._context import DocumentPaths, report_context
from models.report._quality import DataQualitySummary
from models.report._render import Documents, document_audit
from models.track_record import track_record


def audit_documents(
    result: AuditResult,
    *,
    arrays: BacktestArrays,
    setup: AuditSetup,
    panel: PanelMeta,
    model: ModelMeta,
    metrics: BacktestMetrics,
    quality: DataQualitySummary,
    governance: GovernanceConfig,
    paths: DocumentPaths,
    feedback_figure: bytes | None = None,
    scorecard_history: Path,
) -> Documents:
    """The audit stage's documents: dated by ``setup.run_date``, accountable by ``governance``,
    linking each other by the file names of ``paths`` (write them with ``Documents.write``), with
    the feedback stage's drift figure (PNG) beside the closed loop G11 judged, and how recent
    forecasts did: the backtest's last periods and the publications scored in
    ``scorecard_history`` (``data/published/scorecard.csv``; none when it does not exist)."""
    context = report_context(
        panel,
        model,
        metrics,
        quality,
        arrays.cells,
        audit_date=setup.run_date,
        governance=governance,
        paths=paths,
    )
    return document_audit(
        result,
        metrics=metrics,
        data_quality=quality,
        context=context,
        cell_map=flag_share_map(arrays.cells, arrays.flagged),
        calibration_band=setup.config.calibration_band,
        feedback_figure=feedback_figure,
        track=track_record(
            arrays.backtest, arrays.cells, history=scorecard_history, metrics=metrics
        ),
    )
