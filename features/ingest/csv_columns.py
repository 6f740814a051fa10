"""One delimited file's named columns as Arrow text: plain or compressed, with or without a BOM.

:func:`read_csv_columns` is the reading half of :mod:`features.ingest.mapped_csv`: it finds the
named columns among a file's headers (matched with
:func:`~features.ingest.parsing.normalise_header`), reads them with Arrow's multithreaded reader
(pandas for the files Arrow refuses) and says why a file holds no rows. It judges no value.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from beatwise.artefacts.quality import EmptyFileReason
from features.ingest.parsing import (
    normalise_header,
    read_csv_text,
    read_decompressed,
    require_columns,
)

log = logging.getLogger(__name__)

#: bytes per block of Arrow's CSV reader; blocks are parsed in parallel
CSV_BLOCK_BYTES: Final[int] = 16 << 20


def read_csv_columns(
    path: Path, *, columns: tuple[str, ...], encoding: str
) -> tuple[pa.Table, EmptyFileReason | None]:
    """The file's ``columns`` as Arrow text (blank as ``""``), and why it has no rows, if so.

    The columns are named in the caller's spelling. A compressed file (gzip, bzip2, a zip holding
    one file; :func:`~features.ingest.parsing.read_decompressed`) is read as its plain text
    would be; a leading UTF-8 BOM is skipped whatever the ``encoding``.

    Raises
    ------
    ValueError
        When the file cannot be read, decompressed or decoded with ``encoding``, is not
        well-formed CSV, lacks a column (with the closest names) or has ambiguous headers.
    """
    try:
        data = read_decompressed(path)
        table = _read_file(path, columns=columns, encoding=encoding, data=data)
        if table.num_rows:
            return table, None
        return table, _empty_reason(path, data=data, encoding=encoding)
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err}).") from err


def _mapped_headers(headers: list[str], *, path: Path, columns: tuple[str, ...]) -> dict[str, str]:
    """Column name -> the file's header for it, matched with :func:`normalise_header`."""
    keys = pd.Series([normalise_header(h) for h in headers], dtype=object)
    clashes = sorted(set(keys[keys.duplicated()]))
    if clashes:
        raise ValueError(
            f"{path}: headers {headers} are ambiguous once case, spaces, hyphens and "
            f"underscores are ignored ({clashes} appear more than once); expected distinct names."
        )
    by_key = dict(zip(keys, headers, strict=True))
    found = {c: by_key[normalise_header(c)] for c in columns if normalise_header(c) in by_key}
    renamed = [next((c for c, h in found.items() if h == header), header) for header in headers]
    require_columns(pd.DataFrame(columns=renamed), columns, where=path)
    return found


@contextmanager
def _opened(path: Path, *, data: bytes | None, skip: int) -> Iterator[IO[bytes]]:
    """The file's bytes from ``skip`` on: from the disk, or from ``data`` when it was compressed."""
    if data is None:
        with path.open("rb") as handle:
            handle.seek(skip)
            yield handle
    else:
        buffer = io.BytesIO(data)  # shares the bytes, no copy
        buffer.seek(skip)
        yield buffer


def _read_file_pandas(
    path: Path, *, columns: tuple[str, ...], encoding: str, skip: int, data: bytes | None
) -> pa.Table:
    """The slow reader, for the files the Arrow reader refuses (see ``_read_file``).

    A row with more fields than the header is refused, the first data row included (pandas
    would take the extra field as an index and shift every column of the file).
    """
    try:
        table = read_csv_text(path, encoding=encoding, skip=skip, data=data)
    except pd.errors.EmptyDataError:
        table = pd.DataFrame({c: pd.Series([], dtype=str) for c in columns})
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: cannot be read as a {encoding} CSV file ({err}); set the "
            f"mapping's 'encoding' (e.g. 'cp1252') if the file uses another one."
        ) from err
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: not well-formed CSV ({err}).") from err
    found = _mapped_headers([str(c) for c in table.columns], path=path, columns=columns)
    return pa.table(
        {c: pa.array(table[h].astype(object), type=pa.string()) for c, h in found.items()}
    )


def _csv_header(path: Path, *, data: bytes | None, skip: int, encoding: str) -> list[str]:
    """The first non-blank record of a CSV file, decoded, read with the standard csv module."""
    with _opened(path, data=data, skip=skip) as handle:
        text = io.TextIOWrapper(handle, encoding=encoding, newline="")
        try:
            return next((row for row in csv.reader(text) if row), [])
        finally:
            text.detach()  # the handle is closed by its owner


def _bom_length(path: Path, *, data: bytes | None) -> int:
    """Bytes of a leading UTF-8 byte-order mark (0 or 3)."""
    with _opened(path, data=data, skip=0) as handle:
        return len(codecs.BOM_UTF8) if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0


def _empty_reason(path: Path, *, data: bytes | None, encoding: str) -> EmptyFileReason:
    """Why a CSV file gave no rows: no bytes, no header, or a header alone."""
    if (path.stat().st_size if data is None else len(data)) == 0:
        return "zero_bytes"
    skip = _bom_length(path, data=data)
    header = _csv_header(path, data=data, skip=skip, encoding=encoding)
    return "header_only" if header else "no_header"


def _read_file(
    path: Path, *, columns: tuple[str, ...], encoding: str, data: bytes | None
) -> pa.Table:
    """One CSV's named columns as Arrow text, named in the caller's spelling.

    Arrow's multithreaded reader does the work, every value as text and blank as ``""``. A file
    it refuses (a row with fewer fields than the header, bytes the encoding cannot decode,
    repeated header names) is read again with pandas, whose reading the loader has always
    followed: short rows become blanks, and undecodable files get pandas' error message.
    ``data`` is the content of a compressed file, None for a plain one.
    """
    # SLMPD puts a UTF-8 BOM on some cp1252 files, so the BOM is skipped, not trusted.
    skip = _bom_length(path, data=data)
    try:
        # The header comes from the csv module: Arrow's streaming reader, opened only to learn
        # the names, can go on reading in the background after it is closed.
        headers = _csv_header(path, data=data, skip=skip, encoding=encoding)
        if not headers:
            return pa.table({c: pa.array([], type=pa.string()) for c in columns})
        if len(set(headers)) < len(headers):
            return _read_file_pandas(path, columns=columns, encoding=encoding, skip=skip, data=data)
        found = _mapped_headers(headers, path=path, columns=columns)
        names = list(dict.fromkeys(found.values()))

        def read(source: Any) -> pa.Table:
            return pv.read_csv(
                source,
                read_options=pv.ReadOptions(encoding=encoding, block_size=CSV_BLOCK_BYTES),
                parse_options=pv.ParseOptions(newlines_in_values=True),
                convert_options=pv.ConvertOptions(
                    include_columns=names,
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                ),
            )

        if data is None:
            with _opened(path, data=None, skip=skip) as handle:
                table = read(handle)
        else:
            table = read(pa.BufferReader(pa.py_buffer(data).slice(skip)))
    except (pa.ArrowInvalid, pa.ArrowKeyError, UnicodeDecodeError, csv.Error) as err:
        log.debug("%s: Arrow cannot read it (%s); reading it with pandas", path, err)
        return _read_file_pandas(path, columns=columns, encoding=encoding, skip=skip, data=data)
    return pa.table({c: table[h] for c, h in found.items()})
