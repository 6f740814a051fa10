"""``reports/audit.json``: the audit writes it through its typed definition, and it reads back.

A producer's output validates, and writing what was read gives the same bytes; a file that
disagrees with the definition is refused naming the file and the key; publish's questions
(publishable? which status?) are answered by the definition.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from audit_inputs import SETUP, city, make_metrics, report_context

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.audit import AuditReport, Check, PublicationBlockedError
from models.audit import (
    AuditOverride,
    AuditResult,
    BacktestArrays,
    TargetDefinition,
    audit_backtest,
)
from models.report import (
    DataQualitySummary,
    document_audit,
)


@pytest.fixture(scope="module")
def audited() -> tuple[AuditResult, AuditReport]:
    """The audit stage's audit of a small city, G10 judged on the rendered documents."""
    cells, backtest = city()
    arrays = BacktestArrays.from_frames(backtest, cells)
    metrics = make_metrics()
    # drugs in the target without a written reason: G1 fails, and the override names it
    setup = replace(SETUP, target=TargetDefinition(target_types=("burglary", "drugs")))
    override = AuditOverride(
        approving_body="Toy City Ethics Board",
        date=dt.date(2024, 5, 1),
        reason="A test of the recorded override.",
        gates=("G1", "G2", "G3", "G4", "G5", "G6"),
        expires=dt.date(2024, 6, 1),
    )
    result = audit_backtest(arrays, setup=setup, metrics=metrics, override=override)
    docs = document_audit(
        result, metrics=metrics, data_quality=DataQualitySummary(), context=report_context()
    )
    return result, docs.audit


def test_producer_output_round_trips_to_identical_bytes(
    audited: tuple[AuditResult, AuditReport], tmp_path: Path
) -> None:
    _, report = audited
    first, second = tmp_path / "audit.json", tmp_path / "again.json"
    report.write(first)
    read = AuditReport.read(first)
    assert read == report
    read.write(second)
    assert first.read_bytes() == second.read_bytes()
    raw = json.loads(first.read_text())
    assert {"counterfactuals", "counterfactual_gates", "coverage_sensitivity"} <= set(raw)
    assert raw["gates"]["G10"]["status"] == "PASS"


def test_the_file_keeps_each_checks_shape(audited: tuple[AuditResult, AuditReport]) -> None:
    # judged comparisons carry an interval (and a group's label); exact checks (G9, G10) carry
    # none, not a null one
    raw = audited[1].to_json()
    minority = raw["gates"]["G2"]["by_group"]["ethnicity"]["minority"]
    assert minority["label"] == "residents of minority groups"
    assert set(minority) == {
        "label",
        "value",
        "ci_low",
        "ci_high",
        "status",
        "band",
        "note",
    }
    small = raw["gates"]["G9"]["by_group"]["checks"]["small_counts"]
    assert set(small) == {"value", "status", "band", "note"}
    assert raw["gates"]["G9"]["by_group"]["checks"]["resolution"]["value"] == 8  # an int
    assert isinstance(audited[1].gates["G10"].by_group["documents"]["model_card"], Check)
    # a stratum of cells is labelled in words too; an exact check is not
    q1 = raw["gates"]["G6"]["by_group"]["minority_share (all cells)"]["Q1"]
    assert q1["label"] == "cells in the lowest fifth by minority share"


def test_figures_are_finite_or_null(audited: tuple[AuditResult, AuditReport]) -> None:
    text = json.dumps(audited[1].to_json(), allow_nan=False)  # no NaN reaches the file
    assert '"publishable": true' in text


def test_a_file_that_disagrees_is_refused_naming_file_and_key(
    audited: tuple[AuditResult, AuditReport], tmp_path: Path
) -> None:
    raw = audited[1].to_json()
    raw["gates"]["G3"]["stauts"] = raw["gates"]["G3"].pop("status")
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtefactError, match=r"audit\.json: key 'gates\.G3\.status'"):
        AuditReport.read(path)
    raw = audited[1].to_json()
    raw["publishable"] = False  # but the override applied lifts the blocking gates
    with pytest.raises(ArtefactError, match="publishable is"):
        AuditReport.from_json(raw, source="audit.json")


def test_publish_reads_status_and_publishability(audited: tuple[AuditResult, AuditReport]) -> None:
    result, report = audited
    assert report.publishable and report.override_applied is not None
    assert report.status == "override"
    report.check_publishable()  # does not raise
    blocked = result.with_documentation(report_html="", model_card_md="", record_md="").to_report()
    assert not blocked.publishable and "G10" in blocked.blocking_gates
    with pytest.raises(PublicationBlockedError, match=r"(?s)no forecast was written.*G10 FAIL"):
        blocked.check_publishable()


def test_status_words_for_planners(audited: tuple[AuditResult, AuditReport]) -> None:
    raw = audited[1].to_json()
    for gate in raw["gates"].values():
        gate["status"] = "PASS"
    raw.update(blocking_gates=[], review_gates=[], override_applied=None, publishable=True)
    assert AuditReport.from_json(raw).status == "pass"
    raw["gates"]["G2"]["status"] = "REVIEW"
    raw["review_gates"] = ["G2"]
    assert AuditReport.from_json(raw).status == "pass with review"
