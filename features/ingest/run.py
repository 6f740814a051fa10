"""The ingest stage as one call: read the configured source and areas, judge every row, summarise.

:func:`run_ingest` reads the events with the source's loader and the areas with theirs, validates
every row (:func:`features.ingest.validation.validate_events`), keeps the districts the events
cover when asked (:mod:`features.ingest.coverage`), stops when too many rows in scope were
quarantined (``ingest.max_quarantine_share``) and summarises the result
(:func:`features.ingest.quality.summarise_quality`). It writes nothing; the stage does.
:func:`judge_source` is its first half (read and validate), which ``beatwise check-source``
reports on without stopping.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from beatwise.artefacts.quality import DataQuality
from features.ingest.areas import empty_areas, load_area_attributes, read_areas
from features.ingest.config import AreasConfig, IngestConfig
from features.ingest.coverage import (
    CoverageResult,
    covered_districts,
    districts_of_events,
    restrict_to_covered,
)
from features.ingest.mapped_csv import read_mapped_csv
from features.ingest.parsing import POLICE_UK_TIME_FORMAT, RawSource, require_file
from features.ingest.police_uk_api import read_police_uk_api_json
from features.ingest.police_uk_csv import read_police_uk_street_csv
from features.ingest.quality import (
    log_quality,
    require_quarantine_share,
    summarise_areas,
    summarise_quality,
)
from features.ingest.synthetic import load_synthetic_events
from features.ingest.validation import ValidatedEvents, validate_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What the ingest stage writes: clean events, quarantine, study areas, data quality."""

    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    #: the study areas (covered districts only); no rows for a source without areas
    areas: gpd.GeoDataFrame
    quality: DataQuality


@dataclass(frozen=True)
class JudgedSource:
    """Every row read, accepted or quarantined, with what the summary needs besides."""

    result: ValidatedEvents
    #: rows read per source file
    by_file_read: pd.Series
    source: RawSource
    #: the study areas (covered districts only), None for a source without areas
    areas: gpd.GeoDataFrame | None
    coverage: CoverageResult | None


def read_source(
    cfg: IngestConfig, data_dir: Path, *, max_rows: int | None = None
) -> tuple[RawSource, str | None]:
    """What the configured source's loader read, and the time format to validate with.

    ``max_rows`` keeps the first rows read (a quick look); None keeps every row.
    """
    events = data_dir / cfg.events
    if not events.exists():
        if events.is_symlink():  # a link that loops or leads nowhere: say which
            require_file(events, what=f"{cfg.source} source's file or folder")
        raise FileNotFoundError(
            f"No input at {events} (ingest.data_dir {cfg.data_dir!r} + ingest.events "
            f"{cfg.events!r}); expected the {cfg.source} source's file or folder."
        )
    if cfg.source != "mapped_csv":
        if cfg.source == "synthetic":
            source = RawSource(events=load_synthetic_events(events), empty_files={})
        elif cfg.source == "police_uk_csv":
            source = read_police_uk_street_csv(events)
        else:
            source = read_police_uk_api_json(events)
        if max_rows is not None:
            source = RawSource(events=source.events.head(max_rows), empty_files=source.empty_files)
        return source, None if cfg.source == "synthetic" else POLICE_UK_TIME_FORMAT
    assert cfg.mapping is not None  # validated
    if events.is_dir():
        # Every match, folders and links included: what is not a regular file is refused by
        # name rather than skipped, so a month is never dropped without a word.
        paths = sorted(events.glob(cfg.pattern))
        if not paths:
            raise FileNotFoundError(
                f"No input files: nothing in {events} matches ingest.pattern {cfg.pattern!r}."
            )
    else:
        paths = [events]
    root = events if events.is_dir() else None
    source = read_mapped_csv(paths, mapping=cfg.mapping, root=root, max_rows=max_rows)
    return source, cfg.mapping.time_format


