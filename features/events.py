"""The clean-event schema, row validation and explicit quarantine.

Every loader turns its source into a *raw canonical frame* (columns below, values still as read)
and hands it to :func:`validate_events`. Each row comes out either accepted (clean schema) or in
the quarantine with a reason code and a plain message; the counts always add up, and
:func:`summarise_quality` refuses to report numbers that do not.

Raw canonical frame columns: ``source_file``, ``source_row`` (1-based data row in that file),
``event_id`` (may be null: a row without an id gets ``<source_file>:<source_row>``),
``timestamp`` (datetime64 or text), ``crime_type`` (source label), ``latitude``, ``longitude``,
optional ``area_code``, optional ``record_count`` (1 = a record, -1 = a reversal that cancels an
earlier record; sources without counts omit it) and optional ``source_category`` (the category as
the source wrote it, which reversals match on; ``crime_type`` when absent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from features.period import as_datetime64_ns
from features.taxonomy import CANONICAL_TYPES, canonical_crime_type

log = logging.getLogger(__name__)

#: reason code -> what it means, for the data-quality summary and the bias report
QUARANTINE_REASONS: Final[dict[str, str]] = {
    "missing_coordinates": "latitude or longitude is empty",
    "invalid_coordinates": "latitude or longitude is not a number, out of range, or 0/0",
    "unparseable_date": "the date or time could not be read in the expected format",
    "future_date": "the date is later than the data's as-of date",
    "unknown_category": "the crime category is not in the Beatwise taxonomy",
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


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame with no rows and the right columns."""
    return pd.DataFrame(
        {
            "source_file": pd.Series([], dtype=object),
            "source_row": pd.Series([], dtype=np.int64),
            "reason": pd.Series([], dtype=object),
            "detail": pd.Series([], dtype=object),
            "raw": pd.Series([], dtype=object),
        }
    )


def make_quarantine(rows: pd.DataFrame, *, reason: str, detail: pd.Series | str) -> pd.DataFrame:
    """Quarantine records for ``rows`` (a slice of a raw frame) with one reason code."""
    if reason not in QUARANTINE_REASONS:
        raise ValueError(f"Unknown quarantine reason {reason!r}; add it to QUARANTINE_REASONS.")
    if rows.empty:
        return empty_quarantine()
    payload = rows.drop(columns=["source_file", "source_row"], errors="ignore")
    raw_json = payload.astype(str).to_json(orient="records", lines=True).splitlines()
    detail_series = (
        detail.astype(str).to_numpy()
        if isinstance(detail, pd.Series)
        else np.full(len(rows), detail, dtype=object)
    )
    return pd.DataFrame(
        {
            "source_file": rows["source_file"].astype(str).to_numpy(dtype=object),
            "source_row": rows["source_row"].to_numpy(dtype=np.int64),
            "reason": np.full(len(rows), reason, dtype=object),
            "detail": np.asarray(detail_series, dtype=object),
            "raw": np.asarray(raw_json, dtype=object),
        }
    )


