"""When in the week: the flagged cells' time bands in the publication and on the map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stage_files import panel_meta, toy_cells

from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.timebands import TimeBandsBacktest
from beatwise.io import read_parquet, write_parquet
from models.planner.bands import band_table, busiest_bands, hours_note
from models.publication import read_forecast_bands
from models.timebands import (
    ForecastBands,
    TimeBandsConfig,
    band_labels,
    forecast_bands,
    window_start,
)

CONFIG = TimeBandsConfig()


def _table(n: int) -> pd.DataFrame:
    cells = toy_cells(n)
    return pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"],
            "risk_score": np.linspace(2.0, 0.2, len(cells)),
            "risk_rank": np.arange(1, len(cells) + 1),
            "flagged": np.arange(len(cells)) < 2,
            "district_name": "Dunwick",
        }
    )


def test_the_busiest_bands_of_flagged_cells_only() -> None:
    table = _table(4)
    shares = np.full((len(table), 12), 0.04)
    shares[:, 4], shares[:, 10] = 0.36, 0.24
    bands = ForecastBands(band_labels(CONFIG), shares, reason=None, history_periods=52)
    text = busiest_bands(table, bands)
    assert text[0] == "weekdays 16:00-20:00 (36%), weekends 16:00-20:00 (24%)"
    assert text[2:] == ["", ""]
    rows = band_table(table, bands)
    assert len(rows) == 2 * 12 and rows["h3_cell"].iloc[0] == table["h3_cell"].iloc[0]
    assert "last 52 weeks" in hours_note(bands)
    with pytest.raises(ValueError, match="the time bands cover 3 cells, the forecast 4"):
        band_table(table, ForecastBands(bands.labels, shares[:3], None, 52))


def test_the_forecast_weeks_shares_use_the_backtests_window_and_its_reason() -> None:
    cells = toy_cells(5)
    panel = PanelMeta.from_json(
        panel_meta(all_periods=["2024-01-01", "2024-12-23"], forecast_period="2024-12-30")
    )
    weeks = pd.date_range("2024-01-01", "2024-12-23", freq="7D")
    rng = np.random.default_rng(0)
    # every event at weekday 08:00-12:00 until the last 13 weeks, then at weekend nights
    week = rng.integers(0, weeks.size, 400)
    late = week >= weeks.size - 13
    offset = np.where(late, np.timedelta64(5 * 24 + 1, "h"), np.timedelta64(9, "h"))
    events = pd.DataFrame(
        {
            "h3_int": cells["h3_int"].to_numpy()[rng.integers(0, len(cells), 400)],
            "timestamp": weeks.to_numpy()[week] + offset,
            "crime_type": "burglary",
        }
    )
    short, long = (
        forecast_bands(
            events,
            cells,
            panel=panel,
            backtest=TimeBandsBacktest(available=True, reason=None, history_periods=h),
            config=CONFIG,
        )
        for h in (13, 52)
    )
    assert short.shares is not None and long.shares is not None
    assert short.shares.shape == (len(cells), 12)
    np.testing.assert_allclose(short.shares.sum(axis=1), 1.0)
    assert (short.shares[:, 6] > 0.5).all() and (long.shares[:, 2] > short.shares[:, 2]).all()
    none = forecast_bands(
        events,
        cells,
        panel=panel,
        backtest=TimeBandsBacktest(available=False, reason="only months"),
        config=CONFIG,
    )
    assert none.shares is None and none.reason == "only months"
    assert hours_note(none) == "No hours of the week: only months."


def test_the_publication_reads_only_the_windows_events_and_gets_the_same_bands(
    tmp_path: Path,
) -> None:
    """``read_forecast_bands`` reads the events from the window's first Monday on; the shares
    equal those of every event."""
    cells = toy_cells(6)
    panel = PanelMeta.from_json(
        panel_meta(all_periods=["2023-01-02", "2024-12-23"], forecast_period="2024-12-30")
    )
    weeks = pd.date_range("2023-01-02", "2024-12-23", freq="7D")
    rng = np.random.default_rng(3)
    n = 3_000
    stamps = np.sort(
        weeks[0].to_datetime64()
        + rng.integers(0, weeks.size * 7 * 24 * 60, n) * np.timedelta64(1, "m")
    )
    events = pd.DataFrame(
        {
            "h3_int": cells["h3_int"].to_numpy()[rng.integers(0, len(cells), n)],
            "timestamp": stamps,
            "crime_type": rng.choice(["burglary", "robbery", "drugs"], n),
        }
    )
    path = tmp_path / "event_cells.parquet"
    write_parquet(path, events, row_groups=[500] * 6)
    bands_json = tmp_path / "time_bands.json"
    backtest = TimeBandsBacktest(available=True, reason=None, history_periods=13)
    backtest.write(bands_json)
    start = window_start(panel.all_periods, history_periods=13)
    assert start == weeks[-13]
    read = read_forecast_bands(path, bands_json, cells, panel=panel, config=CONFIG)
    every = forecast_bands(events, cells, panel=panel, backtest=backtest, config=CONFIG)
    assert read.shares is not None and every.shares is not None
    np.testing.assert_array_equal(read.shares, every.shares)
    # the control: the window changes the shares, so the equality is not of a constant
    longer = forecast_bands(
        events,
        cells,
        panel=panel,
        backtest=TimeBandsBacktest(available=True, reason=None, history_periods=52),
        config=CONFIG,
    )
    assert longer.shares is not None and not np.array_equal(longer.shares, every.shares)
    # the rows read: those from the window's first Monday on
    kept = read_parquet(path, columns=("timestamp",), since=("timestamp", start))
    assert len(kept) == int((events["timestamp"] >= start).sum()) < n
    with pytest.raises(ValueError, match="has no column 'when'"):
        read_parquet(path, since=("when", start))
