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


@pytest.mark.parametrize(
    ("override", "removed", "added"),
    [
        ("+select.candidates.deep.num_leaves=63", [], ["    deep:", "      num_leaves: 63"]),
        ("~select.candidates.leaves_31", ["    leaves_31:", "      num_leaves: 31"], []),
        ("select.candidates.leaves_31.num_leaves=63", ["      num_leaves: 31"],
         ["      num_leaves: 63"]),
    ],
)  # fmt: skip
def test_an_experiment_adds_drops_or_changes_a_model_candidate(
    tmp_path: Path, override: str, removed: list[str], added: list[str]
) -> None:
    """The forms params.yaml's select section names: each changes only the candidate's lines and
    keeps every comment (a last key's removal once took the next section's comments with it)."""
    before, after = _set(tmp_path, override)
    diff = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert [line[1:] for line in diff if line[0] == "-"] == removed
    assert [line[1:] for line in diff if line[0] == "+"] == added
    assert _comments(after) == _comments(before)


def test_an_experiment_can_drop_every_candidate(tmp_path: Path) -> None:
    before, after = _set(tmp_path, "~select.candidates")
    assert _comments(after) == _comments(before)
    assert yaml.safe_load("\n".join(after))["select"] == {"periods": 26, "seeds": 1}


def _list_keys(node: object, prefix: str = "") -> list[str]:
    """Dotted keys of every list of numbers or words in params.yaml."""
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _list_keys(v, f"{prefix}{key}.")]
    scalars = isinstance(node, list) and all(isinstance(v, (int, float, str)) for v in node)
    return [prefix[:-1]] if scalars else []


LIST_KEYS = _list_keys(yaml.safe_load((ROOT / "params.yaml").read_text()))


#: lists their config refuses empty (a band's two ends, the places' ring radii)
NEVER_EMPTY = {"audit.amplification_band", "audit.calibration_band", "features.places.radius_rings"}


def _at(params: dict[str, object], key: str) -> object:
    value: object = params
    for part in key.split("."):
        assert isinstance(value, dict)
        value = value[part]
    return value


@pytest.mark.parametrize("key", LIST_KEYS)
def test_any_list_can_be_emptied_and_refilled_by_an_experiment(tmp_path: Path, key: str) -> None:
    """``-S key=[]`` then ``-S key=[...]`` keeps params.yaml valid YAML holding those values, and
    every other section as it was (an empty list written where a block list with a comment on its
    key's line stood once swallowed the next section's first line). Lists that must hold values
    are shortened to their first item instead."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    shutil.copyfile(ROOT / "params.yaml", path)
    original = yaml.safe_load(path.read_text())
    value = _at(original, key)
    assert isinstance(value, list)
    changed = value[:1] if key in NEVER_EMPTY else []
    for override in (changed, value, changed):
        apply_overrides(path, [f"{key}=[{','.join(str(v) for v in override)}]"])
        now = yaml.safe_load(path.read_text())
        assert _at(now, key) == override, key
        section = key.split(".")[0]
        assert {k: v for k, v in now.items() if k != section} == {
            k: v for k, v in original.items() if k != section
        }
