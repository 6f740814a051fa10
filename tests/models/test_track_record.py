"""How recent forecasts did (``models.track_record``, ``models.track_chart``): the line's points
are the scorecard's figures (the backtest's weeks as ``beatwise score --from-backtest`` scores
them, the published weeks as the history holds them), a run without a history still draws the
backtest, and a malformed history is refused naming its row and column."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from scorecard_inputs import PUBLISHED_WEEK, ToyRun, write_toy_run

from beatwise.artefacts.scorecard import HISTORY_FILE, HistoryError, upsert_history
from models.baselines import baseline_label
from models.scorecard import RunFiles, score_backtest_period, score_publication
from models.track_chart import series_names, track_record_html, track_record_sentence
from models.track_record import RECENT_PERIODS, TrackRecord, read_track_record
from pipelines._io import describe_refusal

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> ToyRun:
    return write_toy_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def scored(toy: ToyRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the toy run whose publication was scored into the history."""
    from beatwise.cli import load_evaluate_config

    repo = tmp_path_factory.mktemp("scored") / "run"
    shutil.copytree(toy.repo, repo)
    card = score_publication(
        repo / "data/published",
        PUBLISHED_WEEK,
        files=RunFiles.under(repo),
        config=load_evaluate_config(repo / "params.yaml"),
        today=TODAY,
    )
    upsert_history(repo / "data/published" / HISTORY_FILE, card)
    return repo


def _record(repo: Path) -> TrackRecord:
    return read_track_record(
        repo / "data/processed/backtest.parquet",
        repo / "reports/backtest_metrics.json",
        pd.read_parquet(repo / "data/processed/cells.parquet"),
        repo / "data/published",
    )


def _points(fragment: str) -> dict[str, dict[str, tuple[float, float, float]]]:
    """The SVG's points by series and period: (hit rate, PAI, y in SVG units)."""
    svg = ET.fromstring(re.search(r"<svg class=\"track\".*?</svg>", fragment, re.S).group(0))  # type: ignore[union-attr]
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for el in svg.iter():
        if "data-series" in el.attrib:
            y = float(el.get("cy") or float(el.attrib["y"]) + 3)
            out.setdefault(el.attrib["data-series"], {})[el.attrib["data-period"]] = (
                float(el.attrib["data-hit-rate"]),
                float(el.attrib["data-pai"]),
                y,
            )
    return out


def _table(fragment: str) -> dict[str, list[str]]:
    """The table's rows by their first cell: published, backtest, best baseline."""
    body = re.search(r"<tbody>(.*)</tbody>", fragment, re.S).group(1)  # type: ignore[union-attr]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    return {c[0]: c[1:] for c in cells}


def _day(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%b %Y}"


def test_every_backtest_point_is_the_scorecard_of_its_week(toy: ToyRun) -> None:
    record = _record(toy.repo)
    fragment = track_record_html(record)
    points, table = _points(fragment), _table(fragment)
    best = toy.result.metrics.best_baseline
    weeks = sorted(points["backtest"])
    assert len(weeks) == min(RECENT_PERIODS, toy.result.metrics.n_backtest_periods) == 8
    assert "published" not in points  # nothing scored yet
    for week in weeks:
        card = score_backtest_period(dt.date.fromisoformat(week), files=RunFiles.under(toy.repo))
        hr, p, _ = points["backtest"][week]
        assert hr == pytest.approx(card.model.hit_rate, abs=5e-7)
        assert p == pytest.approx(card.model.pai, abs=5e-7)
        base = card.baselines[best]
        assert points["baseline"][week][:2] == pytest.approx((base.hit_rate, base.pai), abs=5e-7)
        row = table[_day(week)]
        assert row[0] == "–"
        assert row[1] == f"{card.model.hit_rate * 100:.1f}%, {card.model.pai:.2f}"
        assert row[2] == f"{base.hit_rate * 100:.1f}%, {base.pai:.2f}"
    # a higher hit rate is drawn higher
    by_rate = sorted(points["backtest"].values())
    assert [y for *_, y in by_rate] == sorted((y for *_, y in by_rate), reverse=True)


def test_scored_publications_are_a_second_series_named_in_words(scored: Path) -> None:
    record = _record(scored)
    history = pd.read_csv(scored / "data/published" / HISTORY_FILE)
    fragment = track_record_html(record)
    points, table = _points(fragment), _table(fragment)
    week = PUBLISHED_WEEK.isoformat()
    row = history.set_index("period_start").loc[week]
    assert set(points["published"]) == {week}
    assert points["published"][week][:2] == pytest.approx((row["hit_rate"], row["pai"]))
    # the published week is after the backtest's: its baseline is the history's reference
    assert points["baseline"][week][:2] == pytest.approx(
        (row["reference_hit_rate"], row["reference_pai"])
    )
    assert row["folder"] == week  # published once: the folder goes without saying
    assert table[_day(week)][0] == (f"{row['hit_rate'] * 100:.1f}%, {row['pai']:.2f}")
    names = series_names(record)
    assert names["published"] == "published forecasts, scored after the week"
    assert names["backtest"] == "backtest: the model's forecast of past weeks"
    assert names["baseline"] == f"best baseline: {baseline_label(record.best_baseline)}"
    for name in names.values():
        assert name.replace("'", "&#x27;") in fragment
    assert "(none scored yet)" not in fragment
    assert "the one published forecast scored after its week held" in (
        track_record_sentence(record)
    )
    assert track_record_html(_record(scored)) == fragment  # the same bytes again


