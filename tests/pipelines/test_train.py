"""Stage train: reads the typed panel_meta.json, and refuses one written before it carried the
H3 resolution, naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beatwise.artefacts import ArtefactError
from pipelines import train

ROOT = Path(__file__).resolve().parents[2]
PANEL_META = {
    "period": "week",
    "source": "synthetic",
    "time_resolution": "sub_day",
    "target_types": ["burglary"],
    "target_reason": None,
    "feature_types": ["burglary"],
    "static_covariates": [],
    "feature_columns": ["cnt_all_lag1w"],
    "first_period": "2024-01-01",
    "last_complete_period": "2024-03-18",
    "forecast_period": "2024-03-25",
    "all_periods": ["2023-10-02", "2024-03-18"],
    "n_cells": 60,
    "n_periods": 13,
    "n_rows": 780,
}


def test_panel_meta_without_the_resolution_is_refused(tmp_path: Path) -> None:
    meta = tmp_path / "panel_meta.json"
    meta.write_text(json.dumps(PANEL_META))  # as build_features wrote it before h3_resolution
    args = [
        "--features", str(tmp_path / "features.parquet"),
        "--panel-meta", str(meta),
        "--out-model", str(tmp_path / "model.txt"),
        "--out-meta", str(tmp_path / "model_meta.json"),
        "--out-importance", str(tmp_path / "importance.png"),
        "--params", str(ROOT / "params.yaml"),
    ]  # fmt: skip
    with pytest.raises(
        ArtefactError,
        match=r"panel_meta\.json does not match the PanelMeta definition .*\n"
        r".*panel_meta\.json: key 'h3_resolution': Field required",
    ):
        train.main(args)
    assert not (tmp_path / "model.txt").exists()
