"""Stage ``ingest``: read raw events, validate every row, write clean events and the quarantine."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict

from beatwise.io import write_json, write_parquet
from features.events import detect_time_resolution, summarise_quality, validate_events
from features.sources import load_areas, load_synthetic_events
from pipelines._io import setup_logging, timed
from pipelines._params import StageParams, load_params

STAGE = "ingest"


class IngestConfig(BaseModel):
    """Where the events come from and how to judge them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["synthetic"] = "synthetic"
    #: latest credible event date (YYYY-MM-DD); later rows are quarantined. null = today.
    as_of: dt.date | None = None


class Params(StageParams):
    ingest: IngestConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=Path, required=True, help="raw events file")
    parser.add_argument("--areas", type=Path, required=True, help="area polygons (study area)")
    parser.add_argument("--out-events", type=Path, required=True)
    parser.add_argument("--out-quarantine", type=Path, required=True)
    parser.add_argument("--out-quality", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    cfg = load_params(STAGE, Params, args.params).ingest

    raw = load_synthetic_events(args.events)
    areas = load_areas(args.areas)
    as_of = pd.Timestamp(cfg.as_of or dt.date.today()) + pd.Timedelta(days=1) - pd.Timedelta(1)
    with timed(log, "validation"):
        result = validate_events(raw, areas=areas, as_of=as_of)
    quality = summarise_quality(result, by_file_read=raw["source_file"].value_counts())
    quality["source"] = cfg.source
    quality["time_resolution"] = detect_time_resolution(result.accepted["timestamp"])
    for reason, n in quality["by_reason"].items():
        log.warning("quarantined %d rows: %s", n, reason)
    log.info(
        "%d read = %d accepted + %d quarantined; dates %s to %s",
        result.rows_read,
        len(result.accepted),
        len(result.quarantine),
        quality["date_min"],
        quality["date_max"],
    )
    write_parquet(args.out_events, result.accepted)
    write_parquet(args.out_quarantine, result.quarantine)
    write_json(args.out_quality, quality)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
