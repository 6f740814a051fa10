"""The figures of ``reports/backtest_metrics.json``: one forecast's, and the whole backtest's.

:func:`summarise_forecast` gives a :class:`~beatwise.artefacts.metrics.ForecastScores` and
:func:`summarise_backtest` the whole :class:`~beatwise.artefacts.metrics.BacktestMetrics`, built in
one go (no dict filled in by later code). The per-week ingredients are computed once per score
array; pooled figures and bootstrap replicates are sums over resampled week indices, so 1,000
replicates cost a few milliseconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import mean_poisson_deviance

from beatwise.artefacts.metrics import BacktestMetrics, ForecastScores, Lift, coverage_label
from beatwise.period import check_period
from models.metrics._checks import (
    DECIMALS,
    DEFAULT_COVERAGES,
    HEADLINE_COVERAGE,
    SCORE_FLOOR,
    FloatArray,
    _as_areas,
    _as_cell_ids,
    _as_panel,
    _check_coverage,
    _check_coverages,
    _safe_div,
)
from models.metrics.rank_metrics import (
    _churn,
    _efficiency_metric,
    _hr_metric,
    _lift,
    _pai_metric,
)
from models.metrics.ranking import WeeklyCapture, _rank

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Summaries for reports/backtest_metrics.json
# --------------------------------------------------------------------------------------------


def _clean(value: float) -> float | None:
    """Plain Python float rounded to ``DECIMALS``; None (JSON null) when undefined."""
    v = float(value)
    return round(v, DECIMALS) if np.isfinite(v) else None


@dataclass(frozen=True)
class _Reference:
    """Realised counts and the oracle / truth captures shared by every score array."""

    y: FloatArray
    ids: npt.NDArray[np.uint64]
    areas: FloatArray
    events: FloatArray
    grid: FloatArray  # reported coverages plus the operational coverage, sorted, distinct
    oracle: WeeklyCapture
    truth: WeeklyCapture | None


def _reference(
    y: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None,
    grid: FloatArray,
) -> _Reference:
    y_arr = _as_panel("y", y, non_negative=True)
    ids = _as_cell_ids(cell_ids, n_cells=y_arr.shape[1])
    areas = _as_areas(areas_km2, n_cells=y_arr.shape[1])
    events = y_arr.sum(axis=1)
    oracle = _rank(y_arr, ids, areas, y_arr).capture(grid, events)
    truth_cap = None
    if truth is not None:
        t_arr = _as_panel("truth", truth, shape=y_arr.shape)
        truth_cap = _rank(t_arr, ids, areas, y_arr).capture(grid, events)
    return _Reference(y_arr, ids, areas, events, grid, oracle, truth_cap)


def _grid(coverages: Sequence[float], coverage: float) -> tuple[FloatArray, FloatArray]:
    """(reported coverages, sorted distinct grid of those plus the operational coverage)."""
    ks = _check_coverages(coverages, allow_zero=False)
    _check_coverage(coverage)
    if len({coverage_label(k) for k in ks}) != ks.size:
        raise ValueError(f"coverages must be distinct (as percent labels). Got {list(ks)}.")
    if (np.diff(ks) < 0).any():
        raise ValueError(f"coverages must be in ascending order. Got {ks.tolist()}.")
    return ks, np.unique(np.append(ks, coverage))


def _summarise(
    ref: _Reference,
    scores: npt.ArrayLike,
    *,
    name: str,
    coverages: FloatArray,
    coverage: float,
    floor: float,
) -> tuple[ForecastScores, WeeklyCapture]:
    """Pooled figures of one score array, and its capture on the whole grid (for the lift)."""
    s_arr = _as_panel(name, scores, shape=ref.y.shape, non_negative=True)
    ranked = _rank(s_arr, ref.ids, ref.areas, ref.y)
    cap = ranked.capture(ref.grid, ref.events)
    cols = [(float(k), int(np.flatnonzero(ref.grid == k)[0])) for k in coverages]
    truth = ref.truth
    scores_out = ForecastScores(
        hr={k: _clean(_hr_metric(cap, j).pooled) for k, j in cols},
        pai={k: _clean(_pai_metric(cap, j).pooled) for k, j in cols},
        pei={k: _clean(_efficiency_metric(cap, ref.oracle, j).pooled) for k, j in cols},
        pei_truth=None
        if truth is None
        else {k: _clean(_efficiency_metric(cap, truth, j).pooled) for k, j in cols},
        poisson_deviance=_clean(
            mean_poisson_deviance(ref.y.ravel(), np.maximum(s_arr, floor).ravel())
        ),
        calibration_oe=_clean(float(_safe_div(ref.y.sum(), s_arr.sum()))),
        churn=_clean(_churn(ranked.flagged_mask(coverage)).pooled),
    )
    return scores_out, cap


def summarise_forecast(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    coverage: float = HEADLINE_COVERAGE,
    floor: float = SCORE_FLOOR,
) -> ForecastScores:
    """Pooled figures of one forecast over the backtest weeks.

    Parameters
    ----------
    y : (W, C) array_like
        Realised target counts per backtest week and cell, >= 0.
    scores : (W, C) array_like
        Expected counts, >= 0 (zero allowed; clipped up to ``floor`` for the deviance only).
    areas_km2, cell_ids : (C,) array_like
        Cell areas (km², > 0) and unique H3 ids.
    truth : (W, C) array_like, optional
        Simulator's expected counts; fills ``pei_truth``.
    coverages : sequence of float
        Shares of the study area in (0, 1], ascending and distinct.
    coverage : float
        The operational coverage: the one churn is measured at.
    floor : float
        Floor of the scores in the Poisson deviance (``SCORE_FLOOR``).

    Returns
    -------
    ForecastScores
        ``hr``, ``pai``, ``pei`` (and ``pei_truth`` when ``truth`` is given) keyed by coverage,
        ``poisson_deviance``, ``calibration_oe`` and ``churn`` at ``coverage``. Values are pooled,
        rounded to 6 decimals, plain floats; None where undefined (no events at all).
        ``ForecastScores.to_flat`` gives the file's keys (``hr_at_5pct``, ...).
    """
    ks, grid = _grid(coverages, coverage)
    ref = _reference(y, areas_km2=areas_km2, cell_ids=cell_ids, truth=truth, grid=grid)
    out, _ = _summarise(ref, scores, name="scores", coverages=ks, coverage=coverage, floor=floor)
    return out


def _period_dates(backtest_periods: npt.ArrayLike, *, n_weeks: int) -> list[dt.date]:
    """The backtest's period starts as dates: one per row of ``y``, strictly ascending."""
    days = np.asarray(backtest_periods, dtype="datetime64[D]")
    if days.shape != (n_weeks,):
        raise ValueError(
            f"backtest_periods must hold one period start per row of y ({n_weeks},). "
            f"Got shape {days.shape}."
        )
    if (np.diff(days) <= np.timedelta64(0, "D")).any():
        raise ValueError("backtest_periods must be strictly ascending (time order of y's rows).")
    return [d.item() for d in days]


