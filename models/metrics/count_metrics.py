"""Count metrics: mean Poisson deviance and calibration (observed / expected), overall and by
decile of the score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import mean_poisson_deviance

from models.metrics._checks import SCORE_FLOOR, FloatArray, IntArray, _as_panel, _safe_div


@dataclass(frozen=True)
class CalibrationTable:
    """Observed / expected counts by decile of the score, over all cell-weeks.

    Decile edges are the 10%, ..., 90% quantiles of ``S``; decile ``d`` holds the cell-weeks with
    ``S`` in ``(edge_{d-1}, edge_d]`` (the first is closed below), so tied scores always share a
    decile and a decile can be empty when many scores tie (for example many zeros).

    Attributes
    ----------
    decile : (10,) int
        1 (lowest scores) to 10 (highest).
    n : (10,) int
        Cell-weeks in the decile.
    expected : (10,) float
        ``Σ S`` in the decile (events).
    observed : (10,) float
        ``Σ Y`` in the decile (events).
    expected_mean, observed_mean : (10,) float
        Per cell-week means (NaN for an empty decile).
    oe : (10,) float
        ``observed / expected`` (NaN where ``expected`` is 0).
    """

    decile: IntArray
    n: IntArray
    expected: FloatArray
    observed: FloatArray
    expected_mean: FloatArray
    observed_mean: FloatArray
    oe: FloatArray


# --------------------------------------------------------------------------------------------
# Count metrics
# --------------------------------------------------------------------------------------------


def poisson_deviance(
    y: npt.ArrayLike, scores: npt.ArrayLike, *, floor: float = SCORE_FLOOR
) -> float:
    """Mean Poisson deviance over cell-weeks (scikit-learn's ``mean_poisson_deviance``).

    Units: deviance per cell-week, >= 0, lower is better. ``scores`` are expected counts and must
    be >= 0; they are clipped up to ``floor`` (default ``SCORE_FLOOR`` = 1e-6 events per cell-week)
    because the deviance of a zero prediction is undefined.
    """
    y_arr = _as_panel("y", y, non_negative=True)
    s_arr = _as_panel("scores", scores, shape=y_arr.shape, non_negative=True)
    if not floor > 0:
        raise ValueError(f"floor must be > 0. Got {floor}.")
    return float(mean_poisson_deviance(y_arr.ravel(), np.maximum(s_arr, floor).ravel()))


def calibration_oe(y: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Observed / expected ``Σ Y / Σ S`` over all cell-weeks (1 = calibrated; NaN if ``Σ S = 0``).

    ``scores`` are expected counts and must be >= 0.
    """
    y_arr = _as_panel("y", y, non_negative=True)
    s_arr = _as_panel("scores", scores, shape=y_arr.shape, non_negative=True)
    return float(_safe_div(y_arr.sum(), s_arr.sum()))


def calibration_by_decile(y: npt.ArrayLike, scores: npt.ArrayLike) -> CalibrationTable:
    """Observed / expected by decile of the score over all cell-weeks (:class:`CalibrationTable`).

    ``scores`` are expected counts and must be >= 0.
    """
    y_arr = np.asarray(y, dtype=np.float64)
    s_arr = np.asarray(scores, dtype=np.float64)
    if y_arr.shape != s_arr.shape or y_arr.size == 0:
        raise ValueError(
            f"y and scores must be non-empty arrays of one shape. Got {y_arr.shape} and "
            f"{s_arr.shape}."
        )
    y_arr = _as_panel("y", y_arr.reshape(1, -1), non_negative=True).ravel()
    s_arr = _as_panel("scores", s_arr.reshape(1, -1), non_negative=True).ravel()
    edges = np.quantile(s_arr, np.arange(1, 10) / 10.0)
    # side="left": a score equal to an edge goes to the lower decile (right-closed bins, as
    # pandas.qcut), so tied scores never straddle two deciles.
    decile = np.searchsorted(edges, s_arr, side="left")
    n = np.bincount(decile, minlength=10).astype(np.int64)
    expected = np.bincount(decile, weights=s_arr, minlength=10).astype(np.float64)
    observed = np.bincount(decile, weights=y_arr, minlength=10).astype(np.float64)
    return CalibrationTable(
        decile=np.arange(1, 11, dtype=np.int64),
        n=n,
        expected=expected,
        observed=observed,
        expected_mean=_safe_div(expected, n),
        observed_mean=_safe_div(observed, n),
        oe=_safe_div(observed, expected),
    )
