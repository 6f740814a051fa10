"""params.yaml is laid out as DVC writes it back, so ``dvc exp run -S`` changes one line.

``dvc exp run -S key=value`` rewrites params.yaml through DVC's own override code: lists one item
per line, null left empty, and comments attached to list items or following a list dropped. The
committed file is already in that layout, so an experiment's params.yaml differs from it only in
the value it sets, and every comment a reader relies on survives.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _set(tmp_path: Path, *overrides: str) -> tuple[list[str], list[str]]:
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    shutil.copyfile(ROOT / "params.yaml", path)
    apply_overrides(path, list(overrides))
    return (ROOT / "params.yaml").read_text().splitlines(), path.read_text().splitlines()


def _comments(lines: list[str]) -> list[str]:
    return [line[line.index("#") :].strip() for line in lines if "#" in line]


def test_setting_a_value_to_itself_leaves_the_file_byte_identical(tmp_path: Path) -> None:
    before, after = _set(tmp_path, "train.learning_rate=0.2")
    assert yaml.safe_load("\n".join(before))["train"]["learning_rate"] == 0.2
    assert after == before


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("train.learning_rate=0.1", ("train", "learning_rate"), 0.1),
        ("evaluate.backtest_periods=26", ("evaluate", "backtest_periods"), 26),
        ("ingest.place=Somewhere", ("ingest", "place"), "Somewhere"),
        ("simulate.scale=0.2", ("simulate", "scale"), 0.2),
    ],
)
def test_an_experiment_changes_only_the_line_of_its_value(
    tmp_path: Path, override: str, key: tuple[str, str], value: object
) -> None:
    before, after = _set(tmp_path, override)
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 2, changed  # one line out, one line in
    assert _comments(after) == _comments(before)  # every comment kept, in order
    section, name = key
    assert yaml.safe_load("\n".join(after))[section][name] == value
