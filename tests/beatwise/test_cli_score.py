"""``beatwise score`` and ``beatwise publications`` through ``main(argv)`` on the toy run: what
they print and write, and each refusal as one line on stderr with exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scorecard_inputs import (
    PUBLISHED_WEEK,
    ToyRun,
    forecast_table,
    publication_files,
    write_toy_run,
)

from beatwise.artefacts.scorecard import HISTORY_COLUMNS, HISTORY_FILE, Scorecard, read_history
from beatwise.cli import main
from beatwise.publications import publish_set


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ToyRun:
    return write_toy_run(tmp_path_factory.mktemp("built"))


@pytest.fixture()
def toy(built: ToyRun, tmp_path: Path) -> ToyRun:
    """A fresh copy of the toy run for each test (scoring writes into its published area)."""
    repo = tmp_path / "repo"
    shutil.copytree(built.repo, repo)
    return ToyRun(repo, built.cells, built.counts, built.table, built.result)


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("beatwise score: ") and "Traceback" not in err
    return err


def test_score_writes_the_scorecard_and_its_history_row(
    toy: ToyRun, capsys: pytest.CaptureFixture[str]
) -> None:
    published = toy.repo / "data/published"
    argv = ["score", "2023-10-11", "--repo", str(toy.repo), "--today", "2023-10-16"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Scorecard of the week 2023-10-09 to 2023-10-15 (publication 2023-10-09")
    assert "model    " in out and "prospective_hotspot" in out
    assert f"Written: {published / 'scorecards/2023-10-09.json'}" in out
    card = Scorecard.read(published / "scorecards/2023-10-09.json")
    history = read_history(published / HISTORY_FILE)
    assert tuple(history.columns) == HISTORY_COLUMNS and len(history) == 1
    assert history.loc[0, "events_captured"] == card.model.events_captured
    before = (published / HISTORY_FILE).read_bytes()
    assert main(argv) == 0  # scored again: the same row
    assert (published / HISTORY_FILE).read_bytes() == before
    capsys.readouterr()
    assert main(["publications", "--published-dir", str(published)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[:4] == ["week", "folder", "status", "audit"]
    assert listing[1].split()[:4] == ["2023-10-09", "2023-10-09", "latest", "pass"]
    assert f"PAI {card.model.pai:.2f}" in listing[1]


def test_score_json_and_from_backtest(
    toy: ToyRun, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "week.json"
    argv = ["score", "2023-08-14", "--from-backtest", "--repo", str(toy.repo), "--json"]
    assert main([*argv, "--out", str(out_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_file.read_text(encoding="utf-8"))
    assert printed["source"] == "backtest" and printed["folder"] is None
    # a backtest week never enters the published history
    assert not (toy.repo / "data/published" / HISTORY_FILE).exists()


def test_each_refusal_is_one_line_with_exit_status_2(
    toy: ToyRun, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ["--repo", str(toy.repo)]
    err = refused(capsys, ["score", "2023-10-02", *repo])
    assert "week 2023-10-02 was never published" in err and "--from-backtest" in err
    err = refused(capsys, ["score", str(PUBLISHED_WEEK), *repo, "--today", "2023-10-15"])
    assert "has not ended: it runs to 2023-10-15 and today is 2023-10-15" in err
    err = refused(capsys, ["score", "2022-01-03", "--from-backtest", *repo])
    assert "is not a backtest week" in err
    (toy.repo / "data/processed/event_cells.parquet").unlink()
    err = refused(capsys, ["score", str(PUBLISHED_WEEK), *repo])
    assert "event_cells.parquet does not exist" in err and "dvc repro build_cells" in err
    (toy.repo / "data/processed/panel_meta.json").unlink()
    err = refused(capsys, ["score", str(PUBLISHED_WEEK), *repo])
    assert "panel_meta.json" in err


def test_the_events_not_ingested_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_toy_run(tmp_path, ingested=False)
    err = refused(capsys, ["score", str(PUBLISHED_WEEK), "--repo", str(tmp_path)])
    assert "are not ingested yet" in err and "`dvc repro build_cells`" in err


def test_publications_lists_newest_first_and_flags_a_broken_one(
    toy: ToyRun, capsys: pytest.CaptureFixture[str]
) -> None:
    published = toy.repo / "data/published"
    table = forecast_table(toy.cells, toy.counts[0] + 0.5, week=PUBLISHED_WEEK)
    publish_set(published, publication_files(table, week=PUBLISHED_WEEK))  # the week again
    assert main(["publications", "--published-dir", str(published)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["2023-10-09.2", "latest"],
        ["2023-10-09", "superseded"],
    ]
    (published / "2023-10-09" / "model_card.md").write_text("changed\n", encoding="utf-8")
    assert main(["publications", "--published-dir", str(published)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[1:4] == ["2023-10-09", "not", "whole"]
    assert "NOT WHOLE" in lines[2] and "model_card.md has sha256" in lines[3]
    assert main(["publications", "--published-dir", str(toy.repo / "nowhere")]) == 0
    assert "No publications under" in capsys.readouterr().out


def test_help_names_both_sources(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--from-backtest" in text and "scorecard.csv" in text and "exit status" in text.lower()
