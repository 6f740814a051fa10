"""``district_sheets.html`` and ``district_sheets.pdf``: a sheet per district, for the planner who
looks after it.

The HTML page opens offline (inline SVG and style; no script, nothing fetched): first an index
of every district (its flagged hexagons, its share of the flags against its share of the expected
crime, the busiest hours of its flagged hexagons), each row linking to the district's sheet
below. A sheet holds the district's map, zoomed to it (its flagged hexagons strong and labelled
with their rank, its other hexagons faint, its study areas' boundaries as street-scale context,
the neighbouring districts' outlines faint), a legend naming the coverage and the period in the
map page's words, the share sentence, its flagged hexagons by rank and its hours of the week.
Printed, each sheet fills one A4 page. The PDF (:mod:`models.planner.sheets_pdf`) has the same
sheets, one A4 page each, after an index page. The figures are :mod:`models.planner.districts`'.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from beatwise.artefacts.panel import PanelMeta
from models.planner._page import page_head
from models.planner._svg import FLAGGED_COLOUR, MAP_WIDTH, ring_paths, scale_and_north, text_labels
from models.planner.districts import (
    SHARES_EXPLAINED,
    DistrictDrawing,
    DistrictFigures,
    Wording,
    cell_area_names,
    district_drawing,
    district_figures,
    flagged_key_in_words,
    no_flags_in_words,
    rank_font_units,
    share_sentence,
)
from models.planner.map import crimes_in_words, district_outlines, period_in_words
from models.planner.sheets_pdf import district_sheets_pdf
from models.timebands import ForecastBands

__all__ = ["SHEETS_HTML", "SHEETS_PDF", "district_sheets"]

logger = logging.getLogger(__name__)
e = html.escape

#: the two files' names in a publication
SHEETS_HTML: Final[str] = "district_sheets.html"
SHEETS_PDF: Final[str] = "district_sheets.pdf"
#: rows of a sheet's ranked table per printed column, and the columns printed on its page
ROWS_PER_COLUMN: Final[int] = 24
PRINTED_COLUMNS: Final[int] = 2


def district_sheets(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    panel: PanelMeta,
    coverage: float,
    interval_level: float,
    audit_status: str,
    bands: ForecastBands,
    busiest: list[str],
) -> dict[str, bytes]:
    """``district_sheets.html`` and ``district_sheets.pdf`` of one forecast, by file name.

    Parameters
    ----------
    table
        The published forecast table (its ``district_name``, and ``lat``/``lon`` to find the
        area of each cell).
    areas
        The study areas: the districts' outlines, the areas drawn on each sheet and named beside
        each flagged hexagon.
    panel, coverage, interval_level, audit_status
        As for the map page (:func:`models.planner.map.forecast_map_html`).
    bands, busiest
        The forecast week's time bands (in the table's row order) and each flagged cell's
        busiest bands in words (:func:`models.planner.bands.busiest_bands`).
    """
    started = time.perf_counter()
    figures = district_figures(table, areas, bands)
    wording = Wording(
        when=period_in_words(panel.forecast_period, period=panel.period),
        period=panel.period,
        crimes=crimes_in_words(panel.target_types),
        coverage=f"{coverage * 100:g}%",
        level=f"{interval_level * 100:g}%",
        audit_status=audit_status,
        n_cells=len(table),
        n_flagged=int(table["flagged"].sum()),
        no_hours=f"No hours of the week: {figures.hours_reason}." if figures.hours_reason else "",
    )
    ranked = table.assign(busiest=busiest, area_name=cell_area_names(table, areas))
    ranked = ranked.sort_values("risk_rank", kind="stable")
    outlines = district_outlines(areas)
    by_district = dict(tuple(ranked.groupby(ranked["district_name"].astype(str), sort=False)))
    empty = ranked.iloc[:0]
    cells = [by_district.get(name, empty) for name in figures.summary["district_name"]]
    drawings = [
        district_drawing(name, rows, areas, outlines)
        if len(rows) or _has_outline(outlines, name)
        else None
        for name, rows in zip(figures.summary["district_name"], cells, strict=True)
    ]
    files = {
        SHEETS_HTML: sheets_html(figures, cells, drawings, wording).encode("utf-8"),
        SHEETS_PDF: district_sheets_pdf(figures, cells, drawings, wording),
    }
    logger.info(
        "district sheets: %d districts, HTML %.0f kB, PDF %.0f kB, in %.1f s",
        len(figures.summary),
        len(files[SHEETS_HTML]) / 1e3,
        len(files[SHEETS_PDF]) / 1e3,
        time.perf_counter() - started,
    )
    return files


def _has_outline(outlines: gpd.GeoDataFrame, name: str) -> bool:
    own = outlines["name"].astype(str) == name
    return bool(own.any()) and not bool(shapely.is_empty(outlines.geometry[own].to_numpy()).all())


STYLE: Final[str] = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
 color:#1a1a1a;background:#fff}
header,section{padding:12px 20px}
h1{font-size:21px;margin:0 0 4px}
h2{font-size:18px;margin:0 0 4px}
h3{font-size:14px;margin:10px 0 4px}
p{margin:4px 0}
a{color:#0b57a4}
.sub,.caveat{color:#444}
.caveat{font-size:12.5px}
table{border-collapse:collapse}
th,td{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.n,th.n{text-align:right}
tr.none td{color:#666}
tr.total td{font-weight:600;border-top:2px solid #999}
.sheet{border-top:3px solid #333}
.top{display:grid;grid-template-columns:minmax(0,1fr) 330px;gap:14px;align-items:start}
.district-map{width:100%;height:auto;max-height:78vh;display:block;border:1px solid #ccc}
.key{display:inline-block;width:16px;height:12px;margin-right:6px;vertical-align:-1px;
 border:1px solid #777}
.flagged-key{background:%FLAGGED%;border-color:#7a2400}
.faint-key{background:#e6e6e6;border-color:#c8c8c8}
.line-key{height:0;border:0;border-top:2px solid #333;vertical-align:3px}
.area-key{height:0;border:0;border-top:1px solid #9a9a9a;vertical-align:3px}
.nbr-key{height:0;border:0;border-top:1.5px dashed #aaa;vertical-align:3px}
.legend ul{list-style:none;padding:0;margin:6px 0}
.legend li{margin:3px 0}
.share{font-weight:600}
.bottom{display:flex;flex-wrap:wrap;gap:6px 24px;align-items:flex-start}
.chunks{display:flex;flex-wrap:wrap;gap:0 12px;align-items:flex-start}
.bar{display:inline-block;height:9px;background:%FLAGGED%;opacity:.75}
tr.busy td{font-weight:600}
.nbr path{fill:none;stroke:#aaa;stroke-width:1.5;stroke-dasharray:6 4}
.own path{fill:#f7f7f4;stroke:none;fill-rule:evenodd}
.areas path{fill:none;stroke:#9a9a9a;stroke-width:.7}
.cells path{fill:#e6e6e6;stroke:#fff;stroke-width:.5;fill-opacity:.85}
.cells.flagged path{fill:%FLAGGED%;stroke:#7a2400;stroke-width:1;fill-opacity:1}
.border path{fill:none;stroke:#333;stroke-width:2.2;stroke-linejoin:round}
.ranks text{fill:#fff;font-weight:700;text-anchor:middle;dominant-baseline:central}
.names text{font-size:15px;fill:#777;stroke:#fff;stroke-width:3px;paint-order:stroke}
.scale rect{fill:#333}
.scale text,.north{font-size:14px;fill:#333}
body:has(.sheet:target)>header,body:has(.sheet:target)>section:not(:target){display:none}
body:has(.sheet:target) .sheet{border:0}
.print-only{display:none}
@media screen and (max-width:900px){.top{display:block}}
@page{size:A4 portrait;margin:9mm}
@media print{
 body{font-size:8.5pt}
 header,section{padding:0}
 .sheet{break-before:page;border:0}
 h1{font-size:14pt}
 h2{font-size:13pt}
 h3{font-size:9.5pt;margin:2mm 0 1mm}
 .top{grid-template-columns:minmax(0,1fr) 58mm;gap:4mm}
 .district-map{max-height:125mm;border:0}
 th,td{padding:.3mm 1.5mm}
 table.index{font-size:7.5pt;line-height:1.2}
 table.index td{padding:0 1.2mm}
 .chunk,.hours{font-size:7.5pt;line-height:1.2}
 .chunks .more{display:none}
 .print-only{display:block}
 .bottom{flex-wrap:nowrap;gap:0 5mm}
 .back{display:none}
 a{color:inherit;text-decoration:none}
}
"""


