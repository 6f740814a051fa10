"""The kind of run: an experiment, a run by hand, a dvc repro of committed or changed params; and
the md5 dvc.lock records for a stage's output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from beatwise.runs import (
    committed_params_differences,
    detect_run,
    lock_md5s,
    md5_file,
    recorded_md5,
)
from tests.repo_copy import git

PARAMS = "# knobs\ntrain:\n  learning_rate: 0.2\n  seed: 0\npublish:\n  override: null\n"
UNDER_DVC = {"DVC_STAGE": "publish", "DVC_ROOT": "/repo"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose last commit holds ``params.yaml``."""
    git(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text(PARAMS)
    git(tmp_path, "add", "params.yaml")
    git(tmp_path, "commit", "-q", "-m", "params")
    return tmp_path


def test_a_dvc_repro_of_the_committed_params_publishes(repo: Path) -> None:
    # comments and layout are not the configuration
    (repo / "params.yaml").write_text(PARAMS.replace("# knobs", "# the knobs") + "\n\n")
    run = detect_run(repo / "params.yaml", env=UNDER_DVC)
    assert (run.kind, run.may_publish) == ("publication", True)


def test_an_experiment_never_publishes(repo: Path) -> None:
    # DVC sets DVC_EXP_NAME for every stage of `dvc exp run`, even of unchanged params
    env = {**UNDER_DVC, "DVC_EXP_NAME": "lr01", "DVC_EXP_BASELINE_REV": "abc"}
    run = detect_run(repo / "params.yaml", env=env)
    assert (run.kind, run.may_publish, run.experiment) == ("experiment", False, "lr01")
    assert run.reason == "DVC experiment 'lr01'"


def test_changed_params_are_not_the_committed_configuration(repo: Path) -> None:
    (repo / "params.yaml").write_text(PARAMS.replace("0.2", "0.1").replace("null", "{}"))
    run = detect_run(repo / "params.yaml", env=UNDER_DVC)
    assert (run.kind, run.may_publish) == ("uncommitted", False)
    assert "differs from the last commit in 2 param(s): train.learning_rate, publish.override" in (
        run.reason
    )
    assert committed_params_differences(repo / "params.yaml") == [
        "train.learning_rate",
        "publish.override",
    ]


def test_params_without_a_commit_are_not_the_committed_configuration(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)  # not a git repository
    assert committed_params_differences(tmp_path / "params.yaml") is None
    run = detect_run(tmp_path / "params.yaml", env=UNDER_DVC)
    assert run.kind == "uncommitted" and "no committed version" in run.reason


def test_a_stage_run_by_hand_never_publishes(repo: Path) -> None:
    run = detect_run(repo / "params.yaml", env={})
    assert (run.kind, run.may_publish) == ("outside_dvc", False)


def test_the_md5_of_an_output_comes_from_the_stage_that_wrote_it(tmp_path: Path) -> None:
    (tmp_path / "audit.json").write_bytes(b'{"publishable": false}\n')
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        "schema: '2.0'\nstages:\n"
        "  audit:\n    cmd: x\n    outs:\n"
        "    - path: reports/audit.json\n      hash: md5\n      md5: aaaa\n"
        "  publish:\n    cmd: y\n    deps:\n"  # a reader's record of an older version
        "    - path: reports/audit.json\n      hash: md5\n      md5: bbbb\n"
    )
    assert recorded_md5(Path("reports/audit.json"), lock_path=lock) == "aaaa"
    assert lock_md5s(lock)["reports/audit.json"] == "bbbb"  # outs and deps, the later wins
    assert recorded_md5(Path("reports/other.json"), lock_path=lock) is None
    assert recorded_md5(Path("reports/audit.json"), lock_path=tmp_path / "absent.lock") is None
    data = (tmp_path / "audit.json").read_bytes()
    assert md5_file(tmp_path / "audit.json") == hashlib.md5(data, usedforsecurity=False).hexdigest()
