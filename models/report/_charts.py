"""The bias report's charts, as base64 PNGs that are the same bytes for the same figures.

Charts are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global state) and
saved without the ``Software`` metadata entry. Figures by group or stratum share one layout (one
panel per attribute or stratum spec, :func:`_panels`), and the two with a 95% interval share one
helper, :func:`interval_chart` (dots with the gate's band shaded: calibration). The group charts
set the model's figure (bars with 95% intervals) beside the reference allocation's.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from beatwise.artefacts.audit import (
    AttributeFigures,
    BoardAllocation,
    BoardGroup,
    GroupFigures,
    Interval,
    StrataFigures,
)
from beatwise.period import Period, period_words
from models.report._format import nan

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


@contextmanager
def _panels(n: int) -> Iterator[tuple[Figure, Sequence[Axes]]]:
    """A row of ``n`` panels, one per attribute or stratum spec, in the report's style."""
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(3.4 * n + 0.6, 3.2), layout="constrained")
        yield fig, fig.subplots(1, n, squeeze=False)[0]


@dataclass(frozen=True)
class IntervalPanel:
    """One panel of an interval chart: a value and its 95% interval per label."""

    title: str
    labels: list[str]
    values: list[float | None]
    intervals: list[Interval]


def interval_chart(
    panels: Sequence[IntervalPanel],
    *,
    style: Literal["bar", "dot"],
    ylabel: str,
    band: tuple[float, float] | None = None,
) -> str:
    """Values with 95% intervals as error bars, one panel each: bars, or dots over a shaded band.

    ``band`` (dots only) is shaded with a reference line at 1 (a ratio's parity).
    """
    with _panels(len(panels)) as (fig, axes):
        for ax, panel in zip(axes, panels, strict=True):
            x = np.arange(len(panel.labels))
            values = np.array([nan(v) for v in panel.values])
            ci = np.array([[nan(v) for v in pair] for pair in panel.intervals]).reshape(
                len(panel.labels), 2
            )
            err = np.nan_to_num(
                np.vstack(
                    [np.clip(values - ci[:, 0], 0, None), np.clip(ci[:, 1] - values, 0, None)]
                )
            )
            if style == "bar":
                ax.bar(x, np.nan_to_num(values), color=_PALETTE[2], yerr=err, capsize=3)
            else:
                if band is not None:
                    ax.axhspan(band[0], band[1], color="#dff0d8", label="band")
                    ax.axhline(1.0, color="#888888", linewidth=0.8)
                ax.errorbar(x, values, yerr=err, fmt="o", color=_PALETTE[0], capsize=3)
            ax.set_xticks(x, panel.labels)
            ax.set_title(panel.title)
            ax.set_ylabel(ylabel)
        return _png(fig)


def _paired_bars(
    groups: dict[str, AttributeFigures],
    reference: BoardAllocation | None,
    *,
    model_value: Callable[[GroupFigures], tuple[float | None, Interval]],
    reference_value: Callable[[BoardGroup], float | None],
    colour: str,
    ylabel: str,
    parity: bool,
) -> str:
    """For each attribute, the model's figure by group (bars with 95% intervals) beside the
    reference allocation's (grey bars); ``parity`` draws the line at 1 (a ratio's parity)."""
    attrs = [a for a in groups if groups[a].groups]
    if not attrs:
        return _empty_chart("No audit groups were configured.")
    with _panels(len(attrs)) as (fig, axes):
        for ax, attr in zip(axes, attrs, strict=True):
            g = groups[attr].groups
            keys = list(g)
            x = np.arange(len(keys))
            figures = [model_value(g[k]) for k in keys]
            values = np.array([nan(v) for v, _ in figures])
            ci = np.array([[nan(lo), nan(hi)] for _, (lo, hi) in figures]).reshape(len(keys), 2)
            err = np.nan_to_num(
                np.vstack(
                    [np.clip(values - ci[:, 0], 0, None), np.clip(ci[:, 1] - values, 0, None)]
                )
            )
            ref_groups = reference.groups.get(attr, {}) if reference is not None else {}
            ref = [
                nan(reference_value(ref_groups[k])) if k in ref_groups else math.nan for k in keys
            ]
            ax.bar(
                x - 0.2,
                np.nan_to_num(ref),
                width=0.4,
                color="#bbbbbb",
                label=f"{reference.label} (reference)" if reference is not None else "reference",
            )
            ax.bar(
                x + 0.2,
                np.nan_to_num(values),
                width=0.4,
                color=colour,
                yerr=err,
                capsize=3,
                label="this model",
            )
            if parity:
                ax.axhline(1.0, color="#555555", linewidth=0.8)
            ax.set_xticks(x, keys)
            ax.set_title(attr)
            ax.set_ylabel(ylabel)
        fig.legend(
            *axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False
        )
        return _png(fig)


def chart_exposure(
    groups: dict[str, AttributeFigures], reference: BoardAllocation | None = None
) -> str:
    """Each group's exposure relative to all residents: the model's with its 95% interval, and
    the reference allocation's beside it, per attribute."""
    return _paired_bars(
        groups,
        reference,
        model_value=lambda g: (g.exposure_ratio.value, g.exposure_ratio.ci),
        reference_value=lambda g: g.exposure_ratio,
        colour=_PALETTE[0],
        ylabel="exposure relative to all residents",
        parity=True,
    )


def chart_coverage(
    groups: dict[str, AttributeFigures], reference: BoardAllocation | None = None
) -> str:
    """Discovery: the share of each group's recorded victimisation in flagged cells, the
    model's with its 95% interval and the reference allocation's beside it."""
    return _paired_bars(
        groups,
        reference,
        model_value=lambda g: (g.discovery, g.discovery_ci),
        reference_value=lambda g: g.discovery,
        colour=_PALETTE[2],
        ylabel="share of victimisation in flagged cells",
        parity=False,
    )


def chart_calibration(strata: dict[str, StrataFigures], band: tuple[float, float]) -> str:
    """Observed over expected counts by stratum, with 95% intervals and gate G6's band."""
    specs = [s for s in strata if strata[s].strata]
    if not specs:
        return _empty_chart("No strata were configured.")
    panels = []
    for spec in specs:
        # a stratum too small to judge (the few cells without residents, as a rule) is left out:
        # its wide interval would squash the others; the report's tables give its figures
        judged = {k: s for k, s in strata[spec].strata.items() if not s.insufficient_reason}
        panels.append(
            IntervalPanel(
                title=f"{spec} (Q1 = lowest)",
                labels=list(judged),
                values=[s.observed_expected for s in judged.values()],
                intervals=[s.observed_expected_ci for s in judged.values()],
            )
        )
    return interval_chart(panels, style="dot", ylabel="observed / expected", band=band)


def flag_share_map(cells: pd.DataFrame, flagged: np.ndarray) -> pd.DataFrame:
    """The map's input: each cell's centroid and the share of backtest periods it was flagged."""
    return pd.DataFrame(
        {"lon": cells["lon"], "lat": cells["lat"], "flag_share": flagged.mean(axis=0)}
    )


def chart_map(cell_map: pd.DataFrame | None, *, period: Period = "week") -> str:
    """Cell centres; flagged cells coloured by the share of backtest periods they were flagged."""
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
