"""Stage ``ingest``: read a source's raw events and areas, validate every row, keep the study area.

Writes the accepted events, the quarantine (every refused row with its reason), the study areas
(polygons with the audit's resident groups, restricted to the districts the data cover) and the
data-quality summary that the bias report prints. Accepted + quarantined = read, checked here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.io import write_json, write_parquet
from features.areas import (
    AreaMapping,
    CoverageResult,
    covered_districts,
    districts_of_events,
    empty_areas,
    load_area_attributes,
    restrict_to_covered,
)
from features.events import (
    ValidatedEvents,
    detect_time_resolution,
    summarise_quality,
    validate_events,
)
from features.sources import (
    POLICE_UK_TIME_FORMAT,
    ColumnMapping,
    load_areas,
    load_mapped_csv,
    load_police_uk_api_json,
    load_police_uk_street_csv,
    load_synthetic_events,
)
from pipelines._io import setup_logging, timed
from pipelines._params import StageParams, load_params

STAGE = "ingest"
Source = Literal["synthetic", "police_uk_csv", "police_uk_api", "mapped_csv"]


class AreasConfig(BaseModel):
    """Area polygons and attributes: the study area and the audit's groups of residents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: prepared: a GeoParquet/GeoPackage with the contract columns (the simulator writes one);
    #: mapped: boundaries and attribute tables joined through ``mapping``; none: the source has
    #: no areas, so the study area is the cells with events and the group gates cannot pass.
    kind: Literal["prepared", "mapped", "none"] = "prepared"
    path: str | None = "areas.parquet"
    mapping: AreaMapping | None = None
    #: a district is in the study area when its events per resident reach this share of the
    #: median district's (sources that cover part of the city); null keeps every area.
    coverage_min_rate_ratio: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _consistent(self) -> AreasConfig:
        if self.kind == "prepared" and not self.path:
            raise ValueError("ingest.areas.kind 'prepared' needs ingest.areas.path (a file).")
        if self.kind == "mapped" and self.mapping is None:
            raise ValueError("ingest.areas.kind 'mapped' needs ingest.areas.mapping.")
        if self.kind == "none" and self.coverage_min_rate_ratio is not None:
            raise ValueError(
                "ingest.areas.coverage_min_rate_ratio needs areas with residents; kind is 'none'."
            )
        return self


