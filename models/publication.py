"""Publication: whether the audit lets a forecast out, the forecast itself, and its manifest.

What the ``publish`` stage computes. A hard audit failure stops publication before anything is
written (``AuditReport.check_publishable`` in :mod:`beatwise.artefacts.audit`), and so does a
grid finer than ``publish.max_resolution`` (:func:`check_resolution`, gate G9 again, in case
``audit.json`` was edited by hand). The
forecast is scored for the period ``panel_meta.json`` records, and the manifest names it, its
files, the model and the audit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from beatwise.artefacts.audit import AuditReport, PublicationBlockedError
from beatwise.artefacts.manifest import Manifest, PublishedOverride
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import sha256_file
from models.allocation import AllocationPolicy
from models.forecast import build_forecast_table, forecast_period_rows
from models.risk_model import RiskModel

if TYPE_CHECKING:
    from models.audit import AuditOverride

logger = logging.getLogger(__name__)


def check_resolution(h3_resolution: int, *, max_resolution: int) -> None:
    """Raise :class:`PublicationBlockedError` when the cells are finer than may be published."""
    if h3_resolution > max_resolution:
        raise PublicationBlockedError(
            f"Cells at H3 resolution {h3_resolution} are finer than "
            f"publish.max_resolution={max_resolution}; not published."
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
) -> pd.DataFrame:
    """The published forecast table of the panel's forecast period (see
    :func:`models.forecast.build_forecast_table`), scored by ``model``.

    With a declared allocation ``policy`` (``operational.policy``) the ``flagged`` column caps each
    stratum's share of the flagged area, as the audit caps the flags it judges; the columns are the
    same either way.
    """
    start, rows = forecast_period_rows(features, cells, panel=panel)
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
        model.predict(rows),
        period_start=start,
        period=panel.period,
        coverage=coverage,
        interval_level=interval_level,
        model_version=model_meta.model_version,
        mlflow_run_id=model_meta.mlflow_run_id,
        audit_status=audit_status,
        policy=policy,
    )


def build_manifest(
    table: pd.DataFrame,
    *,
    panel: PanelMeta,
    model_meta: ModelMeta,
    audit: AuditReport,
    coverage: float,
    override: AuditOverride | None,
    params_digest: str,
    forecast_csv: Path,
    forecast_geojson: Path,
    bias_report: Path,
) -> Manifest:
    """The manifest of a forecast whose CSV and GeoJSON are already written.

    Parameters
    ----------
    table
        The published forecast table (:func:`forecast_next_period`).
    audit
        The audit that approved publication: its status word and ``publishable``.
    override
        ``publish.override``: recorded in the manifest and logged as a warning.
    forecast_csv, forecast_geojson, bias_report
        The written files, named in the manifest by their sha256.
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
        forecast_csv_sha256=sha256_file(forecast_csv),
        forecast_geojson_sha256=sha256_file(forecast_geojson),
        bias_report_sha256=sha256_file(bias_report),
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
