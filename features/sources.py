"""Loaders that turn each supported source into a raw canonical frame (see ``features.events``).

A loader reads, renames and records provenance (file, row); it judges nothing. Judging is
``features.events.validate_events``, so every source gets the same checks and reasons.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import lzma
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyproj
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from beatwise.taxonomy import validate_crime_types
from features.events import map_unique, to_float

log = logging.getLogger(__name__)

SYNTHETIC_EVENT_COLUMNS = ("crime_id", "timestamp", "crime_type", "latitude", "longitude")


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], *, where: Path) -> None:
    import difflib

    missing = [c for c in required if c not in frame.columns]
    if missing:
        hints = {
            m: difflib.get_close_matches(m, [str(c) for c in frame.columns], n=1) for m in missing
        }
        hint_text = "; ".join(f"'{m}' (closest: {h[0]!r})" for m, h in hints.items() if h)
        raise ValueError(
            f"{where}: missing required column(s) {missing}. Expected {list(required)}; "
            f"found {list(frame.columns)}." + (f" Did you mean: {hint_text}?" if hint_text else "")
        )


def _require_distinct_sources(names: Sequence[str], paths: Sequence[Path], *, why: str) -> None:
    """Refuse inputs whose ``source_file`` names would clash (rows would lose their provenance)."""
    named = pd.Series(list(names))
    clashes = sorted(set(named[named.duplicated()]))
    if clashes:
        raise ValueError(
            f"Input files must have distinct {why}; "
            f"{clashes} appear more than once in {[str(p) for p in paths]}."
        )


def load_synthetic_events(path: Path) -> pd.DataFrame:
    """Read the simulator's ``events.parquet`` into a raw canonical frame.

    Raises
    ------
    FileNotFoundError
        When the file does not exist (run the ``simulate`` stage first).
    ValueError
        When the file is empty or lacks the simulator's columns.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No synthetic events at {path}; run `dvc repro simulate` to generate them."
        )
    frame = pd.read_parquet(path)
    _require_columns(frame, SYNTHETIC_EVENT_COLUMNS, where=path)
    if frame.empty:
        raise ValueError(f"{path} holds no events; check the simulate params (scale, weeks).")
    log.info("read %d rows from %s", len(frame), path)
    return pd.DataFrame(
        {
            "source_file": path.name,
            "source_row": pd.RangeIndex(1, len(frame) + 1),
            "event_id": frame["crime_id"].astype("string"),
            "timestamp": frame["timestamp"],
            "crime_type": frame["crime_type"].astype("string"),
            "latitude": frame["latitude"],
            "longitude": frame["longitude"],
            "area_code": frame["area_code"].astype("string") if "area_code" in frame else pd.NA,
        }
    )


AREA_COLUMNS = ("area_code", "residents", "geometry")


