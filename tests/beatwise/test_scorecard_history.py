"""The scorecard's history beside the publications: one row per week, stable columns, the same
bytes whatever order the weeks were scored in, and a week scored again replaces its row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from beatwise.artefacts.scorecard import (
    HISTORY_COLUMNS,
    FlagScore,
    Scorecard,
    read_history,
    upsert_history,
)


def flags(captured: int, *, hit_rate: float | None = 0.25, pai: float | None = 5.0) -> FlagScore:
    return FlagScore(
        n_flagged=10,
        flagged_area_share=0.0512,
        events_captured=captured,
        n_flagged_with_crime=7,
        n_flagged_without_crime=3,
        hit_rate=hit_rate,
        pai=pai,
        pei=0.8 if pai is not None else None,
    )


def card(week: str, *, captured: int = 5, events: int = 20) -> Scorecard:
    start = dt.date.fromisoformat(week)
    none = events == 0
    return Scorecard(
        source="publication",
        period="week",
        period_start=start,
        period_end=start + dt.timedelta(days=6),
        folder=week,
        model_version="88cc1ef0214d",
        audit_status="pass",
        coverage=0.05,
        n_cells=200,
        study_area_km2=148.2,
        target_types=("burglary", "robbery"),
        events=events,
        events_outside_cells=0,
        model=flags(
            captured, hit_rate=None if none else captured / events, pai=None if none else 5.0
        ),
        baselines={"all_history": flags(4, hit_rate=None if none else 0.2)},
        reference_baseline="all_history",
        pai_lift=None if none else 1.25,
    )


def test_rows_are_one_per_week_oldest_first_whatever_the_scoring_order(tmp_path: Path) -> None:
    weeks = ["2024-12-16", "2024-12-02", "2024-12-09"]
    for week in weeks:
        upsert_history(tmp_path / "a.csv", card(week))
    for week in sorted(weeks):
        upsert_history(tmp_path / "b.csv", card(week))
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    table = read_history(tmp_path / "a.csv")
    assert tuple(table.columns) == HISTORY_COLUMNS
    assert table["period_start"].tolist() == sorted(weeks)
    row = table.iloc[0]
    assert (row["hit_rate"], row["reference_pai"], row["target_types"]) == (
        0.25,
        5.0,
        "burglary;robbery",
    )


def test_scoring_a_week_again_replaces_its_row(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.csv"
    upsert_history(path, card("2024-12-02"))
    upsert_history(path, card("2024-12-09", captured=5))
    once = path.read_bytes()
    upsert_history(path, card("2024-12-09", captured=5))
    assert path.read_bytes() == once
    upsert_history(path, card("2024-12-09", captured=8))  # newer events, a new row for the week
    table = read_history(path)
    assert table["period_start"].tolist() == ["2024-12-02", "2024-12-09"]
    assert table["events_captured"].tolist() == [5, 8]


def test_a_week_without_events_leaves_its_ratios_empty(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.csv"
    upsert_history(path, card("2024-12-02", captured=0, events=0))
    text = path.read_text(encoding="utf-8").splitlines()
    assert text[0] == ",".join(HISTORY_COLUMNS)
    row = pd.read_csv(path).iloc[0]
    assert pd.isna(row["hit_rate"]) and pd.isna(row["pai_lift"]) and row["events"] == 0


def test_a_foreign_file_and_a_backtest_scorecard_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "scorecard.csv"
    path.write_text("week,pai\n2024-12-02,5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"is not a scorecard history: .*Missing \['period'"):
        upsert_history(path, card("2024-12-09"))
    backtest = card("2024-12-09").model_copy(update={"source": "backtest"})
    with pytest.raises(ValueError, match=r"Only scorecards of publications enter scorecard.csv"):
        upsert_history(tmp_path / "new.csv", backtest)
