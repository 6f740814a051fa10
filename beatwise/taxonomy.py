"""The one crime-type taxonomy of Beatwise and the mappings from source names onto it.

Canonical names are snake_case. data.police.uk publishes two spellings of the same categories:
display names in the monthly CSV downloads (``Violence and sexual offences``) and slugs in the API
(``violent-crime``). Both map here; anything else is an unknown category and gets quarantined.
"""

from __future__ import annotations

from typing import Final, Literal

CrimeKind = Literal["victim", "police_activity"]

#: canonical name -> (data.police.uk display name, data.police.uk API slug, kind)
CRIME_TYPES: Final[dict[str, tuple[str, str, CrimeKind]]] = {
    "burglary": ("Burglary", "burglary", "victim"),
    "robbery": ("Robbery", "robbery", "victim"),
    "violence_sexual": ("Violence and sexual offences", "violent-crime", "victim"),
    "theft_person": ("Theft from the person", "theft-from-the-person", "victim"),
    "vehicle_crime": ("Vehicle crime", "vehicle-crime", "victim"),
    "criminal_damage_arson": ("Criminal damage and arson", "criminal-damage-arson", "victim"),
    "other_theft": ("Other theft", "other-theft", "victim"),
    "shoplifting": ("Shoplifting", "shoplifting", "victim"),
    "bicycle_theft": ("Bicycle theft", "bicycle-theft", "victim"),
    "drugs": ("Drugs", "drugs", "police_activity"),
    "possession_weapons": ("Possession of weapons", "possession-of-weapons", "police_activity"),
    "public_order": ("Public order", "public-order", "police_activity"),
    "anti_social_behaviour": ("Anti-social behaviour", "anti-social-behaviour", "police_activity"),
    "other_crime": ("Other crime", "other-crime", "police_activity"),
}

CANONICAL_TYPES: Final[tuple[str, ...]] = tuple(CRIME_TYPES)
VICTIM_TYPES: Final[tuple[str, ...]] = tuple(
    name for name, (_, _, kind) in CRIME_TYPES.items() if kind == "victim"
)
POLICE_ACTIVITY_TYPES: Final[tuple[str, ...]] = tuple(
    name for name, (_, _, kind) in CRIME_TYPES.items() if kind == "police_activity"
)
DISPLAY_NAMES: Final[dict[str, str]] = {name: disp for name, (disp, _, _) in CRIME_TYPES.items()}


def _normalise(label: str) -> str:
    return " ".join(label.strip().lower().replace("_", " ").replace("-", " ").split())


#: normalised source label -> canonical name (display names, slugs and canonical names all map)
_LOOKUP: Final[dict[str, str]] = {
    _normalise(label): name
    for name, (display, slug, _) in CRIME_TYPES.items()
    for label in (name, display, slug)
}
# The older police.uk category that was split in 2013; it still appears in archives.
_LOOKUP[_normalise("Violent crime")] = "violence_sexual"


def canonical_crime_type(label: str) -> str | None:
    """Return the canonical name for a source category label, or None when it is unknown.

    Matching ignores case, surrounding spaces, and the difference between spaces, hyphens and
    underscores, so ``"Violence and sexual offences"``, ``"violent-crime"`` and
    ``"violence_sexual"`` all map to ``"violence_sexual"``.
    """
    return _LOOKUP.get(_normalise(label))


def validate_crime_types(names: list[str] | tuple[str, ...], *, what: str) -> tuple[str, ...]:
    """Check that every name is canonical; raise a ValueError that names the bad one otherwise."""
    for name in names:
        if name not in CRIME_TYPES:
            raise ValueError(
                f"{what} lists crime type {name!r}, which is not a canonical Beatwise type. "
                f"Expected one of: {', '.join(CANONICAL_TYPES)}."
            )
    return tuple(names)
