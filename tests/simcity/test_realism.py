"""The realism measurements on hand-computed toy cases, and the report on a tiny city."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from simcity.realism import build_report, concentration, knox_ratio, month_max_min, timing
from simcity.testing import tiny_city_config


def test_concentration_toy() -> None:
    # 100 res-9 cells in a disk; type "a" sits in one cell, type "b" one event per cell.
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 9), 6))[:100]
    lat_lon = np.array([h3.cell_to_latlng(c) for c in cells])
    lat = np.r_[np.repeat(lat_lon[:1, 0], 100), lat_lon[:, 0]]
    lon = np.r_[np.repeat(lat_lon[:1, 1], 100), lat_lon[:, 1]]
    kind = np.r_[["a"] * 100, ["b"] * 100]
    table = concentration(lat, lon, kind)
    assert table.loc["a", "top1"] == 1.0
    assert table.loc["a", "zero"] == pytest.approx(0.99)
    assert table.loc["b", "top5"] == pytest.approx(0.05)
    assert table.loc["b", "top20"] == pytest.approx(0.20)


def test_knox_ratio_toy() -> None:
    # Two places 5 km apart, two events each: one pair close in space and time (1 day apart),
    # one close in space only (100 days apart). Space-close pairs 2, space-time-close 1, and the
    # time-close probability over the 6 pairs is 1/6: ratio = 1 / (2 / 6) = 3.
    lat = [51.50, 51.50, 51.545, 51.545]
    lon = [-0.12, -0.12, -0.12, -0.12]
    ts = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-04-10", "2020-07-19"])
    assert knox_ratio(lat, lon, ts, distance_m=200, window_days=7) == pytest.approx(3.0, rel=0.03)


def test_timing_and_monthly_swing_toy() -> None:
    ts = pd.to_datetime(
        ["2020-01-06 22:30", "2020-01-06 22:40", "2020-01-07 03:59", "2020-01-07 12:00"]
    )
    got = timing(ts)
    assert got["peak_hour"] == 22
    assert got["night_share"] == pytest.approx(3 / 4)
    months = pd.to_datetime(["2020-01-15", "2020-02-10", "2020-02-11", "2020-03-01", "2020-04-30"])
    assert month_max_min(months) == pytest.approx(2.0)  # complete months Feb (2) and Mar (1)


def test_report_on_a_tiny_city_has_every_section() -> None:
    report = build_report(tiny_city_config(seed=2, n_weeks=30), knox_types=["burglary"])
    for heading in ("## Spatial concentration", "## Near repeats", "## Timing", "## The process"):
        assert heading in report
    assert "| burglary |" in report
