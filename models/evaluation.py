"""The backtest as one call: from the panel to ``backtest_metrics.json``, the backtest and plots.

:func:`run_backtest` follows METRICS.md's protocol. The period (week or month) is the one
``panel_meta.json`` records; nothing here re-derives it. For each backtest period (the last
``evaluate.backtest_periods`` labelled periods, or the fixed window ``evaluate.backtest_first`` to
``evaluate.backtest_last``) the model is the one trained only on periods before
it (refitted every ``refit_every`` periods, :mod:`models.backtest`), every baseline B1-B7 is scored
on exactly the same cells and periods (:mod:`models.baselines`), and :mod:`models.metrics` turns
the scores into the typed :class:`~beatwise.artefacts.metrics.BacktestMetrics`.

The simulator's truth (``pei_truth_*``, ``truth_*`` columns) is optional: it is used only for
synthetic data, weekly or monthly; :func:`models.true_risk.truth_skip_reason` says when it is left
out. The caller loads it (``simcity.truth.load_truth_model``), so this package never imports the
simulator.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN, Period, period_floor, period_range, period_words
from features.panel import count_matrix
from models.backtest import Refits, backtest_scores_holdout, refit_here, to_matrix
from models.baselines import BaselineName, compute_baselines
from models.blend_backtest import blend_backtest, with_unblended
from models.metrics import (
    CalibrationTable,
    calibration_by_decile,
    capture_curve,
    flag_top_area,
    pai,
    summarise_backtest,
)
from models.plots import plot_calibration_by_decile, plot_capture_curves, plot_period_pai
from models.risk_model import RiskModelConfig
from models.true_risk import TruthModel, truth_counts

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Columns of ``event_cells.parquet`` the backtest reads (the stage reads only these).
EVENT_COLUMNS: tuple[str, ...] = ("h3_int", "timestamp", "crime_type")
#: Columns of ``cells.parquet`` the backtest reads (ids, centroids for the kernels, areas).
CELL_COLUMNS: tuple[str, ...] = ("h3_cell", "h3_int", "lat", "lon", "area_km2")
#: Fewest backtest periods a backtest may have.
MIN_BACKTEST_PERIODS: int = 4
#: A fixed window's dates: "YYYY-MM-DD".
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Coverage grid of the capture curves (0%, 1%, ..., 100% of the study area).
CAPTURE_GRID: FloatArray = np.linspace(0.0, 1.0, 101)


class EvaluateConfig(BaseModel):
    """Backtest protocol and uncertainty settings; periods are weeks, or months in monthly mode.

    The backtest window is either the last ``backtest_periods`` labelled periods (the default) or
    a fixed window, ``backtest_first`` to ``backtest_last``: dates ("YYYY-MM-DD", quoted in
    params.yaml) naming the first and last forecast period by a day inside each, so that figures
    compare with published ones. Exactly one of the two is set: a fixed window needs
    ``backtest_periods: null``, and the two dates go together.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backtest_periods: int | None = Field(52, ge=4, le=520)
    #: a day in the first forecast period of a fixed window; null: the last backtest_periods
    backtest_first: dt.date | None = None
    #: a day in the last forecast period of a fixed window
    backtest_last: dt.date | None = None
    refit_every: int = Field(13, ge=1, le=520)
    #: fewest labelled periods the first backtest model may be trained on
    min_train_periods: int = Field(26, ge=2)
    n_boot: int = Field(1000, ge=100)
    block_len: int = Field(4, ge=1)
    seed: int = 0
    kde_bandwidth_m: float = Field(400.0, gt=0.0)
    kde_periods: int = Field(8, ge=1)
    hotspot_rings: int = Field(3, ge=0)
    hotspot_periods: int = Field(8, ge=1)

    @field_validator("backtest_first", "backtest_last", mode="before")
    @classmethod
    def _iso_date(cls, value: object, info: ValidationInfo) -> object:
        # only "YYYY-MM-DD" text or a date: pydantic alone would read a number as a timestamp
        if value is None or type(value) is dt.date:
            return value
        if isinstance(value, str) and ISO_DAY.fullmatch(value):
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(value)
        raise ValueError(
            f'evaluate.{info.field_name} must be a date written in quotes, "YYYY-MM-DD", or '
            f"null. Got {value!r}."
        )

    @model_validator(mode="after")
    def _one_window(self) -> EvaluateConfig:
        first, last = self.backtest_first, self.backtest_last
        if first is None and last is None:
            if self.backtest_periods is None:
                raise ValueError(
                    "evaluate.backtest_periods is null, so evaluate.backtest_first and "
                    "evaluate.backtest_last must name a fixed window. Got neither."
                )
            return self
        if first is None or last is None:
            raise ValueError(
                "evaluate.backtest_first and evaluate.backtest_last go together: a fixed window "
                f"names its first and last period. Got backtest_first={first}, "
                f"backtest_last={last}."
            )
        if self.backtest_periods is not None:
            raise ValueError(
                "evaluate.backtest_periods (the last N periods) and evaluate.backtest_first/"
                "backtest_last (a fixed window) are both set; set backtest_periods: null for the "
                f"fixed window, or both dates to null. Got backtest_periods="
                f"{self.backtest_periods}, backtest_first={first}, backtest_last={last}."
            )
        if first > last:
            raise ValueError(
                "evaluate.backtest_first must not be after evaluate.backtest_last. "
                f"Got {first} and {last}."
            )
        return self

    @property
    def backtest_window(self) -> Literal["last", "fixed"]:
        """``fixed`` for a window of dates, ``last`` for the last ``backtest_periods``."""
        return "fixed" if self.backtest_first is not None else "last"


