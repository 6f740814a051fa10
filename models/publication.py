"""Publication: whether the audit lets a forecast out, the forecast itself, its manifest, and
what a run does with them.

What the ``publish`` stage computes. A hard audit failure stops publication before a forecast is
written (``AuditReport.check_publishable`` in :mod:`beatwise.artefacts.audit`), and so do an
``audit.json`` that is not the file the audit stage wrote (:func:`read_documents`: its md5 against
the one DVC recorded in ``dvc.lock``) and a grid finer than ``publish.max_resolution``
(:func:`check_resolution`, gate G9 again). The forecast is scored for the period
``panel_meta.json`` records; the candidate set (:func:`candidate_set`) is the forecast (CSV,
GeoJSON, and the map page, GIS formats, QGIS style, time bands and district sheets of
:mod:`models.planner`), the documents
that approved it, and a manifest naming each file's sha256. Every run writes it as a
DVC output (:func:`write_candidate`); only a deliberate ``dvc repro`` of the committed
configuration (:mod:`beatwise.runs`) copies it into the published area
(:mod:`beatwise.publications`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from beatwise.artefacts.audit import AuditReport, PublicationBlockedError
from beatwise.artefacts.manifest import PUBLISHED_FILES, Manifest, PublishedOverride
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.publication import PublicationRecord
from beatwise.artefacts.timebands import TimeBandsBacktest
from beatwise.io import json_text, read_parquet, sha256_bytes, write_bytes, write_text
from beatwise.publications import Published
from beatwise.runs import RunContext, md5_bytes, recorded_md5
from models.allocation import AllocationPolicy
from models.blend_serving import blended_forecast
from models.evaluation import EVENT_COLUMNS, EvaluateConfig
from models.forecast import (
    build_forecast_table,
    forecast_csv,
    forecast_geojson,
    forecast_period_rows,
)
from models.planner import planner_files
from models.risk_model import RiskModel
from models.timebands import ForecastBands, TimeBandsConfig, forecast_bands, window_start
from models.track_record import TrackRecord
from models.track_record import read_track_record as read_track_record  # the stage's reader

if TYPE_CHECKING:
    from models.audit import AuditOverride

logger = logging.getLogger(__name__)


def check_resolution(h3_resolution: int, *, max_resolution: int) -> None:
    """Raise :class:`PublicationBlockedError` when the cells are finer than may be published."""
    if h3_resolution > max_resolution:
        raise PublicationBlockedError(
            f"Cells at H3 resolution {h3_resolution} are finer than "
            f"publish.max_resolution={max_resolution}; not published.",
            blocked_by=("G9",),
        )


def forecast_next_period(
    features: pd.DataFrame,
    cells: pd.DataFrame,
    model: RiskModel,
    *,
    panel: PanelMeta,
    model_meta: ModelMeta,
    coverage: float,
    interval_level: float,
    audit_status: str,
    policy: AllocationPolicy | None = None,
    event_cells: Path | None = None,
    baseline_config: EvaluateConfig | None = None,
) -> pd.DataFrame:
    """The published forecast table of the panel's forecast period (see
    :func:`models.forecast.build_forecast_table`), scored by ``model``, which must be the one
    fitted through the refresh schedule's fit point (:mod:`features.refresh`).

    When ``model_meta`` records a blend (``train.blend``), the expected count is the blend of the
    model's and the recorded baselines' expected counts with the recorded weights
    (:func:`models.blend_serving.blended_forecast`); the baselines are scored from
    ``event_cells.parquet`` with the ``evaluate`` knobs (``baseline_config``), both then required.

    With a declared allocation ``policy`` (``operational.policy``) the ``flagged`` column caps each
    stratum's share of the flagged area, as the audit caps the flags it judges; the columns are the
    same either way.
    """
    fitted = model_meta.trained_periods[1]
    if fitted != panel.fitted_through:
        raise ValueError(
            f"the model was fitted through {fitted}, but panel_meta.json says the model serving "
            f"it is fitted through {panel.fitted_through} (the refresh schedule's fit point): "
            "run dvc repro, so that train and evaluate see the fit set build_features wrote."
        )
    start, rows = forecast_period_rows(features, cells, panel=panel)
    scores = model.predict(rows)
    if model_meta.blend is not None:
        if event_cells is None or baseline_config is None:
            raise ValueError(
                "model_meta.json records a blend, so the forecast needs event_cells.parquet and "
                "the evaluate params to score its baselines."
            )
        scores = blended_forecast(
            scores,
            model_meta.blend,
            read_parquet(event_cells, columns=EVENT_COLUMNS),
            cells,
            panel=panel,
            forecast_period=start.date(),
            config=baseline_config,
        )
        logger.info(
            "the expected count is a blend of %s with weights %s",
            list(model_meta.blend.parts),
            list(model_meta.blend.weights),
        )
    if policy is not None:
        logger.info(
            "flags follow the allocation policy of %s (%s): no stratum of cells by %s holds more "
            "than %g of the flagged area",
            policy.approved_by,
            policy.date,
            policy.label,
            policy.max_share,
        )
    return build_forecast_table(
        cells,
        scores,
        period_start=start,
        period=panel.period,
        coverage=coverage,
        interval_level=interval_level,
        model_version=model_meta.model_version,
        mlflow_run_id=model_meta.mlflow_run_id,
        audit_status=audit_status,
        policy=policy,
    )


def read_forecast_bands(
    event_cells: Path,
    time_bands: Path,
    cells: pd.DataFrame,
    *,
    panel: PanelMeta,
    config: TimeBandsConfig,
) -> ForecastBands:
    """The forecast week's time bands from ``event_cells.parquet`` with the window the backtest
    of the bands chose (``reports/time_bands.json``), or why there are none."""
    backtest = TimeBandsBacktest.read(time_bands)
    if not backtest.available or backtest.history_periods is None:
        return forecast_bands(pd.DataFrame(), cells, panel=panel, backtest=backtest, config=config)
    # only the window's events, not every year of them (row groups before it are skipped)
    start = window_start(panel.all_periods, history_periods=backtest.history_periods)
    events = read_parquet(
        event_cells, columns=("h3_int", "timestamp", "crime_type"), since=("timestamp", start)
    )
    return forecast_bands(events, cells, panel=panel, backtest=backtest, config=config)


def build_manifest(
    table: pd.DataFrame,
    *,
    panel: PanelMeta,
    model_meta: ModelMeta,
    audit: AuditReport,
    coverage: float,
    override: AuditOverride | None,
    params_digest: str,
    files: Mapping[str, bytes],
    time_bands_note: str | None = None,
) -> Manifest:
    """The manifest of a forecast set: its period, size, model, audit, and each file's sha256.

    Parameters
    ----------
    table
        The published forecast table (:func:`forecast_next_period`).
    audit
        The audit that approved publication: its status word and ``publishable``.
    override
        ``publish.override``: recorded in the manifest and logged as a warning.
    files
        The bytes of each file the manifest names, by its name in a publication
        (:data:`~beatwise.artefacts.manifest.PUBLISHED_FILES` but the manifest itself).
    time_bands_note
        Why the forecast has no time bands; None when it has them.
    """
    if override:
        logger.warning(
            "PUBLISHED UNDER OVERRIDE by %s on %s: %s",
            override.approving_body,
            override.date,
            override.reason,
        )
    return Manifest(
        period=panel.period,
        forecast_period=panel.forecast_period,
        n_cells=len(table),
        n_flagged=int(table["flagged"].sum()),
        coverage=coverage,
        h3_resolution=panel.h3_resolution,
        forecast_csv_sha256=sha256_bytes(files["forecast.csv"]),
        forecast_geojson_sha256=sha256_bytes(files["forecast.geojson"]),
        forecast_gpkg_sha256=sha256_bytes(files["forecast.gpkg"]),
        forecast_parquet_sha256=sha256_bytes(files["forecast.parquet"]),
        forecast_qml_sha256=sha256_bytes(files["forecast.qml"]),
        forecast_map_sha256=sha256_bytes(files["forecast_map.html"]),
        forecast_bands_sha256=sha256_bytes(files["forecast_bands.csv"]),
        district_sheets_html_sha256=sha256_bytes(files["district_sheets.html"]),
        district_sheets_pdf_sha256=sha256_bytes(files["district_sheets.pdf"]),
        time_bands_note=time_bands_note,
        bias_report_sha256=sha256_bytes(files["bias_report.html"]),
        model_card_sha256=sha256_bytes(files["model_card.md"]),
        audit_sha256=sha256_bytes(files["audit.json"]),
        transparency_record_md_sha256=sha256_bytes(files["transparency_record.md"]),
        transparency_record_json_sha256=sha256_bytes(files["transparency_record.json"]),
        model_version=model_meta.model_version,
        mlflow_run_id=model_meta.mlflow_run_id,
        registered_model=f"{model_meta.registered_model}/{model_meta.registered_version}",
        audit_status=audit.status,
        audit_publishable=audit.publishable,
        override=(
            PublishedOverride.model_validate(override.model_dump(mode="json")) if override else None
        ),
        params_hash=params_digest,
    )


@dataclass(frozen=True)
class Documents:
    """The audit, the bias report and the model card, each read once: the bytes checked and
    hashed are the bytes published."""

    audit: AuditReport
    audit_json: bytes
    bias_report: bytes
    model_card: bytes
    #: the transparency record, Markdown and JSON, which the report and the card link by name
    record_md: bytes
    record_json: bytes


def read_documents(*, audit: Path, report: Path, card: Path, lock_path: Path | None) -> Documents:
    """Read the documents behind a forecast, checking that each is the file the audit stage wrote
    before trusting the verdict in ``audit.json``.

    DVC records the md5 of each output in ``lock_path`` (``dvc.lock``) as soon as its stage
    finishes; a file edited since (a hand-set ``publishable: true``, a retouched report) no longer
    matches. The verdict is then read through :class:`AuditReport`, which refuses a
    ``publishable`` that its own gates contradict. Each file is read once: the bytes checked are
    the bytes hashed into the manifest and published.

    Parameters
    ----------
    lock_path
        ``dvc.lock``; None for a run by hand, outside DVC, which publishes nothing and is not
        checked.

    Raises
    ------
    PublicationBlockedError
        ``blocked_by`` names each file (``audit.json``, ``bias_report.html``, ``model_card.md``,
        the transparency record) whose md5 differs from the recorded one, or has none recorded.
    beatwise.artefacts.ArtefactError
        ``audit.json`` does not match its definition, or its verdict contradicts its gates.
    """
    # the audit stage writes its documents into one folder (it refuses otherwise), and the report
    # and the card link the transparency record there by name: it travels with them
    paths = {
        "audit.json": audit,
        "bias_report.html": report,
        "model_card.md": card,
        "transparency_record.md": Path(report).parent / "transparency_record.md",
        "transparency_record.json": Path(report).parent / "transparency_record.json",
    }
    missing = [str(path) for path in paths.values() if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"The audit stage's documents are incomplete: {missing} do not exist. Run the audit "
            "stage again (dvc repro)."
        )
    data = {name: Path(path).read_bytes() for name, path in paths.items()}
    if lock_path is not None:
        changed = []
        for name, path in paths.items():
            recorded, actual = recorded_md5(path, lock_path=lock_path), md5_bytes(data[name])
            if recorded != actual:
                found = f"records md5 {recorded}" if recorded else "records no md5 for it"
                changed.append((name, f"{path} has md5 {actual}, and {lock_path} {found}"))
        if changed:
            raise PublicationBlockedError(
                "Not the documents the audit stage wrote: "
                + "; ".join(why for _, why in changed)
                + ". Nothing was published; run the audit stage again (dvc repro) instead of "
                "editing what it wrote.",
                blocked_by=tuple(name for name, _ in changed),
            )
    return Documents(
        audit=AuditReport.from_json(json.loads(data["audit.json"]), source=str(audit)),
        audit_json=data["audit.json"],
        bias_report=data["bias_report.html"],
        model_card=data["model_card.md"],
        record_md=data["transparency_record.md"],
        record_json=data["transparency_record.json"],
    )


def approve(
    *,
    audit: Path,
    report: Path,
    card: Path,
    panel_meta: Path,
    lock_path: Path | None,
    max_resolution: int,
) -> tuple[Documents, PanelMeta]:
    """Every check before a forecast is made: ``audit.json`` is the audit stage's
    (:func:`read_documents`), its verdict allows publication, and the cells are not finer than
    ``max_resolution``. Returns the documents and the panel's meta; raises
    :class:`PublicationBlockedError` naming what blocks."""
    documents = read_documents(audit=audit, report=report, card=card, lock_path=lock_path)
    documents.audit.check_publishable()
    panel = PanelMeta.read(panel_meta)
    check_resolution(panel.h3_resolution, max_resolution=max_resolution)
    return documents, panel


def candidate_set(
    table: pd.DataFrame,
    documents: Documents,
    *,
    areas: gpd.GeoDataFrame,
    panel: PanelMeta,
    model_meta: ModelMeta,
    coverage: float,
    interval_level: float,
    override: AuditOverride | None,
    params_digest: str,
    bands: ForecastBands,
    track: TrackRecord | None = None,
) -> tuple[Manifest, dict[str, bytes]]:
    """The forecast set a run publishes, or would: each file of a publication by name, the
    manifest last (:data:`beatwise.artefacts.manifest.PUBLISHED_FILES`).

    The forecast comes as CSV and GeoJSON, as GeoPackage, GeoParquet and a QGIS style, as the
    map page, whose boundaries are the study ``areas`` by district and whose side panel shows how
    recent forecasts did (``track``, of :func:`read_track_record`: the backtest's last periods and
    the scored publications), and as a sheet per district (HTML and PDF; :mod:`models.planner`).
    """
    files = {
        "forecast.csv": forecast_csv(table).encode("utf-8"),
        "forecast.geojson": (forecast_geojson(table) + "\n").encode("utf-8"),
        **planner_files(
            table,
            areas,
            panel=panel,
            coverage=coverage,
            interval_level=interval_level,
            audit_status=documents.audit.status,
            bands=bands,
            track=track,
        ),
        "bias_report.html": documents.bias_report,
        "model_card.md": documents.model_card,
        "audit.json": documents.audit_json,
        "transparency_record.md": documents.record_md,
        "transparency_record.json": documents.record_json,
    }
    manifest = build_manifest(
        table,
        panel=panel,
        model_meta=model_meta,
        audit=documents.audit,
        coverage=coverage,
        override=override,
        params_digest=params_digest,
        files=files,
        time_bands_note=bands.reason,
    )
    files["manifest.json"] = json_text(manifest.to_json()).encode("utf-8")
    return manifest, files


#: written in place of the forecast when a run is blocked: why there is none
BLOCKED_NOTE = "blocked.txt"


def clear_candidate(folder: Path) -> None:
    """Remove a previous run's candidate files (DVC removes them itself; a run by hand does not),
    so that a blocked run never leaves an older forecast looking like its own."""
    for name in (*PUBLISHED_FILES, BLOCKED_NOTE):
        (Path(folder) / name).unlink(missing_ok=True)
    Path(folder).mkdir(parents=True, exist_ok=True)


def write_candidate(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write the candidate set into ``folder`` (a DVC output), each file atomically."""
    for name in PUBLISHED_FILES:
        write_bytes(Path(folder) / name, files[name])


