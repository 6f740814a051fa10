"""The synthetic city's events (``simulate``'s ``events.parquet``) as a raw canonical frame.

Its areas are a prepared areas file, read by :func:`features.ingest.areas.read_areas`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from beatwise.io import release_arrow_memory
from features.ingest.parsing import require_columns

log = logging.getLogger(__name__)

SYNTHETIC_EVENT_COLUMNS: Final[tuple[str, ...]] = (
    "crime_id",
    "timestamp",
    "crime_type",
    "latitude",
    "longitude",
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
    # Only the columns ingest keeps: the file also holds police.uk's descriptive text columns
    # (location, outcome, ...), which would treble the read's memory.
    names = pq.read_schema(path).names
    require_columns(pd.DataFrame(columns=names), SYNTHETIC_EVENT_COLUMNS, where=path)
    wanted = [*SYNTHETIC_EVENT_COLUMNS, *(["area_code"] if "area_code" in names else [])]
    # The labels and area codes repeat (a dozen types, thousands of areas): read as categories,
    # a code per row rather than a string, a third of the frame at ten million rows.
    table = pq.read_table(path, columns=wanted, read_dictionary=["crime_type", "area_code"])
    frame = table.to_pandas()
    del table
    release_arrow_memory()
    if frame.empty:
        raise ValueError(f"{path} holds no events; check the simulate params (scale, weeks).")
    log.info("read %d rows from %s", len(frame), path)
    rows = len(frame)
    return pd.DataFrame(
        {
            "source_file": pd.Categorical.from_codes(np.zeros(rows, np.int8), [path.name]),
            "source_row": pd.RangeIndex(1, rows + 1),
            "event_id": frame["crime_id"].astype("string"),
            "timestamp": frame["timestamp"],
            "crime_type": frame["crime_type"],
            "latitude": frame["latitude"],
            "longitude": frame["longitude"],
            "area_code": frame.get("area_code", pd.NA),
        }
    )
