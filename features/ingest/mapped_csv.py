"""Delimited files of any source read through a :class:`ColumnMapping` (e.g. SLMPD St. Louis).

The mapping names the time, coordinate, category, id and count columns; the loader renames, joins
ids, maps categories and reprojects, and judges nothing. Files may be compressed (``.csv.gz``,
``.csv.bz2``, or a ``.zip`` holding one CSV); :mod:`features.ingest.csv_columns` reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from beatwise.artefacts.quality import EmptyFileReason
from beatwise.taxonomy import validate_crime_types
from features.ingest.csv_columns import read_csv_columns
from features.ingest.parsing import (
    RawSource,
    known_encoding,
    map_unique,
    require_distinct_sources,
    require_file,
    to_float,
    warn_empty_files,
)

log = logging.getLogger(__name__)

#: ``ucr_group`` turns a numeric UCR offence code into its group, ``code // 10000`` (SLMPD codes:
#: 31111 -> "3" robbery, 115400 -> "11" fraud); a code that is not a number maps to nothing.
CategoryTransform = Literal["none", "ucr_group"]
#: what becomes of a row whose category the ``category_map`` does not list: quarantined as
#: ``unknown_category`` (a problem, counted against ``ingest.max_quarantine_share``), or as
#: ``excluded_category`` (deliberately out of scope, counted apart)
UnmappedCategories = Literal["quarantine", "exclude"]
WGS84: Final[str] = "EPSG:4326"


class ColumnMapping(BaseModel):
    """How the columns of a source's CSV files become a raw canonical frame.

    Column names are matched with :func:`normalise_header`, so one mapping reads files whose
    headers differ only in case, spaces, hyphens, underscores or a BOM.

    Attributes
    ----------
    time_column, time_format
        The occurrence-time column and its strptime format (``"%m/%d/%Y %H:%M"``).
    time_zone
        IANA zone the data is recorded in (``"America/Chicago"``); pass it on to
        :func:`features.ingest.validation.validate_events`. Beatwise works in naive wall-clock
        time of this zone: text timestamps that carry a UTC offset or ``Z`` (a ``time_format``
        with ``%z``) are converted to it and made naive, and naive timestamps, as SLMPD writes
        them, are taken as already local in it and kept as they are.
    latitude_column, longitude_column
        WGS84 decimal degrees. Give these, or all three of ``x_column``, ``y_column``, ``crs``.
    x_column, y_column, crs
        Projected coordinates and their CRS (``"ESRI:102696"``, ``"EPSG:27700"``), reprojected to
        WGS84. An x/y of exactly 0/0 means "not geocoded".
    category_column
        The source category (offence code or label). Give this or ``category``.
    category
        One canonical Beatwise type for every row (``"burglary"``), for a file of one offence;
        instead of ``category_column``, and without a transform or map.
    category_transform
        ``"none"`` uses the value as read; ``"ucr_group"`` uses ``int(value) // 10000`` as text.
    category_map
        Transformed value -> canonical Beatwise type (exact match after stripping spaces). A value
        the map does not list keeps its source value as ``crime_type``, which the taxonomy
        judges, so e.g. an unmapped UCR code is quarantined as ``unknown_category``. None means
        the source values are category labels the taxonomy knows.
    unmapped_categories
        ``"quarantine"`` (the default) leaves a value the map does not list to the taxonomy, as
        above; ``"exclude"`` says such values are out of scope: their rows are quarantined as
        ``excluded_category``, counted apart from the problems. A blank value, or one the
        transform cannot read (a UCR code that is not a number), is a problem either way.
        ``"exclude"`` needs a ``category_map``.
    id_columns
        Columns joined with ``":"`` into ``event_id``, a ``":"`` or ``"\\"`` inside a value
        escaped with a backslash (:func:`join_id_columns`), so distinct records never share an id.
        Empty (``[]`` or null) when the source has no id: every row is its own event (several
        victims of one incident stay several rows), with the validator's row id
        ``~row:<source_file>:<source_row>``, which no real id can equal.
    count_column
        Optional record count: 1 is a record, -1 a reversal that cancels an earlier record of
        the same id (so it needs ``id_columns``).
    encoding
        Text encoding of the files (``"utf-8"``, ``"cp1252"``); a leading UTF-8 BOM is skipped
        whatever the encoding.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_column: str
    time_format: str
    time_zone: str = "UTC"
    latitude_column: str | None = None
    longitude_column: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    crs: str | None = None
    category_column: str | None = None
    category: str | None = None
    category_transform: CategoryTransform = "none"
    category_map: dict[str, str] | None = None
    unmapped_categories: UnmappedCategories = "quarantine"
    id_columns: tuple[str, ...]
    count_column: str | None = None
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return known_encoding(value)

    @field_validator("category_map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads unquoted UCR groups (3: robbery) as ints; the transformed values are text.
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @field_validator("category_map")
    @classmethod
    def _canonical_targets(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            validate_crime_types(sorted(set(value.values())), what="The 'category_map'")
        return value

    @field_validator("id_columns", mode="before")
    @classmethod
    def _no_id_as_empty(cls, value: Any) -> Any:
        return () if value is None else value

    @field_validator("category")
    @classmethod
    def _canonical_constant(cls, value: str | None) -> str | None:
        if value is not None:
            validate_crime_types([value], what="The mapping's 'category'")
        return value

    @model_validator(mode="after")
    def _one_category(self) -> ColumnMapping:
        if (self.category_column is None) == (self.category is None):
            raise ValueError(
                "A column mapping needs exactly one of 'category_column' (the column holding "
                "each row's category) and 'category' (one crime type for every row). Got "
                f"category_column={self.category_column!r}, category={self.category!r}."
            )
        if self.category is not None and (
            self.category_map is not None
            or self.category_transform != "none"
            or self.unmapped_categories != "quarantine"
        ):
            raise ValueError(
                f"'category' ({self.category!r}) gives every row one type, so 'category_map', "
                "'category_transform' and 'unmapped_categories' must be left out. Got "
                f"category_map={self.category_map!r}, category_transform="
                f"{self.category_transform!r}, unmapped_categories={self.unmapped_categories!r}."
            )
        if self.unmapped_categories == "exclude" and self.category_map is None:
            raise ValueError(
                "'unmapped_categories: exclude' needs a 'category_map': it excludes the values "
                "the map does not list. Got category_map=None."
            )
        if self.count_column is not None and not self.id_columns:
            raise ValueError(
                f"'count_column' ({self.count_column!r}) needs 'id_columns': a -1 row reverses "
                "an earlier record of the same id, and without ids there is none to match."
            )
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(
                f"'time_zone' must be an IANA zone such as 'UTC'; got {value!r}."
            ) from err
        return value

    @model_validator(mode="after")
    def _one_coordinate_pair(self) -> ColumnMapping:
        geographic = (self.latitude_column, self.longitude_column)
        projected = (self.x_column, self.y_column, self.crs)
        has_geo = any(v is not None for v in geographic)
        has_proj = any(v is not None for v in projected)
        if has_geo == has_proj or not (all(geographic) if has_geo else all(projected)):
            raise ValueError(
                "A column mapping needs exactly one coordinate pair: latitude_column and "
                "longitude_column, or x_column, y_column and crs. Got "
                f"latitude_column={self.latitude_column!r}, longitude_column="
                f"{self.longitude_column!r}, x_column={self.x_column!r}, "
                f"y_column={self.y_column!r}, crs={self.crs!r}."
            )
        if self.crs is not None:
            try:
                pyproj.CRS.from_user_input(self.crs)
            except pyproj.exceptions.CRSError as err:
                raise ValueError(
                    f"'crs' must be a CRS pyproj knows (e.g. 'ESRI:102696'); got {self.crs!r}."
                ) from err
        return self

    def source_columns(self) -> tuple[str, ...]:
        """Every column the mapping reads, in a fixed order, without repeats."""
        named = (
            self.time_column,
            self.latitude_column,
            self.longitude_column,
            self.x_column,
            self.y_column,
            self.category_column,
            *self.id_columns,
            self.count_column,
        )
        return tuple(dict.fromkeys(c for c in named if c is not None))


def _stripped(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _ucr_groups(values: pd.Series) -> pd.Series:
    code = pd.to_numeric(values, errors="coerce")
    integral = code.notna() & (code == code.round())
    return (code.where(integral) // 10000).astype("Int64").astype("string")


def _category_labels(values: pd.Series, *, mapping: ColumnMapping) -> tuple[pd.Series, pd.Series]:
    """Canonical type where the mapping names one, else the source value as read; and which
    rows the mapping excludes (``unmapped_categories: exclude``: a readable value it does not
    list)."""
    no_exclusion = pd.Series(False, index=values.index)
    if mapping.category_map is None:
        return values, no_exclusion
    ucr = mapping.category_transform == "ucr_group"
    key = map_unique(values, _ucr_groups) if ucr else values
    labels = key.map(mapping.category_map).astype("string")
    if mapping.unmapped_categories == "exclude":
        excluded = (labels.isna() & key.notna() & values.notna()).astype(bool)
    else:
        excluded = no_exclusion
    return labels.fillna(values), excluded


def _float_text(values: np.ndarray) -> pd.Series:
    """Floats as the shortest text that reads back to the same number; NaN becomes NA."""
    text = pa.array(values, from_pandas=True).cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(text))


def _wgs84_text(x_text: pd.Series, y_text: pd.Series, *, crs: str) -> tuple[pd.Series, pd.Series]:
    """Reproject x/y to latitude/longitude text for the validator to judge.

    Blank stays NA (``missing_coordinates``); 0/0 becomes ``"0"``/``"0"`` and a non-number
    ``"NaN"`` (both ``invalid_coordinates``).
    """
    x = to_float(x_text)
    y = to_float(y_text)
    zero = (x == 0) & (y == 0)
    ok = np.isfinite(x) & np.isfinite(y) & ~zero
    lon = np.full(len(x), np.nan)
    lat = np.full(len(x), np.nan)
    transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    lon[ok], lat[ok] = transformer.transform(x[ok], y[ok])
    lat_text = _float_text(lat)
    lon_text = _float_text(lon)
    lat_text = lat_text.fillna("NaN").mask(zero, "0").mask(x_text.isna().to_numpy(), pd.NA)
    lon_text = lon_text.fillna("NaN").mask(zero, "0").mask(y_text.isna().to_numpy(), pd.NA)
    return lat_text, lon_text


#: what joins the values of several id columns, and what escapes it (and itself) inside a value
ID_SEPARATOR: Final[str] = ":"
ID_ESCAPE: Final[str] = "\\"


def join_id_columns(values: Sequence[pd.Series]) -> pd.Series:
    """One event id per row from the values of the id columns; null where all are null.

    One column is its value as read. Several are joined with ``":"`` after a backslash is put
    before every ``"\\"`` and ``":"`` inside a value, so the join cannot be undone two ways:
    ``a:b`` + ``c`` gives ``a\\:b:c`` and ``a`` + ``b:c`` gives ``a:b\\:c``, where a plain join
    would make both ``a:b:c`` and quarantine the second as a duplicate. Ids without those
    characters (SLMPD's ``15-000123`` + ``31111``) read as before: ``15-000123:31111``.
    """
    if len(values) == 1:
        return values[0]
    blank = np.logical_and.reduce([v.isna().to_numpy(dtype=bool) for v in values])
    parts = [
        v.fillna("")
        .str.replace(ID_ESCAPE, ID_ESCAPE * 2, regex=False)
        .str.replace(ID_SEPARATOR, ID_ESCAPE + ID_SEPARATOR, regex=False)
        for v in values
    ]
    return parts[0].str.cat(parts[1:], sep=ID_SEPARATOR).mask(blank)


def _whole_numbers(values: pd.Series) -> pd.Series:
    count = pd.to_numeric(values, errors="coerce")
    return count.where(count == count.round()).astype("Int64")


def load_mapped_csv(
    paths: Sequence[Path], *, mapping: ColumnMapping, root: Path | None = None
) -> pd.DataFrame:
    """The raw canonical frame of :func:`read_mapped_csv` (its ``events``)."""
    return read_mapped_csv(paths, mapping=mapping, root=root).events


def read_mapped_csv(
    paths: Sequence[Path],
    *,
    mapping: ColumnMapping,
    root: Path | None = None,
    max_rows: int | None = None,
) -> RawSource:
    """Read CSV files of any source through a :class:`ColumnMapping`.

    Files are read in the order given, every column as text. The loader renames, joins ids,
    maps categories and reprojects; it judges nothing, so bad values pass through for
    :func:`features.ingest.validation.validate_events` (validate with
    ``time_format=mapping.time_format`` and ``time_zone=mapping.time_zone``). Arrow's CSV reader
    does the reading; a file it refuses (a short row, undecodable bytes, repeated headers) is
    read with pandas instead, which fills a short row with blanks and names undecodable bytes.
    A file without rows (zero bytes, blank, or a header alone: an interrupted download) is listed
    in ``empty_files`` and logged as a warning. A compressed file (gzip, bzip2, or a zip holding
    one CSV; :func:`features.ingest.parsing.read_decompressed`) is read as its plain text would be.
    ``max_rows`` keeps the first rows read, in file order, and stops reading files once it has
    them (a quick look at a large source); None reads everything.

    Returns
    -------
    RawSource
        ``events``, a raw canonical frame: ``source_file`` (path relative to ``root``, posix, or
        the file name), ``source_row`` (1-based data row), ``event_id`` (one column's value as
        read; several columns joined by :func:`join_id_columns`, which no value can make
        ambiguous; null when all are blank, and for every row without ``id_columns``),
        ``timestamp`` (text as read), ``crime_type`` (the mapped canonical type, else the source
        value; the mapping's ``category`` when it gives one), ``source_category`` (the source
        value, or that constant), ``excluded`` (only with ``unmapped_categories: exclude``: the
        rows whose category the map leaves out of scope),
        ``latitude``, ``longitude`` (WGS84 text; see below), ``area_code`` (null), plus
        ``record_count`` (nullable int: the count column, 1 without one, null when not an
        integer). With x/y columns, ``source_x``/``source_y`` keep the values as read; 0/0 gives
        latitude/longitude ``"0"``, a non-number ``"NaN"`` and a blank null, so the validator
        quarantines them. ``empty_files``: the files without rows and why.

    Raises
    ------
    FileNotFoundError
        When nothing exists at a path.
    ValueError
        When no paths are given, a path is not a regular file (a folder, a looping link), two
        files would get the same ``source_file``, a file lies outside ``root``, cannot be read,
        decompressed (named ``.gz`` but not valid gzip, damaged) or decoded with the mapping's
        ``encoding``, is not well-formed CSV (a row, the first
        included, with more fields than the header), lacks a mapped column (with the closest
        names) or has ambiguous headers, or when every file is empty.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("No CSV files given to load_mapped_csv; expected at least one path.")
    names: list[str] = []
    for path in paths:
        require_file(path, what="CSV file")
        if root is None:
            names.append(path.name)
            continue
        try:
            names.append(path.resolve().relative_to(Path(root).resolve()).as_posix())
        except ValueError as err:
            raise ValueError(f"{path} is not inside the root folder {root}.") from err
    require_distinct_sources(names, paths, why="source names (give a root to keep folders)")
    tables: list[pa.Table] = []
    empty: dict[str, EmptyFileReason] = {}
    for name, path in zip(names, paths, strict=True):
        if max_rows is not None and sum(t.num_rows for t in tables) >= max_rows:
            names, paths = names[: len(tables)], paths[: len(tables)]
            break
        table, why_empty = read_csv_columns(
            path, columns=mapping.source_columns(), encoding=mapping.encoding
        )
        tables.append(table)
        if why_empty is not None:
            empty[name] = why_empty
        log.info("read %d rows from %s", tables[-1].num_rows, path)
    if max_rows is not None and tables:
        over = sum(t.num_rows for t in tables) - max_rows
        if over > 0:
            tables[-1] = tables[-1].slice(0, tables[-1].num_rows - over)
    lengths = np.array([t.num_rows for t in tables], dtype=np.int64)
    rows = int(lengths.sum())
    if rows == 0:
        raise ValueError(
            f"Empty input: the {len(paths)} CSV file(s) {[str(p) for p in paths]} hold no data "
            f"rows; expected at least one record."
        )
    table = pa.concat_tables(tables)
    del tables
    which = np.repeat(np.arange(len(paths)), lengths)
    source_file = pc.take(pa.array(names, type=pa.string()), which)
    source_row = np.arange(1, rows + 1, dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    text = {
        c: _stripped(pd.Series(pd.arrays.ArrowStringArray(table[c])))
        for c in mapping.source_columns()
    }
    del table
    if mapping.id_columns:
        event_id = join_id_columns([text[c] for c in mapping.id_columns])
    else:  # null: the validator gives every row its own id, which no real id can equal
        event_id = pd.Series(pd.NA, index=range(rows), dtype="string")
    if mapping.category_column is None:
        category = pd.Series(mapping.category, index=range(rows), dtype="string")
        crime_type, excluded = category, None
    else:
        category = text[mapping.category_column]
        crime_type, excluded = _category_labels(category, mapping=mapping)
    out = pd.DataFrame(
        {
            "source_file": pd.Series(pd.arrays.ArrowStringArray(source_file)),
            "source_row": source_row,
            "event_id": event_id,
            "timestamp": text[mapping.time_column],
            "crime_type": crime_type,
            "source_category": category,
        }
    )
    if mapping.unmapped_categories == "exclude":
        assert excluded is not None  # validated: exclusion needs a category column and map
        out["excluded"] = excluded.to_numpy(dtype=bool)
    if mapping.crs is not None:
        assert mapping.x_column is not None and mapping.y_column is not None  # validated
        out["latitude"], out["longitude"] = _wgs84_text(
            text[mapping.x_column], text[mapping.y_column], crs=mapping.crs
        )
        out["source_x"] = text[mapping.x_column]
        out["source_y"] = text[mapping.y_column]
    else:
        assert mapping.latitude_column is not None and mapping.longitude_column is not None
        out["latitude"] = text[mapping.latitude_column]
        out["longitude"] = text[mapping.longitude_column]
    out["area_code"] = pd.Series(pd.NA, index=out.index, dtype="string")
    if mapping.count_column is None:
        out["record_count"] = pd.Series(1, index=out.index, dtype="Int64")
    else:
        out["record_count"] = map_unique(text[mapping.count_column], _whole_numbers)
    warn_empty_files(empty, logger=log)
    log.info("read %d rows from %d CSV file(s) through a column mapping", len(out), len(paths))
    return RawSource(events=out, empty_files=empty)