def summarise_backtest(
    y: npt.ArrayLike,
    model_scores: npt.ArrayLike,
    baseline_scores: Mapping[str, npt.ArrayLike],
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    period: str,
    backtest_periods: npt.ArrayLike,
    refit_every: int,
    truth: npt.ArrayLike | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    coverage: float = HEADLINE_COVERAGE,
    n_boot: int = 1000,
    block_len: int = 4,
    seed: int = 0,
    floor: float = SCORE_FLOOR,
) -> BacktestMetrics:
    """The whole of ``reports/backtest_metrics.json``: the model, every baseline, the lift.

    Every baseline is scored on exactly the cells and weeks of ``y``. "The best baseline" has the
    highest pooled PAI at ``coverage`` (ties: first name in alphabetical order). The lift is pooled
    PAI of the model over that baseline's, with a 95% moving-block bootstrap interval over weeks
    (``n_boot`` replicates of ``block_len``-week blocks, ``seed``; ``models.bootstrap``).

    Parameters
    ----------
    y, model_scores : (W, C) array_like
        Realised counts and the model's expected counts per backtest period and cell.
    baseline_scores : mapping of str to (W, C) array_like
        Each baseline's expected counts, on the same periods and cells.
    areas_km2, cell_ids : (C,) array_like
        Cell areas (km², > 0) and unique H3 ids.
    period : {"week", "month"}
        What a row of ``y`` is (recorded in the result).
    backtest_periods : (W,) array_like of dates
        Start of each row's period, strictly ascending.
    refit_every : int
        Periods between refits of the backtest model (recorded in the result).
    truth, coverages, floor
        As :func:`summarise_forecast`.
    coverage : float
        The operational coverage: churn, the best baseline and the lift are judged there.

    Returns
    -------
    BacktestMetrics
        Typed; ``BacktestMetrics.write`` gives the flat file DVC compares.

    Raises
    ------
    ValueError
        No baselines; every backtest week without events (ranking metrics and the best baseline
        are undefined); any shape mismatch or invalid value.
    """
    start = time.perf_counter()
    if not baseline_scores:
        raise ValueError("baseline_scores must name at least one baseline. Got none.")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0. Got {n_boot}.")
    ks, grid = _grid(coverages, coverage)
    ref = _reference(y, areas_km2=areas_km2, cell_ids=cell_ids, truth=truth, grid=grid)
    dates = _period_dates(backtest_periods, n_weeks=ref.y.shape[0])
    if not (ref.events > 0).any():
        raise ValueError(
            f"Every one of the {ref.events.size} backtest weeks has zero target events; "
            "hit rate, PAI and the best baseline are undefined."
        )
    head = int(np.flatnonzero(grid == coverage)[0])
    opts: dict[str, Any] = {"coverages": ks, "coverage": coverage, "floor": floor}

    model, model_cap = _summarise(ref, model_scores, name="model_scores", **opts)
    baselines: dict[str, ForecastScores] = {}
    caps: dict[str, WeeklyCapture] = {}
    for name, values in baseline_scores.items():
        baselines[name], caps[name] = _summarise(
            ref, values, name=f"baseline_scores[{name!r}]", **opts
        )
    pai_head = {name: _pai_metric(cap, head).pooled for name, cap in caps.items()}
    best = min(pai_head, key=lambda n: (-pai_head[n] if np.isfinite(pai_head[n]) else np.inf, n))
    lift = _lift(
        model_cap, caps[best], head, n_boot=n_boot, block_len=block_len, seed=seed, level=0.95
    )
    result = BacktestMetrics(
        period=check_period(period),
        coverage=float(coverage),
        coverages=tuple(float(k) for k in ks),
        model=model,
        baselines=baselines,
        best_baseline=best,
        lift=Lift(
            baseline=best,
            estimate=_clean(lift.estimate),
            ci_low=_clean(lift.ci_low),
            ci_high=_clean(lift.ci_high),
        ),
        backtest_first_period=dates[0],
        backtest_last_period=dates[-1],
        n_backtest_periods=int(ref.events.size),
        n_periods_without_events=int((ref.events == 0).sum()),
        n_cells=int(ref.y.shape[1]),
        refit_every=refit_every,
    )
    logger.info(
        "summarised %d periods x %d cells: model + %d baselines, %d bootstrap replicates, %.2f s",
        ref.y.shape[0],
        ref.y.shape[1],
        len(baselines),
        n_boot,
        time.perf_counter() - start,
    )
    return result
