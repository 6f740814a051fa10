"""Summaries for ``reports/metrics.json``: one forecast's pooled figures, and the whole backtest.

The per-week ingredients are computed once per score array; pooled figures and bootstrap
replicates are sums over resampled week indices, so 1,000 replicates cost a few milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import mean_poisson_deviance

from beatwise.artefacts.metrics import coverage_label
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
# Summaries for reports/metrics.json
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
    grid: FloatArray  # reported coverages plus the headline coverage, sorted, distinct
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


def _grid(coverages: Sequence[float], headline: float) -> tuple[FloatArray, FloatArray]:
    """(reported coverages, sorted distinct grid of those plus the headline coverage)."""
    ks = _check_coverages(coverages, allow_zero=False)
    _check_coverage(headline)
    if len({coverage_label(k) for k in ks}) != ks.size:
        raise ValueError(f"coverages must be distinct (as percent labels). Got {list(ks)}.")
    return ks, np.unique(np.append(ks, headline))


def _summarise(
    ref: _Reference,
    scores: npt.ArrayLike,
    *,
    name: str,
    coverages: FloatArray,
    headline: float,
    floor: float,
) -> tuple[dict[str, float | None], WeeklyCapture]:
    """Summary keys of one score array, and its capture on the whole grid (for the lift)."""
    s_arr = _as_panel(name, scores, shape=ref.y.shape, non_negative=True)
    ranked = _rank(s_arr, ref.ids, ref.areas, ref.y)
    cap = ranked.capture(ref.grid, ref.events)
    cols = [(int(np.flatnonzero(ref.grid == k)[0]), coverage_label(k)) for k in coverages]
    out: dict[str, float | None] = {}
    for j, lab in cols:
        out[f"hr_at_{lab}pct"] = _clean(_hr_metric(cap, j).pooled)
    for j, lab in cols:
        out[f"pai_at_{lab}pct"] = _clean(_pai_metric(cap, j).pooled)
    for j, lab in cols:
        out[f"pei_at_{lab}pct"] = _clean(_efficiency_metric(cap, ref.oracle, j).pooled)
    if ref.truth is not None:
        for j, lab in cols:
            out[f"pei_truth_at_{lab}pct"] = _clean(_efficiency_metric(cap, ref.truth, j).pooled)
    out["poisson_deviance"] = _clean(
        mean_poisson_deviance(ref.y.ravel(), np.maximum(s_arr, floor).ravel())
    )
    out["calibration_oe"] = _clean(float(_safe_div(ref.y.sum(), s_arr.sum())))
    out[f"churn_at_{coverage_label(headline)}pct"] = _clean(
        _churn(ranked.flagged_mask(headline)).pooled
    )
    return out, cap


def summarise_forecast(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    headline_coverage: float = HEADLINE_COVERAGE,
    floor: float = SCORE_FLOOR,
) -> dict[str, float | None]:
    """Pooled metrics of one forecast over the backtest weeks, ready for ``metrics.json``.

    Parameters
    ----------
    y : (W, C) array_like
        Realised target counts per backtest week and cell, >= 0.
    scores : (W, C) array_like
        Expected counts, >= 0 (zero allowed; clipped up to ``floor`` for the deviance only).
    areas_km2, cell_ids : (C,) array_like
        Cell areas (km², > 0) and unique H3 ids.
    truth : (W, C) array_like, optional
        Simulator's expected counts; adds ``pei_truth_at_<k>pct``.
    coverages : sequence of float
        Shares of the study area in (0, 1].
    headline_coverage : float
        Coverage of the churn key.
    floor : float
        Floor of the scores in the Poisson deviance (``SCORE_FLOOR``).

    Returns
    -------
    dict
        ``hr_at_<k>pct``, ``pai_at_<k>pct``, ``pei_at_<k>pct`` for each coverage (``<k>`` from
        :func:`coverage_label`: 0p5, 1, 2, 5, 10, 20), ``pei_truth_at_<k>pct`` when ``truth`` is
        given, ``poisson_deviance``, ``calibration_oe`` and ``churn_at_<headline>pct``. Values are
        pooled, rounded to 6 decimals, plain floats; None where undefined (no events at all).
    """
    ks, grid = _grid(coverages, headline_coverage)
    ref = _reference(y, areas_km2=areas_km2, cell_ids=cell_ids, truth=truth, grid=grid)
    out, _ = _summarise(
        ref, scores, name="scores", coverages=ks, headline=headline_coverage, floor=floor
    )
    return out


def summarise_backtest(
    y: npt.ArrayLike,
    model_scores: npt.ArrayLike,
    baseline_scores: Mapping[str, npt.ArrayLike],
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    truth: npt.ArrayLike | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    headline_coverage: float = HEADLINE_COVERAGE,
    n_boot: int = 1000,
    block_len: int = 4,
    seed: int = 0,
    floor: float = SCORE_FLOOR,
) -> dict[str, Any]:
    """The whole ``metrics.json`` payload: the model, every baseline and the lift over the best.

    Every baseline is scored on exactly the cells and weeks of ``y``. "The best baseline" has the
    highest pooled PAI at ``headline_coverage`` (ties: first name in alphabetical order). The lift
    is pooled PAI of the model over that baseline's, with a 95% moving-block bootstrap interval over
    weeks (``n_boot`` replicates of ``block_len``-week blocks, ``seed``; ``models.bootstrap``).

    Returns
    -------
    dict
        The keys of :func:`summarise_forecast` for the model, plus ``baselines`` (name -> the same
        keys), ``best_baseline_at_<k>pct``, ``lift_pai_at_<k>pct`` (``baseline``, ``estimate``,
        ``ci_low``, ``ci_high``), ``n_backtest_periods`` and ``n_periods_without_events``.

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
    ks, grid = _grid(coverages, headline_coverage)
    ref = _reference(y, areas_km2=areas_km2, cell_ids=cell_ids, truth=truth, grid=grid)
    if not (ref.events > 0).any():
        raise ValueError(
            f"Every one of the {ref.events.size} backtest weeks has zero target events; "
            "hit rate, PAI and the best baseline are undefined."
        )
    head = int(np.flatnonzero(grid == headline_coverage)[0])
    lab = coverage_label(headline_coverage)
    opts: dict[str, Any] = {"coverages": ks, "headline": headline_coverage, "floor": floor}

    model_out, model_cap = _summarise(ref, model_scores, name="model_scores", **opts)
    result: dict[str, Any] = dict(model_out)
    baselines_out: dict[str, dict[str, float | None]] = {}
    caps: dict[str, WeeklyCapture] = {}
    for name, values in baseline_scores.items():
        baselines_out[name], caps[name] = _summarise(
            ref, values, name=f"baseline_scores[{name!r}]", **opts
        )
    pai_head = {name: _pai_metric(cap, head).pooled for name, cap in caps.items()}
    best = min(pai_head, key=lambda n: (-pai_head[n] if np.isfinite(pai_head[n]) else np.inf, n))
    lift = _lift(
        model_cap, caps[best], head, n_boot=n_boot, block_len=block_len, seed=seed, level=0.95
    )
    result["baselines"] = baselines_out
    result[f"best_baseline_at_{lab}pct"] = best
    result[f"lift_pai_at_{lab}pct"] = {
        "baseline": best,
        "estimate": _clean(lift.estimate),
        "ci_low": _clean(lift.ci_low),
        "ci_high": _clean(lift.ci_high),
    }
    result["n_backtest_periods"] = int(ref.events.size)
    result["n_periods_without_events"] = int((ref.events == 0).sum())
    logger.info(
        "summarised %d periods x %d cells: model + %d baselines, %d bootstrap replicates, %.2f s",
        ref.y.shape[0],
        ref.y.shape[1],
        len(baselines_out),
        n_boot,
        time.perf_counter() - start,
    )
    return result
