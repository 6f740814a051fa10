"""Stage ``evaluate``: rolling-origin backtest of the selected model against baselines B1-B7.

Runs :func:`models.evaluation.run_backtest` on the panel's periods it needs; writes
``backtest_metrics.json`` (with the study-area rule of ``cells_meta.json``), its headline and
curves (``reports/compare/``), ``backtest.parquet``, the plots and the time bands' calibration.
``engine`` runs the refits here or on Dask (:mod:`models.dask_refits`): same bytes."""

from __future__ import annotations

import argparse
from pathlib import Path

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.headline import BacktestHeadline
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.engine import EngineConfig
from beatwise.io import read_parquet, write_parquet
from beatwise.params import StageParams, load_params, params_hash
from models.dask_refits import engine_refits
from models.evaluation import (
    CELL_COLUMNS,
    EVENT_COLUMNS,
    EvaluateConfig,
    plot_backtest,
    run_backtest,
)
from models.operational import OperationalConfig
from models.panel_rows import read_backtest_panel
from models.plot_data import write_plot_data
from models.risk_model import RiskModelConfig
from models.selection import selected_config
from models.timebands import TimeBandsConfig
from models.timebands_backtest import time_bands_report
from models.true_risk import truth_skip_reason
from pipelines._io import run_stage, setup_logging, timed
from pipelines._tracking import track_evaluation
from simcity.truth import load_truth_model

STAGE = "evaluate"


class Params(StageParams):
    train: RiskModelConfig
    evaluate: EvaluateConfig
    operational: OperationalConfig
    time_bands: TimeBandsConfig
    engine: EngineConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("features", "panel-meta", "cells", "cells-meta", "event-cells", "model-meta"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    for name in ("truth-dir", "selection"):  # selection: selected_config.json
        parser.add_argument(f"--{name}", type=Path, default=None)
    for name in ("out-metrics", "out-headline", "out-plot-data", "out-backtest", "out-plots",
                 "out-time-bands"):  # fmt: skip
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)

    meta, model_meta = PanelMeta.read(args.panel_meta), ModelMeta.read(args.model_meta)
    if (skip := truth_skip_reason(args.truth_dir, meta)) is not None:
        log.info("%s", skip)
    truth = None if skip is not None else load_truth_model(args.truth_dir)
    cells = read_parquet(args.cells, required=CELL_COLUMNS)
    events = read_parquet(args.event_cells, columns=EVENT_COLUMNS)
    model_config = selected_config(params.train, args.selection)
    with timed(log, "backtest"), engine_refits(params.engine) as refits:
        result = run_backtest(
            read_backtest_panel(args.features, meta, config=params.evaluate,
                                model_config=model_config), cells, events, meta,
            config=params.evaluate, model_config=model_config,
            coverage=params.operational.coverage, truth=truth, refits=refits,
        )  # fmt: skip
    rule = CellsMeta.read(args.cells_meta).study_area  # which every share of the area depends on
    metrics = result.metrics.model_copy(update={"study_area": rule})
    plot_backtest(result, args.out_plots)
    write_plot_data(result, args.out_plot_data)
    write_parquet(args.out_backtest, result.frame)
    metrics.write(args.out_metrics)
    BacktestHeadline.from_backtest(metrics).write(args.out_headline)
    bands = time_bands_report(result.frame, events, cells, panel=meta, config=params.time_bands)
    bands.write(args.out_time_bands)
    track_evaluation(
        metrics.to_json(),
        evaluate_params=params.evaluate.model_dump(),
        plots=args.out_plots,
        inputs=[args.features, args.event_cells, args.model_meta],
        params_digest=params_hash(params),
        parent=model_meta.mlflow_run_id,
    )
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
