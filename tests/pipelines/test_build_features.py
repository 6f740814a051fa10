"""Stage build_features: the period is chosen from features.period and the data's time resolution,
recorded in panel_meta.json, and 'week' on monthly data is refused with the reason."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from stage_files import data_quality, quarantine

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.panel import PanelMeta
from features.build import EVENT_COLUMNS, CovariatesConfig
from pipelines import build_features

ROOT = Path(__file__).resolve().parents[2]
CELLS = np.array(
    sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 8), 1)),
    dtype=np.uint64,
)
FEATURES = {
    "lags": [1, 2],
    "rolling_windows": [2, 3],
    "decay_half_lives": [1],
    "rings": [1],
    "since_cap": 10,
    "min_history_periods": 3,
}


#: the quarantine every test's source holds: a row dated early in the data, one after the
#: refresh tests' fit points (2023-08-07 and 2023-08-14), and one whose date did not parse
QUARANTINED = ("2023-03-01 12:00", "2023-08-23 09:00", None)


def _write_inputs(
    folder: Path,
    *,
    timestamps: pd.DatetimeIndex,
    quality: dict[str, Any],
    period: str,
    refit_every: int = 1,
    types: tuple[str, ...] = ("burglary", "robbery", "drugs"),
    quarantined: tuple[str | None, ...] = QUARANTINED,
) -> list[str]:
    """cells, event cells, data quality and params in ``folder``; returns the stage's CLI args."""
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "h3_cell": [format(int(c), "x") for c in CELLS],
            "h3_int": CELLS,
            "residents": np.linspace(100, 700, CELLS.size),
        }
    ).to_parquet(folder / "cells.parquet")
    pd.DataFrame(
        {
            "h3_int": rng.choice(CELLS, size=timestamps.size),
            "timestamp": timestamps,
            "crime_type": rng.choice(list(types), size=timestamps.size),
            "source_file": "events.csv",
        }
    ).to_parquet(folder / "event_cells.parquet")
    (folder / "data_quality.json").write_text(json.dumps(quality))
    quarantine(quarantined).to_parquet(folder / "quarantine.parquet")
    (folder / "cells_meta.json").write_text(
        json.dumps({"h3_resolution": 8, "n_cells": CELLS.size, "study_area": "events_only"})
    )
    params = {
        "features": {**FEATURES, "period": period},
        "covariates": {"static": ["residents"]},
        "refresh": {"refit_model_every": refit_every},
        "engine": {},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return [
        "--cells", str(folder / "cells.parquet"),
        "--cells-meta", str(folder / "cells_meta.json"),
        "--event-cells", str(folder / "event_cells.parquet"),
        "--data-quality", str(folder / "data_quality.json"),
        "--quarantine", str(folder / "quarantine.parquet"),
        "--out-features", str(folder / "features.parquet"),
        "--out-meta", str(folder / "panel_meta.json"),
        "--out-fit-features", str(folder / "fit" / "features.parquet"),
        "--out-fit-meta", str(folder / "fit" / "panel_meta.json"),
        "--out-fit-events", str(folder / "fit" / "event_cells.parquet"),
        "--out-fit-quality", str(folder / "fit" / "data_quality.json"),
        "--params", str(folder / "params.yaml"),
    ]  # fmt: skip


def _monthly_timestamps(n: int = 600) -> pd.DatetimeIndex:
    """police.uk style: 00:00 on the 1st, January to August 2023 (eight whole months)."""
    months = pd.date_range("2023-01-01", "2023-08-01", freq="MS")
    return pd.DatetimeIndex(np.random.default_rng(1).choice(months, size=n)).sort_values()


def _hourly_timestamps(n: int = 3000) -> pd.DatetimeIndex:
    """Finer data: hours from Monday 2023-01-02 to Sunday 2023-08-27 (34 whole weeks)."""
    hours = np.random.default_rng(2).integers(0, 34 * 7 * 24, size=n)
    return pd.DatetimeIndex(pd.Timestamp("2023-01-02") + pd.to_timedelta(np.sort(hours), "h"))


MONTHLY = data_quality(source="police_uk_api", time_resolution="month")


def test_auto_on_monthly_data_forecasts_next_month(tmp_path: Path) -> None:
    args = _write_inputs(tmp_path, timestamps=_monthly_timestamps(), quality=MONTHLY, period="auto")
    assert build_features.main(args) == 0
    meta = json.loads((tmp_path / "panel_meta.json").read_text())
    assert (meta["period"], meta["source"], meta["time_resolution"]) == (
        "month",
        "police_uk_api",
        "month",
    )
    # August, the last month in the data, is complete: each timestamp stands for its month.
    assert meta["all_periods"] == ["2023-01-01", "2023-08-01"]
    assert meta["first_period"] == "2023-04-01"  # after min_history_periods = 3 months
    assert meta["last_complete_period"] == "2023-08-01"
    assert meta["forecast_period"] == "2023-09-01"
    table = pd.read_parquet(tmp_path / "features.parquet")
    assert "period_start" in table.columns and "week_start" not in table.columns
    assert {"cnt_all_lag1m", "mths_since_all", "month_of_year", "cnt_all_lag12m"} <= set(
        table.columns
    )
    assert table["target_count"].sum() > 0  # each month's events were counted in that month


def test_auto_on_finer_data_stays_weekly(tmp_path: Path) -> None:
    quality = data_quality(source="synthetic", time_resolution="sub_day")
    args = _write_inputs(tmp_path, timestamps=_hourly_timestamps(), quality=quality, period="auto")
    assert build_features.main(args) == 0
    meta = json.loads((tmp_path / "panel_meta.json").read_text())
    assert (meta["period"], meta["time_resolution"]) == ("week", "sub_day")
    assert meta["all_periods"] == ["2023-01-02", "2023-08-21"]
    assert meta["forecast_period"] == "2023-08-28"
    assert "cnt_all_lag1w" in meta["feature_columns"]


def test_month_on_finer_data_aggregates(tmp_path: Path) -> None:
    quality = data_quality(source="mapped_csv", time_resolution="sub_day")
    args = _write_inputs(tmp_path, timestamps=_hourly_timestamps(), quality=quality, period="month")
    assert build_features.main(args) == 0
    meta = json.loads((tmp_path / "panel_meta.json").read_text())
    # data end on Sunday 27 August: August is incomplete, so July is the last complete month
    assert meta["period"] == "month"
    assert meta["all_periods"] == ["2023-01-01", "2023-07-01"]
    assert meta["forecast_period"] == "2023-08-01"


def test_week_on_monthly_data_is_refused_with_the_reason(tmp_path: Path) -> None:
    args = _write_inputs(tmp_path, timestamps=_monthly_timestamps(), quality=MONTHLY, period="week")
    with pytest.raises(
        ValueError,
        match=r"features\.period is 'week', but the events have monthly time resolution "
        r"\(every timestamp is 00:00 on the 1st of a month, as data\.police\.uk publishes them\), "
        r"so weekly counts would put each month's events in the week holding the 1st and leave "
        r"the other weeks empty\. Set features\.period to month \(or auto\)\.",
    ):
        build_features.main(args)
    assert not (tmp_path / "panel_meta.json").exists()
    # As a process (the way DVC runs it): a non-zero exit with the reason on stderr.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.build_features", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "Stage 'build_features' stopped: features.period is 'week'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.returncode == 2
    assert "Set features.period to month (or auto)." in proc.stderr


def test_missing_time_resolution_is_an_error(tmp_path: Path) -> None:
    without = {k: v for k, v in data_quality().items() if k != "time_resolution"}
    args = _write_inputs(tmp_path, timestamps=_monthly_timestamps(), quality=without, period="auto")
    with pytest.raises(
        ArtefactError, match=r"data_quality\.json: key 'time_resolution': Field required"
    ):
        build_features.main(args)
    args = _write_inputs(
        tmp_path,
        timestamps=_monthly_timestamps(),
        quality=data_quality(time_resolution="hourly"),
        period="auto",
    )
    with pytest.raises(
        ArtefactError,
        match=r"key 'time_resolution': Input should be 'month', 'day' or 'sub_day'. Got 'hourly'",
    ):
        build_features.main(args)


def test_monthly_history_shorter_than_the_params_names_the_unit(tmp_path: Path) -> None:
    args = _write_inputs(tmp_path, timestamps=_monthly_timestamps(), quality=MONTHLY, period="auto")
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["features"]["min_history_periods"] = 52  # the weekly default, on 8 months of data
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ValueError, match=r"min_history_periods=52 complete months .* Got 8"):
        build_features.main(args)


