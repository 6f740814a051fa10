"""The gates: each turns figures into a status, a value with its interval, a band and a text.

G1 judges the target definition, G2-G5 the group ratios, G6 and G7 the strata, G8 the lift over
the best baseline, G9 what publish will write; G10 (the documents) is judged in
``_documentation``. :func:`judge_gates` asks all of them in order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Final

import numpy as np

from beatwise.artefacts.audit import BandCheck, Check
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
from models.audit._figures import GroupInternals, StrataInternals
from models.audit._gate import GateResult
from models.bootstrap import percentile_interval

logger = logging.getLogger(__name__)

#: The group-ratio gates: (gate, ratio, phrase, what is judged). A phrase names the group ``{g}``
#: and the reference group ``{ref}`` in words with their keys ("residents of the most deprived
#: fifth of areas (q1)"), and the ratio ``{v}``.
_RATIO_GATES: Final[tuple[tuple[str, str, str, str], ...]] = (
    (
        "G2",
        "exposure_ratio",
        "{g} live in flagged cells {v} times as often as {ref}",
        "group's exposure ratio",
    ),
    (
        "G3",
        "burden_benefit_ratio",
        "{g} bear {v} times the flagging per unit of protection that {ref} bear",
        "group's burden-to-benefit ratio",
    ),
    (
        "G4",
        "false_flag_ratio",
        "flagged cells where {g} live had no target event {v} times as often as those where "
        "{ref} live",
        "group's false-flag ratio",
    ),
    (
        "G5",
        "recall_ratio",
        "the flagged cells captured {v} times as large a share of the recorded victimisation "
        "of {g} as of {ref}",
        "group's recall ratio",
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
) -> dict[str, GateResult]:
    """Gates G1-G10 in order; G10 is NOT CHECKED until the documents are judged."""
    bands: dict[str, tuple[float, float | None]] = {
        "G2": config.exposure_band,
        "G3": config.burden_benefit_band,
        "G4": config.false_flag_band,
        "G5": (config.recall_ratio_min, None),
    }
    gates = {"G1": gate_target_purity(target, target_event_counts)}
    for gate, key, phrase, what in _RATIO_GATES:
        low, high = bands[gate]
        gates[gate] = ratio_gate(
            gate, groups, key=key, low=low, high=high, phrase=phrase, what=what
        )
    gates["G6"] = gate_calibration(strata, config)
    gates["G7"] = gate_quality_of_service(strata, config)
    gates["G8"] = gate_baselines(lift, config)
    gates["G9"] = gate_granularity(granularity)
    gates["G10"] = not_checked_documentation()
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


def ratio_gate(
    gate: str,
    internals: GroupInternals,
    *,
    key: str,
    low: float | None,
    high: float | None,
    phrase: str,
    what: str,
) -> GateResult:
    """G2-G5: one group ratio (``key``) of every non-reference group against ``[low, high]``."""
    entries: list[Entry] = []
    for attr_name, groups in internals.items():
        for label, g in groups.items():
            if g["is_reference"]:
                continue
            ref = g["reference"]
            named = f"{g['label']} ({label})"
            ref_named = f"{g['reference_label']} ({ref})"
            why = g["insufficient"] or (
                f"reference group, {ref_named}: {groups[ref]['insufficient']}"
                if groups[ref]["insufficient"]
                else ""
            )
            value, lo, hi = g[key]
            entries.append(
                judged_entry(
                    section=attr_name,
                    label=label,
                    value=value,
                    interval=(lo, hi),
                    low=low,
                    high=high,
                    phrase=phrase.format(g=named, ref=ref_named, v=fmt(value)),
                    insufficient=why or None,
                    soft=GATE_KINDS[gate] == "soft",
                    name=g["label"],
                )
            )
    return gate_from_entries(
        gate,
        entries,
        band=band_text(low, high),
        what=what,
        empty_reason="no sensitive attributes with two or more groups are configured",
    )


def gate_calibration(strata: StrataInternals, config: AuditConfig) -> GateResult:
    """G6: observed over expected counts in each stratum, and the largest over the smallest."""
    low, high = config.calibration_band
    entries: list[Entry] = []
    for name, s in strata.items():
        labels = s["labels"]
        if not labels:
            continue
        for i, label in enumerate(labels):
            value = float(s["oe_point"][i])
            entries.append(
                judged_entry(
                    section=name,
                    label=label,
                    value=value,
                    interval=percentile_interval(s["oe"][1:, i]),
                    low=low,
                    high=high,
                    phrase=(
                        f"among {s['names'][i]} ({name} {label}), recorded target events were "
                        f"{fmt(value)} times the forecast count"
                    ),
                    insufficient=s["insufficient"][i] or None,
                    soft=False,
                    name=s["names"][i],
                )
            )
        ok = [i for i in range(len(labels)) if not s["insufficient"][i]]
        if len(ok) >= 2:
            with np.errstate(invalid="ignore"):
                rep = s["oe"][:, ok].max(axis=1) / s["oe"][:, ok].min(axis=1)
            value = float(s["oe_point"][ok].max() / s["oe_point"][ok].min())
            why = None
        else:
            rep = np.full(2, np.nan)
            value = math.nan
            why = "fewer than two strata large enough to compare"
        entries.append(
            judged_entry(
                section=name,
                label="max/min",
                value=value,
                interval=percentile_interval(rep[1:]),
                low=None,
                high=config.calibration_max_ratio,
                phrase=(
                    f"across the strata of cells by {s['measure']} ({name}), the highest "
                    f"observed/expected ratio is {fmt(value)} times the lowest"
                ),
                insufficient=why,
                soft=False,
                name=f"all strata of cells by {s['measure']}",
            )
        )
    band = f"each stratum in {band_text(low, high)}; max/min ≤ {config.calibration_max_ratio:.2f}"
    return gate_from_entries(
        "G6", entries, band=band, what="comparison", empty_reason="no strata are configured"
    )


def gate_quality_of_service(strata: StrataInternals, config: AuditConfig) -> GateResult:
    """G7 (soft): the lowest stratum PAI over the highest, per stratum spec."""
    entries: list[Entry] = []
    for name, s in strata.items():
        labels = s["labels"]
        if not labels:
            continue
        ok = [i for i in range(len(labels)) if not s["insufficient_pai"][i]]
        small = [
            f"{s['names'][i]} ({labels[i]}): {s['insufficient_pai'][i]}"
            for i in range(len(labels))
            if i not in ok
        ]
        if len(ok) >= 2 and not small:
            with np.errstate(invalid="ignore"):
                rep = s["pai"][:, ok].min(axis=1) / s["pai"][:, ok].max(axis=1)
            value = float(s["pai_point"][ok].min() / s["pai_point"][ok].max())
            why = None
        else:
            rep = np.full(2, np.nan)
            value = math.nan
            why = "; ".join(small) or "fewer than two strata large enough to compare"
        entries.append(
            judged_entry(
                section=name,
                label="min/max",
                value=value,
                interval=percentile_interval(rep[1:]),
                low=config.quality_of_service_min,
                high=None,
                phrase=(
                    f"across the strata of cells by {s['measure']} ({name}), the lowest PAI is "
                    f"{fmt(value)} times the highest"
                ),
                insufficient=why,
                soft=True,
                name=f"all strata of cells by {s['measure']}",
            )
        )
    return gate_from_entries(
        "G7",
        entries,
        band=band_text(config.quality_of_service_min, None),
        what="comparison",
        empty_reason="no strata are configured",
    )


def gate_baselines(lift: Lift | None, config: AuditConfig) -> GateResult:
    """G8: the lift of PAI over the best baseline (metrics.json), one-sided against ``lift_min``."""
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
    against = f"the best baseline ({lift.baseline})"
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
