"""How recent forecasts did, drawn: an inline SVG line, its legend, a table and a sentence.

One HTML fragment (:func:`track_record_html`) that the bias report and the forecast map both
embed: no script, no library, nothing fetched, and the same bytes for the same record. The line
is the hit rate per period (:mod:`models.track_record`): the scored publications as black
squares on a dashed line, the backtest as blue dots on a solid line, the best baseline as a grey
dotted line. Each point's tooltip (its SVG ``<title>``) gives the period, the hit rate, PAI and
the events recorded; each point also carries them as ``data-`` attributes, for tests and tools.
The table under the line repeats every figure for print and screen readers.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.period import period_words
from models.baselines import baseline_label
from models.track_record import TrackRecord

#: the drawing's size in SVG units, and its margins (left: the axis's labels; bottom: the dates)
WIDTH: Final[float] = 360.0
HEIGHT: Final[float] = 150.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 34.0, 10.0, 8.0, 20.0
#: how each series is drawn: stroke colour, dash pattern ("" for solid), line width
STYLES: Final[dict[str, tuple[str, str, float]]] = {
    "published": ("#1a1a1a", "5 3", 1.6),
    "backtest": ("#4c72b0", "", 1.6),
    "baseline": ("#8a8a8a", "1.5 2.5", 1.4),
}
_STEPS: Final[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.25, 0.5)


def series_names(record: TrackRecord) -> dict[str, str]:
    """Each series' name in the legend, in words."""
    words = period_words(record.period)
    return {
        "published": f"published forecasts, scored after the {words.singular}",
        "backtest": f"backtest: the model's forecast of past {words.plural}",
        "baseline": f"best baseline: {baseline_label(record.best_baseline)}",
    }


def _pct(value: float) -> str:
    return "no crime recorded" if not math.isfinite(value) else f"{value * 100:.1f}%"


def _pai(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.2f}"


def _day(day: dt.date, *, monthly: bool) -> str:
    return f"{day:%b %Y}" if monthly else f"{day.day} {day:%b %Y}"


def _weeks(record: TrackRecord) -> pd.DataFrame:
    """One row per period of either series, oldest first: each series' figures, and the best
    baseline's (the backtest's where it holds the period, else the history's)."""
    keys = ["period_start"]
    figures = ["hit_rate", "pai", "events"]
    bt = record.backtest[keys + figures + ["reference_hit_rate", "reference_pai"]]
    pub = record.published[keys + figures + ["reference_hit_rate", "reference_pai", "folder"]]
    table = bt.merge(pub, on="period_start", how="outer", suffixes=("_bt", "_pub"))
    table = table.sort_values("period_start").reset_index(drop=True)
    for name in ("hit_rate", "pai"):
        table[f"base_{name}"] = table[f"reference_{name}_bt"].fillna(table[f"reference_{name}_pub"])
    table["base_events"] = table["events_bt"].fillna(table["events_pub"])
    return table


def _scale(values: npt.NDArray[np.float64]) -> float:
    """The axis's top: the smallest multiple of a round step above every value (1 with none)."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    step = next((s for s in _STEPS if top <= 5 * s), 1.0)
    return min(max(step * math.ceil(top / step + 1e-9), step), 1.0)


class _Axes:
    """Dates and shares to SVG units."""

    def __init__(self, days: Sequence[dt.date], top: float) -> None:
        ordinals = np.array([d.toordinal() for d in days], dtype=np.float64)
        self.first = float(ordinals.min())
        self.span = max(float(ordinals.max()) - self.first, 1.0)
        self.single = len(days) == 1
        self.top = top

    def x(self, days: Sequence[dt.date]) -> np.ndarray:
        ordinals = np.array([d.toordinal() for d in days], dtype=np.float64)
        if self.single:
            return np.full(ordinals.shape, (_LEFT + WIDTH - _RIGHT) / 2)
        return _LEFT + (ordinals - self.first) / self.span * (WIDTH - _LEFT - _RIGHT)

    def y(self, values: np.ndarray) -> np.ndarray:
        return HEIGHT - _BOTTOM - values / self.top * (HEIGHT - _TOP - _BOTTOM)


def _path(x: np.ndarray, y: np.ndarray, style: tuple[str, str, float]) -> str:
    """A line through the finite points, broken where a period has no figure."""
    colour, dash, width = style
    ok = np.isfinite(y)
    if not ok.any():
        return ""
    starts = ok & ~np.r_[False, ok[:-1]]
    tokens = [
        f"{'M' if s else 'L'}{xi:.1f},{yi:.1f}"
        for xi, yi, s in zip(x[ok], y[ok], starts[ok], strict=True)
    ]
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<path d="{"".join(tokens)}" fill="none" stroke="{colour}" stroke-width="{width:g}"'
        f'{dashed} stroke-linejoin="round"/>'
    )


def _points(
    series: str,
    days: Sequence[dt.date],
    x: np.ndarray,
    y: np.ndarray,
    figures: pd.DataFrame,
    *,
    label: str,
    monthly: bool,
) -> str:
    """The series' markers, each with its tooltip and its figures as data attributes."""
    colour = STYLES[series][0]
    out = []
    for i, day in enumerate(days):
        hr, p, events = (float(figures[c].iloc[i]) for c in ("hit_rate", "pai", "events"))
        if not math.isfinite(hr):
            continue
        tip = html.escape(
            f"{label}, {_day(day, monthly=monthly)}: {_pct(hr)} of {events:,.0f} recorded "
            f"crimes in the flagged area (PAI {_pai(p)})"
        )
        data = (
            f'data-series="{series}" data-period="{day.isoformat()}" data-hit-rate="{hr:.6f}" '
            f'data-pai="{p:.6f}"'
        )
        if series == "published":
            tag, at = "rect", f'x="{x[i] - 3:.1f}" y="{y[i] - 3:.1f}" width="6" height="6"'
        else:
            radius = 2.6 if series == "backtest" else 1.8
            tag, at = "circle", f'cx="{x[i]:.1f}" cy="{y[i]:.1f}" r="{radius:g}"'
        out.append(f'<{tag} {at} fill="{colour}" {data}><title>{tip}</title></{tag}>')
    return "".join(out)


