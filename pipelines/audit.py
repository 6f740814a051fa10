"""Stage ``audit``: gates G1-G10 over the backtest, the bias report and the model card.

The period (week or month) is the one ``panel_meta.json`` records; the documents say "next week"
or "next month", cell-weeks or cell-months, accordingly.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd

from beatwise.io import read_json, write_json, write_text
from beatwise.period import PERIOD_COLUMN, check_period, period_words
from beatwise.taxonomy import POLICE_ACTIVITY_TYPES
from models.audit import (
    AuditConfig,
    AuditResult,
    GranularityCheck,
    LiftEstimate,
    TargetDefinition,
    run_audit,
)
from models.backtest import to_matrix
from models.metrics import coverage_label, flag_top_area
from models.report import ReportContext, render_bias_report, render_model_card
from pipelines._io import setup_logging, timed
from pipelines._operational import OperationalConfig, PublishConfig
from pipelines._params import ParamsError, StageParams, load_params, params_hash
from pipelines._tracking import stage_run

STAGE = "audit"

#: how the documents name the study area of each ingest source
STUDY_AREA_NAMES = {"synthetic": "synthetic London-like city"}


class Params(StageParams):
    audit: AuditConfig
    operational: OperationalConfig
    publish: PublishConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backtest", type=Path, required=True)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--panel-meta", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--data-quality", type=Path, required=True)
    parser.add_argument("--model-meta", type=Path, required=True)
    parser.add_argument("--out-audit", type=Path, required=True)
    parser.add_argument("--out-report", type=Path, required=True)
    parser.add_argument("--out-card", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    if "coverage" in params.audit.model_fields_set:
        raise ParamsError(
            "The 'audit.coverage' parameter of stage 'audit' is set by 'operational.coverage'; "
            "remove it from the audit section so the audited and published coverage agree."
        )
    config = params.audit.model_copy(update={"coverage": params.operational.coverage})

    meta = read_json(args.panel_meta)
    period = check_period(meta["period"])
    words = period_words(period)
    metrics = read_json(args.metrics)
    quality = read_json(args.data_quality)
    model_meta = read_json(args.model_meta)
    cells = pd.read_parquet(args.cells)
    backtest = pd.read_parquet(args.backtest)
    periods = np.sort(backtest[PERIOD_COLUMN].unique())
    order = cells["h3_cell"].to_numpy()
    flagged = to_matrix(backtest, "flagged", periods=periods, cells=order).astype(bool)
    y = to_matrix(backtest, "target_count", periods=periods, cells=order)
    s = to_matrix(backtest, "risk_score", periods=periods, cells=order)

    reason = meta.get("target_reason")
    target = TargetDefinition(
        target_types=tuple(meta["target_types"]),
        police_activity_reasons={
            t: reason for t in meta["target_types"] if t in POLICE_ACTIVITY_TYPES and reason
        },
    )
    resolution = h3.get_resolution(str(order[0]))
    granularity = GranularityCheck(
        published_resolution=resolution,
        max_resolution=params.publish.max_resolution,
        event_level_rows=False,  # the forecast CSV has one row per cell, never per event
        min_count_shown=None,  # and shows no historical counts
    )
    accepted = quality.get("accepted_by_type", {})
    k = coverage_label(params.operational.coverage)
    with timed(log, "audit"):
        result = run_audit(
            flagged,
            y,
            s,
            cells,
            config=config,
            target=target,
            granularity=granularity,
            target_event_counts={t: float(accepted.get(t, 0)) for t in meta["target_types"]},
            lift=LiftEstimate.from_metrics(metrics, key=f"lift_pai_at_{k}pct"),
            override=params.publish.override,
            period=period,
        )
    counterfactuals = audit_counterfactuals(
        backtest,
        cells,
        periods=periods,
        y=y,
        metrics=metrics,
        coverage=config.coverage,
        audit_args={
            "config": config,
            "target": target,
            "granularity": granularity,
            "period": period,
        },
    )
    sensitivity = coverage_sensitivity(
        backtest,
        cells,
        periods=periods,
        y=y,
        coverages=SENSITIVITY_COVERAGES,
        audit_args={
            "config": config,
            "target": target,
            "granularity": granularity,
            "period": period,
        },
    )
    context = ReportContext(
        model_version=model_meta["model_version"],
        run_id=model_meta["mlflow_run_id"],
        report_date=dt.date.fromisoformat(meta["forecast_period"]),
        study_area=f"the {STUDY_AREA_NAMES.get(quality['source'], quality['source'])} "
        f"({len(cells):,} H3 cells at resolution {resolution}, "
        f"{cells['area_km2'].sum():,.0f} km², {cells['residents'].sum():,.0f} residents)",
        model_params={"best_rounds": model_meta["best_rounds"]},
        target_types=target.target_types,
        police_activity_reasons=target.police_activity_reasons,
        published_resolution=resolution,
        # the documents add the number of periods and cells themselves
        backtest_period=f"{metrics['backtest_first_period']} to {metrics['backtest_last_period']}",
        training_data=f"{quality['source']} events, "
        f"{quality['date_min']} to {quality['date_max']}; "
        f"{quality['rows_accepted']:,} accepted of {quality['rows_read']:,} read",
        evaluation_data=f"rolling-origin backtest: each {period} forecast by a model trained on "
        f"earlier {words.plural} only (refit every {metrics['refit_every']} {words.plural})",
        period=period,
    )
    cell_map = pd.DataFrame(
        {"lon": cells["lon"], "lat": cells["lat"], "flag_share": flagged.mean(axis=0)}
    )

    def render(audited: AuditResult) -> tuple[dict[str, Any], str, str]:
        audit_dict = {**audited.to_dict(), **counterfactuals, **sensitivity}
        html = render_bias_report(
            audit_dict, metrics=metrics, data_quality=quality, context=context, cell_map=cell_map
        )
        card = render_model_card(audit_dict, metrics=metrics, context=context)
        return audit_dict, html, card

    # G10 judges the rendered documents, which show the other gates: render, judge, render again.
    _, html, card = render(result)
    result = result.with_documentation(
        report_html=html, model_card_md=card, model_version=context.model_version
    )
    _, html, card = render(result)
    final = result.with_documentation(
        report_html=html, model_card_md=card, model_version=context.model_version
    )
    audit = {**final.to_dict(), **counterfactuals, **sensitivity}
    for name, gate in sorted(audit["gates"].items(), key=lambda kv: int(kv[0][1:])):
        log.info("%s %-18s %s", name, gate["status"], gate.get("explanation", ""))
    log.info("publishable: %s", audit["publishable"])
    write_json(args.out_audit, audit)
    write_text(args.out_report, html)
    write_text(args.out_card, card)
    with stage_run(
        stage=STAGE,
        params_digest=params_hash(params),
        inputs=[args.backtest, args.cells, args.metrics],
        parent_run_id=model_meta["mlflow_run_id"],
    ):
        import mlflow

        mlflow.log_metric("audit_publishable", float(audit["publishable"]))
        mlflow.log_metrics(
            {
                f"audit.{name}.value": float(gate["value"])
                for name, gate in audit["gates"].items()
                if isinstance(gate.get("value"), int | float)
                and not isinstance(gate["value"], bool)
            }
        )
        for name, gate in audit["gates"].items():
            mlflow.set_tag(f"audit.{name}", gate["status"])
        mlflow.log_artifact(str(args.out_report))
        mlflow.log_artifact(str(args.out_card))
    return 0


#: gates that judge the flagged set itself, so they can be asked of other rankings too
COUNTERFACTUAL_GATES = ("G2", "G3", "G4", "G5", "G6", "G7")
#: the gates of the coverage table: those that depend on how much area is flagged
SENSITIVITY_GATES = ("G2", "G3", "G4", "G5", "G7")
#: coverages of the coverage table (METRICS.md's list, from 1%: at 0.5% few groups have 30
#: flagged cell-periods, and the table would be mostly "insufficient data")
SENSITIVITY_COVERAGES = (0.01, 0.02, 0.05, 0.10, 0.20)


def _gates_of_ranking(
    scores: np.ndarray,
    cells: pd.DataFrame,
    *,
    y: np.ndarray,
    coverage: float,
    gates: tuple[str, ...],
    audit_args: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Status and value of ``gates`` for the cells that ``scores`` flag at ``coverage``."""
    flagged = flag_top_area(
        scores,
        areas_km2=cells["area_km2"].to_numpy(),
        cell_ids=cells["h3_int"].to_numpy(),
        coverage=coverage,
    )
    config = audit_args["config"].model_copy(update={"coverage": coverage})
    result = run_audit(flagged, y, scores, cells, **{**audit_args, "config": config}).to_dict()
    return {gid: {k: result["gates"][gid][k] for k in ("status", "value")} for gid in gates}


