"""Stage ``publish``: forecast the next period and publish it, only when the audit allows.

The period and the H3 resolution are the ones ``panel_meta.json`` records: next week (CSV column
``week_start``) or next month (``month_start``). A hard audit failure stops here: the stage exits
non-zero, names the gate and its figure, writes no forecast, and leaves the last published
forecast untouched (DVC keeps it: ``persist: true``). :mod:`models.publication` holds the logic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from beatwise.artefacts.audit import AuditReport, PublicationBlockedError
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import write_text
from beatwise.params import StageParams, load_params, params_hash
from models import publication
from models.forecast import forecast_csv, forecast_geojson
from models.operational import OperationalConfig, PublishConfig
from models.risk_model import RiskModel
from pipelines._io import run_stage, setup_logging
from pipelines._tracking import track_publication

STAGE = "publish"


class Params(StageParams):
    operational: OperationalConfig
    publish: PublishConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("features", "panel-meta", "cells", "model", "model-meta", "audit", "report"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg, digest = params.publish, params_hash(params)

    audit = AuditReport.read(args.audit)
    try:
        audit.check_publishable()
        panel = PanelMeta.read(args.panel_meta)
        publication.check_resolution(panel.h3_resolution, max_resolution=cfg.max_resolution)
    except PublicationBlockedError as exc:
        log.error("%s", exc)
        return 1
    model_meta = ModelMeta.read(args.model_meta)
    table = publication.forecast_next_period(
        pd.read_parquet(args.features),
        pd.read_parquet(args.cells),
        RiskModel.load(args.model, model_meta),
        panel=panel,
        model_meta=model_meta,
        coverage=params.operational.coverage,
        interval_level=cfg.interval_level,
        audit_status=audit.status,
        policy=params.operational.policy,
    )
    csv_path, geojson_path = args.out_dir / "forecast.csv", args.out_dir / "forecast.geojson"
    write_text(csv_path, forecast_csv(table))
    write_text(geojson_path, forecast_geojson(table) + "\n")
    manifest = publication.build_manifest(
        table,
        panel=panel,
        model_meta=model_meta,
        audit=audit,
        coverage=params.operational.coverage,
        override=cfg.override,
        params_digest=digest,
        forecast_csv=csv_path,
        forecast_geojson=geojson_path,
        bias_report=args.report,
    )
    track_publication(
        csv_path,
        audit_status=manifest.audit_status,
        registered_version=model_meta.registered_version,
        params_digest=digest,
        inputs=[args.features, args.panel_meta, args.model, args.audit],
        parent_run_id=model_meta.mlflow_run_id,
    )
    manifest.write(args.out_dir / "manifest.json")
    m = manifest
    log.info("published %d cells for the %s starting %s", m.n_cells, m.period, m.forecast_period)
    log.info("%d cells flagged at coverage %s", m.n_flagged, m.coverage)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