def sheets_html(
    figures: DistrictFigures,
    cells: list[pd.DataFrame],
    drawings: list[DistrictDrawing | None],
    wording: Wording,
) -> str:
    """The page: the index, then one sheet per district (rows of ``figures.summary``, with its
    ranked cells and its drawing)."""
    title = f"District sheets: crime forecast for the {wording.when}"
    sheets = "\n".join(
        _sheet(row, rows, drawing, figures, wording)
        for (_, row), rows, drawing in zip(figures.summary.iterrows(), cells, drawings, strict=True)
    )  # one per district: a few dozen
    return f"""{page_head(title, STYLE.replace("%FLAGGED%", FLAGGED_COLOUR))}
<header>
<h1>{e(title)}</h1>
<p class="sub">Expected number of crimes of these types: {e(wording.crimes)}. Bias audit:
<strong>{e(wording.audit_status)}</strong> (<a href="bias_report.html">bias report</a>,
<a href="forecast_map.html">the map of the whole area</a>, in this folder).</p>
</header>
<section id="index" aria-label="Districts">
<h2>Districts</h2>
<p>Forecast for the <strong>{e(wording.when)}</strong>. Flagged: the {e(wording.coverage)} of the
area with the highest expected count ({wording.n_flagged:,} of {wording.n_cells:,} hexagons).</p>
{_index_table(figures, wording)}
<p>A district's name opens its sheet alone (print it from there for its page); printing this
page gives every sheet, one A4 page each.</p>
<p>{e(SHARES_EXPLAINED)}</p>
{f"<p>{e(wording.no_hours)}</p>" if wording.no_hours else ""}
<p class="caveat">The forecast is of recorded crime, which partly reflects where police were
sent: patrolling only the flagged hexagons can make them look riskier next time.</p>
</section>
{sheets}
</body>
</html>
"""


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _index_table(figures: DistrictFigures, wording: Wording) -> str:
    s = figures.summary
    none = s["n_flagged"].to_numpy() == 0
    hours = figures.band_counts is not None
    busiest = np.where(none, no_flags_in_words(wording.period), s["busiest"].astype(str))
    rows = "".join(
        ('<tr class="none">' if no else "<tr>")
        + f'<td><a href="#{e(a)}">{e(name)}</a></td><td class="n">{n:,}</td>'
        + f'<td class="n">{_pct(fs)}</td><td class="n">{_pct(hs)}</td>'
        + (f"<td>{e(str(b))}</td>" if hours else "")
        + "</tr>"
        for name, a, n, fs, hs, b, no in zip(
            s["district_name"],
            s["anchor"],
            s["n_flagged"],
            s["flag_share"],
            s["harm_share"],
            busiest,
            none,
            strict=True,
        )
    )  # one row per district: a few dozen
    total = (
        f'<tr class="total"><td>Whole area</td><td class="n">{wording.n_flagged:,}</td>'
        f'<td class="n">100%</td><td class="n">100%</td>{"<td></td>" if hours else ""}</tr>'
    )
    return (
        '<table class="index"><thead><tr><th>District</th><th class="n">Flagged hexagons</th>'
        '<th class="n">Share of the flags</th><th class="n">Share of the expected crime</th>'
        + ("<th>Busiest hours of its flagged hexagons</th>" if hours else "")
        + f"</tr></thead><tbody>{rows}{total}</tbody></table>"
    )


