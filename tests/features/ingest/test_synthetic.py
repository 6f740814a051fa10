"""The synthetic city's events as a raw canonical frame, and the files the loader refuses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.ingest.synthetic import load_synthetic_events
from features.ingest.validation import REQUIRED_RAW_COLUMNS


def simulator_events(n: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "crime_id": [f"c{i}" for i in range(n)],
            "timestamp": pd.date_range("2024-01-01 10:00", periods=n, freq="h"),
            "crime_type": ["Burglary"] * n,
            "latitude": [51.5] * n,
            "longitude": [-0.1] * n,
            "area_code": ["A1"] * n,
        }
    )


def test_synthetic_events_become_a_raw_canonical_frame(tmp_path: Path) -> None:
    simulator_events().to_parquet(tmp_path / "events.parquet")
    raw = load_synthetic_events(tmp_path / "events.parquet")
    assert set(REQUIRED_RAW_COLUMNS) <= set(raw.columns)
    assert raw["source_file"].tolist() == ["events.parquet"] * 2
    assert raw["source_row"].tolist() == [1, 2]
    assert raw["event_id"].tolist() == ["c0", "c1"]
    assert raw["area_code"].tolist() == ["A1", "A1"]


def test_synthetic_loader_refuses_missing_empty_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    with pytest.raises(FileNotFoundError, match=r"run `dvc repro simulate`"):
        load_synthetic_events(path)
    simulator_events(0).to_parquet(path)
    with pytest.raises(ValueError, match=r"events\.parquet holds no events"):
        load_synthetic_events(path)
    simulator_events().rename(columns={"crime_id": "crimeid"}).to_parquet(path)
    with pytest.raises(
        ValueError, match=r"missing required column\(s\) \['crime_id'\].*closest: 'crimeid'"
    ):
        load_synthetic_events(path)
