"""``forecast_map.html``: the forecast as one page a planner opens offline and prints.

The page is self-contained: an inline SVG map (no tiles, no web-map library, nothing fetched),
its style and a small script. Flagged hexagons are drawn strong over the district boundaries (the
study areas dissolved by district and simplified to half a pixel of the drawing); the other cells
are faint. Beside the map: a legend naming the coverage and the forecast period in words, a box
that shows a cell's expected count, likely range, rank and district when the pointer is over it
(or a click pins it), how recent forecasts did (a line of the hit rate over recent periods,
:mod:`models.track_chart`), and the flagged cells by rank. Printed, the map and its legend fill
one A4 landscape page and the ranked table the next, in columns, with the line after it.

The map is drawn in Python: an equirectangular projection about the study area's middle
latitude (distances true to well under 1% over a city), coordinates in the SVG's units rounded
to a tenth. Without its script the page still shows the map, the legend, the table and a tooltip
on each flagged cell.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from beatwise.period import Period
from beatwise.taxonomy import DISPLAY_NAMES
from models.planner._page import render_page
from models.planner._svg import (
    FLAGGED_COLOUR,
    MAP_WIDTH,
    SIMPLIFY_UNITS,
    Projection,
    name_labels,
    ring_paths,
    scale_and_north,
)
from models.planner.gis import cell_hexagons
from models.track_chart import track_record_html
from models.track_record import TrackRecord

#: rows of the ranked table per printed column
ROWS_PER_COLUMN: Final[int] = 40
#: the district of a cell no area polygon touches (``features.cells``)
OUTSIDE_AREAS: Final[str] = "outside areas"


def period_in_words(start: dt.date, *, period: Period) -> str:
    """The forecast period as a planner says it: ``week of Monday 30 December 2024 to Sunday 5
    January 2025``, or ``month of January 2025``."""
    if period == "month":
        return f"month of {start:%B %Y}"
    end = start + dt.timedelta(days=6)
    return f"week of {_day(start)} to {_day(end)}"


def _day(day: dt.date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def crimes_in_words(target_types: tuple[str, ...]) -> str:
    """The forecast's crime types in words: ``burglary, robbery and theft from the person``."""
    names = [DISPLAY_NAMES.get(t, t.replace("_", " ")).lower() for t in target_types]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def district_outlines(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The study areas dissolved by ``district_name`` (EPSG:4326), one row per district, sorted
    by name; without that column, the whole study area as one unnamed outline (``name`` "")."""
    if areas.empty:
        return gpd.GeoDataFrame({"name": []}, geometry=gpd.GeoSeries([]), crs="EPSG:4326")
    shapes = areas.to_crs("EPSG:4326")
    if "district_name" in shapes.columns:
        names = shapes["district_name"].astype(str).rename("name")
    else:
        names = pd.Series("", index=shapes.index, name="name")
    frame = gpd.GeoDataFrame({"name": names}, geometry=shapes.geometry.make_valid())
    return frame.dissolve(by="name", sort=True).reset_index()


def forecast_map_html(
    table: pd.DataFrame,
    outlines: gpd.GeoDataFrame,
    *,
    period: Period,
    period_start: dt.date,
    coverage: float,
    interval_level: float,
    target_types: tuple[str, ...],
    audit_status: str,
    busiest: list[str] | None = None,
    hours_note: str = "",
    track: TrackRecord | None = None,
) -> str:
    """The forecast map page (HTML, self-contained, deterministic for a given forecast).

    Parameters
    ----------
    table
        The published forecast table (:func:`models.forecast.build_forecast_table`): one row per
        cell with ``h3_cell``, ``risk_score``, ``risk_low_80``, ``risk_high_80``, ``risk_rank``,
        ``flagged`` and ``district_name``.
    outlines
        :func:`district_outlines` of the study areas (may be empty: no boundaries are drawn).
    coverage, interval_level
        ``operational.coverage`` and ``publish.interval_level``, named in the legend.
    target_types
        What the forecast counts (``panel_meta.json``), named in the legend.
    audit_status
        The audit's word (``pass``, ``pass with review``, ``override``), shown under the title.
    busiest, hours_note
        Per row of ``table``, a flagged cell's busiest time bands in words (empty for the
        others; :func:`models.planner.bands.busiest_bands`), and the legend's sentence on the
        hours (or why there are none).
    track
        How recent forecasts did (:mod:`models.track_record`): drawn as a line in a panel under
        the legend (:func:`models.track_chart.track_record_html`); none without it.
    """
    busy = [""] * len(table) if busiest is None else busiest
    ranked = table.assign(busiest=busy).sort_values("risk_rank").reset_index(drop=True)
    flagged = ranked["flagged"].to_numpy(dtype=bool)
    cells = _Cells(ranked)
    when = period_in_words(period_start, period=period)
    return render_page(
        title=f"Crime forecast for the {when}",
        when=when,
        period=period,
        crimes=crimes_in_words(target_types),
        audit_status=audit_status,
        svg=_map_svg(cells, outlines),
        n_cells=len(ranked),
        n_flagged=int(flagged.sum()),
        share=f"{coverage * 100:g}%",
        level=f"{interval_level * 100:g}%",
        tables=_ranked_tables(cells),
        cell_data=_cell_data(ranked),
        flagged_colour=FLAGGED_COLOUR,
        hours_note=hours_note,
        recent="" if track is None else track_record_html(track),
    )


class _Cells:
    """The ranked cells' text, each column escaped once for HTML."""

    def __init__(self, ranked: pd.DataFrame) -> None:
        self.ranked = ranked
        self.flagged = ranked["flagged"].to_numpy(dtype=bool)
        self.rank = ranked["risk_rank"].to_numpy(dtype=np.int64).astype(str).astype(object)
        names = ranked["district_name"].astype(str)
        self.name = np.array([html.escape(x) for x in names], dtype=object)
        score = np.char.mod("%.2f", ranked["risk_score"].to_numpy(dtype=np.float64))
        self.score = score.astype(object)
        low = ranked["risk_low_80"].astype(str).to_numpy(dtype=object)
        self.range = low + " to " + ranked["risk_high_80"].astype(str).to_numpy(dtype=object)
        busiest = ranked["busiest"].astype(str).to_numpy(dtype=object)
        self.busiest = np.where(busiest != "", "; busiest " + busiest, "")


