"""Delimited files of any source read through a :class:`ColumnMapping` (e.g. SLMPD St. Louis).

The mapping names the time, coordinate, category, id and count columns; the loader renames, joins
ids, maps categories and reprojects, and judges nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyproj
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from beatwise.artefacts.quality import EmptyFileReason
from beatwise.taxonomy import validate_crime_types
from features.ingest.parsing import (
    RawSource,
    known_encoding,
    map_unique,
    normalise_header,
    read_csv_text,
    require_columns,
    require_distinct_sources,
    require_file,
    to_float,
    warn_empty_files,
)

log = logging.getLogger(__name__)

#: ``ucr_group`` turns a numeric UCR offence code into its group, ``code // 10000`` (SLMPD codes:
#: 31111 -> "3" robbery, 115400 -> "11" fraud); a code that is not a number maps to nothing.
CategoryTransform = Literal["none", "ucr_group"]
WGS84: Final[str] = "EPSG:4326"
#: bytes per block of Arrow's CSV reader; blocks are parsed in parallel
CSV_BLOCK_BYTES: Final[int] = 16 << 20


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
        The source category (offence code or label).
    category_transform
        ``"none"`` uses the value as read; ``"ucr_group"`` uses ``int(value) // 10000`` as text.
    category_map
        Transformed value -> canonical Beatwise type (exact match after stripping spaces). A value
        the map does not list keeps its source value as ``crime_type``, which the taxonomy
        judges, so e.g. an unmapped UCR code is quarantined as ``unknown_category``. None means
        the source values are category labels the taxonomy knows.
    id_columns
        Columns joined with ``":"`` into ``event_id``, a ``":"`` or ``"\\"`` inside a value
        escaped with a backslash (:func:`join_id_columns`), so distinct records never share an id.
    count_column
        Optional record count: 1 is a record, -1 a reversal that cancels an earlier record.
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
    category_column: str
    category_transform: CategoryTransform = "none"
    category_map: dict[str, str] | None = None
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

    @field_validator("id_columns")
    @classmethod
    def _some_id(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("'id_columns' must name at least one column; got ().")
        return value

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


def _mapped_headers(headers: list[str], *, path: Path, mapping: ColumnMapping) -> dict[str, str]:
    """Mapping column name -> the file's header for it, matched with :func:`normalise_header`."""
    keys = pd.Series([normalise_header(h) for h in headers], dtype=object)
    clashes = sorted(set(keys[keys.duplicated()]))
    if clashes:
        raise ValueError(
            f"{path}: headers {headers} are ambiguous once case, spaces, hyphens and "
            f"underscores are ignored ({clashes} appear more than once); expected distinct names."
        )
    by_key = dict(zip(keys, headers, strict=True))
    found = {
        c: by_key[normalise_header(c)]
        for c in mapping.source_columns()
        if normalise_header(c) in by_key
    }
    renamed = [next((c for c, h in found.items() if h == header), header) for header in headers]
    require_columns(pd.DataFrame(columns=renamed), mapping.source_columns(), where=path)
    return found


def _read_mapped_file_pandas(path: Path, *, mapping: ColumnMapping, skip: int) -> pa.Table:
    """The slow reader, for the files the Arrow reader refuses (see ``_read_mapped_file``).

    A row with more fields than the header is refused, the first data row included (pandas
    would take the extra field as an index and shift every column of the file).
    """
    try:
        table = read_csv_text(path, encoding=mapping.encoding, skip=skip)
    except pd.errors.EmptyDataError:
        table = pd.DataFrame({c: pd.Series([], dtype=str) for c in mapping.source_columns()})
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: cannot be read as a {mapping.encoding} CSV file ({err}); set the "
            f"mapping's 'encoding' (e.g. 'cp1252') if the file uses another one."
        ) from err
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: not well-formed CSV ({err}).") from err
    found = _mapped_headers([str(c) for c in table.columns], path=path, mapping=mapping)
    return pa.table(
        {c: pa.array(table[h].astype(object), type=pa.string()) for c, h in found.items()}
    )


def _csv_header(path: Path, *, skip: int, encoding: str) -> list[str]:
    """The first non-blank record of a CSV file, decoded, read with the standard csv module."""
    with path.open("rb") as handle:
        handle.seek(skip)
        text = io.TextIOWrapper(handle, encoding=encoding, newline="")
        return next((row for row in csv.reader(text) if row), [])


def _empty_reason(path: Path, *, mapping: ColumnMapping) -> EmptyFileReason:
    """Why a CSV file gave no rows: no bytes, no header, or a header alone."""
    if path.stat().st_size == 0:
        return "zero_bytes"
    with path.open("rb") as handle:
        skip = len(codecs.BOM_UTF8) if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0
    return "header_only" if _csv_header(path, skip=skip, encoding=mapping.encoding) else "no_header"


