"""The row-column helpers give exactly what the plain pandas expression each replaces gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.ingest.row_columns import as_objects, repeats, text_at


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repeats_equals_pandas_duplicated_keep_first(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = pd.Series(rng.integers(0, 400, size=1_000).astype(str), dtype="string")
    expected = ids.duplicated(keep="first").to_numpy()
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(repeats(ids), expected)


def test_repeats_marks_later_copies_only_in_their_original_order() -> None:
    ids = pd.Series(["b", "a", "b", "c", "a", "b"], dtype="string")
    assert repeats(ids).tolist() == [False, False, True, False, True, True]
    assert repeats(ids.iloc[:0]).shape == (0,)


@pytest.mark.parametrize("dtype", ["category", "string", object])
def test_text_at_equals_taking_then_casting_to_text(dtype: object) -> None:
    values = pd.Series(["x.csv", "y.csv", "x.csv", "z.csv"], dtype=dtype)  # type: ignore[call-overload]
    positions = np.array([3, 0, 0, 2])
    got = pd.Series(text_at(values, positions))
    expected = pd.Series(values.iloc[positions].astype(str).array)
    pd.testing.assert_series_equal(got, expected)


def test_text_at_keeps_missing_categories_as_pandas_would() -> None:
    values = pd.Series(pd.Categorical(["a", None, "b"]))
    positions = np.array([1, 2])
    expected = pd.Series(values.iloc[positions].astype(str).array)
    pd.testing.assert_series_equal(pd.Series(text_at(values, positions)), expected)


def test_as_objects_shares_one_object_per_distinct_value() -> None:
    values = pd.Series(["E01", "E02", "E01", None], dtype="string")
    objects = as_objects(values, np.array([0, 2, 3, 1]))
    expected = values.iloc[[0, 2, 3, 1]].astype(object).to_numpy()
    assert all(a is pd.NA if b is pd.NA else a == b for a, b in zip(objects, expected, strict=True))
    assert objects[0] is objects[1]
