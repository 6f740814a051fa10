"""The drift figure of the feedback stage: does the forecast feed on itself, week by week?

One panel per scenario (the configured one first): each week of the loop on the x axis, each
group's drift (its share of flags over its share of true harm, closed loop over open loop) on a
log scale, so that 1.25 and 0.8 lie equally far from 1. The audit's resident groups are solid
lines labelled in words; the district that drifts furthest by the end of the run is a dashed line;
the amplification band is shaded and 1 is a thin line. In the configured scenario each line
carries a light band: its 95% interval over seeds.

Drawn as ``models.plots`` draws: matplotlib's object API on an Agg canvas (no pyplot, no global
state), a fixed size and dpi, saved without the ``Software`` metadata entry and written to a
temporary name that is renamed over the target, so the same report gives byte-identical files.
"""

from __future__ import annotations

import logging
import math
import textwrap
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, NullLocator

from beatwise.artefacts.feedback import FeedbackReport, GroupDrift, ScenarioResult, WeeklySeries
from beatwise.io import atomic_path

logger = logging.getLogger(__name__)

DPI: Final[int] = 100
#: one panel's size in inches; panels sit two to a row
PANEL_IN: Final[tuple[float, float]] = (8.0, 5.6)
#: colours of the resident groups' lines, in the report's order (colour-blind safe, Okabe-Ito)
_GROUP_COLOURS: Final[tuple[str, ...]] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
_DISTRICT_COLOUR: Final[str] = "#C0392B"
_BAND_COLOUR: Final[str] = "#D9EAD3"
#: the drift values the y axis may label (log scale)
_TICKS: Final[tuple[float, ...]] = (
    0.1,
    0.2,
    0.25,
    0.33,
    0.5,
    0.67,
    0.8,
    1.0,
    1.25,
    1.5,
    2,
    3,
    4,
    5,
)
_TITLE_CHARS: Final[int] = 110
_TITLE_WIDTH: Final[int] = 58


def _series(values: list[float | None]) -> np.ndarray:
    """Weekly values as floats; a missing or non-positive value is a gap (NaN) on a log axis."""
    arr = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    arr[~(np.isfinite(arr) & (arr > 0))] = math.nan
    return arr


def _final_log_drift(g: GroupDrift) -> float:
    """How far a group's drift ends from 1 (log scale); -1 when it never had one."""
    v = g.drift.value
    if v is None or not (math.isfinite(v) and v > 0):
        weekly = _series(g.drift_weekly.mean)
        ok = weekly[np.isfinite(weekly)]
        if ok.size == 0:
            return -1.0
        v = float(ok[-1])
    return abs(math.log(v))


def _largest_district(scenario: ScenarioResult) -> GroupDrift | None:
    """The district furthest from 1 among those judged (one too small to judge would fill the
    panel with its interval); among the others only when none was judged."""
    districts = [g for g in scenario.groups if g.kind == "district"]
    judged = [g for g in districts if g.status != "INSUFFICIENT DATA"]
    districts = judged or districts
    scored = [(g, _final_log_drift(g)) for g in districts]
    scored = [(g, d) for g, d in scored if d >= 0]
    if not scored:
        return None
    # the largest drift; ties by key, so the same report draws the same district
    return min(scored, key=lambda gd: (-gd[1], gd[0].key))[0]


def _district_label(g: GroupDrift) -> str:
    name = g.label
    if name.lower().startswith("district "):
        name = name[len("district ") :]
    return f"district {name} (largest drift)"


def _title(scenario: ScenarioResult) -> str:
    words = textwrap.shorten(scenario.label, width=_TITLE_CHARS, placeholder=" …")
    head = "Configured: " if scenario.configured else ""
    return textwrap.fill(head + words, width=_TITLE_WIDTH)