def read_source_areas(cfg: AreasConfig, data_dir: Path) -> gpd.GeoDataFrame | None:
    """The area polygons with their attributes, in EPSG:4326, or None for ``kind: none``."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "prepared":
        assert cfg.path is not None  # validated
        return read_areas(data_dir / cfg.path)
    assert cfg.mapping is not None  # validated
    return load_area_attributes(cfg.mapping, base_dir=data_dir).to_crs("EPSG:4326")


def run_ingest(cfg: IngestConfig, *, data_dir: Path, today: dt.date | None = None) -> IngestResult:
    """Read, validate and summarise the configured source (the ``ingest`` stage's work).

    Parameters
    ----------
    cfg
        The ``ingest`` params section.
    data_dir
        The source's folder (``ingest.data_dir``, as DVC passes it).
    today
        The as-of date when ``ingest.as_of`` is null (default: the day it runs).

    Raises
    ------
    FileNotFoundError
        When ``data_dir`` or the source's input does not exist.
    features.ingest.quality.QuarantineShareError
        When the rows quarantined for problems exceed ``ingest.max_quarantine_share`` of the
        rows in scope (a ``ValueError``).
    ValueError
        When a loader refuses its input, or no row is accepted.
    """
    judged = judge_source(cfg, data_dir=data_dir, today=today)
    require_quarantine_share(judged.result, max_share=cfg.max_quarantine_share)
    quality = summarise_quality(
        judged.result,
        by_file_read=judged.by_file_read,
        empty_files=judged.source.empty_files,
        source=cfg.source,
        place=cfg.place_name,
        areas=summarise_areas(
            judged.areas,
            kind=cfg.areas.kind,
            accepted_area_code=judged.result.accepted["area_code"],
            coverage=judged.coverage,
            mapping=cfg.areas.mapping,
        ),
        max_quarantine_share=cfg.max_quarantine_share,
    )
    log_quality(quality)
    return IngestResult(
        accepted=judged.result.accepted,
        quarantine=judged.result.quarantine,
        areas=judged.areas if judged.areas is not None else empty_areas(),
        quality=quality,
    )


def judge_source(
    cfg: IngestConfig,
    *,
    data_dir: Path,
    today: dt.date | None = None,
    max_rows: int | None = None,
) -> JudgedSource:
    """Read the configured source and areas and validate every row, stopping at nothing.

    Parameters
    ----------
    cfg
        The ``ingest`` params section.
    data_dir
        The source's folder (``ingest.data_dir``, as DVC passes it).
    today
        The as-of date when ``ingest.as_of`` is null (default: the day it runs).
    max_rows
        Validate only the first rows read, in file order (None: all).

    Raises
    ------
    FileNotFoundError
        When ``data_dir`` or the source's input does not exist.
    ValueError
        When a loader refuses its input.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"The source folder {data_dir} does not exist; ingest.data_dir must name the "
            "folder holding the source's files (see the presets in the README)."
        )
    source, time_format = read_source(cfg, data_dir, max_rows=max_rows)
    raw = source.events
    areas = read_source_areas(cfg.areas, data_dir)
    as_of_day = cfg.as_of or today or dt.date.today()
    as_of = pd.Timestamp(as_of_day) + pd.Timedelta(days=1) - pd.Timedelta(1)
    not_before = None if cfg.start is None else pd.Timestamp(cfg.start)

    def validate(study_areas: gpd.GeoDataFrame | None) -> ValidatedEvents:
        return validate_events(
            raw,
            areas=study_areas,
            as_of=as_of,
            time_format=time_format,
            time_zone=None if cfg.mapping is None else cfg.mapping.time_zone,
            not_before=not_before,
            outside_events=cfg.areas.outside_events,
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
    return JudgedSource(
        result=result,
        by_file_read=raw["source_file"].value_counts(),
        source=source,
        areas=areas,
        coverage=coverage,
    )
