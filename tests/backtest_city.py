"""A 19-cell toy city with a weekly backtest's inputs, for the tests of the backtest
(``tests/models/test_evaluation.py``, ``test_backtest_window.py``) and of the scorecard
(``tests/scorecard_inputs.py``).

Burglaries at a steady rate per cell over :data:`N_PERIODS` weeks from 2023-01-02, two
leakage-free features per cell-week from week :data:`FIRST`, the forecast week after the data
unlabelled, and the evaluate and train params a backtest of it runs with.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from stage_files import disc_cells

from beatwise.artefacts.panel import PanelMeta
from beatwise.period import PERIOD_COLUMN
from models.evaluation import EvaluateConfig
from models.risk_model import RiskModelConfig

N_PERIODS = 40  # weeks of data; the features add the forecast week after them
FIRST = 4  # first week with a feature row
#: the week starts of the data and the forecast week after them
PERIODS = pd.date_range("2023-01-02", periods=N_PERIODS + 1, freq="7D").to_numpy()
#: the evaluate params of the toy backtest (not the defaults: short windows, few weeks)
CONFIG = EvaluateConfig(
    backtest_periods=8,
    refit_every=4,
    min_train_periods=12,
    n_boot=100,
    kde_periods=2,
    hotspot_periods=2,
)
MODEL = RiskModelConfig(
    min_data_in_leaf=5, num_leaves=4, max_rounds=30, validation_periods=2, num_threads=1
)


def city_cells() -> pd.DataFrame:
    """The nineteen resolution-8 cells in London (two rings around a centre), ascending by id."""
    return disc_cells(51.5, -0.12, rings=2)


def weekly_burglaries(
    cells: pd.DataFrame, *, n_weeks: int, seed: int = 0
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """Burglaries (``event_cells.parquet`` columns) in the first ``n_weeks`` weeks of
    :data:`PERIODS`, each cell at its own steady rate, and their counts ``[week, cell]``."""
    ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 1.5, size=ids.size)
    counts = rng.poisson(np.tile(rate, (n_weeks, 1)))
    week, cell = np.nonzero(counts)
    reps = counts[week, cell]
    events = pd.DataFrame(
        {
            "h3_int": np.repeat(ids[cell], reps),
            "timestamp": np.repeat(PERIODS[week], reps)
            + pd.to_timedelta(rng.integers(0, 7 * 24, reps.sum()), unit="h"),
            "crime_type": "burglary",
        }
    )
    return events, counts


def weekly_panel(
    cells: pd.DataFrame, counts: npt.NDArray[np.int64]
) -> tuple[pd.DataFrame, PanelMeta]:
    """Two leakage-free features per cell-week of the :data:`N_PERIODS` weeks of ``counts`` from
    week :data:`FIRST`, the forecast week last and unlabelled, and the panel meta."""
    ids = cells["h3_int"].to_numpy()
    padded = np.vstack([counts[:N_PERIODS], np.zeros((1, ids.size))]).astype(float)
    history = np.cumsum(np.vstack([np.zeros((1, ids.size)), padded[:-1]]), axis=0)
    rows = np.arange(FIRST, N_PERIODS + 1)
    features = pd.DataFrame(
        {
            "h3_cell": np.tile(cells["h3_cell"].to_numpy(), rows.size),
            PERIOD_COLUMN: np.repeat(PERIODS[rows], ids.size),
            "cnt_lag1w": padded[rows - 1].ravel(),
            "cnt_mean_hist": (history[rows] / rows[:, None]).ravel(),
            "target_count": padded[rows].ravel(),
        }
    )
    features.loc[features[PERIOD_COLUMN] == PERIODS[-1], "target_count"] = np.nan
    day = [PERIODS[i].astype("datetime64[D]").item() for i in (0, FIRST, N_PERIODS - 1, -1)]
    meta = PanelMeta(
        period="week",
        source="synthetic",
        time_resolution="sub_day",
        h3_resolution=8,
        target_types=("burglary",),
        feature_types=("burglary",),
        static_covariates=(),
        feature_columns=("cnt_lag1w", "cnt_mean_hist"),
        first_period=day[1],
        last_complete_period=day[2],
        forecast_period=day[3],
        all_periods=(day[0], day[2]),
        n_cells=ids.size,
        n_periods=N_PERIODS,
        n_rows=len(features),
    )
    return features, meta


def toy_city(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]:
    """Cells, event cells, features and panel meta of the city, consistent."""
    cells = city_cells()
    events, counts = weekly_burglaries(cells, n_weeks=N_PERIODS, seed=seed)
    features, meta = weekly_panel(cells, counts)
    return cells, events, features, meta
