"""The stacked blend: the published expected count as a convex mix of the model and baselines.

With ``train.blend.baselines`` naming one to three baselines of the registry
(:mod:`models.baselines`), the forecast of a cell-period is

    mu = w_0 * model + sum_k w_k * baseline_k,    w >= 0,  sum w = 1.

Every baseline's score is already an expected count per cell-period (the module docstring of
:mod:`models.baselines`: window means and all-history are mean counts, the kernels are
normalised to keep an interior cell's events at their total, ETAS is the expected count of its
intensity), so the mix needs no conversion and stays a count: its Poisson deviance and
observed / expected mean what they mean for the model.

Where the weights come from (no leakage)
----------------------------------------
The weights of a model are fitted on its **hold-out**: the latest ``train.validation_periods``
periods of its training window, which the early-stopping fit already holds out. There the
early-stopping model (fitted on the periods before the hold-out) gives the model's out-of-sample
expected counts, and each baseline scores a period from the periods before it only. So a model
fitted on the periods before ``t`` gets weights from periods before ``t``: the backtest's block
starting at ``t`` and the published model are treated alike (:func:`holdout_blend_fit`), and data
of period ``t`` or later never reach the weights used at ``t``.

Criterion
---------
Mean Poisson deviance of the mix on the hold-out, minimised over the simplex (SLSQP with the
analytic gradient; the deviance of a linear mix is convex in the weights, so the optimum is
global). Deviance is the model's own loss and keeps the mix on the count scale; the capture of
crime at the operational coverage is checked by the backtest, which scores the blend and the
model alone side by side (``backtest_metrics.json``: the top-level figures and ``unblended``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy.optimize import minimize

from beatwise.artefacts.model import BlendRecord
from beatwise.period import Period, check_period
from models.baselines import BaselineName, baseline_names
from models.metrics import SCORE_FLOOR

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: the name of the model's own expected count among the parts of a blend
MODEL_PART = "model"
#: most baselines a blend may mix with the model (four weights at most)
MAX_BLEND_BASELINES = 3
#: decimals the fitted weights are kept to (in model_meta.json and the backtest)
WEIGHT_DECIMALS = 6


class BlendConfig(BaseModel):
    """``train.blend``: which baselines the published expected count mixes with the model.

    ``baselines`` names up to :data:`MAX_BLEND_BASELINES` baselines of the registry
    (:data:`models.baselines.BaselineName`); empty or null is off (the model alone). Names are
    checked against the panel's period (weekly or monthly names) when the weights are fitted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    baselines: tuple[BaselineName, ...] = Field(default=(), max_length=MAX_BLEND_BASELINES)

    @field_validator("baselines", mode="before")
    @classmethod
    def _none_is_off(cls, value: object) -> object:
        return () if value is None else value

    @field_validator("baselines")
    @classmethod
    def _distinct(cls, value: tuple[BaselineName, ...]) -> tuple[BaselineName, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"must name each baseline once. Got {list(value)}")
        return value

    @property
    def enabled(self) -> bool:
        """True when the blend mixes at least one baseline."""
        return bool(self.baselines)

    def check_period(self, period: Period) -> None:
        """Refuse names of the other period mode (``mean_4w`` on monthly data, ...)."""
        available = baseline_names(check_period(period))
        wrong = [n for n in self.baselines if n not in available]
        if wrong:
            raise ValueError(
                f"The 'train.blend.baselines' parameter names {wrong}, which are not baselines "
                f"of {period}ly data; expected some of {list(available)}."
            )


def _objective(
    w: FloatArray, parts: FloatArray, y: FloatArray, floor: float
) -> tuple[float, FloatArray]:
    """Mean Poisson deviance (up to a constant in ``w``) and its gradient."""
    mu = np.maximum(w @ parts, floor)
    value = 2.0 * float(np.mean(mu - y * np.log(mu)))
    grad = 2.0 * (parts @ (1.0 - y / mu)) / y.size
    return value, grad


def mean_deviance(y: npt.ArrayLike, mu: npt.ArrayLike, *, floor: float = SCORE_FLOOR) -> float:
    """Mean Poisson deviance (scikit-learn's definition), ``mu`` floored at ``floor``."""
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    m = np.maximum(np.asarray(mu, dtype=np.float64).ravel(), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y_arr > 0, y_arr * np.log(y_arr / m), 0.0)
    return float(2.0 * np.mean(term - y_arr + m))


