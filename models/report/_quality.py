"""``reports/data_quality.json`` as the audit and the report read it: one function reads it.

The ingest stage's summary is read through its typed definition
(:class:`beatwise.artefacts.quality.DataQuality`), and its JSON form is turned into the report's
tables here, and only here (by :meth:`DataQualitySummary.from_dict`); everything else reads the
:class:`DataQualitySummary`. Known keys get purpose-built tables for the bias report; any other key
is shown generically, so a new figure in the summary reaches the report without code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from beatwise.artefacts.quality import SOURCE_WORDS, DataQuality
from models.report._format import cell, fmt, is_num


@dataclass(frozen=True)
class DataQualitySummary:
    """What the documents and the audit take from the ingest stage's data-quality summary.

    Any field is None (or empty) when the summary lacks it; :func:`models.report.report_context`
    refuses a summary without the facts the documents state.
    """

    #: how the documents name the study area (``ingest.place``, or the source's default)
    place: str | None = None
    date_min: str | None = None
    date_max: str | None = None
    rows_read: int | None = None
    rows_accepted: int | None = None
    #: accepted events by canonical crime type (G1's share of police-activity types)
    accepted_by_type: dict[str, float] = field(default_factory=dict)
    #: the bias report's data-quality tables (title, header, rows)
    tables: tuple[dict[str, Any], ...] = ()
    #: the smallest historical count of crime by place the tables show unsuppressed (the
    #: districts' event counts), None when they show none: gate G9 judges it
    smallest_count_shown: int | None = None
    #: how the residents and each group attribute were made, one sentence each (the study
    #: area's ``how_groups_made``), for the report's "How the groups were made"
    groups_made: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, dq: Mapping[str, Any], *, suppress_below: int = 3) -> DataQualitySummary:
        """The one reader of the summary's keys. Counts of crime by place below
        ``suppress_below`` (``publish.min_count_shown``) are printed as "fewer than N"."""
        return cls(
            place=dq.get("place"),
            date_min=dq.get("date_min"),
            date_max=dq.get("date_max"),
            rows_read=dq.get("rows_read"),
            rows_accepted=dq.get("rows_accepted"),
            accepted_by_type=dict(dq.get("accepted_by_type") or {}),
            tables=tuple(_data_quality_tables(dq, suppress_below)),
            smallest_count_shown=_smallest_place_count(dq, suppress_below),
            groups_made=_groups_made(dq),
        )


def read_data_quality(path: Path, *, suppress_below: int = 3) -> DataQualitySummary:
    """Read ``reports/data_quality.json`` through its definition (refusing a missing or malformed
    file, naming it and the key); counts by place below ``suppress_below`` are suppressed."""
    return DataQualitySummary.from_dict(
        DataQuality.read(path).to_json(), suppress_below=suppress_below
    )


def _groups_made(dq: Mapping[str, Any]) -> tuple[str, ...]:
    """The study area's sentences on how each group was made, in the summary's order."""
    areas = dq.get("areas")
    made = areas.get("how_groups_made") if isinstance(areas, Mapping) else None
    if not isinstance(made, list):
        return ()
    return tuple(str(m["sentence"]) for m in made if isinstance(m, Mapping) and "sentence" in m)


def _district_counts(dq: Mapping[str, Any]) -> list[float]:
    areas = dq.get("areas")
    coverage = areas.get("coverage") if isinstance(areas, Mapping) else None
    districts = coverage.get("districts") if isinstance(coverage, Mapping) else None
    if not isinstance(districts, Mapping):
        return []
    return [float(d["events"]) for d in districts.values() if is_num(d.get("events"))]


def _smallest_place_count(dq: Mapping[str, Any], suppress_below: int) -> int | None:
    """The smallest district event count the tables print (those below the limit are not)."""
    shown = [n for n in _district_counts(dq) if n >= suppress_below]
    return int(min(shown)) if shown else None


def _place_count(n: Any, suppress_below: int) -> str:
    """A count of crime in one place: "fewer than N" below the limit (gate G9)."""
    if is_num(n) and float(n) < suppress_below:
        return f"fewer than {suppress_below}"
    return cell(n)


#: source files listed one by one in the report; the rest are summed in one row
MAX_FILES_LISTED: Final[int] = 15
_DQ_SUMMARY_KEYS: Final[tuple[tuple[str, str], ...]] = (
    ("place", "place"),
    ("source", "source"),
    ("time_resolution", "time resolution of the timestamps"),
    ("rows_read", "rows read"),
    ("rows_accepted", "rows accepted"),
    ("rows_quarantined", "rows quarantined"),
    ("date_min", "earliest accepted event"),
    ("date_max", "latest accepted event"),
)


def _data_quality_tables(dq: Mapping[str, Any], suppress_below: int) -> list[dict[str, Any]]:
    """The ingest stage's data-quality summary as titled tables an ethics board can read.

    Known keys get purpose-built tables: the summary, rows quarantined by reason with its meaning
    and share, the source files with the most quarantined rows (at most
    :data:`MAX_FILES_LISTED`, the rest summed in one row: a police.uk archive holds thousands of
    files), the study area and, when the source covers only part of the areas, the districts
    kept and left out. Any other key is shown generically.
    """
    tables: list[dict[str, Any]] = []
    summary = [
        [label, SOURCE_WORDS.get(str(dq[key]), cell(dq[key])) if key == "source" else cell(dq[key])]
        for key, label in _DQ_SUMMARY_KEYS
        if key in dq
    ]
    if summary:
        tables.append({"title": "Summary", "header": ["item", "value"], "rows": summary})
    read = dq.get("rows_read")
    by_reason = dq.get("by_reason")
    if isinstance(by_reason, Mapping):
        meanings = dq.get("reason_meanings") or {}
        rows = [
            [
                str(reason),
                str(meanings.get(reason, "")),
                cell(n),
                f"{100 * n / read:.2f}%" if is_num(read) and read else "",
            ]
            for reason, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
        ] or [["none", "every row read was accepted", "0", "0.00%"]]
        tables.append(
            {
                "title": "Rows quarantined, by reason",
                "header": ["reason", "meaning", "rows", "share of rows read"],
                "rows": rows,
            }
        )
    files = dq.get("by_source_file")
    if isinstance(files, Mapping) and files:
        tables.append(_file_table(files))
    areas = dq.get("areas")
    if isinstance(areas, Mapping):
        tables.extend(_area_tables(areas, suppress_below))
    accepted = dq.get("accepted_by_type")
    if isinstance(accepted, Mapping) and accepted:
        rows = [[str(k), cell(v)] for k, v in accepted.items()]
        tables.append(
            {"title": "Events accepted, by crime type", "header": ["type", "events"], "rows": rows}
        )
    handled = {k for k, _ in _DQ_SUMMARY_KEYS} | {
        "by_reason",
        "reason_meanings",
        "by_source_file",
        "areas",
        "accepted_by_type",
    }
    tables.extend(_generic_tables({k: v for k, v in dq.items() if k not in handled}))
    return tables


def _file_table(files: Mapping[str, Any]) -> dict[str, Any]:
    """Source files ranked by rows quarantined (then name); the tail summed in one row."""
    ranked = sorted(
        files.items(), key=lambda kv: (-int(dict(kv[1]).get("quarantined", 0)), str(kv[0]))
    )
    rows = []
    for name, f in ranked[:MAX_FILES_LISTED]:
        f = dict(f)
        reasons = dict(f.get("by_reason") or {})
        rows.append(
            [
                str(name),
                cell(f.get("read")),
                cell(f.get("accepted")),
                cell(f.get("quarantined")),
                ", ".join(f"{k} {v:,}" for k, v in reasons.items()) or "-",
            ]
        )
    rest = ranked[MAX_FILES_LISTED:]
    if rest:
        totals = [sum(int(dict(f).get(k, 0)) for _, f in rest) for k in ("read", "accepted")]
        quarantined = sum(int(dict(f).get("quarantined", 0)) for _, f in rest)
        rows.append(
            [
                f"{len(rest):,} other files",
                f"{totals[0]:,}",
                f"{totals[1]:,}",
                f"{quarantined:,}",
                "(fewer quarantined rows each)",
            ]
        )
    listed = "" if not rest else f" (the {MAX_FILES_LISTED} with most rows quarantined)"
    return {
        "title": f"Source files{listed}: {len(files):,} in all",
        "header": ["file", "read", "accepted", "quarantined", "quarantined by reason"],
        "rows": rows,
    }


def _area_tables(areas: Mapping[str, Any], suppress_below: int) -> list[dict[str, Any]]:
    """The study area: where the areas came from and, for partial sources, which districts."""
    rows = [["area polygons", str(areas.get("kind", ""))]]
    if areas.get("n_areas") is not None:
        rows.append(["areas in the study area", cell(areas["n_areas"])])
    if areas.get("residents") is not None:
        rows.append(["residents of the study area", cell(areas["residents"])])
    if areas.get("attributes") is not None:
        rows.append(["resident attributes", ", ".join(areas["attributes"]) or "none"])
    if areas.get("events_outside_polygons"):
        rows.append(
            [
                "accepted events outside every area (cells without residents)",
                cell(areas["events_outside_polygons"]),
            ]
        )
    if areas.get("note"):
        rows.append(["note", str(areas["note"])])
    tables = [{"title": "Study area", "header": ["item", "value"], "rows": rows}]
    coverage = areas.get("coverage")
    if isinstance(coverage, Mapping):
        rows.append(["rule for districts", str(coverage.get("rule", ""))])
        rows.append(["districts left out", ", ".join(coverage.get("uncovered", [])) or "none"])
        districts = coverage.get("districts") or {}
        table_rows = [
            [
                str(name),
                _place_count(d.get("events"), suppress_below),
                cell(d.get("residents")),
                fmt(d.get("ratio_residents"), 2),
                fmt(d.get("ratio_area"), 2),
                "kept" if d.get("covered") else "left out",
            ]
            for name, d in districts.items()
        ]
        tables.append(
            {
                "title": "Districts the data cover (rates relative to the median district)",
                "header": [
                    "district",
                    "events",
                    "residents",
                    "per resident",
                    "per km²",
                    "study area",
                ],
                "rows": table_rows,
            }
        )
    return tables


def _generic_tables(dq: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Any other entries: scalars in one table, mappings and lists as tables of their own."""
    tables: list[dict[str, Any]] = []
    scalars = [[str(k), cell(v)] for k, v in dq.items() if not isinstance(v, Mapping | list)]
    if scalars:
        tables.append({"title": "Other figures", "header": ["item", "value"], "rows": scalars})
    for key, value in dq.items():
        title = str(key).replace("_", " ")
        if isinstance(value, Mapping) and value:
            if all(isinstance(v, Mapping) for v in value.values()):
                cols: list[str] = []
                for v in value.values():
                    cols.extend(str(c) for c in v if str(c) not in cols)
                rows = [[str(r), *[cell(dict(v).get(c)) for c in cols]] for r, v in value.items()]
                tables.append({"title": title, "header": ["", *cols], "rows": rows})
            else:
                rows = [[str(k), cell(v)] for k, v in value.items()]
                tables.append({"title": title, "header": ["", "count"], "rows": rows})
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            cols = []
            for v in value:
                cols.extend(str(c) for c in v if str(c) not in cols)
            rows = [[cell(dict(v).get(c)) for c in cols] for v in value]
            tables.append({"title": title, "header": cols, "rows": rows})
        elif isinstance(value, list):
            tables.append({"title": title, "header": ["value"], "rows": [[cell(v)] for v in value]})
    return tables
