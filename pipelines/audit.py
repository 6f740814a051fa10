"""Stage ``audit``: gates G1-G12 over the backtest and the closed loop (G11); the bias report,
the model card, the transparency record and the verdict for DVC (``reports/compare/gates.json``).
``--run-date`` (default today) dates every document and judges expiry dates.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from beatwise.artefacts.feedback import FeedbackReport
from beatwise.artefacts.headline import GatesHeadline
from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import read_parquet
from beatwise.params import StageParams, load_params, params_hash
from models.audit import BACKTEST_COLUMNS, AuditConfig, AuditSetup, BacktestArrays, audit_backtest
from models.governance import GovernanceConfig
from models.operational import OperationalConfig, PublishConfig
from models.report import DocumentPaths, audit_documents, read_data_quality, read_feedback_figure
from pipelines._io import run_stage, setup_logging, timed
from pipelines._tracking import track_audit

STAGE = "audit"
INPUTS = ("backtest", "cells", "panel-meta", "metrics", "data-quality", "model-meta", "feedback")
OUTPUTS = ("out-audit", "out-report", "out-card", "out-record-md", "out-record-json")


class Params(StageParams):
    audit: AuditConfig
    operational: OperationalConfig
    publish: PublishConfig
    governance: GovernanceConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (*INPUTS, *OUTPUTS, "out-gates"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--run-date", type=dt.date.fromisoformat, help="the audit's date (ISO)")
    parser.add_argument("--scorecard-history", type=Path, default="data/published/scorecard.csv")
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    panel, metrics = PanelMeta.read(args.panel_meta), BacktestMetrics.read(args.metrics)
    model, feedback = ModelMeta.read(args.model_meta), FeedbackReport.read(args.feedback)
    quality = read_data_quality(args.data_quality, suppress_below=params.publish.min_count_shown)
    arrays = BacktestArrays.from_frames(
        read_parquet(args.backtest, required=BACKTEST_COLUMNS),
        read_parquet(args.cells, required=("h3_cell", "h3_int", "area_km2", "residents")),
        policy=params.operational.policy,
    )
    setup = AuditSetup.for_panel(
        params.audit,
        coverage=params.operational.coverage,
        panel=panel,
        max_resolution=params.publish.max_resolution,
        suppress_below=params.publish.min_count_shown,
        run_date=args.run_date,
        smallest_count_shown=quality.smallest_count_shown,
        feedback=feedback,
    )
    with timed(log, "audit"):
        result = audit_backtest(
            arrays,
            setup=setup,
            metrics=metrics,
            accepted_by_type=quality.accepted_by_type,
            override=params.publish.override,
        )
    out = DocumentPaths(*(getattr(args, name.replace("-", "_")) for name in OUTPUTS))  # in order
    docs = audit_documents(
        result,
        arrays=arrays,
        setup=setup,
        panel=panel,
        model=model,
        metrics=metrics,
        quality=quality,
        governance=params.governance,
        paths=out,
        feedback_figure=read_feedback_figure(args.feedback, feedback),
        scorecard_history=args.scorecard_history,
    )
    GatesHeadline.from_audit(docs.audit).write(args.out_gates)
    track_audit(
        docs.audit,
        inputs=[args.backtest, args.cells, args.metrics, args.feedback],
        documents=docs.write(out),
        params_digest=params_hash(params),
        parent=model.mlflow_run_id,
    )
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