@dataclass(frozen=True)
class BacktestResult:
    """Everything the evaluate stage writes: the figures, the long table and the plots' data.

    Attributes
    ----------
    metrics : BacktestMetrics
        ``reports/backtest_metrics.json``.
    frame : DataFrame
        ``data/processed/backtest.parquet``: one row per (backtest period, cell), periods in time
        order and cells in the order of ``cells.parquet`` (``docs/architecture.md``).
    period_starts : (W,) datetime64[ns]
        The backtest periods.
    capture_curves : dict of str to (101,) float
        Pooled hit rate on :data:`CAPTURE_GRID` for ``model``, each baseline, ``oracle`` and (with
        the truth) ``truth``, in that order.
    calibration : CalibrationTable
        The model's observed / expected by decile of its score.
    model_pai, best_baseline_pai : (W,) float
        PAI per period at the operational coverage, for the model and the best baseline.
    """

    metrics: BacktestMetrics
    frame: pd.DataFrame
    period_starts: npt.NDArray[np.datetime64]
    capture_curves: dict[str, FloatArray]
    calibration: CalibrationTable
    model_pai: FloatArray
    best_baseline_pai: FloatArray


def choose_backtest_periods(
    features: pd.DataFrame, *, config: EvaluateConfig, period: Period
) -> npt.NDArray[np.datetime64]:
    """The backtest periods: the fixed window of ``config``, or its last ``backtest_periods``.

    The last ``backtest_periods`` labelled periods leave ``min_train_periods`` before them; the
    backtest is shortened (with a warning) when the data allow fewer. A fixed window is every
    labelled period from the one holding ``backtest_first`` to the one holding ``backtest_last``,
    and is never shortened: a window reaching outside the labelled periods, or leaving fewer than
    ``min_train_periods`` labelled periods before it, is refused. Either way fewer than
    :data:`MIN_BACKTEST_PERIODS` periods are refused.
    """
    words = period_words(period)
    labelled = np.sort(features.loc[features["target_count"].notna(), PERIOD_COLUMN].unique())
    if config.backtest_first is not None and config.backtest_last is not None:
        return _fixed_window(labelled, config=config, period=period)
    assert config.backtest_periods is not None  # EvaluateConfig sets one window
    n_bt = min(config.backtest_periods, len(labelled) - config.min_train_periods)
    if n_bt < MIN_BACKTEST_PERIODS:
        raise ValueError(
            f"Only {len(labelled)} labelled {words.plural}: too few for a backtest of at least "
            f"{MIN_BACKTEST_PERIODS} after evaluate.min_train_periods={config.min_train_periods}. "
            f"Simulate or load more {words.plural}."
        )
    if n_bt < config.backtest_periods:
        logger.warning("backtest shortened to %d %s (data allow no more)", n_bt, words.plural)
    return labelled[-n_bt:]


