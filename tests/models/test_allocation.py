"""The declared allocation policy: strata of cells, the flagged set under a cap on each stratum's
share of the flagged area, what the cap costs, and the policy's params."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from beatwise.params import ParamsError, load_params, validate_params
from models.allocation import (
    NO_RESIDENTS_LABEL,
    AllocationPolicy,
    PolicyCost,
    flag_with_policy,
    policy_codes,
    policy_cost,
    stratum_codes,
)
from models.metrics import AREA_RTOL, flag_top_area, pai
from pipelines import publish

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------------
# stratum_codes
# --------------------------------------------------------------------------------------------


def test_strata_are_quantile_bins_plus_the_no_resident_stratum_and_minus_one() -> None:
    values = np.array([1, 2, 3, 4, 5, 6, np.nan, 7, 8, 9], dtype=float)
    residents = np.array([100, 100, 100, 100, 100, 100, 100, 0, 49, 50], dtype=float)
    # qualifying cells: 0-5 and 9 (50 residents is enough), values 1,2,3,4,5,6,9; their thirds
    # have edges 1, 3, 5, 9: {1,2,3} -> 0, {4,5} -> 1, {6,9} -> 2. Cell 6 has residents but no
    # value (-1); cells 7 and 8 have fewer than 50 residents (stratum 3, one past the last bin).
    codes = stratum_codes(values, residents, 3, min_residents=50)
    assert codes.dtype == np.int64
    assert codes.tolist() == [0, 0, 0, 1, 1, 2, -1, 3, 3, 2]


def test_the_no_resident_stratum_follows_the_bins_actually_produced() -> None:
    # fifths of 0,0,0,1 have edges 0,0,0,0,0.4,1: two distinct bins survive duplicates="drop"
    codes = stratum_codes(
        np.array([0.0, 0, 0, 1, 5]), np.array([9.0, 9, 9, 9, 0]), 5, min_residents=1
    )
    assert codes.tolist() == [0, 0, 0, 1, 2]
    # one value everywhere is one bin (qcut alone would give NaN)
    same = stratum_codes(np.array([3.0, 3, 3]), np.array([9.0, 9, 0]), 4, min_residents=1)
    assert same.tolist() == [0, 0, 1]
    # no cell qualifies: no bins, and the cells without residents are stratum 0
    none = stratum_codes(np.array([3.0, np.nan]), np.array([0.0, 9]), 4, min_residents=1)
    assert none.tolist() == [0, -1]


def test_stratum_codes_refuses_bad_residents_and_shapes() -> None:
    with pytest.raises(ValueError, match=r"residents must be finite and >= 0; 1 are not \(first "):
        stratum_codes(np.ones(3), np.array([1.0, -2, 3]), 2, min_residents=0)
    with pytest.raises(ValueError, match=r"one value per cell. Got shapes \(3,\) and \(2,\)"):
        stratum_codes(np.ones(3), np.ones(2), 2, min_residents=0)
    with pytest.raises(ValueError, match=r"min_residents must be finite and >= 0. Got -1"):
        stratum_codes(np.ones(3), np.ones(3), 2, min_residents=-1)


# --------------------------------------------------------------------------------------------
# flag_with_policy
# --------------------------------------------------------------------------------------------

IDS = np.arange(1, 11, dtype=np.uint64)
UNIT = np.ones(10)
DESC = np.arange(10, 0, -1, dtype=float)[None, :]  # cell 0 ranks first
SIX_FOUR = np.array([0] * 6 + [1] * 4, dtype=np.int64)


def flagged_cells(mask: npt.NDArray[np.bool_]) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in mask]


def test_a_binding_cap_skips_to_the_next_stratum() -> None:
    # A = 10 km², coverage 0.5 -> 5 km²; cap 0.6 x 5 = 3 km² per stratum. Stratum 0 takes cells
    # 0, 1, 2 (3 km²); cells 3-5 are skipped; stratum 1's best cells 6 and 7 complete the 5 km².
    kw: dict[str, Any] = {"areas_km2": UNIT, "cell_ids": IDS, "coverage": 0.5, "codes": SIX_FOUR}
    assert flagged_cells(flag_with_policy(DESC, max_share=0.6, **kw)) == [[0, 1, 2, 6, 7]]
    assert flagged_cells(flag_with_policy(DESC, max_share=1.0, **kw)) == [[0, 1, 2, 3, 4]]


def test_a_stratum_is_admitted_while_its_area_before_the_cell_is_under_the_cap() -> None:
    # areas 2, 2, 2 in stratum 0, then 1 km² cells in stratum 1; A = 13, coverage 0.5 -> 6.5,
    # cap 0.5 x 6.5 = 3.25: cell 0 (0 before) and cell 1 (2 before) pass, cell 2 (4) does not;
    # stratum 0 ends at 4 km², over its cap by its last cell, as flag_top_area's last cell
    # overshoots k·A. Stratum 1 adds cells 3, 4, 5 (4 + 3 = 7 >= 6.5).
    areas = np.array([2.0, 2, 2] + [1.0] * 7)
    out = flag_with_policy(
        DESC, areas_km2=areas, cell_ids=IDS, coverage=0.5, codes=np.array([0] * 3 + [1] * 7),
        max_share=0.5,
    )  # fmt: skip
    assert flagged_cells(out) == [[0, 1, 3, 4, 5]]


def test_ties_in_the_score_go_to_the_lower_cell_id() -> None:
    # every score equal: the ranking is by id, 1..10 here held in reverse order
    ids = IDS[::-1].copy()
    out = flag_with_policy(
        np.ones((1, 10)), areas_km2=UNIT, cell_ids=ids, coverage=0.4, codes=SIX_FOUR,
        max_share=0.5,
    )  # fmt: skip
    # ranking: cell 9 (id 1), 8, 7, 6 (stratum 1), then 5, 4, ... (stratum 0); cap 2 km²
    assert flagged_cells(out) == [[4, 5, 8, 9]]


def test_caps_that_cannot_fill_the_coverage_flag_what_they_allow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # coverage 0.6 -> 6 km², cap 0.5 x 6 = 3: stratum 0 gives 3 cells, stratum 1 has only 2
    codes = np.array([0] * 8 + [1] * 2)
    scores = np.vstack([DESC[0], DESC[0][::-1]])
    with caplog.at_level(logging.WARNING, logger="models.allocation"):
        out = flag_with_policy(
            scores, areas_km2=UNIT, cell_ids=IDS, coverage=0.6, codes=codes, max_share=0.5
        )
    assert flagged_cells(out) == [[0, 1, 2, 8, 9], [5, 6, 7, 8, 9]]
    assert "could not fill coverage 0.6 in 2 of 2 periods" in caplog.text


def test_cells_of_unknown_stratum_are_capped_as_one_stratum() -> None:
    codes = np.array([-1] * 5 + [0] * 5)
    out = flag_with_policy(
        DESC, areas_km2=UNIT, cell_ids=IDS, coverage=0.4, codes=codes, max_share=0.5
    )
    assert flagged_cells(out) == [[0, 1, 5, 6]]


def walk(
    scores: npt.NDArray[np.float64],
    areas: npt.NDArray[np.float64],
    ids: npt.NDArray[np.uint64],
    coverage: float,
    codes: npt.NDArray[np.int64],
    max_share: float,
) -> npt.NDArray[np.bool_]:
    """The policy's definition, one cell at a time."""
    total = areas.sum()
    slack = AREA_RTOL * total
    out = np.zeros(scores.shape, dtype=bool)
    for w, row in enumerate(scores):
        held: dict[int, float] = {}
        flagged = 0.0
        for c in np.lexsort((ids, -row)):
            if flagged >= coverage * total - slack:
                break
            if held.get(codes[c], 0.0) < max_share * coverage * total - slack:
                out[w, c] = True
                held[codes[c]] = held.get(codes[c], 0.0) + areas[c]
                flagged += areas[c]
    return out


