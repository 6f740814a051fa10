"""A toy run on disk for the scorecard's tests: 19 cells, 40 weeks, a real backtest, a publication.

The city is the backtest tests' (:mod:`backtest_city`), with the published week's events added.

:func:`write_toy_run` lays out what ``beatwise score`` reads, as ``dvc.yaml`` names the files: the
events mapped to cells (with or without the published week's), the cells, the panel's and cells'
meta, the data-quality summary, the backtest (``models.evaluation.run_backtest`` on the toy panel,
with its metrics and ``reports/compare/pai_by_period.csv``) and one publication of the week after
the data (:data:`PUBLISHED_WEEK`), built by ``models.forecast.build_forecast_table``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import yaml
from backtest_city import (
    CONFIG,
    MODEL,
    N_PERIODS,
    PERIODS,
    city_cells,
    weekly_burglaries,
    weekly_panel,
)
from stage_files import data_quality

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.manifest import Manifest
from beatwise.io import json_text, sha256_bytes, write_json
from beatwise.publications import publish_set
from models.evaluation import BacktestResult, run_backtest
from models.forecast import build_forecast_table, forecast_csv
from models.plot_data import write_plot_data

#: the forecast week of the publication: the week after the city's data
PUBLISHED_WEEK = dt.date(2023, 10, 9)
COVERAGE = 0.1


@dataclass(frozen=True)
class ToyRun:
    """What the toy run holds, for the tests to check the scorecard against."""

    repo: Path
    cells: pd.DataFrame
    #: target events per week and cell, ``[week, cell]``, the published week last
    counts: np.ndarray
    #: the published forecast table
    table: pd.DataFrame
    result: BacktestResult


def toy_cells() -> pd.DataFrame:
    """The city's nineteen cells (:func:`backtest_city.city_cells`), all in the district Centre."""
    return city_cells().assign(district_name="Centre")


