"""Stage ``publish``: forecast the next period and publish it, only when the audit allows.

The period is the one ``panel_meta.json`` records: next week (CSV column ``week_start``) or next
month (``month_start``). A hard audit failure stops here: the stage exits non-zero, names the gate
and its figure, writes no forecast, and leaves the last published forecast untouched (DVC keeps
it: ``persist: true``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import h3
import pandas as pd

from beatwise.io import read_json, sha256_file, write_json, write_text
from beatwise.period import PERIOD_COLUMN, check_period
from models.forecast import build_forecast_table, forecast_geojson
from models.risk_model import RiskModel
from pipelines._io import setup_logging
from pipelines._operational import OperationalConfig, PublishConfig
from pipelines._params import StageParams, load_params, params_hash
from pipelines._tracking import REGISTERED_MODEL_NAME, stage_run

STAGE = "publish"


class Params(StageParams):
    operational: OperationalConfig
    publish: PublishConfig


class PublicationBlockedError(RuntimeError):
    """The audit does not allow publication."""


def audit_status(audit: dict[str, Any]) -> str:
    """One word for planners: pass, pass with review, or override."""
    if audit.get("override_applied"):
        return "override"
    statuses = {g.get("status") for g in audit.get("gates", {}).values()}
    return "pass with review" if "REVIEW" in statuses else "pass"


def check_publishable(audit: dict[str, Any]) -> None:
    """Raise :class:`PublicationBlockedError` naming each blocking gate and its figure."""
    if audit.get("publishable") is True:
        return
    lines = []
    for name in audit.get("blocking_gates") or sorted(audit.get("gates", {})):
        gate = audit["gates"].get(name, {})
        if gate.get("status") == "PASS":
            continue
        lines.append(
            f"{name} {gate.get('status')}: value {gate.get('value')} "
            f"(95% interval {gate.get('ci_low')} to {gate.get('ci_high')}; "
            f"band {gate.get('band')}). "
            f"{gate.get('explanation', '')}".strip()
        )
    raise PublicationBlockedError(
        "Publication blocked by the bias audit; no forecast was written and the last published "
        "forecast is unchanged.\n  " + "\n  ".join(lines or ["audit.json says not publishable"])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--panel-meta", type=Path, required=True)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--model-meta", type=Path, required=True)
    parser.add_argument("--audit", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg = params.publish

    audit = read_json(args.audit)
    try:
        check_publishable(audit)
    except PublicationBlockedError as exc:
        log.error("%s", exc)
        return 1

    meta = read_json(args.model_meta)
    panel_meta = read_json(args.panel_meta)
    period = check_period(panel_meta["period"])
    cells = pd.read_parquet(args.cells)
    resolution = h3.get_resolution(str(cells["h3_cell"].iloc[0]))
    if resolution > cfg.max_resolution:  # G9 again, in case audit.json was edited by hand
        log.error(
            "Cells at H3 resolution %d are finer than publish.max_resolution=%d; not published.",
            resolution,
            cfg.max_resolution,
        )
        return 1
    features = pd.read_parquet(args.features)
    forecast_start = features[PERIOD_COLUMN].max()
    if f"{forecast_start:%Y-%m-%d}" != panel_meta["forecast_period"]:
        raise ValueError(
            f"The latest {period} in {args.features} ({forecast_start:%Y-%m-%d}) is not the "
            f"forecast {period} of {args.panel_meta} ({panel_meta['forecast_period']}); re-run "
            "build_features so both come from the same run."
        )
    rows = features[features[PERIOD_COLUMN] == forecast_start]
    if rows["target_count"].notna().any():
        raise ValueError(
            f"The latest {period} in the features ({forecast_start:%Y-%m-%d}) has targets; the "
            f"forecast {period} must be the {period} after the data."
        )
    rows = rows.set_index("h3_cell").reindex(cells["h3_cell"])
    model = RiskModel.load(args.model, args.model_meta)
    scores = model.predict(rows)
    table = build_forecast_table(
        cells,
        scores,
        period_start=forecast_start,
        period=period,
        coverage=params.operational.coverage,
        interval_level=cfg.interval_level,
        model_version=meta["model_version"],
        mlflow_run_id=meta["mlflow_run_id"],
        audit_status=audit_status(audit),
    )
    csv_path = args.out_dir / "forecast.csv"
    geojson_path = args.out_dir / "forecast.geojson"
    write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
    write_text(geojson_path, forecast_geojson(table) + "\n")
    manifest: dict[str, Any] = {
        # named like the CSV's period column: forecast_week, or forecast_month in monthly mode
        f"forecast_{period}": f"{forecast_start:%Y-%m-%d}",
        "period": period,
        "n_cells": len(table),
        "n_flagged": int(table["flagged"].sum()),
        "coverage": params.operational.coverage,
        "h3_resolution": resolution,
        "forecast_csv_sha256": sha256_file(csv_path),
        "forecast_geojson_sha256": sha256_file(geojson_path),
        "bias_report_sha256": sha256_file(args.report),
        "model_version": meta["model_version"],
        "mlflow_run_id": meta["mlflow_run_id"],
        "registered_model": f"{meta['registered_model']}/{meta['registered_version']}",
        "audit_status": audit_status(audit),
        "audit_publishable": bool(audit.get("publishable")),
        "override": cfg.override.model_dump(mode="json") if cfg.override else None,
        "params_hash": params_hash(params),
    }
    if cfg.override:
        log.warning(
            "PUBLISHED UNDER OVERRIDE by %s on %s: %s",
            cfg.override.approving_body,
            cfg.override.date,
            cfg.override.reason,
        )
    with stage_run(
        stage=STAGE,
        params_digest=params_hash(params),
        inputs=[args.features, args.panel_meta, args.model, args.audit],
        parent_run_id=meta["mlflow_run_id"],
    ):
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.log_artifact(str(csv_path), artifact_path="forecast")
        mlflow.set_tag("audit_status", manifest["audit_status"])
        MlflowClient().set_registered_model_alias(
            REGISTERED_MODEL_NAME, "published", str(meta["registered_version"])
        )
    write_json(args.out_dir / "manifest.json", manifest)
    logging.getLogger(__name__).info(
        "published %d cells for the %s starting %s (%d flagged)",
        len(table),
        period,
        manifest[f"forecast_{period}"],
        manifest["n_flagged"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
