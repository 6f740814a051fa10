"""The taxonomy: source labels map to canonical names; the documentation table matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from beatwise.taxonomy import (
    CRIME_TYPES,
    POLICE_ACTIVITY_TYPES,
    VICTIM_TYPES,
    canonical_crime_type,
    validate_crime_types,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "crime-types.md"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Violence and sexual offences", "violence_sexual"),
        ("violent-crime", "violence_sexual"),
        ("Violent crime", "violence_sexual"),
        ("  ANTI-SOCIAL BEHAVIOUR ", "anti_social_behaviour"),
        ("possession-of-weapons", "possession_weapons"),
        ("criminal_damage_arson", "criminal_damage_arson"),
        ("Jaywalking", None),
        ("", None),
    ],
)
def test_labels_map_to_canonical_names(label: str, expected: str | None) -> None:
    assert canonical_crime_type(label) == expected


def test_kinds_partition_the_taxonomy() -> None:
    assert set(VICTIM_TYPES) | set(POLICE_ACTIVITY_TYPES) == set(CRIME_TYPES)
    assert not set(VICTIM_TYPES) & set(POLICE_ACTIVITY_TYPES)
    assert {"drugs", "public_order", "anti_social_behaviour"} <= set(POLICE_ACTIVITY_TYPES)


def test_validate_names_the_bad_type() -> None:
    with pytest.raises(ValueError, match="target lists crime type 'burglery'"):
        validate_crime_types(["burglary", "burglery"], what="target")


def test_documentation_table_matches_the_code() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| `([\w-]+)` \| (victim|police activity) \|$",
                      DOC.read_text(), re.M)  # fmt: skip
    documented = {name: (disp, slug, kind.replace(" ", "_")) for name, disp, slug, kind in rows}
    assert documented == CRIME_TYPES
