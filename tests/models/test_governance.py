"""Params ``governance``: its validation messages name the key, the default names nobody, and
each phase's gaps are what gate G10 and the transparency record say they are."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from beatwise.params import ParamsError, StageParams, validate_params
from models.governance import (
    REQUIRED_BEYOND_RESEARCH,
    Assessment,
    GovernanceConfig,
    accountability_gaps,
    describe_gap,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["governance"]

#: a governance section with every accountability field filled (roles, not people)
FILLED: dict[str, Any] = {
    "organisation": "A police force",
    "phase": "production",
    "owner": "Head of the force's analysis unit",
    "senior_responsible_owner": "Assistant Chief Constable, Local Policing",
    "supplier": "none: built and run in house",
    "contact": "A public enquiries address",
    "oversight_body": "The force's data ethics committee",
    "review_cadence": "quarterly, and before any change of phase",
    "process_integration": "Neighbourhood inspectors receive the flagged cells each Monday",
    "human_review": "An inspector reviews every flagged cell before patrols are planned",
    "training": "A half-day course before access is granted",
    "complaint_route": "The force's complaints procedure, and the ethics committee",
    "data_access_terms": "none: no supplier has access to the data",
    "assessments": [
        {"kind": "DPIA", "date": "2026-10-01", "reference": "DPIA-2026-14"},
        {"kind": "equality impact assessment", "date": "2026-10-08", "reference": "EIA-77"},
        {"kind": "human-rights assessment", "date": "2026-10-08", "reference": "HRA-12"},
    ],
    "last_reviewed": "2026-11-02",
}


class Params(StageParams):
    governance: GovernanceConfig


def _load(section: dict[str, Any]) -> GovernanceConfig:
    return validate_params("audit", Params, {"governance": section}).governance


def test_the_default_is_a_research_demonstration_that_names_nobody() -> None:
    gov = _load(DEFAULT)
    assert gov.phase == "research"
    assert gov.assessments == () and gov.last_reviewed is None
    for name in GovernanceConfig.model_fields:
        value = getattr(gov, name)
        if isinstance(value, str) and name != "phase":
            # a statement that there is none, with its reason: never an invented person or body
            assert value.startswith("none: "), (name, value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"owner": "none"},
            r"The 'governance\.owner' parameter of stage 'audit' must say why there is none, as "
            r"'none: <why>'\. Got 'none'\.",
        ),
        (
            {"complaint_route": "   "},
            r"The 'governance\.complaint_route' parameter of stage 'audit' must be a statement",
        ),
        (
            {"phase": "beta"},
            r"The 'governance\.phase' parameter of stage 'audit' must be one of 'research', "
            r"'pilot' or 'production'\. Got 'beta'\.",
        ),
        (
            {"ownr": "x"},
            r"The 'governance\.ownr' parameter of stage 'audit' is not a known key\. "
            r"Did you mean 'owner'\?",
        ),
        (
            {"assessments": [{"kind": "DPIA", "date": "2026-13-01", "reference": "x"}]},
            r"The 'governance\.assessments\.0\.date' parameter of stage 'audit' must be a date",
        ),
        (
            {"assessments": [{"kind": "audit", "date": "2026-01-01", "reference": "x"}]},
            r"The 'governance\.assessments\.0\.kind' parameter of stage 'audit' must be one of",
        ),
        (
            {"assessments": [{"kind": "other", "date": "2026-01-01", "reference": "x"}]},
            r"The 'governance\.assessments\.0' parameter of stage 'audit' must give a 'title'",
        ),
        (
            {"assessments": [{"kind": "DPIA", "date": "2026-01-01"}]},
            r"The 'governance\.assessments\.0\.reference' parameter of stage 'audit' is required",
        ),
        (
            {"last_reviewed": "last week"},
            r"The 'governance\.last_reviewed' parameter of stage 'audit' must be a date",
        ),
    ],
)
def test_validation_messages_name_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        _load({**DEFAULT, **change})


def test_research_lists_its_gaps_and_none_blocks() -> None:
    gaps = accountability_gaps(_load(DEFAULT))
    fields = [g.field for g in gaps]
    assert not any(g.blocks for g in gaps)
    # "none: ..." leaves an owner missing, but answers the supplier and data-access questions
    assert "governance.owner" in fields and "governance.complaint_route" in fields
    assert "governance.supplier" not in fields and "governance.data_access_terms" not in fields
    assert "governance.assessments[DPIA]" in fields and "governance.review_cadence" in fields
    owner = next(g for g in gaps if g.field == "governance.owner")
    assert owner.stated == DEFAULT["owner"] and owner.required_from == "pilot"
    cadence = next(g for g in gaps if g.field == "governance.review_cadence")
    assert cadence.stated is None and cadence.required_from is None
    assert describe_gap(cadence) == (
        "governance.review_cadence (how often the oversight body reviews it) is empty"
    )


@pytest.mark.parametrize("phase", ["pilot", "production"])
def test_beyond_research_the_four_required_fields_block(phase: str) -> None:
    assert _load({**FILLED, "phase": phase}).phase == phase
    assert accountability_gaps(_load({**FILLED, "phase": phase})) == ()
    for key in REQUIRED_BEYOND_RESEARCH:
        if key.startswith("assessments["):
            kind = key[len("assessments[") : -1]
            section = {
                **FILLED,
                "assessments": [a for a in FILLED["assessments"] if a["kind"] != kind],
            }
        else:
            section = {**FILLED, key: None}
        gaps = accountability_gaps(_load({**section, "phase": phase}))
        assert [g.field for g in gaps] == [f"governance.{key}"]
        assert gaps[0].blocks
    # the other gaps are listed, never blocking
    loose = accountability_gaps(_load({**FILLED, "phase": phase, "training": None}))
    assert [(g.field, g.blocks) for g in loose] == [("governance.training", False)]


def test_an_owner_who_is_none_blocks_production_like_an_empty_one() -> None:
    gaps = accountability_gaps(_load({**FILLED, "owner": "none: not decided yet"}))
    assert [(g.field, g.blocks, g.stated) for g in gaps] == [
        ("governance.owner", True, "none: not decided yet")
    ]
    assert "says 'none: not decided yet'" in describe_gap(gaps[0])


def test_the_latest_assessment_of_a_kind_is_the_one_shown() -> None:
    gov = GovernanceConfig(
        assessments=(
            Assessment(kind="DPIA", date=dt.date(2025, 1, 1), reference="old"),
            Assessment(kind="DPIA", date=dt.date(2026, 1, 1), reference="new"),
            Assessment(
                kind="other", title="Community panel", date=dt.date(2026, 2, 1), reference="r"
            ),
        )
    )
    dpia = gov.assessment("DPIA")
    assert dpia is not None and dpia.reference == "new" and dpia.name.startswith("data protection")
    other = gov.assessment("other")
    assert other is not None and other.name == "Community panel"
