"""How a boundaries file and attribute tables become the areas contract: :class:`AreaMapping`.

The ``ingest.areas.mapping`` params section validates into these models; the reading itself is
:func:`features.ingest.areas.load_area_attributes`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import PurePath
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.ingest.parsing import known_encoding

#: Reserved table name: attributes read from the boundaries file's own columns.
BOUNDARIES: Final[str] = "boundaries"

#: Attribute tables with these suffixes are spreadsheets, read through GDAL (pyogrio) sheet by
#: sheet, so no spreadsheet library is needed; anything else is read as CSV (``.gz`` and other
#: compressions are inferred from the suffix).
SPREADSHEET_SUFFIXES: Final[tuple[str, ...]] = (".xlsx", ".ods")


def _relative_path(value: str, *, field: str) -> str:
    if PurePath(value).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", value):
        raise ValueError(
            f"'{field}' must be a path relative to the areas folder, so params stay portable; "
            f"got the absolute path {value!r}."
        )
    return value


class AttributeTable(BaseModel):
    """One attribute table joined to the boundaries by area code.

    Attributes
    ----------
    path
        File relative to the areas folder: CSV (optionally compressed, e.g. ``.csv.gz``) or a
        spreadsheet (``.xlsx``/``.ods``, read through GDAL; name the ``sheet``).
    key_column
        Column holding the area code that matches the boundaries' ``code_column``.
    encoding
        Text encoding of a CSV (``"utf-8"``, ``"latin-1"``); a leading UTF-8 BOM is dropped.
    sheet
        Spreadsheet sheet to read; required for spreadsheets, refused for CSV.
    thousands
        Thousands separator inside numbers (``"29,199"``), or None when numbers carry none. Only
        well-formed groups are accepted: ``"1,2"`` is an error, not 12.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    key_column: str
    encoding: str = "utf-8"
    sheet: str | None = None
    thousands: str | None = ","

    @field_validator("path")
    @classmethod
    def _portable(cls, value: str) -> str:
        return _relative_path(value, field="path")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return known_encoding(value)

    @field_validator("thousands")
    @classmethod
    def _one_separator(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value.isdigit() or value in "+-.eE"):
            raise ValueError(
                f"'thousands' must be one character that is not a digit, sign, '.' or 'e' "
                f"(e.g. ',' or ' '), or null; got {value!r}."
            )
        return value

    @model_validator(mode="after")
    def _sheet_for_spreadsheets(self) -> AttributeTable:
        spreadsheet = self.path.lower().endswith(SPREADSHEET_SUFFIXES)
        if spreadsheet and self.sheet is None:
            raise ValueError(
                f"The spreadsheet {self.path!r} needs a 'sheet' naming the sheet to read."
            )
        if not spreadsheet and self.sheet is not None:
            raise ValueError(
                f"'sheet' ({self.sheet!r}) applies only to spreadsheets "
                f"({', '.join(SPREADSHEET_SUFFIXES)}); {self.path!r} is read as CSV."
            )
        return self


