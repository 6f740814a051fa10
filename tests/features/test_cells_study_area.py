"""The study-area rule (``cells.study_area``): which cells it gives on a hand-made case, what
``auto`` resolves to, the refusal without areas, and its record in cells_meta.json and
backtest_metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import pandas as pd
import pydantic
import pytest
import shapely
import yaml
from audit_inputs import make_metrics
from stage_files import data_quality

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.metrics import BacktestMetrics
from features.cells import CellsConfig, build_cells
from features.ingest import empty_areas
from pipelines import build_cells as build_cells_stage

RESOLUTION = 7


def one_hexagon_area() -> gpd.GeoDataFrame:
    """One area that is exactly a resolution-7 hexagon, shrunk a little so that it overlaps that
    cell alone: the areas' cells are that one cell, by hand."""
    cell = h3.latlng_to_cell(51.47, -0.17, RESOLUTION)
    hexagon = shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
    shrunk = shapely.affinity.scale(hexagon, xfact=0.5, yfact=0.5, origin="centroid")
    return gpd.GeoDataFrame(
        {"area_code": ["A1"], "residents": [1000.0]}, geometry=[shrunk], crs="EPSG:4326"
    )


def events_at(points: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(points))],
            "latitude": [p[0] for p in points],
            "longitude": [p[1] for p in points],
        }
    )


def cell_of(lat: float, lng: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lng, RESOLUTION))


#: two events 10 and 20 km north of the area, in two cells the area does not touch
NORTH = [(51.56, -0.17), (51.65, -0.17)]


def test_the_rules_give_the_expected_cells_on_a_hand_made_case() -> None:
    areas = one_hexagon_area()
    area_cell = cell_of(51.47, -0.17)
    north_cells = {cell_of(*p) for p in NORTH}
    assert len(north_cells) == 2 and area_cell not in north_cells
    events = events_at(NORTH)

    def cells(rule: str) -> set[int]:
        config = CellsConfig(h3_resolution=RESOLUTION, study_area=rule)  # type: ignore[arg-type]
        result = build_cells(events, areas, config=config, source="mapped_csv")
        assert result.meta.study_area == rule
        return set(result.cells["h3_int"].tolist())

    # the area's one cell plus the cells with events; the cells with events alone
    assert cells("areas_and_events") == {area_cell, *north_cells}
    assert cells("events_only") == north_cells
    # events_only: the area's residents lie in no study cell, so none are apportioned
    only = build_cells(
        events,
        areas,
        config=CellsConfig(h3_resolution=RESOLUTION, study_area="events_only"),
        source="mapped_csv",
    )
    assert only.cells["residents"].sum() == 0


def test_auto_takes_the_areas_when_there_are_some_and_the_events_when_not() -> None:
    events = events_at(NORTH)
    config = CellsConfig(h3_resolution=RESOLUTION)
    assert config.study_area == "auto"
    with_areas = build_cells(events, one_hexagon_area(), config=config, source="mapped_csv")
    assert with_areas.meta == CellsMeta(
        h3_resolution=RESOLUTION, n_cells=3, study_area="areas_and_events"
    )
    without = build_cells(events, empty_areas(), config=config, source="mapped_csv")
    assert without.meta == CellsMeta(h3_resolution=RESOLUTION, n_cells=2, study_area="events_only")


def test_an_areas_rule_without_areas_is_refused_with_the_way_out() -> None:
    config = CellsConfig(study_area="areas_and_events")
    with pytest.raises(
        ValueError,
        match=r"^The 'cells\.study_area' parameter of stage 'build_cells' is 'areas_and_events' "
        r".* the source has no area polygons \(ingest\.areas\.kind: none\)\. .* set "
        r"cells\.study_area to 'events_only' or 'auto'\.$",
    ):
        build_cells(events_at(NORTH), empty_areas(), config=config, source="mapped_csv")
    with pytest.raises(pydantic.ValidationError, match=r"study_area\n  Input should be"):
        CellsConfig(study_area="areas_only")  # type: ignore[arg-type]


def test_the_stage_records_the_rule_in_cells_meta(tmp_path: Path) -> None:
    events_at(NORTH).assign(
        timestamp=pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00"]),
        crime_type="burglary",
    ).to_parquet(tmp_path / "events.parquet")
    one_hexagon_area().to_parquet(tmp_path / "areas.parquet")
    (tmp_path / "data_quality.json").write_text(json.dumps(data_quality(source="mapped_csv")))
    args = [
        "--events", str(tmp_path / "events.parquet"),
        "--areas", str(tmp_path / "areas.parquet"),
        "--data-quality", str(tmp_path / "data_quality.json"),
        "--out-cells", str(tmp_path / "out" / "cells.parquet"),
        "--out-event-cells", str(tmp_path / "out" / "event_cells.parquet"),
        "--out-meta", str(tmp_path / "out" / "cells_meta.json"),
        "--params", str(tmp_path / "params.yaml"),
    ]  # fmt: skip
    for rule, n_cells in (("events_only", 2), ("areas_and_events", 3)):
        cells = {"h3_resolution": RESOLUTION, "study_area": rule}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"cells": cells}))
        assert build_cells_stage.main(args) == 0
        meta = json.loads((tmp_path / "out" / "cells_meta.json").read_text())
        assert meta == {"h3_resolution": RESOLUTION, "n_cells": n_cells, "study_area": rule}


def test_metrics_json_carries_the_rule(tmp_path: Path) -> None:
    metrics = make_metrics().model_copy(update={"study_area": "events_only"})
    metrics.write(tmp_path / "metrics.json")
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["study_area"] == "events_only"
    assert BacktestMetrics.read(tmp_path / "metrics.json") == metrics
    on_disk["study_area"] = "areas_only"
    (tmp_path / "metrics.json").write_text(json.dumps(on_disk))
    with pytest.raises(ValueError, match=r"key 'study_area': Input should be"):
        BacktestMetrics.read(tmp_path / "metrics.json")


def test_the_evaluate_stage_reads_the_rule_from_cells_meta() -> None:
    stage = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]["evaluate"]
    assert "--cells-meta data/processed/cells_meta.json" in stage["cmd"]
    assert "data/processed/cells_meta.json" in stage["deps"]
