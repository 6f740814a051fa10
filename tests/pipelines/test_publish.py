"""Stage publish: every run writes a candidate set; only a deliberate dvc repro of the committed
params publishes it, whole, into its own folder; an experiment never publishes and keeps a blocked
run's results; a blocked run leaves the published folder, documents included, exactly as it was;
an audit.json edited since the audit stage wrote it (by dvc.lock's record) is refused."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from audit_inputs import audited_city_report, blocked_on_g3, make_metrics, pass_with_review
from stage_files import panel_meta, toy_cells
from toy_areas import write_toy_areas

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.audit import AuditReport
from beatwise.artefacts.manifest import PUBLISHED_FILES
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.publication import PublicationRecord
from beatwise.artefacts.timebands import TimeBandsBacktest
from beatwise.io import sha256_file
from beatwise.publications import list_publications, read_latest, verify_publication
from beatwise.runs import md5_file
from pipelines import publish
from tests.repo_copy import git

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
#: the transparency record, written beside the report and card, travels with each publication
RECORD = ("transparency_record.md", "transparency_record.json")
WEEK = "2025-01-06"
MODEL_META = ModelMeta(
    feature_columns=("x",),
    best_rounds=3,
    model_version="0123456789ab",
    mlflow_run_id="c134743e6c6d4bf1bd526e05208afdd6",
    registered_model="beatwise-risk",
    registered_version="7",
    period="week",
    trained_periods=(dt.date(2023, 1, 2), dt.date(2024, 12, 30)),
)


@pytest.fixture(scope="module")
def approved() -> AuditReport:
    return pass_with_review(audited_city_report())


class Doubling:
    """A stand-in model: twice the one feature."""

    feature_columns = ("x",)

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        return 2.0 * frame["x"].to_numpy(dtype=np.float64)


@pytest.fixture
def tracked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The stage's MLflow calls, recorded instead of made; the model is a stand-in."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(publish, "track_publication", lambda csv, **kw: calls.append(kw))
    monkeypatch.setattr(publish.RiskModel, "load", staticmethod(lambda path, meta: Doubling()))
    for name in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_STAGE", "DVC_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return calls


def inputs(folder: Path) -> Path:
    """Every input of the stage for a toy weekly panel, in ``folder``, with ``params.yaml``
    committed to a git repository there; returns the folder."""
    cells = toy_cells()
    start = pd.Timestamp(WEEK)
    pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"].tolist() * 2,
            "period_start": [start - pd.Timedelta(days=7)] * len(cells) + [start] * len(cells),
            "x": np.linspace(0.1, 2.0, 2 * len(cells)),
            "target_count": [1.0] * len(cells) + [np.nan] * len(cells),
        }
    ).to_parquet(folder / "features.parquet")
    cells.to_parquet(folder / "cells.parquet")
    write_toy_areas(cells, folder / "areas.parquet")
    # the backtest of the week before: what the map's line of recent forecasts draws
    pd.DataFrame(
        {
            "period_start": start - pd.Timedelta(days=7),
            "h3_cell": cells["h3_cell"],
            "target_count": np.arange(len(cells)) % 3,
            "risk_score": np.linspace(2.0, 0.1, len(cells)),
            "score_b4_all_history": np.linspace(0.1, 2.0, len(cells)),
        }
    ).to_parquet(folder / "backtest.parquet")
    make_metrics().write(folder / "backtest_metrics.json")
    pd.DataFrame(
        {
            "h3_int": cells["h3_int"].to_numpy()[[0, 0, 1, 2]],
            "timestamp": pd.to_datetime(
                ["2024-12-30 18:00", "2024-12-31 19:30", "2025-01-04 23:00", "2025-01-02 09:00"]
            ),
            "crime_type": "burglary",
        }
    ).to_parquet(folder / "event_cells.parquet")
    TimeBandsBacktest(available=True, reason=None, history_periods=52).write(
        folder / "time_bands.json"
    )
    meta = panel_meta(
        feature_columns=["x"],
        last_complete_period="2024-12-30",
        forecast_period=WEEK,
        all_periods=["2024-12-30", "2024-12-30"],
        n_cells=len(cells),
        n_periods=1,
        n_rows=len(cells),
    )
    (folder / "panel_meta.json").write_text(json.dumps(meta))
    MODEL_META.write(folder / "model_meta.json")
    (folder / "model.txt").write_text("a stand-in\n")
    shutil.copy(PARAMS, folder / "params.yaml")
    git(folder, "init", "-q")
    git(folder, "add", "params.yaml")
    git(folder, "commit", "-q", "-m", "params")
    return folder


def audit_stage(folder: Path, audit: AuditReport, *, report: str = "the report") -> None:
    """What the audit stage writes, and the md5 DVC records for it in dvc.lock."""
    audit.write(folder / "audit.json")
    (folder / "report.html").write_text(f"<html>{report}</html>\n")
    (folder / "card.md").write_text(f"# Model card: {report}\n")
    (folder / "transparency_record.md").write_text(f"# Transparency record: {report}\n")
    (folder / "transparency_record.json").write_text(json.dumps({"record": report}) + "\n")
    names = ("audit.json", "report.html", "card.md", *RECORD)
    outs = "".join(
        f"    - path: {folder / name}\n      hash: md5\n      md5: {md5_file(folder / name)}\n"
        for name in names
    )
    (folder / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  audit:\n    cmd: x\n    outs:\n{outs}"
    )


def run(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    audit: AuditReport | None = None,
    meta: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run the stage on ``folder``'s inputs; ``env``: what DVC sets for the stage's command
    (none: a run by hand)."""
    if audit is not None:
        audit_stage(folder, audit)
    if meta is not None:
        (folder / "panel_meta.json").write_text(json.dumps(meta))
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    return publish.main(
        [
            "--features", str(folder / "features.parquet"),
            "--panel-meta", str(folder / "panel_meta.json"),
            "--cells", str(folder / "cells.parquet"),
            "--areas", str(folder / "areas.parquet"),
            "--model", str(folder / "model.txt"),
            "--model-meta", str(folder / "model_meta.json"),
            "--audit", str(folder / "audit.json"),
            "--report", str(folder / "report.html"),
            "--card", str(folder / "card.md"),
            "--event-cells", str(folder / "event_cells.parquet"),
            "--time-bands", str(folder / "time_bands.json"),
            "--backtest", str(folder / "backtest.parquet"),
            "--metrics", str(folder / "backtest_metrics.json"),
            "--candidate-dir", str(folder / "candidate"),
            "--published-dir", str(folder / "published"),
            "--out-record", str(folder / "publication.json"),
            "--params", str(folder / "params.yaml"),
            "--dvc-lock", str(folder / "dvc.lock"),
        ]
    )  # fmt: skip


