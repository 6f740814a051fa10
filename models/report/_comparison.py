"""How the model compares with the best of the simple baselines, in words a board member would
repeat: "no better than a count of all past recorded crime in each place (B4)".

The figure is the backtest's lift: the model's PAI over the best baseline's at the operational
coverage, pooled over the backtest, with its 95% block-bootstrap interval (METRICS.md). Flagging
the same share of the area, a PAI ratio is the ratio of the recorded crime each catches, so a lift
of 1.012 reads "1.2% more recorded crime caught". The conclusion follows the interval, never the
point alone: better when the whole interval is above 1, worse when it is below, otherwise no
better (a difference the backtest cannot tell from none). The best baseline is the simple rule
with the highest PAI, so "no better than the best" also means "no better than the rest".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from beatwise.artefacts.metrics import Lift
from models.baselines import baseline_words
from models.report._format import is_num, pct

Conclusion = Literal["better", "no better", "worse", "unknown"]

#: below this share of the same flagged area, two rankings "flag mostly different places"
_MOSTLY_DIFFERENT = 0.5
#: from this share on, they "flag largely the same places"
_LARGELY_SAME = 0.8


@dataclass(frozen=True)
class BaselineComparison:
    """The model against the best simple baseline, as the documents word it."""

    conclusion: Conclusion
    #: the baseline's key in backtest_metrics.json (``all_history``)
    baseline: str
    #: the baseline in words: "a count of all past recorded crime in each place (B4)"
    baseline_words: str
    #: one line: "No better than a count of ... (B4): 0.1% less recorded crime caught (95% ...)."
    headline: str
    #: the paragraph: what was compared, the figure, its interval, and the conclusion
    sentence: str


def _change(ratio: float, *, same: str = "the same amount of") -> str:
    """A ratio of crime caught in words: 1.012 -> "1.2% more", 0.999 -> "0.1% less" (within
    0.05%: ``same``)."""
    points = (ratio - 1.0) * 100.0
    if abs(points) < 0.05:
        return same
    return f"{abs(points):.1f}% {'more' if points > 0 else 'less'}"


def _interval(lo: float, hi: float) -> str:
    return (
        f"95% interval: {_change(lo, same='no difference')} to {_change(hi, same='no difference')}"
    )


def _places(shared: float | None) -> str:
    if not is_num(shared):
        return ""
    assert shared is not None
    if shared >= _LARGELY_SAME:
        words = "largely the same places"
    elif shared >= _MOSTLY_DIFFERENT:
        words = "many of the same places"
    else:
        words = "mostly different places"
    return (
        f" The two flag {words}: {pct(shared, 0)} of the area the baseline flags, the model "
        "flags too."
    )


def compare_with_baseline(
    lift: Lift, *, coverage: float, shared_area: float | None = None
) -> BaselineComparison:
    """The model against ``lift.baseline`` in words, from ``backtest_metrics.json``'s lift.

    Parameters
    ----------
    lift : Lift
        The model's pooled PAI over the best baseline's, with its 95% interval.
    coverage : float
        The operational coverage (share of the area flagged), for the words.
    shared_area : float, optional
        The share of the baseline's flagged area the model flags too (``audit.json``'s board
        panel), to say whether they flag the same places.
    """
    words = baseline_words(lift.baseline)
    est, lo, hi = lift.estimate, lift.ci_low, lift.ci_high
    same = f"flagging the same {pct(coverage)} of the area"
    if not is_num(est):
        return BaselineComparison(
            conclusion="unknown",
            baseline=lift.baseline,
            baseline_words=words,
            headline=f"Not compared with {words}: the backtest gave no lift.",
            sentence=f"The backtest could not compare the model with {words}, the best of the "
            "simple baselines: it recorded no lift, so no conclusion is drawn.",
        )
    assert est is not None
    caught = f"{_change(est)} recorded crime caught"
    if not (is_num(lo) and is_num(hi)):
        return BaselineComparison(
            conclusion="unknown",
            baseline=lift.baseline,
            baseline_words=words,
            headline=f"Compared with {words}: {caught}, without an interval, so no conclusion.",
            sentence=f"Against {words}, the best of the simple baselines, {same}, the model "
            f"caught {_change(est)} recorded crime in the backtest; the backtest gave no interval "
            "for that figure, so no conclusion is drawn.",
        )
    assert lo is not None and hi is not None
    interval = _interval(lo, hi)
    conclusion: Conclusion
    if lo > 1.0:
        conclusion, verdict = "better", f"Better than {words}"
        tail = "The whole interval lies above no difference: the model does better."
    elif hi < 1.0:
        conclusion, verdict = "worse", f"Worse than {words}"
        tail = "The whole interval lies below no difference: the model does worse."
    else:
        conclusion, verdict = "no better", f"No better than {words}"
        tail = (
            "The interval includes no difference at all: the model does no better than this "
            "simple rule, and the backtest cannot tell the two apart."
        )
    sentence = (
        f"Against {words}, the best of the simple baselines, {same} in each backtest period, the "
        f"model caught {_change(est)} recorded crime ({interval}). {tail}" + _places(shared_area)
    )
    return BaselineComparison(
        conclusion=conclusion,
        baseline=lift.baseline,
        baseline_words=words,
        headline=f"{verdict}: {caught} in the same share of the area ({interval}).",
        sentence=sentence,
    )
