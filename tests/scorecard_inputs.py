"""A toy run on disk for the scorecard's tests: 19 cells, 40 weeks, a real backtest, a publication.

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
from stage_files import data_quality

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.manifest import Manifest
from beatwise.artefacts.panel import PanelMeta
from beatwise.h3index import cell_areas_km2, cell_centroids, cells_to_str
from beatwise.io import json_text, sha256_bytes, write_json
from beatwise.period import PERIOD_COLUMN
from beatwise.publications import publish_set
from models.evaluation import BacktestResult, EvaluateConfig, run_backtest
from models.forecast import build_forecast_table, forecast_csv
from models.plot_data import write_plot_data
from models.risk_model import RiskModelConfig

N_PERIODS = 40  # weeks of data; the published week is the one after them
FIRST = 4  # first week with a feature row
PERIODS = pd.date_range("2023-01-02", periods=N_PERIODS + 1, freq="7D").to_numpy()
PUBLISHED_WEEK = dt.date(2023, 10, 9)
COVERAGE = 0.1
#: the evaluate params of the toy run (the baselines' knobs are read from params.yaml)
CONFIG = EvaluateConfig(
    backtest_periods=8,
    refit_every=4,
    min_train_periods=12,
    n_boot=100,
    kde_periods=2,
    hotspot_periods=2,
)
MODEL = RiskModelConfig(
    min_data_in_leaf=5, num_leaves=4, max_rounds=30, validation_periods=2, num_threads=1
)


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
    """Nineteen resolution-8 cells in London (two rings around a centre), ascending by id."""
    centre = h3.latlng_to_cell(51.5, -0.12, 8)
    ids = np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, 2)], dtype=np.uint64))
    lat, lon = cell_centroids(ids)
    return pd.DataFrame(
        {
            "h3_cell": cells_to_str(ids),
            "h3_int": ids,
            "lat": lat,
            "lon": lon,
            "area_km2": cell_areas_km2(ids),
            "district_name": "Centre",
        }
    )


def toy_events(cells: pd.DataFrame, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Burglaries over the 41 weeks (the published week included), and their counts."""
    ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 1.5, size=ids.size)
    counts = rng.poisson(np.tile(rate, (N_PERIODS + 1, 1)))
    week, cell = np.nonzero(counts)
    reps = counts[week, cell]
    events = pd.DataFrame(
        {
            "h3_int": np.repeat(ids[cell], reps),
            "timestamp": np.repeat(PERIODS[week], reps)
            + pd.to_timedelta(rng.integers(0, 7 * 24, reps.sum()), unit="h"),
            "crime_type": "burglary",
        }
    )
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


def toy_features(cells: pd.DataFrame, counts: np.ndarray) -> tuple[pd.DataFrame, PanelMeta]:
    """Two leakage-free features per cell-week and the panel meta, the published week last."""
    ids = cells["h3_int"].to_numpy()
    padded = np.vstack([counts[:N_PERIODS], np.zeros((1, ids.size))]).astype(float)
    history = np.cumsum(np.vstack([np.zeros((1, ids.size)), padded[:-1]]), axis=0)
    rows = np.arange(FIRST, N_PERIODS + 1)
    features = pd.DataFrame(
        {
            "h3_cell": np.tile(cells["h3_cell"].to_numpy(), rows.size),
            PERIOD_COLUMN: np.repeat(PERIODS[rows], ids.size),
            "cnt_lag1w": padded[rows - 1].ravel(),
            "cnt_mean_hist": (history[rows] / rows[:, None]).ravel(),
            "target_count": padded[rows].ravel(),
        }
    )
    features.loc[features[PERIOD_COLUMN] == PERIODS[-1], "target_count"] = np.nan
    day = [PERIODS[i].astype("datetime64[D]").item() for i in (0, FIRST, N_PERIODS - 1, -1)]
    meta = PanelMeta(
        period="week",
        source="synthetic",
        time_resolution="sub_day",
        h3_resolution=8,
        target_types=("burglary",),
        feature_types=("burglary",),
        static_covariates=(),
        feature_columns=("cnt_lag1w", "cnt_mean_hist"),
        first_period=day[1],
        last_complete_period=day[2],
        forecast_period=day[3],
        all_periods=(day[0], day[2]),
        n_cells=ids.size,
        n_periods=N_PERIODS,
        n_rows=len(features),
    )
    return features, meta


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
    features, meta = toy_features(cells, counts)
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
