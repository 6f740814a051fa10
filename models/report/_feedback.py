"""The documents' section "Does this forecast feed on itself?": gate G11 and the feedback stage's
closed loop, in words an ethics board reads without code.

Every sentence and row is built here from ``feedback.json``
(:class:`beatwise.artefacts.feedback.FeedbackReport`) and G11's record in ``audit.json``, so the
bias report and the model card say the same thing; the templates (``_feedback.html`` and the
card's "Feedback stability") only lay them out. Groups are named by their labels in words, with
the key in brackets where a table shows it.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

from beatwise.artefacts.audit import Gate
from beatwise.artefacts.feedback import FeedbackReport, GroupDrift, ScenarioResult, SeedInterval
from beatwise.taxonomy import DISPLAY_NAMES, POLICE_ACTIVITY_TYPES
from models.audit import SYNTHETIC_EVIDENCE, configured_scenario
from models.report._format import capfirst, fmt, interval, pct


@dataclass(frozen=True)
class ScenarioRow:
    """One scenario, side by side with the others (the configured one first)."""

    name: str
    label: str
    configured: bool
    status: str
    #: the group whose drift is furthest from 1, in words, with its drift and interval
    largest: str
    gini_closed: str
    gini_open: str
    gini_harm: str
    outside_closed: str
    outside_open: str
    recorded_in_flagged: str
    recorded_in_flagged_interval: str


@dataclass(frozen=True)
class GroupRow:
    """One group of the configured scenario."""

    label: str
    key: str
    harm_share: str
    closed: str
    closed_interval: str
    open: str
    open_interval: str
    drift: str
    drift_interval: str
    #: the drift's growth per year over the run's second half, as a factor ("×1.04 a year")
    trend: str
    trend_interval: str
    status: str
    reason: str


@dataclass(frozen=True)
class FeedbackView:
    """The section's content: G11's verdict, what the loop does, the tables and the figure."""

    status: str
    explanation: str
    #: whether the feedback stage's report reached the documents (without it: G11's words only)
    simulated: bool
    synthetic_evidence_only: bool = False
    #: the sentence a real city's documents print (empty on the synthetic city itself)
    synthetic_sentence: str = ""
    #: what the loop does, one sentence each
    loop: tuple[str, ...] = ()
    #: the configured scenario's label, and its largest drift in one sentence
    configured_label: str = ""
    largest: str = ""
    scenarios: tuple[ScenarioRow, ...] = ()
    groups: tuple[GroupRow, ...] = ()
    band: str = ""
    window: int = 0
    top_k: int = 0
    #: the drift figure as base64 PNG (None: not supplied to the documents)
    figure: str | None = None


def read_feedback_figure(feedback_json: Path, report: FeedbackReport) -> bytes:
    """The drift figure's PNG, at ``report.figure`` relative to ``feedback.json``'s folder.

    Refuses a figure that is missing, naming both files.
    """
    path = Path(feedback_json).parent / report.figure
    if not path.is_file():
        raise FileNotFoundError(
            f"{feedback_json} names its drift figure {report.figure!r}, but {path} does not "
            "exist. Re-run the feedback stage, which writes both."
        )
    return path.read_bytes()


def _final(values: list[float | None]) -> float | None:
    """The last defined weekly value (the end of the run)."""
    return next((v for v in reversed(values) if v is not None and math.isfinite(v)), None)


def _log_drift(g: GroupDrift) -> float:
    v = g.drift.value
    return abs(math.log(v)) if v is not None and math.isfinite(v) and v > 0 else -1.0


def _ci(x: SeedInterval, digits: int = 2) -> str:
    return interval(x.low, x.high, digits)


def _times(x: float | None) -> str:
    """A slope of log drift per year as the factor the drift grows by in a year ("×1.04")."""
    return "n/a" if x is None or not math.isfinite(x) else f"×{math.exp(x):.2f}"


def _factor(x: float | None) -> str:
    """A slope of log drift per year in words ("×1.04 a year")."""
    times = _times(x)
    return times if times == "n/a" else f"{times} a year"


def _factor_interval(x: SeedInterval) -> str:
    if x.low is None or x.high is None:
        return "—"
    return f"{_times(x.low)} – {_times(x.high)}"


def _drift_words(g: GroupDrift | None) -> str:
    if g is None:
        return "no group could be judged"
    return f"{capfirst(g.label)}: {fmt(g.drift.value)} (95% interval over seeds {_ci(g.drift)})"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _board_order(groups: list[GroupDrift]) -> list[GroupDrift]:
    """Resident groups first, then the districts judged, then those too small to judge."""
    rank = {"resident group": 0, "district": 1}
    return sorted(
        groups,
        key=lambda g: (rank[g.kind], g.kind == "district" and g.status == "INSUFFICIENT DATA"),
    )


def _largest(s: ScenarioResult) -> GroupDrift | None:
    """The group furthest from 1 among those judged (too few flags or residents: never the
    headline); among the others only when no group was judged."""
    defined = [g for g in s.groups if g.drift.value is not None]
    judged = [g for g in defined if g.status != "INSUFFICIENT DATA"] or defined
    return max(judged, key=_log_drift) if judged else None


def _loop_sentences(r: FeedbackReport) -> tuple[str, ...]:
    police = ", ".join(DISPLAY_NAMES.get(t, t).lower() for t in POLICE_ACTIVITY_TYPES)
    basis = r.reporting_uplift_basis.strip().rstrip(".")
    basis_text = f" Basis: {basis}." if basis else ""
    extra = max(r.dose - 1.0, 0.0)
    if r.reporting_uplift > 0:
        reporting = (
            "Victims report crime more often where patrol is higher: in flagged cells the chance "
            f"that a victim reports rises by {pct(r.reporting_uplift * extra)} (a reporting "
            f"uplift of {r.reporting_uplift:g} for each extra unit of patrol)." + basis_text
        )
    else:
        reporting = "Victims report crime as often as without the patrol (no reporting uplift)."
        reporting += basis_text
    if r.deterrence > 0:
        deterrence = (
            "Patrol deters some crime: in flagged cells the crime committed falls by "
            f"{pct(1.0 - math.exp(-r.deterrence * extra))} (deterrence {r.deterrence:g})."
        )
    else:
        deterrence = (
            "Patrol deters no crime here (deterrence 0): the harm actually done does not answer "
            "the flags, only what is recorded does."
        )
    seeds = ", ".join(str(s) for s in r.seeds)
    return (
        f"Each simulated week, the forecast flags the {pct(r.coverage)} of the area where it "
        "expects the most crime.",
        f"Patrol in the flagged cells is set to {r.dose:g} times its usual level (the dose); "
        f"elsewhere it stays as usual. Basis: {r.dose_basis.strip().rstrip('.')}.",
        f"Police-activity crimes ({police}), which police mostly find themselves, are recorded "
        "more where there is more patrol.",
        reporting,
        deterrence,
        "The next week's forecast learns from what was recorded, so the flags can chase their "
        "own records.",
        f"This ran for {r.weeks} weeks on each of {_seeds(len(r.seeds))} of the synthetic city "
        f"({seeds}: one city, its crimes and their recording drawn anew for each seed), "
        f"refitting the model every {r.refit_every} weeks, and again with the same city and "
        "seeds but with flags that never reach the data (the open loop).",
        "A group's drift is its share of the flags over its share of the true harm (crime "
        "committed, reported or not) in the closed loop, divided by the same in the open loop, "
        f"over the last {r.window} weeks: 1 means the loop adds nothing; 1.3 means the group "
        "draws 30% more of the flags, for its harm, than it would if the flags did not feed back.",
        f"G11 judges the configured scenario: it passes while every drift ends inside the "
        f"amplification band [{r.band[0]:.2f}, {r.band[1]:.2f}] and does not keep growing. "
        f"Districts and groups with fewer than {r.min_flagged_cell_weeks:,} flagged cell-weeks "
        f"or fewer than {r.min_residents:,.0f} residents are reported as insufficient data, "
        "never silently passed.",
    )


def _scenario_row(s: ScenarioResult) -> ScenarioRow:
    c = s.concentration
    return ScenarioRow(
        name=s.name,
        label=s.label,
        configured=s.configured,
        status=s.status,
        largest=_drift_words(_largest(s)),
        gini_closed=fmt(c.final_gini_flags_closed.value),
        gini_open=fmt(c.final_gini_flags_open.value),
        gini_harm=fmt(_final(c.gini_harm.mean)),
        outside_closed=pct(c.final_outside_top_k_closed.value),
        outside_open=pct(c.final_outside_top_k_open.value),
        recorded_in_flagged=fmt(s.recorded_in_flagged_ratio.value),
        recorded_in_flagged_interval=_ci(s.recorded_in_flagged_ratio),
    )


def _group_row(g: GroupDrift) -> GroupRow:
    return GroupRow(
        label=capfirst(g.label),
        key=g.key,
        harm_share=pct(g.harm_share.value),
        closed=fmt(g.closed_ratio.value),
        closed_interval=_ci(g.closed_ratio),
        open=fmt(g.open_ratio.value),
        open_interval=_ci(g.open_ratio),
        drift=fmt(g.drift.value),
        drift_interval=_ci(g.drift),
        trend=_factor(g.trend_per_year.value),
        trend_interval=_factor_interval(g.trend_per_year),
        status=g.status,
        reason=g.reason,
    )


def feedback_view(
    gate: Gate | None, report: FeedbackReport | None, *, figure_png: bytes | None = None
) -> FeedbackView:
    """The section's content from G11's record and the feedback stage's report (either may be
    missing: an audit without G11 says so, and one without the report shows G11's words)."""
    status = gate.status if gate is not None else "NOT CHECKED"
    explanation = gate.explanation if gate is not None else "Gate G11 is not in this audit."
    if report is None:
        return FeedbackView(status=status, explanation=explanation, simulated=False)
    configured = configured_scenario(report)
    ordered = [configured] + [s for s in report.scenarios if s is not configured]
    largest = _largest(configured)
    return FeedbackView(
        status=status,
        explanation=explanation,
        simulated=True,
        synthetic_evidence_only=report.synthetic_evidence_only,
        synthetic_sentence=SYNTHETIC_EVIDENCE if report.synthetic_evidence_only else "",
        loop=_loop_sentences(report),
        configured_label=configured.label,
        largest=(
            "In the configured scenario, no district or group could be judged."
            if largest is None
            else f"In the configured scenario, the largest drift is that of {largest.label}: "
            f"{fmt(largest.drift.value)} times its open-loop share of flags for its harm (95% "
            f"interval over seeds {_ci(largest.drift)}; {largest.status})."
        ),
        scenarios=tuple(_scenario_row(s) for s in ordered),
        groups=tuple(_group_row(g) for g in _board_order(configured.groups)),
        band=f"[{report.band[0]:.2f}, {report.band[1]:.2f}]",
        window=report.window,
        top_k=configured.concentration.top_k,
        figure=None if figure_png is None else base64.b64encode(figure_png).decode("ascii"),
    )
