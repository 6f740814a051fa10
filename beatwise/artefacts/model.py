"""``data/models/model_meta.json``: the trained model's identity, written by ``train`` beside the
booster text and read by ``evaluate``, ``audit`` and ``publish``."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from beatwise.artefacts._base import Artefact
from beatwise.period import Period


class ModelMeta(Artefact):
    """Which model was trained, on what, and where MLflow keeps it."""

    #: the columns the booster expects, in order
    feature_columns: tuple[str, ...] = Field(min_length=1)
    #: boosting rounds kept after early stopping
    best_rounds: int = Field(ge=1)
    #: hash of the training data, features and train params (the model's identity)
    model_version: str = Field(min_length=1)
    mlflow_run_id: str = Field(min_length=1)
    registered_model: str = Field(min_length=1)
    #: the MLflow model-registry version, as MLflow spells it
    registered_version: str = Field(pattern=r"^[0-9]+$")
    period: Period
    #: first and last labelled period the model was fitted on
    trained_periods: tuple[dt.date, dt.date]