def _sheet(
    row: pd.Series,
    cells: pd.DataFrame,
    drawing: DistrictDrawing | None,
    figures: DistrictFigures,
    wording: Wording,
) -> str:
    """One district's sheet: map and legend, share sentence, ranked cells, hours."""
    name = str(row["district_name"])
    n_flagged, n_cells = int(row["n_flagged"]), int(row["n_cells"])
    city_expected = float(figures.summary["expected_count"].sum())
    svg = _district_svg(drawing, name) if drawing is not None else "<p>Nothing to draw.</p>"
    return f"""<section class="sheet" id="{e(str(row["anchor"]))}" aria-label="{e(name)}">
<h2>{e(name)}</h2>
<p class="sub">Crime forecast for the {e(wording.when)}.</p>
<div class="top">
<figure style="margin:0">{svg}</figure>
<div class="legend">
<h3>Legend</h3>
<p class="period">Forecast for the <strong>{e(wording.when)}</strong>.</p>
<ul>
<li><span class="key flagged-key"></span><strong>{
        e(flagged_key_in_words(wording, n_flagged=n_flagged, n_cells=n_cells))
    }</strong> The number on a hexagon is its rank.</li>
<li><span class="key faint-key"></span>Not flagged.</li>
<li><span class="key line-key"></span>District boundary.</li>
<li><span class="key area-key"></span>Area boundary.</li>
<li><span class="key nbr-key"></span>Neighbouring district.</li>
</ul>
<p><strong>Expected count</strong>: how many crimes the forecast expects in the hexagon in that
{e(wording.period)}. <strong>Likely range</strong>: if the forecast is right, the count falls in
this range {e(wording.level)} of the time.</p>
<p class="share">{e(share_sentence(row, wording, city_expected=city_expected))}</p>
</div>
</div>
<div class="bottom">
<div><h3>Flagged hexagons by rank ({n_flagged:,})</h3>{_ranked_tables(cells, wording)}</div>
<div><h3>Hours of the week</h3>{_hours_table(figures, row, wording)}</div>
</div>
<p class="back"><a href="#index">All the districts</a></p>
</section>"""


