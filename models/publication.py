"""Publication: whether the audit lets a forecast out, the forecast itself, and its manifest.

What the ``publish`` stage computes. A hard audit failure stops publication before anything is
written (:func:`check_publishable`), and so does a grid finer than ``publish.max_resolution``
(:func:`check_resolution`, gate G9 again, in case ``audit.json`` was edited by hand). The
forecast is scored for the period ``panel_meta.json`` records, and the manifest names it, its
files, the model and the audit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from beatwise.artefacts.manifest import AuditStatus, Manifest, PublishedOverride
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import sha256_file
from models.forecast import build_forecast_table, forecast_period_rows
from models.risk_model import RiskModel

if TYPE_CHECKING:
    from models.audit import AuditOverride

logger = logging.getLogger(__name__)


class PublicationBlockedError(RuntimeError):
    """The audit (or gate G9's resolution limit) does not allow publication."""


def audit_status(audit: dict[str, Any]) -> AuditStatus:
    """One word for planners: pass, pass with review, or override (from ``audit.json``)."""
    if audit.get("override_applied"):
        return "override"
    statuses = {g.get("status") for g in audit.get("gates", {}).values()}
    return "pass with review" if "REVIEW" in statuses else "pass"


def check_publishable(audit: dict[str, Any]) -> None:
    """Raise :class:`PublicationBlockedError` naming each blocking gate and its figure."""
    if audit.get("publishable") is True:
        return
    lines = []
    for name in audit.get("blocking_gates") or sorted(audit.get("gates", {})):
        gate = audit["gates"].get(name, {})
        if gate.get("status") == "PASS":
            continue
        lines.append(
            f"{name} {gate.get('status')}: value {gate.get('value')} "
            f"(95% interval {gate.get('ci_low')} to {gate.get('ci_high')}; "
            f"band {gate.get('band')}). "
            f"{gate.get('explanation', '')}".strip()
        )
    raise PublicationBlockedError(
        "Publication blocked by the bias audit; no forecast was written and the last published "
        "forecast is unchanged.\n  " + "\n  ".join(lines or ["audit.json says not publishable"])
    )


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
) -> pd.DataFrame:
    """The published forecast table of the panel's forecast period (see
    :func:`models.forecast.build_forecast_table`), scored by ``model``."""
    start, rows = forecast_period_rows(features, cells, panel=panel)
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
    )


def build_manifest(
    table: pd.DataFrame,
    *,
    panel: PanelMeta,
    model_meta: ModelMeta,
    audit: dict[str, Any],
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
        ``audit.json``: its status word and ``publishable``.
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
        audit_status=audit_status(audit),
        audit_publishable=bool(audit.get("publishable")),
        override=(
            PublishedOverride.model_validate(override.model_dump(mode="json")) if override else None
        ),
        params_hash=params_digest,
    )
