"""The synthetic city's truth travels through ingest; other sources get a note saying why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beatwise.artefacts.panel import PanelMeta
from features.ingest.truth import ABSENT_FILE, carry_truth
from models.true_risk import truth_skip_reason


def _truth(data_dir: Path) -> None:
    (data_dir / "truth").mkdir(parents=True)
    (data_dir / "truth" / "meta.json").write_text('{"format_version": 1}', encoding="utf-8")
    (data_dir / "truth" / "history.parquet").write_bytes(b"PAR1")


def test_a_synthetic_truth_is_copied_whole(tmp_path: Path) -> None:
    _truth(tmp_path / "src")
    out = tmp_path / "out"
    (out / "stale").mkdir(parents=True)  # what an earlier run left is replaced
    assert carry_truth("synthetic", tmp_path / "src", out) is True
    assert sorted(p.name for p in out.iterdir()) == ["history.parquet", "meta.json"]
    assert (out / "history.parquet").read_bytes() == b"PAR1"


@pytest.mark.parametrize("source", ["mapped_csv", "police_uk_csv", "police_uk_api"])
def test_a_real_source_gets_a_note_and_no_truth(tmp_path: Path, source: str) -> None:
    _truth(tmp_path / "src")  # even a folder named truth is not a real source's truth
    out = tmp_path / "out"
    assert carry_truth(source, tmp_path / "src", out) is False  # type: ignore[arg-type]
    note = json.loads((out / ABSENT_FILE).read_text(encoding="utf-8"))
    assert note["truth"] is None and source in note["reason"]
    assert [p.name for p in out.iterdir()] == [ABSENT_FILE]


def test_a_synthetic_folder_without_a_truth_model_says_so(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert carry_truth("synthetic", tmp_path / "src", tmp_path / "out") is False
    reason = json.loads((tmp_path / "out" / ABSENT_FILE).read_text(encoding="utf-8"))["reason"]
    assert "no truth model" in reason


def test_the_backtest_skips_a_folder_that_holds_no_truth_model(tmp_path: Path) -> None:
    carry_truth("mapped_csv", tmp_path, tmp_path / "out")
    meta = PanelMeta.model_construct(source="synthetic", period="week")
    assert "no truth model" in str(truth_skip_reason(tmp_path / "out", meta))
    _truth(tmp_path / "src")
    carry_truth("synthetic", tmp_path / "src", tmp_path / "out")
    assert truth_skip_reason(tmp_path / "out", meta) is None