def random_grid(seed: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    n_weeks, n_cells = 12, 400
    scores = np.round(rng.gamma(0.5, 1.0, (n_weeks, n_cells)), 1)  # many ties
    areas = rng.uniform(0.5, 1.5, n_cells)
    ids = rng.permutation(10 * n_cells)[:n_cells].astype(np.uint64) + np.uint64(2**60)
    # stratum 0 holds half the cells, so its cap binds
    codes = rng.choice(np.arange(-1, 6), n_cells, p=[0.05, 0.5, 0.15, 0.1, 0.1, 0.05, 0.05])
    return scores, areas, ids, codes


@pytest.mark.parametrize("coverage", [0.0, 0.01, 0.05, 0.2, 1.0])
def test_max_share_one_is_flag_top_area(coverage: float) -> None:
    scores, areas, ids, codes = random_grid(1)
    out = flag_with_policy(
        scores, areas_km2=areas, cell_ids=ids, coverage=coverage, codes=codes, max_share=1.0
    )
    expected = flag_top_area(scores, areas_km2=areas, cell_ids=ids, coverage=coverage)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("coverage", "max_share"), [(0.05, 0.2), (0.1, 0.3), (0.3, 0.15)])
def test_the_vectorised_walk_is_the_walk_cell_by_cell(coverage: float, max_share: float) -> None:
    scores, areas, ids, codes = random_grid(2)
    out = flag_with_policy(
        scores, areas_km2=areas, cell_ids=ids, coverage=coverage, codes=codes, max_share=max_share
    )
    np.testing.assert_array_equal(out, walk(scores, areas, ids, coverage, codes, max_share))
    assert (out != flag_top_area(scores, areas_km2=areas, cell_ids=ids, coverage=coverage)).any()


