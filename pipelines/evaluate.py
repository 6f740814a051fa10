"""Stage ``evaluate``: rolling-origin backtest of the model against baselines B1-B6.

The period (week or month) is the one ``panel_meta.json`` records; this stage never re-derives
it. For each of the last ``backtest_periods`` labelled periods the model is the one trained only
on periods before it (refitted every ``refit_every`` periods; features always come from data
before the period being forecast). Every baseline is scored on exactly the same cells and periods.
The simulator's truth (``pei_truth_*``) is used only for synthetic weekly data: the truth model is
weekly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from beatwise.io import read_json, write_parquet
from beatwise.period import PERIOD_COLUMN, check_period, period_range, period_words
from features.panel import count_matrix
from models.backtest import backtest_scores, to_matrix
from models.baselines import compute_baselines
from models.metrics import (
    calibration_by_decile,
    capture_curve,
    flag_top_area,
    pai,
    summarise_backtest,
)
from models.plots import plot_calibration_by_decile, plot_capture_curves, plot_period_pai
from models.risk_model import RiskModelConfig
from pipelines._io import setup_logging, timed
from pipelines._operational import OperationalConfig
from pipelines._params import StageParams, load_params, params_hash
from pipelines._tracking import flatten_metrics, log_to_parent, stage_run

STAGE = "evaluate"


class EvaluateConfig(BaseModel):
    """Backtest protocol and uncertainty settings; periods are weeks, or months in monthly mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backtest_periods: int = Field(52, ge=4, le=520)
    refit_every: int = Field(13, ge=1, le=520)
    #: fewest labelled periods the first backtest model may be trained on
    min_train_periods: int = Field(26, ge=2)
    n_boot: int = Field(1000, ge=100)
    block_len: int = Field(4, ge=1)
    seed: int = 0
    kde_bandwidth_m: float = Field(400.0, gt=0.0)
    kde_periods: int = Field(8, ge=1)
    hotspot_rings: int = Field(3, ge=0)
    hotspot_periods: int = Field(8, ge=1)


