"""A toy forecast for the planner files (models/planner): a disc of resolution-8 cells in
London, scores highest in its north-east, two districts (tests/toy_areas.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from stage_files import disc_cells
from toy_areas import toy_areas

from beatwise.period import Period
from models.forecast import build_forecast_table

#: the forecast week of the toy (a Monday) and month (a 1st)
WEEK = dt.date(2025, 1, 6)
MONTH = dt.date(2025, 2, 1)


def toy_cells(radius: int = 4) -> pd.DataFrame:
    """``cells.parquet`` rows: every cell within ``radius`` rings of a cell in central London,
    in the district whose half of the toy areas holds its centre."""
    cells = disc_cells(51.51, -0.12, rings=radius)
    areas = toy_areas(cells)
    middle = areas.geometry.iloc[0].bounds[3]
    names = areas["district_name"].to_numpy()
    return cells.assign(district_name=np.where(cells["lat"] < middle, names[0], names[1]))


def toy_forecast(
    cells: pd.DataFrame, *, coverage: float = 0.2, period: Period = "week"
) -> pd.DataFrame:
    """The published table of ``cells`` with scores highest in the north-east."""
    scores = 0.2 + 4.0 * np.exp(
        -((cells["lat"] - cells["lat"].max()) ** 2 + (cells["lon"] - cells["lon"].max()) ** 2)
        / 0.0004
    )
    start = WEEK if period == "week" else MONTH
    return build_forecast_table(
        cells,
        scores.to_numpy(),
        period_start=pd.Timestamp(start),
        period=period,
        coverage=coverage,
        interval_level=0.8,
        model_version="0123456789ab",
        mlflow_run_id="c134743e6c6d4bf1bd526e05208afdd6",
        audit_status="pass with review",
    )
