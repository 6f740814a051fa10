"""Publication: the audit gate, the resolution gate, the forecast of the panel's period and its
manifest (typed, and written back byte for byte)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from audit_inputs import audited_city_report, pass_with_review
from stage_files import panel_meta, toy_cells

from beatwise.artefacts.audit import AuditReport, PublicationBlockedError
from beatwise.artefacts.manifest import Manifest
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from models.audit import AuditOverride
from models.forecast import forecast_csv, forecast_geojson
from models.publication import (
    build_manifest,
    check_resolution,
    forecast_next_period,
)


@pytest.fixture(scope="module")
def review() -> AuditReport:
    """A publishable audit whose G2 is in review: planners read "pass with review"."""
    return pass_with_review(audited_city_report())


def test_cells_finer_than_the_limit_are_not_published() -> None:
    check_resolution(9, max_resolution=9)
    with pytest.raises(
        PublicationBlockedError,
        match=r"Cells at H3 resolution 10 are finer than publish\.max_resolution=9; not published",
    ):
        check_resolution(10, max_resolution=9)


class Doubling:
    """A stand-in model: twice the one feature."""

    feature_columns = ("x",)

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        return 2.0 * frame["x"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return toy_cells()


def panel(period: str, forecast: str) -> PanelMeta:
    return PanelMeta.from_json(
        panel_meta(
            period=period,
            feature_columns=["x"],
            last_complete_period="2024-01-01",
            forecast_period=forecast,
            all_periods=["2023-01-02", "2024-01-01"],
            n_cells=10,
            n_periods=2,
            n_rows=20,
        )
    )


MODEL_META = ModelMeta(
    feature_columns=("x",),
    best_rounds=3,
    model_version="0123456789ab",
    mlflow_run_id="c134743e6c6d4bf1bd526e05208afdd6",
    registered_model="beatwise-risk",
    registered_version="7",
    period="week",
    trained_periods=(dt.date(2023, 1, 2), dt.date(2024, 1, 1)),
)
OVERRIDE = AuditOverride(
    approving_body="The board",
    date=dt.date(2026, 1, 5),
    reason="A test.",
    gates=("G3",),
    expires=dt.date(2026, 2, 5),
)


def publish(
    folder: Path,
    cells: pd.DataFrame,
    *,
    audit: AuditReport,
    period: str,
    forecast: str,
    **kw: Any,
) -> Manifest:
    """What the publish stage does after its gates, into ``folder``."""
    start = pd.Timestamp(forecast)
    features = pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"].tolist() * 2,
            "period_start": [start - pd.Timedelta(days=7)] * len(cells) + [start] * len(cells),
            "x": np.linspace(0.1, 2.0, 2 * len(cells)),
            "target_count": [1.0] * len(cells) + [np.nan] * len(cells),
        }
    )
    meta = panel(period, forecast)
    table = forecast_next_period(
        features,
        cells,
        Doubling(),  # type: ignore[arg-type]
        panel=meta,
        model_meta=MODEL_META,
        coverage=0.2,
        interval_level=0.8,
        audit_status=audit.status,
    )
    (folder / "forecast.csv").write_text(forecast_csv(table))
    (folder / "forecast.geojson").write_text(forecast_geojson(table) + "\n")
    (folder / "report.html").write_text("<html></html>\n")
    return build_manifest(
        table,
        panel=meta,
        model_meta=MODEL_META,
        audit=audit,
        coverage=0.2,
        params_digest="f67132828f00dd99",
        forecast_csv=folder / "forecast.csv",
        forecast_geojson=folder / "forecast.geojson",
        bias_report=folder / "report.html",
        **kw,
    )


def test_the_forecast_scores_the_panels_period(
    tmp_path: Path, cells: pd.DataFrame, review: AuditReport
) -> None:
    manifest = publish(
        tmp_path, cells, audit=review, period="week", forecast="2025-01-06", override=None
    )
    table = pd.read_csv(tmp_path / "forecast.csv")
    assert table["week_start"].eq("2025-01-06").all()
    assert table["audit_status"].eq("pass with review").all()
    # the forecast week's x, doubled, ranked
    expected = 2.0 * np.linspace(0.1, 2.0, 2 * len(cells))[len(cells) :]
    np.testing.assert_allclose(table["risk_score"], np.round(expected[::-1], 6))
    assert (manifest.n_cells, manifest.n_flagged) == (len(cells), int(table["flagged"].sum()))
    assert manifest.registered_model == "beatwise-risk/7"
    assert (manifest.h3_resolution, manifest.period_key) == (8, "forecast_week")


def test_a_produced_manifest_validates_and_writes_identical_bytes(
    tmp_path: Path, cells: pd.DataFrame, review: AuditReport, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="models.publication"):
        manifest = publish(
            tmp_path,
            cells,
            audit=review,
            period="month",
            forecast="2025-02-01",
            override=OVERRIDE,
        )
    assert "PUBLISHED UNDER OVERRIDE by The board on 2026-01-05: A test." in caplog.text
    manifest.write(tmp_path / "manifest.json")
    written = (tmp_path / "manifest.json").read_bytes()
    again = Manifest.read(tmp_path / "manifest.json")
    assert again == manifest
    again.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == written
    assert b'"forecast_month": "2025-02-01"' in written
    assert again.override is not None and again.override.gates == ("G3",)