REPRO = {"DVC_STAGE": "publish", "DVC_ROOT": "."}
EXPERIMENT = {**REPRO, "DVC_EXP_NAME": "lr01", "DVC_EXP_BASELINE_REV": "0" * 40}


def record(folder: Path) -> PublicationRecord:
    return PublicationRecord.read(folder / "publication.json")


def candidate(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "candidate").iterdir())


def published_bytes(folder: Path) -> dict[str, bytes]:
    return {
        f"{p.name}/{f.name}": f.read_bytes()
        for p in [*list_publications(folder / "published"), folder / "published"]
        for f in p.iterdir()
        if f.is_file()
    }


def test_a_dvc_repro_of_the_committed_params_publishes_the_whole_set(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=approved, env=REPRO) == 0
    latest = read_latest(folder / "published")
    assert latest is not None and latest.folder == WEEK
    manifest = verify_publication(folder / "published" / WEEK)  # hashes match the files beside
    assert manifest.audit_sha256 == sha256_file(folder / "audit.json")
    assert manifest.model_card_sha256 == sha256_file(folder / "card.md")
    for name in RECORD:  # the record the report and the card link travels with them
        assert (folder / "published" / WEEK / name).read_bytes() == (folder / name).read_bytes()
    assert manifest.transparency_record_md_sha256 == sha256_file(folder / "transparency_record.md")
    for name in PUBLISHED_FILES:  # the candidate set, published whole
        assert (folder / "published" / WEEK / name).read_bytes() == (
            folder / "candidate" / name
        ).read_bytes()
    assert (folder / "published" / WEEK / "bias_report.html").read_bytes() == (
        folder / "report.html"
    ).read_bytes()
    assert record(folder).model_dump(mode="json") == {
        "status": "published",
        "run": "publication",
        "blocked_by": "",
        "period": "week",
        "forecast_period": WEEK,
        "n_cells": manifest.n_cells,
        "n_flagged": manifest.n_flagged,
        "audit_status": "pass with review",
        "folder": WEEK,
    }
    assert [c["status"] for c in tracked] == ["published"]  # the aliases move


def test_an_experiment_writes_its_candidate_and_publishes_nothing(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=approved, env=EXPERIMENT) == 0
    assert candidate(folder) == sorted(PUBLISHED_FILES)
    verify_publication(folder / "candidate")  # the candidate is a whole set too
    assert not (folder / "published").exists()
    assert (record(folder).status, record(folder).run) == ("candidate", "experiment")
    assert [c["status"] for c in tracked] == ["candidate"]  # the aliases stay