def _map_svg(cells: _Cells, outlines: gpd.GeoDataFrame) -> str:
    """The map: district fills, the cells (faint, then flagged), district lines over them (the
    cells would hide them), district names, a scale bar and north."""
    hexes = cell_hexagons(cells.ranked["h3_cell"])
    shapes = np.asarray(outlines.geometry.to_numpy(), dtype=object)
    project = Projection(shapely.total_bounds(np.concatenate([hexes, shapes])))
    drawn = shapely.simplify(shapely.transform(shapes, project), SIMPLIFY_UNITS)
    districts = "".join(f'<path d="{d}"/>' for d in ring_paths(drawn))
    hex_d = ring_paths(shapely.transform(hexes, project))
    # flagged cells carry a tooltip of their own, for a browser that runs no script
    titles = np.where(
        cells.flagged,
        "<title>Rank " + cells.rank + ", " + cells.name + ": expected " + cells.score
        + ", likely " + cells.range + cells.busiest + "</title>",
        "",
    )  # fmt: skip
    paths = '<path data-r="' + cells.rank + '" d="' + hex_d + '">' + titles + "</path>"
    w, h = MAP_WIDTH, project.height
    return (
        f'<svg id="map" viewBox="0 0 {w:g} {h:g}" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-label="{int(cells.flagged.sum())} flagged hexagons over the district '
        'boundaries">\n'
        f'<g class="districts">{districts}</g>\n'
        f'<g class="cells">{"".join(paths[~cells.flagged])}</g>\n'
        f'<g class="cells flagged">{"".join(paths[cells.flagged])}</g>\n'
        f'<g class="borders">{districts}</g>\n'
        f'<g class="names">{name_labels(outlines["name"].astype(str).to_numpy(), drawn)}'
        "</g>\n"
        f"{scale_and_north(project)}"
        "</svg>"
    )


def _ranked_tables(cells: _Cells) -> str:
    """The flagged cells by rank, as tables of :data:`ROWS_PER_COLUMN` rows (the printed
    columns); on screen they read as one table."""
    f = cells.flagged
    rows = (
        '<tr data-r="' + cells.rank[f] + '" tabindex="0"><td>' + cells.rank[f]
        + "</td><td>" + cells.name[f] + "</td><td>" + cells.score[f]
        + "</td><td>" + cells.range[f] + "</td></tr>"
    )  # fmt: skip
    head = (
        '<table class="chunk"><thead><tr><th>Rank</th><th>District</th>'
        "<th>Expected count</th><th>Likely range</th></tr></thead><tbody>"
    )
    return "".join(
        head + "".join(rows[i : i + ROWS_PER_COLUMN]) + "</tbody></table>"
        for i in range(0, len(rows), ROWS_PER_COLUMN)
    )


def _cell_data(ranked: pd.DataFrame) -> str:
    """Every cell's figures for the script's box, by rank - 1, as JSON safe inside <script>."""
    names = ranked["district_name"].astype(str)
    districts = sorted(names.unique())
    data = {
        "n": len(ranked),
        "districts": districts,
        "district": pd.Categorical(names, categories=districts).codes.tolist(),
        "score": np.char.mod("%.2f", ranked["risk_score"].to_numpy(dtype=np.float64)).tolist(),
        "low": ranked["risk_low_80"].astype(int).tolist(),
        "high": ranked["risk_high_80"].astype(int).tolist(),
        "flagged": ranked["flagged"].astype(int).tolist(),
        "busiest": ranked["busiest"].astype(str).tolist(),
    }
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # no "<" may open a tag inside <script>: JSON's \u escapes say the same characters
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text
