"""The forecast table: ranks, percentiles, flags, intervals, and its column contract."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stage_files import panel_meta, toy_cells

from beatwise.artefacts.panel import PanelMeta
from beatwise.io import write_parquet
from beatwise.period import Period
from models.forecast import (
    FORECAST_COLUMNS,
    build_forecast_table,
    forecast_columns,
    forecast_csv,
    forecast_geojson,
    forecast_period_rows,
    poisson_interval,
    read_forecast_features,
    spreadsheet_safe,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return toy_cells()


START = {"week": "2025-01-06", "month": "2025-02-01"}


def table(
    cells: pd.DataFrame, scores: np.ndarray, coverage: float = 0.2, period: Period = "week"
) -> pd.DataFrame:
    return build_forecast_table(
        cells,
        scores,
        period_start=pd.Timestamp(START[period]),
        period=period,
        coverage=coverage,
        interval_level=0.8,
        model_version="abc",
        mlflow_run_id="0123456789abcdef0123456789abcdef",
        audit_status="pass",
    )


@pytest.mark.parametrize("period", ["week", "month"])
def test_columns_match_the_dictionary(cells: pd.DataFrame, period: Period) -> None:
    dictionary = pd.read_csv(ROOT / "docs" / "forecast-dict.csv")
    assert set(dictionary["period"]) == {"week", "month", "both"}
    documented = dictionary.loc[dictionary["period"].isin([period, "both"]), "column"]
    out = table(cells, np.linspace(1, 2, len(cells)), period=period)
    assert list(out.columns) == list(forecast_columns(period)) == list(documented)
    key = f"{period}_start"  # week_start for planners' weekly contract, month_start monthly
    assert key in out.columns and out[key].eq(START[period]).all()
    assert list(FORECAST_COLUMNS) == list(forecast_columns("week"))


def test_ranks_ties_percentiles_and_flags(cells: pd.DataFrame) -> None:
    n = len(cells)
    scores = np.ones(n)
    scores[3] = 5.0
    out = table(cells, scores)
    assert out["risk_rank"].tolist() == list(range(1, n + 1))
    assert out.loc[0, "h3_cell"] == cells.loc[3, "h3_cell"]
    rest = out.loc[1:, "h3_cell"].tolist()
    assert rest == sorted(rest)  # equal scores: ascending cell id
    assert out.loc[0, "risk_percentile"] == 100.0 and out.iloc[-1]["risk_percentile"] == 0.0
    flagged_area = out.loc[out["flagged"], "area_km2"].sum()
    assert flagged_area >= 0.2 * out["area_km2"].sum() - 1e-9
    assert out["flagged"].iloc[0] and not out["flagged"].iloc[-1]
    assert out["week_start"].eq("2025-01-06").all()


def test_poisson_interval_brackets_the_mean() -> None:
    low, high = poisson_interval(np.array([0.01, 1.0, 10.0]), level=0.8)
    assert low.tolist() == [0.0, 0.0, 6.0]
    assert high.tolist() == [0.0, 2.0, 14.0]


def test_geojson_has_one_closed_hexagon_per_row(cells: pd.DataFrame) -> None:
    out = table(cells, np.linspace(1, 2, len(cells)))
    geo = json.loads(forecast_geojson(out))
    assert len(geo["features"]) == len(out)
    ring = geo["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    assert geo["features"][0]["properties"]["risk_rank"] == 1
    # every CSV column is a property, the training run's id included
    assert list(geo["features"][0]["properties"]) == list(out.columns)
    assert geo["features"][0]["properties"]["mlflow_run_id"] == out.loc[0, "mlflow_run_id"]


def test_refuses_misaligned_scores(cells: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="one value per cell"):
        table(cells, np.ones(len(cells) + 1))
    with pytest.raises(ValueError, match=r"period_start must be a month start\. Got 2025-01-06"):
        build_forecast_table(
            cells,
            np.ones(len(cells)),
            period_start=pd.Timestamp("2025-01-06"),
            period="month",
            coverage=0.2,
            interval_level=0.8,
            model_version="abc",
            mlflow_run_id="0123456789abcdef0123456789abcdef",
            audit_status="pass",
        )


def panel(**changes: Any) -> PanelMeta:
    """panel_meta.json of a toy weekly panel whose forecast week is 2025-01-06."""
    toy = {
        "feature_columns": ["x"],
        "first_period": "2024-12-23",
        "last_complete_period": "2024-12-30",
        "forecast_period": "2025-01-06",
        "all_periods": ["2024-01-01", "2024-12-30"],
        "n_cells": 10,
        "n_periods": 3,
        "n_rows": 30,
    }
    return PanelMeta.from_json(panel_meta(**{**toy, **changes}))


def feature_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """Two labelled weeks and the forecast week, cells in reverse order."""
    weeks = pd.to_datetime(["2024-12-23", "2024-12-30", "2025-01-06"])
    ids = cells["h3_cell"].tolist()[::-1]
    return pd.DataFrame(
        {
            "h3_cell": np.tile(ids, 3),
            "period_start": np.repeat(weeks.to_numpy(), len(ids)),
            "x": np.arange(3 * len(ids), dtype="float32"),
            "target_count": np.r_[np.ones(2 * len(ids)), np.full(len(ids), np.nan)],
        }
    )


def test_forecast_rows_are_the_forecast_week_in_cell_order(cells: pd.DataFrame) -> None:
    start, rows = forecast_period_rows(feature_rows(cells), cells, panel=panel())
    assert start == pd.Timestamp("2025-01-06")
    assert rows.index.tolist() == cells["h3_cell"].tolist()
    assert rows["target_count"].isna().all()
    assert rows["x"].tolist() == list(range(3 * len(cells) - 1, 2 * len(cells) - 1, -1))


def test_forecast_rows_refuse_files_of_different_runs(cells: pd.DataFrame) -> None:
    with pytest.raises(
        ValueError,
        match=r"The latest week in features\.parquet \(2025-01-06\) is not the forecast week of "
        r"panel_meta\.json \(2025-01-13\); re-run build_features",
    ):
        forecast_period_rows(feature_rows(cells), cells, panel=panel(forecast_period="2025-01-13"))
    labelled = feature_rows(cells).fillna({"target_count": 0.0})
    with pytest.raises(ValueError, match=r"The latest week in the features \(2025-01-06\) has"):
        forecast_period_rows(labelled, cells, panel=panel())


def test_only_the_forecast_period_is_read_and_it_gives_the_same_rows(
    cells: pd.DataFrame, tmp_path: Path
) -> None:
    table = feature_rows(cells)
    path = tmp_path / "features.parquet"
    write_parquet(path, table, row_groups=[2 * len(cells), len(cells)])
    read = read_forecast_features(path, panel())
    assert set(read["period_start"]) == {pd.Timestamp("2025-01-06")}
    pd.testing.assert_frame_equal(
        forecast_period_rows(read, cells, panel=panel())[1],
        forecast_period_rows(table, cells, panel=panel())[1],
    )
    with pytest.raises(
        ValueError,
        match=r"features\.parquet holds no rows of the forecast week of panel_meta\.json "
        r"\(2025-01-13\); re-run build_features",
    ):
        read_forecast_features(path, panel(forecast_period="2025-01-13"))
    # a file of a run one week on: the week is there but labelled, as forecast_period_rows says
    labelled = table.fillna({"target_count": 0.0})
    write_parquet(path, labelled, row_groups=[len(labelled)])
    with pytest.raises(ValueError, match=r"The latest week in the features \(2025-01-06\) has"):
        forecast_period_rows(read_forecast_features(path, panel()), cells, panel=panel())


def test_csv_text_has_no_index_and_unix_line_ends(cells: pd.DataFrame) -> None:
    text = forecast_csv(table(cells, np.linspace(1, 2, len(cells))))
    assert text.startswith("h3_cell,week_start,risk_score,") and "\r" not in text
    assert text.count("\n") == len(cells) + 1


# --- hostile text: formulas in the files planners open in a spreadsheet --------------------------

HOSTILE_NAMES = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTabbed",
    "\rReturned",
    "=cmd|' /C calc'!A0",
]
PLAIN_NAMES = ["Plain", "O'Brien", "a=b", "Bow-on-Sea"]
#: names that are no formula at their start but would forge a row behind an unquoted CR
FORGING_NAMES = ['Oak\r=HYPERLINK("http://evil.example")', 'Elm\r\n"quoted",x']
TEXT_COLUMNS = ("h3_cell", "week_start", "district_name", "model_version", "mlflow_run_id")


def named_table(cells: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    named = cells.head(len(names)).assign(district_name=names)
    return table(named, np.linspace(2, 1, len(named)))


def read_csv_text(text: str) -> list[dict[str, str]]:
    """The CSV's rows as text, exactly as a spreadsheet's importer would split them."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_hostile_district_names_are_inert_in_csv_and_geojson(cells: pd.DataFrame) -> None:
    names = (HOSTILE_NAMES + FORGING_NAMES + PLAIN_NAMES)[: len(cells)]
    assert len(names) == len(cells) == 10
    out = named_table(cells, names)
    assert set(out["district_name"]) == set(names)  # the table in memory keeps the real names
    expected = {n: ("'" + n if n[0] in "=+-@\t\r" else n) for n in names}

    rows = read_csv_text(forecast_csv(out))
    assert len(rows) == len(out)  # no row forged by a carriage return
    assert [r["district_name"] for r in rows] == [expected[n] for n in out["district_name"]]
    for row in rows:
        for column in TEXT_COLUMNS:
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), (column, row)
        assert float(row["lon"]) == -0.1 and row["lon"] == "-0.1"  # numbers are not text

    geo = json.loads(forecast_geojson(out))
    props = [f["properties"] for f in geo["features"]]
    assert [p["district_name"] for p in props] == [expected[n] for n in out["district_name"]]
    assert all(p["lon"] == -0.1 for p in props)
    # the hexagons are still drawn from the real cell ids
    assert [p["h3_cell"] for p in props] == out["h3_cell"].tolist()


