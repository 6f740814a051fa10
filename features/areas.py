"""Area polygons with the attributes the bias audit needs, and the districts the event data cover.

Two jobs, both pure (files in, frames out; nothing written):

* :func:`load_area_attributes` reads a boundaries file and attribute tables through an
  :class:`AreaMapping` and returns the areas contract that :func:`features.cells.build_cell_table`
  apportions to H3 cells (the same columns ``features.sources.load_areas`` expects of a prepared
  file): ``area_code``, ``area_name``, ``district_name``, ``residents``, ``residents_minority``,
  ``residents_majority``, ``minority_share``, ``deprivation_decile``, ``deprivation_score`` and
  ``geometry``, in EPSG:4326. The optional columns appear only when the mapping names them.
* :func:`covered_districts` decides which districts a crime sample actually covers, so that cells
  in districts the sample never queried are not read as zero-crime cells;
  :func:`restrict_to_covered` keeps the areas of those districts.

Group metrics built from these attributes describe residents of areas, not individuals.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Final, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.sources import known_encoding

log = logging.getLogger(__name__)

#: Reserved table name: attributes read from the boundaries file's own columns.
BOUNDARIES: Final[str] = "boundaries"

#: Attribute tables with these suffixes are spreadsheets, read through GDAL (pyogrio) sheet by
#: sheet, so no spreadsheet library is needed; anything else is read as CSV (``.gz`` and other
#: compressions are inferred from the suffix).
SPREADSHEET_SUFFIXES: Final[tuple[str, ...]] = (".xlsx", ".ods")

#: Output columns, in order; the optional ones appear only when the mapping provides them.
AREA_ATTRIBUTE_COLUMNS: Final[tuple[str, ...]] = (
    "area_code",
    "area_name",
    "district_name",
    "residents",
    "residents_minority",
    "residents_majority",
    "minority_share",
    "deprivation_decile",
    "deprivation_score",
    "geometry",
)

OUTPUT_CRS: Final[str] = "EPSG:4326"

#: How many example codes an error or log line quotes.
_EXAMPLES: Final[int] = 5


# --- the mapping ---------------------------------------------------------------------------------


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
    """A column of a named attribute table (or of the boundaries file, table ``"boundaries"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str
    column: str


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

    Paths are relative to the folder passed to :func:`load_area_attributes` as ``base_dir``.

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
        Minority and majority group counts (give both or neither).
    minority_from_shares
        False: the group columns are counts of the same population as ``residents`` and are used
        as read. True: they only give each area's group shares, because they come from another
        year than ``residents``; then ``residents_minority = residents * minority / (minority +
        majority)`` and ``residents_majority = residents - residents_minority``. London needs
        True: ethnicity by LSOA exists only from the 2011 census, while the headcount is mid-2019
        (+11% overall, unevenly), so 2011 counts would describe a smaller, older population and
        their totals would not add up to the residents the cells carry.
    deprivation_decile
        Deprivation decile, integers 1..10 with 1 = most deprived.
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
    minority: AttributeColumn | None = None
    majority: AttributeColumn | None = None
    minority_from_shares: bool = False
    deprivation_decile: AttributeColumn | None = None
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
        if (self.minority is None) != (self.majority is None):
            raise ValueError(
                "'minority' and 'majority' go together: give both group columns or neither; got "
                f"minority={self.minority!r}, majority={self.majority!r}."
            )
        if self.minority_from_shares and self.minority is None:
            raise ValueError(
                "'minority_from_shares' is true but no 'minority'/'majority' columns are given."
            )
        return self

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


# --- reading -------------------------------------------------------------------------------------


def _closest_hint(names: Sequence[str], available: Sequence[str]) -> str:
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, list(available), n=1, cutoff=0.5)
        if close:
            hints.append(f"{name!r} -> {close[0]!r}")
    return f" Closest names: {'; '.join(hints)}." if hints else ""


