"""``data/models/model_meta.json``: the trained model's identity, written by ``train`` beside the
booster text and read by ``evaluate``, ``audit`` and ``publish``."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact
from beatwise.period import Period


class BlendRecord(BaseModel):
    """The stacked blend's weights (``models.blend``): the published expected count is
    ``sum_k weights[k] * part_k``, ``parts[0]`` the model's own expected count."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: "model", then the blended baselines by registry name
    parts: tuple[str, ...] = Field(min_length=2)
    #: one weight per part, >= 0, summing to 1
    weights: tuple[float, ...]
    #: first and last period of the hold-out the weights were fitted on
    holdout_periods: tuple[dt.date, dt.date]
    #: mean Poisson deviance on the hold-out: the model alone, and the blend
    holdout_deviance_model: float
    holdout_deviance_blend: float

    @model_validator(mode="after")
    def _simplex(self) -> Self:
        if self.parts[0] != "model" or len(self.weights) != len(self.parts):
            raise ValueError(
                f"parts must start with 'model' and have one weight each. Got parts "
                f"{list(self.parts)} and weights {list(self.weights)}"
            )
        if any(w < 0 for w in self.weights) or not math.isclose(
            sum(self.weights), 1.0, abs_tol=1e-6
        ):
            raise ValueError(f"weights must be >= 0 and sum to 1. Got {list(self.weights)}")
        return self


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
    #: the stacked blend the published expected count is (``train.blend``); None: the model alone
    blend: BlendRecord | None = None
    #: how the backtest chose its configuration (``model_selection.json``'s summary, in words);
    #: None for a model trained outside the pipeline's selection
    selection: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's object; no ``blend`` key when the model is published alone, and no
        ``selection`` key without a selection."""
        out = super().to_json()
        for key in ("blend", "selection"):
            if out[key] is None:
                del out[key]
        return out
