"""What a planner opens: the forecast map, the GIS formats and their QGIS style.

:func:`planner_files` makes, from the published forecast table, the files of a publication
beside the CSV and the GeoJSON (:data:`beatwise.artefacts.manifest.PUBLISHED_FILES`):

- ``forecast_map.html``: the map page, offline and printable (:mod:`models.planner.map`);
- ``forecast.gpkg`` and ``forecast.parquet``: the GeoJSON's hexagons and columns as GeoPackage
  and GeoParquet (:mod:`models.planner.gis`);
- ``forecast.qml``: a QGIS style for those layers (:mod:`models.planner.qml`);
- ``forecast_bands.csv``: when in the week each flagged cell's expected crime falls
  (:mod:`models.planner.bands`);
- ``district_sheets.html`` and ``district_sheets.pdf``: a sheet per district, its flagged cells
  on its map, its share of the flags against its share of the expected crime and its busiest
  hours (:mod:`models.planner.sheets`).

Each is a pure function of the table, the study areas and the run's params: the same forecast
gives the same bytes, as the manifest's hashes promise.
"""

from __future__ import annotations

import logging
import time

import geopandas as gpd
import pandas as pd

from beatwise.artefacts.panel import PanelMeta
from models.planner.bands import busiest_bands, forecast_bands_csv, hours_note
from models.planner.gis import forecast_frame, forecast_geoparquet, forecast_gpkg
from models.planner.map import district_outlines, forecast_map_html, period_in_words
from models.planner.qml import forecast_qml
from models.planner.sheets import district_sheets
from models.timebands import ForecastBands
from models.track_record import TrackRecord

__all__ = ["planner_files"]

logger = logging.getLogger(__name__)


def planner_files(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    panel: PanelMeta,
    coverage: float,
    interval_level: float,
    audit_status: str,
    bands: ForecastBands,
    track: TrackRecord | None = None,
) -> dict[str, bytes]:
    """The map, the GeoPackage, the GeoParquet, the QGIS style, the time bands and the district
    sheets of one forecast, by file name.

    Parameters
    ----------
    table
        The published forecast table (:func:`models.publication.forecast_next_period`).
    areas
        The study areas (``data/interim/areas.parquet``): their outlines, dissolved by district,
        are the map's boundaries. With none (a source without areas) the map has no boundaries.
    panel
        ``panel_meta.json``: the forecast period and what the forecast counts.
    coverage, interval_level
        ``operational.coverage`` and ``publish.interval_level``, named in the legends.
    audit_status
        The audit's word, shown under the map's title.
    bands
        The forecast week's time bands (:func:`models.timebands.forecast_bands`), in the
        table's row order: ``forecast_bands.csv``, each flagged cell's busiest hours on the map
        and each district's on its sheet.
    track
        How recent forecasts did (:mod:`models.track_record`), the map's panel under the legend;
        without it the map has no such panel.
    """
    started = time.perf_counter()
    when = period_in_words(panel.forecast_period, period=panel.period)
    frame = forecast_frame(table)
    busiest = busiest_bands(table, bands)
    page = forecast_map_html(
        table,
        district_outlines(areas),
        period=panel.period,
        period_start=panel.forecast_period,
        coverage=coverage,
        interval_level=interval_level,
        target_types=panel.target_types,
        audit_status=audit_status,
        busiest=busiest,
        hours_note=hours_note(bands),
        track=track,
    )
    files = {
        "forecast.gpkg": forecast_gpkg(frame, period_start=panel.forecast_period),
        "forecast.parquet": forecast_geoparquet(frame),
        "forecast.qml": forecast_qml(coverage=coverage, period_words=when).encode("utf-8"),
        "forecast_map.html": page.encode("utf-8"),
        "forecast_bands.csv": forecast_bands_csv(table, bands),
        **district_sheets(
            table,
            areas,
            panel=panel,
            coverage=coverage,
            interval_level=interval_level,
            audit_status=audit_status,
            bands=bands,
            busiest=busiest,
        ),
    }
    logger.info(
        "planner files: map %.0f kB, GeoPackage %.0f kB, GeoParquet %.0f kB, in %.1f s",
        len(files["forecast_map.html"]) / 1e3,
        len(files["forecast.gpkg"]) / 1e3,
        len(files["forecast.parquet"]) / 1e3,
        time.perf_counter() - started,
    )
    return files
