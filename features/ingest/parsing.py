"""Parsing helpers shared by every source and by the row judge: text, numbers, times, headers.

Loaders (one module per source) and :mod:`features.ingest.validation` take their parsing from here
and never from each other, so a source module can be read, changed or removed on its own. Nothing
here judges a row: values that do not parse come back as NA/NaN/NaT for the validator to
quarantine with a reason.
"""

from __future__ import annotations

import bz2
import codecs
import difflib
import errno
import gzip
import io
import logging
import os
import re
import stat
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from beatwise.artefacts.quality import EmptyFileReason

#: how many example codes or names an error or log line quotes
EXAMPLES: Final[int] = 5


# --- what a loader read --------------------------------------------------------------------------


@dataclass(frozen=True)
class RawSource:
    """What a loader read: the raw canonical frame and the files that held no rows.

    A file without rows adds nothing to ``events``, so without ``empty_files`` a zero-byte monthly
    file (an interrupted download) would read as a month without crime and leave no trace.
    """

    events: pd.DataFrame
    #: ``source_file`` name -> why it holds no rows, in reading order
    empty_files: dict[str, EmptyFileReason]


#: what each :data:`~beatwise.artefacts.quality.EmptyFileReason` means, for the log
EMPTY_FILE_MEANINGS: Final[dict[str, str]] = {
    "zero_bytes": "zero bytes, as an interrupted download leaves a file",
    "no_header": "no header and no rows (only blank lines or a byte-order mark)",
    "header_only": "a header but no data rows",
}


def warn_empty_files(empty: Mapping[str, EmptyFileReason], *, logger: logging.Logger) -> None:
    """Log one warning per file that held no rows, naming it and why."""
    for name, reason in empty.items():
        logger.warning(
            "%s holds no rows (%s): it reads as a period without crime; fetch it again if it "
            "should hold some",
            name,
            EMPTY_FILE_MEANINGS[reason],
        )


# --- files ---------------------------------------------------------------------------------------


def require_file(path: Path, *, what: str) -> None:
    """Refuse a path that is not a regular file, saying what it is instead.

    A folder, a symbolic link that loops or leads nowhere, or a device or pipe named like a data
    file would otherwise escape from the reader as a bare ``OSError`` (or, for a pipe, block).
    ``what`` names the file expected, without an article (``"CSV file"``).

    Raises
    ------
    FileNotFoundError
        When nothing exists at ``path``.
    ValueError
        When ``path`` is a folder, a looping or dangling link, not a regular file, or cannot be
        looked at (the operating system's reason).
    """
    try:
        mode = path.stat().st_mode  # follows links
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ValueError(
                f"{path} is a symbolic link that loops back on itself, not a {what}."
            ) from None
        if path.is_symlink():
            raise ValueError(
                f"{path} is a symbolic link to {os.readlink(path)!r}, which does not exist; "
                f"expected a {what}."
            ) from None
        if err.errno == errno.ENOENT:
            raise FileNotFoundError(f"No {what} at {path}.") from None
        raise ValueError(
            f"{path} cannot be looked at ({err.strerror}); expected a {what}."
        ) from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a folder, not a {what}.")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a device, pipe or socket), not a {what}.")


Compression = Literal["gzip", "bz2", "zip"]
#: the first bytes of each compressed format, which decide how a data file is opened
_MAGIC: Final[dict[Compression, bytes]] = {
    "gzip": b"\x1f\x8b",
    "bz2": b"BZh",
    "zip": b"PK\x03\x04",
}
#: file-name endings that promise a compression the bytes must then have
_SUFFIXES: Final[dict[str, Compression]] = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip"}
_NAMES: Final[dict[Compression, str]] = {"gzip": "gzip", "bz2": "bzip2", "zip": "zip"}


