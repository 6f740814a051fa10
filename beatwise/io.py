"""Atomic file writing, and reading that names the file, shared by every package.

A reader (DVC, another stage, a planner's tool) must never see a half-written file: every writer
here writes to a temporary file beside the target and renames it into place, creating parent
folders first (DVC does not create output folders).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    The parent folder is created (DVC does not create output folders), and a failed write never
    leaves a half-written file where a reader expects a whole one. ``durable`` also flushes the
    file to disk before the rename and the folder's entry after it (:func:`fsync_path`), so that
    not even a power cut can leave the name pointing at lost bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~current_umask())  # what an ordinary write would give, not 0600
    try:
        yield tmp_path
        if durable:
            fsync_path(tmp_path)
        tmp_path.replace(path)
        if durable:
            fsync_path(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process's file-mode creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, from the operating system's cache to disk.

    A folder is flushed where the system allows opening one (POSIX); elsewhere this is a no-op
    for folders.
    """
    path = Path(path)
    if path.is_dir() and os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: Path, text: str, *, durable: bool = False) -> None:
    """Write text atomically (UTF-8, newline as is); ``durable``: see :func:`atomic_path`."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)


def write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write bytes atomically, exactly as given; ``durable``: see :func:`atomic_path`."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    log.info("wrote %s (%d bytes)", path, len(data))


def copy_file(source: Path, path: Path) -> None:
    """Copy a file's bytes to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
    log.info("wrote %s (%d bytes, a copy of %s)", path, path.stat().st_size, source)


def json_safe(value: Any) -> Any:
    """Plain JSON types: NaN and infinities as None, numpy scalars as Python, tuples as lists.

    The one JSON sanitiser: :func:`write_json` applies it, and the typed stage files use it to
    normalise figures on the way in, so a file read back equals what was written.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    return value


def json_text(payload: dict[str, Any]) -> str:
    """The text :func:`write_json` writes: sorted keys, two-space indent, NaN/inf as null."""
    return json.dumps(json_safe(payload), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(path: Path, payload: dict[str, Any], *, durable: bool = False) -> None:
    """Write JSON atomically, sorted keys, NaN/inf as null (strict JSON for other tools)."""
    write_text(path, json_text(payload), durable=durable)


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, refusing a missing file or one that is not JSON, naming it."""
    if not Path(path).exists():
        raise FileNotFoundError(f"Expected the JSON file {path}; it does not exist.")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}).") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object. Got {type(data).__name__}.")
    return data


#: how many column names a refusal quotes
_SHOWN = 8


def read_parquet(
    path: Path,
    *,
    required: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    where: tuple[str, Sequence[Any]] | None = None,
    since: tuple[str, Any] | None = None,
) -> pd.DataFrame:
    """Read a stage's Parquet input, refusing one that lacks a column the stage reads.

    ``required`` are the columns the reader needs, ``columns`` the only ones to read (all when
    None; they are required too). A file of the wrong kind (``cells.parquet`` given as the
    features) then stops with a message naming the file and the missing columns, not a
    ``KeyError`` deep in the stage. ``where=(column, values)`` reads only the rows whose
    ``column`` is one of ``values``; row groups whose statistics exclude them are never read
    (the feature panel keeps whole periods in its row groups, :func:`write_parquet`).
    ``since=(column, value)`` reads only the rows whose ``column`` is at least ``value`` (the
    events from a date on), skipping the row groups that end before it the same way.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is not Parquet (pyarrow's message names it) or lacks a column.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"Expected the Parquet file {path}; it does not exist.")
    names = pq.read_schema(path).names
    needed = list(dict.fromkeys([*required, *(columns or ())]))
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValueError(
            f"{path} lacks {len(missing)} column(s) this stage reads, e.g. {missing[:_SHOWN]}; "
            f"it has {len(names)}, e.g. {names[:_SHOWN]}. Is it the file the previous stage wrote?"
        )
    filters: list[tuple[str, str, Any]] = []
    if where is not None:
        filters.append((where[0], "in", list(where[1])))
    if since is not None:
        filters.append((since[0], ">=", since[1]))
    unknown = [f[0] for f in filters if f[0] not in names]
    if unknown:
        raise ValueError(f"{path} has no column {unknown[0]!r} to select rows by.")
    return pd.read_parquet(
        path, columns=None if columns is None else list(columns), filters=filters or None
    )


def write_parquet(
    path: Path, frame: pd.DataFrame, *, row_groups: Sequence[int] | None = None
) -> None:
    """Write a DataFrame to Parquet atomically (pyarrow, zstd, no index), deterministic bytes.

    A GeoDataFrame is written as GeoParquet (its geometry and CRS in the file's metadata).
    ``row_groups``: the number of rows of each row group in turn (they must add up to the
    frame's length), so that a reader of some rows reads only their groups; pyarrow's default
    groups when None. Each group is converted to Arrow on its own, so the extra memory is one
    group's, not the frame's.

    Raises
    ------
    ValueError
        When ``row_groups`` holds a size below 1 or does not add up to the frame's rows.
    """
    if row_groups is None:
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)
        log.info("wrote %s (%d rows, %d bytes)", path, len(frame), path.stat().st_size)
        return
    if min(row_groups, default=0) < 1 or sum(row_groups) != len(frame):
        raise ValueError(
            f"row groups of {list(row_groups)[:_SHOWN]}... rows must each hold at least one row "
            f"and add up to the {len(frame)} rows written to {path}."
        )
    ends = list(itertools.accumulate(row_groups))
    first = pa.Table.from_pandas(frame.iloc[: ends[0]], preserve_index=False)
    rest = (
        pa.Table.from_pandas(frame.iloc[a:b], preserve_index=False, schema=first.schema)
        for a, b in itertools.pairwise(ends)
    )
    write_table_chunks(path, first.schema, itertools.chain([first], rest))


def write_table(path: Path, table: pa.Table) -> None:
    """Write an Arrow table to Parquet atomically (zstd, row groups of 2**20 rows).

    The table's schema is written as it is (no pandas metadata), so the bytes depend only on the
    table: the same table gives the same file.
    """
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
    log.info("wrote %s (%d rows, %d bytes)", path, table.num_rows, path.stat().st_size)


def write_table_chunks(path: Path, schema: pa.Schema, chunks: Iterable[pa.Table]) -> None:
    """Write Arrow tables of ``schema`` to one Parquet file atomically (zstd), one at a time.

    Each chunk becomes at least one row group, so memory stays about one chunk however long the
    file: for tables too large to convert at once.
    """
    rows = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for chunk in chunks:
            writer.write_table(chunk)
            rows += chunk.num_rows
    log.info("wrote %s (%d rows, %d bytes)", path, rows, path.stat().st_size)


def release_arrow_memory() -> None:
    """Hand the memory Arrow's pool keeps for reuse back to the system.

    Arrow's allocator keeps freed blocks for later allocations; after a large read or sort whose
    buffers are gone, that cache (hundreds of MiB at ten million events) would otherwise stay
    in the process beside the numpy work that follows. It changes no value.
    """
    pa.default_memory_pool().release_unused()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes in memory (a file read once, hashed and copied as the same bytes)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