def load_areas(path: Path) -> gpd.GeoDataFrame:
    """Read area polygons with attributes (GeoParquet or any file geopandas reads), in EPSG:4326."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No area polygons at {path}.")
    areas = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    _require_columns(areas, AREA_COLUMNS, where=path)
    if areas.empty:
        raise ValueError(f"{path} holds no area polygons.")
    if areas.crs is None:
        raise ValueError(f"{path} has no CRS; Beatwise cannot place its polygons.")
    return areas.to_crs("EPSG:4326")


#: data.police.uk dates are months; the loaders write the first of the month in this format, and
#: validating with it (rather than ISO 8601) refuses a bare year such as ``"2016"``.
POLICE_UK_TIME_FORMAT: Final[str] = "%Y-%m-%d"

#: the columns of a data.police.uk monthly ``*-street.csv`` that the street loader reads
STREET_CSV_COLUMNS: Final[tuple[str, ...]] = (
    "Crime ID",
    "Month",
    "Longitude",
    "Latitude",
    "LSOA code",
    "Crime type",
)
STREET_CSV_PATTERN: Final[str] = "*/*-street.csv"

#: keys every record of a data.police.uk ``crimes-street`` API response must have
API_RECORD_KEYS: Final[tuple[str, ...]] = ("id", "category", "month", "location")
API_LOCATION_KEYS: Final[tuple[str, ...]] = ("latitude", "longitude")

_MONTH = re.compile(r"^\s*(\d{4})-(0[1-9]|1[0-2])\s*$")


def _month_to_day(month: pd.Series) -> pd.Series:
    """``YYYY-MM`` to ``YYYY-MM-01``; anything else stays as read for the validator to judge."""
    return map_unique(month.astype("string"), _months_to_days)


def _months_to_days(text: pd.Series) -> pd.Series:
    parts = text.str.extract(_MONTH)
    first_day = parts[0] + "-" + parts[1] + "-01"
    return first_day.where(parts[0].notna(), text.mask(text.str.strip() == ""))


def _blank_to_na(values: pd.Series) -> pd.Series:
    text = values.astype("string")
    return text.mask(text == "")


def load_police_uk_street_csv(folder: Path) -> pd.DataFrame:
    """Read a data.police.uk monthly archive (``YYYY-MM/YYYY-MM-<force>-street.csv``).

    Every file matching ``*/*-street.csv`` under ``folder`` is read in sorted order, all columns
    as text, so nothing is coerced silently; bad values pass through for
    :func:`features.events.validate_events` to quarantine (validate with
    ``time_format=POLICE_UK_TIME_FORMAT``).

    Returns
    -------
    pandas.DataFrame
        A raw canonical frame: ``source_file`` (path relative to ``folder``, posix),
        ``source_row`` (1-based data row), ``event_id`` (``Crime ID``; null for anti-social
        behaviour, which has none), ``timestamp`` (``YYYY-MM-01`` text at month resolution, or the
        raw ``Month`` when it is not a ``YYYY-MM`` month), ``crime_type`` (display name),
        ``latitude``, ``longitude`` (text as read), ``area_code`` (``LSOA code``).

    Raises
    ------
    FileNotFoundError
        When ``folder`` does not exist, is not a folder, or holds no matching files.
    ValueError
        When a file lacks a required column (with the closest names found), is not UTF-8 or not
        well-formed CSV, or when every file is empty.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"No data.police.uk archive folder at {folder}; expected a folder holding "
            f"YYYY-MM/YYYY-MM-<force>-street.csv files."
        )
    paths = sorted(folder.glob(STREET_CSV_PATTERN))
    if not paths:
        raise FileNotFoundError(
            f"No files matching YYYY-MM/YYYY-MM-<force>-street.csv under {folder}."
        )
    frames: list[pd.DataFrame] = []
    for path in paths:
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            continue  # a zero-byte file has no header and no rows; the all-empty check covers it
        except (UnicodeDecodeError, pd.errors.ParserError) as err:
            raise ValueError(
                f"{path}: cannot be read as a UTF-8 data.police.uk street CSV ({err})."
            ) from err
        _require_columns(table, STREET_CSV_COLUMNS, where=path)
        frames.append(
            pd.DataFrame(
                {
                    "source_file": path.relative_to(folder).as_posix(),
                    "source_row": pd.RangeIndex(1, len(table) + 1),
                    "event_id": _blank_to_na(table["Crime ID"]),
                    "timestamp": _month_to_day(table["Month"]),
                    "crime_type": _blank_to_na(table["Crime type"]),
                    "latitude": _blank_to_na(table["Latitude"]),
                    "longitude": _blank_to_na(table["Longitude"]),
                    "area_code": _blank_to_na(table["LSOA code"]),
                }
            )
        )
        log.info("read %d rows from %s", len(table), path)
    rows = sum(len(f) for f in frames)
    if rows == 0:
        raise ValueError(
            f"Empty input: the {len(paths)} street CSV file(s) under {folder} hold no data rows; "
            f"expected at least one crime."
        )
    log.info("read %d rows from %d street CSV file(s) under %s", rows, len(paths), folder)
    return pd.concat(frames, ignore_index=True)


#: archive suffixes the API loader reads as archives (members are streamed, never unpacked)
API_ARCHIVE_SUFFIXES: Final[tuple[str, ...]] = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".zip",
)
_API_TEXT_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "month",
    "crime_type",
    "latitude",
    "longitude",
)
#: a response's source name and its columns; None for a zero-byte file
_ApiResponse = tuple[str, pa.Table | None]


def _is_api_member(name: str) -> bool:
    """A ``*.json`` file, except macOS resource forks (``__MACOSX/``, ``._name.json``)."""
    parts = name.split("/")
    return name.endswith(".json") and parts[0] != "__MACOSX" and not parts[-1].startswith("._")


def _json_text(values: list[Any]) -> pa.Array:
    """JSON scalars as Arrow text, each value as ``str(value)`` would write it (null stays null).

    Text, integer and all-null columns, which is what the API returns, convert in Arrow; anything
    else (floats, booleans, nested values, mixed types) goes through ``str`` value by value.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        array = None  # mixed or out-of-range types: Arrow cannot hold them in one column
    if array is not None and pa.types.is_string(array.type):
        return array
    if array is not None and (pa.types.is_integer(array.type) or pa.types.is_null(array.type)):
        return array.cast(pa.string())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _record_problem(record: Any) -> str | None:
    """Why a crimes-street record cannot be read, or None when it can."""
    if not isinstance(record, dict):
        return (
            f"must be a JSON object with keys {list(API_RECORD_KEYS)}; got {type(record).__name__}"
        )
    missing = [k for k in API_RECORD_KEYS if k not in record]
    location = record.get("location")
    if isinstance(location, dict):
        missing += [f"location.{k}" for k in API_LOCATION_KEYS if k not in location]
    if missing:
        return (
            f"lacks required key(s) {missing}; expected {list(API_RECORD_KEYS)} and "
            f"location.{{latitude, longitude}}; it has {sorted(map(str, record))}"
        )
    return None


_EMPTY_API_RESPONSE: Final[pa.Table] = pa.table(
    {c: pa.array([], type=pa.string()) for c in _API_TEXT_COLUMNS}
)


def _parse_api_response(data: bytes, *, where: str) -> pa.Table | None:
    """One crimes-street response as Arrow text columns (see ``_API_TEXT_COLUMNS``).

    ``where`` names the response in error messages. Zero bytes (an interrupted download) give
    None; anything else must be a JSON list of records with the keys the loader reads.
    """
    if not data:
        return None
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not UTF-8 text ({err}).") from err
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{where}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}, "
            f"char {err.pos}); expected a list of crimes-street records."
        ) from err
    if not isinstance(payload, list):
        raise ValueError(
            f"{where}: the top level must be a JSON list of crimes-street records; "
            f"got {type(payload).__name__}."
        )
    try:
        # Strict lookups: a record without a key the loader reads fails here, and only then
        # are the records searched for the first offender, for the message.
        locations = [r["location"] for r in payload]
        columns = {
            "event_id": [r["id"] for r in payload],
            "month": [r["month"] for r in payload],
            "crime_type": [r["category"] for r in payload],
            "latitude": [loc["latitude"] if isinstance(loc, dict) else None for loc in locations],
            "longitude": [loc["longitude"] if isinstance(loc, dict) else None for loc in locations],
        }
    except (KeyError, TypeError):
        problems = (_record_problem(record) for record in payload)
        index, problem = next((i, p) for i, p in enumerate(problems) if p is not None)
        raise ValueError(f"{where}: record {index} {problem}.") from None
    try:
        return pa.table({name: _json_text(values) for name, values in columns.items()})
    except UnicodeEncodeError as err:  # a lone surrogate written as an escape, e.g. "\\ud800"
        raise ValueError(
            f"{where}: a record holds text that is not valid Unicode ({err.reason}); "
            f"expected UTF-8 text."
        ) from err


def _strip_common_folder(names: list[str]) -> list[str]:
    """Member paths without the one leading folder they all share (an archive's wrapper)."""
    heads = {n.split("/", 1)[0] for n in names}
    if len(heads) == 1 and all("/" in n for n in names):
        return [n.split("/", 1)[1] for n in names]
    return names


def _archive_members(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """Stream ``(member path, bytes)`` of an archive's files; bytes are None for non-API files.

    Tar archives (plain, gzip, bzip2 or xz) are read front to back in one pass, which is all xz
    allows; zip members come in name order. Nothing is written to disk.
    """
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if not info.is_dir():
                    api = _is_api_member(info.filename)
                    yield info.filename, archive.read(info) if api else None
        return
    with tarfile.open(path, mode="r|*") as archive:
        for member in archive:
            if member.isdir():
                continue
            name = member.name.removeprefix("./")
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None or not _is_api_member(name):
                yield name, None
            else:
                yield name, handle.read()


def _read_api_archive(path: Path) -> list[_ApiResponse]:
    """Parse every ``*.json`` member of an archive; names lose the common leading folder."""
    members: list[_ApiResponse] = []
    ignored: list[str] = []
    kind = "zip" if path.name.lower().endswith(".zip") else "tar"
    try:
        for name, data in _archive_members(path):
            if data is None:
                ignored.append(name)
            else:
                members.append((name, _parse_api_response(data, where=f"{path} member {name}")))
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        lzma.LZMAError,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,  # a zip compression method Python lacks
        RuntimeError,  # an encrypted zip member
    ) as err:
        raise ValueError(
            f"{path}: cannot be read as a {kind} archive ({err}); expected an intact "
            f"{'/'.join(API_ARCHIVE_SUFFIXES)} file of crimes-street JSON responses."
        ) from err
    if ignored:
        log.info(
            "ignored %d member(s) of %s that are not *.json files, e.g. %s",
            len(ignored),
            path,
            ignored[:3],
        )
    if not members:
        raise ValueError(
            f"{path}: the archive holds no *.json members ({len(ignored)} other member(s) "
            f"ignored); expected data.police.uk crimes-street API responses."
        )
    members.sort(key=lambda m: m[0])
    names = _strip_common_folder([name for name, _ in members])
    return [(name, table) for name, (_, table) in zip(names, members, strict=True)]


def _read_api_folder(folder: Path) -> list[_ApiResponse]:
    """Parse every ``*.json`` file below a folder, named by their path relative to it."""
    names = sorted(
        name
        for name in (p.relative_to(folder).as_posix() for p in folder.rglob("*.json"))
        if _is_api_member(name) and (folder / name).is_file()
    )
    if not names:
        raise FileNotFoundError(
            f"No *.json files under {folder}; expected data.police.uk crimes-street API responses."
        )
    return [
        (name, _parse_api_response((folder / name).read_bytes(), where=str(folder / name)))
        for name in names
    ]


def _read_api_input(path: Path) -> list[_ApiResponse]:
    """``(source_file, columns)`` per response of one input: folder, archive or JSON file."""
    if path.is_dir():
        return _read_api_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"No data.police.uk API response file at {path}.")
    if path.name.lower().endswith(API_ARCHIVE_SUFFIXES):
        return _read_api_archive(path)
    return [(path.name, _parse_api_response(path.read_bytes(), where=str(path)))]


def load_police_uk_api_json(paths: Path | Sequence[Path]) -> pd.DataFrame:
    """Read data.police.uk ``crimes-street`` API responses (one JSON list per response).

    Each input is a folder (every ``*.json`` below it, in name order), an archive
    (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``/``.txz`` or ``.zip``: every ``*.json`` member,
    in name order, streamed without unpacking to disk; other members are ignored and counted in
    the log) or a JSON file; inputs are read in the order given. macOS resource forks
    (``__MACOSX/``, ``._*.json``) are skipped. A zero-byte response, which an interrupted download
    leaves, holds no records and is logged as a warning.

    Overlapping query polygons return the same crime more than once; every row is kept, and
    :func:`features.events.validate_events` quarantines the repeats as ``duplicate_id`` (validate
    with ``time_format=POLICE_UK_TIME_FORMAT``).

    Parameters
    ----------
    paths
        One input or a sequence of them.

    Returns
    -------
    pandas.DataFrame
        A raw canonical frame: ``source_file`` (a JSON file's name; for a folder the path
        relative to it; for an archive the member path without the leading folder all members
        share), ``source_row`` (1-based record index), ``event_id`` (``str(id)``), ``timestamp``
        (``YYYY-MM-01`` text from ``month``, or the raw value when it is not a ``YYYY-MM``
        month), ``crime_type`` (the API slug), ``latitude`` and ``longitude`` (text as given; null
        when ``location`` is null), ``area_code`` (always null: the API returns no LSOA).

    Raises
    ------
    FileNotFoundError
        When an input does not exist, or a folder holds no ``*.json`` file.
    ValueError
        When no inputs are given; an archive is corrupt (naming it) or holds no ``*.json``
        member; a response is not UTF-8 or not valid JSON (with the error position), its top
        level is not a list, or a record lacks a required key (first offending record index and
        the keys); two responses would get the same ``source_file``; or every response is empty.
    """
    inputs = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    if not inputs:
        raise ValueError("No data.police.uk API response files given; expected at least one.")
    responses = [response for path in inputs for response in _read_api_input(path)]
    names = [name for name, _ in responses]
    _require_distinct_sources(
        names, inputs, why="names, since source_file records them (file name or member path)"
    )
    blank = [name for name, table in responses if table is None]
    if blank:
        log.warning(
            "%d of %d API response file(s) are empty (zero bytes, as an interrupted download "
            "leaves them) and count as holding no records, e.g. %s",
            len(blank),
            len(responses),
            blank[:3],
        )
    tables = [_EMPTY_API_RESPONSE if table is None else table for _, table in responses]
    lengths = np.array([table.num_rows for table in tables], dtype=np.int64)
    rows = int(lengths.sum())
    if rows == 0:
        raise ValueError(
            f"Empty input: the {len(responses)} API response file(s) hold no records; "
            f"expected at least one crime."
        )
    table = pa.concat_tables(tables).combine_chunks()
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    which = np.repeat(np.arange(len(responses)), lengths)

    def text(column: pa.ChunkedArray | pa.Array) -> pd.Series:
        return _blank_to_na(pd.Series(pd.arrays.ArrowStringArray(column)))

    out = pd.DataFrame(
        {
            "source_file": text(pc.take(pa.array(names, type=pa.string()), which)).astype(str),
            "source_row": np.arange(1, rows + 1, dtype=np.int64) - starts,
            "event_id": text(table["event_id"]),
            "timestamp": _month_to_day(text(table["month"])),
            "crime_type": text(table["crime_type"]),
            "latitude": text(table["latitude"]),
            "longitude": text(table["longitude"]),
            "area_code": pd.Series(pd.NA, index=range(rows), dtype="string"),
        }
    )
    log.info(
        "read %d records from %d API response(s) in %d input(s)", rows, len(responses), len(inputs)
    )
    return out


# --- any delimited file with a column mapping (e.g. SLMPD St. Louis) -----------------------------

#: ``ucr_group`` turns a numeric UCR offence code into its group, ``code // 10000`` (SLMPD codes:
#: 31111 -> "3" robbery, 115400 -> "11" fraud); a code that is not a number maps to nothing.
CategoryTransform = Literal["none", "ucr_group"]
WGS84: Final[str] = "EPSG:4326"
#: bytes per block of Arrow's CSV reader; blocks are parsed in parallel
CSV_BLOCK_BYTES: Final[int] = 16 << 20


def normalise_header(name: str) -> str:
    """Header key used to match a mapping's column names to a file's headers.

    Lowercased, with a leading BOM, spaces, hyphens and underscores removed, so ``Date Occur``,
    ``DateOccur`` and ``date_occur`` are the same column, as are ``X-Coord`` and ``XCoord``.
    """
    return re.sub(r"[\s\-_]+", "", name.lstrip("\ufeff")).lower()


def known_encoding(value: str) -> str:
    """``value`` if it names a Python codec (for params' ``encoding`` fields), else ValueError."""
    try:
        codecs.lookup(value)
    except LookupError as err:
        raise ValueError(
            f"'encoding' must be a Python codec such as 'utf-8' or 'latin-1'; got {value!r}."
        ) from err
    return value


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
        :func:`features.events.validate_events`. Beatwise works in naive wall-clock time of this
        zone: text timestamps that carry a UTC offset or ``Z`` (a ``time_format`` with ``%z``)
        are converted to it and made naive, and naive timestamps, as SLMPD writes them, are
        taken as already local in it and kept as they are.
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
        Columns joined with ``":"`` into ``event_id``.
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
    _require_columns(pd.DataFrame(columns=renamed), mapping.source_columns(), where=path)
    return found


def _read_mapped_file_pandas(path: Path, *, mapping: ColumnMapping, skip: int) -> pa.Table:
    """The slow reader, for the files the Arrow reader refuses (see ``_read_mapped_file``)."""
    try:
        with path.open("rb") as handle:
            handle.seek(skip)
            table = pd.read_csv(handle, dtype=str, keep_default_na=False, encoding=mapping.encoding)
    except pd.errors.EmptyDataError:
        table = pd.DataFrame({c: pd.Series([], dtype=str) for c in mapping.source_columns()})
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ValueError(
            f"{path}: cannot be read as a {mapping.encoding} CSV file ({err}); set the "
            f"mapping's 'encoding' (e.g. 'cp1252') if the file uses another one."
        ) from err
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


def _whole_numbers(values: pd.Series) -> pd.Series:
    count = pd.to_numeric(values, errors="coerce")
    return count.where(count == count.round()).astype("Int64")


def load_mapped_csv(
    paths: Sequence[Path], *, mapping: ColumnMapping, root: Path | None = None
) -> pd.DataFrame:
    """Read CSV files of any source through a :class:`ColumnMapping`.

    Files are read in the order given, every column as text. The loader renames, joins ids,
    maps categories and reprojects; it judges nothing, so bad values pass through for
    :func:`features.events.validate_events` (validate with ``time_format=mapping.time_format``
    and ``time_zone=mapping.time_zone``). Arrow's CSV reader does the reading; a file it refuses
    (a short row, undecodable bytes, repeated headers) is read with pandas instead, which fills a
    short row with blanks and names undecodable bytes.

    Returns
    -------
    pandas.DataFrame
        A raw canonical frame: ``source_file`` (path relative to ``root``, posix, or the file
        name), ``source_row`` (1-based data row), ``event_id`` (the id columns joined with
        ``":"``; null when all are blank), ``timestamp`` (text as read), ``crime_type`` (the
        mapped canonical type, else the source value), ``source_category`` (the source value),
        ``latitude``, ``longitude`` (WGS84 text; see below), ``area_code`` (null), plus
        ``record_count`` (nullable int: the count column, 1 without one, null when not an
        integer). With x/y columns, ``source_x``/``source_y`` keep the values as read; 0/0 gives
        latitude/longitude ``"0"``, a non-number ``"NaN"`` and a blank null, so the validator
        quarantines them.

    Raises
    ------
    FileNotFoundError
        When a path is not a file.
    ValueError
        When no paths are given, two files would get the same ``source_file``, a file lies
        outside ``root``, cannot be decoded with the mapping's ``encoding``, lacks a mapped
        column (with the closest names) or has ambiguous headers, or when every file is empty.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("No CSV files given to load_mapped_csv; expected at least one path.")
    names: list[str] = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"No CSV file at {path}; expected an existing file.")
        if root is None:
            names.append(path.name)
            continue
        try:
            names.append(path.resolve().relative_to(Path(root).resolve()).as_posix())
        except ValueError as err:
            raise ValueError(f"{path} is not inside the root folder {root}.") from err
    _require_distinct_sources(names, paths, why="source names (give a root to keep folders)")
    tables: list[pa.Table] = []
    for path in paths:
        tables.append(_read_mapped_file(path, mapping=mapping))
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
    ids = [text[c].fillna("") for c in mapping.id_columns]
    event_id = ids[0].str.cat(ids[1:], sep=":") if len(ids) > 1 else ids[0]
    event_id = event_id.mask(np.logical_and.reduce([(i == "").to_numpy(dtype=bool) for i in ids]))
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
    log.info("read %d rows from %d CSV file(s) through a column mapping", len(out), len(paths))
    return out
