"""Fixtures of the planner files' tests: the toy forecast of tests/planner_city.py."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from planner_city import toy_cells, toy_forecast
from toy_areas import toy_areas

from models.planner.map import district_outlines


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return toy_cells()


@pytest.fixture(scope="module")
def table(cells: pd.DataFrame) -> pd.DataFrame:
    return toy_forecast(cells)


@pytest.fixture(scope="module")
def outlines(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    return district_outlines(toy_areas(cells))
