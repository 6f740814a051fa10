"""The forecast map page's HTML around its map and table (:mod:`models.planner.map`), with its
style and script inlined.

Plain CSS and vanilla JavaScript, no library and nothing fetched. ``%FLAGGED%`` in the style is
the flagged cells' colour. Printed (A4 landscape), page one holds the title, the map and the
legend, and the ranked table follows in columns, then how recent forecasts did (the line beside
its table, kept whole). On screen that panel sits under the legend and its table is read by
screen readers only (each point's tooltip gives its figures); the side column scrolls, so that
the ranked table keeps its room.
"""

from __future__ import annotations

import html
from typing import Final

PAGE_STYLE: Final[str] = """
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1a1a1a;
 background:#fff;display:flex;flex-direction:column}
header{padding:10px 16px 6px;border-bottom:1px solid #ddd}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:15px;margin:0 0 6px}
.sub{margin:0;color:#444}
.override{margin:6px 0 0;padding:6px 8px;background:#fff3cd;border:1px solid #d4a200;
 font-weight:600}
a{color:#0b57a4}
.layout{flex:1;min-height:0;display:grid;grid-template-columns:minmax(0,1fr) 380px;
 grid-template-rows:auto minmax(0,1fr);grid-template-areas:"map side" "map ranked"}
#map-pane{grid-area:map;min-height:0;padding:8px}
#map{width:100%;height:100%;max-height:calc(100vh - 90px);display:block}
#side{grid-area:side;padding:8px 14px;border-left:1px solid #ddd;max-height:62vh;overflow-y:auto}
#ranked{grid-area:ranked;overflow:auto;padding:4px 14px 14px;border-left:1px solid #ddd}
#legend ul{list-style:none;padding:0;margin:6px 0}
#legend li{margin:3px 0}
#legend p{margin:6px 0}
.key{display:inline-block;width:16px;height:12px;margin-right:6px;vertical-align:-1px;
 border:1px solid #777}
.flagged-key{background:%FLAGGED%;border-color:#7a2400}
.faint-key{background:#e6e6e6;border-color:#c8c8c8}
.line-key{height:0;border:0;border-top:2px solid #6b6b6b;vertical-align:3px}
.caveat{color:#555;font-size:12.5px}
#recent{margin-top:8px;padding-top:6px;border-top:1px solid #ddd}
#recent svg.track{width:100%;height:auto;display:block}
#recent p{margin:4px 0;font-size:12.5px}
.track-legend{list-style:none;padding:0;margin:4px 0;font-size:12.5px}
.track-legend li{margin:1px 0}
.track-legend svg{vertical-align:middle}
#recent{position:relative}
.track-figures{position:absolute;top:0;left:0;width:1px;height:1px;overflow:hidden;
 clip-path:inset(50%)}
.track-table{border-collapse:collapse}
.track-table caption{text-align:left;color:#555}
.track-table th,.track-table td{padding:1px 5px;border-bottom:1px solid #e4e4e4;text-align:left}
.track-table td+td,.track-table th+th{text-align:right}
#info{margin-top:8px;padding:8px;border:1px solid #ccc;background:#fafafa;min-height:92px}
#info p{margin:2px 0}
.districts path{fill:#f7f7f4;stroke:none;fill-rule:evenodd}
.borders path{fill:none;stroke:#555;stroke-width:1.3;stroke-linejoin:round;pointer-events:none}
.cells path{fill:#e6e6e6;stroke:#fff;stroke-width:.3}
.cells.flagged path{fill:%FLAGGED%;stroke:#7a2400;stroke-width:.6}
.cells path:hover{stroke:#000;stroke-width:2}
.cells path.sel,.cells.flagged path.sel{fill:#ffd23f;stroke:#000;stroke-width:2.5}
.names text{font-size:11px;fill:#333;stroke:#fff;stroke-width:3px;paint-order:stroke;
 text-anchor:middle;pointer-events:none}
.scale rect{fill:#333}
.scale text,.north{font-size:11px;fill:#333}
table.chunk{border-collapse:collapse;width:100%}
.chunk th,.chunk td{padding:2px 6px;border-bottom:1px solid #e4e4e4;text-align:left}
.chunk th{background:#f2f2f2;position:sticky;top:0}
.chunk td:nth-child(1),.chunk td:nth-child(3),.chunk th:nth-child(1),.chunk th:nth-child(3)
 {text-align:right}
.chunk tr[data-r]{cursor:pointer}
.chunk tr.sel td{background:#ffe2cc}
.chunk+.chunk thead{display:none}
@media (max-width:900px){.layout{display:block}#map{height:70vh}}
@page{size:A4 landscape;margin:8mm}
@media print{
 html,body{height:auto;display:block;font-size:9pt}
 header{padding:0 0 2mm;border:0}
 h1{font-size:14pt}
 .layout{display:grid;grid-template-columns:1fr 70mm;grid-template-rows:auto;
  grid-template-areas:"map side" "ranked ranked" "recent recent"}
 #map-pane{padding:0}
 #map{width:100%;height:160mm;max-height:160mm}
 #side,#ranked{border:0;padding:0 0 0 3mm}
 #info{display:none}
 #ranked{overflow:visible;break-before:page;padding:0}
 .chunks{display:flex;flex-wrap:wrap;gap:0 5mm;align-items:flex-start}
 #ranked h2{font-size:11pt;margin:0 0 2mm}
 table.chunk{width:calc((100% - 10mm) / 3);font-size:7.5pt;line-height:1.15;break-inside:avoid}
 .chunk+.chunk thead{display:table-header-group}
 .chunk th{position:static}
 .chunk th,.chunk td{padding:.2mm 1.5mm}
 #side{display:contents}
 #legend{grid-area:side;padding:0 0 0 3mm}
 #recent{grid-area:recent;break-inside:avoid;border:0;margin:3mm 0 0;padding:0}
 #recent h2{font-size:11pt;margin:0 0 2mm}
 .track-record{display:flex;gap:6mm;align-items:flex-start}
 .track-chart{width:80mm;flex:none}
 .track-words{width:75mm;flex:none}
 #recent p,.track-legend{font-size:7.5pt;line-height:1.2;margin:0 0 1mm}
 .track-figures{position:static;width:auto;height:auto;overflow:visible;clip-path:none}
 .track-table{font-size:6.5pt;line-height:1.1;margin:0}
 .track-table th,.track-table td{padding:.1mm 1.5mm;white-space:nowrap}
 a{color:inherit;text-decoration:none}
}
"""

