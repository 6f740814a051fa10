"""The gates: each turns figures into a status, a value with its interval, a band and a text.

G1 judges the target definition, G2-G5 the group ratios, G6 and G7 the strata, G8 the lift over
the best baseline, G9 what publish will write; G10 (the documents) is judged in
``_documentation``, G11 (the closed loop) in ``_feedback``, G12 (the board's limits) in
``_envelope``. :func:`judge_gates` asks all of them in order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Final

import numpy as np

from beatwise.artefacts.audit import BandCheck, Check
from beatwise.artefacts.feedback import FeedbackReport
from beatwise.artefacts.metrics import Lift
from beatwise.taxonomy import POLICE_ACTIVITY_TYPES
from models.audit._bands import (
    Entry,
    band_text,
    classify_against_band,
    fmt,
    gate_from_entries,
    judged_entry,
)
from models.audit._catalogue import GATE_KINDS, Status
from models.audit._config import AuditConfig, GranularityCheck, TargetDefinition
from models.audit._documentation import not_checked_documentation
from models.audit._envelope import EnvelopeFigures, gate_envelope
from models.audit._feedback import gate_feedback
from models.audit._figures import GroupInternals, StrataInternals
from models.audit._gate import GateResult
from models.baselines import baseline_label
from models.bootstrap import percentile_interval

logger = logging.getLogger(__name__)

#: The amplification gates: (gate, quantity, phrase). A phrase names the group ``{g}`` in words
#: with its key ("residents of the most deprived fifth of areas (q1)"), the reference ``{ref}``
#: and the amplification ``{v}``.
_AMPLIFICATION_GATES: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "G2",
        "exposure_ratio",
        "the model makes {g} live in flagged cells, relative to all residents, {v} times as "
        "often as {ref} does",
    ),
    (
        "G3",
        "burden_benefit",
        "the model gives {g} {v} times the flagging per unit of protection that {ref} gives them",
    ),
    (
        "G4",
        "false_flag_ratio",
        "under the model, flagged cells where {g} live had no target event {v} times as often "
        "(relative to all residents) as under {ref}",
    ),
)


def judge_gates(
    *,
    config: AuditConfig,
    target: TargetDefinition,
    target_event_counts: Mapping[str, float] | None,
    groups: GroupInternals,
    strata: StrataInternals,
    lift: Lift | None,
    granularity: GranularityCheck,
    reference: str,
    envelope: EnvelopeFigures | None = None,
    feedback: FeedbackReport | None = None,
) -> dict[str, GateResult]:
    """Gates G1-G12 in order; G10 is NOT CHECKED until the documents are judged.

    ``reference`` names the reference allocation in words ("the true risk"); ``envelope`` the
    board's limits with the figures they judge and whether they have expired; ``feedback`` the
    closed-loop simulation (``feedback.json``), without which G11 is NOT CHECKED.
    """
    low, high = config.amplification_band
    gates = {"G1": gate_target_purity(target, target_event_counts)}
    for gate, key, phrase in _AMPLIFICATION_GATES:
        gates[gate] = amplification_gate(
            gate, groups, key=key, low=low, high=high, phrase=phrase, reference=reference
        )
    gates["G5"] = gate_protection(groups, config, reference=reference)
    gates["G6"] = gate_calibration(strata, config)
    gates["G7"] = gate_quality_of_service(strata, config, reference=reference)
    gates["G8"] = gate_baselines(lift, config)
    gates["G9"] = gate_granularity(granularity)
    gates["G10"] = not_checked_documentation()
    gates["G11"] = gate_feedback(feedback)
    gates["G12"] = gate_envelope(envelope)
    return gates


def gate_target_purity(target: TargetDefinition, counts: Mapping[str, float] | None) -> GateResult:
    """G1: police-activity types in the target need a written reason; their share of events."""
    pa = [t for t in target.target_types if t in POLICE_ACTIVITY_TYPES]
    reasons = {t: target.police_activity_reasons.get(t, "").strip() for t in pa}
    unjustified = [t for t in pa if not reasons[t]]
    total = sum(float(counts.get(t, 0.0)) for t in target.target_types) if counts else 0.0
    share: float | None = None
    by_type: dict[str, BandCheck | Check] = {}
    if counts is not None and total > 0:
        share = sum(float(counts.get(t, 0.0)) for t in unjustified) / total
    for t in pa:
        t_share = float(counts.get(t, 0.0)) / total if counts is not None and total > 0 else None
        by_type[t] = BandCheck(
            value=t_share,
            ci_low=None,
            ci_high=None,
            status="PASS" if reasons[t] else "FAIL",
            band="named with a written reason",
            note=reasons[t] or "no written reason given in params",
        )
    if counts is not None and total <= 0:
        logger.warning("G1: the target event counts sum to zero; judging the definition alone.")
    if unjustified:
        status: Status = "FAIL"
        share_text = f" ({share:.1%} of target events)" if share is not None else ""
        text = (
            f"The target includes police-activity type(s) {', '.join(unjustified)}{share_text} "
            "without a written reason, so the forecast would partly predict where police look "
            "rather than where victims are harmed."
        )
    elif pa:
        status = "PASS"
        text = (
            f"The target includes police-activity type(s) {', '.join(pa)}, each named in params "
            "with a written reason that this report shows."
        )
        share = 0.0 if share is not None else None
    else:
        status = "PASS"
        share = 0.0
        text = "The target contains only victim-reported crime types; no police-activity types."
    return GateResult(
        "G1",
        status,
        share,
        None,
        None,
        "0 unless named with a written reason",
        text,
        {"police_activity_in_target": by_type} if by_type else {},
    )


def _group_entry(
    g: dict[str, object],
    *,
    section: str,
    key: str,
    values: np.ndarray,
    low: float | None,
    high: float | None,
    phrase: str,
    gate: str,
) -> Entry:
    rep = np.asarray(values, dtype=np.float64)
    return judged_entry(
        section=section,
        label=key,
        value=float(rep[0]),
        interval=percentile_interval(rep[1:]),
        low=low,
        high=high,
        phrase=phrase,
        insufficient=str(g["insufficient"]) or None,
        soft=GATE_KINDS[gate] == "soft",
        name=str(g["label"]),
    )


def amplification_gate(
    gate: str,
    internals: GroupInternals,
    *,
    key: str,
    low: float,
    high: float,
    phrase: str,
    reference: str,
) -> GateResult:
    """G2-G4: one group ratio's amplification (model over reference) for every group."""
    entries = [
        _group_entry(
            g,
            section=attr_name,
            key=label,
            values=g[key],
            low=low,
            high=high,
            phrase=phrase.format(
                g=f"{g['label']} ({label})",
                ref=reference,
                v=fmt(float(g[key][0])),
            ),
            gate=gate,
        )
        for attr_name, groups in internals.items()
        for label, g in groups.items()
    ]
    return gate_from_entries(
        gate,
        entries,
        band=band_text(low, high),
        what="group's amplification",
        empty_reason="no sensitive attributes with two or more groups are configured",
    )


