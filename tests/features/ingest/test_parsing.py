"""The parsing helpers that make loading and validation fast give what pandas gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.ingest.parsing import map_unique, to_float

NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda v: f"{v:.6f}"),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(["", " ", " 1.5", "1.5 ", "+.5", "1.", "1e5", "1E-5", "-0", "0x10", "1_0"]),
    st.sampled_from(["nan", "NaN", "inf", "-Infinity", "abc", "1e400", "--1", "1.2.3", "٣"]),
    st.text(max_size=6),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), NUMBER_TEXT), max_size=30))
def test_to_float_matches_pandas_to_numeric(values: list[str | None]) -> None:
    text = pd.Series(values, dtype="string")
    expected = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    np.testing.assert_array_equal(to_float(text), expected)


def test_map_unique_is_the_function_applied_to_every_value() -> None:
    values = pd.Series(["b", None, "a", "b", "", None], dtype="string", index=[5, 4, 3, 2, 1, 0])

    def shout(text: pd.Series) -> pd.Series:
        return text.str.upper().fillna("missing")

    pd.testing.assert_series_equal(map_unique(values, shout), shout(values))
