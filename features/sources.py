"""Loaders that turn each supported source into a raw canonical frame (see ``features.events``).

A loader reads, renames and records provenance (file, row); it judges nothing. Judging is
``features.events.validate_events``, so every source gets the same checks and reasons.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd

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
    text = month.astype("string")
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


def _read_api_records(path: Path) -> list[dict[str, Any]]:
    """Parse one API response file and check its records have the keys the loader reads."""
    if not path.is_file():
        raise FileNotFoundError(f"No data.police.uk API response file at {path}.")
    try:
        payload = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}, "
            f"char {err.pos}); expected a list of crimes-street records."
        ) from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err}).") from err
    if not isinstance(payload, list):
        raise ValueError(
            f"{path}: the top level must be a JSON list of crimes-street records; "
            f"got {type(payload).__name__}."
        )
    for index, record in enumerate(payload):
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}: record {index} must be a JSON object with keys "
                f"{list(API_RECORD_KEYS)}; got {type(record).__name__}."
            )
        missing = [k for k in API_RECORD_KEYS if k not in record]
        location = record.get("location")
        if isinstance(location, dict):
            missing += [f"location.{k}" for k in API_LOCATION_KEYS if k not in location]
        if missing:
            raise ValueError(
                f"{path}: record {index} lacks required key(s) {missing}; expected "
                f"{list(API_RECORD_KEYS)} and location.{{latitude, longitude}}; "
                f"it has {sorted(map(str, record))}."
            )
    return payload


def _as_text(values: list[Any]) -> pd.Series:
    """JSON scalars as text (null and "" become NA); other values become str(value)."""
    return _blank_to_na(pd.Series([None if v is None else str(v) for v in values], dtype="string"))


def load_police_uk_api_json(paths: Sequence[Path]) -> pd.DataFrame:
    """Read data.police.uk ``crimes-street`` API responses (one JSON list per file).

    Files are read in the order given. Overlapping query polygons return the same crime more
    than once; every row is kept, and :func:`features.events.validate_events` quarantines the
    repeats as ``duplicate_id`` (validate with ``time_format=POLICE_UK_TIME_FORMAT``).

    Returns
    -------
    pandas.DataFrame
        A raw canonical frame: ``source_file`` (the file name), ``source_row`` (1-based record
        index), ``event_id`` (``str(id)``), ``timestamp`` (``YYYY-MM-01`` text from ``month``, or
        the raw value when it is not a ``YYYY-MM`` month), ``crime_type`` (the API slug),
        ``latitude`` and ``longitude`` (text as given; null when ``location`` is null),
        ``area_code`` (always null: the API returns no LSOA).

    Raises
    ------
    FileNotFoundError
        When a path is not a file.
    ValueError
        When no paths are given, two paths share a file name, a file is not valid JSON (with the
        error position), its top level is not a list, a record lacks a required key (first
        offending record index and the keys), or every file holds an empty list.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("No data.police.uk API response files given; expected at least one.")
    names = pd.Series([p.name for p in paths])
    clashes = sorted(set(names[names.duplicated()]))
    if clashes:
        raise ValueError(
            f"Input files must have distinct names, since source_file records the name; "
            f"{clashes} appear more than once in {[str(p) for p in paths]}."
        )
    frames: list[pd.DataFrame] = []
    for path in paths:
        records = _read_api_records(path)
        locations = [r["location"] if isinstance(r["location"], dict) else {} for r in records]
        frames.append(
            pd.DataFrame(
                {
                    "source_file": path.name,
                    "source_row": pd.RangeIndex(1, len(records) + 1),
                    "event_id": _as_text([r["id"] for r in records]),
                    "timestamp": _month_to_day(_as_text([r["month"] for r in records])),
                    "crime_type": _as_text([r["category"] for r in records]),
                    "latitude": _as_text([loc.get("latitude") for loc in locations]),
                    "longitude": _as_text([loc.get("longitude") for loc in locations]),
                    "area_code": pd.Series(pd.NA, index=range(len(records)), dtype="string"),
                }
            )
        )
        log.info("read %d records from %s", len(records), path)
    rows = sum(len(f) for f in frames)
    if rows == 0:
        raise ValueError(
            f"Empty input: the {len(paths)} API response file(s) hold no records; "
            f"expected at least one crime."
        )
    return pd.concat(frames, ignore_index=True)