def gate_protection(
    internals: GroupInternals, config: AuditConfig, *, reference: str
) -> GateResult:
    """G5: (a) each group's discovery ratio, model over reference, at least the band's lower
    end; (b) each group's discovery under the model at least ``retention_min`` of the
    reference's (no levelling down)."""
    low = config.amplification_band[0]
    entries: list[Entry] = []
    for attr_name, groups in internals.items():
        for label, g in groups.items():
            named = f"{g['label']} ({label})"
            d = g["discovery_ratio"]
            k = g["retention"]
            entries.append(
                _group_entry(
                    g,
                    section=f"{attr_name}: discovery ratio",
                    key=label,
                    values=d,
                    low=low,
                    high=None,
                    phrase=(
                        f"relative to all residents, the model reaches {fmt(float(d[0]))} times "
                        f"the share of the recorded victimisation of {named} that {reference} "
                        "reaches"
                    ),
                    gate="G5",
                )
            )
            entries.append(
                _group_entry(
                    g,
                    section=f"{attr_name}: retention",
                    key=label,
                    values=k,
                    low=config.retention_min,
                    high=None,
                    phrase=(
                        f"the model reaches {fmt(float(k[0]))} times the share of the recorded "
                        f"victimisation of {named} that {reference} reaches"
                    ),
                    gate="G5",
                )
            )
    band = (
        f"discovery ratio {band_text(low, None)}; retention {band_text(config.retention_min, None)}"
    )
    return gate_from_entries(
        "G5",
        entries,
        band=band,
        what="comparison",
        empty_reason="no sensitive attributes with two or more groups are configured",
    )