def read_decompressed(path: Path) -> bytes | None:
    """The content of a compressed data file, or None for a plain (uncompressed) file.

    The first bytes decide: gzip (``.csv.gz``), bzip2 (``.csv.bz2``) or a zip holding exactly one
    file are decompressed in memory, whatever the name; anything else is plain and is read from
    the disk by the caller. A name ending in ``.gz``, ``.bz2`` or ``.zip`` promises that format, so
    such a file whose bytes are not it, or that cannot be decompressed (a truncated download), is
    refused by name, never passed on to fail later as text in the wrong encoding. A zero-byte file
    is plain, whatever its name (an interrupted download: the caller lists it as empty).

    Raises
    ------
    ValueError
        When the file is not valid in the format its name or first bytes promise, or is a zip
        that holds no file or more than one.
    OSError
        When the file cannot be read (the callers name it).
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    found = next((kind for kind, magic in _MAGIC.items() if head.startswith(magic)), None)
    promised = _SUFFIXES.get(path.suffix.lower())
    if not head:
        return None
    if promised is not None and found != promised:
        raise ValueError(
            f"{path}: not valid {_NAMES[promised]}: its name ends in {path.suffix!r}, but its "
            f"first bytes {head!r} are not {_NAMES[promised]}'s. Expected a "
            f"{_NAMES[promised]}-compressed CSV; download it again, or rename it if it is plain "
            "text."
        )
    if found is None:
        return None
    if found == "zip":
        return _single_zip_member(path)
    content = path.read_bytes()
    try:
        return gzip.decompress(content) if found == "gzip" else bz2.decompress(content)
    except (EOFError, OSError, zlib.error) as err:  # bad header, cut short, damaged data
        raise ValueError(
            f"{path}: not valid {_NAMES[found]} ({err}); the file is damaged or was cut short. "
            "Download it again."
        ) from None


def _single_zip_member(path: Path) -> bytes:
    """The one file a zip archive holds, refusing a damaged archive or several files."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise ValueError(
                    f"{path}: a zip archive must hold exactly one CSV file to be read as one; "
                    f"it holds {len(members)}: {[m.filename for m in members][:EXAMPLES]}."
                )
            return archive.read(members[0])
    except (EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(
            f"{path}: not valid zip ({err}); the file is damaged or was cut short. "
            "Download it again."
        ) from None


#: pandas' warning when the first data row has more fields than the header (with index_col=False)
_LONG_FIRST_ROW: Final[str] = "Length of header or names does not match length of data"


def read_csv_text(
    path: Path, *, encoding: str, skip: int = 0, data: bytes | None = None
) -> pd.DataFrame:
    """A CSV file with every column as text (``""`` for blank), never an index column.

    pandas takes the first column of a file whose first data row has more fields than the header
    as an index, which moves every value one column to the left. Here that row is refused as
    pandas refuses any later row with extra fields: a ``ParserError`` giving both counts.
    ``skip`` bytes are skipped first (a byte-order mark the encoding does not expect); without
    it, a compressed file (``.csv.gz``) is read as pandas reads it. ``data``, when given, is the
    file's content already decompressed (:func:`read_decompressed`), read instead of ``path``.

    Raises
    ------
    pandas.errors.EmptyDataError, pandas.errors.ParserError, UnicodeDecodeError, OSError
        As ``pandas.read_csv`` does; the callers name the file.
    """

    def read(**options: Any) -> pd.DataFrame:
        if data is not None:
            buffer = io.BytesIO(data)
            buffer.seek(skip)
            return pd.read_csv(
                buffer, dtype=str, keep_default_na=False, encoding=encoding, **options
            )
        if not skip:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, **options)
        with path.open("rb") as handle:
            handle.seek(skip)
            return pd.read_csv(
                handle, dtype=str, keep_default_na=False, encoding=encoding, **options
            )

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_LONG_FIRST_ROW, category=pd.errors.ParserWarning)
        try:
            return read(index_col=False)
        except pd.errors.ParserWarning:
            pass
    # Read the header and the first data row again, as plain rows, for the message's counts.
    long_rows: list[list[str]] = []
    head = read(header=None, nrows=2, engine="python", on_bad_lines=long_rows.append)
    raise pd.errors.ParserError(
        f"the first data row has {len(long_rows[0]) if long_rows else 'more'} fields but the "
        f"header has {head.shape[1]}; expected no more than the header names"
    )


# --- columns, names and messages -----------------------------------------------------------------


def require_columns(frame: pd.DataFrame, required: tuple[str, ...], *, where: Path) -> None:
    """Refuse a frame that lacks a required column, naming the closest columns it has."""
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


def require_distinct_sources(names: Sequence[str], paths: Sequence[Path], *, why: str) -> None:
    """Refuse inputs whose ``source_file`` names would clash (rows would lose their provenance)."""
    named = pd.Series(list(names))
    clashes = sorted(set(named[named.duplicated()]))
    if clashes:
        raise ValueError(
            f"Input files must have distinct {why}; "
            f"{clashes} appear more than once in {[str(p) for p in paths]}."
        )


def closest_hint(names: Sequence[str], available: Sequence[str]) -> str:
    """`` Closest names: 'x' -> 'y'.`` for the names that have a close match, else ``""``."""
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, list(available), n=1, cutoff=0.5)
        if close:
            hints.append(f"{name!r} -> {close[0]!r}")
    return f" Closest names: {'; '.join(hints)}." if hints else ""


def examples(values: npt.ArrayLike) -> list[str]:
    """The first :data:`EXAMPLES` values as text, for messages."""
    return [str(v) for v in np.asarray(values)[:EXAMPLES]]


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


# --- text ----------------------------------------------------------------------------------------


def blank_to_na(values: pd.Series) -> pd.Series:
    """Values as text, with the empty string as NA."""
    text = values.astype("string")
    return text.mask(text == "")


#: data.police.uk dates are months; the loaders write the first of the month in this format, and
#: validating with it (rather than ISO 8601) refuses a bare year such as ``"2016"``.
POLICE_UK_TIME_FORMAT: Final[str] = "%Y-%m-%d"

_MONTH = re.compile(r"^\s*(\d{4})-(0[1-9]|1[0-2])\s*$")


def month_to_day(month: pd.Series) -> pd.Series:
    """``YYYY-MM`` to ``YYYY-MM-01``; anything else stays as read for the validator to judge."""
    return map_unique(month.astype("string"), _months_to_days)


