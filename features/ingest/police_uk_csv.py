"""data.police.uk monthly street-level archives (``YYYY-MM/YYYY-MM-<force>-street.csv``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

import pandas as pd

from beatwise.artefacts.quality import EmptyFileReason
from features.ingest.parsing import (
    RawSource,
    blank_to_na,
    month_to_day,
    read_csv_text,
    require_columns,
    require_file,
    warn_empty_files,
)

log = logging.getLogger(__name__)

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


def load_police_uk_street_csv(folder: Path) -> pd.DataFrame:
    """The raw canonical frame of :func:`read_police_uk_street_csv` (its ``events``)."""
    return read_police_uk_street_csv(folder).events


def read_police_uk_street_csv(folder: Path) -> RawSource:
    """Read a data.police.uk monthly archive (``YYYY-MM/YYYY-MM-<force>-street.csv``).

    Every file matching ``*/*-street.csv`` under ``folder`` is read in sorted order, all columns
    as text, so nothing is coerced silently; bad values pass through for
    :func:`features.ingest.validation.validate_events` to quarantine (validate with
    ``time_format=POLICE_UK_TIME_FORMAT``). A file without rows (zero bytes, blank, or a header
    alone: an interrupted download) is listed in ``empty_files`` and logged as a warning.

    Returns
    -------
    RawSource
        ``events``, a raw canonical frame: ``source_file`` (path relative to ``folder``, posix),
        ``source_row`` (1-based data row), ``event_id`` (``Crime ID``; null for anti-social
        behaviour, which has none), ``timestamp`` (``YYYY-MM-01`` text at month resolution, or the
        raw ``Month`` when it is not a ``YYYY-MM`` month), ``crime_type`` (display name),
        ``latitude``, ``longitude`` (text as read), ``area_code`` (``LSOA code``); and
        ``empty_files``, the files without rows and why.

    Raises
    ------
    FileNotFoundError
        When ``folder`` does not exist, is not a folder, or holds no matching files.
    ValueError
        When a matching path is not a regular file (a folder, a looping link), a file lacks a
        required column (with the closest names found), is not UTF-8 or not well-formed CSV (a
        row, the first included, with more fields than the header), cannot be read, or when
        every file is empty.
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
    empty: dict[str, EmptyFileReason] = {}
    for path in paths:
        name = path.relative_to(folder).as_posix()
        require_file(path, what="data.police.uk street CSV file")
        try:
            table = read_csv_text(path, encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            empty[name] = "zero_bytes" if path.stat().st_size == 0 else "no_header"
            continue
        except (UnicodeDecodeError, pd.errors.ParserError) as err:
            raise ValueError(
                f"{path}: cannot be read as a UTF-8 data.police.uk street CSV ({err})."
            ) from err
        except OSError as err:
            raise ValueError(f"{path}: cannot be read ({err.strerror or err}).") from err
        require_columns(table, STREET_CSV_COLUMNS, where=path)
        if table.empty:
            empty[name] = "header_only"
            continue
        frames.append(
            pd.DataFrame(
                {
                    "source_file": name,
                    "source_row": pd.RangeIndex(1, len(table) + 1),
                    "event_id": blank_to_na(table["Crime ID"]),
                    "timestamp": month_to_day(table["Month"]),
                    "crime_type": blank_to_na(table["Crime type"]),
                    "latitude": blank_to_na(table["Latitude"]),
                    "longitude": blank_to_na(table["Longitude"]),
                    "area_code": blank_to_na(table["LSOA code"]),
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
    warn_empty_files(empty, logger=log)
    log.info("read %d rows from %d street CSV file(s) under %s", rows, len(paths), folder)
    return RawSource(events=pd.concat(frames, ignore_index=True), empty_files=empty)