def _day(value: np.datetime64) -> str:
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def _fixed_window(
    labelled: npt.NDArray[np.datetime64], *, config: EvaluateConfig, period: Period
) -> npt.NDArray[np.datetime64]:
    """The labelled periods from ``config.backtest_first``'s to ``config.backtest_last``'s."""
    words = period_words(period)
    dates = np.array([config.backtest_first, config.backtest_last], dtype="datetime64[ns]")
    first, last = period_floor(dates, period=period)
    if not labelled.size:
        raise ValueError(f"features.parquet has no labelled {words.plural} to backtest.")
    have = f"the labelled {words.plural} run from {_day(labelled[0])} to {_day(labelled[-1])}"
    if first < labelled[0] or last > labelled[-1]:
        raise ValueError(
            f"evaluate.backtest_first={config.backtest_first} and evaluate.backtest_last="
            f"{config.backtest_last} name the {words.plural} {_day(first)} to {_day(last)}, "
            f"outside the data: {have}."
        )
    window = labelled[(labelled >= first) & (labelled <= last)]
    n_before = int(np.sum(labelled < first))
    if n_before < config.min_train_periods:
        raise ValueError(
            f"evaluate.backtest_first={config.backtest_first} leaves {n_before} labelled "
            f"{words.plural} before the window to train the first model on; "
            f"evaluate.min_train_periods={config.min_train_periods} asks for more ({have}). "
            "Start the window later or lower min_train_periods."
        )
    if window.size < MIN_BACKTEST_PERIODS:
        raise ValueError(
            f"evaluate.backtest_first={config.backtest_first} to evaluate.backtest_last="
            f"{config.backtest_last} hold {window.size} labelled {words.plural}; a backtest "
            f"needs at least {MIN_BACKTEST_PERIODS}."
        )
    return window


def _model_scores(
    features: pd.DataFrame,
    meta: PanelMeta,
    periods: npt.NDArray[np.datetime64],
    cell_str: npt.NDArray,
    *,
    config: EvaluateConfig,
    model_config: RiskModelConfig,
    refits: Refits,
) -> tuple[FloatArray, FloatArray, pd.DataFrame]:
    """Realised targets and the rolling-origin model's scores, ``[period, cell]``, and the refit
    blocks' hold-out predictions (:func:`models.backtest.backtest_scores_holdout`)."""
    scored, holdout = backtest_scores_holdout(
        features,
        feature_columns=model_config.model_columns(meta.feature_columns),
        backtest_periods=periods,
        refit_every=config.refit_every,
        config=model_config,
        refits=refits,
    )
    rows = features[features[PERIOD_COLUMN].isin(periods)][
        [PERIOD_COLUMN, "h3_cell", "target_count"]
    ]
    rows = rows.merge(scored, on=[PERIOD_COLUMN, "h3_cell"], how="left", validate="1:1")
    y = to_matrix(rows, "target_count", periods=periods, cells=cell_str)
    return y, to_matrix(rows, "risk_score", periods=periods, cells=cell_str), holdout


def _target_counts(
    event_cells: pd.DataFrame,
    cell_ids: npt.NDArray[np.uint64],
    all_periods: npt.NDArray[np.datetime64],
    meta: PanelMeta,
) -> npt.NDArray[np.int64]:
    """Target events per period and cell over all periods of data, ``[period, cell]``."""
    per_type = count_matrix(
        event_cells,
        cell_ids=cell_ids,
        periods=all_periods,
        period=meta.period,
        crime_types=list(meta.target_types),
        outside="drop",
    )
    counts: npt.NDArray[np.int64] = np.sum(list(per_type.values()), axis=0)
    return counts


def score_baselines(
    counts: npt.ArrayLike,
    score_periods: npt.ArrayLike,
    *,
    cell_ids: npt.ArrayLike,
    period: Period,
    config: EvaluateConfig,
    cell_lat: npt.ArrayLike | None = None,
    cell_lon: npt.ArrayLike | None = None,
    names: Sequence[BaselineName] | None = None,
) -> dict[str, FloatArray]:
    """Every baseline of the registry, or only ``names``
    (:func:`models.baselines.compute_baselines`), with the ``evaluate`` params' knobs: the one
    place those knobs reach the baselines, so the backtest, the scorecard
    (:mod:`models.scorecard`) and the blend cannot score them differently.

    B7 (ETAS) refits every ``refit_every`` score periods, as the model does; a single score
    period (the scorecard's) is one fit on the periods before it, as the backtest's first is.
    Cell centroids come from ``cell_ids`` when ``cell_lat``/``cell_lon`` are not given.
    Returns ``(S, C)`` scores per baseline name, as ``compute_baselines`` does.
    """
    return compute_baselines(
        counts,
        score_periods,
        cell_ids=cell_ids,
        period=period,
        cell_lat=cell_lat,
        cell_lon=cell_lon,
        names=names,
        kde_bandwidth_m=config.kde_bandwidth_m,
        kde_periods=config.kde_periods,
        hotspot_rings=config.hotspot_rings,
        hotspot_periods=config.hotspot_periods,
        etas_refit_every=config.refit_every,
    )