def _months_to_days(text: pd.Series) -> pd.Series:
    parts = text.str.extract(_MONTH)
    first_day = parts[0] + "-" + parts[1] + "-01"
    return first_day.where(parts[0].notna(), text.mask(text.str.strip() == ""))


# --- numbers and times ---------------------------------------------------------------------------


#: decimal text that Arrow parses exactly as pandas does (both round correctly)
_PLAIN_DECIMAL: Final[str] = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def to_float(values: pd.Series) -> np.ndarray:
    """``pd.to_numeric(values, errors="coerce")`` as float64, NaN where that gives NA.

    Arrow parses plain decimal text (``-90.1848``, ``1e5``) in bulk; anything else (padded,
    ``inf``, words) goes through pandas, so the numbers are the same, only sooner.
    """
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = pa.array(values.array)
    plain = pc.match_substring_regex(text, _PLAIN_DECIMAL).fill_null(False)
    numbers = pc.if_else(plain, text, pa.scalar(None, text.type)).cast(pa.float64())
    out = numbers.to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    valid = text.is_valid().to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~plain.to_numpy(zero_copy_only=False) & valid)
    if rest.size:
        out[rest] = pd.to_numeric(values.iloc[rest], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    return out


def map_unique(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``func(values)`` for an element-wise ``func``, computed once per distinct value.

    Missing values count as one distinct value and go through ``func`` too, so the result is the
    same as calling ``func`` on the whole column; columns with few distinct values (months, dates
    at minute resolution, offence codes) are much faster this way.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = func(pd.Series(uniques))
    out = mapped.take(codes)
    out.index = values.index
    return out


#: an ISO 8601 time of day followed by a UTC offset or Z: "T10Z", "10:00 +01:00", "T1000-0530"
_ISO_OFFSET: Final[str] = r"[T\s]\d{2}[\d:.,]*\s*(?:Z|[+-]\d{1,2}(?::?\d{2})?)$"


def _parse_text_timestamps(
    text: pd.Series, *, time_format: str | None, time_zone: str | None
) -> pd.Series:
    """Text to naive local datetimes; values with a UTC offset become ``time_zone`` wall-clock."""
    fmt = time_format or "ISO8601"
    if "%z" in fmt or "%Z" in fmt:
        has_offset = text.notna().to_numpy()
    elif fmt == "ISO8601":
        has_offset = text.str.contains(_ISO_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
    else:
        has_offset = np.zeros(len(text), dtype=bool)
    try:
        naive = pd.to_datetime(text.where(~has_offset), format=fmt, errors="coerce")
    except ValueError as err:  # pandas refuses a mix of naive times and offsets
        raise ValueError(
            f"Timestamps such as {text.dropna().head(3).tolist()} could not be read as naive "
            f"local times or as times with a UTC offset ({err})."
        ) from err
    if isinstance(naive.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"Timestamps such as {text.dropna().head(3).tolist()} carry a time zone in a form "
            f"Beatwise does not recognise; expected an ISO 8601 offset (Z, +01:00) or %z."
        )
    if not has_offset.any():
        return _within_ns(naive)
    aware = pd.to_datetime(text.where(has_offset), format=fmt, errors="coerce", utc=True)
    if time_zone is None and aware.notna().any():
        raise ValueError(
            f"Timestamp {text[aware.notna()].iloc[0]!r} carries a UTC offset but no time_zone "
            f"was given to turn it into local wall-clock time; pass the IANA zone the data is "
            f"recorded in (e.g. time_zone='America/Chicago')."
        )
    local = aware.dt.tz_convert(time_zone).dt.tz_localize(None) if time_zone else aware
    return _within_ns(naive).where(~has_offset, _within_ns(local))


def _within_ns(out: pd.Series) -> pd.Series:
    """Datetimes at ns resolution; those outside what ns can hold (1678-2261) become NaT.

    pandas may parse at a coarser unit than ns; such years are no credible crime dates anyway,
    so they count as unparseable rather than crash.
    """
    in_range = (out >= pd.Timestamp.min) & (out <= pd.Timestamp.max)
    return out.where(in_range).astype("datetime64[ns]")


def parse_timestamps(
    values: pd.Series, *, time_format: str | None, time_zone: str | None = None
) -> pd.Series:
    """Timestamps (datetime64 or text) as naive local ``datetime64[ns]``; NaT where unreadable.

    Text is read with ``time_format`` (strptime; None means ISO 8601); values with a UTC offset
    and zone-aware datetimes become ``time_zone`` wall-clock time. Refuses offsets without a
    ``time_zone``.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
        if getattr(values.dt, "tz", None) is not None:
            if time_zone is None:
                raise ValueError(
                    "timestamps must be naive local times; convert before validation or give "
                    "validate_events the data's time_zone."
                )
            out = values.dt.tz_convert(time_zone).dt.tz_localize(None)
    else:
        out = map_unique(
            values.astype("string"),
            partial(_parse_text_timestamps, time_format=time_format, time_zone=time_zone),
        )
    return _within_ns(out)
