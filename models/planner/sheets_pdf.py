"""``district_sheets.pdf``: the district sheets as one A4 page each, after an index page.

matplotlib draws each page (the shapes of :func:`models.planner.districts.district_drawing`, the
HTML sheets' picture, with y flipped) and its PDF backend writes them. The file is the same bytes
for the same forecast: no creation date, matplotlib's default style whatever the local
``matplotlibrc`` says, and its bundled DejaVu Sans embedded as TrueType.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import matplotlib as mpl
import matplotlib.style
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from models.planner._svg import FLAGGED_COLOUR, MAP_WIDTH, label_anchors, scale_bar_km
from models.planner.districts import (
    SHARES_EXPLAINED,
    DistrictDrawing,
    DistrictFigures,
    Wording,
    flagged_key_in_words,
    no_flags_in_words,
    rank_font_units,
    share_sentence,
)

#: A4 portrait, inches
A4: Final[tuple[float, float]] = (8.27, 11.69)
#: the PDF's metadata: fixed words, and no dates (they would change the bytes on every run)
PDF_METADATA: Final[dict[str, str | None]] = {
    "Title": "District sheets",
    "Creator": "Beatwise",
    "Producer": "Beatwise (matplotlib)",
    "CreationDate": None,
    "ModDate": None,
}
#: rows of a page's ranked table per column, and its columns
ROWS_PER_BLOCK: Final[int] = 30
BLOCKS: Final[int] = 2
#: where the map sits on a district's page (left, bottom, width, height: shares of the page)
_MAP_BOX: Final[tuple[float, float, float, float]] = (0.04, 0.44, 0.60, 0.49)
#: SVG's text-anchor as matplotlib's horizontal alignment
_HA: Final[dict[str, str]] = {"start": "left", "middle": "center", "end": "right"}
_FAINT, _LINE, _AREA, _NEIGHBOUR = "#e6e6e6", "#333333", "#9a9a9a", "#aaaaaa"


@contextmanager
def _quiet_font_subsetting() -> Iterator[None]:
    """fontTools logs every step of subsetting the embedded font at INFO (hundreds of lines in
    the stage's log): its warnings only, for the block."""
    fonttools = logging.getLogger("fontTools")
    before = fonttools.level
    fonttools.setLevel(max(before, logging.WARNING))
    try:
        yield
    finally:
        fonttools.setLevel(before)


def district_sheets_pdf(
    figures: DistrictFigures,
    cells: list[pd.DataFrame],
    drawings: list[DistrictDrawing | None],
    wording: Wording,
) -> bytes:
    """The PDF: the index page, then one page per district (rows of ``figures.summary``)."""
    buffer = io.BytesIO()
    with (
        _quiet_font_subsetting(),
        matplotlib.style.context("default"),
        # matplotlib's defaults, text embedded as TrueType (selectable and searchable)
        mpl.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans", "font.size": 8}),
        PdfPages(buffer, metadata=PDF_METADATA) as pdf,
    ):
        pdf.savefig(_index_page(figures, wording))
        for (_, row), rows, drawing in zip(
            figures.summary.iterrows(), cells, drawings, strict=True
        ):  # one page per district: a few dozen
            pdf.savefig(_district_page(row, rows, drawing, figures, wording))
    return buffer.getvalue()


def _index_page(figures: DistrictFigures, wording: Wording) -> Figure:
    fig = Figure(figsize=A4)
    fig.text(0.05, 0.965, "District sheets", fontsize=16, weight="bold", va="top")
    intro = (
        f"Crime forecast for the {wording.when}. Expected number of crimes of these types: "
        f"{wording.crimes}. Bias audit: {wording.audit_status}. Flagged: the {wording.coverage} "
        f"of the area with the highest expected count ({wording.n_flagged:,} of "
        f"{wording.n_cells:,} hexagons). One page per district follows, in this order."
    )
    fig.text(0.05, 0.935, textwrap.fill(intro, 110), fontsize=8.5, va="top", linespacing=1.4)
    s = figures.summary
    none = s["n_flagged"].to_numpy() == 0
    hours = figures.band_counts is not None
    busiest = np.where(none, no_flags_in_words(wording.period), s["busiest"].astype(str))
    columns = [
        ("District", [*s["district_name"].astype(str).tolist(), "Whole area"], 0.05, "left"),
        (
            "Flagged\nhexagons",
            [f"{n:,}" for n in s["n_flagged"]] + [f"{wording.n_flagged:,}"],
            0.31,
            "right",
        ),
        (
            "Share of\nthe flags",
            [f"{x * 100:.1f}%" for x in s["flag_share"]] + ["100%"],
            0.40,
            "right",
        ),
        (
            "Share of the\nexpected crime",
            [f"{x * 100:.1f}%" for x in s["harm_share"]] + ["100%"],
            0.52,
            "right",
        ),
    ]
    if hours:
        columns.append(("Busiest hours of its\nflagged hexagons", [*busiest, ""], 0.55, "left"))
    top, bottom = 0.80, 0.16
    size = float(np.clip((top - bottom) * A4[1] * 72 / (len(s) + 1) / 1.45, 4.0, 8.0))
    for head, values, x, align in columns:
        fig.text(x, top + 0.005, head, ha=align, va="bottom", weight="bold", fontsize=size)
        fig.text(
            x,
            top,
            "\n".join(values),
            ha=align,
            va="top",
            fontsize=size,
            linespacing=1.45,
            multialignment=align,
        )
    notes = [SHARES_EXPLAINED]
    if wording.no_hours:
        notes.append(wording.no_hours)
    notes.append(
        "The forecast is of recorded crime, which partly reflects where police were sent: "
        "patrolling only the flagged hexagons can make them look riskier next time."
    )
    text = "\n".join(textwrap.fill(n, 115) for n in notes)
    fig.text(0.05, 0.04, text, fontsize=7.5, va="bottom", linespacing=1.4, color="#333333")
    return fig


def _rings(geoms: npt.NDArray[np.object_]) -> list[npt.NDArray[np.float64]]:
    """Every ring of every polygon, as an array of corners (x, y)."""
    if len(geoms) == 0:
        return []
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    cuts = np.flatnonzero(np.diff(ring_of)) + 1
    return np.split(coords, cuts) if coords.size else []


def _exteriors(geoms: npt.NDArray[np.object_]) -> list[npt.NDArray[np.float64]]:
    """Each polygon's outer ring (a hexagon has no other)."""
    if len(geoms) == 0:
        return []
    coords, of = shapely.get_coordinates(shapely.get_exterior_ring(geoms), return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(of)) + 1)