def test_the_same_inputs_give_a_byte_identical_candidate_set(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every file, the GeoPackage (which records a time of change) and the map included."""
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=approved, env=EXPERIMENT) == 0
    first = {p.name: p.read_bytes() for p in (folder / "candidate").iterdir()}
    time.sleep(1.1)  # a clock's second, were any file to record one
    assert run(folder, monkeypatch, env=EXPERIMENT) == 0
    again = {p.name: p.read_bytes() for p in (folder / "candidate").iterdir()}
    assert sorted(first) == sorted(PUBLISHED_FILES)
    assert [name for name in first if first[name] != again[name]] == []


def test_an_experiment_after_a_publication_leaves_it_untouched(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=approved, env=REPRO) == 0
    before = published_bytes(folder)
    audit_stage(folder, approved, report="another model's report")
    assert run(folder, monkeypatch, env=EXPERIMENT) == 0
    assert published_bytes(folder) == before
    assert b"another model" in (folder / "candidate" / "bias_report.html").read_bytes()


def test_params_that_differ_from_the_commit_publish_nothing_and_fail(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = inputs(tmp_path)
    text = (folder / "params.yaml").read_text()
    (folder / "params.yaml").write_text(text.replace("interval_level: 0.8", "interval_level: 0.9"))
    assert run(folder, monkeypatch, audit=approved, env=REPRO) == 1
    assert "differs from the last commit in 1 param(s): publish.interval_level" in caplog.text
    assert not (folder / "published").exists()
    assert (record(folder).status, record(folder).run) == ("candidate", "uncommitted")
    assert "forecast.csv" in candidate(folder)


def test_a_blocked_run_leaves_the_publication_and_the_documents_that_approved_it(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=approved, env=REPRO) == 0
    before = published_bytes(folder)
    audit_stage(folder, blocked_on_g3(approved), report="a blocked model's report")
    assert run(folder, monkeypatch, env=REPRO) == 1
    assert "G3 FAIL: value 0.52 (95% interval 0.5 to 0.53" in caplog.text
    # the audit stage rewrote the reports; the published folder keeps the ones that approved it
    assert published_bytes(folder) == before
    manifest = verify_publication(folder / "published" / WEEK)
    assert manifest.audit_publishable and manifest.audit_sha256 != sha256_file(
        folder / "audit.json"
    )
    assert candidate(folder) == ["blocked.txt"]  # no forecast, and why
    assert "G3 FAIL" in (folder / "candidate" / "blocked.txt").read_text()
    assert (record(folder).status, record(folder).blocked_by) == ("blocked", "G3")
    assert [c["status"] for c in tracked] == ["published"]  # nothing tracked when blocked


def test_a_blocked_experiment_exits_0_so_dvc_keeps_its_results(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=blocked_on_g3(approved), env=EXPERIMENT) == 0
    rec = record(folder)
    assert (rec.status, rec.run, rec.blocked_by, rec.n_cells) == ("blocked", "experiment", "G3", 0)
    assert candidate(folder) == ["blocked.txt"]
    assert not (folder / "published").exists()


def test_an_audit_file_edited_since_the_audit_stage_wrote_it_is_refused(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = inputs(tmp_path)
    audit_stage(folder, blocked_on_g3(approved))
    # by hand: G3 set to PASS, the verdict to publishable, the file consistent with itself
    approved.write(folder / "audit.json")
    assert run(folder, monkeypatch, env=REPRO) == 1
    assert "Not the documents the audit stage wrote" in caplog.text
    assert f"{folder / 'audit.json'} has md5" in caplog.text
    assert (record(folder).status, record(folder).blocked_by) == ("blocked", "audit.json")
    assert not (folder / "published").exists()


def test_blocked_stage_run_by_hand_exits_non_zero_and_writes_no_forecast(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = inputs(tmp_path)
    (folder / "candidate").mkdir()
    (folder / "candidate" / "forecast.csv").write_text("an older forecast\n")
    assert run(folder, monkeypatch, audit=blocked_on_g3(approved)) == 1
    assert "G3 FAIL: value 0.52 (95% interval 0.5 to 0.53" in caplog.text
    assert candidate(folder) == ["blocked.txt"]  # an older forecast never passes for this one


def test_cells_finer_than_max_resolution_are_not_published(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # params.yaml: publish.max_resolution = 9; the panel's cells are at resolution 10
    folder = inputs(tmp_path)
    assert run(folder, monkeypatch, audit=approved, meta=panel_meta(h3_resolution=10)) == 1
    assert "H3 resolution 10 are finer than publish.max_resolution=9" in caplog.text
    assert record(folder).blocked_by == "G9"
    assert candidate(folder) == ["blocked.txt"]


def test_panel_meta_without_the_resolution_is_refused(
    tmp_path: Path,
    approved: AuditReport,
    tracked: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = inputs(tmp_path)
    old = {k: v for k, v in panel_meta().items() if k != "h3_resolution"}
    with pytest.raises(
        ArtefactError, match=r"panel_meta\.json: key 'h3_resolution': Field required"
    ):
        run(folder, monkeypatch, audit=approved, meta=old)
    assert not (folder / "published").exists()
