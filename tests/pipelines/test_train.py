"""Stage train: reads the typed panel_meta.json, and refuses one written before it carried the
H3 resolution, naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stage_files import panel_meta

from beatwise.artefacts import ArtefactError
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