def _ranked_tables(cells: pd.DataFrame, wording: Wording) -> str:
    flagged = cells[cells["flagged"].to_numpy(dtype=bool)]
    if flagged.empty:
        return f"<p>This district has {no_flags_in_words(wording.period)}.</p>"
    rank = flagged["risk_rank"].astype(str).to_numpy(dtype=object)
    area = np.array([e(str(x)) for x in flagged["area_name"]], dtype=object)
    score = np.char.mod("%.2f", flagged["risk_score"].to_numpy(dtype=np.float64)).astype(object)
    low = flagged["risk_low_80"].astype(str).to_numpy(dtype=object)
    likely = low + " to " + flagged["risk_high_80"].astype(str).to_numpy(dtype=object)
    rows = (
        '<tr><td class="n">'
        + rank
        + "</td><td>"
        + area
        + '</td><td class="n">'
        + score
        + "</td><td>"
        + likely
        + "</td></tr>"
    )
    head = (
        '<table class="chunk"><thead><tr><th class="n">Rank</th><th>Area</th>'
        '<th class="n">Expected count</th><th>Likely range</th></tr></thead><tbody>'
    )
    printed = ROWS_PER_COLUMN * PRINTED_COLUMNS
    chunks = (
        head.replace('class="chunk"', 'class="chunk more"' if i >= printed else 'class="chunk"')
        + "".join(rows[i : i + ROWS_PER_COLUMN])
        + "</tbody></table>"
        for i in range(0, len(rows), ROWS_PER_COLUMN)
    )
    more = (
        f'<p class="print-only">and {len(rows) - printed:,} more, on screen and in '
        "forecast_map.html.</p>"
        if len(rows) > printed
        else ""
    )
    return f'<div class="chunks">{"".join(chunks)}</div>{more}'