def _require(columns: Sequence[str], available: Sequence[str], *, where: Path, role: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in available]
    if missing:
        raise ValueError(
            f"{where}: missing {role} column(s) {missing}; expected them as named in the area "
            f"mapping. Found {list(available)}." + _closest_hint(missing, available)
        )


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text; missing values become ''."""
    return values.astype("string").str.strip().fillna("")


def _read_boundaries(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise FileNotFoundError(
            f"No area boundaries file at {path} (the mapping's 'boundaries'); expected a polygon "
            f"file geopandas reads (Shapefile, GeoPackage, GeoParquet, ...)."
        )
    try:
        if path.suffix.lower() == ".parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as area boundaries ({err}).") from err
    if frame.empty:
        raise ValueError(f"{path} holds no area polygons; expected at least one.")
    if frame.crs is None:
        raise ValueError(
            f"{path} has no CRS (a Shapefile needs its .prj); Beatwise cannot place its polygons."
        )
    return frame


def _codes_and_shapes(
    shapes: gpd.GeoDataFrame, *, code_column: str, where: Path
) -> tuple[pd.Series, gpd.GeoSeries]:
    """Stripped area codes and geometries; blank or repeated codes and missing shapes are errors."""
    codes = _text(shapes[code_column]).reset_index(drop=True)
    blank = np.flatnonzero((codes == "").to_numpy())
    if blank.size:
        raise ValueError(
            f"{where}: code column {code_column!r} is blank in {blank.size} feature(s), first at "
            f"feature {blank[0] + 1}; expected a code for every polygon."
        )
    repeated = codes[codes.duplicated()]
    if not repeated.empty:
        raise ValueError(
            f"{where}: code column {code_column!r} repeats {repeated.nunique()} code(s), e.g. "
            f"{_examples(repeated.unique())}; expected one feature per area (dissolve multi-part "
            f"areas first)."
        )
    geometry = shapes.geometry.reset_index(drop=True)
    no_shape = (geometry.isna() | geometry.is_empty).to_numpy()
    if no_shape.any():
        raise ValueError(
            f"{where}: {int(no_shape.sum())} feature(s) have a null or empty geometry, e.g. codes "
            f"{_examples(codes[no_shape])}; expected a polygon for every area."
        )
    return codes, geometry


def _read_table(path: Path, *, spec: AttributeTable) -> pd.DataFrame:
    """A table with every column as stripped text ('' for missing), headers without a BOM."""
    if not path.is_file():
        raise FileNotFoundError(
            f"No attribute table at {path} (the mapping's table path {spec.path!r}); expected an "
            f"existing file."
        )
    if spec.sheet is not None:
        try:
            frame = pyogrio.read_dataframe(path, layer=spec.sheet, read_geometry=False)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
            sheets = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
            raise ValueError(
                f"{path}: cannot read sheet {spec.sheet!r} ({err}); the file has sheets {sheets}."
            ) from err
    else:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=spec.encoding)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}: not {spec.encoding} text ({err}); set the table's 'encoding' "
                f"(e.g. 'latin-1') to the file's encoding."
            ) from err
        except pd.errors.EmptyDataError as err:
            raise ValueError(f"{path} is empty; expected a header and rows.") from err
        except pd.errors.ParserError as err:
            raise ValueError(f"{path}: not well-formed CSV ({err}).") from err
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]
    return pd.DataFrame({c: _text(frame[c]) for c in frame.columns})


@dataclass(frozen=True)
class _Source:
    """Where a table's values come from, and which of its rows each polygon joins."""

    where: Path
    key_column: str
    thousands: str | None
    frame: pd.DataFrame
    rows: npt.NDArray[np.int64]  # per polygon: 0-based row of ``frame``; -1 when unmatched