def _stratum_spread(
    rep: np.ndarray, ok: list[int]
) -> tuple[float, tuple[float, float], str | None]:
    """Largest over smallest O/E across the sufficient strata, with its interval."""
    if len(ok) < 2:
        return math.nan, (math.nan, math.nan), "fewer than two strata large enough to compare"
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = rep[:, ok].max(axis=1) / rep[:, ok].min(axis=1)
    return float(spread[0]), percentile_interval(spread[1:]), None


def gate_calibration(strata: StrataInternals, config: AuditConfig) -> GateResult:
    """G6: observed over expected counts in each stratum (a) over all cells, (b) over the
    flagged cell-periods; and the largest over the smallest for each."""
    low, high = config.calibration_band
    entries: list[Entry] = []
    parts = (
        ("all cells", "oe", "unjudged", "recorded target events were"),
        (
            "flagged",
            "oe_flagged",
            "unjudged_flagged",
            "in flagged cells, recorded target events were",
        ),
    )
    for name, s in strata.items():
        keys: list[str] = s["keys"]
        names: list[str] = s["names"]
        if not keys:
            continue
        for part, arr_key, why_key, words in parts:
            rep: np.ndarray = s[arr_key]
            unjudged: list[str] = s[why_key]
            blocked: list[str] = s["insufficient"]
            section = f"{name} ({part})"
            for i, key in enumerate(keys):
                value = float(rep[0, i])
                entries.append(
                    judged_entry(
                        section=section,
                        label=key,
                        value=value,
                        interval=percentile_interval(rep[1:, i]),
                        low=low,
                        high=high,
                        phrase=f"among {names[i]} ({name} {key}), {words} {fmt(value)} times the "
                        "forecast count",
                        insufficient=blocked[i] or None,
                        soft=False,
                        name=names[i],
                        not_applicable=unjudged[i] or None,
                    )
                )
            ok = [i for i in range(len(keys)) if not (blocked[i] or unjudged[i])]
            value, interval, reason = _stratum_spread(rep, ok)
            entries.append(
                judged_entry(
                    section=section,
                    label="max/min",
                    value=value,
                    interval=interval,
                    low=None,
                    high=config.calibration_max_ratio,
                    phrase=(
                        f"across the strata of cells by {s['measure']} ({name}, {part}), the "
                        f"highest observed/expected ratio is {fmt(value)} times the lowest"
                    ),
                    insufficient=reason,
                    soft=False,
                    name=f"all strata of cells by {s['measure']} ({part})",
                )
            )
    band = f"each stratum in {band_text(low, high)}; max/min ≤ {config.calibration_max_ratio:.2f}"
    return gate_from_entries(
        "G6", entries, band=band, what="comparison", empty_reason="no strata are configured"
    )


def gate_quality_of_service(
    strata: StrataInternals, config: AuditConfig, *, reference: str
) -> GateResult:
    """G7 (soft): in each stratum, the model's PAI over the reference's; the lowest decides."""
    entries: list[Entry] = []
    for name, s in strata.items():
        keys: list[str] = s["keys"]
        names: list[str] = s["names"]
        rep: np.ndarray = s["pai_vs"]
        blocked: list[str] = s["insufficient"]
        unjudged: list[str] = s["unjudged_pai"]
        for i, key in enumerate(keys):
            value = float(rep[0, i])
            entries.append(
                judged_entry(
                    section=name,
                    label=key,
                    value=value,
                    interval=percentile_interval(rep[1:, i]),
                    low=config.quality_of_service_min,
                    high=None,
                    phrase=(
                        f"among {names[i]} ({name} {key}), the model's PAI is {fmt(value)} times "
                        f"that of {reference}"
                    ),
                    insufficient=blocked[i] or None,
                    soft=True,
                    name=names[i],
                    not_applicable=unjudged[i] or None,
                )
            )
    return gate_from_entries(
        "G7",
        entries,
        band=band_text(config.quality_of_service_min, None),
        what="stratum",
        empty_reason="no strata are configured",
    )