def fit_blend_weights(
    y: npt.ArrayLike, parts: Sequence[npt.ArrayLike], *, floor: float = SCORE_FLOOR
) -> FloatArray:
    """Weights on the simplex that minimise the mean Poisson deviance of ``sum_k w_k parts[k]``.

    Parameters
    ----------
    y : array_like
        Realised counts (any shape), >= 0.
    parts : sequence of array_like
        Expected counts of each part (the model first), each of ``y``'s shape, >= 0.
    floor : float
        Floor of the mix in the deviance (as the backtest's metrics floor scores).

    Returns
    -------
    (K,) float64
        Weights >= 0 summing to 1, rounded to :data:`WEIGHT_DECIMALS` decimals (the largest
        takes the rounding remainder). With no events at all the deviance cannot choose, and the
        model alone (``[1, 0, ...]``) is returned.

    Raises
    ------
    ValueError
        Fewer than one part, shapes that differ, or negative / non-finite values.
    """
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    if not parts:
        raise ValueError("A blend needs at least one part. Got none.")
    stack = np.stack([np.asarray(p, dtype=np.float64).ravel() for p in parts])
    if stack.shape[1] != y_arr.size:
        raise ValueError(
            f"Every part must have one value per count ({y_arr.size}). Got {stack.shape[1]}."
        )
    if not (np.isfinite(stack).all() and np.isfinite(y_arr).all()):
        raise ValueError("Counts and parts must be finite.")
    if (stack < 0).any() or (y_arr < 0).any():
        raise ValueError("Counts and parts must be >= 0.")
    k = stack.shape[0]
    if k == 1 or y_arr.sum() == 0:
        return np.eye(k)[0]
    result = minimize(
        _objective,
        np.full(k, 1.0 / k),
        args=(stack, y_arr, floor),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0, "jac": lambda w: np.ones(k)}],
        options={"ftol": 1e-12, "maxiter": 500},
    )
    if not result.success:
        raise RuntimeError(f"The blend's weights did not converge: {result.message}")
    w = np.round(np.clip(result.x, 0.0, None) / np.clip(result.x, 0.0, None).sum(), WEIGHT_DECIMALS)
    top = int(np.argmax(w))
    w[top] = round(1.0 - (w.sum() - w[top]), WEIGHT_DECIMALS)
    return w


def blend_parts(parts: Sequence[npt.ArrayLike], weights: npt.ArrayLike) -> FloatArray:
    """``sum_k weights[k] * parts[k]`` (each part of one shape; the model first)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(parts),):
        raise ValueError(f"One weight per part ({len(parts)}) is needed. Got {w.shape}.")
    out = np.zeros(np.shape(parts[0]), dtype=np.float64)
    for weight, part in zip(w, parts, strict=True):  # a few parts, whole arrays each
        out += weight * np.asarray(part, dtype=np.float64)
    return out


def holdout_blend_fit(
    y: npt.ArrayLike,
    model: npt.ArrayLike,
    baselines: Mapping[str, npt.ArrayLike],
    *,
    names: Sequence[str],
    holdout_periods: tuple[dt.date, dt.date],
) -> BlendRecord:
    """Fit a blend's weights on a hold-out and record them with what they achieve there.

    Parameters
    ----------
    y, model : (H, C) array_like
        Realised counts and the early-stopping model's expected counts on the hold-out periods.
    baselines : mapping of str to (H, C) array_like
        Each named baseline's expected counts on the same periods and cells.
    names : sequence of str
        The blended baselines, in ``train.blend.baselines`` order.
    holdout_periods : (date, date)
        First and last hold-out period (recorded).
    """
    parts = [np.asarray(model, dtype=np.float64)] + [np.asarray(baselines[n]) for n in names]
    weights = fit_blend_weights(y, parts)
    record = BlendRecord(
        parts=(MODEL_PART, *names),
        weights=tuple(float(w) for w in weights),
        holdout_periods=holdout_periods,
        holdout_deviance_model=round(mean_deviance(y, parts[0]), WEIGHT_DECIMALS),
        holdout_deviance_blend=round(
            mean_deviance(y, blend_parts(parts, weights)), WEIGHT_DECIMALS
        ),
    )
    logger.info(
        "blend weights %s on the hold-out %s to %s: deviance %.6f (model alone %.6f)",
        dict(zip(record.parts, record.weights, strict=True)),
        holdout_periods[0],
        holdout_periods[1],
        record.holdout_deviance_blend,
        record.holdout_deviance_model,
    )
    return record
