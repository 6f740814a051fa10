"""The build_cells stage: cells and event cells, the grid recorded, the resolution limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import yaml

from beatwise.artefacts.quality import DataQuality
from features.ingest import empty_areas
from pipelines import build_cells


def _quality(source: str) -> dict[str, Any]:
    return {
        "source": source,
        "place": "the study area",
        "rows_read": 2,
        "rows_accepted": 2,
        "rows_quarantined": 0,
        "by_reason": {},
        "reason_meanings": {},
        "by_source_file": {"x": {"read": 2, "accepted": 2, "quarantined": 0, "by_reason": {}}},
        "accepted_by_type": {"burglary": 2},
        "date_min": "2024-01-01 10:00",
        "date_max": "2024-01-02 10:00",
        "time_resolution": "sub_day",
        "areas": {"kind": "prepared", "n_areas": 1, "residents": 500.0, "attributes": []},
    }


def _inputs(tmp_path: Path, *, source: str, resolution: int, with_areas: bool) -> list[str]:
    pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "timestamp": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00"]),
            "crime_type": ["burglary", "burglary"],
            "latitude": [51.47, 51.48],
            "longitude": [-0.17, -0.16],
        }
    ).to_parquet(tmp_path / "events.parquet")
    areas = (
        gpd.GeoDataFrame(
            {"area_code": ["A1"], "residents": [500.0]},
            geometry=[shapely.box(-0.20, 51.45, -0.15, 51.50)],
            crs="EPSG:4326",
        )
        if with_areas
        else empty_areas()
    )
    areas.to_parquet(tmp_path / "areas.parquet")
    DataQuality.model_validate(_quality(source)).write(tmp_path / "data_quality.json")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"cells": {"h3_resolution": resolution}}))
    return [
        "--events", str(tmp_path / "events.parquet"),
        "--areas", str(tmp_path / "areas.parquet"),
        "--data-quality", str(tmp_path / "data_quality.json"),
        "--out-cells", str(tmp_path / "out" / "cells.parquet"),
        "--out-event-cells", str(tmp_path / "out" / "event_cells.parquet"),
        "--out-meta", str(tmp_path / "out" / "cells_meta.json"),
        "--params", str(tmp_path / "params.yaml"),
    ]  # fmt: skip


@pytest.mark.parametrize("with_areas", [True, False])
def test_cells_event_cells_and_the_recorded_grid(tmp_path: Path, with_areas: bool) -> None:
    args = _inputs(tmp_path, source="synthetic", resolution=9, with_areas=with_areas)
    assert build_cells.main(args) == 0
    cells = pd.read_parquet(tmp_path / "out" / "cells.parquet")
    event_cells = pd.read_parquet(tmp_path / "out" / "event_cells.parquet")
    meta = json.loads((tmp_path / "out" / "cells_meta.json").read_text())
    rule = "areas_and_events" if with_areas else "events_only"
    assert meta == {"h3_resolution": 9, "n_cells": len(cells), "study_area": rule}
    assert set(event_cells["h3_int"]) <= set(cells["h3_int"])
    assert len(cells) > 2 if with_areas else len(cells) == 2


def test_a_resolution_finer_than_the_synthetic_truth_stops_the_stage(tmp_path: Path) -> None:
    args = _inputs(tmp_path, source="synthetic", resolution=11, with_areas=True)
    with pytest.raises(
        ValueError,
        match=r"The 'cells\.h3_resolution' parameter of stage 'build_cells' must be at most 10 "
        r"for the synthetic source \(its true risk is defined up to resolution 10\)\. Got 11\.",
    ):
        build_cells.main(args)
    assert not (tmp_path / "out").exists()
    # real data have no such limit: 11 is within the params schema's bounds
    args = _inputs(tmp_path, source="police_uk_api", resolution=11, with_areas=True)
    assert build_cells.main(args) == 0
    assert json.loads((tmp_path / "out" / "cells_meta.json").read_text())["h3_resolution"] == 11


def test_a_resolution_outside_the_schema_names_the_key(tmp_path: Path) -> None:
    args = _inputs(tmp_path, source="police_uk_api", resolution=12, with_areas=True)
    with pytest.raises(
        ValueError,
        match=r"The 'cells\.h3_resolution' parameter of stage 'build_cells' must be <= 11",
    ):
        build_cells.main(args)


def test_from_the_command_line_the_refusal_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    args = _inputs(tmp_path, source="synthetic", resolution=11, with_areas=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.build_cells", *args],
        cwd=Path(__file__).resolve().parents[2],
        env={k: v for k, v in os.environ.items() if k != "BEATWISE_TRACEBACK"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "Stage 'build_cells' stopped: The 'cells.h3_resolution' parameter of stage 'build_cells' "
        "must be at most 10 for the synthetic source"
    )
    assert "Traceback" not in proc.stderr
