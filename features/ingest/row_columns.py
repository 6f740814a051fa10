"""Column work on millions of rows without a Python object per row.

The row judge (:mod:`features.ingest.validation`) handles every event a source holds; at ten
million events a Python string per row, a hash table of ids or a second copy of a column costs
gigabytes. These helpers give the same values as the plain pandas expression each names, in
Arrow or by category codes.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from beatwise.io import release_arrow_memory

#: printable ASCII, which pandas' JSON writer keeps as is but for '\\', '"' and '/'
_JSON_PLAIN: Final[str] = r"^[\x20-\x7e]*$"
#: how pandas' JSON writer escapes those three (the backslash first)
_JSON_ESCAPES: Final[tuple[tuple[str, str], ...]] = (("\\", "\\\\"), ('"', '\\"'), ("/", "\\/"))


def json_lines(text: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """``text.to_json(orient="records", lines=True).splitlines()`` for an all-text frame.

    Rows whose names and values are printable ASCII are assembled in Arrow, with pandas'
    escapes; the others (control characters, non-ASCII text) are written by pandas itself, so
    every line is what pandas would write.
    """

    def by_pandas(frame: pd.DataFrame) -> np.ndarray:
        lines = frame.to_json(orient="records", lines=True).splitlines()
        return np.asarray(lines, dtype=object)

    names = list(text.columns)
    simple_names = all(isinstance(n, str) and re.fullmatch(r"[\w ]*", n, re.ASCII) for n in names)
    if not names or len(set(names)) < len(names) or not simple_names:
        return pd.Series(by_pandas(text), dtype=object).astype(str).array
    plain = np.ones(len(text), dtype=bool)
    fragments = []
    for name in names:  # a loop over the handful of columns, each handled whole
        values = pa.array(text[name].array).cast(pa.large_string())
        matched = pc.match_substring_regex(values, _JSON_PLAIN).fill_null(True)
        plain &= matched.to_numpy(zero_copy_only=False)
        for char, escaped in _JSON_ESCAPES:
            values = pc.replace_substring(values, char, escaped)
        quoted = pc.binary_join_element_wise(_lit(f'"{name}":"'), values, _lit('"'), _lit(""))
        fragments.append(pc.if_else(values.is_null(), _lit(f'"{name}":null'), quoted))
    body = pc.binary_join_element_wise(*fragments, _lit(","))
    lines = pc.binary_join_element_wise(_lit("{"), body, _lit("}"), _lit(""))
    if plain.all():
        return pd.Series(pd.arrays.ArrowStringArray(lines)).astype(str).array
    objects = lines.to_numpy(zero_copy_only=False)
    objects[~plain] = by_pandas(text[~plain])
    return pd.Series(objects, dtype=object).astype(str).array


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def text_at(values: pd.Series, positions: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values.iloc[positions].astype(str).array``: pandas' own text type, and for a column of
    categories without a Python string per row (each position takes its category's text)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()[positions]
        if codes.size == 0 or codes.min() >= 0:
            return pd.Series(values.cat.categories).astype(str).take(codes).array
    return values.iloc[positions].astype(str).array


def as_objects(values: pd.Series, positions: np.ndarray) -> np.ndarray:
    """``values.iloc[positions].astype(object).to_numpy()`` with one Python object per distinct
    value, which saves memory on columns such as file names and area codes."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    objects = pd.Series(uniques, dtype=values.dtype).astype(object).to_numpy()
    return objects[codes[positions]]


def repeats(ids: pd.Series) -> np.ndarray:
    """Whether each id occurred earlier in ``ids`` (``ids.duplicated(keep="first")``).

    By a stable sort rather than a hash table: equal ids end up side by side in their original
    order, so each run's first is the earliest occurrence. A hash of ten million distinct ids
    costs about 1 GiB; the sort's indices and the sorted copy cost a fifth of that.
    """
    if ids.empty:
        return np.zeros(0, dtype=bool)
    values = pa.array(ids.array)
    order = pc.sort_indices(values).to_numpy()  # Arrow's sort is stable
    ordered = values.take(pa.array(order))
    repeat_sorted = np.zeros(len(ids), dtype=bool)
    repeat_sorted[1:] = pc.equal(ordered[1:], ordered[:-1]).to_numpy(zero_copy_only=False)
    repeats = np.empty(len(ids), dtype=bool)
    repeats[order] = repeat_sorted
    del values, ordered
    release_arrow_memory()
    return repeats
