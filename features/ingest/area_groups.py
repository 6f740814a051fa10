"""The audit's groups of residents, made from the mapped columns, and how each was made in words.

:func:`derive_groups` turns the numbers an :class:`~features.ingest.area_mapping.AreaMapping`
names (read by :func:`features.ingest.areas.load_area_attributes`) into the areas contract's
group attributes: residents by ethnic group from counts, percentages or shares; deprivation
deciles read as given or made from population-weighted deciles of any score
(:func:`population_weighted_deciles`); the deprivation score read or made from ranks.
:func:`describe_mapped_groups` and :func:`describe_prepared_groups` say in one sentence each how
the residents and every group attribute were made, for the data-quality summary and the bias
report, so a reader sees whether a group was read directly or derived, and from what.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.quality import GroupOrigin
from features.ingest.area_mapping import BOUNDARIES, AreaMapping, AttributeColumn
from features.ingest.parsing import EXAMPLES

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: the areas' columns of each group attribute, in the order the sentences are given
ETHNIC_GROUP_COLUMNS: Final[tuple[str, ...]] = (
    "residents_minority",
    "residents_majority",
    "minority_share",
)


@dataclass(frozen=True)
class MappedColumn:
    """A mapped column's numbers, one per area, and what an error about them must name.

    Attributes
    ----------
    ref
        The mapping's table and column.
    where
        The file read (the boundaries file for table ``"boundaries"``).
    key_column
        The file's area-code column.
    codes
        Area code of each area (the boundaries' order).
    text
        Each area's value as the file holds it, for messages.
    data_rows
        Each area's 1-based data row (feature, for the boundaries) in the file.
    table_rows
        Rows of the whole file, national rows without polygons included.
    values
        Each area's value as a finite float; NaN where ``missing``.
    missing
        Areas without a value: a blank cell or one of the column's ``missing_values``.
    """

    ref: AttributeColumn
    where: Path
    key_column: str
    codes: pd.Series
    text: npt.NDArray[np.object_]
    data_rows: npt.NDArray[np.int64]
    table_rows: int
    values: FloatArray
    missing: npt.NDArray[np.bool_]

    def refuse(self, mask: npt.NDArray[np.bool_], *, rule: str, hint: str = "") -> None:
        """Raise a ValueError naming the file, column, table, first failing row and a sample of
        the failing areas' codes and values when any of ``mask`` is true; ``hint`` (what to do)
        ends the message."""
        bad = np.flatnonzero(mask)
        if not bad.size:
            return
        first = bad[0]
        sample = ", ".join(
            f"{self.codes.iloc[i]} {self.text[i]!r}" for i in bad[:EXAMPLES].tolist()
        )
        raise ValueError(
            f"{self.where}: column {self.ref.column!r} {rule}; data row {self.data_rows[first]} "
            f"({self.key_column} {self.codes.iloc[first]!r}) has {self.text[first]!r}. "
            f"{bad.size} of the {len(self.codes)} areas fail (table {self.ref.table!r}), e.g. "
            f"{sample}." + (f" {hint}" if hint else "")
        )


# --- making the groups ---------------------------------------------------------------------------


#: a column of group values per area: float, int64 deciles, or nullable Int64 deciles (with
#: <NA> for areas where nobody lives and the decile's source has no value)
GroupValues: TypeAlias = FloatArray | npt.NDArray[np.int64] | pd.arrays.IntegerArray


def derive_groups(
    mapping: AreaMapping, columns: Mapping[str, MappedColumn]
) -> dict[str, GroupValues]:
    """The areas contract's resident and group columns from the mapped columns' numbers.

    Parameters
    ----------
    mapping
        The area mapping the columns were read through.
    columns
        The mapping's fields (``residents``, ``minority``, ...; as
        :meth:`AreaMapping.attribute_columns` names them) -> their numbers for each area.

    Returns
    -------
    dict
        ``residents`` and, as mapped, ``residents_minority``, ``residents_majority``,
        ``minority_share`` (float), ``deprivation_decile`` (int 1..10, 1 = most deprived) and
        ``deprivation_score`` (float, higher = more deprived). An area where nobody lives (0
        residents) may have no value (a blank cell or one of the column's ``missing_values``):
        its ``residents_minority`` and ``residents_majority`` are then 0 and its
        ``minority_share`` NaN, its ``deprivation_score`` NaN, and its ``deprivation_decile``
        <NA>, the column then being a nullable ``Int64`` array (``int64`` when every area has a
        decile, so files without such areas are unchanged).

    Raises
    ------
    ValueError
        Naming file, column, table and a sample of the failing areas: residents missing or
        negative; any other column without a value in an area with residents; negative counts; a
        percentage outside 0..100 or a share outside 0..1; a minority count alone above the
        residents; group counts both 0 where residents live; deciles that are not integers
        1..10; ranks outside 1..rank_count; deciles from a score when no area has residents.
    """
    residents = columns["residents"]
    residents.refuse(
        residents.missing,
        rule="must hold a number in every area (the residents say where nobody lives, the only "
        "areas where other columns may have no value)",
    )
    residents.refuse(residents.values < 0, rule="must not be negative")
    nobody = residents.values == 0
    for field, column in columns.items():
        if field != "residents":
            _refuse_missing_where_people_live(column, nobody=nobody, field=field)
    out: dict[str, GroupValues] = {"residents": residents.values}
    if mapping.minority is not None:
        out.update(_ethnic_groups(mapping, columns, residents=residents))
    if mapping.deprivation_decile is not None:
        decile = columns["deprivation_decile"]
        has = ~decile.missing
        if mapping.deprivation_decile.kind == "decile":
            decile.refuse(
                has
                & (
                    (decile.values != np.round(decile.values))
                    | (decile.values < 1)
                    | (decile.values > 10)
                ),
                rule="must hold integer deciles 1..10 (1 = most deprived)",
            )
            made = np.where(has, decile.values, 0).astype(np.int64)
        else:
            if not residents.values.sum() > 0:
                raise ValueError(
                    f"{residents.where}: population-weighted deciles of "
                    f"{decile.ref.column!r} need residents, but column "
                    f"{residents.ref.column!r} sums to 0 over the {len(residents.codes)} areas."
                )
            # Areas without a score hold no residents (refused above), so leaving them out
            # changes no decile's share of the residents.
            made = np.zeros(len(has), dtype=np.int64)
            made[has] = population_weighted_deciles(
                decile.values[has], residents.values[has], codes=decile.codes[has]
            )
            if mapping.deprivation_score is None:
                out["deprivation_score"] = decile.values
        out["deprivation_decile"] = (
            pd.arrays.IntegerArray(made, mask=~has) if decile.missing.any() else made
        )
    if mapping.deprivation_score is not None:
        out["deprivation_score"] = _deprivation_score(mapping, columns["deprivation_score"])
    return out


def _refuse_missing_where_people_live(
    column: MappedColumn, *, nobody: npt.NDArray[np.bool_], field: str
) -> None:
    """Refuse a column without a value in an area with residents; log the ones without any."""
    ref = column.ref
    if ref.table == BOUNDARIES:
        leave_out = "remove its polygon from the boundaries file"
    else:
        leave_out = (
            f"remove its row from table {ref.table!r} and set the mapping's 'unmatched_areas: drop'"
        )
    column.refuse(
        column.missing & ~nobody,
        rule=f"has no value ('{field}': a blank cell"
        + (
            f" or one of its missing_values {list(ref.missing_values)}"
            if ref.missing_values
            else ""
        )
        + ") in an area with residents",
        hint="Only an area where nobody lives (0 residents) may have no value; it then counts "
        f"in no group. Fill in the value from the source, or, to leave the area out of the study "
        f"area, {leave_out}.",
    )
    n = int(column.missing.sum())
    if n:
        log.info(
            "%s: %d area(s) where nobody lives have no value of %r ('%s'), accepted",
            column.where,
            n,
            ref.column,
            field,
        )


def _ethnic_groups(
    mapping: AreaMapping, columns: Mapping[str, MappedColumn], *, residents: MappedColumn
) -> dict[str, FloatArray]:
    assert mapping.minority is not None  # the caller checked
    kind = mapping.minority.kind
    minority = columns["minority"]
    everyone = residents.values
    if kind in ("percent", "share"):
        scale = 100.0 if kind == "percent" else 1.0
        values = minority.values
        known = values[~minority.missing]
        looks_like = ""
        if kind == "share" and known.max(initial=0.0) <= 100.0:
            looks_like = " (values up to 100 look like percentages: set its kind to 'percent')"
        minority.refuse(
            (values < 0) | (values > scale),
            rule=f"must hold a {kind} of residents from 0 to {scale:g} (minority kind "
            f"{kind!r}){looks_like}",
        )
        if kind == "percent" and len(known) > 1 and known.max() <= 1.0:
            log.warning(
                "%s: every value of %r is at most 1; if they are fractions of residents, set the "
                "minority's kind to 'share' (they are read as percentages)",
                minority.where,
                minority.ref.column,
            )
        share = values / scale
        in_minority = np.where(minority.missing, 0.0, everyone * share)
        return {
            "residents_minority": in_minority,
            "residents_majority": everyone - in_minority,
            "minority_share": share,
        }
    minority.refuse(minority.values < 0, rule="must not be negative")
    if mapping.majority is None:
        minority.refuse(
            minority.values > everyone,
            rule=(
                f"counts more residents than 'residents' ({residents.ref.column!r} in table "
                f"{residents.ref.table!r}); a minority count alone must count the same "
                "population as the residents. Give the 'majority' count with "
                "'minority_from_shares: true', or the minority's share (kind 'percent' or 'share')"
            ),
        )
        counted = np.where(minority.missing, 0.0, minority.values)
        share = np.divide(counted, everyone, out=np.zeros_like(everyone), where=everyone > 0)
        return {
            "residents_minority": counted,
            "residents_majority": everyone - counted,
            "minority_share": np.where(minority.missing, np.nan, share),
        }
    majority = columns["majority"]
    majority.refuse(majority.values < 0, rule="must not be negative")
    unknown = minority.missing | majority.missing
    minority_count = np.where(unknown, 0.0, minority.values)
    majority_count = np.where(unknown, 0.0, majority.values)
    total = minority_count + majority_count
    minority.refuse(
        (total == 0) & (everyone > 0),
        rule=(
            f"and {majority.ref.column!r} are both 0 in an area with residents, so its minority "
            "share is unknown"
        ),
    )
    share = np.divide(minority_count, total, out=np.zeros_like(total), where=total > 0)
    share = np.where(unknown, np.nan, share)
    if mapping.minority_from_shares:
        in_minority = np.where(unknown, 0.0, everyone * share)
        return {
            "residents_minority": in_minority,
            "residents_majority": everyone - in_minority,
            "minority_share": share,
        }
    return {
        "residents_minority": minority_count,
        "residents_majority": majority_count,
        "minority_share": share,
    }


def _deprivation_score(mapping: AreaMapping, score: MappedColumn) -> FloatArray:
    ref = mapping.deprivation_score
    assert ref is not None  # the caller checked
    if ref.kind == "score":
        return score.values
    n = ref.rank_count or score.table_rows
    score.refuse(
        ~score.missing
        & ((score.values != np.round(score.values)) | (score.values < 1) | (score.values > n)),
        rule=f"must hold integer ranks 1..{n} (1 = most deprived; {n} = "
        + (
            "the mapping's 'rank_count')"
            if ref.rank_count
            else "the table's rows; set 'rank_count' if the ranking is larger)"
        ),
    )
    return 100.0 * (n - score.values) / (n - 1)


def population_weighted_deciles(
    score: npt.ArrayLike, residents: npt.ArrayLike, *, codes: npt.ArrayLike | pd.Series
) -> npt.NDArray[np.int64]:
    """Deciles 1..10 of a score (higher = more deprived), each holding about a tenth of residents.

    Areas are ordered from the highest score down, equal scores by area code (so the result
    never depends on row order), and each area takes the decile in which the middle of its
    residents falls on the cumulative resident count: decile 1 is the most deprived tenth of
    residents. A decile's residents differ from a tenth by at most one area's residents. Areas
    without residents take the decile where they fall in the order.

    Raises
    ------
    ValueError
        When the arrays differ in length, a score is not finite (NaN: leave such areas out) or
        the residents do not sum to more than 0.
    """
    values = np.asarray(score, dtype=np.float64)
    weights = np.asarray(residents, dtype=np.float64)
    names = np.asarray(codes, dtype=str)
    if not values.shape == weights.shape == names.shape:
        raise ValueError(
            f"score, residents and codes must have one value per area; got lengths "
            f"{values.shape}, {weights.shape} and {names.shape}."
        )
    unscored = np.flatnonzero(~np.isfinite(values))
    if unscored.size:
        raise ValueError(
            f"Population-weighted deciles need a finite score for every area; "
            f"{unscored.size} have none, e.g. {names[unscored[:EXAMPLES]].tolist()}. Leave "
            "areas without a score out (they must hold no residents)."
        )
    total = float(weights.sum())
    if not total > 0:
        raise ValueError(f"Population-weighted deciles need residents; they sum to {total}.")
    by_code = np.unique(names, return_inverse=True)[1]
    order = np.lexsort((by_code, -values))
    held = weights[order]
    middle = (np.cumsum(held) - held / 2) / total
    deciles = np.empty(len(values), dtype=np.int64)
    deciles[order] = np.minimum(np.floor(middle * 10).astype(np.int64) + 1, 10)
    return deciles


# --- how each was made, in words -----------------------------------------------------------------


def _named(ref: AttributeColumn) -> str:
    """'pct_poverty' (percent of residents in poverty) in table 'tracts'."""
    about = f" ({ref.description})" if ref.description else ""
    where = "of the boundaries file" if ref.table == BOUNDARIES else f"in table {ref.table!r}"
    return f"{ref.column!r}{about} {where}"


def _without_value(
    areas: pd.DataFrame | None,
    column: str,
    refs: Sequence[AttributeColumn | None],
    *,
    then: tuple[str, str],
) -> str:
    """' 3 areas where nobody lives have no value of 'pct_poverty'; they count in no group.', or
    '' when every area of ``areas`` has a ``column`` value (or no areas are given).

    ``then`` is what follows for one area and for several ("it counts", "they count").
    """
    if areas is None or column not in areas.columns:
        return ""
    n = int(areas[column].isna().sum())
    if not n:
        return ""
    names = " or ".join(
        f"{ref.column!r}" + (f" ({ref.description})" if ref.description else "")
        for ref in refs
        if ref is not None
    )
    if n == 1:
        return f" 1 area where nobody lives has no value of {names}; it {then[0]}."
    return f" {n} areas where nobody lives have no value of {names}; they {then[1]}."


#: what an area without a value means for a group, for one area and for several
_IN_NO_GROUP: Final[tuple[str, str]] = ("counts in no group", "count in no group")
_NO_SCORE: Final[tuple[str, str]] = (
    "adds nothing to its cells' deprivation score, a mean weighted by residents",
    "add nothing to their cells' deprivation score, a mean weighted by residents",
)


def describe_mapped_groups(
    mapping: AreaMapping, *, areas: pd.DataFrame | None = None
) -> list[GroupOrigin]:
    """One sentence for the residents and each group attribute an area mapping makes: which
    table and column, and whether read directly, from shares or percentages, from ranks, or from
    population-weighted quantiles of a score.

    With ``areas`` (what :func:`features.ingest.areas.load_area_attributes` made through the
    mapping), a sentence also says how many areas where nobody lives had no value of its
    column (a blank cell or one of its ``missing_values``) and so count in no group.
    """
    origins = [
        GroupOrigin(
            columns=["residents"],
            sentence=f"Residents are {_named(mapping.residents)}, read directly.",
        )
    ]
    minority, majority = mapping.minority, mapping.majority
    if minority is not None:
        if minority.kind == "percent":
            how = (
                f"Minority residents are residents x {minority.column!r} / 100, where "
                f"{_named(minority)} is a percentage of residents; majority residents are the "
                "rest of the residents"
            )
        elif minority.kind == "share":
            how = (
                f"Minority residents are residents x {minority.column!r}, where "
                f"{_named(minority)} is a share of residents (0 to 1); majority residents are "
                "the rest of the residents"
            )
        elif majority is None:
            how = (
                f"Minority residents are the counts {_named(minority)}, read directly; majority "
                "residents are the rest of the residents"
            )
        elif mapping.minority_from_shares:
            how = (
                f"Minority residents are residents x minority / (minority + majority), from the "
                f"shares of the counts {_named(minority)} (minority) and {_named(majority)} "
                "(majority), which count another population than the residents; majority "
                "residents are the rest of the residents"
            )
        else:
            how = (
                f"Minority and majority residents are the counts {_named(minority)} and "
                f"{_named(majority)}, read directly"
            )
        how += "." + _without_value(
            areas, "minority_share", [minority, majority], then=_IN_NO_GROUP
        )
        origins.append(GroupOrigin(columns=list(ETHNIC_GROUP_COLUMNS), sentence=how))
    decile = mapping.deprivation_decile
    if decile is not None:
        if decile.kind == "decile":
            origins.append(
                GroupOrigin(
                    columns=["deprivation_decile"],
                    sentence=f"Deprivation fifths pair the deciles {_named(decile)} (1 = most "
                    "deprived), read directly: the most deprived fifth is deciles 1 and 2."
                    + _without_value(areas, "deprivation_decile", [decile], then=_IN_NO_GROUP),
                )
            )
        else:
            made = ["deprivation_decile"]
            also = ""
            if mapping.deprivation_score is None:
                made.append("deprivation_score")
                also = " The deprivation score is the same column, read directly."
            origins.append(
                GroupOrigin(
                    columns=made,
                    sentence=f"Deprivation fifths are population-weighted quintiles of "
                    f"{_named(decile)}, higher meaning more deprived: areas ordered from the "
                    "highest value down (equal values by area code) are cut into fifths of the "
                    "residents, so each fifth holds about a fifth of them and the first is the "
                    "most deprived."
                    + _without_value(areas, "deprivation_decile", [decile], then=_IN_NO_GROUP)
                    + also,
                )
            )
    score = mapping.deprivation_score
    if score is not None:
        if score.kind == "score":
            sentence = (
                f"The deprivation score is {_named(score)}, read directly (higher = more deprived)."
            )
        else:
            n = f"N = {score.rank_count}" if score.rank_count else "N, the table's rows"
            sentence = (
                f"The deprivation score is made from the ranks {_named(score)} (1 = most "
                f"deprived of {n}) as the percentile 100 x (N - rank) / (N - 1): 100 for the "
                "most deprived area, 0 for the least."
            )
        sentence += _without_value(areas, "deprivation_score", [score], then=_NO_SCORE)
        origins.append(GroupOrigin(columns=["deprivation_score"], sentence=sentence))
    return origins


def describe_prepared_groups(columns: Sequence[str]) -> list[GroupOrigin]:
    """One sentence for the residents and each group attribute of a prepared areas file (the
    synthetic city's, or any file in the areas contract), whose columns are read directly."""
    present = set(columns)
    origins = [
        GroupOrigin(
            columns=["residents"],
            sentence="Residents are the 'residents' column of the prepared areas file "
            "(ingest.areas.path), read directly.",
        )
    ]
    if {"residents_minority", "residents_majority"} <= present:
        origins.append(
            GroupOrigin(
                columns=[c for c in ETHNIC_GROUP_COLUMNS if c in present],
                sentence="Minority and majority residents are the prepared areas file's "
                "'residents_minority' and 'residents_majority' counts, read directly.",
            )
        )
    if "deprivation_decile" in present:
        origins.append(
            GroupOrigin(
                columns=["deprivation_decile"],
                sentence="Deprivation fifths pair the prepared areas file's "
                "'deprivation_decile' values (1 = most deprived), read directly: the most "
                "deprived fifth is deciles 1 and 2.",
            )
        )
    if "deprivation_score" in present:
        origins.append(
            GroupOrigin(
                columns=["deprivation_score"],
                sentence="The deprivation score is the prepared areas file's "
                "'deprivation_score' column, read directly (higher = more deprived).",
            )
        )
    return origins
