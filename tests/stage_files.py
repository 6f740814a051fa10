"""Small, valid stage files for tests of the stages that read them (shared by the test packages)."""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import pandas as pd

from beatwise.h3index import (
    cell_areas_km2,
    cell_centroids,
    cells_to_int,
    cells_to_str,
    index_points,
)


def data_quality(
    *, source: str = "synthetic", time_resolution: str = "sub_day", accepted: int = 9
) -> dict[str, Any]:
    """A ``data_quality.json`` of one file, one quarantined row and no areas (valid JSON form)."""
    return {
        "source": source,
        "place": "the study area",
        "rows_read": accepted + 1,
        "rows_accepted": accepted,
        "rows_quarantined": 1,
        "by_reason": {"bad_date": 1},
        "reason_meanings": {"bad_date": "the date could not be read"},
        "by_source_file": {
            "events.csv": {
                "read": accepted + 1,
                "accepted": accepted,
                "quarantined": 1,
                "by_reason": {"bad_date": 1},
            }
        },
        "accepted_by_type": {"burglary": accepted},
        "date_min": "2024-01-01 00:00",
        "date_max": "2024-03-31 23:00",
        "time_resolution": time_resolution,
        "areas": {"kind": "none", "n_areas": 0, "residents": None, "note": "no areas"},
    }


def quarantine(
    timestamps: tuple[str | None, ...] = (), *, source_file: str = "events.csv"
) -> pd.DataFrame:
    """A ``quarantine.parquet`` as ingest writes it: one ``unparseable_date`` row per entry of
    ``timestamps`` when it is None, else an ``invalid_coordinates`` row of that time."""
    times = pd.to_datetime(pd.Series(timestamps, dtype=object)).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "source_file": pd.Series([source_file] * len(times), dtype=object),
            "source_row": np.arange(1, len(times) + 1, dtype=np.int64),
            "reason": pd.Series(
                ["unparseable_date" if t is None else "invalid_coordinates" for t in timestamps],
                dtype=object,
            ),
            "detail": pd.Series(["a test row"] * len(times), dtype=object),
            "raw": pd.Series(["{}"] * len(times), dtype=object),
            "timestamp": times.to_numpy(),
        }
    )


def panel_meta(**changes: Any) -> dict[str, Any]:
    """A ``panel_meta.json`` of a toy weekly panel (60 cells, forecast week 2024-03-25), as JSON;
    ``changes`` replace fields."""
    fields: dict[str, Any] = {
        "period": "week",
        "source": "synthetic",
        "time_resolution": "sub_day",
        "h3_resolution": 8,
        "target_types": ["burglary"],
        "target_reason": None,
        "feature_types": ["burglary"],
        "static_covariates": [],
        "feature_columns": ["cnt_all_lag1w"],
        "first_period": "2024-01-01",
        "last_complete_period": "2024-03-18",
        "forecast_period": "2024-03-25",
        "all_periods": ["2023-10-02", "2024-03-18"],
        "absent_types": [],
        "absent_types_note": None,
        "n_cells": 60,
        "n_periods": 13,
        "n_rows": 780,
    }
    return {**fields, **changes}


def toy_cells(n: int = 10) -> pd.DataFrame:
    """``cells.parquet`` of up to ``n`` resolution-8 cells on a north-south line in London."""
    lat = 51.5 + 0.01 * np.arange(n)
    ids = np.unique(index_points(lat, np.full(n, -0.1), resolution=8))
    return pd.DataFrame(
        {
            "h3_cell": cells_to_str(ids),
            "h3_int": ids,
            "lat": lat[: len(ids)],
            "lon": -0.1,
            "area_km2": cell_areas_km2(ids),
            "district_name": "D",
        }
    )


def disc_cells(lat: float, lon: float, *, rings: int) -> pd.DataFrame:
    """``cells.parquet`` rows, without districts, of every resolution-8 cell within ``rings``
    rings of the cell holding (``lat``, ``lon``): ascending by id, centroids and areas from H3."""
    centre = h3.latlng_to_cell(lat, lon, 8)
    ids = np.sort(cells_to_int(np.array(list(h3.grid_disk(centre, rings)), dtype=object)))
    cell_lat, cell_lon = cell_centroids(ids)
    return pd.DataFrame(
        {
            "h3_cell": cells_to_str(ids),
            "h3_int": ids,
            "lat": cell_lat,
            "lon": cell_lon,
            "area_km2": cell_areas_km2(ids),
        }
    )


#: The keys of ``backtest_metrics.json`` that describe the run rather than one forecast.
METRICS_RUN_KEYS = frozenset(
    {
        "baselines",
        "best_baseline_at_5pct",
        "lift_pai_at_5pct",
        "coverage",
        "coverages",
        "period",
        "backtest_first_period",
        "backtest_last_period",
        "backtest_window",
        "n_backtest_periods",
        "n_periods_without_events",
        "n_cells",
        "refit_every",
    }
)
