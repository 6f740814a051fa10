"""The gates: their ids, kinds, names and what each checks in plain words; how statuses rank."""

from __future__ import annotations

from typing import Final, Literal

from beatwise.artefacts.audit import GateKind, GateStatus

Status = GateStatus
GateId = Literal["G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9", "G10", "G11", "G12"]

GATE_IDS: Final[tuple[GateId, ...]] = (
    "G1",
    "G2",
    "G3",
    "G4",
    "G5",
    "G6",
    "G7",
    "G8",
    "G9",
    "G10",
    "G11",
    "G12",
)
GATE_KINDS: Final[dict[str, GateKind]] = {
    "G1": "hard",
    "G2": "hard",
    "G3": "hard",
    "G4": "hard",
    "G5": "hard",
    "G6": "hard",
    "G7": "soft",
    "G8": "hard",
    "G9": "hard",
    "G10": "hard",
    "G11": "hard",
    "G12": "hard",
}
GATE_TITLES: Final[dict[str, str]] = {
    "G1": "Target purity",
    "G2": "Exposure amplification",
    "G3": "Burden-per-benefit amplification",
    "G4": "False-flag amplification",
    "G5": "Protection",
    "G6": "Calibration parity",
    "G7": "Quality of service",
    "G8": "No worse than the baselines",
    "G9": "Granularity",
    "G10": "Documentation",
    "G11": "Feedback stability",
    "G12": "Policy envelope",
}
#: What each gate checks, in words an ethics board reads without code. "The reference" is the
#: allocation the model is held against: the true risk on synthetic data, the all-history count
#: on real data, flagging the same share of the area in the same weeks.
GATE_CHECKS: Final[dict[str, str]] = {
    "G1": "The crimes being forecast are ones victims report, not offences that are mostly "
    "recorded where police chose to look (drugs, weapons possession, public order, anti-social "
    "behaviour, other crime), unless a written reason is given.",
    "G2": "The model does not make any group's residents live in flagged cells more (or less) "
    "often, relative to all residents, than the reference allocation does.",
    "G3": "The model does not raise any group's flagging per unit of protection beyond what the "
    "reference allocation gives that group.",
    "G4": "The model does not raise the rate at which flagged cells where a group lives turn out "
    "to have no target crime beyond the reference allocation's rate for that group.",
    "G5": "The model protects every group at least as well as the reference allocation: its "
    "share of each group's recorded victimisation reached is not lower relative to all "
    "residents, and not below 90% of the reference's share (no levelling down).",
    "G6": "Forecast counts match recorded counts (observed / expected) in every stratum of areas, "
    "over all cells and over the flagged cells, and no stratum is much better served than "
    "another.",
    "G7": "Within every stratum of areas, the model picks out crime about as efficiently (PAI) "
    "as the reference allocation does.",
    "G8": "The model beats the best simple baseline at the operational coverage (lift of PAI).",
    "G9": "What is published is coarse enough: cells no finer than allowed, no event-level rows, "
    "small historical counts suppressed.",
    "G10": "The bias report and model card for this model version carry every required section.",
    "G11": "When police follow the forecast and crime is recorded where patrols go, the "
    "forecast does not drift any district's or group's share of flags away from its share of "
    "true harm beyond the amplification band, compared with the same forecast whose flags never "
    "reach the data (a closed-loop simulation on the synthetic city).",
    "G12": "The absolute limits the ethics board has ratified (if any), within their dates.",
}

#: how bad a status is: the worst comparison decides a gate
SEVERITY: Final[dict[str, int]] = {
    "NOT APPLICABLE": 0,
    "PASS": 1,
    "REVIEW": 2,
    "INSUFFICIENT DATA": 3,
    "FAIL": 4,
    "NOT CHECKED": 5,
}
#: statuses of a hard gate that block publication
BLOCKING: Final[frozenset[str]] = frozenset({"FAIL", "INSUFFICIENT DATA", "NOT CHECKED"})
