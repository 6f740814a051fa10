"""The ``ingest`` params section: where the events and areas come from and how rows are judged."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts.quality import SourceKind
from features.ingest.area_mapping import AreaMapping
from features.ingest.mapped_csv import ColumnMapping


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

    source: SourceKind = "synthetic"
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

    @model_validator(mode="after")
    def _mapping_for_mapped(self) -> IngestConfig:
        if (self.source == "mapped_csv") != (self.mapping is not None):
            raise ValueError(
                "ingest.mapping is required for source 'mapped_csv' and only for it. "
                f"Got source {self.source!r} with mapping {'set' if self.mapping else 'null'}."
            )
        return self