def gate_baselines(lift: Lift | None, config: AuditConfig) -> GateResult:
    """G8: the backtest's lift of PAI over the best baseline, one-sided against ``lift_min``."""
    band = band_text(config.lift_min, None)
    if lift is None:
        return GateResult(
            "G8",
            "INSUFFICIENT DATA",
            None,
            None,
            None,
            band,
            "No lift over the baselines was supplied by the evaluate stage, so this gate is not "
            "passed; publication is blocked unless an override is recorded.",
        )
    status = classify_against_band(
        lift.estimate, lift.ci_low, lift.ci_high, low=config.lift_min, high=None
    )
    against = f"the best baseline ({baseline_label(lift.baseline)})"
    core = (
        # three decimals: lifts near 1 are the common case and 0.996-1.004 must not read 1.00-1.00
        f"The model's PAI is {fmt(lift.estimate, 3)} times that of {against} (95% interval "
        f"{fmt(lift.ci_low, 3)}–{fmt(lift.ci_high, 3)})"
    )
    tail = {
        "PASS": f", at or above the required {config.lift_min:.2f}.",
        "REVIEW": ", below the required level but the interval reaches it, so a person should "
        "review whether the model is worth its cost over the simple baseline.",
        "FAIL": ", clearly below the required level: a simpler baseline does better, which blocks "
        "publication.",
        "INSUFFICIENT DATA": ", which could not be computed.",
    }[status]
    return GateResult("G8", status, lift.estimate, lift.ci_low, lift.ci_high, band, core + tail)


def gate_granularity(check: GranularityCheck) -> GateResult:
    """G9: published cells no finer than allowed, no event-level rows, small counts suppressed
    (below ``check.suppress_below``, the ``publish.min_count_shown`` param)."""
    problems = []
    items: dict[str, BandCheck | Check] = {}
    res_ok = check.published_resolution <= check.max_resolution
    items["resolution"] = Check(
        value=check.published_resolution,
        status="PASS" if res_ok else "FAIL",
        band=f"≤ {check.max_resolution}",
        note="H3 resolution: a higher number is a finer cell",
    )
    if not res_ok:
        problems.append(
            f"cells at H3 resolution {check.published_resolution} are finer than the allowed "
            f"{check.max_resolution}"
        )
    items["event_level_rows"] = Check(
        value=check.event_level_rows,
        status="FAIL" if check.event_level_rows else "PASS",
        band="none",
        note="",
    )
    if check.event_level_rows:
        problems.append("event-level rows would be published")
    shown, limit = check.smallest_count_shown, check.suppress_below
    small_ok = shown is None or shown >= limit
    items["small_counts"] = Check(
        value=shown,
        status="PASS" if small_ok else "FAIL",
        band=f"counts below {limit} suppressed",
        note="None means no historical counts are shown",
    )
    if not small_ok:
        problems.append(f"a historical count of {shown} is shown unsuppressed")
    band = f"resolution ≤ {check.max_resolution}; no event-level rows; counts < {limit} suppressed"
    if problems:
        text = "What would be published is too detailed: " + "; ".join(problems) + "."
        status: Status = "FAIL"
    else:
        text = (
            f"Published cells are at H3 resolution {check.published_resolution} (no finer than "
            f"{check.max_resolution}), with no event-level rows and small counts suppressed."
        )
        status = "PASS"
    return GateResult(
        "G9", status, float(check.published_resolution), None, None, band, text, {"checks": items}
    )
