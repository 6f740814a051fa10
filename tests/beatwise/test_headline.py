"""``reports/compare/``: the headline DVC compares, taken from the full figures and the audit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from audit_inputs import audited_city_report, blocked_on_g3, make_metrics, pass_with_review

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.headline import (
    BACKTEST_WORDS,
    BacktestHeadline,
    GatesHeadline,
    significant,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.99876543, 0.99877),
        (11.6834, 11.683),
        (123456.7, 123460.0),
        (None, None),
        (math.nan, None),
        (math.inf, None),
    ],
)
def test_figures_keep_five_significant_figures(value: float | None, expected: float) -> None:
    assert significant(value) == expected


def test_backtest_headline_is_the_model_at_the_operational_coverage(tmp_path: Path) -> None:
    metrics = make_metrics(estimate=1.123456, ci=(1.0412345, 1.2134567))
    head = BacktestHeadline.from_backtest(metrics)
    assert (head.coverage, head.pai, head.hit_rate, head.pei) == (0.05, 6.2, 0.31, 0.71)
    assert (head.lift, head.lift_ci_low, head.lift_ci_high) == (1.1235, 1.0412, 1.2135)
    assert head.best_baseline == "b4_all_history"
    assert head.pei_truth is None  # no truth in these figures
    head.write(tmp_path / "backtest.json")
    on_disk = json.loads((tmp_path / "backtest.json").read_text())
    # flat keys, each named in words for `beatwise compare`, nothing else
    assert set(on_disk) == set(BACKTEST_WORDS)
    assert BacktestHeadline.read(tmp_path / "backtest.json") == head


def test_a_headline_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    raw = BacktestHeadline.from_backtest(make_metrics()).to_json() | {"pai_at_5pct": 1.0}
    (tmp_path / "backtest.json").write_text(json.dumps(raw))
    with pytest.raises(ArtefactError, match="pai_at_5pct"):
        BacktestHeadline.read(tmp_path / "backtest.json")


def test_gates_headline_carries_the_verdict_and_every_gate() -> None:
    report = audited_city_report()
    review = GatesHeadline.from_audit(pass_with_review(report))
    assert review.verdict == "pass with review"
    assert set(review.gates) == set(report.gates)
    assert review.gates["G2"] == "REVIEW"
    blocked = GatesHeadline.from_audit(blocked_on_g3(report))
    assert blocked.verdict == "blocked"
    assert blocked.gates["G3"] == "FAIL"