def _hours_table(figures: DistrictFigures, row: pd.Series, wording: Wording) -> str:
    if figures.band_counts is None:
        return f"<p>{e(wording.no_hours)}</p>"
    counts = figures.band_counts[int(np.flatnonzero(figures.summary["anchor"] == row["anchor"])[0])]
    total = counts.sum()
    if total <= 0:
        return f"<p>No hours: this district has {no_flags_in_words(wording.period)}.</p>"
    share = counts / total
    busy = np.zeros(len(counts), dtype=bool)
    busy[np.argsort(-counts, kind="stable")[:2]] = True
    body = "".join(
        ('<tr class="busy">' if b else "<tr>") + f'<td>{e(label)}</td><td class="n">{c:.2f}</td>'
        f'<td class="n">{s * 100:.0f}%</td><td><span class="bar" style="width:{w:.0f}px">'
        "</span></td></tr>"
        for label, c, s, w, b in zip(
            figures.band_labels, counts, share, 60 * share / share.max(), busy, strict=True
        )
    )  # one row per band: a dozen
    return (
        '<table class="hours"><thead><tr><th>Band</th><th class="n">Expected count</th>'
        f'<th class="n">Share</th><th></th></tr></thead><tbody>{body}</tbody></table>'
        "<p>Expected count of the flagged hexagons in each time band; the two busiest in bold.</p>"
    )


def _district_svg(drawing: DistrictDrawing, name: str) -> str:
    """The district's map as inline SVG (drawing units: :data:`MAP_WIDTH` across)."""
    d = drawing
    flagged = d.flagged
    hex_d = ring_paths(d.hexagons)
    areas = "".join(ring_paths(d.areas))
    titles = np.where(flagged, "<title>Rank " + d.ranks.astype(str).astype(object) + "</title>", "")
    paths = '<path d="' + hex_d + '">' + titles + "</path>"
    h = d.projection.height
    outline = "".join(f'<path d="{p}"/>' for p in ring_paths(d.outline))
    neighbours = "".join(f'<path d="{p}"/>' for p in ring_paths(d.neighbours))
    return (
        f'<svg class="district-map" viewBox="0 0 {MAP_WIDTH:g} {h:g}" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="Map of {e(name)}: '
        f'{int(flagged.sum())} flagged hexagons">\n'
        f'<g class="nbr">{neighbours}</g>\n'
        f'<g class="own">{outline}</g>\n'
        + (f'<g class="areas"><path d="{areas}"/></g>\n' if areas else "")
        + f'<g class="cells">{"".join(paths[~flagged])}</g>\n'
        f'<g class="cells flagged">{"".join(paths[flagged])}</g>\n'
        f'<g class="border">{outline}</g>\n'
        f"{_rank_labels(d)}"
        f'<g class="names">{text_labels(d.neighbour_names, d.neighbour_label_xy)}</g>\n'
        f"{scale_and_north(d.projection)}"
        "</svg>"
    )


def _rank_labels(d: DistrictDrawing) -> str:
    if not d.flagged.any():
        return ""
    xy = shapely.get_coordinates(shapely.centroid(d.hexagons[d.flagged]))
    texts = "".join(
        f'<text x="{x:.1f}" y="{y:.1f}">{r}</text>'
        for (x, y), r in zip(xy, d.ranks[d.flagged], strict=True)
    )
    return f'<g class="ranks" font-size="{rank_font_units(d.hexagons):.1f}">{texts}</g>\n'
