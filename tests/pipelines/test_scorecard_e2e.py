"""The scorecard on a real run of a small synthetic city, in a temporary copy of the repository.

The end-to-end test's small city (tests/pipelines/test_end_to_end.py: the tiny city over 80 weeks,
a short backtest, the test override) with ``ingest.as_of`` one week before the simulated data
end: one ``dvc repro`` publishes the forecast of the city's last simulated week, 2023-07-10,
while its events wait, quarantined as future dates. Then:

1. every backtest week scored with ``beatwise score --from-backtest`` equals the backtest's own
   figures (``reports/compare/pai_by_period.csv``, the flags and targets of ``backtest.parquet``),
   and the baselines the scorecard computes from the counts equal the backtest's;
2. with ``as_of`` lifted and ``dvc repro build_cells`` run (the week's events ingested), the
   published week scores, writes its scorecard and one history row, and scoring it again
   replaces the row.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from repo_copy import copy_repo, run, set_params
from test_end_to_end import SMALL, small_city_overrides

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.scorecard import HISTORY_COLUMNS, HISTORY_FILE
from beatwise.cli import load_evaluate_config, main
from models.scorecard import (
    RunFiles,
    backtest_forecast,
    counts_through,
    ingested_through,
    registry_baselines,
    score_backtest_period,
)

pytestmark = pytest.mark.e2e

#: the tiny city's events run to Sunday 2023-07-16
PUBLISHED_WEEK = dt.date(2023, 7, 10)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("beatwise") / "repo")
    (repo / "dvc.lock").unlink(missing_ok=True)
    as_of = (PUBLISHED_WEEK - dt.timedelta(days=1)).isoformat()
    set_params(repo, {**SMALL, "simulate": small_city_overrides(), "ingest": {"as_of": as_of}})
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "small city, one week held back"], repo)
    run(["dvc", "repro"], repo)
    return repo


def test_every_backtest_week_scores_as_the_backtest_scored_it(city: Path) -> None:
    files = RunFiles.under(city)
    metrics = BacktestMetrics.read(files.backtest_metrics)
    panel = PanelMeta.read(files.panel_meta)
    by_period = pd.read_csv(city / "reports/compare/pai_by_period.csv")
    backtest = pd.read_parquet(files.backtest)
    cells = pd.read_parquet(files.cells)
    events, _ = ingested_through(files, period=panel.period)
    config = load_evaluate_config(city / "params.yaml")
    assert len(by_period) == metrics.n_backtest_periods
    for row in by_period.itertuples():
        week = dt.date.fromisoformat(row.period_start)
        card = score_backtest_period(week, files=files)
        assert card.coverage == metrics.coverage and card.source == "backtest"
        assert card.reference_baseline == metrics.best_baseline
        np.testing.assert_allclose(card.model.pai, row.model, rtol=1e-4)
        np.testing.assert_allclose(
            card.baselines[metrics.best_baseline].pai, row.best_baseline, rtol=1e-4
        )
        rows = backtest[backtest["period_start"] == pd.Timestamp(week)]
        assert card.model.n_flagged == int(rows["flagged"].sum())
        assert card.events == int(rows["target_count"].sum())
        assert card.model.events_captured == int(rows.loc[rows["flagged"], "target_count"].sum())
        assert set(card.baselines) == {c.removeprefix("score_") for c in rows if "score_" in c}
        # the publication path's baselines (from the counts before the week) are the backtest's
        forecast = backtest_forecast(
            backtest, cells, week, period=panel.period, coverage=metrics.coverage
        )
        counts, _ = counts_through(events, forecast.cell_ids, week, panel)
        fresh = registry_baselines(
            counts, cell_ids=forecast.cell_ids, period=panel.period, config=config
        )
        assert list(fresh) == list(forecast.baselines)
        for name, scores in fresh.items():
            if name != "etas" or row.Index == 0:
                # B7 is fitted afresh on the weeks before the scored one. The backtest fits it at
                # its first week from the same start, then refits every refit_every weeks from
                # the previous fit (a warm start, a few per cent apart in some cells)
                np.testing.assert_allclose(
                    scores, forecast.baselines[name], rtol=1e-9, err_msg=name
                )


def test_the_published_week_scores_once_its_events_are_ingested(
    city: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published = city / "data/published"
    assert (published / PUBLISHED_WEEK.isoformat() / "forecast.csv").exists()
    argv = ["score", str(PUBLISHED_WEEK), "--repo", str(city)]
    assert main(argv) == 2
    assert "not ingested yet" in capsys.readouterr().err

    set_params(city, {"ingest": {"as_of": None}})
    run(["dvc", "repro", "build_cells"], city)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Scorecard of the week 2023-07-10 to 2023-07-16" in printed
    card = json.loads((published / f"scorecards/{PUBLISHED_WEEK}.json").read_text(encoding="utf-8"))
    assert card["events"] > 0 and card["model"]["n_flagged"] > 0
    assert 0 < card["model"]["hit_rate"] <= 1
    history = pd.read_csv(published / HISTORY_FILE)
    assert tuple(history.columns) == HISTORY_COLUMNS and len(history) == 1
    before = (published / HISTORY_FILE).read_bytes()
    assert main(argv) == 0
    assert (published / HISTORY_FILE).read_bytes() == before
    assert main(["publications", "--published-dir", str(published)]) == 0
    listing = capsys.readouterr().out
    assert "latest" in listing and f"PAI {card['model']['pai']:.2f}" in listing
