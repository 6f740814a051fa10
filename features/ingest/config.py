"""The ``ingest`` params section: where the events and areas come from and how rows are judged."""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from beatwise.artefacts.quality import SourceKind
from features.ingest.area_mapping import AreaMapping
from features.ingest.mapped_csv import ColumnMapping

#: what becomes of an event outside every area polygon (``ingest.areas.outside_events``):
#: quarantined as ``outside_study_area``, or accepted with a null ``area_code``
OutsideEvents = Literal["quarantine", "keep"]

#: how the documents name the study area when ``ingest.place`` is null: a noun phrase, article
#: included; a real source gets a neutral phrase, never the loader's name
DEFAULT_PLACE_NAMES: Final[dict[str, str]] = {"synthetic": "the synthetic London-like city"}
NEUTRAL_PLACE_NAME: Final[str] = "the study area"
#: longest place name accepted: it is printed in titles
PLACE_MAX_CHARS: Final[int] = 80


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
    #: quarantine: events outside every polygon are quarantined as outside_study_area; keep: they
    #: are accepted with a null area_code and their cells join the study area with no residents
    outside_events: OutsideEvents = "quarantine"

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
        if self.kind == "none" and self.outside_events != "quarantine":
            raise ValueError(
                "ingest.areas.outside_events 'keep' needs area polygons; kind is 'none', so no "
                "event is judged against polygons and none is quarantined as outside them. "
                "Leave outside_events at 'quarantine'."
            )
        if self.outside_events == "keep" and self.coverage_min_rate_ratio is not None:
            # The coverage filter works by quarantining the events of uncovered districts as
            # outside the study area; keep would bring them back as cells without residents.
            raise ValueError(
                "ingest.areas.outside_events 'keep' cannot be combined with "
                f"ingest.areas.coverage_min_rate_ratio ({self.coverage_min_rate_ratio}): the "
                "coverage filter leaves uncovered districts out by quarantining their events as "
                "outside the study area, and 'keep' would bring them back as cells without "
                "residents. Set one of them: outside_events 'quarantine', or "
                "coverage_min_rate_ratio null."
            )
        return self


class IngestConfig(BaseModel):
    """Where the events come from and how to judge them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: SourceKind = "synthetic"
    #: the place's name as the documents print it ("St. Louis, Missouri"); null = the source's
    #: default (:attr:`place_name`)
    place: str | None = None
    #: folder holding the source's files; dvc.yaml makes it the stage's dependency
    data_dir: str = "data/raw/synthetic"
    #: the events inside data_dir: a file, a folder or (police_uk_api) an archive
    events: str = "events.parquet"
    #: files read from an events folder by mapped_csv (glob, relative to the folder)
    pattern: str = "**/*.csv"
    #: how mapped_csv reads its columns (features.ingest.mapped_csv.ColumnMapping)
    mapping: ColumnMapping | None = None
    areas: AreasConfig = AreasConfig()
    #: earliest credible event date (YYYY-MM-DD); earlier rows are quarantined as before_start
    start: dt.date | None = None
    #: latest credible event date (YYYY-MM-DD); later rows are quarantined. null = today.
    as_of: dt.date | None = None
    #: the largest share of the rows in scope (read less those excluded on purpose) that may be
    #: quarantined before the stage stops and says why; null lets any share through
    max_quarantine_share: float | None = Field(default=0.2, gt=0, le=1)

    @field_validator("place")
    @classmethod
    def _one_line_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip()
        if not name or len(name) > PLACE_MAX_CHARS or not name.isprintable():
            raise ValueError(
                f"ingest.place must be the place's name on one line, 1 to {PLACE_MAX_CHARS} "
                f"characters (e.g. 'St. Louis, Missouri'), or null. Got {value!r}."
            )
        return name

    @property
    def place_name(self) -> str:
        """How the documents name the study area: ``place``, or the source's default phrase
        (:data:`DEFAULT_PLACE_NAMES`; :data:`NEUTRAL_PLACE_NAME` for a real source)."""
        if self.place is not None:
            return self.place
        return DEFAULT_PLACE_NAMES.get(self.source, NEUTRAL_PLACE_NAME)

    @model_validator(mode="after")
    def _mapping_for_mapped(self) -> IngestConfig:
        if (self.source == "mapped_csv") != (self.mapping is not None):
            raise ValueError(
                "ingest.mapping is required for source 'mapped_csv' and only for it. "
                f"Got source {self.source!r} with mapping {'set' if self.mapping else 'null'}."
            )
        return self


class IngestSource(BaseModel):
    """``ingest.source`` alone, for a stage that only labels its results by the source.

    Such a stage declares ``ingest.source`` in ``dvc.yaml``, not the whole section, so that the
    weekly refresh (a new ``ingest.as_of``, another ``data_dir``) does not re-run it; the other
    keys are the ingest stage's, validated there (:class:`IngestConfig`).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: SourceKind = "synthetic"