def test_panel_meta_records_the_resolution_of_cells_meta(tmp_path: Path) -> None:
    quality = data_quality(source="synthetic", time_resolution="sub_day")
    args = _write_inputs(tmp_path, timestamps=_hourly_timestamps(), quality=quality, period="auto")
    assert build_features.main(args) == 0
    meta = PanelMeta.read(tmp_path / "panel_meta.json")
    assert (meta.h3_resolution, meta.n_cells, meta.period) == (8, CELLS.size, "week")
    # the file is exactly what its definition writes (sorted keys, ISO dates)
    written = (tmp_path / "panel_meta.json").read_bytes()
    meta.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == written


def test_cells_meta_from_another_run_is_refused(tmp_path: Path) -> None:
    quality = data_quality(source="synthetic", time_resolution="sub_day")
    args = _write_inputs(tmp_path, timestamps=_hourly_timestamps(), quality=quality, period="auto")
    (tmp_path / "cells_meta.json").write_text(
        json.dumps({"h3_resolution": 8, "n_cells": 99, "study_area": "events_only"})
    )
    with pytest.raises(
        ValueError, match=r"cells_meta\.json says n_cells=99, but cells\.parquet has 7 rows"
    ):
        build_features.main(args)
    (tmp_path / "cells_meta.json").write_text(json.dumps({"n_cells": CELLS.size}))
    with pytest.raises(
        ArtefactError, match=r"cells_meta\.json: key 'h3_resolution': Field required"
    ):
        build_features.main(args)
    assert not (tmp_path / "panel_meta.json").exists()