def record_blocked(
    folder: Path, record_path: Path, error: PublicationBlockedError, *, run: RunContext
) -> PublicationRecord:
    """Write a blocked run's outputs: no forecast, a note saying why, and its record."""
    clear_candidate(folder)
    write_text(Path(folder) / BLOCKED_NOTE, f"{error}\n")
    record = PublicationRecord(
        status="blocked", run=run.kind, blocked_by=", ".join(error.blocked_by)
    )
    record.write(record_path)
    return record


def record_candidate(
    manifest: Manifest, record_path: Path, *, run: RunContext, published: Published | None
) -> PublicationRecord:
    """Write the record of a run that wrote a forecast, published or not."""
    record = PublicationRecord(
        status="published" if published is not None else "candidate",
        run=run.kind,
        period=manifest.period,
        forecast_period=manifest.forecast_period,
        n_cells=manifest.n_cells,
        n_flagged=manifest.n_flagged,
        audit_status=manifest.audit_status,
        folder=published.folder.name if published is not None else None,
    )
    record.write(record_path)
    m = manifest
    logger.info("%s: %d cells, %s of %s", record.status, m.n_cells, m.period, m.forecast_period)
    logger.info("%d cells flagged at coverage %s", m.n_flagged, m.coverage)
    if run.kind == "uncommitted":
        logger.error(
            "Nothing was published: %s. Planners receive only the committed configuration: "
            "commit params.yaml and run dvc repro again, or try params with dvc exp run.",
            run.reason,
        )
    return record


def exit_code(run: RunContext, *, blocked: bool) -> int:
    """The stage's exit code: 0 when it did what it was run for.

    An experiment always exits 0, so that DVC keeps a blocked experiment's metrics and audit (the
    block is in ``reports/publication.json``). A run that may publish but is blocked exits 1, as
    does a ``dvc repro`` of uncommitted params, which publishes nothing: DVC then does not record
    the stage as done, and the ``dvc repro`` after the commit publishes.
    """
    if run.kind == "experiment":
        return 0
    return 1 if blocked or run.kind == "uncommitted" else 0
