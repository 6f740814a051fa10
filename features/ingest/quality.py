"""The data-quality summary: rows read, accepted and quarantined, by reason and file; the areas.

:func:`summarise_quality` turns a validation result into the typed
:class:`~beatwise.artefacts.quality.DataQuality` record the ingest stage writes to
``reports/data_quality.json``. It refuses numbers that do not add up. :func:`quarantine_share`
measures the problems (every quarantine reason but ``excluded_category``) against the rows in
scope, and :func:`require_quarantine_share` stops a run whose share exceeds
``ingest.max_quarantine_share``, naming the reasons with examples.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd

from beatwise.artefacts.quality import (
    DataQuality,
    EmptyFileReason,
    FileQuality,
    NoAreas,
    SourceKind,
    StudyAreas,
)
from beatwise.period import TimeResolution, as_datetime64_ns
from features.ingest.area_groups import describe_mapped_groups, describe_prepared_groups
from features.ingest.area_mapping import AreaMapping
from features.ingest.coverage import CoverageResult
from features.ingest.validation import EXCLUDED_REASON, QUARANTINE_REASONS, ValidatedEvents

log = logging.getLogger(__name__)

#: the optional attributes of the areas contract the audit's groups come from
AUDIT_ATTRIBUTES: Final[tuple[str, ...]] = (
    "residents_minority",
    "residents_majority",
    "deprivation_decile",
    "deprivation_score",
)

NO_AREAS_NOTE: Final[str] = (
    "The source has no area polygons or resident attributes: the study area is "
    "the cells where events were recorded, and the audit cannot judge groups."
)


class QuarantineShareError(ValueError):
    """Too large a share of the rows in scope was quarantined (``ingest.max_quarantine_share``)."""


@dataclass(frozen=True)
class QuarantineShare:
    """The quarantine split into deliberate exclusion and problems, and the problems' share."""

    rows_read: int
    #: quarantined as ``excluded_category``: out of scope on purpose
    excluded: int
    #: quarantined for any other reason
    problems: int

    @property
    def in_scope(self) -> int:
        """Rows read less the excluded: what the problems are measured against."""
        return self.rows_read - self.excluded

    @property
    def share(self) -> float:
        """Problems / rows in scope; 0 when nothing is in scope."""
        return self.problems / self.in_scope if self.in_scope else 0.0


def quarantine_share(result: ValidatedEvents) -> QuarantineShare:
    """How many rows were excluded on purpose, how many quarantined as problems, and the share."""
    excluded = int((result.quarantine["reason"] == EXCLUDED_REASON).sum())
    return QuarantineShare(
        rows_read=result.rows_read,
        excluded=excluded,
        problems=len(result.quarantine) - excluded,
    )


def reason_examples(quarantine: pd.DataFrame, *, per_reason: int = 2) -> pd.DataFrame:
    """The first ``per_reason`` quarantined rows of each reason, most frequent reason first.

    Columns ``reason``, ``rows`` (that reason's count), ``source_file``, ``source_row``,
    ``detail``; the rows keep the quarantine's (file, row) order within a reason.
    """
    counts = quarantine["reason"].value_counts()
    first = quarantine.groupby("reason", sort=False).head(per_reason)
    out = first[["reason", "source_file", "source_row", "detail"]].assign(
        rows=first["reason"].map(counts).to_numpy(dtype=np.int64)
    )
    return out.sort_values(["rows", "reason"], ascending=[False, True], kind="stable")


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def require_quarantine_share(result: ValidatedEvents, *, max_share: float | None) -> None:
    """Stop a run whose problems exceed ``max_share`` of the rows in scope (None: no bound).

    Raises
    ------
    QuarantineShareError
        Giving the share, the three most frequent problem reasons with their counts and an
        example row each, and what to change: the mapping, the data, or the param.
    """
    measured = quarantine_share(result)
    if max_share is None or measured.share <= max_share:
        return
    q = result.quarantine
    top = reason_examples(q[q["reason"] != EXCLUDED_REASON], per_reason=1).head(3)
    listed = "; ".join(
        f"{r.reason} {_rows(r.rows)} ({QUARANTINE_REASONS[r.reason]}; e.g. {r.source_file} row "
        f"{r.source_row}: {r.detail})"
        for r in top.itertuples()
    )
    excluded = f", after {measured.excluded:,} excluded on purpose" if measured.excluded else ""
    raise QuarantineShareError(
        f"Ingest stopped: {measured.share:.1%} of the {measured.in_scope:,} rows in scope "
        f"({_rows(measured.problems)}{excluded}) were quarantined, more than "
        f"ingest.max_quarantine_share allows ({max_share:.1%}). Most frequent: {listed}. If "
        "rows of categories your category_map does not list are out of scope, set the "
        "mapping's unmapped_categories: exclude; otherwise correct the mapping or the data, or "
        "raise ingest.max_quarantine_share in params.yaml. `beatwise check-source` lists every "
        "reason without running the pipeline."
    )


