"""The backtest's curves as data DVC can overlay: ``reports/compare/*.csv``.

``dvc plots diff main <experiment>`` draws each revision's curves on one chart from these files
(``dvc.yaml``'s top-level ``plots``), beside the PNGs of :mod:`models.plots`. Each file has fixed
columns whatever the data (the best baseline's curve is ``best_baseline``, its name in the
headline), so that two experiments' files always line up, and numbers are written to five
significant figures, as the headline metrics are, so that the committed files reproduce on any
machine.

- ``capture_curve.csv``: ``coverage_pct`` (0 to 100) and the share of target events in the
  flagged cells, ``model`` and ``best_baseline``, pooled over the backtest.
- ``calibration.csv``: ``decile`` (1 = lowest scores), the mean ``expected`` and ``observed``
  events per cell-period, and ``observed_over_expected``.
- ``pai_by_period.csv``: ``backtest_period`` (1 = first), ``period_start`` and the PAI of the
  ``model`` and the ``best_baseline`` at the operational coverage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from beatwise.artefacts.headline import SIGNIFICANT
from beatwise.io import atomic_path
from models.evaluation import CAPTURE_GRID, BacktestResult

#: The files this module writes, by what they show.
PLOT_FILES: dict[str, str] = {
    "capture curve": "capture_curve.csv",
    "calibration by decile": "calibration.csv",
    "PAI per backtest period": "pai_by_period.csv",
}


def plot_frames(result: BacktestResult) -> dict[str, pd.DataFrame]:
    """The three tables, by file name."""
    metrics = result.metrics
    table = result.calibration
    return {
        "capture_curve.csv": pd.DataFrame(
            {
                "coverage_pct": np.round(CAPTURE_GRID * 100.0, 6),
                "model": result.capture_curves["model"],
                "best_baseline": result.capture_curves[metrics.best_baseline],
            }
        ),
        "calibration.csv": pd.DataFrame(
            {
                "decile": np.asarray(table.decile, dtype=np.int64),
                "expected": table.expected_mean,
                "observed": table.observed_mean,
                "observed_over_expected": table.oe,
            }
        ),
        "pai_by_period.csv": pd.DataFrame(
            {
                "backtest_period": np.arange(1, len(result.period_starts) + 1),
                "period_start": pd.DatetimeIndex(result.period_starts).strftime("%Y-%m-%d"),
                "model": result.model_pai,
                "best_baseline": result.best_baseline_pai,
            }
        ),
    }


def write_plot_data(result: BacktestResult, folder: Path) -> list[Path]:
    """Write the three CSVs into ``folder`` (atomically, ``\\n`` line ends); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in plot_frames(result).items():
        path = folder / name
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format=f"%.{SIGNIFICANT}g", lineterminator="\n")
        written.append(path)
    return written