def audit_counterfactuals(
    backtest: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    periods: np.ndarray,
    y: np.ndarray,
    metrics: dict[str, Any],
    coverage: float,
    audit_args: dict[str, Any],
) -> dict[str, Any]:
    """Gates G2-G7 for the flags the true intensity and the best baseline would have raised.

    Only where the truth is known (synthetic data); empty otherwise. Returned as top-level keys
    ``counterfactuals`` (label -> gate -> status and value) and ``counterfactual_gates``.
    """
    if backtest["truth_recorded"].isna().all():
        return {}
    best = metrics[f"best_baseline_at_{coverage_label(coverage)}pct"]
    rankings = {
        # recorded, not committed: outcomes are recorded events, so only the recorded truth
        # is on the same scale for calibration (G6)
        "true risk": "truth_recorded",
        f"best baseline ({best})": f"score_{best}",
    }
    order = cells["h3_cell"].to_numpy()
    out = {
        label: _gates_of_ranking(
            to_matrix(backtest, column, periods=periods, cells=order),
            cells,
            y=y,
            coverage=coverage,
            gates=COUNTERFACTUAL_GATES,
            audit_args=audit_args,
        )
        for label, column in rankings.items()
    }
    return {"counterfactuals": out, "counterfactual_gates": list(COUNTERFACTUAL_GATES)}


