"""``reports/data_quality.json``: what the ingest stage read, accepted and quarantined, and why.

Written by the ingest stage (``features.ingest.quality`` builds it); read by ``build_cells`` (the
source, which bounds the H3 resolution) and ``build_features`` (the source and the time
resolution, which decide the period). ``build_features`` writes the same record counted over the
rows dated before the refresh's fit point ends (``data/processed/fit/data_quality.json``,
``features.refresh.quality_through``), which the bias report prints (every count, by reason and
by file, and the study area). Counts always add up: accepted + quarantined = read, overall and
in every file. Rows a column mapping leaves out of scope on purpose are quarantined as
``excluded_category`` and counted apart (``rows_excluded``) from the problems, whose share
``ingest.max_quarantine_share`` bounds.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact
from beatwise.period import TimeResolution

#: the sources the ingest stage reads (``ingest.source``)
SourceKind = Literal["synthetic", "police_uk_csv", "police_uk_api", "mapped_csv"]
#: each source in words, as the documents describe the data: never the loader's name
SOURCE_WORDS: Final[dict[str, str]] = {
    "synthetic": "events simulated for the synthetic city",
    "police_uk_csv": "data.police.uk street-level crime records (CSV files)",
    "police_uk_api": "data.police.uk street-level crime records (API)",
    "mapped_csv": "crime records read from delimited files through a column mapping",
}
#: why a source file holds no rows: no bytes at all (what an interrupted download leaves), bytes
#: but no header (blank lines, a lone byte-order mark), or a header and no data rows
EmptyFileReason = Literal["zero_bytes", "no_header", "header_only"]


class _Part(BaseModel):
    """A nested record of the file: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FileQuality(_Part):
    """One source file's rows: read = accepted + quarantined, and the quarantined by reason."""

    read: int = Field(ge=0)
    accepted: int = Field(ge=0)
    quarantined: int = Field(ge=0)
    #: reason code -> rows; reasons with no rows are left out
    by_reason: dict[str, int]


class DistrictCoverage(_Part):
    """The evidence for one district: its events, residents, land and rates against the median."""

    events: int = Field(ge=0)
    residents: float
    area_km2: float
    #: null where the district has no residents (or no land) to divide by
    events_per_1k_residents: float | None
    events_per_km2: float | None
    ratio_residents: float | None
    ratio_area: float | None
    covered: bool


class Coverage(_Part):
    """Which districts the events cover (``ingest.areas.coverage_min_rate_ratio``) and why."""

    #: the rule applied, in words
    rule: str
    covered: list[str]
    uncovered: list[str]
    #: accepted events that lie in no area (before the study area was restricted)
    events_outside_areas: int = Field(ge=0)
    districts: dict[str, DistrictCoverage]


class GroupOrigin(_Part):
    """How one of the areas' attributes behind the audit's groups was made, in one sentence."""

    #: the areas' columns it made, e.g. ``["residents_minority", "residents_majority"]``
    columns: list[str]
    #: how, in plain English, naming the table and column read: "Deprivation fifths are
    #: population-weighted quintiles of 'pct_poverty' in table 'tracts'; ..."
    sentence: str


class StudyAreas(_Part):
    """The study area of a source with areas (``ingest.areas.kind`` prepared or mapped)."""

    kind: Literal["prepared", "mapped"]
    n_areas: int = Field(ge=0)
    residents: float
    #: the optional audit attributes the areas carry, sorted
    attributes: list[str]
    #: accepted events outside every polygon (``ingest.areas.outside_events: keep``; their cells
    #: are study cells without residents); files written before the option hold none, so 0
    events_outside_polygons: int = Field(default=0, ge=0)
    #: present only when the areas were restricted to the districts the events cover
    coverage: Coverage | None = Field(default=None, exclude_if=lambda value: value is None)
    #: how the residents and each group attribute were made (read directly, from shares or
    #: percentages, from ranks, from quantiles of a score), for the bias report
    how_groups_made: list[GroupOrigin] = Field(default_factory=list)


class NoAreas(_Part):
    """A source without areas (``ingest.areas.kind: none``): the study area is the event cells."""

    kind: Literal["none"]
    n_areas: Literal[0]
    residents: None
    note: str


class DataQuality(Artefact):
    """``reports/data_quality.json``: rows read, accepted and quarantined, by reason and file."""

    source: SourceKind
    #: how the documents name the study area (``ingest.place``, or the source's default phrase)
    place: str = Field(min_length=1)
    rows_read: int = Field(ge=0)
    rows_accepted: int = Field(ge=0)
    rows_quarantined: int = Field(ge=0)
    #: reason code -> rows quarantined for it (reasons with no rows are left out)
    by_reason: dict[str, int]
    #: reason code -> what it means, for the reasons in ``by_reason``
    reason_meanings: dict[str, str]
    #: rows quarantined as ``excluded_category``: out of scope on purpose (the mapping's
    #: ``unmapped_categories: exclude``), part of ``rows_quarantined`` but not a data problem
    rows_excluded: int = Field(default=0, ge=0)
    #: the other quarantined rows (the problems) as a share of the rows in scope (read - excluded)
    quarantine_share: float | None = Field(default=None, ge=0, le=1)
    #: ``ingest.max_quarantine_share``, the largest ``quarantine_share`` the stage lets through;
    #: null when no bound was set
    max_quarantine_share: float | None = Field(default=None, ge=0, le=1)
    #: source file (as in the quarantine's ``source_file``) -> its rows
    by_source_file: dict[str, FileQuality]
    #: source file that held no rows -> why: read as a period without crime, so an interrupted
    #: download shows here (and in the stage's warnings) instead of as a quiet month
    empty_files: dict[str, EmptyFileReason] = Field(default_factory=dict)
    #: canonical crime type -> accepted events (types with none are left out)
    accepted_by_type: dict[str, int]
    #: first and last accepted timestamp, ``YYYY-MM-DD HH:MM`` (local wall-clock time)
    date_min: str
    date_max: str
    #: how finely the accepted timestamps resolve time; decides weekly or monthly periods
    time_resolution: TimeResolution
    areas: StudyAreas | NoAreas = Field(discriminator="kind")

    @model_validator(mode="after")
    def _counts_add_up(self) -> DataQuality:
        if self.rows_accepted + self.rows_quarantined != self.rows_read:
            raise ValueError(
                f"rows_accepted ({self.rows_accepted}) + rows_quarantined "
                f"({self.rows_quarantined}) must equal rows_read ({self.rows_read})"
            )
        if sum(self.by_reason.values()) != self.rows_quarantined:
            raise ValueError(
                f"by_reason must sum to rows_quarantined ({self.rows_quarantined}); it sums to "
                f"{sum(self.by_reason.values())}"
            )
        if self.rows_excluded != self.by_reason.get("excluded_category", 0):
            raise ValueError(
                f"rows_excluded ({self.rows_excluded}) must equal by_reason['excluded_category'] "
                f"({self.by_reason.get('excluded_category', 0)})"
            )
        for name, counts in self.by_source_file.items():
            if counts.accepted + counts.quarantined != counts.read:
                raise ValueError(
                    f"by_source_file[{name!r}]: accepted ({counts.accepted}) + quarantined "
                    f"({counts.quarantined}) must equal read ({counts.read})"
                )
        return self
