"""Stage ``train``: fit the LightGBM risk model on every labelled period; log and register it.

The period (week or month) is the one ``panel_meta.json`` records; this stage never re-derives it.
When the MLflow store already holds a finished training run of the very same model (same
``model_version``, the hash of the model text) and params, with its registered version, this stage
reuses that run instead of logging the model again: the run id is part of the published forecast,
and a re-run must publish the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd

from beatwise.io import read_json, write_json, write_text
from beatwise.period import PERIOD_COLUMN, check_period
from models.plots import plot_feature_importance
from models.risk_model import RiskModel, RiskModelConfig, feature_importance, fit_risk_model
from pipelines._io import setup_logging, timed
from pipelines._params import StageParams, load_params, params_hash
from pipelines._tracking import (
    REGISTERED_MODEL_NAME,
    find_reusable_train_run,
    record_reproduction,
    stage_run,
)

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
    plot_feature_importance(feature_importance(model), args.out_importance)

    digest = params_hash(params)
    reusable = find_reusable_train_run(model_version, digest)
    if reusable is None:
        run_id, version = _log_new_run(
            model,
            labelled,
            args=args,
            params={
                **{f"train.{k}": v for k, v in cfg.model_dump().items()},
                "target_types": ",".join(meta["target_types"]),
                "period": period,
                "n_features": len(feature_columns),
                "best_rounds": model.best_rounds,
            },
            digest=digest,
            model_version=model_version,
        )
        log.info("registered %s version %s as run %s", REGISTERED_MODEL_NAME, version, run_id)
    else:
        run_id, version = reusable
        count = record_reproduction(run_id)
        log.info(
            "identical model already logged as run %s (version %s); reusing it "
            "(reproduced %d time%s)",
            run_id,
            version,
            count,
            "" if count == 1 else "s",
        )
    from mlflow.tracking import MlflowClient

    MlflowClient().set_registered_model_alias(REGISTERED_MODEL_NAME, "candidate", version)
    log.info("alias 'candidate' -> %s version %s", REGISTERED_MODEL_NAME, version)

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


def _log_new_run(
    model: RiskModel,
    labelled: pd.DataFrame,
    *,
    args: argparse.Namespace,
    params: dict[str, Any],
    digest: str,
    model_version: str,
) -> tuple[str, str]:
    """Log a new training run with the model and register it; return (run id, version)."""
    import mlflow
    from mlflow.models import infer_signature

    with stage_run(
        stage=STAGE,
        params_digest=digest,
        inputs=[args.features, args.panel_meta],
    ) as run:
        mlflow.log_params(params)
        mlflow.set_tag("model_version", model_version)
        sample = labelled[list(model.feature_columns)].head(200).astype("float32")
        pred = model.predict(sample)
        fitted = model.predict(labelled)
        mlflow.log_metric("train_mean_target", float(labelled["target_count"].mean()))
        mlflow.log_metric("train_mean_prediction", float(fitted.mean()))
        mlflow.log_artifact(str(args.out_importance))
        info = mlflow.lightgbm.log_model(
            model.booster,
            name="model",
            signature=infer_signature(sample, pred),
            # stated, not inferred: inference reloads the model in a subprocess (seconds)
            pip_requirements=[f"lightgbm=={lgb.__version__}"],
            registered_model_name=REGISTERED_MODEL_NAME,
        )
        return run.info.run_id, str(info.registered_model_version)


if __name__ == "__main__":
    raise SystemExit(main())
