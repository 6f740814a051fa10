"""``reports/feedback.json``: the closed-loop simulation's findings (METRICS.md, gate G11).

Written by the ``feedback`` stage, read by the audit (gate G11, the bias report's section "Does
this forecast feed on itself?", the model card). Every figure is over the loop's weeks on the
synthetic city, per scenario, per group of cells (districts and the audit's resident groups):

- ``flag_share / harm_share`` (``R``): a group's share of the flags over its share of the true
  committed harm, over a trailing window of weeks, in the closed loop (patrol follows the flags,
  and recording answers patrol) and in the open loop (the same city and seed, patrol never
  answering the flags);
- ``drift``: the closed loop's ``R`` over the open loop's, paired by seed. 1 means the loop adds
  nothing; G11 judges it against the amplification band at the end of the run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from beatwise.artefacts._base import Artefact
from beatwise.artefacts.audit import GateStatus

GroupKind = Literal["district", "resident group"]
LoopKind = Literal["closed", "open"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeedInterval(_Record):
    """A figure over seeds: the mean, a 95% interval (t on the seeds' logs for ratios, t on the
    values otherwise; null with fewer than two seeds or an undefined figure) and each seed's own."""

    value: float | None
    low: float | None
    high: float | None
    per_seed: list[float | None]


class WeeklySeries(_Record):
    """One figure per loop week (week 1 first): the mean over seeds, and its interval's ends."""

    mean: list[float | None]
    low: list[float | None]
    high: list[float | None]


class GroupDrift(_Record):
    """One group's drift in one scenario."""

    key: str
    #: the group in words ("residents of the most deprived fifth of areas", "district Ashbourne")
    label: str
    kind: GroupKind
    #: for resident groups, the audit attribute ("ethnicity"); for districts, "district"
    attribute: str
    residents: float
    #: flagged cell-weeks of the group in the final window, fewest over seeds and both loops
    flagged_cell_weeks: int
    harm_share: SeedInterval
    closed_ratio: SeedInterval
    open_ratio: SeedInterval
    drift: SeedInterval
    #: weekly drift (trailing window) over the run
    drift_weekly: WeeklySeries
    #: slope of log drift per 52 weeks over the second half of the run (trend: does it grow?)
    trend_per_year: SeedInterval
    status: GateStatus
    reason: str


class Concentration(_Record):
    """How concentrated cumulative flags and harm are over cells (Gini, 0 = even, 1 = one cell),
    and the share of flags outside the cells of highest true risk."""

    gini_flags_closed: WeeklySeries
    gini_flags_open: WeeklySeries
    gini_harm: WeeklySeries
    outside_top_k_closed: WeeklySeries
    outside_top_k_open: WeeklySeries
    #: cells whose true risk is in the top k (as many as a week flags on average)
    top_k: int
    final_gini_flags_closed: SeedInterval
    final_gini_flags_open: SeedInterval
    final_outside_top_k_closed: SeedInterval
    final_outside_top_k_open: SeedInterval


class ScenarioResult(_Record):
    """One named configuration of the loop, run closed and open over every seed."""

    name: str
    #: a sentence a board can read: what differs from the configured pipeline
    label: str
    #: True for the scenario matching the pipeline's own configuration (the one G11 judges)
    configured: bool
    target_types: list[str]
    police_activity_features: bool
    over_policing: str | None
    downweight_discovered: bool
    max_consecutive_weeks: int | None
    groups: list[GroupDrift]
    concentration: Concentration
    #: events of the target recorded per week in flagged cells, closed over open (mean over seeds)
    recorded_in_flagged_ratio: SeedInterval
    status: GateStatus
    #: the group furthest from 1, in words, with its drift and interval
    summary: str
    seconds: float


class FeedbackReport(Artefact):
    """The closed-loop simulation on the synthetic city: every scenario, closed and open."""

    #: "synthetic": the pipeline's own data are the synthetic city; otherwise the data's source,
    #: and the findings are the synthetic city's under the same configuration, labelled as such
    data_source: str
    synthetic_evidence_only: bool
    weeks: int
    seeds: list[int]
    window: int
    dose: float
    dose_basis: str
    refit_every: int
    coverage: float
    band: tuple[float, float]
    reporting_uplift: float
    reporting_uplift_basis: str
    deterrence: float
    min_flagged_cell_weeks: int
    min_residents: float
    scenarios: list[ScenarioResult] = Field(min_length=1)
    #: G11 on the configured scenario
    status: GateStatus
    summary: str
    seconds: float
    #: where the drift figure was written, relative to the report (for the bias report)
    figure: str
