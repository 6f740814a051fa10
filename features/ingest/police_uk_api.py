"""data.police.uk ``crimes-street`` API responses: JSON files, folders of them, or archives.

Archives (tar, optionally gzip/bzip2/xz compressed, and zip) are streamed member by member and never
unpacked to disk.
"""

from __future__ import annotations

import json
import logging
import lzma
import os
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from beatwise.artefacts.quality import EmptyFileReason
from features.ingest.parsing import (
    RawSource,
    blank_to_na,
    month_to_day,
    require_distinct_sources,
    require_file,
    warn_empty_files,
)

log = logging.getLogger(__name__)

#: keys every record of a data.police.uk ``crimes-street`` API response must have
API_RECORD_KEYS: Final[tuple[str, ...]] = ("id", "category", "month", "location")
API_LOCATION_KEYS: Final[tuple[str, ...]] = ("latitude", "longitude")

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
    None; anything else must be a JSON list of records with the keys the loader reads. JSON
    nested deeper than Python's recursion limit is refused with a ``ValueError`` naming ``where``.
    """
    if not data:
        return None
    try:
        return _parse_api_payload(data, where=where)
    except RecursionError:
        raise ValueError(
            f"{where}: JSON nested too deeply to read (deeper than Python's recursion limit of "
            f"{sys.getrecursionlimit()}); expected a list of crimes-street records, each an "
            "object of a few keys and a location."
        ) from None


def _parse_api_payload(data: bytes, *, where: str) -> pa.Table:
    """The body of :func:`_parse_api_response` for a response that is not zero bytes."""
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


def _read_api_file(path: Path) -> pa.Table | None:
    """One response file parsed; a folder, a looping link or an unreadable file is refused."""
    require_file(path, what="data.police.uk API response file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err}).") from err
    return _parse_api_response(data, where=str(path))


def _read_api_folder(folder: Path) -> list[_ApiResponse]:
    """Parse every ``*.json`` file below a folder, named by their path relative to it.

    Anything named ``*.json`` that is not a regular file (a folder, a looping link) is refused.
    """
    names = sorted(
        name
        for name in (p.relative_to(folder).as_posix() for p in folder.rglob("*.json"))
        if _is_api_member(name)
    )
    if not names:
        raise FileNotFoundError(
            f"No *.json files under {folder}; expected data.police.uk crimes-street API responses."
        )
    return [(name, _read_api_file(folder / name)) for name in names]


def _read_api_input(path: Path) -> list[_ApiResponse]:
    """``(source_file, columns)`` per response of one input: folder, archive or JSON file."""
    if path.is_dir():
        return _read_api_folder(path)
    if path.name.lower().endswith(API_ARCHIVE_SUFFIXES):
        require_file(path, what="tar or zip archive of data.police.uk API responses")
        return _read_api_archive(path)
    return [(path.name, _read_api_file(path))]


def load_police_uk_api_json(paths: Path | Sequence[Path]) -> pd.DataFrame:
    """The raw canonical frame of :func:`read_police_uk_api_json` (its ``events``)."""
    return read_police_uk_api_json(paths).events


def read_police_uk_api_json(paths: Path | Sequence[Path]) -> RawSource:
    """Read data.police.uk ``crimes-street`` API responses (one JSON list per response).

    Each input is a folder (every ``*.json`` below it, in name order), an archive
    (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``/``.txz`` or ``.zip``: every ``*.json`` member,
    in name order, streamed without unpacking to disk; other members are ignored and counted in
    the log) or a JSON file; inputs are read in the order given. macOS resource forks
    (``__MACOSX/``, ``._*.json``) are skipped. A zero-byte response, which an interrupted download
    leaves, holds no records: it is listed in ``empty_files`` and logged as a warning. An empty
    list (``[]``) is a complete answer, a polygon without crime that month, and is not.

    Overlapping query polygons return the same crime more than once; every row is kept, and
    :func:`features.ingest.validation.validate_events` quarantines the repeats as
    ``duplicate_id`` (validate with ``time_format=POLICE_UK_TIME_FORMAT``).

    Parameters
    ----------
    paths
        One input or a sequence of them.

    Returns
    -------
    RawSource
        ``events``, a raw canonical frame: ``source_file`` (a JSON file's name; for a folder the
        path relative to it; for an archive the member path without the leading folder all
        members share), ``source_row`` (1-based record index), ``event_id`` (``str(id)``),
        ``timestamp`` (``YYYY-MM-01`` text from ``month``, or the raw value when it is not a
        ``YYYY-MM`` month), ``crime_type`` (the API slug), ``latitude`` and ``longitude`` (text as
        given; null when ``location`` is null), ``area_code`` (always null: the API returns no
        LSOA); and ``empty_files``, the zero-byte responses (reason ``zero_bytes``).

    Raises
    ------
    FileNotFoundError
        When an input does not exist, or a folder holds no ``*.json`` file.
    ValueError
        When no inputs are given; an input or a ``*.json`` path in a folder is not a regular file
        (a folder, a looping link) or cannot be read; an archive is corrupt (naming it) or holds
        no ``*.json`` member; a response is not UTF-8, not valid JSON (with the error position) or
        nested too deeply to read, its top level is not a list, or a record lacks a required key
        (first offending record index and the keys); two responses would get the same
        ``source_file``; or every response is empty.
    """
    inputs = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    if not inputs:
        raise ValueError("No data.police.uk API response files given; expected at least one.")
    responses = [response for path in inputs for response in _read_api_input(path)]
    names = [name for name, _ in responses]
    require_distinct_sources(
        names, inputs, why="names, since source_file records them (file name or member path)"
    )
    empty: dict[str, EmptyFileReason] = {
        name: "zero_bytes" for name, table in responses if table is None
    }
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
        return blank_to_na(pd.Series(pd.arrays.ArrowStringArray(column)))

    out = pd.DataFrame(
        {
            "source_file": text(pc.take(pa.array(names, type=pa.string()), which)).astype(str),
            "source_row": np.arange(1, rows + 1, dtype=np.int64) - starts,
            "event_id": text(table["event_id"]),
            "timestamp": month_to_day(text(table["month"])),
            "crime_type": text(table["crime_type"]),
            "latitude": text(table["latitude"]),
            "longitude": text(table["longitude"]),
            "area_code": pd.Series(pd.NA, index=range(rows), dtype="string"),
        }
    )
    warn_empty_files(empty, logger=log)
    log.info(
        "read %d records from %d API response(s) in %d input(s)", rows, len(responses), len(inputs)
    )
    return RawSource(events=out, empty_files=empty)
