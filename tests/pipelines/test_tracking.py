"""Provenance tags: params hash, dvc.lock md5s, experiment name, git state."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines._tracking import flatten_metrics, input_md5s, provenance_tags


def test_md5_comes_from_dvc_lock_or_is_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.parquet").write_bytes(b"abc")
    (tmp_path / "b.parquet").write_bytes(b"xyz")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n"
        "    - path: a.parquet\n      md5: 0123456789abcdef\n"
    )
    md5s = input_md5s([Path("a.parquet"), Path("b.parquet"), Path("missing.parquet")])
    assert md5s == {
        "a.parquet": "0123456789abcdef",
        "b.parquet": hashlib.md5(b"xyz", usedforsecurity=False).hexdigest(),
    }


def test_tags_carry_stage_params_hash_and_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    monkeypatch.setenv("DVC_EXP_NAME", "lr01")
    (tmp_path / "x.json").write_text("{}")
    tags = provenance_tags(stage="train", params_digest="feed", inputs=[Path("x.json")])
    assert tags["stage"] == "train"
    assert tags["params_hash"] == "feed"
    assert tags["dvc_experiment"] == "lr01"
    assert tags["git_commit"] == "unknown"
    assert "input_md5.x.json" in tags


def test_flatten_metrics_skips_nan_and_text() -> None:
    flat = flatten_metrics({"a": 1, "b": {"c": 2.5, "d": "x", "e": float("nan")}, "f": True})
    assert flat == {"a": 1.0, "b.c": 2.5, "f": 1.0}
