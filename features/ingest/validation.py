"""The row judge: the clean-event schema, row validation and explicit quarantine.

Every loader (``features.ingest.synthetic``, ``police_uk_csv``, ``police_uk_api``, ``mapped_csv``)
turns its source into a *raw canonical frame* (columns below, values still as read) and hands it to
:func:`validate_events`. Each row comes out either accepted (clean schema) or in the quarantine
with a reason code and a plain message; the counts always add up, and
:func:`features.ingest.quality.summarise_quality` refuses to report numbers that do not.

Raw canonical frame columns: ``source_file``, ``source_row`` (1-based data row in that file),
``event_id`` (may be null: a row without an id gets ``~row:<source_file>:<source_row>``, and a
real id that begins with ``~`` gets a second one, so a real id never equals a row's; see
:func:`namespaced_event_ids`),
``timestamp`` (datetime64 or text), ``crime_type`` (source label), ``latitude``, ``longitude``,
optional ``area_code``, optional ``record_count`` (1 = a record, -1 = a reversal that cancels an
earlier record; sources without counts omit it), optional ``source_category`` (the category as
the source wrote it, which reversals match on; ``crime_type`` when absent) and optional
``excluded`` (bool: the rows a column mapping leaves out of scope, ``excluded_category``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from beatwise.io import release_arrow_memory
from beatwise.taxonomy import CANONICAL_TYPES, canonical_crime_type
from features.ingest.locate import containing_polygons
from features.ingest.parsing import parse_timestamps, to_float
from features.ingest.row_columns import as_objects, json_lines, repeats, text_at

log = logging.getLogger(__name__)

#: reason code -> what it means, for the data-quality summary and the bias report
QUARANTINE_REASONS: Final[dict[str, str]] = {
    "missing_coordinates": "latitude or longitude is empty",
    "invalid_coordinates": "latitude or longitude is not a number, out of range, or 0/0",
    "unparseable_date": "the date or time could not be read in the expected format",
    "future_date": "the date is later than the data's as-of date",
    "before_start": "occurred before the study period starts",
    "unknown_category": "the crime category is not in the Beatwise taxonomy",
    "excluded_category": (
        "left out on purpose: the mapping's category_map does not list this category and "
        "unmapped_categories is 'exclude' (out of scope, not a data problem)"
    ),
    "outside_study_area": "the point lies outside every area polygon of the study area",
    "duplicate_id": "an earlier row already has this event id",
    "cancelled_by_reversal": "a later reversal row cancels this record",
    "reversal_row": "a reversal row (count -1) that cancels an earlier record",
    "invalid_count": "the record count is not 1 (a record) or -1 (a reversal)",
}

CLEAN_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "timestamp",
    "crime_type",
    "latitude",
    "longitude",
    "area_code",
    "source_file",
)
QUARANTINE_COLUMNS: Final[tuple[str, ...]] = (
    "source_file",
    "source_row",
    "reason",
    "detail",
    "raw",
    "timestamp",
)
REQUIRED_RAW_COLUMNS: Final[tuple[str, ...]] = (
    "source_file",
    "source_row",
    "event_id",
    "timestamp",
    "crime_type",
    "latitude",
    "longitude",
)


@dataclass(frozen=True)
class ValidatedEvents:
    """Accepted events in the clean schema and the quarantined rows with reasons."""

    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int


#: the reason of rows left out on purpose, which the quarantine threshold does not count
EXCLUDED_REASON: Final[str] = "excluded_category"

#: marks the id a row without one is given (``~row:<source_file>:<source_row>``)
FALLBACK_ID_MARK: Final[str] = "~"


def namespaced_event_ids(raw: pd.DataFrame) -> pd.Series:
    """The event id of every row of a raw canonical frame, real ids and row ids kept apart.

    A row without an id (null or blank) gets ``~row:<source_file>:<source_row>``; a real id that
    begins with ``~`` gets a second ``~`` in front. Row ids begin with ``~r`` and escaped real ids
    with ``~~``, so no real id can equal a row id (a police.uk Crime ID written as
    ``2016-01/x.csv:2`` is not row 2 of that file) and distinct real ids stay distinct.
    """
    event_id = raw["event_id"].astype("string")
    marked = np.flatnonzero(event_id.str.startswith(FALLBACK_ID_MARK).fillna(False).to_numpy())
    no_id = np.flatnonzero((event_id.isna() | (event_id.str.strip() == "")).fillna(True))
    if marked.size or no_id.size:
        event_id = event_id.copy()
    if marked.size:
        event_id.iloc[marked] = (FALLBACK_ID_MARK + event_id.iloc[marked]).to_numpy()
    if no_id.size:
        event_id.iloc[no_id] = (
            f"{FALLBACK_ID_MARK}row:"
            + raw["source_file"].iloc[no_id].astype("string")
            + ":"
            + raw["source_row"].iloc[no_id].astype("string")
        ).to_numpy()
    return event_id


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame with no rows and the right columns."""
    return pd.DataFrame(
        {
            "source_file": pd.Series([], dtype=object),
            "source_row": pd.Series([], dtype=np.int64),
            "reason": pd.Series([], dtype=object),
            "detail": pd.Series([], dtype=object),
            "raw": pd.Series([], dtype=object),
            "timestamp": pd.Series([], dtype="datetime64[ns]"),
        }
    )