def _read_mapped_file(path: Path, *, mapping: ColumnMapping) -> pa.Table:
    """One CSV's mapped columns as Arrow text, named in the mapping's spelling.

    Arrow's multithreaded reader does the work, every value as text and blank as ``""``. A file
    it refuses (a row with fewer fields than the header, bytes the encoding cannot decode,
    repeated header names) is read again with pandas, whose reading the loader has always
    followed: short rows become blanks, and undecodable files get pandas' error message.
    """
    with path.open("rb") as handle:
        # SLMPD puts a UTF-8 BOM on some cp1252 files, so the BOM is skipped, not trusted.
        skip = len(codecs.BOM_UTF8) if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0
    try:
        # The header comes from the csv module: Arrow's streaming reader, opened only to learn
        # the names, can go on reading in the background after it is closed.
        headers = _csv_header(path, skip=skip, encoding=mapping.encoding)
        if not headers:
            return pa.table({c: pa.array([], type=pa.string()) for c in mapping.source_columns()})
        if len(set(headers)) < len(headers):
            return _read_mapped_file_pandas(path, mapping=mapping, skip=skip)
        found = _mapped_headers(headers, path=path, mapping=mapping)
        columns = list(dict.fromkeys(found.values()))
        with path.open("rb") as handle:
            handle.seek(skip)
            table = pv.read_csv(
                handle,
                read_options=pv.ReadOptions(encoding=mapping.encoding, block_size=CSV_BLOCK_BYTES),
                parse_options=pv.ParseOptions(newlines_in_values=True),
                convert_options=pv.ConvertOptions(
                    include_columns=columns,
                    column_types=dict.fromkeys(columns, pa.string()),
                    strings_can_be_null=False,
                ),
            )
    except (pa.ArrowInvalid, pa.ArrowKeyError, UnicodeDecodeError, csv.Error) as err:
        log.debug("%s: Arrow cannot read it (%s); reading it with pandas", path, err)
        return _read_mapped_file_pandas(path, mapping=mapping, skip=skip)
    return pa.table({c: table[h] for c, h in found.items()})


def _stripped(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def _ucr_groups(values: pd.Series) -> pd.Series:
    code = pd.to_numeric(values, errors="coerce")
    integral = code.notna() & (code == code.round())
    return (code.where(integral) // 10000).astype("Int64").astype("string")


def _category_labels(values: pd.Series, *, mapping: ColumnMapping) -> pd.Series:
    """Canonical type where the mapping names one, else the source value as read."""
    if mapping.category_map is None:
        return values
    ucr = mapping.category_transform == "ucr_group"
    key = map_unique(values, _ucr_groups) if ucr else values
    return key.map(mapping.category_map).astype("string").fillna(values)


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
    paths: Sequence[Path], *, mapping: ColumnMapping, root: Path | None = None
) -> RawSource:
    """Read CSV files of any source through a :class:`ColumnMapping`.

    Files are read in the order given, every column as text. The loader renames, joins ids,
    maps categories and reprojects; it judges nothing, so bad values pass through for
    :func:`features.ingest.validation.validate_events` (validate with
    ``time_format=mapping.time_format`` and ``time_zone=mapping.time_zone``). Arrow's CSV reader
    does the reading; a file it refuses (a short row, undecodable bytes, repeated headers) is
    read with pandas instead, which fills a short row with blanks and names undecodable bytes.
    A file without rows (zero bytes, blank, or a header alone: an interrupted download) is listed
    in ``empty_files`` and logged as a warning.

    Returns
    -------
    RawSource
        ``events``, a raw canonical frame: ``source_file`` (path relative to ``root``, posix, or
        the file name), ``source_row`` (1-based data row), ``event_id`` (one column's value as
        read; several columns joined by :func:`join_id_columns`, which no value can make
        ambiguous; null when all are blank), ``timestamp`` (text as read), ``crime_type`` (the
        mapped canonical type, else the source value), ``source_category`` (the source value),
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
        files would get the same ``source_file``, a file lies outside ``root``, cannot be read or
        decoded with the mapping's ``encoding``, is not well-formed CSV (a row, the first
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
        try:
            tables.append(_read_mapped_file(path, mapping=mapping))
            if tables[-1].num_rows == 0:
                empty[name] = _empty_reason(path, mapping=mapping)
        except OSError as err:
            raise ValueError(f"{path}: cannot be read ({err.strerror or err}).") from err
        log.info("read %d rows from %s", tables[-1].num_rows, path)
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
    event_id = join_id_columns([text[c] for c in mapping.id_columns])
    out = pd.DataFrame(
        {
            "source_file": pd.Series(pd.arrays.ArrowStringArray(source_file)),
            "source_row": source_row,
            "event_id": event_id,
            "timestamp": text[mapping.time_column],
            "crime_type": _category_labels(text[mapping.category_column], mapping=mapping),
            "source_category": text[mapping.category_column],
        }
    )
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
