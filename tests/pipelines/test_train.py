"""Stage train: reads the typed panel_meta.json, and refuses one written before it carried the
H3 resolution, naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from stage_files import panel_meta

from beatwise.artefacts import ArtefactError
from beatwise.io import read_parquet
from models.risk_model import RiskModelConfig
from pipelines import train

ROOT = Path(__file__).resolve().parents[2]


def without_resolution() -> dict[str, Any]:
    return {k: v for k, v in panel_meta().items() if k != "h3_resolution"}


def test_panel_meta_without_the_resolution_is_refused(tmp_path: Path) -> None:
    meta = tmp_path / "panel_meta.json"
    meta.write_text(json.dumps(without_resolution()))  # as build_features wrote it before
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


def test_a_history_window_reads_only_its_labelled_periods(tmp_path: Path) -> None:
    weeks = pd.date_range("2024-01-01", periods=13, freq="7D")
    frame = pd.DataFrame(
        {
            "h3_cell": np.tile(["a", "b"], 13),
            "period_start": np.repeat(weeks, 2),
            "target_count": np.r_[np.ones(24), np.nan, np.nan],  # the last week is the forecast
        }
    )
    path = tmp_path / "features.parquet"
    frame.to_parquet(path)
    where = train.window_rows(path, RiskModelConfig(validation_periods=3, history_periods=5))
    assert where is not None
    rows = read_parquet(path, where=where)
    assert list(rows["period_start"].unique()) == list(weeks[7:12])  # five weeks, no forecast
    assert train.window_rows(path, RiskModelConfig(history_periods=12)) is None  # all 12 labelled
    assert train.window_rows(path, RiskModelConfig()) is None