def summarise_quality(
    result: ValidatedEvents,
    *,
    by_file_read: pd.Series,
    source: SourceKind,
    place: str,
    areas: StudyAreas | NoAreas,
    empty_files: Mapping[str, EmptyFileReason] | None = None,
    max_quarantine_share: float | None = None,
) -> DataQuality:
    """The data-quality record of one validation: counts by reason, file and type; dates; areas.

    Parameters
    ----------
    result
        What :func:`features.ingest.validation.validate_events` returned.
    by_file_read
        Rows read per source file (e.g. ``raw["source_file"].value_counts()``).
    source
        The source the rows came from (``ingest.source``).
    place
        How the documents name the study area (``IngestConfig.place_name``).
    areas
        The study area's summary (:func:`summarise_areas`).
    empty_files
        The source files that held no rows and why (the loader's ``RawSource.empty_files``);
        they have no rows to count, so they are listed apart from ``by_source_file``.
    max_quarantine_share
        ``ingest.max_quarantine_share``, recorded beside the measured share (None: no bound).

    Raises
    ------
    AssertionError
        When accepted + quarantined != read, overall or for a file.
    ValueError
        When no row was accepted (no timestamp tells the time resolution).
    """
    q = result.quarantine
    a = result.accepted
    if len(a) + len(q) != result.rows_read:
        raise AssertionError("accepted + quarantined != read")
    by_reason = {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()}
    if a.empty:
        raise ValueError(
            f"No row was accepted: all {result.rows_read} rows read were quarantined "
            f"({by_reason}); a data-quality summary needs accepted events to tell the time "
            "resolution. See the quarantine's 'detail' column."
        )
    # One crosstab of (file, reason), not a scan of the quarantine per file: a police.uk archive
    # holds thousands of files.
    read_by_file = by_file_read.astype(np.int64).groupby(level=0).sum().sort_index()
    read_by_file.index = read_by_file.index.astype(str)
    accepted_by_file = (
        a["source_file"].astype(str).value_counts().reindex(read_by_file.index, fill_value=0)
    )
    by_file_reason = (
        pd.crosstab(q["source_file"].astype(str), q["reason"].astype(str))
        if len(q)
        else pd.DataFrame(index=pd.Index([], dtype=str))
    )
    by_file_reason = by_file_reason.reindex(read_by_file.index, fill_value=0)
    quarantined_by_file = by_file_reason.sum(axis=1).astype(np.int64)
    bad = accepted_by_file + quarantined_by_file != read_by_file
    if bad.any():
        name = bad[bad].index[0]
        raise AssertionError(
            f"{name}: {int(accepted_by_file[name])} accepted + {int(quarantined_by_file[name])} "
            f"quarantined != {int(read_by_file[name])} read"
        )
    reasons = sorted(by_file_reason.columns)
    counts = by_file_reason[reasons].to_numpy(dtype=np.int64) if reasons else None
    files: dict[str, FileQuality] = {}
    for i, name in enumerate(read_by_file.index):
        files[name] = FileQuality(
            read=int(read_by_file.iloc[i]),
            accepted=int(accepted_by_file.iloc[i]),
            quarantined=int(quarantined_by_file.iloc[i]),
            by_reason={}
            if counts is None
            else {r: int(n) for r, n in zip(reasons, counts[i], strict=True) if n},
        )
    return DataQuality(
        source=source,
        place=place,
        rows_read=result.rows_read,
        rows_accepted=len(a),
        rows_quarantined=len(q),
        by_reason=by_reason,
        reason_meanings={k: QUARANTINE_REASONS[k] for k in by_reason},
        rows_excluded=by_reason.get(EXCLUDED_REASON, 0),
        quarantine_share=quarantine_share(result).share,
        max_quarantine_share=max_quarantine_share,
        by_source_file=files,
        empty_files=dict(sorted((empty_files or {}).items())),
        accepted_by_type={
            str(k): int(v) for k, v in a["crime_type"].value_counts(sort=False).items() if v
        },
        date_min=f"{a['timestamp'].min():%Y-%m-%d %H:%M}",
        date_max=f"{a['timestamp'].max():%Y-%m-%d %H:%M}",
        time_resolution=detect_time_resolution(a["timestamp"]),
        areas=areas,
    )