def _match(
    keys: pd.Series, codes: pd.Series, *, where: Path, key_column: str
) -> npt.NDArray[np.int64]:
    present = keys[keys != ""]
    repeated = present[present.duplicated(keep=False)]
    if not repeated.empty:
        first = repeated.iloc[0]
        at = (np.flatnonzero((keys == first).to_numpy()) + 1).tolist()
        raise ValueError(
            f"{where}: key column {key_column!r} repeats {repeated.nunique()} code(s), e.g. "
            f"{first!r} in data rows {at[:_EXAMPLES]}; expected one row per area (a long table, "
            f"e.g. one row per year, must be filtered first)."
        )
    index = pd.Index(present.to_numpy(), dtype=object)
    found = index.get_indexer(codes.to_numpy())
    rows = np.where(found >= 0, present.index.to_numpy()[found], -1)
    return rows.astype(np.int64)


def _examples(values: npt.ArrayLike) -> list[str]:
    return [str(v) for v in np.asarray(values)[:_EXAMPLES]]


def _parse_numbers(source: _Source, column: str, codes: pd.Series) -> npt.NDArray[np.float64]:
    """The column's value for each polygon as float; the first unparseable one is an error."""
    text = source.frame[column].to_numpy(dtype=object)[source.rows]
    values = pd.Series(text, dtype="string")
    if source.thousands is not None:
        sep = re.escape(source.thousands)
        grouped = values.str.fullmatch(rf"[+-]?\d{{1,3}}(?:{sep}\d{{3}})+(?:\.\d+)?")
        values = values.where(
            ~grouped.fillna(False), values.str.replace(source.thousands, "", regex=False)
        )
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        first = bad[0]
        raise ValueError(
            f"{source.where}: column {column!r} must hold numbers; data row "
            f"{source.rows[first] + 1} ({source.key_column} {codes.iloc[first]!r}) has "
            f"{text[first]!r}. {bad.size} value(s) of the {len(codes)} areas fail."
        )
    return numbers


def _refuse(
    mask: npt.NDArray[np.bool_], source: _Source, column: str, codes: pd.Series, *, rule: str
) -> None:
    bad = np.flatnonzero(mask)
    if bad.size:
        first = bad[0]
        raise ValueError(
            f"{source.where}: column {column!r} {rule}; data row {source.rows[first] + 1} "
            f"({source.key_column} {codes.iloc[first]!r}) has "
            f"{source.frame[column].iloc[source.rows[first]]!r}. {bad.size} of the "
            f"{len(codes)} areas fail."
        )


def _report_unmatched(
    sources: dict[str, _Source],
    codes: pd.Series,
    *,
    boundaries: Path,
    policy: Literal["error", "drop"],
) -> npt.NDArray[np.bool_]:
    """Log rows without polygons; return the polygons to keep (or raise, per ``policy``)."""
    lacking = np.zeros(len(codes), dtype=bool)
    details = []
    for name, source in sources.items():
        if name == BOUNDARIES:
            continue
        missing = source.rows < 0
        if missing.any():
            details.append(
                f"table {name!r} ({source.where}, key {source.key_column!r}) has no row for "
                f"{int(missing.sum())} of them, e.g. {_examples(codes[missing])}"
            )
        lacking |= missing
        keys = source.frame[source.key_column]
        spare = np.ones(len(keys), dtype=bool)
        spare[source.rows[source.rows >= 0]] = False
        spare &= (keys != "").to_numpy()
        if spare.any():
            log.info(
                "%s: %d of %d rows match no polygon in %s and are ignored (e.g. %s)",
                source.where,
                int(spare.sum()),
                len(keys),
                boundaries.name,
                _examples(keys[spare]),
            )
    if not lacking.any():
        return ~lacking
    summary = (
        f"{int(lacking.sum())} of {len(codes)} area polygons in {boundaries} lack attributes: "
        + "; ".join(details)
        + "."
    )
    if policy == "error":
        raise ValueError(
            summary + " Expected a row for every polygon. Check that boundaries and tables use "
            "the same code vintage (e.g. 2011 vs 2021 LSOA codes), or set the mapping's "
            "'unmatched_areas: drop' to leave those polygons out of the study area."
        )
    log.warning("%s Dropped from the study area (unmatched_areas: drop).", summary)
    return ~lacking


