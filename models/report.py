"""Render the bias report (one self-contained HTML file) and the model card (markdown).

Both take plain dicts: the audit's :meth:`models.audit.AuditResult.to_dict`, the evaluate stage's
metrics dict and the ingest stage's data-quality dict, plus a :class:`ReportContext` that says
which model, run and date the documents describe. Output is deterministic for the same inputs: no
clock is read here, charts are PNGs drawn with matplotlib's Agg canvas without a timestamp, and
nothing is fetched from the network (inline CSS, images as ``data:`` URIs).

The section ids of the report (``REQUIRED_REPORT_SECTIONS``) and the headings of the card
(``REQUIRED_CARD_SECTIONS``) are what gate G10 checks, so they are stable: change them only
together with the audit stage.

Expected metrics layout (keys for coverage 5%; other coverages use ``at_<k>pct`` with ``.`` as
``p``, e.g. ``at_0p5pct``)::

    {
      "hr_at_5pct": 0.31, "pai_at_5pct": 6.2, "pei_at_5pct": 0.71,      # the model
      "lift_pai_at_5pct": {"estimate": 1.12, "ci_low": 1.04, "ci_high": 1.2,
                           "baseline": "b4_all_history"},             # over the best baseline
      "baselines": {
        "b4_all_history": {"hr_at_5pct": .., "pai_at_5pct": .., "pei_at_5pct": ..,
                           "lift_pai_at_5pct": {"estimate": .., "ci_low": .., "ci_high": ..}},
        ...
      }
    }

The model's figures may also sit under ``"model"``; any figure may be a number or a mapping
with ``"estimate"``. Missing figures show as "not reported".
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2
import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

from beatwise.period import Period, period_words
from beatwise.taxonomy import DISPLAY_NAMES, POLICE_ACTIVITY_TYPES, validate_crime_types
from models.audit import CAVEATS
from models.metrics import coverage_label

logger = logging.getLogger(__name__)

#: ``id`` attributes every bias report carries (checked by gate G10).
REQUIRED_REPORT_SECTIONS: Final[tuple[str, ...]] = (
    "summary",
    "intended-use",
    "out-of-scope",
    "decision",
    "override",
    "gates",
    "groups",
    "chart-exposure",
    "chart-coverage",
    "chart-calibration",
    "chart-map",
    "target-definition",
    "performance",
    "data-quality",
    "feedback-loop-caveat",
    "ecological-caveat",
)

#: Headings every model card carries (Mitchell et al. 2019, "Model Cards for Model Reporting").
REQUIRED_CARD_SECTIONS: Final[tuple[str, ...]] = (
    "Model details",
    "Intended use",
    "Out-of-scope uses",
    "Factors",
    "Metrics",
    "Training data",
    "Evaluation data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)

_TEMPLATES: Final[Path] = Path(__file__).parent / "templates"

FEEDBACK_LOOP_CAVEAT: Final[str] = CAVEATS["feedback_loop"]
ECOLOGICAL_CAVEAT: Final[str] = CAVEATS["ecological"]

_STATUS_CLASS: Final[dict[str, str]] = {
    "PASS": "status-pass",
    "REVIEW": "status-review",
    "FAIL": "status-fail",
    "INSUFFICIENT DATA": "status-insufficient",
    "NOT CHECKED": "status-not-checked",
}

_PERF_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "hit_rate": ("hr", "hit_rate"),
    "pai": ("pai",),
    "pei": ("pei",),
}


class ReportContext(BaseModel):
    """What the documents describe: model version, run, date, study area and data.

    ``report_date`` is passed in (never read from the clock) so that output is reproducible.
    ``period`` (``panel_meta.json``) sets the words: "the coming week" or "the coming month",
    cell-weeks or cell-months.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_version: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    report_date: dt.date
    study_area: str = Field(min_length=1)
    model_type: str = "LightGBM gradient-boosted trees with a Poisson objective"
    model_params: dict[str, Any] = Field(default_factory=dict)
    target_types: tuple[str, ...] = Field(min_length=1)
    police_activity_reasons: dict[str, str] = Field(default_factory=dict)
    published_resolution: int = Field(ge=0, le=15)
    backtest_period: str = Field(min_length=1)
    training_data: str = Field(min_length=1)
    evaluation_data: str = Field(min_length=1)
    period: Period = "week"
    contact: str = "the Beatwise maintainers"

    def model_post_init(self, __context: Any) -> None:
        validate_crime_types(self.target_types, what="ReportContext.target_types")


