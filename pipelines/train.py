"""Stage ``train``: fit the LightGBM risk model on every labelled period; log and register it.

The period (week or month) is the one ``panel_meta.json`` records; this stage never re-derives it.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from beatwise.io import read_json, write_json, write_text
from features.period import PERIOD_COLUMN, check_period
from models.plots import plot_feature_importance
from models.risk_model import RiskModelConfig, feature_importance, fit_risk_model
from pipelines._io import setup_logging, timed
from pipelines._params import StageParams, load_params, params_hash
from pipelines._tracking import REGISTERED_MODEL_NAME, stage_run

STAGE = "train"


class Params(StageParams):
    train: RiskModelConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--panel-meta", type=Path, required=True)
    parser.add_argument("--out-model", type=Path, required=True)
    parser.add_argument("--out-meta", type=Path, required=True)
    parser.add_argument("--out-importance", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg = params.train

    meta = read_json(args.panel_meta)
    period = check_period(meta["period"])
    features = pd.read_parquet(args.features)
    feature_columns = list(meta["feature_columns"])
    labelled = features[features["target_count"].notna()]
    log.info(
        "training on %d cell-%ss (%s to %s), %d features",
        len(labelled),
        period,
        labelled[PERIOD_COLUMN].min().date(),
        labelled[PERIOD_COLUMN].max().date(),
        len(feature_columns),
    )
    with timed(log, "fitting"):
        model = fit_risk_model(labelled, feature_columns=feature_columns, config=cfg)
    text = model.to_text()
    model_version = hashlib.sha256(text.encode()).hexdigest()[:12]
    importance = feature_importance(model)

    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    with stage_run(
        stage=STAGE,
        params_digest=params_hash(params),
        inputs=[args.features, args.panel_meta],
    ) as run:
        mlflow.log_params({f"train.{k}": v for k, v in cfg.model_dump().items()})
        mlflow.log_params(
            {
                "target_types": ",".join(meta["target_types"]),
                "period": period,
                "n_features": len(feature_columns),
                "best_rounds": model.best_rounds,
            }
        )
        mlflow.set_tag("model_version", model_version)
        sample = labelled[feature_columns].head(200).astype("float32")
        pred = model.predict(sample)
        fitted = model.predict(labelled)
        mlflow.log_metric("train_mean_target", float(labelled["target_count"].mean()))
        mlflow.log_metric("train_mean_prediction", float(fitted.mean()))
        plot_feature_importance(importance, args.out_importance)
        mlflow.log_artifact(str(args.out_importance))
        info = mlflow.lightgbm.log_model(
            model.booster,
            name="model",
            signature=infer_signature(sample, pred),
            # stated, not inferred: inference reloads the model in a subprocess (seconds)
            pip_requirements=[f"lightgbm=={lgb.__version__}"],
            registered_model_name=REGISTERED_MODEL_NAME,
        )
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(REGISTERED_MODEL_NAME, "candidate", version)
        run_id = run.info.run_id
    log.info("registered %s version %s (alias 'candidate')", REGISTERED_MODEL_NAME, version)

    write_text(args.out_model, text)
    write_json(
        args.out_meta,
        {
            **model.meta(),
            "model_version": model_version,
            "mlflow_run_id": run_id,
            "registered_model": REGISTERED_MODEL_NAME,
            "registered_version": version,
            "period": period,
            "trained_periods": [
                f"{labelled[PERIOD_COLUMN].min():%Y-%m-%d}",
                f"{labelled[PERIOD_COLUMN].max():%Y-%m-%d}",
            ],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