class AttributeColumn(BaseModel):
    """A column of a named attribute table (or of the boundaries file, table ``"boundaries"``).

    Attributes
    ----------
    table, column
        Where the values are.
    description
        What the column holds, in words ("percent of residents in poverty"), for the sentence the
        bias report prints on how each group was made; None names the column alone.
    missing_values
        Text the file writes for "not available" (``"-"``, ``"(X)"``, ``"N/A"``, ``"null"``, the
        ACS's ``-666666666``), read as no value, as a blank cell is. An entry that is a number also
        matches the same number written otherwise (``-666666666.0``). Only an area where nobody
        lives (0 residents) may have no value: it then counts in no group. Without an entry,
        such text is an error naming it. Refused for ``residents``, which must be known in every
        area.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    column: str
    description: str | None = Field(default=None, min_length=1)
    missing_values: tuple[str, ...] = ()

    @field_validator("missing_values", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: object) -> object:
        # YAML reads an unquoted -666666666 as a number; it names the same sentinel.
        if isinstance(value, list | tuple):
            return [
                str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for v in value
            ]
        return value

    @field_validator("missing_values")
    @classmethod
    def _sentinels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        stripped = tuple(v.strip() for v in value)
        if "" in stripped:
            raise ValueError(
                "'missing_values' lists text meaning 'not available' (e.g. '-', '(X)', "
                "'-666666666'); a blank cell is always read as no value, so leave '' out. "
                f"Got {list(value)}."
            )
        return tuple(dict.fromkeys(stripped))


class GroupColumn(AttributeColumn):
    """The minority group column: a count of residents, or their share as a percent or fraction.

    Attributes
    ----------
    kind
        ``"count"``: residents of the minority group (with ``majority``, or alone when it counts
        the same population as ``residents``: then ``residents_majority = residents -
        residents_minority``). ``"percent"``: the group's percentage of residents, 0..100.
        ``"share"``: its fraction of residents, 0..1. A percent or share gives
        ``residents_minority = residents * share`` and ``residents_majority = residents -
        residents_minority``, so it takes no ``majority``.
    """

    kind: Literal["count", "percent", "share"] = "count"


class DecileColumn(AttributeColumn):
    """The deprivation decile column, read as deciles or made from quantiles of a score.

    Attributes
    ----------
    kind
        ``"decile"``: the column holds integer deciles 1..10, 1 = most deprived (e.g. IMD).
        ``"score_quantiles"``: the column is any score where higher means more deprived (a
        poverty rate, a deprivation index); the deciles are its population-weighted deciles:
        areas ordered from the highest score down (equal scores by area code) are cut into
        tenths of the residents, each area in the tenth holding the middle of its residents, so
        each decile holds about a tenth of the residents and decile 1 is the most deprived. The
        column is then also the deprivation score, unless ``deprivation_score`` names another.
    """

    kind: Literal["decile", "score_quantiles"] = "decile"


class ScoreColumn(AttributeColumn):
    """The deprivation score column, read as a score or derived from a rank.

    Attributes
    ----------
    kind
        ``"score"``: the column is the score (higher = more deprived, e.g. the IMD score).
        ``"rank"``: the column is a rank with 1 = most deprived (e.g. the IMD rank), turned into
        the deprivation percentile ``100 * (rank_count - rank) / (rank_count - 1)``: 100 for the
        most deprived area of the ranking, 0 for the least. It keeps the order of the score but
        not its spacing (IMD scores are right-skewed; percentiles are uniform).
    rank_count
        How many areas the ranking covers (32,844 for England's 2011 LSOAs). None means the number
        of rows of the table, which is right for a national file such as IMD 2019 File 1.
    """

    kind: Literal["score", "rank"] = "score"
    rank_count: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _count_for_ranks(self) -> ScoreColumn:
        if self.kind == "score" and self.rank_count is not None:
            raise ValueError(
                f"'rank_count' ({self.rank_count}) applies only to kind 'rank'; the column "
                f"{self.column!r} is read as a score."
            )
        return self


class AreaMapping(BaseModel):
    """How a boundaries file and attribute tables become the areas contract.

    Paths are relative to the folder passed to
    :func:`features.ingest.areas.load_area_attributes` as ``base_dir``.

    Attributes
    ----------
    boundaries
        Polygon file any geopandas/pyogrio driver reads (Shapefile, GeoPackage, zipped Shapefile,
        GeoJSON) or GeoParquet (``.parquet``); it must carry a CRS.
    layer
        Layer of a multi-layer file (GeoPackage), or None for the first.
    code_column, name_column, district_column
        Boundaries columns giving ``area_code`` (unique), ``area_name`` and ``district_name``.
    tables
        Attribute tables by name; ``"boundaries"`` is reserved for the boundaries' own columns.
    residents
        Resident count per area (any year; the population the audit weights by).
    minority, majority
        The minority group (:class:`GroupColumn`: a count, percent or share) and, for counts, the
        majority group's count. A percent or share of residents stands alone; so does a count of
        the same population as ``residents`` (the majority is the rest).
    minority_from_shares
        For ``minority`` and ``majority`` counts only. False: they count the same population as
        ``residents`` and are used as read. True: they only give each area's group shares,
        because they come from another year than ``residents``; then ``residents_minority =
        residents * minority / (minority + majority)`` and ``residents_majority = residents -
        residents_minority``. London needs True: ethnicity by LSOA exists only from the 2011
        census, while the headcount is mid-2019 (+11% overall, unevenly), so 2011 counts would
        describe a smaller, older population and their totals would not add up to the residents
        the cells carry.
    deprivation_decile
        Deprivation decile (:class:`DecileColumn`), integers 1..10 with 1 = most deprived, read
        or made from population-weighted deciles of a score.
    deprivation_score
        Deprivation score (higher = more deprived), read or derived from a rank.
    unmatched_areas
        What to do with polygons that some attribute table has no row for: ``"error"`` (default;
        lists the codes) or ``"drop"`` (leave them out of the study area, logged as a warning).
        Table rows without a polygon are always allowed (national files) and logged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    boundaries: str
    layer: str | None = None
    code_column: str
    name_column: str | None = None
    district_column: str | None = None
    tables: dict[str, AttributeTable] = Field(default_factory=dict)
    residents: AttributeColumn
    minority: GroupColumn | None = None
    majority: AttributeColumn | None = None
    minority_from_shares: bool = False
    deprivation_decile: DecileColumn | None = None
    deprivation_score: ScoreColumn | None = None
    unmatched_areas: Literal["error", "drop"] = "error"

    @field_validator("boundaries")
    @classmethod
    def _portable(cls, value: str) -> str:
        return _relative_path(value, field="boundaries")

    @model_validator(mode="after")
    def _consistent(self) -> AreaMapping:
        if BOUNDARIES in self.tables:
            raise ValueError(
                f"The table name {BOUNDARIES!r} is reserved for the boundaries file's own "
                f"columns; rename that entry of 'tables'."
            )
        known = [BOUNDARIES, *self.tables]
        for field, ref in self.attribute_columns():
            if ref.table not in known:
                close = difflib.get_close_matches(ref.table, known, n=1)
                raise ValueError(
                    f"'{field}' reads table {ref.table!r}, which 'tables' does not define; "
                    f"expected one of {known}." + (f" Did you mean {close[0]!r}?" if close else "")
                )
        if self.residents.missing_values:
            raise ValueError(
                f"'residents' ({self.residents.column!r}) takes no 'missing_values' "
                f"({list(self.residents.missing_values)}): the residents must be known in every "
                "area, since they decide where other columns may have no value (only where "
                "nobody lives). Fill in the resident counts, or leave the area out of the study "
                "area (remove its row and set 'unmatched_areas: drop')."
            )
        self._consistent_groups()
        return self

    def _consistent_groups(self) -> None:
        minority, majority = self.minority, self.majority
        if minority is None:
            if majority is not None:
                raise ValueError(
                    f"'majority' ({majority.column!r}) needs 'minority': the audit compares the "
                    "minority group with the rest of the residents."
                )
            if self.minority_from_shares:
                raise ValueError(
                    "'minority_from_shares' is true but no 'minority'/'majority' columns are given."
                )
            return
        if minority.kind != "count":
            if majority is not None:
                raise ValueError(
                    f"'minority' is a {minority.kind} of residents, so the majority is the rest "
                    f"(residents - residents x share); remove 'majority' ({majority.column!r}), "
                    "or give both as counts (kind 'count')."
                )
            if self.minority_from_shares:
                raise ValueError(
                    f"'minority_from_shares' applies to 'minority' and 'majority' counts; "
                    f"'minority' is already a {minority.kind} of residents. Remove "
                    "'minority_from_shares'."
                )
        elif majority is None and self.minority_from_shares:
            raise ValueError(
                "'minority_from_shares' scales minority / (minority + majority) to the residents, "
                "so 'minority' and 'majority' go together: add the 'majority' count, or give the "
                "minority's share of residents (minority kind 'percent' or 'share')."
            )

    def attribute_columns(self) -> list[tuple[str, AttributeColumn]]:
        """The mapped attributes as (field name, column) pairs, in a fixed order."""
        named = {
            "residents": self.residents,
            "minority": self.minority,
            "majority": self.majority,
            "deprivation_decile": self.deprivation_decile,
            "deprivation_score": self.deprivation_score,
        }
        return [(field, ref) for field, ref in named.items() if ref is not None]