def test_covariates_the_cells_lack_are_refused(tmp_path: Path) -> None:
    quality = data_quality(source="synthetic", time_resolution="sub_day")
    args = _write_inputs(tmp_path, timestamps=_hourly_timestamps(), quality=quality, period="auto")
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["covariates"]["static"] = ["residents", "area_km2"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(
        ValueError, match=r"covariates\.static names \['area_km2'\], which cells\.parquet lacks"
    ):
        build_features.main(args)


def test_sensitive_covariates_need_a_reason() -> None:
    with pytest.raises(ValueError, match=r"needs a written 'sensitive_reason'"):
        CovariatesConfig(static=("residents", "minority_share"))
    assert CovariatesConfig(static=("minority_share",), sensitive_reason="G1 study").static


def test_the_panel_keeps_whole_periods_per_row_group_and_the_forecast_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # groups of two weeks (14 rows of 7 cells), then the forecast week in a group of its own
    monkeypatch.setattr("features.build.PANEL_GROUP_ROWS", 2 * CELLS.size + 1)
    quality = data_quality(source="synthetic", time_resolution="sub_day")
    args = _write_inputs(tmp_path, timestamps=_hourly_timestamps(), quality=quality, period="week")
    assert build_features.main(args) == 0
    meta = PanelMeta.read(tmp_path / "panel_meta.json")
    parquet = pq.ParquetFile(tmp_path / "features.parquet")
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)]
    labelled = meta.n_periods - 1
    assert sizes == [2 * CELLS.size] * (labelled // 2) + [CELLS.size] * (labelled % 2) + [
        CELLS.size
    ]
    for i in range(parquet.metadata.num_row_groups):
        group = parquet.read_row_group(i).to_pandas()
        assert group["period_start"].nunique() * CELLS.size == sizes[i]  # whole periods
    forecast = parquet.read_row_group(parquet.metadata.num_row_groups - 1).to_pandas()
    assert (forecast["period_start"] == pd.Timestamp(meta.forecast_period)).all()
    assert forecast["target_count"].isna().all()


