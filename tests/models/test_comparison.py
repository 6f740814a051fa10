"""The plain-English comparison with the best simple baseline: better, no better, worse, unknown,
decided by the 95% interval of the backtest's lift, and carried by the card and the report."""

from __future__ import annotations

import pytest
from audit_inputs import make_metrics

from beatwise.artefacts.metrics import Lift
from models.baselines import BASELINE_NAMES, BASELINE_WORDS, baseline_names, baseline_words
from models.report import compare_with_baseline, render_model_card

B4 = "a count of all past recorded crime in each place (B4)"


def _lift(estimate: float | None, low: float | None, high: float | None) -> Lift:
    return Lift(baseline="all_history", estimate=estimate, ci_low=low, ci_high=high)


@pytest.mark.parametrize(
    ("lift", "conclusion", "headline"),
    [
        (
            _lift(1.012, 1.004, 1.021),
            "better",
            f"Better than {B4}: 1.2% more recorded crime caught in the same share of the area "
            "(95% interval: 0.4% more to 2.1% more).",
        ),
        (
            # the default city: 0.999 (0.995 - 1.004), a tie
            _lift(0.999274, 0.995061, 1.003948),
            "no better",
            f"No better than {B4}: 0.1% less recorded crime caught in the same share of the area "
            "(95% interval: 0.5% less to 0.4% more).",
        ),
        (
            _lift(1.0003, 0.9998, 1.0008),
            "no better",
            f"No better than {B4}: the same amount of recorded crime caught in the same share of "
            "the area (95% interval: no difference to 0.1% more).",
        ),
        (
            _lift(0.93, 0.90, 0.97),
            "worse",
            f"Worse than {B4}: 7.0% less recorded crime caught in the same share of the area "
            "(95% interval: 10.0% less to 3.0% less).",
        ),
    ],
)
def test_the_interval_decides_the_words(lift: Lift, conclusion: str, headline: str) -> None:
    out = compare_with_baseline(lift, coverage=0.05)
    assert out.conclusion == conclusion
    assert out.headline == headline
    assert out.sentence.startswith(
        f"Against {B4}, the best of the simple baselines, flagging the same 5.0% of the area"
    )


def test_a_tie_is_said_to_be_no_better_and_the_shared_places_are_counted() -> None:
    out = compare_with_baseline(
        _lift(0.999274, 0.995061, 1.003948), coverage=0.05, shared_area=0.94
    )
    assert "the model does no better than this simple rule" in out.sentence
    assert out.sentence.endswith(
        "The two flag largely the same places: 94% of the area the baseline flags, the model "
        "flags too."
    )
    assert "mostly different places" in (
        compare_with_baseline(_lift(1.2, 1.1, 1.3), coverage=0.05, shared_area=0.3).sentence
    )


def test_a_point_without_an_interval_draws_no_conclusion() -> None:
    out = compare_with_baseline(_lift(1.05, None, None), coverage=0.05)
    assert out.conclusion == "unknown" and "so no conclusion" in out.headline
    none = compare_with_baseline(_lift(None, None, None), coverage=0.05)
    assert none.conclusion == "unknown" and "the backtest gave no lift" in none.headline


def test_every_baseline_has_words() -> None:
    assert set(BASELINE_WORDS) == set(BASELINE_NAMES) | set(baseline_names("month"))
    assert baseline_words("b4_all_history") == "the baseline 'b4_all_history'"


def test_the_card_and_the_report_say_it_from_metrics_json() -> None:
    from test_report import _audit, _context, _render, _text

    audit = _audit()
    for estimate, ci, words in (
        (1.12, (1.04, 1.21), "Better than the baseline 'b4_all_history': 12.0% more"),
        (0.999, (0.995, 1.004), "No better than the baseline 'b4_all_history': 0.1% less"),
        (0.9, (0.85, 0.95), "Worse than the baseline 'b4_all_history': 10.0% less"),
    ):
        metrics = make_metrics(estimate=estimate, ci=ci)
        html = _text(_render(audit, metrics=metrics))
        card = render_model_card(audit, metrics=metrics, context=_context())
        for document in (html, card.replace("**", "")):
            # at the top, beside the verdict, and again under performance in full
            assert f"Against the simple baselines. {words}" in document
            assert "the best of the simple baselines" in document
