"""The gates: their ids, kinds, names and what each checks in plain words; how statuses rank."""

from __future__ import annotations

from typing import Final, Literal

from beatwise.artefacts.audit import GateKind, GateStatus

Status = GateStatus
GateId = Literal["G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10"]

GATE_IDS: Final[tuple[GateId, ...]] = ("G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10")
GATE_KINDS: Final[dict[str, GateKind]] = {
    "G1": "hard",
    "G2": "soft",
    "G3": "hard",
    "G4": "hard",
    "G5": "hard",
    "G6": "hard",
    "G7": "soft",
    "G8": "hard",
    "G9": "hard",
    "G10": "hard",
}
GATE_TITLES: Final[dict[str, str]] = {
    "G1": "Target purity",
    "G2": "Exposure parity",
    "G3": "Burden vs benefit",
    "G4": "False-flag parity",
    "G5": "Missed-protection parity",
    "G6": "Calibration parity",
    "G7": "Quality of service",
    "G8": "No worse than the baselines",
    "G9": "Granularity",
    "G10": "Documentation",
}
#: What each gate checks, in words an ethics board reads without code.
GATE_CHECKS: Final[dict[str, str]] = {
    "G1": "The crimes being forecast are ones victims report, not offences that are mostly "
    "recorded where police chose to look (drugs, weapons possession, public order, anti-social "
    "behaviour, other crime), unless a written reason is given.",
    "G2": "Each group's residents live in flagged cells about as often as the largest group's "
    "residents (ratio of exposure).",
    "G3": "Each group's share of the flagging is matched by its share of the protection: exposure "
    "ratio divided by the ratio of victimisation covered.",
    "G4": "Flagged cells where a group lives turn out to have no target crime about as often as "
    "for the largest group (ratio of false-flag rates).",
    "G5": "Each group's recorded victimisation is captured by the flagged cells at least 80% as "
    "well as the largest group's (ratio of victimisation-weighted recall).",
    "G6": "Forecast counts match recorded counts (observed / expected) in every stratum of areas, "
    "and no stratum is much better served than another.",
    "G7": "The forecast picks out crime about as efficiently (PAI) in every stratum of areas.",
    "G8": "The model beats the best simple baseline at the operational coverage (lift of PAI).",
    "G9": "What is published is coarse enough: cells no finer than allowed, no event-level rows, "
    "small historical counts suppressed.",
    "G10": "The bias report and model card for this model version carry every required section.",
}

#: how bad a status is: the worst comparison decides a gate
SEVERITY: Final[dict[str, int]] = {
    "PASS": 1,
    "REVIEW": 2,
    "INSUFFICIENT DATA": 3,
    "FAIL": 4,
    "NOT CHECKED": 5,
}
#: statuses of a hard gate that block publication
BLOCKING: Final[frozenset[str]] = frozenset({"FAIL", "INSUFFICIENT DATA", "NOT CHECKED"})