def _district_page(
    row: pd.Series,
    cells: pd.DataFrame,
    drawing: DistrictDrawing | None,
    figures: DistrictFigures,
    wording: Wording,
) -> Figure:
    fig = Figure(figsize=A4)
    name = str(row["district_name"])
    fig.text(0.04, 0.975, name, fontsize=16, weight="bold", va="top")
    fig.text(0.04, 0.948, f"Crime forecast for the {wording.when}.", fontsize=9, va="top")
    if drawing is not None:
        _draw_map(fig.add_axes(_MAP_BOX), drawing)
    n_flagged, n_cells = int(row["n_flagged"]), int(row["n_cells"])
    handles = [
        Patch(facecolor=FLAGGED_COLOUR, edgecolor="#7a2400"),
        Patch(facecolor=_FAINT, edgecolor="#c8c8c8"),
        Line2D([], [], color=_LINE, lw=1.6),
        Line2D([], [], color=_AREA, lw=0.7),
        Line2D([], [], color=_NEIGHBOUR, lw=1.0, ls="--"),
    ]
    labels = [
        textwrap.fill(
            flagged_key_in_words(wording, n_flagged=n_flagged, n_cells=n_cells)
            + " The number on a hexagon is its rank.",
            38,
        ),
        "Not flagged.",
        "District boundary.",
        "Area boundary.",
        "Neighbouring district.",
    ]
    fig.text(0.67, 0.93, "Legend", weight="bold", fontsize=9.5, va="top")
    fig.text(0.67, 0.905, textwrap.fill(f"Forecast for the {wording.when}.", 40), va="top")
    fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(0.66, 0.865),
        frameon=False,
        fontsize=7.5,
        handlelength=1.6,
        labelspacing=0.6,
    )
    explain = (
        f"Expected count: how many crimes the forecast expects in the hexagon in that "
        f"{wording.period}. Likely range: if the forecast is right, the count falls in this "
        f"range {wording.level} of the time."
    )
    city_expected = float(figures.summary["expected_count"].sum())
    fig.text(0.67, 0.68, textwrap.fill(explain, 44), fontsize=7.5, va="top", linespacing=1.35)
    share = share_sentence(row, wording, city_expected=city_expected)
    fig.text(
        0.67, 0.60, textwrap.fill(share, 38), fontsize=8, va="top", weight="bold", linespacing=1.35
    )
    _ranked_text(fig, cells, wording)
    _hours_chart(fig, row, figures, wording)
    return fig