def make_quarantine(rows: pd.DataFrame, *, reason: str, detail: pd.Series | str) -> pd.DataFrame:
    """Quarantine records for ``rows`` (a slice of a raw frame) with one reason code."""
    if reason not in QUARANTINE_REASONS:
        raise ValueError(f"Unknown quarantine reason {reason!r}; add it to QUARANTINE_REASONS.")
    if rows.empty:
        return empty_quarantine()
    return _quarantine_frame(
        rows,
        reason=np.full(len(rows), reason, dtype=object),
        detail=_detail_text(detail, len(rows)),
        timestamp=np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[ns]"),
    )


def _detail_text(detail: pd.Series | str, rows: int) -> pd.Series:
    """A detail message per row, in pandas' own text type (``str``)."""
    if isinstance(detail, pd.Series):
        return detail.astype(str).reset_index(drop=True)
    return pd.Series(detail, index=range(rows)).astype(str)


def _quarantine_frame(
    rows: pd.DataFrame, *, reason: np.ndarray, detail: pd.Series, timestamp: np.ndarray
) -> pd.DataFrame:
    """The quarantine records of ``rows`` (a slice of a raw frame): reason, detail and parsed time
    (NaT where none) each; text in pandas' own type (``str``), as Python strings become."""
    payload = rows.drop(columns=["source_file", "source_row"], errors="ignore")
    # in slices, so that the intermediate text stays small for millions of rows
    raw = [
        pd.Series(json_lines(payload.iloc[start : start + _JSON_ROWS].astype(str)))
        for start in range(0, len(payload), _JSON_ROWS)
    ]
    return pd.DataFrame(
        {
            "source_file": rows["source_file"].astype(str).array,
            "source_row": rows["source_row"].to_numpy(dtype=np.int64),
            "reason": pd.Series(reason, dtype=object).astype(str).array,
            "detail": detail.array,
            "raw": pd.concat(raw, ignore_index=True).array if raw else pd.array([], dtype=str),
            "timestamp": np.asarray(timestamp, dtype="datetime64[ns]"),
        }
    )


#: rows per slice when writing the quarantine's raw JSON
_JSON_ROWS: Final[int] = 100_000


