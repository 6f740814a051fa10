"""Loaders that turn each supported source into a raw canonical frame (see ``features.events``).

A loader reads, renames and records provenance (file, row); it judges nothing. Judging is
``features.events.validate_events``, so every source gets the same checks and reasons.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

log = logging.getLogger(__name__)

SYNTHETIC_EVENT_COLUMNS = ("crime_id", "timestamp", "crime_type", "latitude", "longitude")


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], *, where: Path) -> None:
    import difflib

    missing = [c for c in required if c not in frame.columns]
    if missing:
        hints = {
            m: difflib.get_close_matches(m, [str(c) for c in frame.columns], n=1) for m in missing
        }
        hint_text = "; ".join(f"'{m}' (closest: {h[0]!r})" for m, h in hints.items() if h)
        raise ValueError(
            f"{where}: missing required column(s) {missing}. Expected {list(required)}; "
            f"found {list(frame.columns)}." + (f" Did you mean: {hint_text}?" if hint_text else "")
        )


def load_synthetic_events(path: Path) -> pd.DataFrame:
    """Read the simulator's ``events.parquet`` into a raw canonical frame.

    Raises
    ------
    FileNotFoundError
        When the file does not exist (run the ``simulate`` stage first).
    ValueError
        When the file is empty or lacks the simulator's columns.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No synthetic events at {path}; run `dvc repro simulate` to generate them."
        )
    frame = pd.read_parquet(path)
    _require_columns(frame, SYNTHETIC_EVENT_COLUMNS, where=path)
    if frame.empty:
        raise ValueError(f"{path} holds no events; check the simulate params (scale, weeks).")
    log.info("read %d rows from %s", len(frame), path)
    return pd.DataFrame(
        {
            "source_file": path.name,
            "source_row": pd.RangeIndex(1, len(frame) + 1),
            "event_id": frame["crime_id"].astype("string"),
            "timestamp": frame["timestamp"],
            "crime_type": frame["crime_type"].astype("string"),
            "latitude": frame["latitude"],
            "longitude": frame["longitude"],
            "area_code": frame["area_code"].astype("string") if "area_code" in frame else pd.NA,
        }
    )


AREA_COLUMNS = ("area_code", "residents", "geometry")


def load_areas(path: Path) -> gpd.GeoDataFrame:
    """Read area polygons with attributes (GeoParquet or any file geopandas reads), in EPSG:4326."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No area polygons at {path}.")
    areas = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    _require_columns(areas, AREA_COLUMNS, where=path)
    if areas.empty:
        raise ValueError(f"{path} holds no area polygons.")
    if areas.crs is None:
        raise ValueError(f"{path} has no CRS; Beatwise cannot place its polygons.")
    return areas.to_crs("EPSG:4326")
