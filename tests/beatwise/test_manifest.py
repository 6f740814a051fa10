"""The typed manifest: today's file validates and writes back byte for byte; its period key is
named after its period, and anything else is refused naming the file and the key."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.manifest import PUBLISHED_FILES, Manifest

#: the manifest of the default run (the override reason shortened)
_TEMPLATE = """{
  "audit_publishable": true,
  "audit_sha256": "0d7d2ac5d3b2b0b8ff8d5b0a4ac9f0c6f1f0a5b4b9f1e1d2c3b4a5968778695a",
  "audit_status": "override",
  "bias_report_sha256": "555efbcb36e9d72a1e80fd9b9c849818208c2189775276092cd827f459a2d72b",
  "coverage": 0.05,
  "district_sheets_html_sha256": "<SHEETS_HTML_SHA256>",
  "district_sheets_pdf_sha256": "<SHEETS_PDF_SHA256>",
  "forecast_bands_sha256": "<BANDS_SHA256>",
  "forecast_csv_sha256": "70f7f50771a039f98bcec0feaacfbcd93aac202768fb2f67c813f01d375a296e",
  "forecast_geojson_sha256": "c92eb6f85b7e9d93448e260828e5ad0d7544b4527a3927902a86e1c19222bcba",
  "forecast_gpkg_sha256": "<GPKG_SHA256>",
  "forecast_map_sha256": "<MAP_SHA256>",
  "forecast_parquet_sha256": "<PARQUET_SHA256>",
  "forecast_qml_sha256": "<QML_SHA256>",
  "forecast_week": "2024-12-30",
  "h3_resolution": 8,
  "mlflow_run_id": "c134743e6c6d4bf1bd526e05208afdd6",
  "model_card_sha256": "9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60",
  "model_version": "88cc1ef0214d",
  "n_cells": 2372,
  "n_flagged": 119,
  "override": {
    "approving_body": "Beatwise maintainers, for the synthetic demonstration city only",
    "date": "2026-11-25",
    "expires": "2026-12-25",
    "gates": [
      "G3",
      "G4"
    ],
    "reason": "The default data are a synthetic city with no real residents."
  },
  "params_hash": "f67132828f00dd99",
  "period": "week",
  "registered_model": "beatwise-risk/1",
  "time_bands_note": null,
  "transparency_record_json_sha256": "<RECORD_JSON_SHA256>",
  "transparency_record_md_sha256": "<RECORD_MD_SHA256>"
}
"""
#: a made-up sha256 for each placeholder of the template, e.g. <GPKG_SHA256>
_DIGESTS = {
    "RECORD_JSON": "2b1f",
    "RECORD_MD": "7e6d",
    "GPKG": "9a0c",
    "MAP": "4d2e",
    "PARQUET": "51b7",
    "QML": "c0de",
    "BANDS": "b4d5",
    "SHEETS_HTML": "d157",
    "SHEETS_PDF": "d15f",
}
PUBLISHED = re.sub(r"<([A-Z_]+)_SHA256>", lambda m: _DIGESTS[m[1]] * 16, _TEMPLATE)


def published(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {**json.loads(PUBLISHED), **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_todays_manifest_round_trips_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(PUBLISHED)
    manifest = Manifest.read(path)
    assert manifest.forecast_period == dt.date(2024, 12, 30)
    assert manifest.period_key == "forecast_week"
    assert manifest.override is not None and manifest.override.gates == ("G3", "G4")
    manifest.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == PUBLISHED


def test_the_manifest_names_each_file_of_a_publication_by_its_sha256() -> None:
    manifest = Manifest.from_json(published(), source="manifest.json")
    hashes = manifest.file_hashes()
    assert list(hashes) == [n for n in PUBLISHED_FILES if n != "manifest.json"]
    assert hashes["audit.json"] == manifest.audit_sha256
    assert hashes["model_card.md"] == manifest.model_card_sha256
    with pytest.raises(ArtefactError, match=r"manifest\.json: key 'audit_sha256': Field required"):
        Manifest.from_json(published(audit_sha256=None), source="manifest.json")


def test_monthly_manifest_names_its_month() -> None:
    data = published(period="month", forecast_week=None, forecast_month="2025-01-01")
    manifest = Manifest.from_json(data, source="manifest.json")
    assert manifest.forecast_period == dt.date(2025, 1, 1)
    written = manifest.to_json()
    assert written["forecast_month"] == "2025-01-01"
    assert "forecast_week" not in written and "forecast_period" not in written


def test_a_period_key_that_disagrees_with_the_period_is_refused() -> None:
    with pytest.raises(
        ArtefactError,
        match=r"manifest\.json: key 'forecast_week' does not match period 'month'; a month "
        r"manifest names its forecast period 'forecast_month'\.",
    ):
        Manifest.from_json(published(period="month"), source="manifest.json")
    with pytest.raises(ArtefactError, match=r"manifest\.json: key 'forecast_period' does not"):
        Manifest.from_json(published(forecast_period="2024-12-30"), source="manifest.json")
    with pytest.raises(
        ArtefactError, match=r"manifest\.json: key 'forecast_week' is missing \(the week forecast\)"
    ):
        Manifest.from_json(published(forecast_week=None), source="manifest.json")


def test_wrong_fields_are_refused_naming_the_file_and_the_key() -> None:
    with pytest.raises(ArtefactError, match=r"manifest\.json: key 'forecast_csv_sha256'"):
        Manifest.from_json(published(forecast_csv_sha256="abc"), source="manifest.json")
    with pytest.raises(ArtefactError, match=r"manifest\.json: key 'audit_status'"):
        Manifest.from_json(published(audit_status="fine"), source="manifest.json")
    with pytest.raises(ArtefactError, match=r"manifest\.json: key 'h3_resolution'"):
        Manifest.from_json(published(h3_resolution=None), source="manifest.json")
    with pytest.raises(ArtefactError, match=r"manifest\.json: key 'period'"):
        Manifest.from_json(published(period="day"), source="manifest.json")