def track_record_svg(record: TrackRecord) -> str:
    """The line: the hit rate of each series and of the best baseline, over the periods shown."""
    weeks = _weeks(record)
    if weeks.empty:
        return '<p class="track-empty">No backtest and no scored forecast to draw.</p>'
    monthly = record.period == "month"
    names = series_names(record)
    days = list(weeks["period_start"])
    values = weeks[["hit_rate_bt", "hit_rate_pub", "base_hit_rate"]].to_numpy(dtype=np.float64)
    axes = _Axes(days, _scale(values.ravel()))
    x = axes.x(days)
    step = next((s for s in _STEPS if axes.top <= 5 * s), 0.2)
    ticks = np.arange(0.0, axes.top + 1e-9, step)
    grid = "".join(
        f'<line x1="{_LEFT:g}" x2="{WIDTH - _RIGHT:g}" y1="{yy:.1f}" y2="{yy:.1f}" '
        f'stroke="#e2e2e2"/><text x="{_LEFT - 4:g}" y="{yy + 3:.1f}" text-anchor="end">'
        f"{t * 100:.0f}%</text>"
        for t, yy in zip(ticks, axes.y(ticks), strict=True)
    )
    shown = [0, len(days) - 1] if len(days) > 1 else [0]
    anchors = ["start", "end"] if len(days) > 1 else ["middle"]
    dates = "".join(
        f'<text x="{x[i]:.1f}" y="{HEIGHT - 6:g}" text-anchor="{a}">'
        f"{_day(days[i], monthly=monthly)}</text>"
        for i, a in zip(shown, anchors, strict=True)
    )
    layers = []
    for series, suffix, label in (
        ("baseline", "base_", "B" + names["baseline"][1:]),
        ("backtest", "_bt", "Backtest"),
        ("published", "_pub", "Published forecast"),
    ):
        cols = (
            {"hit_rate": "base_hit_rate", "pai": "base_pai", "events": "base_events"}
            if series == "baseline"
            else {c: f"{c}{suffix}" for c in ("hit_rate", "pai", "events")}
        )
        figures = weeks[list(cols.values())].set_axis(list(cols), axis=1)
        y = axes.y(figures["hit_rate"].to_numpy(dtype=np.float64))
        layers.append(_path(x, y, STYLES[series]))
        layers.append(_points(series, days, x, y, figures, label=label, monthly=monthly))
    words = period_words(record.period)
    summary = (
        f"Line chart: share of recorded crime in the flagged area, {words.singular} by "
        f"{words.singular}, for {names['published']}, the {names['backtest']} and the "
        f"{names['baseline']}."
    )
    return (
        f'<svg class="track" viewBox="0 0 {WIDTH:g} {HEIGHT:g}" role="img" '
        f'aria-label="{html.escape(summary)}" font-size="10" fill="#333" '
        'font-family="system-ui, sans-serif">'
        f'<g class="grid">{grid}</g><g class="dates">{dates}</g>'
        f'<g class="series">{"".join(layers)}</g></svg>'
    )


def _swatch(series: str) -> str:
    colour, dash, width = STYLES[series]
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    marker = {
        "published": f'<rect x="11" y="3" width="6" height="6" fill="{colour}"/>',
        "backtest": f'<circle cx="14" cy="6" r="2.6" fill="{colour}"/>',
        "baseline": f'<circle cx="14" cy="6" r="1.8" fill="{colour}"/>',
    }[series]
    return (
        f'<svg width="28" height="12" viewBox="0 0 28 12" aria-hidden="true">'
        f'<path d="M1,6L27,6" stroke="{colour}" stroke-width="{width:g}"{dashed}/>{marker}</svg>'
    )