PAGE_SCRIPT: Final[str] = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("cell-data").textContent);
  var svg = document.getElementById("map");
  var title = document.getElementById("info-title");
  var district = document.getElementById("info-district");
  var count = document.getElementById("info-count");
  var hours = document.getElementById("info-hours");
  var pinned = null;
  function fmt(x) { return Number(x).toLocaleString("en-GB"); }
  function show(rank) {
    var i = rank - 1;
    title.textContent = "Rank " + fmt(rank) + " of " + fmt(data.n) +
      (data.flagged[i] ? ": flagged" : ": not flagged");
    district.textContent = "District: " + data.districts[data.district[i]];
    count.textContent = "Expected count " + data.score[i] + ", likely range " +
      data.low[i] + " to " + data.high[i] + ".";
    hours.textContent = data.busiest[i] ? "Busiest hours: " + data.busiest[i] + "." : "";
  }
  function cellOf(rank) { return svg.querySelector('path[data-r="' + rank + '"]'); }
  function rowOf(rank) { return document.querySelector('tr[data-r="' + rank + '"]'); }
  function select(rank, fromTable) {
    var old = document.querySelectorAll(".sel");
    for (var k = 0; k < old.length; k++) { old[k].classList.remove("sel"); }
    pinned = rank;
    if (rank === null) { return; }
    var cell = cellOf(rank), row = rowOf(rank);
    if (cell) { cell.classList.add("sel"); cell.parentNode.appendChild(cell); }
    if (row) {
      row.classList.add("sel");
      if (!fromTable) { row.scrollIntoView({block: "nearest"}); }
    }
    show(rank);
  }
  svg.addEventListener("mouseover", function (e) {
    var cell = e.target.closest("path[data-r]");
    if (cell && pinned === null) { show(Number(cell.dataset.r)); }
  });
  svg.addEventListener("click", function (e) {
    var cell = e.target.closest("path[data-r]");
    select(cell ? Number(cell.dataset.r) : null, false);
  });
  document.getElementById("ranked").addEventListener("click", function (e) {
    var row = e.target.closest("tr[data-r]");
    if (row) { select(Number(row.dataset.r), true); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { select(null, false); }
    var row = e.target.closest && e.target.closest("tr[data-r]");
    if (row && e.key === "Enter") { select(Number(row.dataset.r), true); }
  });
})();
"""


def page_head(title: str, style: str) -> str:
    """An offline page's opening up to ``<body>``: UTF-8, a phone-friendly viewport, the
    ``title`` (plain text, escaped here) and the inline ``style`` (CSS, as is)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{style}</style>
