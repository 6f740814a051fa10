"""Stage ``audit``: gates G1-G10 over the backtest, the bias report and the model card.

The period (week or month) and the H3 resolution are the ones ``panel_meta.json`` records; the
documents say "next week" or "next month", cell-weeks or cell-months, accordingly.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import read_parquet, write_text
from beatwise.params import StageParams, load_params, params_hash
from models.audit import BACKTEST_COLUMNS, AuditConfig, AuditSetup, BacktestArrays, audit_backtest
from models.operational import OperationalConfig, PublishConfig
from models.report import document_audit, flag_share_map, read_data_quality, report_context
from pipelines._io import run_stage, setup_logging, timed
from pipelines._tracking import track_audit

STAGE = "audit"
INPUTS = ("backtest", "cells", "panel-meta", "metrics", "data-quality", "model-meta")
OUTPUTS = ("out-audit", "out-report", "out-card")


class Params(StageParams):
    audit: AuditConfig
    operational: OperationalConfig
    publish: PublishConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in INPUTS + OUTPUTS:
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--run-date",
        type=dt.date.fromisoformat,
        default=None,
        help="the date an override's or envelope's expiry is judged against (default: today)",
    )
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    panel = PanelMeta.read(args.panel_meta)
    metrics = BacktestMetrics.read(args.metrics)
    model = ModelMeta.read(args.model_meta)
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
    )
    with timed(log, "audit"):
        result = audit_backtest(
            arrays,
            setup=setup,
            metrics=metrics,
            accepted_by_type=quality.accepted_by_type,
            override=params.publish.override,
        )
    docs = document_audit(
        result,
        metrics=metrics,
        data_quality=quality,
        context=report_context(panel, model, metrics, quality, arrays.cells),
        cell_map=flag_share_map(arrays.cells, arrays.flagged),
        calibration_band=setup.config.calibration_band,
    )
    docs.audit.write(args.out_audit)
    write_text(args.out_report, docs.bias_report)
    write_text(args.out_card, docs.model_card)
    track_audit(
        docs.audit,
        inputs=[args.backtest, args.cells, args.metrics],
        documents=[args.out_report, args.out_card],
        params_digest=params_hash(params),
        parent=model.mlflow_run_id,
    )
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
