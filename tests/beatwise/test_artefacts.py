"""The typed stage files: what a producer writes is what its definition reads, byte for byte, and a
file that disagrees with its definition is refused with a message naming the file and the key."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from beatwise.artefacts import Artefact, ArtefactError
from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta

PANEL = {
    "absent_types": [],
    "absent_types_note": None,
    "all_periods": ["2022-01-03", "2024-12-23"],
    "feature_columns": ["cnt_burglary_lag1w", "cnt_all_lag1w"],
    "feature_types": ["burglary"],
    "first_period": "2023-01-02",
    "fit_through": "2024-12-23",
    "forecast_period": "2024-12-30",
    "h3_resolution": 8,
    "last_complete_period": "2024-12-23",
    "n_cells": 12,
    "n_periods": 105,
    "n_rows": 1260,
    "period": "week",
    "source": "synthetic",
    "static_covariates": ["residents"],
    "target_reason": None,
    "target_types": ["burglary"],
    "time_resolution": "sub_day",
}

MODEL = {
    "best_rounds": 67,
    "feature_columns": ["cnt_burglary_lag1w"],
    "mlflow_run_id": "3351976b02e840b9a336bde7f33f96ba",
    "model_version": "88cc1ef0214d",
    "period": "week",
    "registered_model": "beatwise-risk",
    "registered_version": "1",
    "trained_periods": ["2023-01-02", "2024-12-23"],
}


def _file_bytes(payload: dict[str, object]) -> bytes:
    """The bytes ``beatwise.io.write_json`` gives: sorted keys, two-space indent, final newline."""
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize(
    ("definition", "payload"),
    [
        (PanelMeta, PANEL),
        (ModelMeta, MODEL),
        (CellsMeta, {"h3_resolution": 8, "n_cells": 12, "study_area": "events_only"}),
    ],
    ids=["panel_meta", "model_meta", "cells_meta"],
)
def test_round_trip_is_byte_identical(
    tmp_path: Path, definition: type[Artefact], payload: dict[str, object]
) -> None:
    src = tmp_path / "in.json"
    src.write_bytes(_file_bytes(payload))
    artefact = definition.read(src)
    out = tmp_path / "out.json"
    artefact.write(out)
    assert out.read_bytes() == src.read_bytes()


def test_fields_are_typed_not_strings() -> None:
    meta = PanelMeta.from_json(PANEL)
    assert meta.forecast_period == dt.date(2024, 12, 30)
    assert meta.all_periods == (dt.date(2022, 1, 3), dt.date(2024, 12, 23))
    assert meta.h3_resolution == 8
    assert meta.period == "week"


def test_missing_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "panel_meta.json"
    path.write_bytes(_file_bytes({k: v for k, v in PANEL.items() if k != "h3_resolution"}))
    with pytest.raises(ArtefactError, match=r"panel_meta\.json: key 'h3_resolution': Field requ"):
        PanelMeta.read(path)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model_meta.json"
    path.write_bytes(_file_bytes({**MODEL, "best_round": 3}))
    with pytest.raises(ArtefactError, match=r"key 'best_round': Extra inputs are not permitted"):
        ModelMeta.read(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("period", "day", r"key 'period': Input should be 'week' or 'month'"),
        ("h3_resolution", 16, r"key 'h3_resolution': Input should be less than or equal to 11"),
        ("forecast_period", "2024-13-01", r"key 'forecast_period'"),
        ("time_resolution", "hourly", r"key 'time_resolution'"),
    ],
)
def test_wrong_value_is_refused_with_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ArtefactError, match=message):
        PanelMeta.from_json({**PANEL, key: value}, source="panel_meta.json")


def test_artefacts_are_frozen() -> None:
    meta = CellsMeta(h3_resolution=8, n_cells=3, study_area="events_only")
    with pytest.raises(ValueError, match="frozen"):
        meta.h3_resolution = 9  # type: ignore[misc]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cells_meta\.json"):
        CellsMeta.read(tmp_path / "cells_meta.json")
