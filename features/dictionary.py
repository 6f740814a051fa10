"""The feature dictionary (``docs/feature-dict.csv``) and the check that a table matches it.

The dictionary has one row per column family, written as a pattern so it stays readable:
``cnt_{type}_lag{k}w`` stands for every ``type`` token and lag ``k`` the configuration asks for.
Its ``period`` column says in which period mode the family exists: ``week``, ``month`` or
``both`` (the weekly and monthly panels share their keys, history means, static covariates and
target). Placeholders expand from a :class:`~features.engineering.FeatureConfig`:

============  ========================================================================
``{type}``    the per-type feature types, then ``all`` (``FeatureConfig.type_tokens``)
``{k}``       ``FeatureConfig.lags``
``{n}``       ``FeatureConfig.rolling_windows``
``{h}``       ``FeatureConfig.decay_half_lives``
``{r}``       ``FeatureConfig.rings``
``{p}``       ``FeatureConfig.parent_resolutions``
``{name}``    the static covariates present in the table (``static_<name>`` columns)
``{kind}``    the place kinds present in the table (``plc_<kind>_disk<d>`` columns)
``{d}``       ``FeatureConfig.places.radius_rings``
============  ========================================================================

:func:`check_columns` fails in both directions: a table column no row documents, and a documented
column the table lacks.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from beatwise.period import PERIODS, Period, check_period
from features.engineering import STATIC_PREFIX, FeatureConfig
from features.places import PLACE_PREFIX

DICTIONARY_PATH: Path = Path(__file__).resolve().parents[1] / "docs" / "feature-dict.csv"
DICTIONARY_COLUMNS: tuple[str, ...] = ("feature", "family", "meaning", "units", "window", "period")
#: values of the ``period`` column: a period mode, or both
PERIOD_VALUES: tuple[str, ...] = (*PERIODS, "both")
PLACEHOLDERS: tuple[str, ...] = ("type", "k", "n", "h", "r", "p", "name", "kind", "d")
#: a place feature's column, from which the kinds in a table are read
PLACE_COLUMN = re.compile(rf"^{PLACE_PREFIX}(?P<kind>[a-z][a-z0-9_]*)_disk\d+$")


def _placeholders(pattern: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None]


def load_dictionary(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate the feature dictionary CSV.

    Refuses a file whose header is not ``feature,family,meaning,units,window,period``, a repeated
    or empty ``feature``, an empty ``meaning``, a ``period`` other than ``week``, ``month`` or
    ``both``, or a placeholder other than those of this module.
    """
    path = Path(path) if path is not None else DICTIONARY_PATH
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return validate_dictionary(table, source=str(path))


def validate_dictionary(table: pd.DataFrame, *, source: str = "feature dictionary") -> pd.DataFrame:
    """Check a dictionary frame (see :func:`load_dictionary`); return it unchanged."""
    if tuple(table.columns) != DICTIONARY_COLUMNS:
        raise ValueError(
            f"{source} must have columns {','.join(DICTIONARY_COLUMNS)}. "
            f"Got {','.join(map(str, table.columns))}."
        )
    features = table["feature"].str.strip()
    if (features == "").any():
        raise ValueError(f"{source} has a row with an empty 'feature'.")
    repeated = sorted(set(features[features.duplicated()]))
    if repeated:
        raise ValueError(f"{source} lists these features more than once: {repeated}.")
    for row in table.itertuples(index=False):
        if not str(row.meaning).strip():
            raise ValueError(f"{source}: feature {row.feature!r} has an empty 'meaning'.")
        if row.period not in PERIOD_VALUES:
            raise ValueError(
                f"{source}: feature {row.feature!r} has period {row.period!r}. "
                f"Expected one of {list(PERIOD_VALUES)}."
            )
        unknown = [p for p in _placeholders(row.feature) if p not in PLACEHOLDERS]
        if unknown:
            raise ValueError(
                f"{source}: feature {row.feature!r} uses placeholders {unknown}. "
                f"Expected only {{{'}, {'.join(PLACEHOLDERS)}}}."
            )
    return table


def expand_dictionary(
    dictionary: pd.DataFrame,
    *,
    config: FeatureConfig,
    period: Period,
    static_columns: Iterable[str] = (),
    place_kinds: Iterable[str] = (),
) -> list[str]:
    """The concrete column names the dictionary documents for ``config`` in ``period`` mode, in
    dictionary order (rows whose ``period`` is that period or ``both``).

    ``static_columns`` are the covariate names without the ``static_`` prefix; ``place_kinds``
    the kinds of the places file the table was built with.
    """
    period = check_period(period)
    values: dict[str, tuple[str, ...]] = {
        "type": config.type_tokens,
        "k": tuple(map(str, config.lags)),
        "n": tuple(map(str, config.rolling_windows)),
        "h": tuple(map(str, config.decay_half_lives)),
        "r": tuple(map(str, config.rings)),
        "p": tuple(map(str, config.parent_resolutions)),
        "name": tuple(static_columns),
        "kind": tuple(place_kinds),
        "d": tuple(map(str, config.places.radius_rings)),
    }
    names: list[str] = []
    rows = dictionary[dictionary["period"].isin([period, "both"])]
    for pattern in rows["feature"]:
        fields = list(dict.fromkeys(_placeholders(pattern)))
        for combo in itertools.product(*(values[f] for f in fields)):
            names.append(pattern.format(**dict(zip(fields, combo, strict=True))))
    return names


def column_mismatches(
    columns: Iterable[str],
    *,
    config: FeatureConfig,
    period: Period,
    dictionary: pd.DataFrame | None = None,
) -> tuple[list[str], list[str]]:
    """Return (undocumented, missing): table columns no dictionary row of ``period`` mode
    documents, and documented columns the table lacks. Static covariates are taken from the
    table's ``static_<name>`` columns, place kinds from its ``plc_<kind>_disk<d>`` columns."""
    cols = list(columns)
    dictionary = load_dictionary() if dictionary is None else validate_dictionary(dictionary)
    static = [c.removeprefix(STATIC_PREFIX) for c in cols if c.startswith(STATIC_PREFIX)]
    kinds = dict.fromkeys(m["kind"] for c in cols if (m := PLACE_COLUMN.match(c)))
    documented = expand_dictionary(
        dictionary, config=config, period=period, static_columns=static, place_kinds=kinds
    )
    documented_set, cols_set = set(documented), set(cols)
    undocumented = [c for c in cols if c not in documented_set]
    missing = [c for c in documented if c not in cols_set]
    return undocumented, missing


def check_columns(
    columns: Iterable[str],
    *,
    config: FeatureConfig,
    period: Period,
    dictionary: pd.DataFrame | None = None,
) -> None:
    """Raise a ValueError unless the columns and the dictionary (expanded for ``config`` in
    ``period`` mode) agree.

    Parameters
    ----------
    columns
        The feature table's columns (keys, features and target).
    config
        The configuration the table was built with; it fixes the placeholder values.
    period
        ``"week"`` or ``"month"``: which of the dictionary's rows apply.
    dictionary
        A dictionary frame; default: ``docs/feature-dict.csv``.
    """
    undocumented, missing = column_mismatches(
        columns, config=config, period=period, dictionary=dictionary
    )
    problems = []
    if undocumented:
        problems.append(f"columns not in the feature dictionary: {undocumented}")
    if missing:
        problems.append(f"dictionary features missing from the table: {missing}")
    if problems:
        raise ValueError(
            f"The {period}ly feature table and docs/feature-dict.csv disagree; "
            + "; ".join(problems)
            + "."
        )
