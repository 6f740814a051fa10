"""The stacked blend of the published model: weights fitted in ``train``, applied in ``publish``.

``train`` fits the published model's weights exactly as the backtest fits a refit block's
(:mod:`models.blend_backtest`): on the latest ``train.validation_periods`` training periods, from
the early-stopping model's out-of-sample expected counts there and each blended baseline's
(scored from the periods before each hold-out period, with the ``evaluate`` params' knobs,
:func:`models.evaluation.score_baselines`). ``model_meta.json`` records them
(:class:`~beatwise.artefacts.model.BlendRecord`); ``publish`` scores the forecast period with the
model and the same baselines (from every period before it) and mixes them with those weights.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.model import BlendRecord
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN, period_range, shift_periods
from models.backtest import to_matrix
from models.blend import BlendConfig, blend_parts, holdout_blend_fit
from models.evaluation import EvaluateConfig, _target_counts, score_baselines
from models.risk_model import HoldoutFit

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def _history(
    event_cells: pd.DataFrame, cells: pd.DataFrame, panel: PanelMeta
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
    """Target counts ``[period, cell]`` over every period of data, and the periods' starts."""
    all_periods = period_range(*panel.all_periods, period=panel.period)
    ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    return _target_counts(event_cells, ids, all_periods, panel), all_periods


def _baselines_at(
    counts: npt.NDArray[np.int64],
    index: npt.NDArray[np.int64],
    cells: pd.DataFrame,
    *,
    panel: PanelMeta,
    names: tuple[str, ...],
    config: EvaluateConfig,
) -> dict[str, FloatArray]:
    blend = BlendConfig.model_validate({"baselines": names})
    blend.check_period(panel.period)
    return score_baselines(
        counts,
        index,
        cell_ids=cells["h3_int"].to_numpy(dtype=np.uint64),
        period=panel.period,
        config=config,
        cell_lat=cells["lat"].to_numpy(),
        cell_lon=cells["lon"].to_numpy(),
        names=blend.baselines,
    )


def fit_published_blend(
    fit: HoldoutFit,
    labelled: pd.DataFrame,
    event_cells: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    panel: PanelMeta,
    blend: BlendConfig,
    config: EvaluateConfig,
) -> BlendRecord:
    """The published model's blend weights, fitted on its hold-out (module docstring).

    Parameters
    ----------
    fit : HoldoutFit
        The train stage's fit (the early-stopping model and its hold-out periods).
    labelled : DataFrame
        The rows the model was fitted on (``period_start``, ``h3_cell``, features,
        ``target_count``).
    event_cells, cells : DataFrame
        The fit set's events (:data:`models.evaluation.EVENT_COLUMNS`) and ``cells.parquet``.
    panel : PanelMeta
        The fit set's ``panel_meta.json``.
    blend, config : BlendConfig, EvaluateConfig
        ``train.blend`` and the ``evaluate`` params (the baselines' knobs).

    Raises
    ------
    ValueError
        A baseline name of the other period mode, or events that disagree with the targets.
    """
    blend.check_period(panel.period)
    periods = fit.holdout_periods.astype("datetime64[ns]")
    hold = labelled[labelled[PERIOD_COLUMN].isin(periods)]
    hold = hold.assign(risk_score=fit.early.predict(hold))
    cell_str = cells["h3_cell"].to_numpy()
    y = to_matrix(hold, "target_count", periods=periods, cells=cell_str)
    model = to_matrix(hold, "risk_score", periods=periods, cells=cell_str)
    counts, all_periods = _history(event_cells, cells, panel)
    index = np.searchsorted(all_periods, periods)
    if not np.array_equal(counts[index], y):
        raise ValueError(
            "The fit set's features.parquet and event_cells.parquet disagree on the hold-out's "
            "targets; re-run build_features so both come from the same events."
        )
    parts = _baselines_at(counts, index, cells, panel=panel, names=blend.baselines, config=config)
    days = (pd.Timestamp(periods[0]).date(), pd.Timestamp(periods[-1]).date())
    return holdout_blend_fit(y, model, parts, names=blend.baselines, holdout_periods=days)


def blended_forecast(
    model_counts: npt.ArrayLike,
    record: BlendRecord,
    event_cells: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    panel: PanelMeta,
    forecast_period: dt.date,
    config: EvaluateConfig,
) -> FloatArray:
    """The published expected count of each cell: the recorded blend of the model's expected
    count and the blended baselines' for ``forecast_period`` (from every period before it).

    Refuses a forecast period that is not the period after the data's last (the baselines would
    read a gap as no crime).
    """
    counts, all_periods = _history(event_cells, cells, panel)
    start = np.datetime64(pd.Timestamp(forecast_period), "ns")
    after_last = shift_periods(all_periods[-1:], np.array([1]), period=panel.period)[0]
    if start > after_last:
        raise ValueError(
            f"The forecast {panel.period} {forecast_period} is later than the {panel.period} "
            f"after the data's last ({pd.Timestamp(all_periods[-1]).date()}); the blend's "
            "baselines need every period before it."
        )
    index = np.searchsorted(all_periods, np.array([start]))
    names = record.parts[1:]
    parts = _baselines_at(counts, index, cells, panel=panel, names=names, config=config)
    model = np.asarray(model_counts, dtype=np.float64)
    return blend_parts([model, *(parts[n][0] for n in names)], record.weights)