def load_area_attributes(mapping: AreaMapping, *, base_dir: Path) -> gpd.GeoDataFrame:
    """Read area polygons and their audit attributes through an :class:`AreaMapping`.

    Parameters
    ----------
    mapping
        Which files and columns to read, relative to ``base_dir``.
    base_dir
        Folder holding the boundaries file and the attribute tables.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per polygon, in the boundaries' order, in EPSG:4326 (the CRS of
        ``features.sources.load_areas``; :func:`features.cells.build_cell_table` reprojects to a
        metric CRS itself). Columns from :data:`AREA_ATTRIBUTE_COLUMNS`: ``area_code`` (str),
        ``area_name`` and ``district_name`` (str, when mapped), ``residents`` (float),
        ``residents_minority``, ``residents_majority`` (float counts) and ``minority_share``
        (``minority / (minority + majority)`` of the columns as read, in [0, 1]) when the group
        columns are mapped, ``deprivation_decile`` (int 1..10, 1 = most deprived) and
        ``deprivation_score`` (float, higher = more deprived) when mapped.

    Raises
    ------
    FileNotFoundError
        When ``base_dir``, the boundaries file or an attribute table does not exist.
    ValueError
        When a file cannot be read (wrong encoding, missing sheet), the boundaries have no CRS or
        a null/empty geometry, a column is missing (with the closest names), area codes are blank
        or repeated (in the boundaries or a table's key column), a value is not a number (file,
        column, first bad data row and its code), counts or residents are negative, a decile is
        not an integer in 1..10, a rank is outside 1..rank_count, an area with residents has no
        group members, or a polygon lacks a table row while ``unmatched_areas`` is ``"error"``.
    """
    base_dir = Path(base_dir)
    if not base_dir.is_dir():
        raise FileNotFoundError(
            f"No areas folder at {base_dir}; the area mapping's paths are relative to it."
        )
    boundaries_path = base_dir / mapping.boundaries
    shapes = _read_boundaries(boundaries_path, layer=mapping.layer)
    refs = mapping.attribute_columns()
    own = [mapping.code_column, mapping.name_column, mapping.district_column]
    own += [ref.column for _, ref in refs if ref.table == BOUNDARIES]
    _require(
        [c for c in own if c is not None],
        [str(c) for c in shapes.columns],
        where=boundaries_path,
        role="boundaries",
    )
    codes, geometry = _codes_and_shapes(
        shapes, code_column=mapping.code_column, where=boundaries_path
    )

    sources: dict[str, _Source] = {
        BOUNDARIES: _Source(
            where=boundaries_path,
            key_column=mapping.code_column,
            thousands=",",
            frame=pd.DataFrame({c: _text(shapes[c]) for c in own if c is not None}).reset_index(
                drop=True
            ),
            rows=np.arange(len(codes), dtype=np.int64),
        )
    }
    for name in dict.fromkeys(ref.table for _, ref in refs if ref.table != BOUNDARIES):
        spec = mapping.tables[name]
        path = base_dir / spec.path
        frame = _read_table(path, spec=spec)
        columns = [spec.key_column, *(ref.column for _, ref in refs if ref.table == name)]
        _require(columns, list(frame.columns), where=path, role=f"table {name!r}")
        rows = _match(frame[spec.key_column], codes, where=path, key_column=spec.key_column)
        sources[name] = _Source(path, spec.key_column, spec.thousands, frame, rows)
        log.info("read %d rows from %s (table %r)", len(frame), path, name)

    keep = _report_unmatched(
        sources, codes, boundaries=boundaries_path, policy=mapping.unmatched_areas
    )
    codes = codes[keep].reset_index(drop=True)
    sources = {
        name: _Source(s.where, s.key_column, s.thousands, s.frame, s.rows[keep])
        for name, s in sources.items()
    }

    def column(ref: AttributeColumn) -> tuple[_Source, npt.NDArray[np.float64]]:
        source = sources[ref.table]
        return source, _parse_numbers(source, ref.column, codes)

    out: dict[str, object] = {"area_code": codes.to_numpy(dtype=object)}
    for target, source_column in (
        ("area_name", mapping.name_column),
        ("district_name", mapping.district_column),
    ):
        if source_column is not None:
            out[target] = sources[BOUNDARIES].frame[source_column][keep].to_numpy(dtype=object)

    source, residents = column(mapping.residents)
    _refuse(residents < 0, source, mapping.residents.column, codes, rule="must not be negative")
    out["residents"] = residents

    if mapping.minority is not None and mapping.majority is not None:
        groups = []
        for ref in (mapping.minority, mapping.majority):
            source, counts = column(ref)
            _refuse(counts < 0, source, ref.column, codes, rule="must not be negative")
            groups.append((source, counts))
        (min_source, minority), (_, majority) = groups
        total = minority + majority
        _refuse(
            (total == 0) & (residents > 0),
            min_source,
            mapping.minority.column,
            codes,
            rule=(
                f"and {mapping.majority.column!r} are both 0 in an area with residents, so its "
                f"minority share is unknown"
            ),
        )
        share = np.divide(minority, total, out=np.zeros_like(total), where=total > 0)
        if mapping.minority_from_shares:
            out["residents_minority"] = residents * share
            out["residents_majority"] = residents - residents * share
        else:
            out["residents_minority"] = minority
            out["residents_majority"] = majority
        out["minority_share"] = share

    if mapping.deprivation_decile is not None:
        source, decile = column(mapping.deprivation_decile)
        _refuse(
            (decile != np.round(decile)) | (decile < 1) | (decile > 10),
            source,
            mapping.deprivation_decile.column,
            codes,
            rule="must hold integer deciles 1..10 (1 = most deprived)",
        )
        out["deprivation_decile"] = decile.astype(np.int64)

    score_ref = mapping.deprivation_score
    if score_ref is not None:
        source, score = column(score_ref)
        if score_ref.kind == "rank":
            n = score_ref.rank_count or len(source.frame)
            _refuse(
                (score != np.round(score)) | (score < 1) | (score > n),
                source,
                score_ref.column,
                codes,
                rule=f"must hold integer ranks 1..{n} (1 = most deprived; {n} = "
                + (
                    "the mapping's 'rank_count')"
                    if score_ref.rank_count
                    else "the table's rows; set 'rank_count' if the ranking is larger)"
                ),
            )
            score = 100.0 * (n - score) / (n - 1)
        out["deprivation_score"] = score

    columns = [c for c in AREA_ATTRIBUTE_COLUMNS if c in out]
    areas = gpd.GeoDataFrame(
        {c: out[c] for c in columns}, geometry=geometry[keep].to_numpy(), crs=shapes.crs
    ).to_crs(OUTPUT_CRS)
    log.info(
        "areas: %d polygons, %.0f residents%s, from %s",
        len(areas),
        float(residents.sum()),
        f" in {areas['district_name'].nunique()} districts" if "district_name" in areas else "",
        boundaries_path,
    )
    return areas