def summarise_areas(
    areas: gpd.GeoDataFrame | None,
    *,
    kind: str,
    accepted_area_code: pd.Series,
    coverage: CoverageResult | None = None,
    mapping: AreaMapping | None = None,
) -> StudyAreas | NoAreas:
    """What the bias report says about the study area and its attribute data.

    ``areas`` is None for a source without areas; ``kind`` is ``ingest.areas.kind``;
    ``accepted_area_code`` is the accepted events' ``area_code`` (null for an event kept outside
    every polygon, counted as ``events_outside_polygons``); ``coverage`` is given when the areas
    were restricted to the districts the events cover; ``mapping`` is ``ingest.areas.mapping``,
    required for ``kind`` mapped: it says how the groups were made (``how_groups_made``), where a
    prepared file's columns are read directly.
    """
    if areas is None:
        return NoAreas(kind="none", n_areas=0, residents=None, note=NO_AREAS_NOTE)
    if kind == "mapped" and mapping is None:
        raise ValueError(
            "summarise_areas needs the area mapping (ingest.areas.mapping) for areas of kind "
            "'mapped': it says how the groups were made."
        )
    made = (
        describe_mapped_groups(mapping, areas=areas)
        if kind == "mapped" and mapping is not None
        else describe_prepared_groups([str(c) for c in areas.columns])
    )
    return StudyAreas.model_validate(
        {
            "kind": kind,
            "n_areas": len(areas),
            "residents": float(areas["residents"].sum()),
            "attributes": sorted(c for c in AUDIT_ATTRIBUTES if c in areas.columns),
            "events_outside_polygons": int(accepted_area_code.isna().sum()),
            "coverage": None if coverage is None else coverage.summary(),
            "how_groups_made": made,
        }
    )


def log_quality(quality: DataQuality) -> None:
    """Log the quarantine by reason, then read = accepted + quarantined and the date range."""
    for reason, n in quality.by_reason.items():
        if reason == EXCLUDED_REASON:
            log.info("excluded %d rows: categories the mapping leaves out of scope", n)
        else:
            log.warning("quarantined %d rows: %s", n, reason)
    if quality.quarantine_share is not None:
        log.info(
            "problems: %.1f%% of the rows in scope (ingest.max_quarantine_share: %s)",
            100 * quality.quarantine_share,
            "none" if quality.max_quarantine_share is None else quality.max_quarantine_share,
        )
    log.info(
        "%d read = %d accepted + %d quarantined; dates %s to %s (%s resolution)",
        quality.rows_read,
        quality.rows_accepted,
        quality.rows_quarantined,
        quality.date_min,
        quality.date_max,
        quality.time_resolution,
    )


def detect_time_resolution(timestamps: pd.Series) -> TimeResolution:
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
