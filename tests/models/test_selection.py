"""Model selection as code (``select``): the candidates' params, the selection window before the
reported backtest, the choice, and that nothing of the reported window reaches the choice."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtest_city import CONFIG, MODEL, toy_city

import models.selection
from beatwise.artefacts.metrics import Lift
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.selection import BASE_NAME, CandidateScore, ModelSelection, SelectedConfig
from beatwise.params import ParamsError, validate_params
from beatwise.period import PERIOD_COLUMN
from models.backtest import refit_here
from models.evaluation import choose_backtest_periods, run_backtest
from models.metrics import pai
from models.risk_model import RiskModelConfig
from models.selection import (
    SelectConfig,
    choose,
    run_selection,
    selected_config,
    selection_window,
    window_config,
)
from pipelines.select import Params

City = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]


@pytest.fixture(scope="module")
def city() -> City:
    return toy_city()


def _params(candidates: Any, **select: Any) -> dict[str, Any]:
    return {
        "train": MODEL.model_dump(),
        "select": {"periods": 8, "candidates": candidates, **select},
        "evaluate": CONFIG.model_dump(),
        "operational": {"coverage": 0.2},
        "engine": {},
    }


def _select(
    city: City, candidates: dict[str, Any], periods: int = 8, seeds: int = 1
) -> tuple[Any, Any]:
    cells, events, features, meta = city
    return run_selection(
        features, cells, events, meta,
        select=SelectConfig(periods=periods, candidates=candidates, seeds=seeds),
        base=MODEL, evaluate=CONFIG, coverage=0.2,
    )  # fmt: skip


# --- the params -------------------------------------------------------------------------------


def test_a_candidate_changes_only_the_keys_it_names() -> None:
    select = SelectConfig(
        candidates={"deep": {"num_leaves": 31}, "mixed": {"blend": {"baselines": ["etas"]}}}
    )
    configs = select.configs(MODEL)
    assert list(configs) == [BASE_NAME, "deep", "mixed"]
    assert configs[BASE_NAME] == MODEL
    assert configs["deep"] == MODEL.model_copy(update={"num_leaves": 31})
    assert configs["mixed"].blend.baselines == ("etas",)
    assert configs["mixed"].min_data_in_leaf == MODEL.min_data_in_leaf == 5


def test_no_candidates_is_an_empty_mapping() -> None:
    assert SelectConfig.model_validate({"candidates": None}).candidates == {}


@pytest.mark.parametrize(
    ("candidates", "words"),
    [
        ({"deep": {"num_leafs": 31}}, "'select.candidates.deep.num_leafs' parameter of stage "
         "'select' is not a known key. Did you mean 'num_leaves'?"),
        ({"deep": {"num_leaves": 1}}, "'select.candidates.deep.num_leaves' parameter of stage "
         "'select' must be >= 2. Got 1."),
        ({"deep": {}}, "'select.candidates.deep' parameter of stage 'select' must change at "
         "least one train key. Got {}."),
        ({"params": {"num_leaves": 31}}, "'select.candidates.params' parameter of stage 'select' "
         "must be named by a word of letters, digits and underscores other than 'params'"),
        ({"two words": {"num_leaves": 31}}, "Got 'two words'"),
        ({"mixed": {"blend": {"baselines": ["oracle"]}}}, "select.candidates.mixed.blend"),
    ],
)  # fmt: skip
def test_a_bad_candidate_is_refused_by_its_key(candidates: dict[str, Any], words: str) -> None:
    with pytest.raises(ParamsError, match=r"select\.candidates") as err:
        validate_params("select", Params, _params(candidates))
    assert words in str(err.value)


# --- the window -------------------------------------------------------------------------------


def test_the_window_is_the_periods_just_before_the_reported_backtest(city: City) -> None:
    _, _, features, meta = city
    reported = choose_backtest_periods(features, config=CONFIG, period="week")
    window = selection_window(features, meta, periods=8, evaluate=CONFIG)
    assert len(window) == 8
    assert window[-1] == reported[0] - np.timedelta64(7, "D")
    assert np.all(np.diff(window) == np.timedelta64(7, "D"))


def test_a_long_window_is_shortened_to_leave_the_training_periods(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, features, meta = city
    # 36 labelled weeks: 8 reported, 12 to train the first model on, so 16 at most
    with caplog.at_level(logging.WARNING):
        window = selection_window(features, meta, periods=40, evaluate=CONFIG)
    assert len(window) == 16
    assert "selection window shortened to 16 weeks" in caplog.text


def test_too_short_a_history_is_refused_in_words(city: City) -> None:
    _, _, features, meta = city
    tight = CONFIG.model_copy(update={"min_train_periods": 26})
    with pytest.raises(ValueError, match=r"select.candidates: \{\} \(no selection\)"):
        selection_window(features, meta, periods=8, evaluate=tight)


# --- the choice -------------------------------------------------------------------------------


def _score(name: str, pai: float, low: float | None = 1.01) -> CandidateScore:
    lift = Lift(baseline="all_history", estimate=1.0, ci_low=0.9, ci_high=1.1)
    over = None if name == BASE_NAME else Lift(baseline=BASE_NAME, estimate=pai / 2.0,
                                               ci_low=low, ci_high=2.0)  # fmt: skip
    return CandidateScore(name=name, changes={}, pai=pai, lift=lift, over_params=over)


def test_the_highest_pai_of_those_that_beat_the_params_by_evidence_wins() -> None:
    assert choose([_score("params", 2.0), _score("a", 2.5), _score("b", 2.4)]) == "a"
    assert choose([_score("params", 2.0), _score("a", 3.0), _score("b", 3.0)]) == "a"
    # a higher PAI whose interval over the params reaches 1 (or is undefined) is noise
    assert choose([_score("params", 2.0), _score("a", 2.5, low=1.0)]) == "params"
    assert choose([_score("params", 2.0), _score("a", 2.5, low=None)]) == "params"
    assert choose([_score("params", 2.0), _score("a", 2.9, low=0.99), _score("b", 2.4)]) == "b"


def test_without_candidates_the_train_params_are_chosen_without_a_backtest(city: City) -> None:
    report, chosen = _select(city, {})
    assert report.scores == () and report.window is None and report.chosen == BASE_NAME
    assert chosen.config == chosen.base == MODEL.model_dump(mode="json")
    assert "no alternative was backtested" in report.summary()


def test_the_selection_backtests_every_candidate_and_keeps_the_best(city: City) -> None:
    candidates = {"stump": {"max_rounds": 1, "learning_rate": 0.01}, "same": {"num_leaves": 4}}
    report, chosen = _select(city, candidates)
    names = [s.name for s in report.scores]
    assert names == [BASE_NAME, "stump", "same"]
    pai = {s.name: s.pai for s in report.scores}
    assert pai["same"] == pai[BASE_NAME]  # the same configuration scores the same
    assert pai["stump"] < pai[BASE_NAME]  # one round at a small rate ranks badly
    same = report.scores[2].over_params
    assert same is not None and (same.estimate, same.ci_low, same.ci_high) == (1.0, 1.0, 1.0)
    assert report.chosen == BASE_NAME and chosen.config == MODEL.model_dump(mode="json")
    assert report.scores[1].changes == {"learning_rate": 0.01, "max_rounds": 1}
    assert report.window is not None and str(report.window[1]) < str(
        choose_backtest_periods(city[2], config=CONFIG, period="week")[0]
    )
    assert "the train params as declared" in report.summary()
    assert "stump (learning_rate 0.01, max_rounds 1)" in report.summary()


@pytest.mark.parametrize(("periods", "winner"), [(8, BASE_NAME), (16, "full")])
def test_a_better_candidate_wins_only_on_enough_evidence(
    city: City, periods: int, winner: str
) -> None:
    """A one-round model as the train params, a real fit as the candidate: its PAI is higher on
    both windows, but over 8 weeks the interval over the params reaches 1 (0.9999), over 16 it
    does not (1.03): the params stay in the first case only."""
    cells, events, features, meta = city
    base = MODEL.model_copy(update={"max_rounds": 1, "learning_rate": 0.01})
    report, chosen = run_selection(
        features, cells, events, meta, base=base, evaluate=CONFIG, coverage=0.2,
        select=SelectConfig(periods=periods, candidates={"full": {"max_rounds": 30,
                                                                  "learning_rate": 0.2}}),
    )  # fmt: skip
    params, full = report.scores
    assert full.pai > params.pai
    assert report.chosen == winner
    assert chosen.config["max_rounds"] == (1 if winner == BASE_NAME else 30)
    assert "interval above 1" in report.summary()
    if winner == "full":
        assert report.summary().startswith("full (learning_rate 0.2, max_rounds 30; PAI at 20%")


def test_nothing_of_the_reported_window_reaches_the_choice(city: City) -> None:
    """Counts of the reported backtest's weeks changed (events and targets alike): the selection
    is the same to the byte; counts of the selection window changed: it is not."""
    cells, events, features, meta = city
    candidates = {"stump": {"max_rounds": 3}, "wide": {"num_leaves": 8}}
    before, _ = _select(city, candidates)
    reported = choose_backtest_periods(features, config=CONFIG, period="week")

    def shuffled(first: np.datetime64, last: np.datetime64) -> City:
        weeks = events["timestamp"].dt.floor("D") - pd.to_timedelta(
            events["timestamp"].dt.day_of_week, unit="D"
        )
        inside = (weeks >= first) & (weeks <= last)
        rng = np.random.default_rng(1)
        moved = events.copy()
        moved.loc[inside, "h3_int"] = rng.permutation(moved.loc[inside, "h3_int"].to_numpy())
        ids = cells.set_index("h3_int")["h3_cell"]
        counts = (
            moved.assign(h3_cell=ids.loc[moved["h3_int"]].to_numpy(), **{PERIOD_COLUMN: weeks})
            .groupby([PERIOD_COLUMN, "h3_cell"]).size()
        )  # fmt: skip
        frame = features.copy()
        key = pd.MultiIndex.from_frame(frame[[PERIOD_COLUMN, "h3_cell"]])
        rows = frame[PERIOD_COLUMN].between(first, last).to_numpy()
        new = counts.reindex(key, fill_value=0).to_numpy(dtype=float)
        frame.loc[rows, "target_count"] = new[rows]
        return cells, moved, frame, meta

    after, _ = _select(shuffled(reported[0], reported[-1]), candidates)
    assert after.model_dump_json() == before.model_dump_json()
    window = np.array(before.window, dtype="datetime64[ns]")
    changed, _ = _select(shuffled(window[0], window[1]), candidates)
    assert [s.pai for s in changed.scores] != [s.pai for s in before.scores]


def test_each_candidate_scores_as_its_own_backtest_of_the_window(city: City) -> None:
    """The baselines are scored once and reused for every candidate: its figures are those of a
    backtest of the window run on its own (the blend too, whose hold-outs score afresh)."""
    cells, events, features, meta = city
    candidates = {"wide": {"num_leaves": 8}, "mixed": {"blend": {"baselines": ["mean_4w"]}}}
    report, _ = _select(city, candidates, periods=16)
    protocol = window_config(CONFIG, selection_window(features, meta, periods=16, evaluate=CONFIG))
    configs = SelectConfig(candidates=candidates).configs(MODEL)
    for score in report.scores:
        alone = run_backtest(
            features, cells, events, meta, config=protocol, model_config=configs[score.name],
            coverage=0.2,
        ).metrics  # fmt: skip
        assert score.pai == alone.model.pai[0.2], score.name
        assert score.lift == alone.lift, score.name


def test_reused_baseline_scores_must_fit_the_window(city: City) -> None:
    cells, events, features, meta = city
    with pytest.raises(ValueError, match=r"baseline_scores must be \(8, 19\) arrays"):
        run_backtest(
            features, cells, events, meta, config=CONFIG, model_config=MODEL, coverage=0.2,
            baseline_scores={"mean_4w": np.zeros((7, 19))},
        )  # fmt: skip


def test_a_candidate_may_leave_out_a_feature_family(city: City) -> None:
    """``exclude_features`` in a candidate: the selection backtests the model without the
    columns it names (here the history mean, so only last week's count is left)."""
    report, _ = _select(city, {"no_mean": {"exclude_features": ["cnt_mean_hist"]}}, periods=16)
    params, no_mean = report.scores
    assert no_mean.changes == {"exclude_features": ["cnt_mean_hist"]}
    assert no_mean.pai != params.pai
    assert "no_mean (exclude_features cnt_mean_hist)" in report.summary()
    with pytest.raises(ValueError, match=r"names \['cnt_mean_hits'\], which begin no feature"):
        _select(city, {"typo": {"exclude_features": ["cnt_mean_hits"]}})


# --- the file the stages read -----------------------------------------------------------------


def test_a_stage_refuses_a_selection_made_from_other_train_params(tmp_path: Path) -> None:
    path = tmp_path / "selected_config.json"
    deep = MODEL.model_copy(update={"num_leaves": 31}).model_dump(mode="json")
    SelectedConfig(chosen="deep", base=MODEL.model_dump(mode="json"), config=deep).write(path)
    assert selected_config(MODEL, path).num_leaves == 31
    assert selected_config(MODEL, None) == MODEL
    other = MODEL.model_copy(update={"learning_rate": 0.05})
    with pytest.raises(
        ValueError, match=r"selected_config\.json was chosen from other train params"
    ):
        selected_config(other, path)


def test_a_selection_that_is_no_train_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "selected_config.json"
    bad = {**MODEL.model_dump(mode="json"), "num_leaves": 0}
    SelectedConfig(chosen="deep", base=MODEL.model_dump(mode="json"), config=bad).write(path)
    with pytest.raises(ValueError, match=r"'config' is no train configuration"):
        selected_config(MODEL, path)


def test_the_report_names_a_chosen_configuration_it_scored() -> None:
    with pytest.raises(ValueError, match="must be one of the scored"):
        ModelSelection(coverage=0.05, window=None, scores=(_score("params", 1.0),), chosen="deep")


def test_seeds_score_each_configuration_by_its_seeds_mean(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells, events, features, meta = city
    seen: list[tuple[int, int]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((kwargs["model_config"].num_leaves, kwargs["model_config"].seed))
        return run_backtest(*args, **kwargs)

    monkeypatch.setattr(models.selection, "run_backtest", spy)
    report, _ = _select(city, {"deep": {"num_leaves": 31}}, seeds=2)
    leaves, seed = MODEL.num_leaves, MODEL.seed
    assert seen == [(leaves, seed), (leaves, seed + 1), (31, seed), (31, seed + 1)]
    window = selection_window(features, meta, periods=8, evaluate=CONFIG)
    runs = [
        run_backtest(
            features,
            cells,
            events,
            meta,
            config=window_config(CONFIG, window),
            model_config=MODEL.model_copy(update={"seed": s}),
            coverage=0.2,
        )
        for s in (seed, seed + 1)
    ]
    shape = (len(runs[0].period_starts), len(cells))
    y = runs[0].frame["target_count"].to_numpy(dtype=np.float64).reshape(shape)
    scores = [r.frame["risk_score"].to_numpy(dtype=np.float64).reshape(shape) for r in runs]
    assert not np.array_equal(*scores)  # the seed changes the model
    mean = pai(
        y,
        (scores[0] + scores[1]) / 2,
        areas_km2=cells["area_km2"].to_numpy(),
        cell_ids=cells["h3_int"].to_numpy(dtype=np.uint64),
        coverage=0.2,
    )
    params = report.scores[0]
    assert params.name == BASE_NAME
    assert params.pai == pytest.approx(mean.pooled, abs=1e-6)
    assert params.lift.baseline == runs[0].metrics.lift.baseline
    assert report.scores[1].over_params is not None
    assert report.seeds == 2 and "each with 2 seeds and scored by their mean" in report.summary()
    assert ModelSelection.from_json(report.to_json()) == report  # the file keeps them
    one, _ = _select(city, {"deep": {"num_leaves": 31}})
    assert "seeds" not in one.to_json() and "seeds" not in one.summary()


def test_a_blend_candidate_shares_the_params_refits(city: City) -> None:
    # the blend mixes the model's scores after the fits: its boosters are the params', fitted once
    cells, events, features, meta = city
    calls: list[str] = []

    def counted(binned: Any, config: RiskModelConfig, befores: Any) -> Any:
        calls.append(config.model_dump_json())
        return refit_here(binned, config, befores)

    candidates = {"mixed": {"blend": {"baselines": ["mean_4w"]}}, "wide": {"num_leaves": 8}}
    run_selection(
        features, cells, events, meta,
        select=SelectConfig(periods=8, candidates=candidates), base=MODEL, evaluate=CONFIG,
        coverage=0.2, refits=counted,
    )  # fmt: skip
    assert len(calls) == 2  # the params' and wide's; mixed reused the params'
    assert '"num_leaves":8' in calls[1]