</head>
<body>"""


def _recent_panel(recent: str) -> str:
    if not recent:
        return ""
    return (
        '<section id="recent" aria-labelledby="recent-title">\n'
        '<h2 id="recent-title">How recent forecasts did</h2>\n'
        f"{recent}\n</section>\n"
    )


def render_page(
    *,
    title: str,
    when: str,
    period: str,
    crimes: str,
    audit_status: str,
    svg: str,
    n_cells: int,
    n_flagged: int,
    share: str,
    level: str,
    tables: str,
    cell_data: str,
    flagged_colour: str,
    hours_note: str = "",
    recent: str = "",
) -> str:
    """The page: title, the map (``svg``, drawn), the legend, the box the script fills, the
    ranked ``tables``, the cells' figures (``cell_data``, JSON safe inside ``<script>``), the
    legend's sentence on the hours of the week (``hours_note``) and how recent forecasts did
    (``recent``: HTML, :func:`models.track_chart.track_record_html`, in a panel under the
    legend; none when empty). Text arguments are plain text; this escapes them."""
    e = html.escape
    override = (
        '<p class="override">Published under an override of the bias audit: read the manifest '
        'and <a href="bias_report.html">the bias report</a> before using this forecast.</p>\n'
        if audit_status == "override"
        else ""
    )
    return f"""{page_head(title, PAGE_STYLE.replace("%FLAGGED%", flagged_colour))}
<header>
<h1>{e(title)}</h1>
<p class="sub">Expected number of crimes in each hexagon, of these types: {e(crimes)}.
Bias audit: <strong>{e(audit_status)}</strong> (<a href="bias_report.html">bias report</a>,
<a href="model_card.md">model card</a>, in this folder).</p>
{override}</header>
<main class="layout">
<section id="map-pane" aria-label="Map of the forecast">
{svg}
</section>
<aside id="side">
<section id="legend" aria-label="Legend">
<h2>Legend</h2>
<p class="period">Forecast for the <strong>{e(when)}</strong>.</p>
<ul>
<li><span class="key flagged-key"></span><strong>Flagged</strong>: the {e(share)} of the area
with the highest expected count ({n_flagged:,} of {n_cells:,} hexagons).</li>
<li><span class="key faint-key"></span>Not flagged.</li>
<li><span class="key line-key"></span>District boundary.</li>
</ul>
<p><strong>Expected count</strong>: how many crimes of the types above the forecast expects in
the hexagon in that {e(period)}. <strong>Likely range</strong>: if the forecast is right, the
count falls in this range {e(level)} of the time.</p>
{f'<p class="hours">{e(hours_note)}</p>' if hours_note else ""}
<p class="caveat">The forecast is of recorded crime, which partly reflects where police were
sent: patrolling only the flagged hexagons can make them look riskier next time.</p>
</section>
<section id="info" aria-live="polite">
<h2 id="info-title">Point at a hexagon</h2>
<p id="info-district">Its district, expected count, likely range and rank show here; a click
keeps them.</p>
<p id="info-count"></p>
<p id="info-hours"></p>
</section>
{_recent_panel(recent)}</aside>
<section id="ranked" aria-label="Flagged hexagons by rank">
<h2>Flagged hexagons by rank ({n_flagged:,})</h2>
<div class="chunks">{tables or "<p>No hexagon is flagged.</p>"}</div>
</section>
</main>
<script type="application/json" id="cell-data">{cell_data}</script>
<script>{PAGE_SCRIPT}</script>
</body>
</html>
"""