def _parse_timestamps(values: pd.Series, *, time_format: str | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
        if getattr(values.dt, "tz", None) is not None:
            raise ValueError("timestamps must be naive local times; convert before validation.")
    else:
        out = pd.to_datetime(
            values.astype("string"), format=time_format or "ISO8601", errors="coerce"
        )
    # pandas may parse at a coarser unit than ns; years outside 1678-2261 cannot be held in ns
    # and are no credible crime dates anyway, so they count as unparseable rather than crash.
    in_range = (out >= pd.Timestamp.min) & (out <= pd.Timestamp.max)
    return out.where(in_range).astype("datetime64[ns]")


def validate_events(
    raw: pd.DataFrame,
    *,
    areas: gpd.GeoDataFrame | None,
    as_of: pd.Timestamp,
    time_format: str | None = None,
) -> ValidatedEvents:
    """Split a raw canonical frame into accepted clean events and quarantined rows.

    Checks run in a fixed order and a row is quarantined for the first it fails: record count
    (only when the frame has ``record_count``: not 1 or -1 is ``invalid_count``; a -1 is a
    ``reversal_row`` and cancels the earliest still-kept earlier row with the same event id and
    source category, which becomes ``cancelled_by_reversal``), coordinates
    (missing, then invalid: not numeric, outside [-90, 90] x [-180, 180], or exactly 0/0), date
    (unparseable, then later than ``as_of``), category (unknown to the taxonomy), study area
    (outside every polygon of ``areas``; skipped when ``areas`` is None), duplicate id (the first
    occurrence in file order is kept).

    Parameters
    ----------
    raw
        Raw canonical frame (see the module docstring).
    areas
        Area polygons (EPSG:4326) with an ``area_code`` column defining the study area, or None.
        Accepted events take ``area_code`` from the polygon that contains them.
    as_of
        Latest credible timestamp; later ones are quarantined as ``future_date``.
    time_format
        strptime format for text timestamps; None means ISO 8601 (``2024-03-04 10:00``).

    Raises
    ------
    ValueError
        When a required column is missing (the message lists what is there).
    """
    missing = [c for c in REQUIRED_RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"The raw event frame lacks column(s) {missing}; it has {list(raw.columns)}."
        )
    rows_read = len(raw)
    frame = raw.reset_index(drop=True)
    parts: list[pd.DataFrame] = []
    keep = np.ones(rows_read, dtype=bool)

    def quarantine(
        mask: np.ndarray, reason: str, detail: str | Callable[[pd.DataFrame], pd.Series]
    ) -> None:
        """Move the kept rows in ``mask`` to the quarantine; messages only for those rows."""
        nonlocal keep
        hit = keep & mask
        if hit.any():
            rows = frame.loc[hit]
            det = detail(rows) if callable(detail) else detail
            parts.append(make_quarantine(rows, reason=reason, detail=det))
            keep &= ~hit

    def text(column: pd.Series) -> pd.Series:
        return column.astype("string").fillna("<empty>")

    event_id = frame["event_id"].astype("string")
    no_id = event_id.isna() | (event_id.str.strip() == "")
    fallback = frame["source_file"].astype("string") + ":" + frame["source_row"].astype("string")
    event_id = event_id.where(~no_id.fillna(True), fallback)

    if "record_count" in frame.columns:
        # First, so that a reversal is matched whatever the quality of either row, and before the
        # duplicate check, so a reclassification (-1 old code, +1 new code, same id) keeps the new.
        count = pd.to_numeric(frame["record_count"], errors="coerce")
        count_values = count.to_numpy(dtype=np.float64, na_value=np.nan)
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
        key = event_id + "\x1f" + text(label)
        _quarantine_reversals(frame, key=key, count=count_values, keep=keep, quarantine=quarantine)

    lat_text = frame["latitude"]
    lon_text = frame["longitude"]
    empty = lat_text.isna().to_numpy() | lon_text.isna().to_numpy()
    for column in (lat_text, lon_text):
        if not pd.api.types.is_numeric_dtype(column):  # blank text only exists in text columns
            empty |= (column.astype("string").str.strip() == "").fillna(True).to_numpy()
    quarantine(empty, "missing_coordinates", "latitude or longitude is empty")

    lat = pd.to_numeric(lat_text, errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(lon_text, errors="coerce").to_numpy(dtype=np.float64)
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

    ts = _parse_timestamps(frame["timestamp"], time_format=time_format)
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

    labels = frame["crime_type"].astype("category")  # a handful of labels: map each once
    mapped = [canonical_crime_type(str(u)) for u in labels.cat.categories]
    # code -1 (a missing label) picks the trailing None
    lookup = np.array([*mapped, None], dtype=object)
    canonical = pd.Series(lookup[labels.cat.codes.to_numpy()], index=frame.index)
    unknown = canonical.isna().to_numpy()
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
    if areas is not None:
        idx = np.flatnonzero(keep)
        located = locate_in_areas(lat[idx], lon[idx], areas=areas)
        outside = np.zeros(rows_read, dtype=bool)
        outside[idx] = located.isna().to_numpy()
        area_code = area_code.copy()
        area_code.iloc[idx] = located.to_numpy()
        quarantine(outside, "outside_study_area", "the point is outside every study-area polygon")

    dup = np.zeros(rows_read, dtype=bool)
    kept_idx = np.flatnonzero(keep)
    dup[kept_idx] = event_id.iloc[kept_idx].duplicated(keep="first").to_numpy()
    quarantine(
        dup, "duplicate_id", lambda rows: "event id " + event_id[rows.index] + " was seen earlier"
    )

    accepted = pd.DataFrame(
        {
            "event_id": event_id[keep].astype(object).to_numpy(),
            "timestamp": ts[keep].to_numpy(),
            "crime_type": pd.Categorical(canonical[keep].to_numpy(), categories=CANONICAL_TYPES),
            "latitude": lat[keep],
            "longitude": lon[keep],
            "area_code": area_code[keep].astype(object).to_numpy(),
            "source_file": frame["source_file"][keep].astype(object).to_numpy(),
        }
    )
    accepted = accepted.sort_values(["timestamp", "event_id"], kind="mergesort").reset_index(
        drop=True
    )
    quarantined = pd.concat(parts, ignore_index=True) if parts else empty_quarantine()
    quarantined = quarantined.sort_values(["source_file", "source_row"], kind="mergesort")
    quarantined = quarantined.reset_index(drop=True)
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
    key: pd.Series,
    count: np.ndarray,
    keep: np.ndarray,
    quarantine: Callable[[np.ndarray, str, str | Callable[[pd.DataFrame], pd.Series]], None],
) -> None:
    """Quarantine each kept -1 row and the record it cancels, matched first in, first out.

    Within a key, reversals taken in input order each cancel the earliest still-kept +1 row
    before them. The cancelled rows are then always the first records of the key, and the k-th
    reversal finds one iff ``m_k = min(k, min_{j<=k} (p_j + k - j))`` grows at k, where ``p_j``
    counts the records before reversal j; it cancels record number ``m_k``. This is the queue
    written as a running minimum, so it vectorises with groupby.
    """
    positions = np.arange(len(frame))
    is_record = keep & (count == 1.0)
    is_reversal = keep & (count == -1.0)
    if not is_reversal.any():
        return
    table = pd.DataFrame({"key": key.to_numpy(dtype=object), "pos": positions})
    records_before = pd.Series(is_record.astype(np.int64)).groupby(
        table["key"]
    ).cumsum() - is_record.astype(np.int64)
    rev = table[is_reversal].assign(p=records_before[is_reversal].to_numpy())
    k = rev.groupby("key").cumcount().to_numpy() + 1
    slack = pd.Series(rev["p"].to_numpy() - k, index=rev.index).groupby(rev["key"]).cummin()
    m = k + np.minimum(0, slack.to_numpy())
    previous = pd.Series(m, index=rev.index).groupby(rev["key"]).shift(1, fill_value=0)
    matched = (m - previous.to_numpy()) == 1
    rev = rev.assign(m=m, matched=matched)

    recs = table[is_record]
    recs = recs.assign(n=recs.groupby("key").cumcount().to_numpy() + 1)
    pairs = rev[rev["matched"]].merge(
        recs, left_on=["key", "m"], right_on=["key", "n"], suffixes=("_rev", "_rec")
    )
    pos_rec = pairs["pos_rec"].to_numpy(dtype=np.int64)
    pos_rev = pairs["pos_rev"].to_numpy(dtype=np.int64)
    target = np.zeros(len(frame), dtype=bool)
    target[pos_rec] = True
    where = frame["source_file"].astype("string") + " row " + frame["source_row"].astype("string")
    cancelled_by = pd.Series(pd.NA, index=frame.index, dtype="string")
    cancelled_by.iloc[pos_rec] = where.iloc[pos_rev].to_numpy()
    cancels = pd.Series("no earlier record to cancel", index=frame.index, dtype="string")
    cancels.iloc[pos_rev] = ("cancels the record at " + where.iloc[pos_rec]).to_numpy()
    quarantine(is_reversal, "reversal_row", lambda rows: cancels[rows.index])
    quarantine(
        target,
        "cancelled_by_reversal",
        lambda rows: "cancelled by the reversal at " + cancelled_by[rows.index],
    )


def locate_in_areas(
    latitude: np.ndarray, longitude: np.ndarray, *, areas: gpd.GeoDataFrame
) -> pd.Series:
    """Area code of the polygon containing each point (first by code on shared edges), else NA."""
    if "area_code" not in areas.columns:
        raise ValueError(f"The areas table needs an 'area_code' column; it has {list(areas)}.")
    points = gpd.GeoDataFrame(
        {"pt": np.arange(len(latitude))},
        geometry=gpd.points_from_xy(longitude, latitude),
        crs="EPSG:4326",
    )
    polys = areas[["area_code", "geometry"]].to_crs("EPSG:4326")
    joined = gpd.sjoin(points, polys, how="left", predicate="intersects")
    joined = joined.sort_values(["pt", "area_code"], kind="mergesort")
    joined = joined.drop_duplicates("pt", keep="first").sort_values("pt")
    return pd.Series(joined["area_code"].to_numpy(), dtype="string")


def summarise_quality(result: ValidatedEvents, *, by_file_read: pd.Series) -> dict[str, Any]:
    """Counts by reason and by source file; raises when accepted + quarantined != read."""
    q = result.quarantine
    a = result.accepted
    if len(a) + len(q) != result.rows_read:
        raise AssertionError("accepted + quarantined != read")
    accepted_by_file = a["source_file"].value_counts()
    files: dict[str, dict[str, object]] = {}
    for name, n_read in by_file_read.sort_index().items():
        qf = q[q["source_file"] == name]
        n_acc = int(accepted_by_file.get(name, 0))
        if n_acc + len(qf) != int(n_read):
            raise AssertionError(
                f"{name}: {n_acc} accepted + {len(qf)} quarantined != {int(n_read)} read"
            )
        files[str(name)] = {
            "read": int(n_read),
            "accepted": n_acc,
            "quarantined": len(qf),
            "by_reason": {
                str(k): int(v) for k, v in qf["reason"].value_counts().sort_index().items()
            },
        }
    by_reason = {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()}
    return {
        "rows_read": result.rows_read,
        "rows_accepted": len(a),
        "rows_quarantined": len(q),
        "by_reason": by_reason,
        "reason_meanings": {k: QUARANTINE_REASONS[k] for k in by_reason},
        "by_source_file": files,
        "accepted_by_type": {
            str(k): int(v) for k, v in a["crime_type"].value_counts(sort=False).items() if v
        },
        "date_min": None if a.empty else f"{a['timestamp'].min():%Y-%m-%d %H:%M}",
        "date_max": None if a.empty else f"{a['timestamp'].max():%Y-%m-%d %H:%M}",
    }


def detect_time_resolution(timestamps: pd.Series) -> Literal["month", "day", "sub_day"]:
    """How finely the accepted timestamps resolve time, for choosing the forecast period.

    Returns ``"month"`` when every timestamp is 00:00 on the 1st of a month (data.police.uk
    publishes only the month), ``"day"`` when all are at 00:00 but not all on the 1st, and
    ``"sub_day"`` otherwise. Refuses an empty series (no timestamp says anything).
    """
    ns = as_datetime64_ns(timestamps, what="timestamps")
    if ns.size == 0:
        raise ValueError("detect_time_resolution needs at least one timestamp. Got none.")
    if not np.array_equal(ns.astype("datetime64[D]").astype("datetime64[ns]"), ns):
        return "sub_day"
    if np.array_equal(ns.astype("datetime64[M]").astype("datetime64[ns]"), ns):
        return "month"
    return "day"
