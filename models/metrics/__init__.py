"""Forecast metrics of ``../shared/METRICS.md`` on dense ``[week, cell]`` arrays.

Every number Beatwise reports about a forecast comes from here: the area-based flagged set
``F_w(k)``, hit rate, PAI, oracle and truth efficiency (PEI, PEI_T), the capture curve, churn,
Poisson deviance, calibration (observed / expected) and the lift of PAI over a baseline with its
block-bootstrap interval.

Conventions
-----------
- A "week" below is any forecast period: METRICS.md's definitions are written for ISO weeks, and
  in monthly mode (``features.period``) every row of the arrays is a calendar month instead; the
  arithmetic is the same. Its file's keys are period-neutral (``n_backtest_periods``).
- ``y``, ``scores`` and ``truth`` are float arrays ``[week, cell]``: week axis in time order, cell
  axis in the order of ``cell_ids`` (ascending H3 id in the pipeline, though nothing here relies on
  it). ``y`` holds realised target counts, ``scores`` expected counts (higher = riskier).
- ``areas_km2`` is each cell's area in km²; the study area ``A`` is their sum. A coverage ``k`` is a
  share of ``A`` in [0, 1] (0.05 = 5% of the study area).
- Ranking: score descending, ties broken by H3 cell id ascending. ``F_w(k)`` is the shortest prefix
  of the ranking whose cumulative area reaches ``k·A``. "Reaches" allows a relative slack of
  ``1e-9·A`` (``AREA_RTOL``) so that float rounding in the cumulative sum never adds a cell.
- Weeks with no events are skipped by HR, PAI and PEI (their weekly value is NaN) and counted.
  Pooled figures are micro-averages over the weeks with events: ``HR = Σ hits / Σ events``,
  ``PAI = HR / mean flagged-area share``, ``PEI = Σ hits / Σ hits*``.

The per-week ingredients (hits, events, flagged area) are computed once per score array; pooled
figures and bootstrap replicates are sums over resampled week indices, so 1,000 replicates cost a
few milliseconds.

The package's modules, by what they answer:

- :mod:`~models.metrics.ranking`: which cells are flagged (``rank_order``, ``flag_top_area``) and
  the per-week hits, events and flagged area (``weekly_capture``);
- :mod:`~models.metrics.rank_metrics`: hit rate, PAI, PEI, PEI_T, capture curve, churn, and the
  lift of PAI over a baseline with its block-bootstrap interval;
- :mod:`~models.metrics.count_metrics`: Poisson deviance and calibration;
- :mod:`~models.metrics.summary`: the typed figures of ``reports/backtest_metrics.json``
  (``summarise_forecast`` -> ``ForecastScores``, ``summarise_backtest`` -> ``BacktestMetrics``).

Import the public names from ``models.metrics``; the modules are how the code is kept, not an API.
The coverage key fragment (``5`` for 5%) is ``beatwise.artefacts.metrics.coverage_label``.
"""

from models.metrics._checks import (
    AREA_RTOL,
    DECIMALS,
    DEFAULT_COVERAGES,
    HEADLINE_COVERAGE,
    SCORE_FLOOR,
)
from models.metrics.count_metrics import (
    CalibrationTable,
    calibration_by_decile,
    calibration_oe,
    poisson_deviance,
)
from models.metrics.rank_metrics import (
    CaptureCurve,
    ChurnResult,
    LiftResult,
    WeeklyMetric,
    capture_curve,
    churn,
    hit_rate,
    pai,
    pai_lift,
    pei,
    pei_truth,
)
from models.metrics.ranking import (
    WeeklyCapture,
    flag_top_area,
    rank_order,
    rank_weeks,
    weekly_capture,
)
from models.metrics.summary import summarise_backtest, summarise_forecast

__all__ = [
    "AREA_RTOL",
    "DECIMALS",
    "DEFAULT_COVERAGES",
    "HEADLINE_COVERAGE",
    "SCORE_FLOOR",
    "CalibrationTable",
    "CaptureCurve",
    "ChurnResult",
    "LiftResult",
    "WeeklyCapture",
    "WeeklyMetric",
    "calibration_by_decile",
    "calibration_oe",
    "capture_curve",
    "churn",
    "flag_top_area",
    "hit_rate",
    "pai",
    "pai_lift",
    "pei",
    "pei_truth",
    "poisson_deviance",
    "rank_order",
    "rank_weeks",
    "summarise_backtest",
    "summarise_forecast",
    "weekly_capture",
]
