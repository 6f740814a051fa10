"""Intersectional figures on the board's panel (ethnicity by deprivation fifth): computed from joint
counts where the cells carry them, withheld by the small-group rule, refused without them (never
made up from the product of two shares), and never judged by a gate."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from audit_inputs import make_metrics
from test_report import _context, _render, _text

from beatwise.params import ParamsError, StageParams, validate_params
from models.audit import (
    TRUTH_REFERENCE,
    Allocation,
    AttributeSpec,
    AuditConfig,
    AuditResult,
    GranularityCheck,
    GroupSpec,
    IntersectionSpec,
    TargetDefinition,
    run_audit,
)
from models.report import render_model_card

N_WEEKS, N_CELLS = 12, 400
ETHNICITY = AttributeSpec(
    name="ethnicity",
    groups={
        "minority": GroupSpec(column="res_minority", label="residents of minority groups"),
        "majority": GroupSpec(column="res_majority", label="residents of the majority group"),
    },
)
DEPRIVATION = AttributeSpec(
    name="deprivation",
    groups={
        "q1": GroupSpec(column="res_dep_q1", label="residents of the most deprived areas"),
        "q2": GroupSpec(column="res_dep_q2", label="residents of the least deprived areas"),
    },
)
CROSS = IntersectionSpec(
    name="ethnicity_by_deprivation",
    attributes=("ethnicity", "deprivation"),
    label="ethnicity by deprivation",
)


def _city(*, joint: bool = True, tiny: bool = False) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """400 equal cells: the first half in deprived areas (q1), the rest in q2; minority shares
    vary by cell. ``tiny``: only four q2 cells have majority residents (a small joint group)."""
    rng = np.random.default_rng(3)
    lam = rng.lognormal(-0.2, 0.6, N_CELLS)
    share = rng.uniform(0.05, 0.7, N_CELLS)
    residents = np.full(N_CELLS, 300.0)
    q1 = np.arange(N_CELLS) < N_CELLS // 2
    if tiny:
        share = np.where(q1, share, 1.0)
        share[N_CELLS - 4 :] = 0.5
    minority = residents * share
    majority = residents - minority
    cells = pd.DataFrame(
        {
            "residents": residents,
            "area_km2": np.full(N_CELLS, 0.1),
            "res_minority": minority,
            "res_majority": majority,
            "res_dep_q1": np.where(q1, residents, 0.0),
            "res_dep_q2": np.where(q1, 0.0, residents),
            "minority_share": share,
        }
    )
    if joint:
        for name, values in (("minority", minority), ("majority", majority)):
            cells[f"res_{name}_dep_q1"] = np.where(q1, values, 0.0)
            cells[f"res_{name}_dep_q2"] = np.where(q1, 0.0, values)
    y = rng.poisson(lam, size=(N_WEEKS, N_CELLS)).astype(float)
    scores = np.tile(lam, (N_WEEKS, 1))
    top = np.zeros((N_WEEKS, N_CELLS), dtype=bool)
    top[:, np.argsort(-lam * rng.uniform(0.9, 1.1, N_CELLS), kind="stable")[:40]] = True
    truth = np.zeros_like(top)
    truth[:, np.argsort(-lam, kind="stable")[:40]] = True
    baseline = np.zeros_like(top)
    baseline[:, np.argsort(-lam * rng.uniform(0.5, 1.5, N_CELLS), kind="stable")[:40]] = True
    allocations = {
        "model": Allocation("this model", top, scores),
        "truth": Allocation("the true risk", truth, scores),
        "baseline": Allocation("the best baseline (b4_all_history)", baseline, scores),
    }
    return cells, y, allocations


def _audit(cells: pd.DataFrame, y: np.ndarray, alloc: dict, **config: Any) -> AuditResult:
    return run_audit(
        alloc["model"],
        alloc["truth"],
        y,
        cells,
        config=AuditConfig(
            attributes=(ETHNICITY, DEPRIVATION),
            strata=(),
            intersections=(CROSS,),
            min_flagged_cell_periods=5,
            min_residents=1000,
            n_boot=100,
            **config,
        ),
        target=TargetDefinition(target_types=("burglary",)),
        granularity=GranularityCheck(
            published_resolution=8, max_resolution=8, event_level_rows=False
        ),
        reference_info=TRUTH_REFERENCE,
        others={"best_baseline": alloc["baseline"]},
        run_date=dt.date(2025, 1, 13),
        cross_check=False,
    )


@pytest.fixture(scope="module")
def joint() -> tuple[AuditResult, pd.DataFrame, np.ndarray, dict]:
    cells, y, alloc = _city()
    return _audit(cells, y, alloc), cells, y, alloc


def test_joint_groups_have_the_figures_of_their_own_residents(joint: tuple) -> None:
    result, cells, _, alloc = joint
    panel = result.board.intersections["ethnicity_by_deprivation"]
    assert panel.available and panel.attributes == ("ethnicity", "deprivation")
    assert list(panel.groups) == ["minority_q1", "minority_q2", "majority_q1", "majority_q2"]
    assert panel.groups["minority_q1"].label == (
        "residents of minority groups in the most deprived areas"
    )
    assert "Counted from the areas, not estimated" in panel.note
    model = result.board.allocations["model"].groups["ethnicity_by_deprivation"]
    F = alloc["model"].flagged.astype(float)
    for key, column in (
        ("minority_q1", "res_minority_dep_q1"),
        ("majority_q2", "res_majority_dep_q2"),
    ):
        P = cells[column].to_numpy()
        # exposure by hand: the share of the group's residents living in flagged cells, per week
        exposure = (F @ P).mean() / P.sum()
        all_exposure = (F @ cells["residents"].to_numpy()).mean() / cells["residents"].sum()
        assert model[key].exposure == pytest.approx(exposure)
        assert model[key].exposure_ratio == pytest.approx(exposure / all_exposure)
        assert panel.groups[key].residents == pytest.approx(P.sum())
        assert model[key].insufficient_reason is None
    # every allocation of the panel has them, and a gap between them
    for role in ("model", "reference", "best_baseline"):
        alloc_figures = result.board.allocations[role]
        assert set(alloc_figures.groups["ethnicity_by_deprivation"]) == set(panel.groups)
        assert alloc_figures.discovery_gap_pp["ethnicity_by_deprivation"] is not None


def test_no_gate_judges_the_joint_groups(joint: tuple) -> None:
    result = joint[0]
    assert "ethnicity_by_deprivation" not in result.groups
    for gate in result.gates.values():
        assert "ethnicity_by_deprivation" not in gate.by_group


def test_a_small_joint_group_is_withheld_as_insufficient_data() -> None:
    cells, y, alloc = _city(tiny=True)
    result = _audit(cells, y, alloc)
    groups = result.board.allocations["model"].groups["ethnicity_by_deprivation"]
    small = groups["majority_q2"]
    assert small.insufficient_reason is not None and "1,000 needed" in small.insufficient_reason
    assert small.exposure is None and small.exposure_ratio is None and small.discovery is None
    assert groups["minority_q1"].insufficient_reason is None
    report = result.to_report()
    html = _text(_render(report))
    assert "Groups of residents by ethnicity by deprivation" in html
    assert "insufficient data" in html
    assert (
        "Residents of the majority group in the least deprived areas (majority_q2): withheld"
        in html
    )
    card = render_model_card(report, metrics=make_metrics(), context=_context())
    row = "| Residents of the majority group in the least deprived areas (majority_q2) |"
    assert f"{row} insufficient data / " in card


def test_without_joint_counts_the_panel_says_the_data_do_not_allow_it() -> None:
    cells, y, alloc = _city(joint=False)
    result = _audit(cells, y, alloc)
    panel = result.board.intersections["ethnicity_by_deprivation"]
    assert not panel.available
    assert "Not available for these data" in panel.note and "independent" in panel.note
    assert "ethnicity_by_deprivation" not in result.board.allocations["model"].groups
    html = _text(_render(result.to_report()))
    assert "Not available for these data: the cells carry no joint counts" in html


def test_joint_counts_that_do_not_add_up_are_refused() -> None:
    cells, y, alloc = _city()
    cells["res_minority_dep_q1"] *= 1.5
    panel = _audit(cells, y, alloc).board.intersections["ethnicity_by_deprivation"]
    assert not panel.available and "do not add up" in panel.note


def test_the_panel_says_how_much_of_each_allocation_the_model_shares(joint: tuple) -> None:
    result, _, _, alloc = joint
    board = result.board.allocations
    assert board["model"].area_shared_with_model == pytest.approx(1.0)
    both = (alloc["baseline"].flagged & alloc["model"].flagged).sum()
    assert board["best_baseline"].area_shared_with_model == pytest.approx(
        both / alloc["baseline"].flagged.sum()
    )


class Params(StageParams):
    audit: AuditConfig


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (["ethnicity", "age"], r"must cross two different attributes of audit\.attributes"),
        (["ethnicity", "ethnicity"], r"must cross two different attributes"),
    ],
)
def test_an_intersection_must_cross_two_known_attributes(
    attributes: list[str], message: str
) -> None:
    raw = {"audit": {"intersections": [{"name": "x", "attributes": attributes, "label": "x"}]}}
    with pytest.raises(
        ParamsError, match=rf"The 'audit' parameter of stage 'audit' is refused: .*{message}"
    ):
        validate_params("audit", Params, raw)


def test_the_panel_titles_each_table_by_its_attribute(joint: tuple) -> None:
    html = _render(joint[0].to_report())
    decide = html[
        html.index('<section id="decide">') : html.index(
            "</section>", html.index('<section id="decide">')
        )
    ]
    titles = re.findall(r"<h3[^>]*>(.*?)</h3>", decide)
    assert titles[:3] == [
        "Groups of residents by ethnicity",
        "Groups of residents by deprivation",
        "Groups of residents by ethnicity by deprivation",
    ]


def test_ids_stay_unique_with_an_intersection(joint: tuple) -> None:
    html = _render(joint[0].to_report())
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert "board-ethnicity_by_deprivation" in ids and len(ids) == len(set(ids))