def _line(
    ax: Axes,
    series: WeeklySeries,
    *,
    label: str,
    colour: str,
    dashed: bool,
    interval: bool,
) -> np.ndarray:
    """One group's weekly drift, with its interval as a light band; returns the values drawn."""
    mean = _series(series.mean)
    weeks = np.arange(1, mean.size + 1)
    drawn = [mean]
    if interval:
        low, high = _series(series.low), _series(series.high)
        if low.size == mean.size and high.size == mean.size:
            ax.fill_between(weeks, low, high, color=colour, alpha=0.12, linewidth=0)
            drawn += [low, high]
    ax.plot(
        weeks,
        mean,
        color=colour,
        linewidth=2.0 if dashed else 1.6,
        linestyle="--" if dashed else "-",
        label=label,
    )
    return np.concatenate(drawn)


def _panel(
    ax: Axes, scenario: ScenarioResult, *, band: tuple[float, float], weeks: int
) -> np.ndarray:
    """Draw one scenario; return every value drawn (for the shared y axis)."""
    low, high = band
    ax.axhspan(
        low, high, color=_BAND_COLOUR, zorder=0, label=f"amplification band {low:g}–{high:g}"
    )
    ax.axhline(1.0, color="#555555", linewidth=0.7, zorder=1)
    values = [np.array([low, high, 1.0])]
    residents = [g for g in scenario.groups if g.kind == "resident group"]
    for i, g in enumerate(residents):
        values.append(
            _line(
                ax,
                g.drift_weekly,
                label=g.label,
                colour=_GROUP_COLOURS[i % len(_GROUP_COLOURS)],
                dashed=False,
                interval=scenario.configured,
            )
        )
    district = _largest_district(scenario)
    if district is not None:
        values.append(
            _line(
                ax,
                district.drift_weekly,
                label=_district_label(district),
                colour=_DISTRICT_COLOUR,
                dashed=True,
                interval=scenario.configured,
            )
        )
    every = np.concatenate(values)
    every = every[np.isfinite(every)]
    if every.size == 3:  # only the band and 1: no group had a drift to draw
        ax.text(0.5, 0.5, "no group had a defined drift", transform=ax.transAxes, ha="center")
    ax.set_xlim(1, max(weeks, 2))
    ax.set_xlabel("week of the loop")
    ax.set_ylabel("drift: share of flags for its harm,\nclosed loop over open loop")
    ax.set_title(_title(scenario), fontsize=9, loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize=7, frameon=False)
    return every


def _log_axis(ax: Axes, bottom: float, top: float) -> None:
    """A log y axis from ``bottom`` to ``top``, labelled with plain drift values."""
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    ticks = [t for t in _TICKS if bottom <= t <= top]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def drift_figure(report: FeedbackReport, path: Path) -> None:
    """Write the drift figure of ``report`` as a PNG at ``path`` (atomically; folders created).

    Parameters
    ----------
    report : FeedbackReport
        The feedback stage's findings: every scenario's weekly drift by group, the band.
    path : Path
        Output PNG. The same report gives the same bytes. A scenario without any defined drift
        gets an empty panel that says so.
    """
    scenarios = sorted(report.scenarios, key=lambda s: not s.configured)  # stable: configured first
    n = len(scenarios)
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    fig = Figure(
        figsize=(PANEL_IN[0] * ncols, PANEL_IN[1] * nrows + 0.6), dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    drawn = np.concatenate(
        [
            _panel(ax, scenario, band=report.band, weeks=report.weeks)
            for ax, scenario in zip(axes, scenarios, strict=False)
        ]
    )
    # one scale for every panel, so that the scenarios compare at a glance
    for ax in axes[:n]:
        _log_axis(ax, float(drawn.min()) / 1.15, float(drawn.max()) * 1.15)
    for ax in axes[n:]:
        ax.set_visible(False)
    seeds = len(report.seeds)
    fig.suptitle(
        "Does the forecast feed on itself?\nEach group's share of the flags for its share of the "
        "true harm, when patrol follows the flags,\nover the same when it does not "
        f"({report.weeks} weeks, {seeds} seed{'s' if seeds != 1 else ''})",
        fontsize=10,
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
