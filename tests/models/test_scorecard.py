"""The scorecard (``models.scorecard``): hand-computed flags, a publication scored against its
week's events, the backtest's weeks scored as the backtest scored them, and each refusal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scorecard_inputs import (
    CONFIG,
    COVERAGE,
    N_PERIODS,
    PUBLISHED_WEEK,
    ToyRun,
    publication_files,
    write_toy_run,
)

from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.scorecard import FlagScore
from beatwise.publications import publish_set
from models.baselines import baseline_names
from models.plot_data import plot_frames
from models.scorecard import (
    RunFiles,
    ScorecardError,
    backtest_forecast,
    counts_through,
    flag_score,
    ingested_through,
    registry_baselines,
    score_backtest_period,
    score_publication,
)

IDS = np.arange(1, 11, dtype=np.uint64)
EQUAL = np.ones(10)
TODAY = dt.date(2026, 12, 1)
WEEK = pd.Timedelta(days=7)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> ToyRun:
    return write_toy_run(tmp_path_factory.mktemp("run"))


def _score(toy: ToyRun, day: dt.date = PUBLISHED_WEEK, *, today: dt.date = TODAY):
    from beatwise.cli import load_evaluate_config

    return score_publication(
        toy.repo / "data/published",
        day,
        files=RunFiles.under(toy.repo),
        config=load_evaluate_config(toy.repo / "params.yaml"),
        today=today,
    )


def test_flag_score_on_a_ten_cell_grid() -> None:
    # 20% of ten equal cells: the two highest scores (cells 0 and 1) are flagged
    y = np.array([3, 0, 1, 0, 0, 2, 0, 0, 0, 4], dtype=float)
    scores = np.arange(10.0)[::-1]
    got = flag_score(y, scores, areas_km2=EQUAL, cell_ids=IDS, coverage=0.2)
    # hits 3 of 10; PAI 0.3 / 0.2; the oracle flags cells 9 and 0 (4 + 3 events)
    assert got == FlagScore(
        n_flagged=2,
        flagged_area_share=0.2,
        events_captured=3,
        n_flagged_with_crime=1,
        n_flagged_without_crime=1,
        hit_rate=0.3,
        pai=1.5,
        pei=round(3 / 7, 6),
    )


def test_flag_score_of_a_week_without_events_has_counts_but_no_ratios() -> None:
    got = flag_score(np.zeros(10), np.arange(10.0), areas_km2=EQUAL, cell_ids=IDS, coverage=0.3)
    assert (got.n_flagged, got.events_captured, got.n_flagged_without_crime) == (3, 0, 3)
    assert got.hit_rate is None and got.pai is None and got.pei is None


def test_a_publication_scores_against_its_weeks_events(toy: ToyRun) -> None:
    card = _score(toy, PUBLISHED_WEEK + dt.timedelta(days=3))  # any day of the week
    assert card.source == "publication" and card.period_start == PUBLISHED_WEEK
    assert card.period_end == dt.date(2023, 10, 15)
    assert (card.folder, card.audit_status, card.coverage) == ("2023-10-09", "pass", COVERAGE)
    # the published flags, and the week's burglaries in them, counted by hand
    y = toy.counts[N_PERIODS]
    by_cell = dict(zip(toy.cells["h3_cell"], y, strict=True))
    flagged = toy.table[toy.table["flagged"]]
    hits = sum(by_cell[c] for c in flagged["h3_cell"])
    share = flagged["area_km2"].sum() / toy.table["area_km2"].sum()
    assert card.events == int(y.sum()) and card.events_outside_cells == 1  # the robbery is not
    assert card.model.n_flagged == len(flagged) == int(toy.table["flagged"].sum())
    assert card.model.events_captured == hits
    assert card.model.n_flagged_with_crime == sum(by_cell[c] > 0 for c in flagged["h3_cell"])
    assert card.model.hit_rate == pytest.approx(hits / y.sum(), abs=1e-6)
    assert card.model.pai == pytest.approx(hits / y.sum() / share, rel=1e-5)
    # every baseline of the registry, from the counts before the week
    assert list(card.baselines) == list(baseline_names("week"))
    history = toy.counts[:N_PERIODS].mean(axis=0)
    areas = toy.cells["area_km2"].to_numpy()
    ids = toy.cells["h3_int"].to_numpy()
    kw = {"areas_km2": areas, "cell_ids": ids, "coverage": COVERAGE}
    assert card.baselines["all_history"] == flag_score(y, history, **kw)
    assert card.baselines["last_week"] == flag_score(y, toy.counts[N_PERIODS - 1], **kw)
    assert card.reference_baseline == toy.result.metrics.best_baseline


def test_every_backtest_week_scores_as_the_backtest_scored_it(toy: ToyRun) -> None:
    files = RunFiles.under(toy.repo)
    by_period = plot_frames(toy.result)["pai_by_period.csv"]
    best = toy.result.metrics.best_baseline
    frame = toy.result.frame
    for row in by_period.itertuples():
        day = dt.date.fromisoformat(row.period_start)
        card = score_backtest_period(day, files=files)
        rows = frame[frame["period_start"] == pd.Timestamp(day)]
        assert card.source == "backtest" and card.coverage == COVERAGE
        assert card.model.pai == pytest.approx(row.model, abs=1e-6, nan_ok=True)
        assert card.baselines[best].pai == pytest.approx(row.best_baseline, abs=1e-6)
        assert card.model.n_flagged == int(rows["flagged"].sum())
        assert card.model.events_captured == int(rows.loc[rows["flagged"], "target_count"].sum())
        assert card.events == int(rows["target_count"].sum())
        assert list(card.baselines) == list(baseline_names("week"))


def test_the_baselines_from_the_counts_are_the_backtests(toy: ToyRun) -> None:
    # the toy's evaluate knobs are not the defaults (kde_periods, hotspot_periods, refit_every):
    # a knob the scorecard did not pass as the backtest does would change these scores
    files = RunFiles.under(toy.repo)
    events, _ = ingested_through(files, period="week")
    panel = PanelMeta.read(files.panel_meta)
    frame = toy.result.frame
    weeks = np.sort(frame["period_start"].unique())
    for i, week in enumerate(weeks):
        day = pd.Timestamp(week).date()
        forecast = backtest_forecast(frame, toy.cells, day, period="week", coverage=COVERAGE)
        counts, _ = counts_through(events, forecast.cell_ids, day, panel)
        fresh = registry_baselines(counts, cell_ids=forecast.cell_ids, period="week", config=CONFIG)
        assert list(fresh) == list(forecast.baselines)
        for name, scores in fresh.items():
            # B7 is fitted afresh before the week; the backtest fits it so at its first week
            # only, then refits every refit_every weeks from the previous fit (a warm start)
            if name != "etas" or i == 0:
                np.testing.assert_allclose(
                    scores, forecast.baselines[name], rtol=1e-9, err_msg=name
                )
    assert len(weeks) == toy.result.metrics.n_backtest_periods


def test_refusals_name_the_week_and_what_to_run(tmp_path: Path, toy: ToyRun) -> None:
    with pytest.raises(ScorecardError, match=r"week 2023-10-02 was never published .*1 pub"):
        _score(toy, dt.date(2023, 10, 4))
    with pytest.raises(ScorecardError, match=r"2023-10-09 has not ended: it runs to 2023-10-15"):
        _score(toy, today=dt.date(2023, 10, 15))
    with pytest.raises(ScorecardError, match=r"2023-07-03 is not a backtest week: .*2023-08-14"):
        score_backtest_period(dt.date(2023, 7, 3), files=RunFiles.under(toy.repo))
    waiting = write_toy_run(tmp_path, ingested=False)
    with pytest.raises(
        ScorecardError,
        match=r"events of the week 2023-10-09 to 2023-10-15 are not ingested yet: .* up to the "
        r"one starting 2023-10-02\. .*`dvc repro build_cells`",
    ):
        _score(waiting)
    (tmp_path / "data/processed/event_cells.parquet").unlink()
    with pytest.raises(ScorecardError, match=r"event_cells.parquet does not exist.*build_cells"):
        _score(waiting)


def test_a_backtest_that_disagrees_with_the_events_is_refused(tmp_path: Path) -> None:
    run = write_toy_run(tmp_path)
    path = tmp_path / "data/processed/event_cells.parquet"
    events = pd.read_parquet(path)
    day = run.result.metrics.backtest_first_period
    start = pd.Timestamp(day)
    in_week = events.index[(events["timestamp"] >= start) & (events["timestamp"] < start + WEEK)]
    events.loc[in_week[:5], "crime_type"] = "robbery"  # five burglaries of that week fewer
    events.to_parquet(path)
    with pytest.raises(ScorecardError, match=r"disagree on the events of 2023-08-14"):
        score_backtest_period(day, files=RunFiles.under(tmp_path))


def test_a_publication_at_another_resolution_or_with_other_flags_is_refused(
    tmp_path: Path,
) -> None:
    run = write_toy_run(tmp_path)
    meta = tmp_path / "data/processed/cells_meta.json"
    meta.write_text(meta.read_text(encoding="utf-8").replace('": 8', '": 9'), encoding="utf-8")
    with pytest.raises(ScorecardError, match=r"published at H3 resolution 8 but .* mapped at 9"):
        _score(run)
    # flags that are not the area rule's over the published ranking (the last cell added)
    table = run.table.copy()
    table.loc[table.index[-1], "flagged"] = True
    publish_set(tmp_path / "data/published", publication_files(table, week=PUBLISHED_WEEK))
    with pytest.raises(ScorecardError, match=r"its \d+ flagged cells are not the shortest prefix"):
        _score(run)
