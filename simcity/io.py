"""Write and read the synthetic city files (``data/raw/synthetic/``, see docs/architecture.md).

Every file goes through the project's atomic writers (``beatwise.io``: a temporary name in its
folder, renamed into place), and every writer is deterministic: the same city gives the same bytes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa

from beatwise.io import write_parquet, write_table_chunks, write_text
from simcity.episodes import places_frame
from simcity.generate import SimulatedCity

logger = logging.getLogger(__name__)

#: Column order and Arrow types of events.parquet (the contract in docs/architecture.md).
EVENT_SCHEMA = pa.schema(
    [
        ("crime_id", pa.string()),
        ("timestamp", pa.timestamp("ns")),
        ("month", pa.string()),
        ("reported_by", pa.string()),
        ("falls_within", pa.string()),
        ("longitude", pa.float64()),
        ("latitude", pa.float64()),
        ("location", pa.string()),
        ("area_code", pa.string()),
        ("area_name", pa.string()),
        ("crime_type", pa.string()),
        ("knife_enabled", pa.bool_()),
        ("last_outcome_category", pa.string()),
        ("context", pa.string()),
    ]
)


def write_city(city: SimulatedCity, out_dir: Path) -> None:
    """Write events.parquet, areas.parquet, districts.parquet, places.csv and truth/ into
    ``out_dir``.

    Creates ``out_dir`` if needed; each file is replaced atomically. Byte-identical for the same
    seed and configuration.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_events(city.events, out_dir / "events.parquet")
    write_parquet(out_dir / "areas.parquet", city.areas)
    write_parquet(out_dir / "districts.parquet", city.districts)
    write_places(city, out_dir / "places.csv")
    city.truth.save(out_dir / "truth")
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    logger.info(
        "Wrote %d events, %d areas, %d districts and the truth model to %s (%.1f MB, %.1fs)",
        len(city.events), len(city.areas), len(city.districts), out_dir, size / 1e6,
        time.perf_counter() - t0,
    )  # fmt: skip


def write_places(city: SimulatedCity, path: Path) -> None:
    """Write the city's place covariates as places.csv (``kind, lon, lat, opened, closed``; the
    contract in docs/synthetic-city.md): stations, shops, town centres, and the places of the
    episodes whose kind has a ``place_kind`` (a venue opens at its episode's onset)."""
    places = places_frame(city.intensity.episodes, city.geography, origin=city.intensity.origin)
    write_text(path, places.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    logger.info("Wrote %d places (%s) to %s", len(places),
                ", ".join(f"{k} {n}" for k, n in places["kind"].value_counts(sort=False).items()),
                path)  # fmt: skip


def events_to_arrow(events: pd.DataFrame) -> pa.Table:
    """The events frame as an Arrow table with plain string columns (no pandas metadata)."""
    columns = []
    for fld in EVENT_SCHEMA:
        series = events[fld.name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = pa.array(series.cat.codes.to_numpy(), mask=series.cat.codes.to_numpy() < 0)
            cats = pa.array(list(series.cat.categories), type=pa.string())
            arr = pa.DictionaryArray.from_arrays(codes, cats).cast(fld.type)
        elif fld.type == pa.timestamp("ns"):
            arr = pa.array(series.to_numpy().astype("datetime64[ns]"), type=fld.type)
        else:
            arr = pa.array(series.to_numpy(), type=fld.type)
        columns.append(arr)
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)


def _write_events(events: pd.DataFrame, path: Path, *, chunk_rows: int = 1 << 20) -> None:
    """Write events in row groups converted one at a time, so memory stays ~one chunk."""
    chunks = (
        events_to_arrow(events.iloc[first : first + chunk_rows])
        for first in range(0, max(len(events), 1), chunk_rows)
    )
    write_table_chunks(path, EVENT_SCHEMA, chunks)


def read_events(path: Path | str) -> pd.DataFrame:
    """Read events.parquet (string columns as pandas strings)."""
    return pd.read_parquet(path)


def read_city_areas(path: Path | str) -> gpd.GeoDataFrame:
    """Read areas.parquet (EPSG:4326)."""
    return gpd.read_parquet(path)


def read_city_districts(path: Path | str) -> gpd.GeoDataFrame:
    """Read districts.parquet (EPSG:4326)."""
    return gpd.read_parquet(path)