def test_flag_with_policy_refuses_bad_codes_and_shares() -> None:
    kw: dict[str, Any] = {"areas_km2": UNIT, "cell_ids": IDS, "coverage": 0.5}
    with pytest.raises(ValueError, match=r"codes must be a 1-D integer array .* shape \(10,\)"):
        flag_with_policy(DESC, codes=np.zeros(9, dtype=np.int64), max_share=0.5, **kw)
    with pytest.raises(ValueError, match=r"codes must be a 1-D integer array .* dtype float64"):
        flag_with_policy(DESC, codes=np.zeros(10), max_share=0.5, **kw)
    with pytest.raises(ValueError, match=r"max_share must be a share .* in \(0, 1\]. Got 0"):
        flag_with_policy(DESC, codes=SIX_FOUR, max_share=0.0, **kw)


# --------------------------------------------------------------------------------------------
# policy_cost
# --------------------------------------------------------------------------------------------


def test_policy_cost_on_a_toy() -> None:
    # week 1 as the binding-cap toy: without {0..4} (expected 40), with {0,1,2,6,7} (34).
    # week 2 reversed and doubled: without {5..9} (80), with {9,8,7,5,4} (2 x 38 = 76).
    # week 3 as week 1, without events. Pooled kept = (34 + 76 + 34) / (40 + 80 + 40) = 0.9.
    scores = np.vstack([DESC[0], 2 * DESC[0][::-1], DESC[0]])
    y = np.zeros((3, 10))
    y[0, [0, 3, 6]] = [1, 2, 1]  # without: 3 of 4 events, with: 2 of 4
    y[1, [4, 6]] = [1, 3]  # without: 3 of 4, with: 1 of 4
    cost = policy_cost(
        scores, y, areas_km2=UNIT, cell_ids=IDS, coverage=0.5, codes=SIX_FOUR, max_share=0.6
    )
    # PAI over the two weeks with events, half the area flagged: (6/8) / 0.5 and (3/8) / 0.5
    assert cost == PolicyCost(
        expected_hits_kept=pytest.approx(0.9),
        pai_without=pytest.approx(1.5),
        pai_with=pytest.approx(0.75),
        flagged_area_share_with=pytest.approx(0.5),
    )
    assert cost.pai_without == pai(y, scores, areas_km2=UNIT, cell_ids=IDS, coverage=0.5).pooled


def test_policy_cost_when_the_caps_fall_short_and_when_they_never_bind() -> None:
    y = np.zeros((1, 10))
    y[0, [3, 8]] = 1
    kw: dict[str, Any] = {"areas_km2": UNIT, "cell_ids": IDS, "coverage": 0.6}
    # caps of 3 km²: {0,1,2,8,9} flagged (expected 10+9+8+2+1 = 30 of 10+...+5 = 45), 5 km² of 10
    short = policy_cost(DESC, y, codes=np.array([0] * 8 + [1] * 2), max_share=0.5, **kw)
    assert short.expected_hits_kept == pytest.approx(30 / 45)
    assert short.flagged_area_share_with == pytest.approx(0.5)
    assert (short.pai_without, short.pai_with) == (pytest.approx(0.5 / 0.6), pytest.approx(1.0))
    free = policy_cost(DESC, y, codes=SIX_FOUR, max_share=1.0, **kw)
    assert free.expected_hits_kept == 1.0
    assert free.pai_with == pytest.approx(free.pai_without)
    assert free.flagged_area_share_with == pytest.approx(0.6)


# --------------------------------------------------------------------------------------------
# AllocationPolicy and its params
# --------------------------------------------------------------------------------------------