def test_no_history_or_an_empty_one_still_draws_the_backtest(toy: ToyRun, tmp_path: Path) -> None:
    repo = tmp_path / "run"
    shutil.copytree(toy.repo, repo)
    without = track_record_html(_record(repo))
    header = "period,period_start,period_end,folder,model_version,audit_status,coverage,n_cells,"
    header += "events,events_outside_cells,n_flagged,flagged_area_share,events_captured,"
    header += "n_flagged_with_crime,n_flagged_without_crime,hit_rate,pai,pei,reference_baseline,"
    header += "reference_hit_rate,reference_pai,pai_lift,target_types\n"
    (repo / "data/published" / HISTORY_FILE).write_text(header)
    empty = track_record_html(_record(repo))
    assert empty == without
    assert len(_points(without)["backtest"]) == 8 and "published" not in _points(without)
    assert "published forecasts, scored after the week (none scored yet)" in without
    assert "no published forecast has been scored yet" in without


def test_a_malformed_history_is_refused_naming_the_row_and_column(
    scored: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "run"
    shutil.copytree(scored, repo)
    path = repo / "data/published" / HISTORY_FILE
    good = pd.read_csv(path, dtype=str, keep_default_na=False)
    two = pd.concat([good, good.assign(period_start="2023-10-16", period_end="2023-10-22")])
    for column, value, words in (
        ("pai", "high", r"column 'pai': 'high' is not a number >= 0, or empty"),
        ("hit_rate", "1.5", r"column 'hit_rate': '1.5' is not a number in \[0, 1\], or empty"),
        ("period_start", "16/10/2023", r"column 'period_start': '16/10/2023' is not a date"),
        ("events", "", r"column 'events': '' is not a number >= 0\."),
        ("period", "fortnight", r"column 'period': 'fortnight' is not 'week' or 'month'"),
    ):
        bad = two.copy()
        bad.iloc[1, bad.columns.get_loc(column)] = value
        bad.to_csv(path, index=False)
        with pytest.raises(HistoryError, match=rf"scorecard\.csv row 2 \(line 3\), {words}") as err:
            _record(repo)
        assert "\n" not in describe_refusal(err.value)  # the stage prints one line
    two.assign(period_start=good["period_start"].iloc[0]).to_csv(path, index=False)
    with pytest.raises(HistoryError, match=r"row 2 \(line 3\), column 'period_start'.*its own"):
        _record(repo)
    good.drop(columns="pai").to_csv(path, index=False)
    with pytest.raises(HistoryError, match=r"is not a scorecard history.*Missing \['pai'\]"):
        _record(repo)


def test_rows_of_another_period_length_are_said_not_drawn(scored: Path, tmp_path: Path) -> None:
    repo = tmp_path / "run"
    shutil.copytree(scored, repo)
    path = repo / "data/published" / HISTORY_FILE
    history = pd.read_csv(path, dtype=str, keep_default_na=False)
    history.assign(period="month", period_start="2023-09-01", period_end="2023-09-30").pipe(
        lambda month: pd.concat([month, history])
    ).to_csv(path, index=False)
    record = _record(repo)
    assert record.other_periods == 1 and len(record.published) == 1
    assert "1 scored forecast(s) of another period length are not shown." in (
        track_record_sentence(record)
    )


def test_the_bias_report_draws_it_beside_the_baselines_named_in_words() -> None:
    from audit_inputs import make_metrics
    from test_report import _audit, _parse, _render, _rows, _section, _text
    from track_inputs import toy_track_record

    from beatwise.artefacts.metrics import Lift

    record = toy_track_record()
    base = make_metrics(last_week="last_week")
    scores = base.baselines["b4_all_history"]
    metrics = base.model_copy(
        update={
            "baselines": {"last_week": base.baselines["last_week"], "all_history": scores},
            "best_baseline": "all_history",
            "lift": Lift(baseline="all_history", estimate=1.12, ci_low=1.04, ci_high=1.21),
        }
    )
    html = _render(_audit(), track=record, metrics=metrics)
    _parse(html)  # balanced tags, the SVG's included
    performance = _section(html, "performance")
    assert track_record_html(record) in performance
    assert performance.index('id="recent-forecasts"') < performance.index('class="track"')
    text = _text(performance)
    assert "Over the backtest's last 12 weeks (14 Oct 2024 to 30 Dec 2024)" in text
    names = [row[0] for row in _rows(performance)[1:4]]
    assert names == ["model", "last week's count, B1", "all past recorded crime, B4"]
    assert "Lift over the best baseline (all past recorded crime, B4)" in text
    for code in ("last_week", "all_history", "etas"):
        assert code not in text, code
    without = _section(_render(_audit(), metrics=metrics), "performance")
    assert "No record of recent forecasts was supplied to this report." in _text(without)
