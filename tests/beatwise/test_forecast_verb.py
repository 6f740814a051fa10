"""``beatwise forecast``: refuses changed params before running anything, previews with dvc
status, runs dvc repro, and says in words what became of the forecast."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest

from beatwise.artefacts.publication import PublicationRecord
from beatwise.cli import main
from tests.repo_copy import git

PARAMS = "train:\n  learning_rate: 0.2\npublish:\n  override: null\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text(PARAMS)
    git(tmp_path, "add", "params.yaml")
    git(tmp_path, "commit", "-q", "-m", "params")
    return tmp_path


def _record(repo: Path, **fields: object) -> None:
    base: dict[str, object] = {
        "status": "published", "run": "publication", "period": "week",
        "forecast_period": dt.date(2024, 12, 30), "n_cells": 20, "n_flagged": 4,
        "audit_status": "pass", "folder": "2024-12-30",
    }  # fmt: skip
    (repo / "reports").mkdir(exist_ok=True)
    PublicationRecord(**{**base, **fields}).write(repo / "reports" / "publication.json")


def _published(repo: Path) -> None:
    folder = repo / "data" / "published" / "2024-12-30"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "h3_cell": [f"c{i}" for i in range(6)],
            "flagged": [True, True, True, True, False, False],
            "district_name": ["Ivyley", "Ivyley", "Ashford", "Brook", "Brook", "Ashford"],
        }
    ).to_csv(folder / "forecast.csv", index=False)
    (folder / "forecast_map.html").write_text("<html></html>")


class FakeDvc:
    """Stands in for DVC: records each command and, on ``repro``, does what ``then`` says."""

    def __init__(self, status: int = 0, then: Callable[[Path], None] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.status, self.then = status, then

    def __call__(self, command: Sequence[str], cwd: Path) -> int:
        self.calls.append(list(command))
        if command[1] == "repro" and self.then is not None:
            self.then(cwd)
        return self.status


def _run(repo: Path, dvc: FakeDvc, *extra: str) -> tuple[int, list[str]]:
    from beatwise.forecast_verb import forecast_verb

    lines: list[str] = []
    args = type("Args", (), {"repo": repo, "dry_run": "--dry-run" in extra})()
    return forecast_verb(args, out=lines.append, runner=dvc), lines  # type: ignore[arg-type]


def test_changed_params_are_refused_before_anything_runs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "params.yaml").write_text(PARAMS.replace("0.2", "0.1"))
    assert main(["forecast", "--repo", str(repo)]) == 2
    message = capsys.readouterr().err
    assert "train.learning_rate" in message and "dvc exp run" in message
    assert "Traceback" not in message
    dvc = FakeDvc()
    with pytest.raises(ValueError, match="differs from the last commit in 1 param"):
        _run(repo, dvc)
    assert dvc.calls == []


def test_params_never_committed_are_refused(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS)
    with pytest.raises(ValueError, match="no committed version"):
        _run(tmp_path, FakeDvc())


def test_a_dry_run_asks_dvc_status_and_runs_nothing(repo: Path) -> None:
    dvc = FakeDvc()
    status, lines = _run(repo, dvc, "--dry-run")
    assert status == 0 and dvc.calls == [["dvc", "status"]]
    assert "would re-run" in lines[0]


def test_a_published_forecast_is_told_in_words(repo: Path) -> None:
    def publish(root: Path) -> None:
        _record(root)
        _published(root)

    dvc = FakeDvc(then=publish)
    status, lines = _run(repo, dvc)
    assert status == 0 and dvc.calls == [["dvc", "repro"]]
    text = "\n".join(lines)
    assert "week of Monday 30 December 2024 to Sunday 5 January 2025 is published" in text
    assert str(Path("data/published/2024-12-30")) in text and "(audit: pass)" in text
    assert "4 of 20 cells are flagged" in text
    # districts by flagged cells, ties in name order
    assert "Most flagged cells: Ivyley 2, Ashford 1, Brook 1." in text
    assert lines[-1] == "Open: forecast_map.html, forecast.csv."  # those that exist, map first


def test_a_blocked_forecast_names_its_gates_and_exits_1(repo: Path) -> None:
    dvc = FakeDvc(status=1, then=lambda root: _record(
        root, status="blocked", blocked_by="G3, G4", folder=None, n_flagged=0))  # fmt: skip
    status, lines = _run(repo, dvc)
    assert status == 1
    assert "is NOT published: blocked by G3, G4" in lines[0]
    assert "bias_report.html" in lines[1]


def test_a_failing_stage_is_exit_status_2(repo: Path) -> None:
    status, lines = _run(repo, FakeDvc(status=255))
    assert status == 2 and "stopped before publish" in lines[0]
    # a record left by an earlier run does not turn a failure into a success
    _record(repo)
    status, lines = _run(repo, FakeDvc(status=255))
    assert status == 2 and "dvc repro failed" in lines[0]


def test_a_candidate_is_not_called_published(repo: Path) -> None:
    dvc = FakeDvc(then=lambda root: _record(root, status="candidate", run="uncommitted",
                                            folder=None))  # fmt: skip
    status, lines = _run(repo, dvc)
    assert status == 0
    assert "was made but not published" in lines[0]


def test_the_summary_says_which_data_the_model_was_fitted_on(repo: Path) -> None:
    from stage_files import panel_meta

    def publish(root: Path) -> None:
        _record(root)
        _published(root)
        folder = root / "data" / "processed"
        folder.mkdir(parents=True)
        meta = panel_meta(fit_through="2024-03-04")  # last complete week: 2024-03-18
        (folder / "panel_meta.json").write_text(json.dumps(meta))

    status, lines = _run(repo, FakeDvc(then=publish))
    assert status == 0
    assert (
        "The model is the one fitted through the week of Monday 4 March 2024 to Sunday 10 March "
        "2024 (refresh.refit_model_every), re-used" in "\n".join(lines)
    )
