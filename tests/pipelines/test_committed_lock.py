"""The committed dvc.lock: portable, and recording the params of the committed params.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "dvc.lock"


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    if not LOCK.is_file():
        pytest.fail("dvc.lock is committed at the repository's root; run dvc repro and commit it")
    return yaml.safe_load(LOCK.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_lock_names_no_machine_s_folder(lock: dict[str, Any]) -> None:
    for stage, entry in lock["stages"].items():
        for item in (entry.get("deps") or []) + (entry.get("outs") or []):
            path = str(item["path"])
            assert not Path(path).is_absolute(), (stage, path)
        assert "/home/" not in str(entry["cmd"]) and "/tmp/" not in str(entry["cmd"]), stage


def test_the_lock_records_the_params_of_params_yaml(lock: dict[str, Any]) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert sorted(lock["stages"]) == sorted(stages)
    for stage, entry in lock["stages"].items():
        recorded = entry.get("params", {}).get("params.yaml", {})
        for section in stages[stage].get("params", []):
            value = params
            for key in str(section).split("."):  # a section, or one key of it (ingest.source)
                value = value[key]
            assert recorded.get(section) == value, (
                f"dvc.lock records other {section!r} params for stage {stage!r} than params.yaml "
                "holds: run dvc repro and commit the dvc.lock it writes"
            )
