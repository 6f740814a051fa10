"""Gate G12: the absolute limits an ethics board ratified, judged on the model's own ratios.

The amplification gates (G2-G5) ask whether the model adds disparity beyond the reference; how
much absolute disparity is acceptable is the board's policy (METRICS.md). Once the board ratifies
limits (params ``audit.envelope``), they are hard: a limit the model's ratio breaks beyond its
interval FAILs, and an envelope past its expiry date blocks until the board reviews it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from beatwise.artefacts.audit import BandCheck, Check
from models.audit._bands import Entry, fmt, gate_from_entries, judged_entry
from models.audit._config import PolicyEnvelope
from models.audit._gate import GateResult
from models.bootstrap import percentile_interval

#: each limitable quantity in words, for a sentence "{g}'s {words} is {v}"
QUANTITY_WORDS: dict[str, str] = {
    "exposure_ratio": "exposure to flagging, relative to all residents,",
    "discovery_ratio": "share of recorded victimisation reached, relative to all residents,",
    "burden_benefit_ratio": "flagging per unit of protection, relative to all residents,",
    "false_flag_ratio": "rate of flags without a target event, relative to all residents,",
}
#: the replicate key of each limitable quantity (``GroupReplicates.quantity``)
QUANTITY_KEY: dict[str, str] = {
    "exposure_ratio": "exposure_ratio",
    "discovery_ratio": "discovery_ratio",
    "burden_benefit_ratio": "burden_benefit",
    "false_flag_ratio": "false_flag_ratio",
}


@dataclass(frozen=True)
class EnvelopeFigures:
    """The envelope, the run's date, and the model's ratios it limits.

    ``ratios`` maps attribute -> group key -> quantity -> replicates ``[1 + B]``; ``labels``
    attribute -> group key -> the group's plain-English label; ``insufficient`` the same keys ->
    the reason a group is too small to judge ("" when it is not).
    """

    envelope: PolicyEnvelope
    run_date: dt.date
    ratios: dict[str, dict[str, dict[str, np.ndarray]]]
    labels: dict[str, dict[str, str]]
    insufficient: dict[str, dict[str, str]]


def gate_envelope(figures: EnvelopeFigures | None) -> GateResult:
    """G12: NOT APPLICABLE without an envelope; FAIL once it has expired; else each limit."""
    if figures is None:
        return GateResult(
            "G12",
            "NOT APPLICABLE",
            None,
            None,
            None,
            "none ratified",
            "The ethics board has ratified no absolute limits, so none are applied; the absolute "
            "figures for its decision are in the section 'What you are asked to decide'.",
        )
    env = figures.envelope
    who = f"{env.ratified_by} on {env.date.isoformat()}"
    if figures.run_date > env.expires:
        return GateResult(
            "G12",
            "FAIL",
            None,
            None,
            None,
            f"valid until {env.expires.isoformat()}",
            f"The limits ratified by {who} expired on {env.expires.isoformat()} (this audit ran "
            f"on {figures.run_date.isoformat()}); publication is blocked until the board reviews "
            "them and sets a new expiry date.",
            {"envelope": {"expires": _expiry_check(env, figures.run_date, "FAIL")}},
        )
    entries: list[Entry] = []
    for limit in env.limits:
        keys = [limit.group] if limit.group is not None else list(figures.ratios[limit.attribute])
        for key in keys:
            rep = figures.ratios[limit.attribute][key][QUANTITY_KEY[limit.quantity]]
            label = figures.labels[limit.attribute][key]
            value = float(rep[0])
            entries.append(
                judged_entry(
                    section=f"{limit.attribute}: {limit.quantity}",
                    label=key,
                    value=value,
                    interval=percentile_interval(rep[1:]),
                    low=limit.min,
                    high=limit.max,
                    phrase=(
                        f"the {QUANTITY_WORDS[limit.quantity]} of {label} ({key}) is {fmt(value)}"
                    ),
                    insufficient=figures.insufficient[limit.attribute][key] or None,
                    soft=False,
                    name=label,
                )
            )
    gate = gate_from_entries(
        "G12",
        entries,
        band=f"limits ratified by {who}",
        what="ratified limit",
        empty_reason="the envelope names no group the audit knows",
    )
    by_group: dict[str, dict[str, BandCheck | Check]] = {
        **gate.by_group,
        "envelope": {"expires": _expiry_check(env, figures.run_date, "PASS")},
    }
    text = (
        f"Limits ratified by {who} for this reason: {env.reason} (valid until "
        f"{env.expires.isoformat()}). {gate.explanation}"
    )
    return GateResult(
        "G12",
        gate.status,
        gate.value,
        gate.ci_low,
        gate.ci_high,
        gate.band,
        text,
        by_group,
        gate.deciding,
        gate.deciding_label,
    )


def _expiry_check(env: PolicyEnvelope, run_date: dt.date, status: str) -> Check:
    return Check(
        value=None,
        status=status,
        band=f"run date ≤ {env.expires.isoformat()}",
        note=f"ratified {env.date.isoformat()}; audit run {run_date.isoformat()}",
    )
