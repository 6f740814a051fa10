"""Stage ``train``: fit the LightGBM risk model on its labelled periods; log and register it.

The feature columns and the period are the ones ``panel_meta.json`` records; this stage never
re-derives them (:mod:`models.training` holds the logic). With ``train.history_periods``, only
the latest that many labelled periods are read and fitted on. With ``train.blend`` on, the blend's
weights are fitted on the model's hold-out (:mod:`models.blend_serving`, with the baselines'
``evaluate`` knobs) and recorded in ``model_meta.json``. When the MLflow store already holds a
finished training run of the very same model (same ``model_version``) and params, with its
registered version, this stage reuses that run instead of logging the model again: the run id is
part of the published forecast, and a re-run must publish the same bytes.
The registry's alias ``candidate`` moves only in a deliberate ``dvc repro`` of the committed
configuration, never in an experiment (:mod:`beatwise.runs`).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.selection import ModelSelection
from beatwise.io import read_parquet, write_text
from beatwise.params import StageParams, load_params, params_hash
from beatwise.runs import detect_run
from models.blend_serving import fit_published_blend
from models.evaluation import EVENT_COLUMNS, EvaluateConfig
from models.panel_rows import read_keys, read_panel, training_periods_to_read
from models.plots import plot_feature_importance
from models.risk_model import RiskModelConfig, feature_importance
from models.selection import selected_config
from models.training import train_risk_model
from pipelines._io import run_stage, setup_logging
from pipelines._tracking import REGISTERED_MODEL_NAME, track_training

STAGE = "train"


class Params(StageParams):
    train: RiskModelConfig
    evaluate: EvaluateConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("features", "panel-meta"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    for name in ("cells", "event-cells"):  # read only by a blend (train.blend)
        parser.add_argument(f"--{name}", type=Path, default=None)
    for name in ("selection", "selection-report"):  # selected_config.json, model_selection.json
        parser.add_argument(f"--{name}", type=Path, default=None)
    parser.add_argument("--out-model", type=Path, required=True)
    parser.add_argument("--out-meta", type=Path, required=True)
    parser.add_argument("--out-importance", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)

    panel = PanelMeta.read(args.panel_meta)
    config = selected_config(params.train, args.selection)
    read = training_periods_to_read(read_keys(args.features), config)
    features = read_panel(args.features, panel, read)
    fit_blend = None
    if config.blend.enabled:
        if args.cells is None or args.event_cells is None:
            parser.error("train.blend names baselines: --cells and --event-cells are required")
        fit_blend = functools.partial(
            fit_published_blend, event_cells=read_parquet(args.event_cells, columns=EVENT_COLUMNS),
            cells=read_parquet(args.cells), panel=panel, blend=config.blend,
            config=params.evaluate,
        )  # fmt: skip
    trained = train_risk_model(features, panel=panel, config=config, fit_blend=fit_blend)
    plot_feature_importance(feature_importance(trained.model), args.out_importance)
    run_id, version = track_training(
        trained.model,
        trained.labelled,
        model_version=trained.model_version,
        params_digest=params_hash(params),
        run_params=trained.run_params,
        inputs=[args.features, args.panel_meta],
        importance_plot=args.out_importance,
        point_candidate=detect_run(args.params).may_publish,
    )
    write_text(args.out_model, trained.text)
    report = args.selection_report and ModelSelection.read(args.selection_report).summary()
    trained.meta(
        mlflow_run_id=run_id, registered_model=REGISTERED_MODEL_NAME, registered_version=version,
        selection=report or None,
    ).write(args.out_meta)  # fmt: skip
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