# --------------------------------------------------------------------------------------------
# Formatting helpers (also jinja filters)
# --------------------------------------------------------------------------------------------


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; "n/a" for None/NaN; other values as text."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if _is_num(x):
        return f"{x:,.{digits}f}"
    return str(x)


def _pct(x: Any, digits: int = 1) -> str:
    return "n/a" if not _is_num(x) else f"{100 * x:.{digits}f}%"


def _count(x: Any) -> str:
    return "n/a" if not _is_num(x) else f"{x:,.0f}"


def _interval(lo: Any, hi: Any, digits: int = 2) -> str:
    if not (_is_num(lo) and _is_num(hi)):
        return "—"
    return f"{lo:.{digits}f} – {hi:.{digits}f}"


def _md(x: Any) -> str:
    """Text safe inside a markdown table cell."""
    return str(x).replace("|", "\\|").replace("\n", " ")


def _coverage_suffix(coverage: float) -> str:
    pct = f"{100 * coverage:g}"
    return f"{pct.replace('.', 'p')}pct"


def _estimate(x: Any) -> float | None:
    if isinstance(x, Mapping):
        for key in ("estimate", "value", "point", "lift"):
            if key in x:
                return _estimate(x[key])
        return None
    return float(x) if _is_num(x) else None


def _lift(x: Any) -> dict[str, Any]:
    if x is None:
        return {"estimate": None, "ci_low": None, "ci_high": None, "baseline": None}
    if not isinstance(x, Mapping):
        return {"estimate": _estimate(x), "ci_low": None, "ci_high": None, "baseline": None}
    lo, hi = x["ci"] if x.get("ci") is not None else (x.get("ci_low"), x.get("ci_high"))
    return {
        "estimate": _estimate(x),
        "ci_low": _estimate(lo),
        "ci_high": _estimate(hi),
        "baseline": x.get("baseline", x.get("best_baseline")),
    }