def _pooled(hit_rates: pd.Series, events: pd.Series) -> float:
    """The share of all the periods' recorded crime caught: Σ hit rate × events / Σ events."""
    ok = hit_rates.notna() & (events > 0)
    total = float(events[ok].sum())
    return float((hit_rates[ok] * events[ok]).sum() / total) if total else math.nan


def track_record_sentence(record: TrackRecord) -> str:
    """The record in one plain-English sentence: what the flagged area held, pooled over each
    series' periods, against the best baseline."""
    words = period_words(record.period)
    monthly = record.period == "month"
    share = f"{record.coverage * 100:g}%"
    bt, pub = record.backtest, record.published
    text = ""
    if len(bt):
        span = (
            f"{_day(bt['period_start'].iloc[0], monthly=monthly)} to "
            f"{_day(bt['period_start'].iloc[-1], monthly=monthly)}"
        )
        text = (
            f"Over the backtest's last {len(bt)} {words.plural} ({span}), the flagged {share} of "
            f"the area held {_pct(_pooled(bt['hit_rate'], bt['events']))} of the recorded crime, "
            f"against {_pct(_pooled(bt['reference_hit_rate'], bt['events']))} for the best "
            f"baseline ({baseline_label(record.best_baseline)})"
        )
    if len(pub):
        held = _pct(_pooled(pub["hit_rate"], pub["events"]))
        base = _pct(_pooled(pub["reference_hit_rate"], pub["events"]))
        which = (
            f"the one published forecast scored after its {words.singular}"
            if len(pub) == 1
            else f"the last {len(pub)} published forecasts scored after their {words.plural}"
        )
        scored = f"{which} held {held} (the best baseline, {base})"
    else:
        scored = (
            f"no published forecast has been scored yet (each is, once its {words.singular} "
            "has ended and its crimes are recorded)"
        )
    if not text:
        return f"There is no backtest to show; {scored}."
    extra = (
        f" {record.other_periods} scored forecast(s) of another period length are not shown."
        if record.other_periods
        else ""
    )
    return f"{text}; {scored}.{extra}"


def track_record_table(record: TrackRecord) -> str:
    """Every figure of the line, one row per period, for print and screen readers."""
    weeks = _weeks(record)
    words = period_words(record.period)
    monthly = record.period == "month"

    def cell(hr: float, p: float) -> str:
        return "–" if not math.isfinite(hr) else f"{_pct(hr)}, {_pai(p)}"

    rows = []
    for r in weeks.itertuples(index=False):
        # a publication's folder is its period's start unless the period was published again
        again = isinstance(r.folder, str) and r.folder != r.period_start.isoformat()
        folder = f" ({html.escape(str(r.folder))})" if again else ""
        rows.append(
            f"<tr><td>{_day(r.period_start, monthly=monthly)}{folder}</td>"
            f'<td class="num">{cell(r.hit_rate_pub, r.pai_pub)}</td>'
            f'<td class="num">{cell(r.hit_rate_bt, r.pai_bt)}</td>'
            f'<td class="num">{cell(r.base_hit_rate, r.base_pai)}</td></tr>'
        )
    return (
        f'<table class="track-table"><caption>Hit rate and PAI, {words.singular} by '
        f"{words.singular}</caption><thead><tr><th>{words.singular.capitalize()} starting</th>"
        "<th>Published</th><th>Backtest</th><th>Best baseline</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def track_record_html(record: TrackRecord) -> str:
    """The fragment the bias report and the map embed: the legend in words over the line, what
    it measures and the sentence, and the table (three blocks, side by side when printed)."""
    names = series_names(record)
    empty = " (none scored yet)" if record.published.empty else ""
    legend = "".join(
        f"<li>{_swatch(s)} {html.escape(names[s])}{empty if s == 'published' else ''}</li>"
        for s in ("published", "backtest", "baseline")
    )
    share = f"{record.coverage * 100:g}%"
    return (
        '<div class="track-record">'
        f'<div class="track-chart"><ul class="track-legend">{legend}</ul>'
        f"{track_record_svg(record)}</div>"
        f'<div class="track-words"><p class="track-what">The line: the share of the recorded '
        f"crime that happened in the flagged {share} of the area (hit rate). PAI is the hit rate "
        "over the share of the area flagged (1 is no better than chance).</p>"
        f'<p class="track-sentence">{html.escape(track_record_sentence(record))}</p></div>'
        f'<div class="track-figures">{track_record_table(record)}</div></div>'
    )
