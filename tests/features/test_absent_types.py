"""Configured crime types absent from the data get no per-type features and are not forecast:
build_panel decides it once from the whole history, panel_meta.json records it, and with every
type present the panel is exactly the one built from the configured types."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
import yaml
from stage_files import data_quality, quarantine

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import complete_periods
from beatwise.taxonomy import VICTIM_TYPES
from features.build import CovariatesConfig, build_panel, drop_absent_types
from features.engineering import FeatureConfig, build_feature_table, feature_columns
from features.panel import count_matrix
from pipelines import build_features

CELLS = np.array(
    sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(51.5, -0.12, 8), 1)),
    dtype=np.uint64,
)
SMALL = {
    "lags": (1, 2),
    "rolling_windows": (2, 3),
    "decay_half_lives": (1,),
    "rings": (1,),
    "since_cap": 10,
    "min_history_periods": 3,
}
#: ten complete ISO weeks, then one event in an eleventh (incomplete) week
START, N_WEEKS = pd.Timestamp("2024-01-01"), 10


def _cells() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3_cell": [format(int(c), "x") for c in CELLS],
            "h3_int": CELLS,
            "residents": np.linspace(100, 700, CELLS.size),
        }
    )


def _events(types: list[str], n: int = 600, *, seed: int = 0) -> pd.DataFrame:
    """``n`` events at random hours over the ten weeks, of ``types`` in turn."""
    rng = np.random.default_rng(seed)
    hours = np.sort(rng.integers(0, N_WEEKS * 7 * 24, size=n))
    return pd.DataFrame(
        {
            "h3_int": rng.choice(CELLS, size=n),
            "timestamp": START + pd.to_timedelta(hours, unit="h"),
            "crime_type": np.resize(np.array(types), n),
        }
    )


def _build(events: pd.DataFrame, **config: object) -> tuple[pd.DataFrame, PanelMeta]:
    return build_panel(
        _cells(),
        events,
        cells_meta=CellsMeta(h3_resolution=8, n_cells=CELLS.size, study_area="areas_and_events"),
        features=FeatureConfig(**{**SMALL, **config}),
        covariates=CovariatesConfig(static=("residents",)),
        source="mapped_csv",
        time_resolution="sub_day",
    )


def _type_tokens(columns: tuple[str, ...] | list[str]) -> list[str]:
    """The type tokens of the ``cnt_<type>_lag1w`` columns, in column order."""
    return [
        c[len("cnt_") : -len("_lag1w")]
        for c in columns
        if c.startswith("cnt_") and c.endswith("_lag1w")
    ]


def test_one_type_builds_no_features_for_the_absent_types() -> None:
    table, meta = _build(_events(["burglary"]))
    absent = tuple(t for t in VICTIM_TYPES if t != "burglary")
    assert _type_tokens(meta.feature_columns) == ["burglary", "all"]
    assert not [c for c in table.columns for t in absent if f"_{t}_" in c or c.endswith(t)]
    assert meta.target_types == ("burglary",)
    assert meta.feature_types == ("burglary",)
    assert meta.absent_types == absent
    assert meta.absent_types_note is not None
    assert all(t in meta.absent_types_note for t in absent)
    assert "not forecast" in meta.absent_types_note
    one_type = FeatureConfig(**SMALL, target_types=("burglary",))
    assert list(meta.feature_columns) == feature_columns(
        one_type, period="week", static_columns=("residents",)
    )
    assert list(table.columns) == list(meta.table_columns())


def test_the_target_is_unchanged_by_leaving_absent_types_out() -> None:
    events = _events(["burglary", "robbery"])
    table, meta = _build(events)
    assert meta.target_types == ("burglary", "robbery")
    periods = complete_periods(events["timestamp"], period="week", time_resolution="sub_day")
    counts = count_matrix(
        events, cell_ids=CELLS, periods=periods, crime_types=list(VICTIM_TYPES), outside="drop"
    )
    every_type = sum(counts.values())
    labelled = table[table["target_count"].notna()]
    expected = every_type[SMALL["min_history_periods"] :].reshape(-1)
    np.testing.assert_array_equal(labelled["target_count"].to_numpy(), expected)


def test_all_types_present_keeps_the_previous_columns_and_values() -> None:
    events = _events(list(VICTIM_TYPES))
    table, meta = _build(events)
    config = FeatureConfig(**SMALL)
    assert meta.absent_types == () and meta.absent_types_note is None
    assert meta.target_types == VICTIM_TYPES
    assert _type_tokens(meta.feature_columns) == [*VICTIM_TYPES, "all"]
    assert list(meta.feature_columns) == feature_columns(
        config, period="week", static_columns=("residents",)
    )
    # the previous build: build_feature_table on every configured type
    periods = complete_periods(events["timestamp"], period="week", time_resolution="sub_day")
    counts = count_matrix(
        events, cell_ids=CELLS, periods=periods, crime_types=list(VICTIM_TYPES), outside="drop"
    )
    previous, _ = build_feature_table(
        counts,
        cell_ids=CELLS,
        periods=periods,
        period="week",
        static=_cells()[["h3_int", "residents"]],
        config=config,
    )
    pd.testing.assert_frame_equal(table, previous)


def test_the_default_config_keeps_its_130_weekly_features() -> None:
    """The default synthetic run (every type present) keeps the columns it had."""
    columns = feature_columns(FeatureConfig(), period="week", static_columns=("residents",))
    assert len(columns) == 130
    assert _type_tokens(columns) == [*VICTIM_TYPES, "all"]
    assert columns[:2] == ["cnt_burglary_lag1w", "cnt_burglary_lag2w"]
    assert columns[-4:] == [
        "week_of_year",
        "holidays_in_week",
        "weeks_since_start",
        "static_residents",
    ]


def test_a_type_first_seen_in_the_last_complete_week_counts_as_present() -> None:
    events = _events(["burglary"])
    late = pd.DataFrame(
        {
            "h3_int": CELLS[:1],
            "timestamp": [START + pd.Timedelta(weeks=N_WEEKS - 1, hours=3)],
            "crime_type": ["robbery"],
        }
    )
    _, meta = _build(pd.concat([events, late], ignore_index=True))
    assert meta.target_types == ("burglary", "robbery")
    assert "robbery" not in meta.absent_types
    assert "cnt_robbery_lag1w" in meta.feature_columns


def test_explicit_feature_types_keep_only_the_present_ones() -> None:
    _, meta = _build(
        _events(["burglary", "drugs"]),
        feature_types=("drugs", "robbery", "burglary"),
        police_activity_features=True,
    )
    assert meta.feature_types == ("drugs", "burglary")
    assert _type_tokens(meta.feature_columns) == ["drugs", "burglary", "all"]
    assert meta.target_types == ("burglary",)
    assert "robbery" in meta.absent_types and "drugs" not in meta.absent_types


def test_feature_types_all_absent_are_refused() -> None:
    with pytest.raises(ValueError, match=r"features\.feature_types .* has an accepted event"):
        _build(_events(["burglary"]), feature_types=("robbery",))


def test_no_target_type_in_the_data_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to forecast"):
        _build(_events(["drugs"]))


def test_drop_absent_types_returns_the_config_itself_when_all_are_present() -> None:
    config = FeatureConfig(**SMALL, target_types=("burglary", "robbery"))
    counts = {t: np.ones((4, 2), dtype=np.int32) for t in config.target_types}
    assert drop_absent_types(config, counts, span="x") == (config, (), None)


def test_panel_meta_refuses_an_absent_type_that_is_also_a_target() -> None:
    _, meta = _build(_events(["burglary"]))
    raw = meta.to_json()
    with pytest.raises(ValueError, match="also target or feature types"):
        PanelMeta.from_json({**raw, "absent_types": ["burglary"]})
    with pytest.raises(ValueError, match="go together"):
        PanelMeta.from_json({**raw, "absent_types_note": None})


def test_the_stage_records_absent_types_in_panel_meta(tmp_path: Path) -> None:
    _cells().to_parquet(tmp_path / "cells.parquet")
    _events(["burglary", "robbery"]).assign(source_file="events.csv").to_parquet(
        tmp_path / "event_cells.parquet"
    )
    quarantine().to_parquet(tmp_path / "quarantine.parquet")
    quality = data_quality(source="mapped_csv", time_resolution="sub_day")
    (tmp_path / "data_quality.json").write_text(json.dumps(quality))
    (tmp_path / "cells_meta.json").write_text(
        json.dumps({"h3_resolution": 8, "n_cells": 7, "study_area": "areas_and_events"})
    )
    params = {"features": {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items()}}
    sections = {"covariates": {}, "refresh": {}, "engine": {}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**params, **sections}))
    args = [
        f"--{name}={tmp_path / file}"
        for name, file in (
            ("cells", "cells.parquet"),
            ("cells-meta", "cells_meta.json"),
            ("event-cells", "event_cells.parquet"),
            ("data-quality", "data_quality.json"),
            ("quarantine", "quarantine.parquet"),
            ("out-features", "features.parquet"),
            ("out-meta", "panel_meta.json"),
            ("out-fit-features", "fit/features.parquet"),
            ("out-fit-meta", "fit/panel_meta.json"),
            ("out-fit-events", "fit/event_cells.parquet"),
            ("out-fit-quality", "fit/data_quality.json"),
            ("params", "params.yaml"),
        )
    ]
    assert build_features.main(args) == 0
    written = json.loads((tmp_path / "panel_meta.json").read_text())
    assert written["target_types"] == ["burglary", "robbery"]
    assert written["absent_types"] == [t for t in VICTIM_TYPES if t not in ("burglary", "robbery")]
    assert "not forecast" in written["absent_types_note"]
    features = pd.read_parquet(tmp_path / "features.parquet")
    assert not any("shoplifting" in c for c in features.columns)
