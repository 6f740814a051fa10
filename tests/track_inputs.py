"""A record of recent forecasts for the map's and the report's tests: twelve backtest weeks up to
the week before :data:`planner_city.WEEK` (one without crime) and three scored publications, the
last of a week the backtest does not hold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from models.track_record import RECORD_COLUMNS, TrackRecord

#: the last backtest week
LAST = dt.date(2024, 12, 30)


def toy_track_record(*, published: int = 3, period_start: dt.date = LAST) -> TrackRecord:
    """Twelve backtest weeks to ``period_start`` (the sixth without crime) and the last
    ``published`` of three scored publications (the weeks of the last two and the next one)."""
    weeks = [period_start - dt.timedelta(days=7 * i) for i in range(11, -1, -1)]
    rates = np.linspace(0.22, 0.34, 12)
    events = np.full(12, 40)
    events[5] = 0
    backtest = pd.DataFrame(
        {
            "period_start": weeks,
            "events": events,
            "hit_rate": np.where(events > 0, rates, np.nan),
            "pai": np.where(events > 0, rates * 20, np.nan),
            "reference_baseline": "etas",
            "reference_hit_rate": np.where(events > 0, rates - 0.02, np.nan),
            "reference_pai": np.where(events > 0, (rates - 0.02) * 20, np.nan),
            "folder": None,
        }
    )
    scored = pd.DataFrame(
        {
            "period_start": [*weeks[-2:], period_start + dt.timedelta(days=7)],
            "events": [38, 41, 44],
            "hit_rate": [0.25, 0.36, 0.30],
            "pai": [5.0, 7.2, 6.0],
            "reference_baseline": "etas",
            "reference_hit_rate": [0.24, 0.31, 0.27],
            "reference_pai": [4.8, 6.2, 5.4],
            "folder": [d.isoformat() for d in (*weeks[-2:], period_start + dt.timedelta(days=7))],
        }
    ).tail(published)
    return TrackRecord(
        period="week",
        coverage=0.05,
        best_baseline="etas",
        backtest=backtest[list(RECORD_COLUMNS)],
        published=scored[list(RECORD_COLUMNS)].reset_index(drop=True),
    )