def performance_rows(metrics: Mapping[str, Any], *, coverage: float) -> list[dict[str, Any]]:
    """Model and baselines at ``coverage``: hit rate, PAI, PEI and the model's lift over each."""
    suffix = _coverage_suffix(coverage)
    model_block = metrics.get("model", metrics)
    if not isinstance(model_block, Mapping):
        model_block = metrics

    def figures(block: Mapping[str, Any]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, prefixes in _PERF_FIELDS.items():
            value = None
            for prefix in prefixes:
                key = f"{prefix}_at_{suffix}"
                if key in block:
                    value = _estimate(block[key])
                    break
            out[name] = value
        return out

    headline = _lift(metrics.get(f"lift_pai_at_{suffix}"))
    rows: list[dict[str, Any]] = [
        {"name": "model", "is_model": True, **figures(model_block), "lift": None}
    ]
    baselines = metrics.get("baselines", {})
    if isinstance(baselines, Mapping):
        for name in baselines:
            block = baselines[name]
            if not isinstance(block, Mapping):
                continue
            lift: dict[str, Any] | None = _lift(block.get(f"lift_pai_at_{suffix}"))
            if lift is not None and lift["estimate"] is None:
                lift = headline if headline["baseline"] == name else None
            rows.append({"name": str(name), "is_model": False, **figures(block), "lift": lift})
    if all(r[k] is None for r in rows for k in _PERF_FIELDS):
        logger.warning("Report: the metrics dict has no figures at coverage %s.", suffix)
    return rows


#: source files listed one by one in the report; the rest are summed in one row
MAX_FILES_LISTED: Final[int] = 15
_DQ_SUMMARY_KEYS: Final[tuple[tuple[str, str], ...]] = (
    ("source", "source"),
    ("time_resolution", "time resolution of the timestamps"),
    ("rows_read", "rows read"),
    ("rows_accepted", "rows accepted"),
    ("rows_quarantined", "rows quarantined"),
    ("date_min", "earliest accepted event"),
    ("date_max", "latest accepted event"),
)


def _data_quality_tables(dq: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ingest stage's data-quality summary as titled tables an ethics board can read.

    Known keys get purpose-built tables: the summary, rows quarantined by reason with its meaning
    and share, the source files with the most quarantined rows (at most
    :data:`MAX_FILES_LISTED`, the rest summed in one row: a police.uk archive holds thousands of
    files), the study area and, when the source covers only part of the areas, the districts
    kept and left out. Any other key is shown generically.
    """
    tables: list[dict[str, Any]] = []
    summary = [[label, _cell(dq[key])] for key, label in _DQ_SUMMARY_KEYS if key in dq]
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
                _cell(n),
                f"{100 * n / read:.2f}%" if _is_num(read) and read else "",
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
        tables.extend(_area_tables(areas))
    accepted = dq.get("accepted_by_type")
    if isinstance(accepted, Mapping) and accepted:
        rows = [[str(k), _cell(v)] for k, v in accepted.items()]
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
                _cell(f.get("read")),
                _cell(f.get("accepted")),
                _cell(f.get("quarantined")),
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


def _area_tables(areas: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The study area: where the areas came from and, for partial sources, which districts."""
    rows = [["area polygons", str(areas.get("kind", ""))]]
    if areas.get("n_areas") is not None:
        rows.append(["areas in the study area", _cell(areas["n_areas"])])
    if areas.get("residents") is not None:
        rows.append(["residents of the study area", _cell(areas["residents"])])
    if areas.get("attributes") is not None:
        rows.append(["resident attributes", ", ".join(areas["attributes"]) or "none"])
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
                _cell(d.get("events")),
                _cell(d.get("residents")),
                _fmt(d.get("ratio_residents"), 2),
                _fmt(d.get("ratio_area"), 2),
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
    scalars = [[str(k), _cell(v)] for k, v in dq.items() if not isinstance(v, Mapping | list)]
    if scalars:
        tables.append({"title": "Other figures", "header": ["item", "value"], "rows": scalars})
    for key, value in dq.items():
        title = str(key).replace("_", " ")
        if isinstance(value, Mapping) and value:
            if all(isinstance(v, Mapping) for v in value.values()):
                cols: list[str] = []
                for v in value.values():
                    cols.extend(str(c) for c in v if str(c) not in cols)
                rows = [[str(r), *[_cell(dict(v).get(c)) for c in cols]] for r, v in value.items()]
                tables.append({"title": title, "header": ["", *cols], "rows": rows})
            else:
                rows = [[str(k), _cell(v)] for k, v in value.items()]
                tables.append({"title": title, "header": ["", "count"], "rows": rows})
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            cols = []
            for v in value:
                cols.extend(str(c) for c in v if str(c) not in cols)
            rows = [[_cell(dict(v).get(c)) for c in cols] for v in value]
            tables.append({"title": title, "header": cols, "rows": rows})
        elif isinstance(value, list):
            tables.append(
                {"title": title, "header": ["value"], "rows": [[_cell(v)] for v in value]}
            )
    return tables


def _cell(v: Any) -> str:
    if isinstance(v, Mapping | list):
        return (
            ", ".join(f"{k}: {_cell(x)}" for k, x in dict(v).items())
            if isinstance(v, Mapping)
            else ", ".join(_cell(x) for x in v)
        )
    if _is_num(v) and float(v).is_integer():
        return f"{v:,.0f}"
    return _fmt(v, 3)


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------

_RC: Final[dict[Any, Any]] = {  # matplotlib types rc keys as a Literal union
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}
_PALETTE: Final[tuple[str, ...]] = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")


def _png(fig: Figure) -> str:
    """The figure as a base64 PNG with no timestamp or software metadata (reproducible)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _empty_chart(message: str) -> str:
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(6, 1.2), layout="constrained")
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center")
        return _png(fig)


def _chart_exposure(groups: Mapping[str, Any]) -> str:
    attrs = [a for a in groups if groups[a].get("groups")]
    if not attrs:
        return _empty_chart("No audit groups were configured.")
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(3.4 * len(attrs) + 0.6, 3.2), layout="constrained")
        axes = fig.subplots(1, len(attrs), squeeze=False)[0]
        for ax, attr in zip(axes, attrs, strict=True):
            g = groups[attr]["groups"]
            labels = list(g)
            x = np.arange(len(labels))
            pop = [g[lb].get("population_share") or 0.0 for lb in labels]
            exp = [g[lb].get("exposure_share") or 0.0 for lb in labels]
            ax.bar(x - 0.2, pop, width=0.4, color="#bbbbbb", label="share of residents")
            ax.bar(x + 0.2, exp, width=0.4, color=_PALETTE[0], label="share of flagging")
            ax.set_xticks(x, labels)
            ax.set_title(attr)
            ax.set_ylabel("share")
        axes[0].legend(loc="upper left", frameon=False)
        return _png(fig)


def _chart_coverage(groups: Mapping[str, Any]) -> str:
    attrs = [a for a in groups if groups[a].get("groups")]
    if not attrs:
        return _empty_chart("No audit groups were configured.")
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(3.4 * len(attrs) + 0.6, 3.2), layout="constrained")
        axes = fig.subplots(1, len(attrs), squeeze=False)[0]
        for ax, attr in zip(axes, attrs, strict=True):
            g = groups[attr]["groups"]
            labels = list(g)
            x = np.arange(len(labels))
            cov = np.array([_nan(g[lb].get("victimisation_coverage")) for lb in labels])
            ci = np.array(
                [
                    [_nan(v) for v in (g[lb].get("victimisation_coverage_ci") or [None, None])]
                    for lb in labels
                ]
            ).reshape(len(labels), 2)
            err = np.vstack([np.clip(cov - ci[:, 0], 0, None), np.clip(ci[:, 1] - cov, 0, None)])
            err = np.nan_to_num(err)
            ax.bar(x, np.nan_to_num(cov), color=_PALETTE[2], yerr=err, capsize=3)
            ax.set_xticks(x, labels)
            ax.set_title(attr)
            ax.set_ylabel("share of victimisation in flagged cells")
        return _png(fig)


def _chart_calibration(strata: Mapping[str, Any], band: tuple[float, float]) -> str:
    specs = [s for s in strata if strata[s].get("strata")]
    if not specs:
        return _empty_chart("No strata were configured.")
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(3.4 * len(specs) + 0.6, 3.2), layout="constrained")
        axes = fig.subplots(1, len(specs), squeeze=False)[0]
        for ax, spec in zip(axes, specs, strict=True):
            st = strata[spec]["strata"]
            labels = list(st)
            x = np.arange(len(labels))
            oe = np.array([_nan(st[lb].get("observed_expected")) for lb in labels])
            ci = np.array(
                [
                    [_nan(v) for v in (st[lb].get("observed_expected_ci") or [None, None])]
                    for lb in labels
                ]
            ).reshape(len(labels), 2)
            err = np.nan_to_num(
                np.vstack([np.clip(oe - ci[:, 0], 0, None), np.clip(ci[:, 1] - oe, 0, None)])
            )
            ax.axhspan(band[0], band[1], color="#dff0d8", label="band")
            ax.axhline(1.0, color="#888888", linewidth=0.8)
            ax.errorbar(x, oe, yerr=err, fmt="o", color=_PALETTE[0], capsize=3)
            ax.set_xticks(x, labels)
            ax.set_title(f"{spec} (Q1 = lowest)")
            ax.set_ylabel("observed / expected")
        return _png(fig)


def _chart_map(cell_map: pd.DataFrame | None, *, period: Period = "week") -> str:
    if cell_map is None or len(cell_map) == 0:
        return _empty_chart("No cell map was supplied.")
    for col in ("lon", "lat", "flag_share"):
        if col not in cell_map.columns:
            raise ValueError(
                f"cell_map must have columns lon, lat, flag_share. Got {list(cell_map.columns)}."
            )
    lon = cell_map["lon"].to_numpy(dtype=float)
    lat = cell_map["lat"].to_numpy(dtype=float)
    share = cell_map["flag_share"].to_numpy(dtype=float)
    flagged = share > 0
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(6.0, 5.0), layout="constrained")
        ax = fig.add_subplot()
        ax.scatter(lon[~flagged], lat[~flagged], s=2, color="#d9d9d9", linewidths=0)
        points = ax.scatter(
            lon[flagged],
            lat[flagged],
            s=4,
            c=share[flagged],
            cmap="viridis",
            vmin=0,
            vmax=1,
            linewidths=0,
        )
        label = f"share of backtest {period_words(period).plural} flagged"
        fig.colorbar(points, ax=ax, label=label)
        ax.set_aspect(1.0 / max(math.cos(math.radians(float(np.nanmean(lat)))), 0.1))
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        return _png(fig)


def _nan(x: Any) -> float:
    return float(x) if _is_num(x) else math.nan


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fmt=_fmt,
        pct=_pct,
        whole=_count,
        interval=_interval,
        md=_md,
        status_class=lambda s: _STATUS_CLASS.get(str(s), "status-insufficient"),
        crime=lambda t: DISPLAY_NAMES.get(t, t),
    )
    return env


def _common(audit: Mapping[str, Any], metrics: Mapping[str, Any], context: ReportContext) -> dict:
    for key in ("publishable", "coverage", "gates", "groups", "strata", "blocking_gates"):
        if key not in audit:
            raise ValueError(
                f"audit must be AuditResult.to_dict() output with key {key!r}. "
                f"Got keys {sorted(audit)}."
            )
    excluded = [t for t in POLICE_ACTIVITY_TYPES if t not in context.target_types]
    included_pa = {
        t: context.police_activity_reasons.get(t, "")
        for t in context.target_types
        if t in POLICE_ACTIVITY_TYPES
    }
    words = period_words(context.period)
    return {
        "audit": audit,
        "ctx": context,
        # the period's words: one "week", many "weeks", adj "weekly", long "ISO week"
        "p": {
            "one": words.singular,
            "many": words.plural,
            "adj": words.adjective,
            "long": "ISO week" if context.period == "week" else "calendar month",
        },
        "gates": audit["gates"],
        "coverage": float(audit["coverage"]),
        "performance": performance_rows(metrics, coverage=float(audit["coverage"])),
        "headline_lift": _lift(metrics.get(f"lift_pai_at_{_coverage_suffix(audit['coverage'])}")),
        "excluded_police_activity": excluded,
        "included_police_activity": included_pa,
        "feedback_loop_caveat": FEEDBACK_LOOP_CAVEAT,
        "ecological_caveat": ECOLOGICAL_CAVEAT,
        "model_params": sorted(context.model_params.items()),
    }


def coverage_sensitivity_rows(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of the coverage table: one per (coverage, ranking), each gate's status and value.

    Empty when ``audit`` has no ``coverage_sensitivity`` (see ``pipelines.audit``). The row at
    the operational coverage is marked ``operational``.
    """
    table = audit.get("coverage_sensitivity")
    if not table:
        return []
    rows = []
    for coverage in table["coverages"]:
        label = coverage_label(coverage)
        for ranking, by_coverage in table["rankings"].items():
            gates = by_coverage[label]
            rows.append(
                {
                    "coverage": float(coverage),
                    "ranking": ranking,
                    "operational": math.isclose(coverage, float(audit["coverage"])),
                    "gates": [gates[gid] for gid in table["gates"]],
                }
            )
    return rows


def render_bias_report(
    audit: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any],
    data_quality: Mapping[str, Any],
    context: ReportContext,
    cell_map: pd.DataFrame | None = None,
    calibration_band: tuple[float, float] = (0.9, 1.1),
) -> str:
    """The bias report as one self-contained HTML page an ethics board reads without code.

    Parameters
    ----------
    audit : dict
        :meth:`models.audit.AuditResult.to_dict` output.
    metrics : dict
        The evaluate stage's metrics (see the module docstring for the layout it reads).
    data_quality : dict
        The ingest stage's data-quality summary (counts by reason and source file); any nesting
        of mappings and lists of records is shown as tables.
    context : ReportContext
        Model version, run id, date, study area, target and data descriptions.
    cell_map : DataFrame, optional
        Cell centroids ``lon``, ``lat`` and ``flag_share`` (share of backtest periods flagged) for
        the map. Without it the map section says that no map was supplied.
    calibration_band : (float, float)
        The G6 band to shade on the calibration chart.

    Returns
    -------
    str
        HTML with inline CSS and base64 PNG charts; no external references.
    """
    data = _common(audit, metrics, context)
    data.update(
        data_quality_tables=_data_quality_tables(data_quality),
        charts={
            "exposure": _chart_exposure(audit["groups"]),
            "coverage": _chart_coverage(audit["groups"]),
            "calibration": _chart_calibration(audit["strata"], calibration_band),
            "map": _chart_map(cell_map, period=context.period),
        },
        has_map=cell_map is not None and len(cell_map) > 0,
        sensitivity_rows=coverage_sensitivity_rows(audit),
        required_sections=REQUIRED_REPORT_SECTIONS,
    )
    html = _environment().get_template("bias_report.html").render(**data)
    logger.info("Rendered bias report: %d characters.", len(html))
    return html


def render_model_card(
    audit: Mapping[str, Any],
    *,
    metrics: Mapping[str, Any],
    context: ReportContext,
) -> str:
    """The model card (Mitchell et al. 2019) as markdown, with the audit's figures by group."""
    data = _common(audit, metrics, context)
    text = _environment().get_template("model_card.md").render(**data)
    logger.info("Rendered model card: %d characters.", len(text))
    return text