def coverage_sensitivity(
    backtest: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    periods: np.ndarray,
    y: np.ndarray,
    coverages: tuple[float, ...],
    audit_args: dict[str, Any],
) -> dict[str, Any]:
    """Would flagging more or less of the area change the verdict? Gates at other coverages.

    For the model, and for the true risk where it is known (synthetic data), the gates of
    ``SENSITIVITY_GATES`` at each coverage. Informational: the verdict is the one at the
    operational coverage. Returned as the top-level key ``coverage_sensitivity``:
    ``{"coverages": [...], "gates": [...], "rankings": {label: {coverage label: {gate:
    {"status", "value"}}}}}``, with coverage labels like ``"5"`` or ``"0p5"`` (percent).
    """
    rankings = {"this model": "risk_score"}
    if not backtest["truth_recorded"].isna().all():
        rankings["true risk"] = "truth_recorded"
    order = cells["h3_cell"].to_numpy()
    out: dict[str, dict[str, Any]] = {}
    for label, column in rankings.items():
        scores = to_matrix(backtest, column, periods=periods, cells=order)
        out[label] = {
            coverage_label(coverage): _gates_of_ranking(
                scores,
                cells,
                y=y,
                coverage=coverage,
                gates=SENSITIVITY_GATES,
                audit_args=audit_args,
            )
            for coverage in coverages
        }
    return {
        "coverage_sensitivity": {
            "coverages": [float(c) for c in coverages],
            "gates": list(SENSITIVITY_GATES),
            "rankings": out,
        }
    }


if __name__ == "__main__":
    raise SystemExit(main())
