"""The forecast table: ranks, percentiles, flags, intervals, and its column contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from beatwise.h3index import cell_areas_km2, cells_to_str, index_points
from beatwise.period import Period
from models.forecast import (
    FORECAST_COLUMNS,
    build_forecast_table,
    forecast_columns,
    forecast_geojson,
    poisson_interval,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    lat = 51.5 + 0.01 * np.arange(10)
    ids = np.unique(index_points(lat, np.full(10, -0.1), resolution=8))
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


START = {"week": "2025-01-06", "month": "2025-02-01"}


def table(
    cells: pd.DataFrame, scores: np.ndarray, coverage: float = 0.2, period: Period = "week"
) -> pd.DataFrame:
    return build_forecast_table(
        cells,
        scores,
        period_start=pd.Timestamp(START[period]),
        period=period,
        coverage=coverage,
        interval_level=0.8,
        model_version="abc",
        mlflow_run_id="0123456789abcdef0123456789abcdef",
        audit_status="pass",
    )


@pytest.mark.parametrize("period", ["week", "month"])
def test_columns_match_the_dictionary(cells: pd.DataFrame, period: Period) -> None:
    dictionary = pd.read_csv(ROOT / "docs" / "forecast-dict.csv")
    assert set(dictionary["period"]) == {"week", "month", "both"}
    documented = dictionary.loc[dictionary["period"].isin([period, "both"]), "column"]
    out = table(cells, np.linspace(1, 2, len(cells)), period=period)
    assert list(out.columns) == list(forecast_columns(period)) == list(documented)
    key = f"{period}_start"  # week_start for planners' weekly contract, month_start monthly
    assert key in out.columns and out[key].eq(START[period]).all()
    assert list(FORECAST_COLUMNS) == list(forecast_columns("week"))


def test_ranks_ties_percentiles_and_flags(cells: pd.DataFrame) -> None:
    n = len(cells)
    scores = np.ones(n)
    scores[3] = 5.0
    out = table(cells, scores)
    assert out["risk_rank"].tolist() == list(range(1, n + 1))
    assert out.loc[0, "h3_cell"] == cells.loc[3, "h3_cell"]
    rest = out.loc[1:, "h3_cell"].tolist()
    assert rest == sorted(rest)  # equal scores: ascending cell id
    assert out.loc[0, "risk_percentile"] == 100.0 and out.iloc[-1]["risk_percentile"] == 0.0
    flagged_area = out.loc[out["flagged"], "area_km2"].sum()
    assert flagged_area >= 0.2 * out["area_km2"].sum() - 1e-9
    assert out["flagged"].iloc[0] and not out["flagged"].iloc[-1]
    assert out["week_start"].eq("2025-01-06").all()


def test_poisson_interval_brackets_the_mean() -> None:
    low, high = poisson_interval(np.array([0.01, 1.0, 10.0]), level=0.8)
    assert low.tolist() == [0.0, 0.0, 6.0]
    assert high.tolist() == [0.0, 2.0, 14.0]


def test_geojson_has_one_closed_hexagon_per_row(cells: pd.DataFrame) -> None:
    out = table(cells, np.linspace(1, 2, len(cells)))
    geo = json.loads(forecast_geojson(out))
    assert len(geo["features"]) == len(out)
    ring = geo["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    assert geo["features"][0]["properties"]["risk_rank"] == 1
    # every CSV column is a property, the training run's id included
    assert list(geo["features"][0]["properties"]) == list(out.columns)
    assert geo["features"][0]["properties"]["mlflow_run_id"] == out.loc[0, "mlflow_run_id"]


def test_refuses_misaligned_scores(cells: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="one value per cell"):
        table(cells, np.ones(len(cells) + 1))
    with pytest.raises(ValueError, match=r"period_start must be a month start\. Got 2025-01-06"):
        build_forecast_table(
            cells,
            np.ones(len(cells)),
            period_start=pd.Timestamp("2025-01-06"),
            period="month",
            coverage=0.2,
            interval_level=0.8,
            model_version="abc",
            mlflow_run_id="0123456789abcdef0123456789abcdef",
            audit_status="pass",
        )
