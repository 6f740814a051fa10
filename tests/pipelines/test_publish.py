"""The publication gate: a blocked audit writes nothing and leaves the last forecast in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import publish
from pipelines.publish import PublicationBlockedError, audit_status, check_publishable

BLOCKED = {
    "publishable": False,
    "blocking_gates": ["G3"],
    "gates": {
        "G1": {"status": "PASS"},
        "G3": {
            "status": "FAIL",
            "value": 0.52,
            "ci_low": 0.5,
            "ci_high": 0.53,
            "band": "[0.80, 1.25]",
            "explanation": "'q5' residents bear 0.52 times the flagging per unit of protection.",
        },
    },
}


def test_check_names_the_gate_and_the_figure() -> None:
    with pytest.raises(PublicationBlockedError, match=r"G3 FAIL: value 0.52 .*0.5 to 0.53"):
        check_publishable(BLOCKED)
    check_publishable({"publishable": True, "gates": {}})


def test_status_words() -> None:
    assert audit_status({"gates": {"G1": {"status": "PASS"}}}) == "pass"
    assert audit_status({"gates": {"G2": {"status": "REVIEW"}}}) == "pass with review"
    assert audit_status({"override_applied": {"gates": ["G3"]}, "gates": {}}) == "override"


def test_blocked_stage_exits_non_zero_and_leaves_the_old_forecast(tmp_path: Path) -> None:
    (tmp_path / "audit.json").write_text(json.dumps(BLOCKED))
    out = tmp_path / "forecasts"
    out.mkdir()
    (out / "forecast.csv").write_text("old forecast\n")
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    code = publish.main(
        [
            "--features", str(tmp_path / "absent.parquet"),
            "--panel-meta", str(tmp_path / "absent.json"),
            "--cells", str(tmp_path / "absent.parquet"),
            "--model", str(tmp_path / "absent.txt"),
            "--model-meta", str(tmp_path / "absent.json"),
            "--audit", str(tmp_path / "audit.json"),
            "--report", str(tmp_path / "absent.html"),
            "--out-dir", str(out),
            "--params", str(params),
        ]
    )  # fmt: skip
    assert code == 1
    assert (out / "forecast.csv").read_text() == "old forecast\n"
    assert sorted(p.name for p in out.iterdir()) == ["forecast.csv"]
