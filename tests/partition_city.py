"""A toy city for the partitioned (Dask) panel: a few hundred resolution-8 cells over several
resolution-6 parents, with holes, and events whose types make the absent-type decision global.

Shared by ``tests/features/test_partitions.py`` and ``tests/pipelines/test_build_features_dask.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import yaml
from stage_files import data_quality, disc_cells, quarantine

#: small windows, both rings: the halo is two rings deep
FEATURES: dict[str, Any] = {
    "lags": [1, 2],
    "rolling_windows": [2, 5],
    "decay_half_lives": [1, 3],
    "rings": [1, 2],
    "since_cap": 10,
    "min_history_periods": 4,
    "period": "week",
}
#: bicycle theft has no event: absent from every partition and from the city
TARGET_TYPES = ["burglary", "robbery", "vehicle_crime", "bicycle_theft"]
#: a partition resolution two levels above the cells': parents of up to 49 cells
PARTITION_RESOLUTION = 6
#: weeks of hourly events, from Monday 2023-01-02
WEEKS = 16


def toy_cells() -> pd.DataFrame:
    """``cells.parquet``: the resolution-8 disc of 11 rings around central London (397 cells)
    with one cell in eight taken out, so partitions have ragged edges and halos have holes."""
    disc = disc_cells(51.5, -0.12, rings=11)
    keep = np.random.default_rng(7).random(len(disc)) >= 0.125
    cells = disc.loc[keep, ["h3_cell", "h3_int"]].reset_index(drop=True)
    cells["residents"] = np.random.default_rng(8).integers(0, 900, len(cells)).astype(float)
    return cells


def toy_events(cells: pd.DataFrame, *, n: int = 12_000) -> pd.DataFrame:
    """``event_cells.parquet``: hourly events in the study cells (and a few outside) of three
    types, none of bicycle theft; robbery is recorded in one cell only, so one partition alone
    sees it; a last incomplete week is left out by every build."""
    rng = np.random.default_rng(9)
    ids = cells["h3_int"].to_numpy()
    weight = rng.gamma(0.6, size=ids.size)
    h3_int = rng.choice(ids, size=n, p=weight / weight.sum())
    crime_type = rng.choice(["burglary", "vehicle_crime"], size=n)
    crime_type[:40] = "robbery"
    h3_int[:40] = ids[len(ids) // 3]
    h3_int[40:60] = h3.str_to_int(h3.latlng_to_cell(52.48, -1.9, 8))  # Birmingham: no study cell
    hours = rng.integers(0, WEEKS * 7 * 24 + 30, size=n)
    return pd.DataFrame(
        {
            "h3_int": h3_int,
            "timestamp": pd.Timestamp("2023-01-02") + pd.to_timedelta(hours, "h"),
            "crime_type": pd.Categorical(crime_type),
        }
    )


def write_stage_inputs(folder: Path, *, engine: dict[str, Any], refit_every: int = 1) -> list[str]:
    """The toy city's build_features inputs and params in ``folder``; returns the stage's CLI
    arguments (outputs in ``folder`` too)."""
    folder.mkdir(parents=True, exist_ok=True)
    cells = toy_cells()
    cells.to_parquet(folder / "cells.parquet")
    toy_events(cells).assign(source_file="events.csv").to_parquet(folder / "event_cells.parquet")
    quarantine(("2023-02-01 10:00", None)).to_parquet(folder / "quarantine.parquet")
    (folder / "data_quality.json").write_text(json.dumps(data_quality()))
    (folder / "cells_meta.json").write_text(
        json.dumps({"h3_resolution": 8, "n_cells": len(cells), "study_area": "events_only"})
    )
    params = {
        "features": {**FEATURES, "target_types": TARGET_TYPES},
        "covariates": {"static": ["residents"]},
        "refresh": {"refit_model_every": refit_every},
        "engine": engine,
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    names = ("cells", "cells-meta", "event-cells", "data-quality", "quarantine")
    files = ("cells.parquet", "cells_meta.json", "event_cells.parquet", "data_quality.json",
             "quarantine.parquet")  # fmt: skip
    outs = {
        "out-features": "features.parquet",
        "out-meta": "panel_meta.json",
        "out-fit-features": "fit/features.parquet",
        "out-fit-meta": "fit/panel_meta.json",
        "out-fit-events": "fit/event_cells.parquet",
        "out-fit-quality": "fit/data_quality.json",
        "params": "params.yaml",
    }
    pairs = [*zip(names, files, strict=True), *outs.items()]
    return [f"--{name}={folder / file}" for name, file in pairs]
