"""Stage ``publish``: forecast the next period; publish it only from a deliberate ``dvc repro`` of
the committed configuration, and only when the audit allows.

Every run writes its candidate set (forecast, approving documents, manifest) as a DVC output and
says what became of it in ``reports/publication.json``. Only a ``dvc repro`` of the committed
``params.yaml`` copies it into the published area and moves the ``published`` alias, never an
experiment (:mod:`beatwise.runs`). A blocked run writes no forecast and exits 1, or 0 in an
experiment, so that DVC keeps its results. :mod:`models.publication` holds the logic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from beatwise.artefacts.audit import PublicationBlockedError
from beatwise.artefacts.model import ModelMeta
from beatwise.params import StageParams, load_params, params_hash
from beatwise.publications import publish_set
from beatwise.runs import detect_run
from features.ingest.areas import read_areas
from models import publication
from models.evaluation import EvaluateConfig
from models.forecast import read_forecast_features
from models.operational import OperationalConfig, PublishConfig
from models.risk_model import RiskModel
from models.timebands import TimeBandsConfig
from pipelines._io import run_stage, setup_logging
from pipelines._tracking import track_publication

STAGE = "publish"
INPUTS = ("features", "panel-meta", "cells", "areas", "model", "model-meta", "audit", "report",
          "card", "event-cells", "time-bands", "backtest", "metrics")  # fmt: skip
OUTPUTS = ("candidate-dir", "published-dir", "out-record")


class Params(StageParams):
    operational: OperationalConfig
    publish: PublishConfig
    time_bands: TimeBandsConfig
    evaluate: EvaluateConfig  # the knobs of the baselines a blended model mixes in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in INPUTS + OUTPUTS:
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--dvc-lock", type=Path, default=Path("dvc.lock"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg, digest, coverage = params.publish, params_hash(params), params.operational.coverage
    run = detect_run(args.params)
    log.info("%s: %s", run.reason, "publishes" if run.may_publish else "publishes nothing")

    publication.clear_candidate(args.candidate_dir)
    try:
        docs, panel = publication.approve(
            audit=args.audit, report=args.report, card=args.card, panel_meta=args.panel_meta,
            lock_path=None if run.kind == "outside_dvc" else args.dvc_lock,
            max_resolution=cfg.max_resolution,
        )  # fmt: skip
    except PublicationBlockedError as exc:
        log.error("%s", exc)
        publication.record_blocked(args.candidate_dir, args.out_record, exc, run=run)
        return publication.exit_code(run, blocked=True)
    model_meta, cells = ModelMeta.read(args.model_meta), pd.read_parquet(args.cells)
    table = publication.forecast_next_period(
        read_forecast_features(args.features, panel),
        cells,
        RiskModel.load(args.model, model_meta),
        panel=panel, model_meta=model_meta, coverage=coverage, interval_level=cfg.interval_level,
        audit_status=docs.audit.status, policy=params.operational.policy,
        event_cells=args.event_cells, baseline_config=params.evaluate,
    )  # fmt: skip
    manifest, files = publication.candidate_set(
        table, docs, areas=read_areas(args.areas, allow_empty=True), panel=panel,
        model_meta=model_meta, coverage=coverage, interval_level=cfg.interval_level,
        override=cfg.override, params_digest=digest,
        bands=publication.read_forecast_bands(args.event_cells, args.time_bands, cells,
                                              panel=panel, config=params.time_bands),
        track=publication.read_track_record(args.backtest, args.metrics, cells, args.published_dir),
    )  # fmt: skip
    publication.write_candidate(args.candidate_dir, files)
    published = publish_set(args.published_dir, files) if run.may_publish else None
    record = publication.record_candidate(manifest, args.out_record, run=run, published=published)
    track_publication(
        args.candidate_dir / "forecast.csv", audit_status=manifest.audit_status,
        status=record.status, registered_version=model_meta.registered_version,
        params_digest=digest, inputs=[args.features, args.panel_meta, args.model, args.audit],
        parent_run_id=model_meta.mlflow_run_id,
    )  # fmt: skip
    return publication.exit_code(run, blocked=False)


if __name__ == "__main__":
    run_stage(main, STAGE)
