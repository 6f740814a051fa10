"""The drift figure of the feedback stage: a PNG, the same bytes for the same report."""

from __future__ import annotations

from pathlib import Path

from feedback_inputs import WEEKS, make_feedback

from beatwise.artefacts.feedback import FeedbackReport
from models.feedback.figure import drift_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert b"Software" not in data  # no version-dependent metadata
    assert not [f for f in path.parent.iterdir() if f.name.endswith(".tmp")]
    return data


def test_the_figure_is_a_png_and_byte_identical_when_written_twice(tmp_path: Path) -> None:
    report = make_feedback("REVIEW")
    first = tmp_path / "new" / "folder" / "feedback_drift.png"
    second = tmp_path / "again.png"
    drift_figure(report, first)
    drift_figure(FeedbackReport.from_json(report.to_json()), second)
    assert _png(first) == _png(second)


def test_the_figure_draws_the_reports_figures(tmp_path: Path) -> None:
    drift_figure(make_feedback("PASS"), tmp_path / "pass.png")
    drift_figure(make_feedback("FAIL"), tmp_path / "fail.png")
    assert _png(tmp_path / "pass.png") != _png(tmp_path / "fail.png")


def test_a_scenario_without_any_drift_still_gets_its_panel(tmp_path: Path) -> None:
    raw = make_feedback("PASS").model_dump()
    for g in raw["scenarios"][0]["groups"]:
        g["drift"]["value"] = None
        g["drift_weekly"] = {"mean": [None] * WEEKS, "low": [None] * WEEKS, "high": [None] * WEEKS}
    drift_figure(FeedbackReport.model_validate(raw), tmp_path / "empty.png")
    _png(tmp_path / "empty.png")


def test_the_largest_drift_shown_is_a_judged_group_never_one_too_small_to_judge() -> None:
    from feedback_inputs import group, scenario

    from models.feedback.figure import _largest_district
    from models.report._feedback import _board_order, _largest

    groups = [
        group("minority", "residents of minority groups", drift=(1.02, 0.99, 1.05)),
        group("ashbourne", "district Ashbourne", drift=(1.1, 1.0, 1.2), district=True),
        group(
            "calder",
            "district Calder",
            drift=(2.5, 0.5, 9.0),
            status="INSUFFICIENT DATA",
            district=True,
            flagged=3,
        ),
    ]
    s = scenario(
        "configured", "As configured.", configured=True, groups=groups, status="PASS", summary="-"
    )
    assert _largest(s).key == "ashbourne"  # type: ignore[union-attr]
    assert _largest_district(s).key == "ashbourne"  # type: ignore[union-attr]
    # the board reads resident groups first, then judged districts, then the rest
    assert [g.key for g in _board_order(list(reversed(groups)))] == [
        "minority",
        "ashbourne",
        "calder",
    ]
    only_small = scenario(
        "configured",
        "As configured.",
        configured=True,
        groups=groups[2:],
        status="PASS",
        summary="-",
    )
    assert _largest(only_small).key == "calder"  # type: ignore[union-attr]