def validate_events(
    raw: pd.DataFrame,
    *,
    areas: gpd.GeoDataFrame | None,
    as_of: pd.Timestamp,
    time_format: str | None = None,
    time_zone: str | None = None,
    not_before: pd.Timestamp | None = None,
    outside_events: Literal["quarantine", "keep"] = "quarantine",
) -> ValidatedEvents:
    """Split a raw canonical frame into accepted clean events and quarantined rows.

    Checks run in a fixed order and a row is quarantined for the first it fails: exclusion (only
    when the frame has ``excluded``: rows left out of scope on purpose are ``excluded_category``,
    whatever else is wrong with them, and take no part in the checks below), record count
    (only when the frame has ``record_count``: not 1 or -1 is ``invalid_count``; a -1 is a
    ``reversal_row`` and cancels the earliest still-kept earlier row with the same event id and
    source category, which becomes ``cancelled_by_reversal``), coordinates
    (missing, then invalid: not numeric, outside [-90, 90] x [-180, 180], or exactly 0/0), date
    (unparseable, then later than ``as_of``, then earlier than ``not_before`` when given),
    category (unknown to the taxonomy), study area
    (outside every polygon of ``areas``; skipped when ``areas`` is None or ``outside_events`` is
    ``"keep"``), duplicate id (the first occurrence in file order is kept).

    Parameters
    ----------
    raw
        Raw canonical frame (see the module docstring).
    areas
        Area polygons (EPSG:4326) with an ``area_code`` column defining the study area, or None.
        Accepted events take ``area_code`` from the polygon that contains them (null outside
        every polygon, when ``outside_events`` keeps them).
    as_of
        Latest credible timestamp; later ones are quarantined as ``future_date``.
    time_format
        strptime format for text timestamps; None means ISO 8601 (``2024-03-04 10:00``).
    time_zone
        IANA zone the data is recorded in (``"Europe/London"``, ``"America/Chicago"``). Beatwise
        works in naive local wall-clock time, so text timestamps that carry a UTC offset or
        ``Z`` (ISO 8601, or a ``time_format`` with ``%z``) and zone-aware datetimes are converted
        to this zone's wall-clock time and made naive: ``2019-03-10T08:30:00Z`` is 03:30 in
        Chicago (daylight time has begun), ``2019-03-10T07:30:00Z`` is 01:30. Naive timestamps
        are taken as already local in this zone and left as they are, so the hour repeated when
        clocks go back reads the same twice. None (the default) refuses timestamps with an offset.
    not_before
        Start of the study period; earlier timestamps are quarantined as ``before_start`` (e.g.
        St. Louis files of 2015 that hold crimes which occurred in 1990). None keeps every date.
    outside_events
        What becomes of a point outside every polygon of ``areas`` (``ingest.areas.
        outside_events``): ``"quarantine"`` (the default) quarantines it as
        ``outside_study_area``; ``"keep"`` accepts it with a null ``area_code`` (airports, parks,
        non-residential tracts: its cell joins the study area without residents).

    Raises
    ------
    ValueError
        When a required column is missing (the message lists what is there), ``not_before`` is
        after ``as_of``, or timestamps carry a UTC offset and ``time_zone`` is None.
    """
    missing = [c for c in REQUIRED_RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"The raw event frame lacks column(s) {missing}; it has {list(raw.columns)}."
        )
    if not_before is not None and not_before > as_of:
        raise ValueError(
            f"not_before ({not_before}) must not be after as_of ({as_of}); every row would be "
            f"quarantined."
        )
    rows_read = len(raw)
    frame = raw.reset_index(drop=True)
    # Quarantined rows (positions), reasons and details; the records are built once at the end.
    hits: list[np.ndarray] = []
    reasons: list[str] = []
    details: list[pd.Series] = []
    keep = np.ones(rows_read, dtype=bool)

    def quarantine(
        mask: np.ndarray, reason: str, detail: str | Callable[[pd.DataFrame], pd.Series]
    ) -> None:
        """Move the kept rows in ``mask`` to the quarantine; messages only for those rows."""
        nonlocal keep
        hit = keep & mask
        if hit.any():
            if reason not in QUARANTINE_REASONS:
                raise ValueError(f"Unknown quarantine reason {reason!r}.")
            positions = np.flatnonzero(hit)
            det = detail(frame.iloc[positions]) if callable(detail) else detail
            hits.append(positions)
            reasons.append(reason)
            details.append(_detail_text(det, len(positions)))
            keep &= ~hit

    def text(column: pd.Series) -> pd.Series:
        return column.astype("string").fillna("<empty>")

    event_id = namespaced_event_ids(frame)

    if "excluded" in frame.columns:
        quarantine(
            frame["excluded"].fillna(False).to_numpy(dtype=bool),
            EXCLUDED_REASON,
            lambda rows: (
                "category " + text(rows["crime_type"]) + " is not in the mapping's category_map "
                "(unmapped_categories: exclude)"
            ),
        )

    if "record_count" in frame.columns:
        # First, so that a reversal is matched whatever the quality of either row, and before the
        # duplicate check, so a reclassification (-1 old code, +1 new code, same id) keeps the new.
        count_values = to_float(frame["record_count"])
        quarantine(
            ~np.isin(count_values, [1.0, -1.0]),
            "invalid_count",
            lambda rows: (
                "record count "
                + text(rows["record_count"])
                + " is not 1 (a record) or -1 (a reversal)"
            ),
        )
        label = frame["source_category"] if "source_category" in frame else frame["crime_type"]
        label_code = pd.factorize(text(label))[0]
        _quarantine_reversals(
            frame,
            id_code=pd.factorize(event_id)[0],
            label_code=label_code,
            count=count_values,
            keep=keep,
            quarantine=quarantine,
        )

    lat_text = frame["latitude"]
    lon_text = frame["longitude"]
    empty = lat_text.isna().to_numpy() | lon_text.isna().to_numpy()
    for column in (lat_text, lon_text):
        if not pd.api.types.is_numeric_dtype(column):  # blank text only exists in text columns
            empty |= (column.astype("string").str.strip() == "").fillna(True).to_numpy()
    quarantine(empty, "missing_coordinates", "latitude or longitude is empty")

    lat = to_float(lat_text)
    lon = to_float(lon_text)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(lat) | ~np.isfinite(lon)
        invalid |= (np.abs(lat) > 90) | (np.abs(lon) > 180) | ((lat == 0) & (lon == 0))
    quarantine(
        invalid,
        "invalid_coordinates",
        lambda rows: (
            "latitude "
            + text(rows["latitude"])
            + ", longitude "
            + text(rows["longitude"])
            + " is not a valid WGS84 point in [-90, 90] x [-180, 180] (0/0 means not geocoded)"
        ),
    )

    ts = parse_timestamps(frame["timestamp"], time_format=time_format, time_zone=time_zone)
    quarantine(
        ts.isna().to_numpy(),
        "unparseable_date",
        lambda rows: (
            "timestamp "
            + text(rows["timestamp"])
            + f" does not parse{' as ' + time_format if time_format else ''}"
        ),
    )
    future = (ts > as_of).fillna(False).to_numpy(dtype=bool)
    quarantine(future, "future_date", f"timestamp is after the as-of date {as_of:%Y-%m-%d}")
    if not_before is not None:
        early = (ts < not_before).fillna(False).to_numpy(dtype=bool)
        quarantine(
            early,
            "before_start",
            lambda rows: (
                "timestamp "
                + text(rows["timestamp"])
                + f" is before the study period starts ({not_before:%Y-%m-%d %H:%M})"
            ),
        )

    label_code, labels = pd.factorize(frame["crime_type"])  # a handful of labels: map each once
    mapped = [canonical_crime_type(str(u)) for u in labels]
    # code -1 (a missing label) picks the trailing -1, as does a label the taxonomy lacks
    lookup = np.array(
        [-1 if m is None else CANONICAL_TYPES.index(m) for m in mapped] + [-1], dtype=np.int8
    )
    canonical = lookup[label_code]
    del label_code
    unknown = canonical < 0
    quarantine(
        unknown,
        "unknown_category",
        lambda rows: (
            "category "
            + text(rows["crime_type"])
            + " is not in the taxonomy (see docs/crime-types.md)"
        ),
    )

    area_code = (
        frame["area_code"].astype("string")
        if "area_code" in frame.columns
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    polygon = None  # with areas: index of each kept row's polygon, -1 outside
    if areas is not None:
        idx = np.flatnonzero(keep)
        polygon = np.full(rows_read, -1, dtype=np.int64)
        polygon[idx], polygon_codes = containing_polygons(lat[idx], lon[idx], areas=areas)
        if outside_events == "quarantine":
            quarantine(
                polygon < 0, "outside_study_area", "the point is outside every study-area polygon"
            )
        elif outside_events == "keep":
            log.info(
                "%d rows outside every study-area polygon kept (outside_events: keep)",
                int((keep & (polygon < 0)).sum()),
            )
        else:
            raise ValueError(
                f"outside_events must be 'quarantine' or 'keep'. Got {outside_events!r}."
            )

    dup = np.zeros(rows_read, dtype=bool)
    kept_idx = np.flatnonzero(keep)
    dup[kept_idx] = repeats(event_id.iloc[kept_idx])
    quarantine(
        dup, "duplicate_id", lambda rows: "event id " + event_id[rows.index] + " was seen earlier"
    )

    # By timestamp, then id (unique by now, so the order is total); Arrow sorts text by code
    # point, as Python does.
    kept = np.flatnonzero(keep)
    kept_ts = ts.to_numpy()[kept]
    kept_id = event_id.iloc[kept]
    order = pc.sort_indices(
        pa.table({"t": pa.array(kept_ts), "e": pa.array(kept_id.array)}),
        sort_keys=[("t", "ascending"), ("e", "ascending")],
    ).to_numpy()
    rows = kept[order]
    release_arrow_memory()  # the sort's buffers
    accepted = pd.DataFrame(
        {
            "event_id": kept_id.iloc[order].astype(str).array,
            "timestamp": kept_ts[order],
            "crime_type": pd.Categorical.from_codes(canonical[rows], categories=CANONICAL_TYPES),
            "latitude": lat[rows],
            "longitude": lon[rows],
            "area_code": (
                as_objects(area_code, rows)
                if polygon is None
                # a kept point outside every polygon (-1) takes the trailing null
                else pd.Series([*polygon_codes, None], dtype=str).take(polygon[rows]).array
            ),
            # pandas' own text type, as a column of Python strings would become
            "source_file": text_at(frame["source_file"], rows),
        },
        copy=False,  # the columns are new arrays already: no second copy of each
    )
    del lat, lon, canonical, polygon, kept, kept_ts, kept_id, order, rows
    quarantined = empty_quarantine()
    if hits:
        # In (source file, source row) order; a stable sort keeps the order of the checks for
        # rows that share both.
        positions = np.concatenate(hits)
        reason_of = np.repeat(np.arange(len(hits)), [len(h) for h in hits])
        hits.clear()
        file_rank = pd.factorize(frame["source_file"].iloc[positions].astype(str), sort=True)[0]
        source_row = frame["source_row"].iloc[positions].to_numpy(dtype=np.int64)
        order = np.lexsort((source_row, file_rank))
        quarantined = _quarantine_frame(
            frame.iloc[positions[order]],
            reason=np.asarray(reasons, dtype=object)[reason_of[order]],
            detail=pd.concat(details, ignore_index=True).take(order),
            timestamp=ts.to_numpy(dtype="datetime64[ns]")[positions[order]],
        )
    del ts
    if len(accepted) + len(quarantined) != rows_read:
        raise AssertionError(
            f"Row accounting failed: {len(accepted)} accepted + {len(quarantined)} quarantined "
            f"!= {rows_read} read."
        )
    log.info(
        "validated %d rows: %d accepted, %d quarantined", rows_read, len(accepted), len(quarantined)
    )
    return ValidatedEvents(accepted=accepted, quarantine=quarantined, rows_read=rows_read)


def _quarantine_reversals(
    frame: pd.DataFrame,
    *,
    id_code: np.ndarray,
    label_code: np.ndarray,
    count: np.ndarray,
    keep: np.ndarray,
    quarantine: Callable[[np.ndarray, str, str | Callable[[pd.DataFrame], pd.Series]], None],
) -> None:
    """Quarantine each kept -1 row and the record it cancels, matched first in, first out.

    The key is (event id, source category), given as integer codes. Within a key, reversals
    taken in input order each cancel the earliest still-kept +1 row before them. The cancelled
    rows are then always the first records of the key, and the k-th reversal finds one iff
    ``m_k = min(k, min_{j<=k} (p_j + k - j))`` grows at k, where ``p_j`` counts the records before
    reversal j; it cancels record number ``m_k``. This is the queue written as a running minimum,
    so it vectorises with groupby. Only rows whose event id has a reversal take part.
    """
    is_record = keep & (count == 1.0)
    is_reversal = keep & (count == -1.0)
    if not is_reversal.any():
        return
    has_reversal = np.zeros(int(id_code.max()) + 1, dtype=bool)
    has_reversal[id_code[is_reversal]] = True
    involved = np.flatnonzero(has_reversal[id_code])
    key = id_code[involved].astype(np.int64) * (int(label_code.max()) + 1) + label_code[involved]
    table = pd.DataFrame({"key": key, "pos": involved})
    record = is_record[involved].astype(np.int64)
    reversal = is_reversal[involved]
    records_before = pd.Series(record).groupby(table["key"]).cumsum() - record
    rev = table[reversal].assign(p=records_before[reversal].to_numpy())
    k = rev.groupby("key").cumcount().to_numpy() + 1
    slack = pd.Series(rev["p"].to_numpy() - k, index=rev.index).groupby(rev["key"]).cummin()
    m = k + np.minimum(0, slack.to_numpy())
    previous = pd.Series(m, index=rev.index).groupby(rev["key"]).shift(1, fill_value=0)
    matched = (m - previous.to_numpy()) == 1
    rev = rev.assign(m=m, matched=matched)

    recs = table[record == 1]
    recs = recs.assign(n=recs.groupby("key").cumcount().to_numpy() + 1)
    pairs = rev[rev["matched"]].merge(
        recs, left_on=["key", "m"], right_on=["key", "n"], suffixes=("_rev", "_rec")
    )
    pos_rec = pairs["pos_rec"].to_numpy(dtype=np.int64)
    pos_rev = pairs["pos_rev"].to_numpy(dtype=np.int64)
    target = np.zeros(len(frame), dtype=bool)
    target[pos_rec] = True

    def where(pos: np.ndarray) -> pd.Series:
        return (
            frame["source_file"].iloc[pos].astype("string")
            + " row "
            + frame["source_row"].iloc[pos].astype("string")
        ).reset_index(drop=True)

    cancels = pd.Series(
        "no earlier record to cancel", index=np.flatnonzero(is_reversal), dtype="string"
    )
    cancels.loc[pos_rev] = ("cancels the record at " + where(pos_rec)).to_numpy()
    cancelled_by = pd.Series(where(pos_rev).to_numpy(), index=pos_rec, dtype="string")
    quarantine(is_reversal, "reversal_row", lambda rows: cancels[rows.index])
    quarantine(
        target,
        "cancelled_by_reversal",
        lambda rows: "cancelled by the reversal at " + cancelled_by[rows.index],
    )
