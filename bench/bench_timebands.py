"""Benchmark: time-band shares of the flagged cells against the synthetic city's true rhythm.

On the backtest weeks of the last ``dvc repro`` (synthetic city), every flagged cell-week gets
its band shares from the events before its week (``models.timebands``), and a true profile: the
simulator's expected count of each target type in that cell and week (its truth model) times
that type's hour-of-week profile. Prints the total-variation distance between the two (0: the
same shares; 1: disjoint), its median and 90th percentile, beside the city-wide profile's and the
hours of the week's as controls, and the calibration by band over the backtest.

Run from the repository root after ``dvc repro``::

    PYTHONPATH=. .venv/bin/python bench/bench_timebands.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from beatwise.artefacts.panel import PanelMeta
from beatwise.io import read_parquet
from models.timebands import (
    TimeBandsConfig,
    band_counts,
    band_duration_shares,
    band_shares,
    bands_of_hour_of_week,
    city_profile,
    neighbour_matrix,
    window_counts,
)
from models.timebands_backtest import band_calibration, choose_history
from simcity.config import load_city_config
from simcity.intensity import hour_of_week_profiles
from simcity.truth import load_truth_model


def main() -> None:
    if not Path("data/processed/backtest.parquet").is_file():
        sys.exit("Run `dvc repro` first: this benchmark reads the backtest of the default city.")
    config = TimeBandsConfig()
    panel = PanelMeta.read("data/processed/panel_meta.json")
    cells = read_parquet(Path("data/processed/cells.parquet"), columns=("h3_cell", "h3_int"))
    events = read_parquet(
        Path("data/processed/event_cells.parquet"), columns=("h3_int", "timestamp", "crime_type")
    )
    events = events[events["crime_type"].isin(panel.target_types)]
    backtest = read_parquet(Path("data/processed/backtest.parquet"))
    started = time.perf_counter()
    weeks = pd.date_range(panel.all_periods[0], panel.all_periods[1], freq="7D")
    position = np.searchsorted(cells["h3_int"].to_numpy(), events["h3_int"].to_numpy())
    counts = band_counts(
        position, events["timestamp"], week_starts=weeks, n_cells=len(cells), config=config
    )
    test_weeks = np.sort(backtest["period_start"].unique())
    rows = np.searchsorted(weeks.to_numpy(), test_weeks)
    neighbours = neighbour_matrix(cells["h3_int"].to_numpy(), rings=config.neighbour_rings)
    weeks, _ = choose_history(counts, int(rows.min()), neighbours=neighbours, config=config)
    config = config.model_copy(update={"history_periods": weeks})
    shares = band_shares(counts, rows, neighbours=neighbours, config=config)
    seconds = time.perf_counter() - started

    city_config = load_city_config("params.yaml")
    profiles = bands_of_hour_of_week(hour_of_week_profiles(city_config), config)
    by_name = dict(zip(city_config.type_names, profiles, strict=True))
    truth = load_truth_model("data/interim/truth")
    ids = cells["h3_int"].to_numpy()
    true_counts = np.zeros((len(rows), len(cells), config.n_bands))
    for name in panel.target_types:
        expected = truth.expected_counts(ids, test_weeks, [name], kind="recorded")
        true_counts += expected[..., None] * by_name[name][None, None, :]
    totals = true_counts.sum(axis=2, keepdims=True)
    true_shares = np.divide(true_counts, totals, out=np.zeros_like(true_counts), where=totals > 0)

    order = backtest.sort_values(["period_start", "h3_cell"])
    flagged = order["flagged"].to_numpy().reshape(len(rows), len(cells))
    expected = order["risk_score"].to_numpy().reshape(len(rows), len(cells))
    city = city_profile(window_counts(counts, rows, config=config), config=config)

    def distance(estimate: np.ndarray) -> np.ndarray:
        return (0.5 * np.abs(estimate - true_shares).sum(axis=2))[flagged]

    for label, estimate in (
        ("cell + neighbours, shrunk to cells of like activity", shares),
        ("the city's profile (control)", np.broadcast_to(city[:, None, :], shares.shape)),
        (
            "the hours of the week (control)",
            np.broadcast_to(band_duration_shares(config), shares.shape),
        ),
    ):
        d = distance(estimate)
        print(f"{label}: TV distance median {np.median(d):.4f}, p90 {np.quantile(d, 0.9):.4f}")
    print(f"history window chosen on the weeks before the backtest: {weeks} weeks")
    print(
        f"{int(flagged.sum())} flagged cell-weeks over {len(rows)} weeks; shares in {seconds:.2f} s"
    )
    observed = counts[rows]
    table = band_calibration(shares, expected, observed, flagged, config=config)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
