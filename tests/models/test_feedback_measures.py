"""The closed loop's measures on hand-built runs whose answers are obvious.

Ten cells: district Ashbourne holds cells 0-4, district Brookfield cells 5-9. True harm is even
over cells unless a test says otherwise, so each district carries half the harm; a run that flags
as many cells in each district has ``R = 1`` for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from beatwise.artefacts.feedback import (
    Concentration,
    GroupDrift,
    ScenarioResult,
    SeedInterval,
)
from models.audit._config import AttributeSpec
from models.feedback.measures import (
    GroupSet,
    RunArrays,
    ScenarioMeasures,
    gini,
    group_set,
    scenario_measures,
)

N_CELLS = 10
ASH, BROOK = "district:Ashbourne", "district:Brookfield"
ETHNICITY = AttributeSpec(
    name="ethnicity",
    groups={
        "minority": {"column": "res_minority", "label": "residents of minority ethnic groups"},
        "majority": {"column": "res_majority", "label": "residents of White ethnic groups"},
    },
)
OPTIONS = {
    "window": 4,
    "band": (0.8, 1.25),
    "min_flagged_cell_weeks": 5,
    "min_residents": 100.0,
}


def _cells() -> pd.DataFrame:
    minority = np.array([80.0] * 5 + [20.0] * 5)
    return pd.DataFrame(
        {
            "h3_cell": [f"c{i}" for i in range(N_CELLS)],
            "district_name": ["Ashbourne"] * 5 + ["Brookfield"] * 5,
            "residents": np.full(N_CELLS, 100.0),
            "res_minority": minority,
            "res_majority": 100.0 - minority,
        }
    )


GROUPS = group_set(_cells(), [ETHNICITY])


def _run(
    flagged: Sequence[Sequence[int]], harm: npt.ArrayLike | None = None, recorded: float = 1.0
) -> RunArrays:
    """A run flagging the given cells each week; harm 1 per cell-week unless given."""
    flags = np.zeros((len(flagged), N_CELLS), dtype=bool)
    for week, cells in enumerate(flagged):
        flags[week, list(cells)] = True
    h = np.ones(flags.shape) if harm is None else np.asarray(harm, dtype=np.float64)
    return RunArrays(flags=flags, harm=h, recorded=np.full(flags.shape, recorded))


def _every_week(cells: Sequence[int], weeks: int = 8) -> list[Sequence[int]]:
    return [cells] * weeks


def _measure(
    closed: Sequence[RunArrays],
    open_: Sequence[RunArrays],
    *,
    groups: GroupSet = GROUPS,
    true_risk: npt.ArrayLike | None = None,
    **overrides: object,
) -> ScenarioMeasures:
    risk = np.arange(N_CELLS, 0, -1.0) if true_risk is None else true_risk
    options = {**OPTIONS, **overrides}
    return scenario_measures(closed, open_, groups=groups, true_risk=risk, **options)  # type: ignore[arg-type]


def _group(m: ScenarioMeasures, key: str) -> GroupDrift:
    return next(g for g in m.groups if g.key == key)


EVEN = _every_week([0, 1, 5, 6])  # two cells in each district, every week


# -- groups ----------------------------------------------------------------------------------


def test_group_set_districts_first_then_attribute_groups_with_labels_and_weights() -> None:
    cells = pd.DataFrame(
        {
            "district_name": ["Cove", "Ashbourne", "outside areas", "Cove"],
            "residents": [200.0, 100.0, 0.0, 50.0],
            "res_minority": [50.0, 100.0, 0.0, 0.0],
            "res_majority": [150.0, 0.0, 0.0, 50.0],
        }
    )
    gs = group_set(cells, [ETHNICITY])
    assert gs.keys == (
        "district:Ashbourne",
        "district:Cove",
        "ethnicity:minority",
        "ethnicity:majority",
    )
    assert gs.labels == (
        "district Ashbourne",
        "district Cove",
        "residents of minority ethnic groups",
        "residents of White ethnic groups",
    )
    assert gs.kinds == ("district", "district", "resident group", "resident group")
    assert gs.attributes == ("district", "district", "ethnicity", "ethnicity")
    np.testing.assert_allclose(gs.residents, [100.0, 250.0, 150.0, 200.0])
    expected = np.array(
        [
            [0.0, 1.0, 0.25, 0.75],
            [1.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],  # outside every district, and no residents: weight 0
            [0.0, 1.0, 0.0, 1.0],
        ]
    )
    np.testing.assert_allclose(gs.weights, expected)


def test_group_set_refuses_a_missing_group_column_naming_it() -> None:
    cells = _cells().drop(columns="res_majority")
    with pytest.raises(ValueError, match="res_majority"):
        group_set(cells, [ETHNICITY])


def test_group_set_refuses_negative_residents() -> None:
    cells = _cells()
    cells.loc[3, "res_minority"] = -1.0
    with pytest.raises(ValueError, match=r"res_minority.*non-negative"):
        group_set(cells, [ETHNICITY])


def test_group_set_refuses_repeated_keys() -> None:
    with pytest.raises(ValueError, match="unique"):
        group_set(_cells(), [ETHNICITY, ETHNICITY])


# -- drift and outcomes ----------------------------------------------------------------------


def test_identical_closed_and_open_runs_drift_exactly_one_and_pass() -> None:
    runs = [_run(_every_week([0, 1, 2, 5])), _run(_every_week([0, 5, 6, 7]))]
    m = _measure(runs, runs, min_flagged_cell_weeks=1)
    assert m.status == "PASS"
    for g in m.groups:
        assert g.status == "PASS", g.reason
        assert g.drift.per_seed == [1.0, 1.0]
        assert (g.drift.value, g.drift.low, g.drift.high) == (1.0, 1.0, 1.0)
        assert all(v == 1.0 for v in g.drift_weekly.mean)
        assert g.trend_per_year.value == 0.0
    ash = _group(m, ASH)
    assert ash.closed_ratio.per_seed == pytest.approx([1.5, 0.5])  # 3 of 4 flags, then 1 of 4
    assert ash.harm_share.value == pytest.approx(0.5)
    assert m.recorded_in_flagged_ratio.value == 1.0
    assert "inside the band 0.8 to 1.25" in ash.reason
    assert "4 groups judged, 0 with insufficient data" in m.summary


def test_flags_moving_toward_one_district_fail_when_seeds_agree() -> None:
    # Closed: all four flags in Ashbourne (R = 2); open: two in each (R = 1).
    closed = [_run(_every_week([0, 1, 2, 3])), _run(_every_week([1, 2, 3, 4]))]
    open_ = [_run(EVEN), _run(EVEN)]
    m = _measure(closed, open_)
    ash = _group(m, ASH)
    assert ash.drift.value == pytest.approx(2.0)
    assert ash.status == "FAIL"
    assert "the whole interval is above the band 0.8 to 1.25" in ash.reason
    # Brookfield is never flagged in the closed loop: too few flagged cell-weeks to judge.
    brook = _group(m, BROOK)
    assert brook.flagged_cell_weeks == 0
    assert brook.status == "INSUFFICIENT DATA"
    assert m.status == "FAIL"
    # White residents, a fifth of Ashbourne and four fifths of Brookfield: flag share 0.2 against
    # 0.5 in the open loop, a drift of 0.4, further from 1 in log terms than Ashbourne's 2.
    assert _group(m, "ethnicity:majority").drift.value == pytest.approx(0.4)
    assert "residents of White ethnic groups, drift 0.40" in m.summary


def test_flags_moving_toward_one_district_review_when_seeds_disagree() -> None:
    # Seeds' drifts 2, 1 and 1.5: the geometric mean (1.44) is above the band, the interval wide.
    closed = [
        _run(_every_week([0, 1, 2, 3])),
        _run(EVEN),
        _run(_every_week([0, 1, 2, 5])),
    ]
    open_ = [_run(EVEN)] * 3
    m = _measure(closed, open_)
    ash = _group(m, ASH)
    assert ash.drift.per_seed == pytest.approx([2.0, 1.0, 1.5])
    assert ash.drift.value == pytest.approx(3.0 ** (1 / 3))
    assert ash.drift.low is not None and ash.drift.low < 0.8
    assert ash.status == "REVIEW"
    assert "though the interval reaches into it" in ash.reason
    assert "95% interval over 3 seeds" in ash.reason
    assert m.status == "REVIEW"


def test_one_seed_outside_the_band_is_for_review_not_a_fail() -> None:
    m = _measure([_run(_every_week([0, 1, 2, 3]))], [_run(EVEN)])
    ash = _group(m, ASH)
    assert (ash.drift.value, ash.drift.low, ash.drift.high) == (pytest.approx(2.0), None, None)
    assert ash.status == "REVIEW"
    assert "one seed" in ash.reason


def test_seed_interval_is_a_t_interval_on_the_logs() -> None:
    closed = [_run(_every_week([0, 1, 2, 3])), _run(EVEN), _run(_every_week([0, 1, 2, 5]))]
    m = _measure(closed, [_run(EVEN)] * 3)
    logs = np.log([2.0, 1.0, 1.5])
    half = 4.302652729911275 * logs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    ash = _group(m, ASH)
    assert ash.drift.low == pytest.approx(np.exp(logs.mean() - half))
    assert ash.drift.high == pytest.approx(np.exp(logs.mean() + half))


def test_too_few_flagged_cell_weeks_is_insufficient_data_never_a_pass() -> None:
    runs = [_run(EVEN)] * 2
    m = _measure(runs, runs, min_flagged_cell_weeks=9)  # 2 cells x 4 weeks = 8 per district
    ash = _group(m, ASH)
    assert ash.flagged_cell_weeks == 8
    assert ash.status == "INSUFFICIENT DATA"
    assert "8 flagged cell-weeks in the final 4 weeks (at least 9 needed)" in ash.reason
    assert "reported but not judged" in ash.reason
    # Resident groups span both districts (16 flagged cell-weeks each) and are judged.
    assert _group(m, "ethnicity:minority").status == "PASS"
    assert m.status == "PASS"
    assert "2 groups judged, 2 with insufficient data" in m.summary


def test_too_few_residents_is_insufficient_data() -> None:
    runs = [_run(EVEN)] * 2
    m = _measure(runs, runs, min_residents=600.0)  # each district has 500, each group 500
    assert {g.status for g in m.groups} == {"INSUFFICIENT DATA"}
    assert "500 residents (at least 600 needed)" in _group(m, ASH).reason
    assert m.status == "INSUFFICIENT DATA"


def test_drift_rising_in_log_is_a_trend_for_review_once_a_year_more_would_leave_the_band() -> None:
    weeks = 20
    t = np.arange(weeks)

    def harm_for(drift: np.ndarray) -> np.ndarray:
        # Flags stay even; the closed loop's Ashbourne harm share is 0.5 / drift, so its R over
        # the open loop's (whose share is 0.5) is the drift.
        share = 0.5 / drift
        return np.column_stack([share] * 5 + [1.0 - share] * 5) * 2.0

    even = _every_week([0, 1, 5, 6], weeks)
    rates = [0.010, 0.011, 0.009]
    closed = [_run(even, harm=harm_for(np.exp(r * t))) for r in rates]
    open_ = [_run(even)] * 3
    m = _measure(closed, open_, window=1, min_flagged_cell_weeks=1)
    ash = _group(m, ASH)
    assert ash.trend_per_year.per_seed == pytest.approx([52 * r for r in rates])
    assert ash.trend_per_year.low is not None and ash.trend_per_year.low > 0
    assert ash.drift.value is not None and 0.8 < ash.drift.value < 1.25  # inside at the end
    assert ash.status == "REVIEW"
    assert "keeps growing" in ash.reason

    # The same drift, held flat at the level it ends at: no trend, a pass.
    flat = [_run(even, harm=harm_for(np.full(weeks, np.exp(r * (weeks - 1))))) for r in rates]
    m_flat = _measure(flat, open_, window=1, min_flagged_cell_weeks=1)
    flat_ash = _group(m_flat, ASH)
    assert flat_ash.trend_per_year.per_seed == pytest.approx([0.0] * 3, abs=1e-12)
    assert flat_ash.drift.value == pytest.approx(ash.drift.value)
    assert flat_ash.status == "PASS"


def test_drift_weekly_uses_the_trailing_window() -> None:
    # Closed: even for 4 weeks, then all in Ashbourne. With a 2-week window the drift goes
    # 1, 1, 1, 1, 1.5, 2, 2, 2.
    flagged = _every_week([0, 1, 5, 6], 4) + _every_week([0, 1, 2, 3], 4)
    m = _measure([_run(flagged)] * 2, [_run(EVEN)] * 2, window=2)
    assert _group(m, ASH).drift_weekly.mean == pytest.approx([1, 1, 1, 1, 1.5, 2, 2, 2])


# -- concentration ---------------------------------------------------------------------------


def test_gini_known_answers() -> None:
    assert gini([3.0, 3.0, 3.0, 3.0]) == pytest.approx(0.0)
    assert gini([0.0, 0.0, 0.0]) == 0.0
    assert gini([0.0, 0.0, 0.0, 5.0]) == pytest.approx(0.75)
    assert gini([0.0] * 8 + [2.0, 2.0]) == pytest.approx(0.8)  # 1 - k / n for k equal of n
    np.testing.assert_allclose(gini([[1.0, 1.0], [0.0, 4.0]]), [0.0, 0.5])


def test_concentration_of_cumulative_flags_and_harm() -> None:
    runs = [_run(EVEN)] * 2
    c = _measure(runs, runs).concentration
    assert c.gini_flags_closed.mean == pytest.approx([0.6] * 8)  # 4 of 10 cells, evenly
    assert c.gini_harm.mean == pytest.approx([0.0] * 8)
    assert c.final_gini_flags_open.value == pytest.approx(0.6)
    assert c.final_gini_flags_open.low == pytest.approx(0.6)


def test_share_of_flags_outside_the_true_top_k() -> None:
    # Four flags a week, so k = 4; true risk falls with the index, so the top 4 are cells 0-3.
    closed = [_run(EVEN), _run(_every_week([0, 1, 2, 3]))]
    open_ = [_run(_every_week([6, 7, 8, 9]))] * 2
    c = _measure(closed, open_).concentration
    assert c.top_k == 4
    assert c.outside_top_k_closed.mean == pytest.approx([0.25] * 8)  # (0.5 + 0) / 2
    assert c.final_outside_top_k_closed.per_seed == [0.5, 0.0]
    assert c.final_outside_top_k_open.value == 1.0


def test_top_k_ties_go_to_the_lower_index() -> None:
    runs = [_run(_every_week([0, 1, 2, 9]))] * 2
    c = _measure(runs, runs, true_risk=np.ones(N_CELLS)).concentration
    assert c.final_outside_top_k_closed.value == pytest.approx(0.25)  # only cell 9 is outside


def test_recorded_in_flagged_cells_closed_over_open() -> None:
    closed = [_run(EVEN, recorded=3.0), _run(EVEN, recorded=2.0)]
    open_ = [_run(EVEN, recorded=1.0)] * 2
    r = _measure(closed, open_).recorded_in_flagged_ratio
    assert r.per_seed == [3.0, 2.0]
    assert r.value == pytest.approx(np.sqrt(6.0))


# -- records and refusals --------------------------------------------------------------------


def test_measures_validate_as_the_feedback_records() -> None:
    closed = [_run(_every_week([0, 1, 2, 3])), _run(_every_week([1, 2, 3, 4]))]
    m = _measure(closed, [_run(EVEN)] * 2)
    for g in m.groups:
        assert GroupDrift.model_validate(g.model_dump()) == g
    assert Concentration.model_validate(m.concentration.model_dump()) == m.concentration
    assert SeedInterval.model_validate(m.recorded_in_flagged_ratio.model_dump())
    result = ScenarioResult(
        name="configured",
        label="the pipeline as configured",
        configured=True,
        target_types=["burglary"],
        police_activity_features=False,
        over_policing=None,
        downweight_discovered=False,
        max_consecutive_weeks=None,
        groups=m.groups,
        concentration=m.concentration,
        recorded_in_flagged_ratio=m.recorded_in_flagged_ratio,
        status=m.status,
        summary=m.summary,
        seconds=0.1,
    )
    # Undefined figures are null, never NaN, so the JSON is strict.
    assert "NaN" not in result.model_dump_json()


def test_refuses_unpaired_runs() -> None:
    with pytest.raises(ValueError, match=r"pair seed by seed.*2 closed and 1 open"):
        _measure([_run(EVEN)] * 2, [_run(EVEN)])


def test_refuses_runs_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"open run 0: flags has shape \(7, 10\)"):
        _measure([_run(EVEN)], [_run(EVEN[:7])])


def test_refuses_a_band_that_is_not_low_then_high() -> None:
    with pytest.raises(ValueError, match="band must be"):
        _measure([_run(EVEN)], [_run(EVEN)], band=(1.25, 0.8))


def test_refuses_true_risk_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="true_risk"):
        _measure([_run(EVEN)], [_run(EVEN)], true_risk=np.ones(3))