def toy_events(cells: pd.DataFrame, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Burglaries over the 41 weeks (the published week included), and their counts."""
    events, counts = weekly_burglaries(cells, n_weeks=N_PERIODS + 1, seed=seed)
    ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    # robberies (not a target type) late on the last two Sundays, so that the events cover both
    # weeks whole, and a burglary in the published week in a cell outside the study area
    outside = np.uint64(h3.str_to_int(h3.latlng_to_cell(51.6, -0.3, 8)))
    sunday_night = np.timedelta64(6 * 24 + 23, "h")
    extra = pd.DataFrame(
        {
            "h3_int": np.array([ids[0], ids[0], outside], dtype=np.uint64),
            "timestamp": np.array(
                [
                    PERIODS[-2] + sunday_night,
                    PERIODS[-1] + sunday_night,
                    PERIODS[-1] + np.timedelta64(1, "D"),
                ]
            ),
            "crime_type": ["robbery", "robbery", "burglary"],
        }
    )
    events = pd.concat([events, extra], ignore_index=True)
    return events.sort_values("timestamp", kind="stable").reset_index(drop=True), counts


def publication_files(table: pd.DataFrame, *, week: dt.date) -> dict[str, bytes]:
    """A publication's files around ``table``, its manifest naming the others' sha256."""
    files = {
        "forecast.csv": forecast_csv(table).encode(),
        "forecast.geojson": b'{"type": "FeatureCollection", "features": []}\n',
        "forecast.gpkg": b"SQLite format 3\x00 (a stand-in)",
        "forecast.parquet": b"PAR1 (a stand-in) PAR1",
        "forecast.qml": b"<!DOCTYPE qgis><qgis/>\n",
        "forecast_map.html": b"<html><body>The map.</body></html>\n",
        "forecast_bands.csv": b"h3_cell,risk_rank,district_name,band\n",
        "district_sheets.html": b"<html><body>The district sheets.</body></html>\n",
        "district_sheets.pdf": b"%PDF-1.4 (a stand-in) %%EOF\n",
        "bias_report.html": b"<html><body>Publishable.</body></html>\n",
        "model_card.md": b"# Model card\n",
        "audit.json": b'{"publishable": true}\n',
        "transparency_record.md": b"# Transparency record\n",
        "transparency_record.json": b'{"metadata": {"phase": "research"}}\n',
    }
    manifest = Manifest(
        period="week",
        forecast_period=week,
        n_cells=len(table),
        n_flagged=int(table["flagged"].sum()),
        coverage=COVERAGE,
        h3_resolution=8,
        forecast_csv_sha256=sha256_bytes(files["forecast.csv"]),
        forecast_geojson_sha256=sha256_bytes(files["forecast.geojson"]),
        forecast_gpkg_sha256=sha256_bytes(files["forecast.gpkg"]),
        forecast_parquet_sha256=sha256_bytes(files["forecast.parquet"]),
        forecast_qml_sha256=sha256_bytes(files["forecast.qml"]),
        forecast_map_sha256=sha256_bytes(files["forecast_map.html"]),
        forecast_bands_sha256=sha256_bytes(files["forecast_bands.csv"]),
        district_sheets_html_sha256=sha256_bytes(files["district_sheets.html"]),
        district_sheets_pdf_sha256=sha256_bytes(files["district_sheets.pdf"]),
        bias_report_sha256=sha256_bytes(files["bias_report.html"]),
        model_card_sha256=sha256_bytes(files["model_card.md"]),
        audit_sha256=sha256_bytes(files["audit.json"]),
        transparency_record_md_sha256=sha256_bytes(files["transparency_record.md"]),
        transparency_record_json_sha256=sha256_bytes(files["transparency_record.json"]),
        model_version="88cc1ef0214d",
        mlflow_run_id="c134743e6c6d4bf1bd526e05208afdd6",
        registered_model="beatwise-risk/1",
        audit_status="pass",
        audit_publishable=True,
        override=None,
        params_hash="f67132828f00dd99",
    )
    return files | {"manifest.json": json_text(manifest.to_json()).encode()}


def forecast_table(cells: pd.DataFrame, scores: np.ndarray, *, week: dt.date) -> pd.DataFrame:
    """The published table of ``scores`` for ``week`` at :data:`COVERAGE`."""
    return build_forecast_table(
        cells,
        scores,
        period_start=pd.Timestamp(week),
        period="week",
        coverage=COVERAGE,
        interval_level=0.8,
        model_version="88cc1ef0214d",
        mlflow_run_id="c134743e6c6d4bf1bd526e05208afdd6",
        audit_status="pass",
    )


def write_toy_run(repo: Path, *, ingested: bool = True) -> ToyRun:
    """The toy run's files under ``repo``; ``ingested``: with the published week's events."""
    cells = toy_cells()
    events, counts = toy_events(cells)
    features, meta = weekly_panel(cells, counts)
    result = run_backtest(
        features,
        cells,
        events[events["timestamp"] < PERIODS[-1]],
        meta,
        config=CONFIG,
        model_config=MODEL,
        coverage=COVERAGE,
    )
    if not ingested:
        events = events[events["timestamp"] < PERIODS[-1]]
    processed = repo / "data/processed"
    processed.mkdir(parents=True, exist_ok=True)
    events.to_parquet(processed / "event_cells.parquet")
    cells.to_parquet(processed / "cells.parquet")
    result.frame.to_parquet(processed / "backtest.parquet")
    meta.write(processed / "panel_meta.json")
    CellsMeta(h3_resolution=8, n_cells=len(cells), study_area="events_only").write(
        processed / "cells_meta.json"
    )
    write_json(repo / "reports/data_quality.json", data_quality())
    result.metrics.write(repo / "reports/backtest_metrics.json")
    write_plot_data(result, repo / "reports/compare")
    params = {"evaluate": CONFIG.model_dump()}
    (repo / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    # the model's forecast of the published week: last week's count plus a little history
    scores = counts[N_PERIODS - 1] + counts[:N_PERIODS].mean(axis=0) / 10
    table = forecast_table(cells, scores, week=PUBLISHED_WEEK)
    publish_set(repo / "data/published", publication_files(table, week=PUBLISHED_WEEK))
    return ToyRun(repo=repo, cells=cells, counts=counts, table=table, result=result)