def _points_per_unit(d: DistrictDrawing) -> float:
    """Points of the page per drawing unit: the map keeps its shape inside :data:`_MAP_BOX`."""
    width, height = _MAP_BOX[2] * A4[0] * 72, _MAP_BOX[3] * A4[1] * 72
    return min(width / MAP_WIDTH, height / d.projection.height)


def _draw_map(ax: Axes, d: DistrictDrawing) -> None:
    h = d.projection.height
    ax.set_xlim(0, MAP_WIDTH)
    ax.set_ylim(h, 0)  # drawing units run down, as in the SVG
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#cccccc")
    # layers bottom up, as in the HTML: neighbours, the district's fill, its cells (faint, then
    # flagged), its areas' lines (seen through the faint cells), its boundary, the ranks
    layers = [
        LineCollection(_rings(d.neighbours), colors=_NEIGHBOUR, linewidths=0.8, linestyles="--"),
        PolyCollection(_exteriors(d.outline), facecolors="#f7f7f4", edgecolors="none"),
        PolyCollection(
            _exteriors(d.hexagons[~d.flagged]),
            facecolors=_FAINT,
            edgecolors="white",
            linewidths=0.3,
        ),
        LineCollection(_rings(d.areas), colors=_AREA, linewidths=0.35),
        PolyCollection(
            _exteriors(d.hexagons[d.flagged]),
            facecolors=FLAGGED_COLOUR,
            edgecolors="#7a2400",
            linewidths=0.5,
        ),
        LineCollection(_rings(d.outline), colors=_LINE, linewidths=1.2),
    ]
    for z, layer in enumerate(layers):
        layer.set_zorder(1 + z / 10)
        ax.add_collection(layer)
    if d.flagged.any():
        xy = shapely.get_coordinates(shapely.centroid(d.hexagons[d.flagged]))
        size = min(rank_font_units(d.hexagons) * _points_per_unit(d), 10.0)
        for (x, y), rank in zip(xy, d.ranks[d.flagged], strict=True):  # the flagged: a few dozen
            ax.text(
                x,
                y,
                str(rank),
                ha="center",
                va="center",
                color="white",
                weight="bold",
                fontsize=size,
                zorder=3,
            )
    if len(d.neighbour_names):
        anchors = label_anchors(d.neighbour_label_xy)
        for (x, y), name, anchor in zip(
            d.neighbour_label_xy, d.neighbour_names, anchors, strict=True
        ):  # a handful of neighbours
            ax.text(
                x,
                y,
                str(name),
                ha=_HA[anchor],
                va="center",
                color="#777777",
                fontsize=7,
                clip_on=True,
                zorder=3,
            )
    km = scale_bar_km(d.projection)
    bar = km * d.projection.units_per_km
    ax.plot([20, 20 + bar], [h - 20, h - 20], color="#333333", lw=2.5, solid_capstyle="butt")
    ax.text(20 + bar / 2, h - 28, f"{km:g} km", ha="center", va="bottom", fontsize=7)
    ax.text(MAP_WIDTH - 24, 34, "N \u2191", ha="center", va="center", fontsize=8)