def test_plain_names_give_the_bytes_pandas_writes(cells: pd.DataFrame) -> None:
    out = named_table(cells, [PLAIN_NAMES[i % len(PLAIN_NAMES)] for i in range(len(cells))])
    assert forecast_csv(out) == out.to_csv(index=False, lineterminator="\n")
    assert spreadsheet_safe(out) is out  # nothing to escape: the very same table


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.text(
            alphabet=st.one_of(
                st.characters(exclude_categories=("Cs",)), st.sampled_from("=+-@\t\r\n\",'")
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=10,
    )
)
def test_property_no_text_cell_starts_a_formula(names: list[str]) -> None:
    cells = toy_cells()
    names = names[: len(cells)]
    out = named_table(cells, names)
    rows = read_csv_text(forecast_csv(out))
    assert len(rows) == len(out)
    geo = json.loads(forecast_geojson(out))
    for feature, row in zip(geo["features"], rows, strict=True):
        assert feature["properties"]["district_name"] == row["district_name"]
    for row, name in zip(rows, out["district_name"], strict=True):
        # the importer reads back the name, or the name behind one quote when it was escaped
        assert row["district_name"] in (name, "'" + name)
        assert (row["district_name"] != name) == name.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert not any(row[c].startswith(("=", "+", "-", "@", "\t", "\r")) for c in TEXT_COLUMNS)
