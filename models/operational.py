"""Params sections read by more than one stage: ``operational`` and ``publish``.

The audit judges the flagged set at one coverage; publishing at another would publish something
nobody audited. So the coverage lives once, here, and every stage that uses it declares it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.allocation import AllocationPolicy
from models.audit import AuditOverride


class OperationalConfig(BaseModel):
    """How the forecast is used on the ground."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: share of the study area flagged as hot spots each week (METRICS.md's headline k)
    coverage: float = Field(0.05, gt=0.0, le=0.5)
    #: declared allocation policy (a cap on each stratum's share of the flagged area), applied by
    #: publish to the forecast and by the audit to the model and the reference alike; None
    #: declares none
    policy: AllocationPolicy | None = None


class PublishConfig(BaseModel):
    """What gets published and under which limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: finest H3 resolution that may be published (gate G9)
    max_resolution: int = Field(9, ge=5, le=11)
    #: central interval of the published count range
    interval_level: float = Field(0.8, gt=0.0, lt=1.0)
    #: historical counts below this are never shown: gate G9 judges what publish writes against
    #: it (the CSV shows none at all)
    min_count_shown: int = Field(3, ge=1)
    #: the only way past a failed hard gate (approving body, date, reason); printed everywhere
    override: AuditOverride | None = None