class Params(StageParams):
    train: RiskModelConfig
    evaluate: EvaluateConfig
    operational: OperationalConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--panel-meta", type=Path, required=True)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--event-cells", type=Path, required=True)
    parser.add_argument("--model-meta", type=Path, required=True)
    parser.add_argument("--truth-dir", type=Path, default=None)
    parser.add_argument("--out-metrics", type=Path, required=True)
    parser.add_argument("--out-backtest", type=Path, required=True)
    parser.add_argument("--out-plots", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg = params.evaluate

    meta = read_json(args.panel_meta)
    period = check_period(meta["period"])
    words = period_words(period)
    model_meta = read_json(args.model_meta)
    cells = pd.read_parquet(args.cells)
    cell_str = cells["h3_cell"].to_numpy()
    cell_ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    areas = cells["area_km2"].to_numpy()
    features = pd.read_parquet(args.features)
    labelled = np.sort(features.loc[features["target_count"].notna(), PERIOD_COLUMN].unique())
    n_bt = min(cfg.backtest_periods, len(labelled) - cfg.min_train_periods)
    if n_bt < 4:
        raise ValueError(
            f"Only {len(labelled)} labelled {words.plural}: too few for a backtest of at least 4 "
            f"after evaluate.min_train_periods={cfg.min_train_periods}. Simulate or load more "
            f"{words.plural}."
        )
    if n_bt < cfg.backtest_periods:
        log.warning("backtest shortened to %d %s (data allow no more)", n_bt, words.plural)
    bt_periods = labelled[-n_bt:]
    log.info(
        "backtest: %d %s from %s, refit every %d",
        n_bt,
        words.plural,
        bt_periods[0],
        cfg.refit_every,
    )

    with timed(log, "model backtest"):
        scored = backtest_scores(
            features,
            feature_columns=list(meta["feature_columns"]),
            backtest_periods=bt_periods,
            refit_every=cfg.refit_every,
            config=params.train,
        )
    bt_rows = features[features[PERIOD_COLUMN].isin(bt_periods)][
        [PERIOD_COLUMN, "h3_cell", "target_count"]
    ]
    bt_rows = bt_rows.merge(scored, on=[PERIOD_COLUMN, "h3_cell"], how="left", validate="1:1")
    y = to_matrix(bt_rows, "target_count", periods=bt_periods, cells=cell_str)
    s = to_matrix(bt_rows, "risk_score", periods=bt_periods, cells=cell_str)

    events = pd.read_parquet(args.event_cells, columns=["h3_int", "timestamp", "crime_type"])
    all_periods = period_range(*meta["all_periods"], period=period)
    per_type = count_matrix(
        events,
        cell_ids=cell_ids,
        periods=all_periods,
        period=period,
        crime_types=meta["target_types"],
        outside="drop",
    )
    counts = np.sum(list(per_type.values()), axis=0)
    score_idx = np.searchsorted(all_periods, bt_periods)
    if not np.array_equal(counts[score_idx], y):
        raise ValueError(
            f"{args.features} and {args.event_cells} disagree on the backtest targets; "
            "re-run build_features so both come from the same events."
        )
    with timed(log, "baselines"):
        baselines = compute_baselines(
            counts,
            score_idx,
            cell_ids=cell_ids,
            period=period,
            cell_lat=cells["lat"].to_numpy(),
            cell_lon=cells["lon"].to_numpy(),
            kde_bandwidth_m=cfg.kde_bandwidth_m,
            kde_periods=cfg.kde_periods,
            hotspot_rings=cfg.hotspot_rings,
            hotspot_periods=cfg.hotspot_periods,
        )

    truth_rec = truth_com = None
    source = meta.get("source")
    if args.truth_dir is None or not args.truth_dir.exists():
        log.info("no truth model at %s: pei_truth_* not computed", args.truth_dir)
    elif source != "synthetic" or period != "week":
        log.info(
            "pei_truth_* skipped: the simulator's truth model gives weekly expected counts of "
            "synthetic data, and these data are %s with %s periods",
            source,
            period,
        )
    else:
        from simcity.truth import load_truth_model

        with timed(log, "truth"):
            truth_model = load_truth_model(args.truth_dir)
            kw = {
                "cells": cell_ids,
                "week_starts": bt_periods,
                "crime_types": meta["target_types"],
            }
            truth_rec = truth_model.expected_counts(**kw, kind="recorded")
            truth_com = truth_model.expected_counts(**kw, kind="committed")

    with timed(log, "metrics"):
        metrics = summarise_backtest(
            y,
            s,
            baselines,
            areas_km2=areas,
            cell_ids=cell_ids,
            period=period,
            backtest_periods=bt_periods,
            refit_every=cfg.refit_every,
            truth=truth_rec,
            coverage=params.operational.coverage,
            n_boot=cfg.n_boot,
            block_len=cfg.block_len,
            seed=cfg.seed,
        )

    flagged = flag_top_area(
        s, areas_km2=areas, cell_ids=cell_ids, coverage=params.operational.coverage
    )
    long = pd.DataFrame(
        {
            "h3_cell": np.tile(cell_str, n_bt),
            PERIOD_COLUMN: np.repeat(bt_periods, len(cell_str)),
            "target_count": y.ravel(),
            "risk_score": s.ravel(),
            "flagged": flagged.ravel(),
        }
    )
    for name, arr in baselines.items():
        long[f"score_{name}"] = arr.ravel()
    long["truth_recorded"] = truth_rec.ravel() if truth_rec is not None else np.nan
    long["truth_committed"] = truth_com.ravel() if truth_com is not None else np.nan

    plots = args.out_plots
    curves = {"model": s, **baselines, "oracle": y}
    if truth_rec is not None:
        curves["truth"] = truth_rec
    grid = np.linspace(0.0, 1.0, 101)
    curve_values = {
        name: capture_curve(y, arr, areas_km2=areas, cell_ids=cell_ids, coverages=grid).hit_rate
        for name, arr in curves.items()
    }
    plot_capture_curves(
        grid,
        curve_values,
        plots / "capture_curve.png",
        headline_coverage=params.operational.coverage,
        period=period,
    )
    plot_calibration_by_decile(
        calibration_by_decile(y, s), plots / "calibration_deciles.png", period=period
    )
    best = metrics.best_baseline
    kw2 = {"areas_km2": areas, "cell_ids": cell_ids, "coverage": params.operational.coverage}
    plot_period_pai(
        [pd.Timestamp(w) for w in bt_periods],
        pai(y, s, **kw2).weekly,
        pai(y, baselines[best], **kw2).weekly,
        plots / "pai_by_period.png",
        baseline_name=best,
        coverage=params.operational.coverage,
        period=period,
    )

    write_parquet(args.out_backtest, long)
    metrics.write(args.out_metrics)
    with stage_run(
        stage=STAGE,
        params_digest=params_hash(params),
        inputs=[args.features, args.event_cells, args.model_meta],
        parent_run_id=model_meta["mlflow_run_id"],
    ):
        import mlflow

        mlflow.log_params({f"evaluate.{k}": v for k, v in cfg.model_dump().items()})
        mlflow.log_metrics(flatten_metrics(metrics.to_json()))
        for png in sorted(plots.glob("*.png")):
            mlflow.log_artifact(str(png), artifact_path="plots")
    headline = {
        k: v
        for k, v in flatten_metrics(metrics.to_json()).items()
        if not k.startswith("baselines.")
    }
    log_to_parent(model_meta["mlflow_run_id"], metrics=headline)
    lift = metrics.lift
    log.info(
        "PAI@%s: model %.2f, best baseline %s; lift %.3f [%.3f, %.3f]",
        metrics.coverage,
        metrics.model.at("pai", metrics.coverage) or float("nan"),
        best,
        lift.estimate,
        lift.ci_low,
        lift.ci_high,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