def backtest_frame(
    cell_str: npt.NDArray,
    period_starts: npt.NDArray[np.datetime64],
    *,
    y: FloatArray,
    scores: FloatArray,
    flagged: npt.NDArray[np.bool_],
    baselines: dict[str, FloatArray],
    truth_recorded: FloatArray | None,
    truth_committed: FloatArray | None,
) -> pd.DataFrame:
    """The long table of ``backtest.parquet`` from the dense ``[period, cell]`` arrays."""
    long = pd.DataFrame(
        {
            "h3_cell": np.tile(cell_str, len(period_starts)),
            PERIOD_COLUMN: np.repeat(period_starts, len(cell_str)),
            "target_count": y.ravel(),
            "risk_score": scores.ravel(),
            "flagged": flagged.ravel(),
        }
    )
    for name, arr in baselines.items():
        long[f"score_{name}"] = arr.ravel()
    long["truth_recorded"] = truth_recorded.ravel() if truth_recorded is not None else np.nan
    long["truth_committed"] = truth_committed.ravel() if truth_committed is not None else np.nan
    return long


def run_backtest(
    features: pd.DataFrame,
    cells: pd.DataFrame,
    event_cells: pd.DataFrame,
    meta: PanelMeta,
    *,
    config: EvaluateConfig,
    model_config: RiskModelConfig,
    coverage: float,
    truth: TruthModel | None = None,
    baseline_scores: dict[str, FloatArray] | None = None,
    refits: Refits = refit_here,
) -> BacktestResult:
    """Rolling-origin backtest of the model and baselines B1-B7 on the same cells and periods.

    Parameters
    ----------
    features : DataFrame
        ``features.parquet``: the panel with ``target_count`` and ``meta.feature_columns``.
    cells : DataFrame
        ``cells.parquet`` (``h3_cell``, ``h3_int``, ``lat``, ``lon``, ``area_km2``), ascending.
    event_cells : DataFrame
        ``event_cells.parquet``'s :data:`EVENT_COLUMNS`; the baselines count targets from it.
    meta : PanelMeta
        The panel's period, target types, feature columns and span of data.
    config, model_config : EvaluateConfig, RiskModelConfig
        The ``evaluate`` and ``train`` params.
    coverage : float
        The operational coverage (``operational.coverage``).
    truth : TruthModel, optional
        The simulator's truth; pass it only where
        :func:`~models.true_risk.truth_skip_reason` gives None.
    baseline_scores : dict of str to (S, C) float64, optional
        Every baseline's scores from an earlier backtest of the same window, cells and events
        (the selection backtests several models on one window); scored afresh when None.
    refits : Refits
        Fits the model's refits (:data:`models.backtest.Refits`): here by default, or on a Dask
        cluster (:func:`models.dask_refits.engine_refits`), with the same models.

    Raises
    ------
    ValueError
        Too few labelled periods for a backtest, or features and event cells that disagree on
        the backtest targets (they came from different events).
    """
    period = meta.period
    cell_str = cells["h3_cell"].to_numpy()
    cell_ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    areas = cells["area_km2"].to_numpy()
    blend_names = model_config.blend.baselines
    model_config.blend.check_period(period)
    bt_periods = choose_backtest_periods(features, config=config, period=period)
    logger.info(
        "backtest (%s window): %d %s from %s, refit every %d",
        config.backtest_window,
        len(bt_periods),
        period_words(period).plural,
        pd.Timestamp(bt_periods[0]).date(),
        config.refit_every,
    )
    y, s, holdout = _model_scores(
        features, meta, bt_periods, cell_str,
        config=config, model_config=model_config, refits=refits,
    )  # fmt: skip
    # The panel's rows are done with: free them before the truth's kernels are built (a decade's
    # panel is a gigabyte, as much as those kernels).
    del features
    all_periods = period_range(*meta.all_periods, period=period)
    counts = _target_counts(event_cells, cell_ids, all_periods, meta)
    score_idx = np.searchsorted(all_periods, bt_periods)
    if not np.array_equal(counts[score_idx], y):
        raise ValueError(
            "features.parquet and event_cells.parquet disagree on the backtest targets; "
            "re-run build_features so both come from the same events."
        )
    score = functools.partial(
        score_baselines, cell_ids=cell_ids, period=period, config=config,
        cell_lat=cells["lat"].to_numpy(), cell_lon=cells["lon"].to_numpy(),
    )  # fmt: skip
    if baseline_scores is None:
        baselines = score(counts, score_idx)
    elif any(arr.shape != y.shape for arr in baseline_scores.values()):
        raise ValueError(f"baseline_scores must be {y.shape} arrays, one per backtest period.")
    else:
        baselines = baseline_scores
    model_s, blended = s, None
    if blend_names:  # the blend is the model; the baselines stay pure (best baseline, G8)
        blended = blend_backtest(
            holdout, model_scores=s, baselines=baselines, counts=counts, all_periods=all_periods,
            backtest_periods=bt_periods, cells=cell_str, names=blend_names,
            score_fn=lambda idx: score(counts, idx, names=blend_names),
        )  # fmt: skip
        s = blended.scores
    truth_rec, truth_com = truth_counts(truth, cell_ids, bt_periods, meta)
    metrics = summarise_backtest(
        y,
        s,
        baselines,
        areas_km2=areas,
        cell_ids=cell_ids,
        period=period,
        backtest_periods=bt_periods,
        refit_every=config.refit_every,
        truth=truth_rec,
        coverage=coverage,
        n_boot=config.n_boot,
        block_len=config.block_len,
        seed=config.seed,
    ).model_copy(update={"backtest_window": config.backtest_window})
    if blended is not None:
        metrics = with_unblended(
            metrics, blended, y=y, model_scores=model_s, names=blend_names, areas_km2=areas,
            best_scores=baselines[metrics.best_baseline], cell_ids=cell_ids, truth=truth_rec,
            n_boot=config.n_boot, block_len=config.block_len, seed=config.seed,
        )  # fmt: skip
    flagged = flag_top_area(s, areas_km2=areas, cell_ids=cell_ids, coverage=coverage)
    frame = backtest_frame(
        cell_str,
        bt_periods,
        y=y,
        scores=s,
        flagged=flagged,
        baselines=baselines,
        truth_recorded=truth_rec,
        truth_committed=truth_com,
    )
    curves = {"model": s, **baselines, "oracle": y}
    if truth_rec is not None:
        curves["truth"] = truth_rec
    logger.info(
        "PAI@%s: model %s, best baseline %s; lift %s [%s, %s]",
        metrics.coverage,
        metrics.model.pai.get(metrics.coverage),
        metrics.best_baseline,
        metrics.lift.estimate,
        metrics.lift.ci_low,
        metrics.lift.ci_high,
    )
    kw_area = {"areas_km2": areas, "cell_ids": cell_ids}
    best = baselines[metrics.best_baseline]
    return BacktestResult(
        metrics=metrics,
        frame=frame,
        period_starts=bt_periods,
        capture_curves={
            name: capture_curve(y, arr, **kw_area, coverages=CAPTURE_GRID).hit_rate
            for name, arr in curves.items()
        },
        calibration=calibration_by_decile(y, s),
        model_pai=pai(y, s, **kw_area, coverage=coverage).weekly,
        best_baseline_pai=pai(y, best, **kw_area, coverage=coverage).weekly,
    )


def plot_backtest(result: BacktestResult, folder: Path) -> list[Path]:
    """Draw the backtest's three plots into ``folder``; returns their paths.

    ``capture_curve.png`` (hit rate against coverage), ``calibration_deciles.png`` and
    ``pai_by_period.png`` (the model against the best baseline at the operational coverage).
    """
    metrics = result.metrics
    folder = Path(folder)
    return [
        plot_capture_curves(
            CAPTURE_GRID,
            result.capture_curves,
            folder / "capture_curve.png",
            headline_coverage=metrics.coverage,
            period=metrics.period,
        ),
        plot_calibration_by_decile(
            result.calibration, folder / "calibration_deciles.png", period=metrics.period
        ),
        plot_period_pai(
            [pd.Timestamp(w) for w in result.period_starts],
            result.model_pai,
            result.best_baseline_pai,
            folder / "pai_by_period.png",
            baseline_name=metrics.best_baseline,
            coverage=metrics.coverage,
            period=metrics.period,
        ),
    ]