def _ranked_text(fig: Figure, cells: pd.DataFrame, wording: Wording) -> None:
    flagged = cells[cells["flagged"].to_numpy(dtype=bool)]
    fig.text(
        0.04,
        0.41,
        f"Flagged hexagons by rank ({len(flagged):,})",
        weight="bold",
        fontsize=9.5,
        va="top",
    )
    if flagged.empty:
        fig.text(0.04, 0.385, f"This district has {no_flags_in_words(wording.period)}.", va="top")
        return
    shown = flagged.iloc[: ROWS_PER_BLOCK * BLOCKS]
    columns = (
        ("Rank", shown["risk_rank"].astype(str), 0.035, "right"),
        ("Area", shown["area_name"].astype(str).str.slice(0, 22), 0.045, "left"),
        (
            "Expected",
            pd.Series(np.char.mod("%.2f", shown["risk_score"].to_numpy(float))),
            0.205,
            "right",
        ),
        (
            "Likely",
            shown["risk_low_80"].astype(str) + " to " + shown["risk_high_80"].astype(str),
            0.215,
            "left",
        ),
    )
    for block in range(0, len(shown), ROWS_PER_BLOCK):
        left = 0.04 + 0.30 * (block // ROWS_PER_BLOCK)
        for head, values, x, align in columns:
            part = values.iloc[block : block + ROWS_PER_BLOCK].tolist()
            fig.text(left + x, 0.38, head, ha=align, va="top", weight="bold", fontsize=7)
            fig.text(
                left + x,
                0.362,
                "\n".join(part),
                ha=align,
                va="top",
                fontsize=7,
                linespacing=1.3,
                multialignment=align,
            )
    if len(flagged) > len(shown):
        fig.text(
            0.04,
            0.025,
            f"and {len(flagged) - len(shown):,} more: district_sheets.html and "
            "forecast_map.html list them all.",
            fontsize=7.5,
        )


def _hours_chart(fig: Figure, row: pd.Series, figures: DistrictFigures, wording: Wording) -> None:
    fig.text(0.67, 0.41, "Hours of the week", weight="bold", fontsize=9.5, va="top")
    if figures.band_counts is None:
        fig.text(0.67, 0.385, textwrap.fill(wording.no_hours, 44), va="top", fontsize=7.5)
        return
    index = int(np.flatnonzero(figures.summary["anchor"].to_numpy() == row["anchor"])[0])
    counts = figures.band_counts[index]
    if counts.sum() <= 0:
        fig.text(
            0.67,
            0.385,
            textwrap.fill(f"No hours: this district has {no_flags_in_words(wording.period)}.", 44),
            va="top",
            fontsize=7.5,
        )
        return
    ax = fig.add_axes((0.80, 0.09, 0.16, 0.29))
    y = np.arange(len(counts))
    busy = np.zeros(len(counts), dtype=bool)
    busy[np.argsort(-counts, kind="stable")[:2]] = True
    ax.barh(y, counts, color=np.where(busy, FLAGGED_COLOUR, "#e3a98f").tolist(), height=0.7)
    ax.set_yticks(y, list(figures.band_labels), fontsize=6.5)
    ax.set_ylim(len(counts) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=6.5)
    ax.set_xlabel("expected count of its flagged hexagons", fontsize=6.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.text(
        0.67,
        0.045,
        textwrap.fill("The two busiest bands are the darker bars.", 44),
        fontsize=7,
        color="#333333",
    )