WEEKLY = data_quality(source="synthetic", time_resolution="sub_day")
FIT = ("features.parquet", "panel_meta.json", "event_cells.parquet", "data_quality.json")


def _refresh_run(
    folder: Path,
    events: pd.DataFrame,
    *,
    refit_every: int,
    end: str | None = None,
    quarantined: tuple[str | None, ...] = QUARANTINED,
) -> dict[str, bytes]:
    """build_features on ``events`` (before ``end``): every file it writes, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    args = _write_inputs(
        folder, timestamps=_hourly_timestamps(), quality=WEEKLY, period="week",
        refit_every=refit_every, quarantined=quarantined,
    )  # fmt: skip
    kept = events if end is None else events[events["timestamp"] < pd.Timestamp(end)]
    kept.to_parquet(folder / "event_cells.parquet")
    assert build_features.main(args) == 0
    written = {name: (folder / name).read_bytes() for name in FIT[:2]}
    return written | {f"fit/{name}": (folder / "fit" / name).read_bytes() for name in FIT}


def _events(folder: Path) -> pd.DataFrame:
    _write_inputs(folder, timestamps=_hourly_timestamps(), quality=WEEKLY, period="week")
    return pd.read_parquet(folder / "event_cells.parquet")


def test_refitting_every_run_makes_the_fit_set_the_full_panel(tmp_path: Path) -> None:
    files = _refresh_run(tmp_path / "a", _events(tmp_path), refit_every=1)
    assert files["fit/features.parquet"] == files["features.parquet"]
    assert files["fit/panel_meta.json"] == files["panel_meta.json"]
    meta = PanelMeta.from_json(json.loads(files["panel_meta.json"]))
    assert meta.fit_through == meta.last_complete_period == dt.date(2023, 8, 21)


def test_the_fit_set_is_what_a_run_on_the_data_through_the_fit_point_writes(
    tmp_path: Path,
) -> None:
    events = _events(tmp_path)
    # 2023-08-21 is week 2798 since 1970-01-05; every 4 weeks: the fit point is 2023-08-07
    files = _refresh_run(tmp_path / "every4", events, refit_every=4)
    meta = PanelMeta.from_json(json.loads(files["panel_meta.json"]))
    assert (meta.last_complete_period, meta.fit_through) == (
        dt.date(2023, 8, 21), dt.date(2023, 8, 7))  # fmt: skip
    through = _refresh_run(tmp_path / "through", events, refit_every=1, end="2023-08-14")
    assert files["fit/features.parquet"] == through["features.parquet"]
    assert files["fit/panel_meta.json"] == through["panel_meta.json"]
    assert files["fit/event_cells.parquet"] == through["fit/event_cells.parquet"]
    assert files["fit/data_quality.json"] == through["fit/data_quality.json"]
    fit_events = pd.read_parquet(io.BytesIO(files["fit/event_cells.parquet"]))
    assert fit_events["timestamp"].max() < pd.Timestamp("2023-08-14")
    assert len(fit_events) == (events["timestamp"] < pd.Timestamp("2023-08-14")).sum()
    assert list(fit_events.columns) == list(EVENT_COLUMNS)  # what train, select, evaluate read


def test_a_week_appended_leaves_the_fit_set_byte_for_byte(tmp_path: Path) -> None:
    events = _events(tmp_path)
    before = _refresh_run(tmp_path / "a", events, refit_every=4, end="2023-08-21")
    after = _refresh_run(tmp_path / "b", events, refit_every=4)  # one more week of events
    assert before["features.parquet"] != after["features.parquet"]
    assert before["panel_meta.json"] != after["panel_meta.json"]
    for name in FIT:
        assert before[f"fit/{name}"] == after[f"fit/{name}"], name
    # the schedule reaches its next fit point: the fit set moves to the newest week
    moved = _refresh_run(tmp_path / "c", events, refit_every=1)
    assert moved["fit/features.parquet"] != after["fit/features.parquet"]


def test_the_fit_sets_data_quality_counts_the_rows_dated_before_its_end(tmp_path: Path) -> None:
    events = _events(tmp_path)
    fit = json.loads(_refresh_run(tmp_path / "a", events, refit_every=4)["fit/data_quality.json"])
    end = pd.Timestamp("2023-08-14")  # the end of the fit point's week, 2023-08-07
    before = events[events["timestamp"] < end]
    # the row of 2023-08-23 lies after the end; the undated row counts in every fit set
    assert fit["by_reason"] == {"invalid_coordinates": 1, "unparseable_date": 1}
    assert (fit["rows_accepted"], fit["rows_quarantined"]) == (len(before), 2)
    assert fit["rows_read"] == len(before) + 2
    assert fit["by_source_file"] == {
        "events.csv": {
            "read": len(before) + 2,
            "accepted": len(before),
            "quarantined": 2,
            "by_reason": {"invalid_coordinates": 1, "unparseable_date": 1},
        }
    }
    assert fit["accepted_by_type"] == before["crime_type"].value_counts().sort_index().to_dict()
    assert fit["date_max"] == f"{before['timestamp'].max():%Y-%m-%d %H:%M}" < "2023-08-14"
    for kept in ("source", "place", "time_resolution", "areas"):  # the source's, as ingest said
        assert fit[kept] == WEEKLY[kept], kept


@pytest.mark.parametrize(
    ("when", "changes"),
    [("2023-08-20 10:00", False), ("2023-05-02 10:00", True), (None, True)],
    ids=["dated-after-the-fit-point", "dated-before-it", "undated"],
)
def test_a_new_quarantined_row_moves_the_fit_sets_data_quality_only_if_it_is_not_later(
    tmp_path: Path, when: str | None, changes: bool
) -> None:
    events = _events(tmp_path)
    first = _refresh_run(tmp_path / "a", events, refit_every=4)
    second = _refresh_run(tmp_path / "b", events, refit_every=4, quarantined=(*QUARANTINED, when))
    assert (first["fit/data_quality.json"] != second["fit/data_quality.json"]) is changes
    assert first["fit/features.parquet"] == second["fit/features.parquet"]


def test_a_revised_event_before_the_fit_point_changes_the_fit_set(tmp_path: Path) -> None:
    events = _events(tmp_path)
    first = _refresh_run(tmp_path / "a", events, refit_every=4)
    revised = events.copy()
    counted = (revised["timestamp"] < pd.Timestamp("2023-06-01")) & (
        revised["crime_type"] == "burglary"
    )
    early = revised.index[counted][-1]  # a burglary recorded in another cell, months later
    revised.loc[early, "h3_int"] = (
        CELLS[0] if revised.loc[early, "h3_int"] != CELLS[0] else CELLS[1]
    )
    second = _refresh_run(tmp_path / "b", revised, refit_every=4)
    assert first["fit/features.parquet"] != second["fit/features.parquet"]
    assert first["fit/event_cells.parquet"] != second["fit/event_cells.parquet"]


def test_a_type_first_seen_after_the_fit_point_refits_on_all_the_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = _events(tmp_path)
    late = events["timestamp"] >= pd.Timestamp("2023-08-14")
    events.loc[~late & (events["crime_type"] == "robbery"), "crime_type"] = "burglary"
    with caplog.at_level("WARNING"):
        files = _refresh_run(tmp_path / "a", events, refit_every=4)
    assert "other feature columns" in caplog.text and "refitted on all the data" in caplog.text
    assert files["fit/features.parquet"] == files["features.parquet"]
    meta = PanelMeta.from_json(json.loads(files["fit/panel_meta.json"]))
    assert meta.fit_through == meta.last_complete_period == dt.date(2023, 8, 21)
