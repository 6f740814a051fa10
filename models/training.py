"""Training the risk model on the panel: what the ``train`` stage computes.

The model is fitted on every labelled row of the feature table, with the feature columns and the
period that ``panel_meta.json`` records (never re-derived). Its identity, ``model_version``, is the
hash of the model text: the same data, features and params give the same text, hence the same
version, and the ``train`` stage then reuses the MLflow run that already holds that model.

With ``train.blend`` on, the published expected count is a blend of the model and baselines
(:mod:`models.blend`); its weights are fitted here on the model's hold-out
(:func:`models.blend_serving.fit_published_blend`), recorded in ``model_meta.json``, and part of
``model_version`` (the hash then covers the model text and the weights).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from beatwise.artefacts.model import BlendRecord, ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN
from models.risk_model import HoldoutFit, RiskModel, RiskModelConfig, fit_risk_model_holdout

logger = logging.getLogger(__name__)

#: hex digits of the model text's sha256 kept as ``model_version``
MODEL_VERSION_LENGTH = 12


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model with what the stage records about it."""

    model: RiskModel
    #: the booster as LightGBM text (what ``model.txt`` holds)
    text: str
    #: the model's identity: the start of the sha256 of ``text``
    model_version: str
    #: the rows it was fitted on (every row with a known target)
    labelled: pd.DataFrame
    panel: PanelMeta
    #: first and last labelled period the model was fitted on
    trained_periods: tuple[dt.date, dt.date]
    #: what the MLflow training run logs as params
    run_params: dict[str, Any]
    #: the blend's weights (``train.blend``); None when the model is published alone
    blend: BlendRecord | None = None

    def meta(
        self,
        *,
        mlflow_run_id: str,
        registered_model: str,
        registered_version: str,
        selection: str | None = None,
    ) -> ModelMeta:
        """``model_meta.json`` for this model, once MLflow has a run and a registered version."""
        return ModelMeta(
            feature_columns=self.model.feature_columns,
            best_rounds=self.model.best_rounds,
            model_version=self.model_version,
            mlflow_run_id=mlflow_run_id,
            registered_model=registered_model,
            registered_version=registered_version,
            period=self.panel.period,
            trained_periods=self.trained_periods,
            blend=self.blend,
            selection=selection,
        )


#: fits the blend's weights from the fit and the labelled rows (bound to the events and cells)
BlendFitter = Callable[[HoldoutFit, pd.DataFrame], BlendRecord]


def train_risk_model(
    features: pd.DataFrame,
    *,
    panel: PanelMeta,
    config: RiskModelConfig,
    fit_blend: BlendFitter | None = None,
) -> TrainedModel:
    """Fit the risk model on every labelled row of ``features``.

    Parameters
    ----------
    features
        ``features.parquet``: ``period_start``, the panel's feature columns and ``target_count``
        (null in the forecast period, whose rows are left out).
    panel
        ``panel_meta.json``: the feature columns, in order, and the period.
    config
        The ``train`` params.
    fit_blend
        Fits the blend's weights (:func:`models.blend_serving.fit_published_blend` with the
        events, cells and knobs bound); required when ``config.blend`` names baselines.

    Refuses a table without labelled rows, and what :func:`models.risk_model.fit_risk_model`
    refuses (too few periods for early stopping).
    """
    labelled = features[features["target_count"].notna()]
    if labelled.empty:
        raise ValueError(
            f"The feature table has no rows with a known target_count ({len(features)} rows, "
            "all in the forecast period); build_features needs more complete periods of data."
        )
    feature_columns = config.model_columns(panel.feature_columns)
    start = config.history_start(labelled[PERIOD_COLUMN].to_numpy())
    first = labelled[PERIOD_COLUMN].min() if start is None else pd.Timestamp(start)
    last = labelled[PERIOD_COLUMN].max()
    logger.info(
        "training on %d cell-%ss (%s to %s), %d features",
        int((labelled[PERIOD_COLUMN] >= first).sum()),
        panel.period,
        first.date(),
        last.date(),
        len(feature_columns),
    )
    started = time.perf_counter()
    fit = fit_risk_model_holdout(labelled, feature_columns=feature_columns, config=config)
    model, blend = fit.model, None
    logger.info("fitting took %.2f s", time.perf_counter() - started)
    text = model.to_text()
    identity = text
    if config.blend.enabled:
        if fit_blend is None:
            raise ValueError("train.blend names baselines, so the blend's weights need fitting.")
        blend = fit_blend(fit, labelled)
        identity += "\n" + blend.model_dump_json()
    return TrainedModel(
        model=model,
        text=text,
        model_version=hashlib.sha256(identity.encode()).hexdigest()[:MODEL_VERSION_LENGTH],
        labelled=labelled,
        panel=panel,
        trained_periods=(first.date(), last.date()),
        run_params={
            **{
                f"train.{k}": v
                for k, v in config.model_dump(exclude={"blend", "exclude_features"}).items()
            },
            "train.blend.baselines": ",".join(config.blend.baselines) or "none",
            "train.exclude_features": ",".join(config.exclude_features) or "none",
            "target_types": ",".join(panel.target_types),
            "absent_types": ",".join(panel.absent_types) or "none",
            "period": panel.period,
            "n_features": len(feature_columns),
            "best_rounds": model.best_rounds,
            "blend_weights": "none" if blend is None else ",".join(map(str, blend.weights)),
        },
        blend=blend,
    )
