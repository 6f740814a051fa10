"""The pipeline's own forecast in a closed loop with the (tiny) synthetic city.

The loop must be the stages' code, not a copy: a feature setting changes its forecasts, its open
loop is the simulate stage's city event for event, and its model is the train stage's. It must be
deterministic per seed, and patrol must reach the data only in the closed loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from functools import cache
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from beatwise.artefacts.feedback import FeedbackReport
from features.engineering import FeatureConfig
from features.panel import count_matrix
from models.feedback import _stage as feedback_stage
from models.feedback._stage import FeedbackInputs, SeedProcessDiedError, run_feedback
from models.feedback.city import (
    HISTORY_COLUMNS,
    CityHistory,
    CityRun,
    LoopSettings,
    PipelineForecaster,
    _Counts,
    city_history,
    pipeline_allocator,
    run_city_scenario,
    true_risk,
)
from models.feedback.config import (
    ADDED_TARGET_TYPES,
    CONFIGURED,
    FeedbackConfig,
    Scenario,
    build_scenarios,
    loop_features,
    loop_model,
    loop_weeks,
)
from models.feedback.loop import LoopHistory
from models.risk_model import RiskModelConfig, fit_risk_model
from pipelines._io import REFUSALS, describe_refusal
from simcity.config import CityConfig
from simcity.episodes import weekly_background
from simcity.generate import simulate_city
from simcity.loop import CityStepper
from simcity.testing import tiny_city_config

WEEKS = 10
FEATURES = FeatureConfig(
    lags=(1, 2),
    rolling_windows=(4, 8),
    decay_half_lives=(2,),
    rings=(1,),
    since_cap=20,
    min_history_periods=20,
    period="week",
)
MODEL = RiskModelConfig(
    learning_rate=0.3, num_leaves=7, min_data_in_leaf=50, max_rounds=30, validation_periods=3
)
SETTINGS = LoopSettings(
    weeks=WEEKS,
    dose=3.0,
    refit_every=4,
    coverage=0.05,
    model=MODEL,
    static_covariates=("residents",),
    h3_resolution=8,
)


def _city(**overrides: object) -> CityConfig:
    return tiny_city_config(seed=11, **overrides)


def _scenario(city: CityConfig, features: FeatureConfig = FEATURES, **kw: object) -> Scenario:
    return Scenario(CONFIGURED, "test", features, city, **kw)  # type: ignore[arg-type]


@cache
def _history(uplift: float = 0.5) -> CityHistory:
    return city_history(_city(patrol_response={"reporting_uplift": uplift}), SETTINGS)


@cache
def _run(uplift: float = 0.5) -> CityRun:
    history = _history(uplift)
    return run_city_scenario(_scenario(history.stepper.config), SETTINGS, history)


def test_the_loop_is_deterministic_per_seed() -> None:
    first = _run()
    again = run_city_scenario(_scenario(_history().stepper.config), SETTINGS, _history())
    for a, b in ((first.closed, again.closed), (first.open, again.open)):
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.flags, b.flags)
        np.testing.assert_array_equal(a.recorded, b.recorded)
        np.testing.assert_array_equal(a.committed, b.committed)


def test_a_history_keeps_of_each_week_only_the_columns_the_loop_counts_from() -> None:
    history = _history()
    fresh = CityStepper(history.stepper.config)
    for week in history.committed[:3]:
        assert tuple(week.columns) == HISTORY_COLUMNS
        stepped = fresh.step().committed
        assert len(stepped.columns) > len(HISTORY_COLUMNS)  # the week's frame had more
        pd.testing.assert_frame_equal(week, stepped[list(HISTORY_COLUMNS)])


def test_patrol_reaches_the_data_only_in_the_closed_loop() -> None:
    run = _run()
    # the dose raises victim reporting in flagged cells (uplift 0.5, dose 3: x2): the closed loop
    # records more in the cells it flags, while committed crime is the same (no deterrence)
    np.testing.assert_array_equal(run.closed.committed, run.open.committed)
    closed_in_flagged = (run.closed.recorded * run.closed.flags).sum()
    open_in_flagged = (run.open.recorded * run.closed.flags).sum()
    assert closed_in_flagged > 1.3 * open_in_flagged
    np.testing.assert_array_equal(run.open.patrol, np.ones_like(run.open.patrol))
    assert np.all(run.closed.patrol[run.closed.flags] == SETTINGS.dose)
    # the forecasts part once the closed loop's extra records reach the history
    assert not np.array_equal(run.closed.scores[1:], run.open.scores[1:])
    np.testing.assert_array_equal(run.closed.scores[0], run.open.scores[0])


def test_the_open_loop_is_the_simulate_stage_city_event_for_event() -> None:
    history = _history()
    run = _run()
    city = simulate_city(history.stepper.config)
    cells = history.cells["h3_int"].to_numpy(dtype=np.uint64)
    events = city.events.assign(
        h3_int=history.stepper.cell_index(cells)[
            np.searchsorted(
                history.stepper.cells,
                city.committed.loc[city.committed["recorded"], "micro_cell"].to_numpy(np.uint64),
            )
        ]
    )
    # count the simulate stage's recorded target events per cell and week, as build_features does
    canonical = city.committed.loc[city.committed["recorded"], "crime_type"].astype(str)
    frame = pd.DataFrame(
        {
            "h3_int": cells[events["h3_int"].to_numpy()],
            "timestamp": city.committed.loc[city.committed["recorded"], "timestamp"].to_numpy(),
            "crime_type": canonical.to_numpy(),
        }
    )
    starts = np.datetime64(history.stepper.config.start, "D") + np.arange(
        history.stepper.n_weeks
    ) * np.timedelta64(7, "D")
    counts = count_matrix(
        frame,
        cell_ids=cells,
        periods=starts.astype("datetime64[ns]"),
        period="week",
        crime_types=list(FEATURES.target_types),
    )
    total = sum(counts[t] for t in FEATURES.target_types)
    np.testing.assert_array_equal(run.open.recorded, total[-WEEKS:])


def test_a_feature_setting_changes_the_loop_forecasts() -> None:
    history = _history()
    city = history.stepper.config
    other = FEATURES.model_copy(update={"rolling_windows": (3, 6)})
    base = run_city_scenario(_scenario(city), SETTINGS, history)
    changed = run_city_scenario(_scenario(city, other), SETTINGS, history)
    assert not np.allclose(base.open.scores, changed.open.scores)


def test_the_loop_refits_every_refit_every_weeks_and_shares_the_first_model() -> None:
    run = _run()
    # one model on the history shared by both loops, then refits at weeks 4 and 8 in each
    assert run.fits == 1 + 2 * 2


def test_the_thread_count_does_not_change_the_fitted_model() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame(
        {
            "period_start": np.repeat(pd.date_range("2022-01-03", periods=20, freq="7D"), n // 20),
            "x1": rng.random(n).astype(np.float32),
            "x2": rng.random(n).astype(np.float32),
        }
    )
    frame["target_count"] = rng.poisson(1.0 + 3 * frame["x1"]).astype(np.float32)
    preds = [
        fit_risk_model(
            frame,
            feature_columns=["x1", "x2"],
            config=MODEL.model_copy(update={"num_threads": threads}),
        ).predict(frame)
        for threads in (1, 2)
    ]
    np.testing.assert_array_equal(preds[0], preds[1])


def test_the_consecutive_cap_rests_a_cell_after_its_run() -> None:
    cells = _history().cells
    allocate = pipeline_allocator(cells, coverage=0.05, policy=None, max_consecutive_weeks=2)
    scores = np.linspace(1.0, 2.0, len(cells))  # the same ranking every week
    rng = np.random.default_rng(0)
    flags = np.array([allocate(scores, rng=rng).flags for _ in range(6)])
    top = int(np.argmax(scores))
    assert flags[:, top].tolist() == [True, True, False, True, True, False]
    assert (flags.sum(axis=1) == flags[0].sum()).all()


def test_downweighting_thins_police_found_offences_in_flagged_cells() -> None:
    history = _history(0.0)
    city = history.stepper.config
    target = FEATURES.model_copy(
        update={
            "target_types": (*FEATURES.target_types, *ADDED_TARGET_TYPES),
            "target_reason": "test",
            "feature_types": FEATURES.target_types,
        }
    )
    plain = run_city_scenario(_scenario(city, target), SETTINGS, history)
    thinned = run_city_scenario(
        _scenario(city, target, downweight_discovered=True), SETTINGS, history
    )
    # the same first week (one model, same flags); the thinned history then differs
    np.testing.assert_array_equal(plain.closed.flags[0], thinned.closed.flags[0])
    seen_plain = np.stack(plain.closed.payloads)
    seen_thinned = np.stack(thinned.closed.payloads)
    assert seen_thinned.sum() < seen_plain.sum()
    assert (seen_thinned <= seen_plain).all() or not np.array_equal(
        plain.closed.flags, thinned.closed.flags
    )


def test_scenarios_change_one_thing_each() -> None:
    city = _city()
    config = FeedbackConfig(
        dose_basis="test",
        scenarios=(
            "police_activity_target",
            "police_activity_features",
            "over_policing",
            "downweight_discovered",
            "consecutive_cap",
        ),
    )
    scenarios = {s.name: s for s in build_scenarios(config, features=FEATURES, city=city)}
    assert next(iter(scenarios)) == CONFIGURED
    base = scenarios[CONFIGURED]
    added = scenarios["police_activity_target"].features
    assert added.target_types == (*FEATURES.target_types, *ADDED_TARGET_TYPES)
    assert added.per_type_feature_types == FEATURES.target_types
    police = scenarios["police_activity_features"].features
    assert police.police_activity_features and "drugs" in police.per_type_feature_types
    assert police.target_types == FEATURES.target_types
    over = scenarios["over_policing"].city.recording.over_policing
    assert (over.deprivation_decile_max, over.factor) == (2, 2.0)
    assert base.city.recording.over_policing.factor == 1.0
    assert scenarios["downweight_discovered"].downweight_discovered
    assert scenarios["consecutive_cap"].max_consecutive_weeks == 4
    for s in scenarios.values():
        assert s.label.endswith(".") and len(s.label) > 20


#: params.yaml's monthly-sized feature windows (its comment on ``features``)
MONTHLY_FEATURES = FeatureConfig(
    period="month",
    lags=(1, 2, 3),
    rolling_windows=(3, 6, 12),
    decay_half_lives=(1, 3),
    since_cap=24,
    min_history_periods=12,
)


def test_monthly_settings_fall_back_to_weekly_windows_keeping_the_target() -> None:
    monthly = FeatureConfig.model_validate(
        {**MONTHLY_FEATURES.model_dump(), "target_types": ("burglary", "robbery")}
    )
    weekly = loop_features(monthly)
    assert weekly.period == "week" and weekly.target_types == ("burglary", "robbery")
    assert weekly.rolling_windows == FeatureConfig().rolling_windows
    assert loop_features(FEATURES) == FEATURES


def test_a_monthly_pipelines_cadence_and_windows_are_the_same_span_of_weeks() -> None:
    monthly = MONTHLY_FEATURES
    # The pipeline refits every 3 months and holds out 3: in the weekly loop, 13 weeks each (it
    # refitted every 3 weeks before: 35 fits a seed in a force's 52-week loop, not 7).
    assert loop_weeks(3, features=monthly) == 13
    assert loop_weeks(12, features=monthly) == 52
    model = MODEL.model_copy(update={"validation_periods": 3, "history_periods": 36})
    weekly_model = loop_model(model, features=monthly)
    assert (weekly_model.validation_periods, weekly_model.history_periods) == (13, 157)
    assert weekly_model.learning_rate == model.learning_rate
    every = loop_model(MODEL.model_copy(update={"validation_periods": 2}), features=monthly)
    assert every.history_periods is None and every.validation_periods == 9
    # Weekly pipelines are the loop's own unit: nothing changes.
    assert loop_weeks(3, features=FEATURES) == 3
    assert loop_model(model, features=FEATURES) is model


def test_the_stage_refits_a_monthly_pipeline_every_three_months_of_weeks() -> None:
    monthly = FEATURES.model_copy(update={"period": "month"})
    one_month = MODEL.model_copy(update={"validation_periods": 1})
    inputs = dataclasses.replace(
        _inputs("synthetic"), features=monthly, model=one_month, refit_every=1
    )
    report = run_feedback(inputs, figure="plots/f.png", workers=1)
    # 1 month is 4 weeks of the 6-week loop: one refit in each loop after the shared model.
    assert report.refit_every == 4


def test_a_loop_longer_than_the_city_is_refused() -> None:
    with pytest.raises(ValueError, match="leaves no history"):
        city_history(_city(), dataclasses.replace(SETTINGS, weeks=500))


def _inputs(data_source: str) -> FeedbackInputs:
    from features.build import CovariatesConfig
    from models.audit import AuditConfig
    from models.operational import OperationalConfig

    return FeedbackInputs(
        feedback=FeedbackConfig(weeks=6, seeds=2, dose=3.0, dose_basis="a test dose"),
        features=FEATURES,
        covariates=CovariatesConfig(static=["residents"]),
        model=MODEL,
        refit_every=4,
        operational=OperationalConfig(coverage=0.05),
        audit=AuditConfig(),
        city=_city(patrol_response={"reporting_uplift": 0.5}),
        h3_resolution=8,
        data_source=data_source,
    )


def test_the_stage_report_is_deterministic_and_says_when_it_is_synthetic_evidence() -> None:
    first = run_feedback(_inputs("synthetic"), figure="plots/f.png", workers=1)
    again = run_feedback(_inputs("synthetic"), figure="plots/f.png", workers=1)

    def without_times(r: FeedbackReport) -> dict[str, object]:
        data = r.to_json()
        data.pop("seconds")
        for s in data["scenarios"]:
            s.pop("seconds")
        return data

    assert without_times(first) == without_times(again)
    assert first.seeds == [11, 12] and first.weeks == 6 and not first.synthetic_evidence_only
    # a loop shorter than 52 weeks shows the machinery runs, and G11 cannot pass on it
    assert first.status != "PASS"
    if first.scenarios[0].status == "PASS":
        assert first.status == "REVIEW" and "fewer than the 52" in first.summary
    assert first.dose_basis == "a test dose" and first.reporting_uplift == 0.5
    real = run_feedback(_inputs("police_uk_csv"), figure="plots/f.png", workers=1)
    assert real.synthetic_evidence_only and real.data_source == "police_uk_csv"
    assert without_times(real)["scenarios"] == without_times(first)["scenarios"]


def test_the_true_risk_holds_the_hot_spots_that_emerge_and_fade() -> None:
    """The loop's true top cells follow the week's background with its episodes: each cell's
    true risk is the sum over the loop's weeks of the city's weekly background (episodes
    applied week by week, the simulator's own code), and it differs from the static part."""
    history = _history()
    stepper = history.stepper
    model = stepper.intensity
    assert model.episodes.size > 0
    targets = ("burglary", "robbery", "violence_sexual", "other_theft")
    k = [model.types.index(t) for t in targets]
    first = model.burn_in_weeks + stepper.n_weeks - WEEKS
    weekly = sum(
        weekly_background(model.background, model.weekly_factor, model.episodes, k, w).sum(axis=1)
        for w in range(first, first + WEEKS)
    )
    idx = stepper.cell_index(history.cells["h3_int"].to_numpy(dtype=np.uint64))
    hit = idx >= 0
    expected = np.bincount(idx[hit], weights=weekly[hit], minlength=len(history.cells))
    got = true_risk(stepper, history.cells, targets, weeks=WEEKS)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    factor = model.weekly_factor[k][:, first : first + WEEKS].sum(axis=1)
    static = (model.background[k] * factor[:, None]).sum(axis=0)
    static_cells = np.bincount(idx[hit], weights=static[hit], minlength=len(history.cells))
    assert np.abs(got - static_cells).max() > 0.05 * got.max()


def test_feedback_workers_one_runs_the_seeds_in_the_stage_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("feedback.workers: 1 started a pool of processes")

    monkeypatch.setattr(feedback_stage, "ProcessPoolExecutor", no_pool)
    inputs = _inputs("synthetic")
    one = dataclasses.replace(inputs, feedback=inputs.feedback.model_copy(update={"workers": 1}))
    assert run_feedback(one, figure="plots/f.png").seeds == [11, 12]


class _DyingPool:
    """A pool whose processes are killed (as the kernel does when memory runs out)."""

    started: ClassVar[list[int]] = []

    def __init__(self, workers: int, **kwargs: object) -> None:
        self.started.append(workers)

    def map(self, fn: object, jobs: object) -> Iterator[object]:
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")
        yield  # a generator, as Executor.map's results are: the error comes when read

    def shutdown(self) -> None:
        pass


@pytest.mark.parametrize(("workers", "expected"), [(None, 2), (5, 2), (2, 2)])
def test_a_seed_process_that_dies_is_a_message_naming_feedback_workers(
    monkeypatch: pytest.MonkeyPatch, workers: int | None, expected: int
) -> None:
    monkeypatch.setattr(feedback_stage, "ProcessPoolExecutor", _DyingPool)
    monkeypatch.setattr(_DyingPool, "started", [])
    inputs = _inputs("synthetic")
    inputs = dataclasses.replace(
        inputs, feedback=inputs.feedback.model_copy(update={"workers": workers})
    )
    with pytest.raises(SeedProcessDiedError) as err:
        run_feedback(inputs, figure="plots/f.png")
    assert _DyingPool.started == [expected]  # two seeds: never more processes than seeds
    assert isinstance(err.value, REFUSALS)  # the stage prints it, not a traceback
    message = describe_refusal(err.value)
    assert f"{expected} processes ran seeds side by side" in message
    assert "feedback.workers" in message and "memory" in message


def test_a_history_window_builds_only_its_rows_and_fits_the_train_stage_model() -> None:
    history = _history()
    scenario = _scenario(history.stepper.config)
    counts = _Counts(history.stepper, history.cells, scenario)
    payloads = tuple(
        counts.of_week(week)[0][counts.payload_index].astype(np.int32) for week in history.committed
    )
    shape = (len(payloads), len(history.cells))
    loop_history = LoopHistory(
        recorded=np.zeros(shape),
        flags=np.zeros(shape, dtype=bool),
        probability=np.zeros(shape),
        patrol=np.ones(shape),
        prior=len(payloads),
        payloads=payloads,
    )
    assert len(payloads) - FEATURES.min_history_periods > 6  # the window leaves weeks out

    def forecaster(model: RiskModelConfig) -> PipelineForecaster:
        return PipelineForecaster(
            cells=history.cells,
            features=scenario.features,
            settings=dataclasses.replace(SETTINGS, model=model),
            payload_types=counts.payload_types,
            first_week=np.datetime64(scenario.city.start, "D"),
        )

    windowed = MODEL.model_copy(update={"history_periods": 6})
    everything = forecaster(MODEL)
    table, meta = everything._table(loop_history, first_row=None)
    labelled = table[table["target_count"].notna()]
    columns = MODEL.model_columns(meta["feature_columns"], strict=False)
    expected = fit_risk_model(labelled, feature_columns=columns, config=windowed)
    assert forecaster(windowed).fit(loop_history).to_text() == expected.to_text()
    assert everything.fit(loop_history).to_text() != expected.to_text()  # the window mattered