# --- coverage: which districts the event data cover ----------------------------------------------

#: ``"both"``: a district is covered when its events per resident AND per km² are each at least
#: ``min_rate_ratio`` times the median district's (a district without residents is judged per km²
#: alone). ``"residents"`` or ``"area"`` use one rate only.
CoverageBasis = Literal["both", "residents", "area"]

#: Measured on the London API sample (2016-01..2018-06, events located to 2011 LSOAs): the smaller
#: of the two ratios is at most 0.093 in the 8 boroughs the sample never queried (City of London:
#: 257 edge events, 0.12 of the median per resident, 0.09 per km²) and at least 0.46 in the 25 it
#: covers (Bromley per km²; Sutton is lowest per resident at 0.74). 0.2 sits midway on a log scale.
DEFAULT_MIN_RATE_RATIO: Final[float] = 0.2

COVERAGE_COLUMNS: Final[tuple[str, ...]] = (
    "district_name",
    "events",
    "residents",
    "area_km2",
    "events_per_1k_residents",
    "events_per_km2",
    "ratio_residents",
    "ratio_area",
    "covered",
)


@dataclass(frozen=True)
class CoverageResult:
    """Which districts an event sample covers, with the per-district evidence.

    Attributes
    ----------
    covered
        Covered district names, sorted.
    table
        One row per district (sorted by name), columns :data:`COVERAGE_COLUMNS`: accepted events
        located in the district, residents, land area (km²), events per 1,000 residents and per
        km², each rate divided by the median district's, and the decision. Rates are over the
        whole sample period.
    min_rate_ratio, basis
        The rule applied.
    events_outside_areas
        Events with no district (located in no area); they count towards no district.
    """

    covered: tuple[str, ...]
    table: pd.DataFrame
    min_rate_ratio: float
    basis: CoverageBasis
    events_outside_areas: int

    @property
    def uncovered(self) -> tuple[str, ...]:
        """District names the sample does not cover, sorted."""
        return tuple(sorted(set(self.table["district_name"]) - set(self.covered)))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary for the data-quality report: the rule and one row per district."""
        rows = self.table.astype(object).where(self.table.notna(), None)
        return {
            "rule": (
                f"a district is in the study area when its events per "
                f"{'resident and per km²' if self.basis == 'both' else self.basis} reach "
                f"{self.min_rate_ratio:g} of the median district's"
            ),
            "covered": list(self.covered),
            "uncovered": list(self.uncovered),
            "events_outside_areas": self.events_outside_areas,
            "districts": {
                str(r["district_name"]): {k: v for k, v in r.items() if k != "district_name"}
                for r in rows.to_dict(orient="records")
            },
        }


def _district_names(areas: gpd.GeoDataFrame, *, what: str) -> pd.Series:
    if "district_name" not in areas.columns:
        raise ValueError(
            f"{what} needs areas with a 'district_name' column; they have {list(areas.columns)}."
            + _closest_hint(["district_name"], [str(c) for c in areas.columns])
        )
    names = areas["district_name"].astype("string")
    if names.isna().any():
        codes = areas["area_code"] if "area_code" in areas.columns else areas.index.to_series()
        raise ValueError(
            f"{what}: {int(names.isna().sum())} area(s) have no district_name, e.g. "
            f"{_examples(codes[names.isna().to_numpy()])}; expected a district for every area."
        )
    return names


def districts_of_events(event_area_code: pd.Series, areas: gpd.GeoDataFrame) -> pd.Series:
    """District of each event from the code of the area it lies in (NA stays NA).

    Parameters
    ----------
    event_area_code
        ``area_code`` of each accepted event (``features.events.validate_events`` sets it when
        given the areas); NA for events outside every area.
    areas
        The areas contract with ``area_code`` and ``district_name``.

    Raises
    ------
    ValueError
        When the areas lack those columns or an event's code is not an area code.
    """
    names = _district_names(areas, what="districts_of_events")
    lookup = pd.Series(names.to_numpy(), index=areas["area_code"].astype(str).to_numpy())
    codes = event_area_code.astype("string")
    unknown = codes.notna() & ~codes.isin(lookup.index)
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} event(s) carry area codes the areas do not have, e.g. "
            f"{_examples(codes[unknown].unique())}; expected codes from the areas' 'area_code' "
            f"(locate the events in these same areas)."
        )
    return pd.Series(
        codes.map(lookup).to_numpy(), index=event_area_code.index, dtype="string", name="district"
    )


def covered_districts(
    event_area_district: pd.Series,
    areas: gpd.GeoDataFrame,
    *,
    min_rate_ratio: float = DEFAULT_MIN_RATE_RATIO,
    basis: CoverageBasis = "both",
) -> CoverageResult:
    """Decide which districts an event sample covers by comparing their event rates.

    A district is covered when its events per resident and its events per km² (see
    ``basis``) are each at least ``min_rate_ratio`` times the median district's. Per resident
    alone misjudges small-population districts: London's City has 9.7k residents, so a few
    hundred events spilling over from neighbouring boroughs' queries already reach an eighth of
    the median borough's rate, while its real crime would be several times the median. Per km²
    alone misjudges large, sparse outer districts. Requiring both needs a district to hold a fair
    share of events for its people and for its land; genuinely covered districts clear both with a
    wide margin, uncovered ones (a handful of edge events) clear neither.

    Parameters
    ----------
    event_area_district
        District name of each accepted event (NA when it lies in no area); e.g. from
        :func:`districts_of_events`.
    areas
        The areas contract: ``district_name``, ``residents`` and polygons (any CRS; land area is
        measured in a local UTM projection).
    min_rate_ratio
        Share of the median district's rate a covered district reaches, in (0, 1].
    basis
        Which rates to judge by: ``"both"`` (default), ``"residents"`` or ``"area"``.

    Returns
    -------
    CoverageResult
        The covered districts and the per-district table for the data-quality report.

    Raises
    ------
    ValueError
        When ``min_rate_ratio`` is outside (0, 1], ``basis`` is unknown, the areas lack
        ``district_name``/``residents``, an event names a district no area has, or the median
        district has no events (fewer than half the districts hold data; the median rule cannot
        judge such a sample).
    """
    if not 0 < min_rate_ratio <= 1:
        raise ValueError(
            f"'min_rate_ratio' must be in (0, 1] (a share of the median district's rate); "
            f"got {min_rate_ratio}."
        )
    if basis not in ("both", "residents", "area"):
        raise ValueError(f"'basis' must be 'both', 'residents' or 'area'; got {basis!r}.")
    names = _district_names(areas, what="covered_districts")
    if "residents" not in areas.columns:
        raise ValueError(
            f"covered_districts needs areas with a 'residents' column; they have "
            f"{list(areas.columns)}." + _closest_hint(["residents"], list(map(str, areas.columns)))
        )
    district = event_area_district.astype("string")
    unknown = district.notna() & ~district.isin(set(names))
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} event(s) name district(s) "
            f"{_examples(sorted(district[unknown].unique()))} that no area has; expected one of "
            f"{sorted(set(names))}."
        )
    area_km2 = areas.geometry.to_crs(areas.estimate_utm_crs()).area.to_numpy() / 1e6
    per = (
        pd.DataFrame(
            {
                "district_name": names.to_numpy(dtype=object),
                "residents": areas["residents"].to_numpy(dtype=np.float64),
                "area_km2": area_km2,
            }
        )
        .groupby("district_name", sort=True)
        .sum()
    )
    events = district.value_counts().reindex(per.index, fill_value=0).to_numpy(dtype=np.int64)
    residents = per["residents"].to_numpy()
    km2 = per["area_km2"].to_numpy()
    per_1k = np.divide(
        1000.0 * events, residents, out=np.full(len(per), np.nan), where=residents > 0
    )
    per_km2 = np.divide(events, km2, out=np.full(len(per), np.nan), where=km2 > 0)
    ratios = {}
    for label, rate in (("residents", per_1k), ("area", per_km2)):
        reference = float(np.nanmedian(rate)) if np.isfinite(rate).any() else np.nan
        if basis in ("both", label) and not reference > 0:
            unit = "resident" if label == "residents" else "km²"
            raise ValueError(
                f"The median district has no events per {unit} ({int((events > 0).sum())} of "
                f"{len(per)} districts hold any), so coverage "
                f"cannot be judged against it; expected most districts to hold data. Check that "
                f"the events were located in these areas."
            )
        ratios[label] = rate / reference if reference > 0 else np.full(len(per), np.nan)
    with np.errstate(invalid="ignore"):
        ok_res = ratios["residents"] >= min_rate_ratio
        ok_area = ratios["area"] >= min_rate_ratio
    if basis == "residents":
        covered = ok_res
    elif basis == "area":
        covered = ok_area
    else:
        covered = ok_area & (ok_res | ~(residents > 0))
    table = pd.DataFrame(
        {
            "district_name": per.index.to_numpy(dtype=object),
            "events": events,
            "residents": residents,
            "area_km2": km2,
            "events_per_1k_residents": per_1k,
            "events_per_km2": per_km2,
            "ratio_residents": ratios["residents"],
            "ratio_area": ratios["area"],
            "covered": covered,
        },
        columns=list(COVERAGE_COLUMNS),
    )
    result = CoverageResult(
        covered=tuple(table.loc[covered, "district_name"]),
        table=table,
        min_rate_ratio=min_rate_ratio,
        basis=basis,
        events_outside_areas=int(district.isna().sum()),
    )
    log.info(
        "coverage (basis %s, ratio >= %.2f of the median district): %d of %d districts covered; "
        "%d events in no area",
        basis,
        min_rate_ratio,
        len(result.covered),
        len(table),
        result.events_outside_areas,
    )
    for row in table.loc[~covered].itertuples(index=False):
        log.warning(
            "district %r is not covered by the events: %d events, %.3f x median per resident, "
            "%.3f x median per km²; its areas leave the study area",
            row.district_name,
            row.events,
            row.ratio_residents,
            row.ratio_area,
        )
    return result


def restrict_to_covered(areas: gpd.GeoDataFrame, coverage: CoverageResult) -> gpd.GeoDataFrame:
    """The areas of covered districts only, so uncovered districts yield no zero-crime cells.

    Events located in the dropped districts should be left out too (they are edge spill-over,
    not the district's crime); ``features.events.validate_events`` does that when given the
    restricted areas.

    Raises
    ------
    ValueError
        When the areas lack ``district_name`` or no district is covered.
    """
    names = _district_names(areas, what="restrict_to_covered")
    if not coverage.covered:
        raise ValueError(
            "No district is covered by the events, so the study area would be empty; see the "
            "coverage table."
        )
    keep = names.isin(set(coverage.covered)).to_numpy()
    kept = areas.loc[keep]
    residents = areas["residents"].to_numpy(dtype=np.float64) if "residents" in areas else None
    log.info(
        "study area: %d of %d areas in %d covered districts%s",
        len(kept),
        len(areas),
        len(coverage.covered),
        ""
        if residents is None
        else f", {residents[keep].sum():.0f} of {residents.sum():.0f} residents",
    )
    return kept


def empty_areas() -> gpd.GeoDataFrame:
    """The areas contract with no rows (a source without areas), in EPSG:4326."""
    return gpd.GeoDataFrame(
        {
            "area_code": pd.Series([], dtype=object),
            "residents": pd.Series([], dtype=np.float64),
        },
        geometry=gpd.GeoSeries([], crs=OUTPUT_CRS),
        crs=OUTPUT_CRS,
    )


def read_study_areas(path: Path) -> gpd.GeoDataFrame:
    """Read the ingest stage's study areas (GeoParquet, EPSG:4326); it may hold no rows.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it lacks ``area_code``, ``residents`` or a geometry, or has no CRS.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No study areas at {path}; run the ingest stage first.")
    areas = gpd.read_parquet(path)
    _require(["area_code", "residents"], [str(c) for c in areas.columns], where=path, role="areas")
    if areas.crs is None:
        raise ValueError(f"{path} has no CRS; expected EPSG:4326 from the ingest stage.")
    return areas.to_crs(OUTPUT_CRS)
