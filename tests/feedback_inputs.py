"""A hand-set ``feedback.json`` for the tests of gate G11, the documents and the drift figure.

Two scenarios over a 52-week loop on three seeds: the configured pipeline and one with heavier
patrol in the most deprived areas. Each has two districts and two groups of residents (the
audit inputs' ethnicity groups, with their labels). The configured scenario's drift of minority
residents is chosen by ``status``: 1.12 (PASS), 1.31 with an interval reaching the band (REVIEW),
1.62 with the whole interval above it (FAIL); INSUFFICIENT DATA adds a group too small to judge.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

from beatwise.artefacts.feedback import (
    Concentration,
    FeedbackReport,
    GroupDrift,
    ScenarioResult,
    SeedInterval,
    WeeklySeries,
)

WEEKS: Final[int] = 52
SEEDS: Final[list[int]] = [11, 12, 13]
Judged = Literal["PASS", "REVIEW", "FAIL", "INSUFFICIENT DATA"]

#: the configured scenario's minority drift by G11 status: value, interval, reason
MINORITY_DRIFT: Final[dict[str, tuple[float, float, float, str]]] = {
    "PASS": (1.12, 1.05, 1.19, "inside the band"),
    "REVIEW": (1.31, 1.18, 1.45, "outside the band, but the interval reaches into it"),
    "FAIL": (1.62, 1.45, 1.78, "the whole interval is above the band, and still growing"),
    "INSUFFICIENT DATA": (1.12, 1.05, 1.19, "inside the band"),
}


def seed_interval(value: float | None, low: float | None = None, high: float | None = None):
    """A figure over the three seeds (each seed's own: the mean, for a fixture)."""
    return SeedInterval(value=value, low=low, high=high, per_seed=[value] * len(SEEDS))


def weekly(end: float, *, spread: float = 0.08) -> WeeklySeries:
    """A drift that starts at 1 and moves geometrically to ``end`` by the last week."""
    mean = np.exp(np.linspace(0.0, np.log(end), WEEKS))
    return WeeklySeries(
        mean=[float(v) for v in mean],
        low=[float(v) for v in mean / (1 + spread)],
        high=[float(v) for v in mean * (1 + spread)],
    )


def group(
    key: str,
    label: str,
    *,
    drift: tuple[float, float, float],
    status: str = "PASS",
    reason: str = "inside the band",
    district: bool = False,
    harm_share: float = 0.3,
    residents: float = 150_000.0,
    flagged: int = 400,
) -> GroupDrift:
    value, low, high = drift
    return GroupDrift(
        key=key,
        label=label,
        kind="district" if district else "resident group",
        attribute="district" if district else "ethnicity",
        residents=residents,
        flagged_cell_weeks=flagged,
        harm_share=seed_interval(harm_share, harm_share - 0.01, harm_share + 0.01),
        closed_ratio=seed_interval(value * 1.05, value, value * 1.1),
        open_ratio=seed_interval(1.05, 1.0, 1.1),
        drift=seed_interval(value, low, high),
        drift_weekly=weekly(value),
        trend_per_year=seed_interval(0.02, -0.01, 0.05),
        status=status,  # type: ignore[arg-type]
        reason=reason,
    )


def concentration(closed: float, open_: float) -> Concentration:
    flat = WeeklySeries(mean=[0.5] * WEEKS, low=[0.45] * WEEKS, high=[0.55] * WEEKS)
    return Concentration(
        gini_flags_closed=flat,
        gini_flags_open=flat,
        gini_harm=WeeklySeries(mean=[0.41] * WEEKS, low=[0.4] * WEEKS, high=[0.42] * WEEKS),
        outside_top_k_closed=flat,
        outside_top_k_open=flat,
        top_k=25,
        final_gini_flags_closed=seed_interval(closed, closed - 0.02, closed + 0.02),
        final_gini_flags_open=seed_interval(open_, open_ - 0.02, open_ + 0.02),
        final_outside_top_k_closed=seed_interval(0.36, 0.3, 0.42),
        final_outside_top_k_open=seed_interval(0.22, 0.18, 0.26),
    )


def scenario(
    name: str,
    label: str,
    *,
    configured: bool,
    groups: list[GroupDrift],
    status: str,
    summary: str,
) -> ScenarioResult:
    return ScenarioResult(
        name=name,
        label=label,
        configured=configured,
        target_types=["burglary"],
        police_activity_features=False,
        over_policing=None if configured else "most deprived fifth, patrol x2",
        downweight_discovered=False,
        max_consecutive_weeks=None,
        groups=groups,
        concentration=concentration(0.62 if configured else 0.71, 0.55),
        recorded_in_flagged_ratio=seed_interval(1.18, 1.1, 1.26),
        status=status,  # type: ignore[arg-type]
        summary=summary,
        seconds=12.5,
    )


def make_feedback(
    status: Judged = "PASS",
    *,
    synthetic_evidence_only: bool = False,
    coverage: float = 0.05,
    band: tuple[float, float] = (0.8, 1.25),
) -> FeedbackReport:
    """The feedback stage's report whose G11 status is ``status``."""
    value, low, high, reason = MINORITY_DRIFT[status]
    configured_groups = [
        group(
            "minority",
            "residents of minority groups",
            drift=(value, low, high),
            status="PASS" if status == "INSUFFICIENT DATA" else status,
            reason=reason,
        ),
        group("majority", "residents of the majority group", drift=(0.96, 0.92, 1.01)),
        group("ashbourne", "district Ashbourne", drift=(1.18, 1.1, 1.26), district=True),
        group("brill", "district Brill", drift=(0.9, 0.85, 0.95), district=True),
    ]
    if status == "INSUFFICIENT DATA":
        configured_groups.append(
            group(
                "calder",
                "district Calder",
                drift=(1.4, 0.7, 2.8),
                status="INSUFFICIENT DATA",
                reason="12 flagged cell-weeks, fewer than 30",
                district=True,
                residents=4_000.0,
                flagged=12,
            )
        )
    heavy = [
        group(
            "minority",
            "residents of minority groups",
            drift=(1.55, 1.4, 1.7),
            status="FAIL",
            reason="the whole interval is above the band",
        ),
        group("majority", "residents of the majority group", drift=(0.88, 0.84, 0.92)),
        group(
            "ashbourne",
            "district Ashbourne",
            drift=(1.74, 1.5, 2.0),
            status="FAIL",
            reason="the whole interval is above the band",
            district=True,
        ),
        group("brill", "district Brill", drift=(0.85, 0.8, 0.9), district=True),
    ]
    scenarios = [
        scenario(
            "over_policed",
            "The configured pipeline, with patrol already twice as heavy in the most deprived "
            "fifth of areas.",
            configured=False,
            groups=heavy,
            status="FAIL",
            summary="district Ashbourne drifts to 1.74 (1.50-2.00)",
        ),
        scenario(
            "configured",
            "The pipeline as configured: burglary only, no police-activity features.",
            configured=True,
            groups=configured_groups,
            status=status,
            summary=f"residents of minority groups drift to {value} ({low}-{high})",
        ),
    ]
    return FeedbackReport(
        data_source="police_uk" if synthetic_evidence_only else "synthetic",
        synthetic_evidence_only=synthetic_evidence_only,
        weeks=WEEKS,
        seeds=SEEDS,
        window=8,
        dose=2.0,
        dose_basis="a doubling of patrol, assumed",
        refit_every=13,
        coverage=coverage,
        band=band,
        reporting_uplift=0.1,
        reporting_uplift_basis="victims report more where police are visible (assumed)",
        deterrence=0.0,
        min_flagged_cell_weeks=30,
        min_residents=10_000.0,
        scenarios=scenarios,
        status=status,
        summary=f"G11 {status}",
        seconds=30.0,
        figure="plots/feedback_drift.png",
    )