POLICY: dict[str, Any] = {
    "column": "deprivation_score",
    "label": "deprivation score, where higher means more deprived",
    "n_quantiles": 5,
    "max_share": 0.3,
    "approved_by": "The ethics board",
    "date": "2026-12-01",
    "reason": "A test.",
}


def test_a_policy_validates_with_its_defaults() -> None:
    policy = AllocationPolicy.model_validate(POLICY)
    assert (policy.min_residents, policy.date) == (50.0, dt.date(2026, 12, 1))
    assert NO_RESIDENTS_LABEL == "cells with almost no residents"


def operational(**changes: Any) -> dict[str, Any]:
    policy = {k: v for k, v in {**POLICY, **changes}.items() if v is not None}
    return {
        "operational": {"coverage": 0.05, "policy": policy},
        "publish": {},
        "time_bands": {},
        "evaluate": {},
    }


def test_caps_that_could_never_fill_the_coverage_are_refused_naming_the_key() -> None:
    with pytest.raises(
        ParamsError,
        match=re.escape(
            "The 'operational.policy.max_share' parameter of stage 'publish' must be at least "
            "1/(n_quantiles + 1) = 1/6 = 0.1667: with n_quantiles=5 there are at most 6 strata "
            f"(5 bins and the {NO_RESIDENTS_LABEL}), so caps of 0.16 each could not fill the "
            "coverage. Got 0.16."
        ),
    ):
        validate_params("publish", publish.Params, operational(max_share=0.16))
    # one more stratum of caps is enough
    validate_params("publish", publish.Params, operational(max_share=1 / 6))
    with pytest.raises(
        ValidationError, match=r"max_share\n\s+Value error, must be at least .* = 1/3 = 0.3333"
    ):
        AllocationPolicy.model_validate({**POLICY, "n_quantiles": 2, "max_share": 0.3})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_shares": 0.3}, r"'operational.policy.max_shares' .* Did you mean 'max_share'\?"),
        ({"approved_by": None}, r"'operational.policy.approved_by' .* required but missing"),
        ({"reason": "  "}, r"'operational.policy.reason' .* at least 1 character"),
        ({"max_share": 1.5}, r"'operational.policy.max_share' .* must be <= 1.0. Got 1.5"),
        ({"n_quantiles": 1}, r"'operational.policy.n_quantiles' .* must be >= 2. Got 1\.$"),
        ({"min_residents": -5}, r"'operational.policy.min_residents' .* must be >= 0.0"),
        ({"date": "soon"}, r"'operational.policy.date' .* must be a date \(YYYY-MM-DD\)"),
    ],
)
def test_a_bad_policy_names_its_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        validate_params("publish", publish.Params, operational(**changes))


def example_policy_block() -> str:
    """The commented-out example under ``operational:`` in params.yaml, uncommented."""
    lines = (ROOT / "params.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("  # policy:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  #"):
            break
        block.append("  " + line[len("  # ") :])
    return "\n".join(block)


def test_params_declare_no_policy_and_their_example_is_a_valid_policy(tmp_path: Path) -> None:
    default = load_params("publish", publish.Params, ROOT / "params.yaml")
    assert default.operational.policy is None
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    edited = text.replace("operational:\n", "operational:\n" + example_policy_block() + "\n", 1)
    (tmp_path / "params.yaml").write_text(edited, encoding="utf-8")
    assert yaml.safe_load(edited)["operational"]["policy"]["max_share"] == 0.3
    policy = load_params("publish", publish.Params, tmp_path / "params.yaml").operational.policy
    assert policy is not None and policy.column == "deprivation_score"


def test_policy_codes_read_the_policys_column_and_name_a_missing_one() -> None:
    policy = AllocationPolicy.model_validate({**POLICY, "n_quantiles": 2, "max_share": 0.5})
    cells = pd.DataFrame(
        {"deprivation_score": [1.0, 2, 3, 4, 5], "residents": [100, 100, 100, 100, 10]}
    )
    assert policy_codes(policy, cells).tolist() == [0, 0, 1, 1, 2]
    with pytest.raises(ValueError, match=r"needs the column 'deprivation_score' \(operational"):
        policy_codes(policy, cells.drop(columns="deprivation_score"))
    with pytest.raises(ValueError, match=r"needs the column 'residents' \(residents per cell\)"):
        policy_codes(policy, cells.drop(columns="residents"))