class IngestConfig(BaseModel):
    """Where the events come from and how to judge them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source = "synthetic"
    #: folder holding the source's files; dvc.yaml makes it the stage's dependency
    data_dir: str = "data/raw/synthetic"
    #: the events inside data_dir: a file, a folder or (police_uk_api) an archive
    events: str = "events.parquet"
    #: files read from an events folder by mapped_csv (glob, relative to the folder)
    pattern: str = "**/*.csv"
    #: how mapped_csv reads its columns (features.sources.ColumnMapping)
    mapping: ColumnMapping | None = None
    areas: AreasConfig = AreasConfig()
    #: earliest credible event date (YYYY-MM-DD); earlier rows are quarantined as before_start
    start: dt.date | None = None
    #: latest credible event date (YYYY-MM-DD); later rows are quarantined. null = today.
    as_of: dt.date | None = None

    @model_validator(mode="after")
    def _mapping_for_mapped(self) -> IngestConfig:
        if (self.source == "mapped_csv") != (self.mapping is not None):
            raise ValueError(
                "ingest.mapping is required for source 'mapped_csv' and only for it. "
                f"Got source {self.source!r} with mapping {'set' if self.mapping else 'null'}."
            )
        return self


class Params(StageParams):
    ingest: IngestConfig


def read_source(cfg: IngestConfig, data_dir: Path) -> tuple[pd.DataFrame, str | None]:
    """The raw canonical frame of the configured source and the time format to validate with."""
    events = data_dir / cfg.events
    if not events.exists():
        raise FileNotFoundError(
            f"No input at {events} (ingest.data_dir {cfg.data_dir!r} + ingest.events "
            f"{cfg.events!r}); expected the {cfg.source} source's file or folder."
        )
    if cfg.source == "synthetic":
        return load_synthetic_events(events), None
    if cfg.source == "police_uk_csv":
        return load_police_uk_street_csv(events), POLICE_UK_TIME_FORMAT
    if cfg.source == "police_uk_api":
        return load_police_uk_api_json(events), POLICE_UK_TIME_FORMAT
    assert cfg.mapping is not None  # validated
    if events.is_dir():
        paths = sorted(p for p in events.glob(cfg.pattern) if p.is_file())
        if not paths:
            raise FileNotFoundError(
                f"No input files: nothing in {events} matches ingest.pattern {cfg.pattern!r}."
            )
    else:
        paths = [events]
    return load_mapped_csv(paths, mapping=cfg.mapping, root=events if events.is_dir() else None), (
        cfg.mapping.time_format
    )


def read_areas(cfg: AreasConfig, data_dir: Path) -> gpd.GeoDataFrame | None:
    """The area polygons with their attributes, in EPSG:4326, or None for ``kind: none``."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "prepared":
        assert cfg.path is not None  # validated
        return load_areas(data_dir / cfg.path)
    assert cfg.mapping is not None  # validated
    return load_area_attributes(cfg.mapping, base_dir=data_dir).to_crs("EPSG:4326")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="the source's folder (ingest.data_dir)"
    )
    parser.add_argument("--out-events", type=Path, required=True)
    parser.add_argument("--out-quarantine", type=Path, required=True)
    parser.add_argument("--out-areas", type=Path, required=True)
    parser.add_argument("--out-quality", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    cfg = load_params(STAGE, Params, args.params).ingest
    if not args.data_dir.is_dir():
        raise FileNotFoundError(
            f"The source folder {args.data_dir} does not exist; ingest.data_dir must name the "
            "folder holding the source's files (see the presets in the README)."
        )

    with timed(log, f"reading the {cfg.source} source"):
        raw, time_format = read_source(cfg, args.data_dir)
    with timed(log, f"reading the areas ({cfg.areas.kind})"):
        areas = read_areas(cfg.areas, args.data_dir)
    as_of = pd.Timestamp(cfg.as_of or dt.date.today()) + pd.Timedelta(days=1) - pd.Timedelta(1)
    not_before = None if cfg.start is None else pd.Timestamp(cfg.start)

    def validate(study_areas: gpd.GeoDataFrame | None) -> ValidatedEvents:
        with timed(log, "validation"):
            return validate_events(
                raw,
                areas=study_areas,
                as_of=as_of,
                time_format=time_format,
                time_zone=None if cfg.mapping is None else cfg.mapping.time_zone,
                not_before=not_before,
            )

    result = validate(areas)
    coverage: CoverageResult | None = None
    if areas is not None and cfg.areas.coverage_min_rate_ratio is not None:
        coverage = covered_districts(
            districts_of_events(result.accepted["area_code"], areas),
            areas,
            min_rate_ratio=cfg.areas.coverage_min_rate_ratio,
        )
        if coverage.uncovered:
            # Validate again against the covered districts only, so the events in districts the
            # source does not cover (edge spill-over) are quarantined as outside the study area.
            areas = restrict_to_covered(areas, coverage).reset_index(drop=True)
            result = validate(areas)
    quality = summarise_quality(result, by_file_read=raw["source_file"].value_counts())
    quality["source"] = cfg.source
    quality["time_resolution"] = detect_time_resolution(result.accepted["timestamp"])
    quality["areas"] = _areas_summary(cfg.areas, areas, coverage)
    _log_quality(log, quality)
    write_parquet(args.out_events, result.accepted)
    write_parquet(args.out_quarantine, result.quarantine)
    write_parquet(args.out_areas, areas if areas is not None else empty_areas())
    write_json(args.out_quality, quality)
    return 0


def _areas_summary(
    cfg: AreasConfig, areas: gpd.GeoDataFrame | None, coverage: CoverageResult | None
) -> dict:
    """What the bias report says about the study area and its attribute data."""
    if areas is None:
        return {
            "kind": "none",
            "n_areas": 0,
            "residents": None,
            "note": "The source has no area polygons or resident attributes: the study area is "
            "the cells where events were recorded, and the audit cannot judge groups.",
        }
    summary: dict = {
        "kind": cfg.kind,
        "n_areas": len(areas),
        "residents": float(areas["residents"].sum()),
        "attributes": sorted(
            c
            for c in (
                "residents_minority",
                "residents_majority",
                "deprivation_decile",
                "deprivation_score",
            )
            if c in areas.columns
        ),
    }
    if coverage is not None:
        summary["coverage"] = coverage.as_dict()
    return summary


def _log_quality(log: logging.Logger, quality: dict) -> None:
    for reason, n in quality["by_reason"].items():
        log.warning("quarantined %d rows: %s", n, reason)
    log.info(
        "%d read = %d accepted + %d quarantined; dates %s to %s (%s resolution)",
        quality["rows_read"],
        quality["rows_accepted"],
        quality["rows_quarantined"],
        quality["date_min"],
        quality["date_max"],
        quality["time_resolution"],
    )


if __name__ == "__main__":
    raise SystemExit(main())
