"""Events outside every area polygon: quarantined by default, or kept as cells without residents
(``ingest.areas.outside_events``), counted in the data-quality summary; and the place's name."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pydantic
import pytest
import shapely

from beatwise.h3index import index_points
from features.cells import CellsConfig, build_cells
from features.ingest import AreasConfig, ColumnMapping, IngestConfig, run_ingest, validate_events
from models.audit import AuditConfig
from models.audit._arrays import cell_populations

AS_OF = pd.Timestamp("2024-12-31")
#: inside area A1, inside area A2, and 10 km north of both (an airport, say)
INSIDE_A1 = (51.47, -0.17)
INSIDE_A2 = (51.47, -0.12)
OUTSIDE = (51.60, -0.17)


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_code": ["A1", "A2"],
            "district_name": ["West", "East"],
            "residents": [1000.0, 3000.0],
            "residents_minority": [100.0, 2000.0],
            "residents_majority": [900.0, 1000.0],
            "deprivation_decile": [9, 1],
        },
        geometry=[shapely.box(-0.20, 51.45, -0.15, 51.50), shapely.box(-0.15, 51.45, -0.10, 51.50)],
        crs="EPSG:4326",
    )


def raw_frame() -> pd.DataFrame:
    """Five rows: two inside the areas, two outside both (one a duplicate id), one undated."""
    points = [INSIDE_A1, INSIDE_A2, OUTSIDE, OUTSIDE, INSIDE_A1]
    return pd.DataFrame(
        {
            "source_file": "toy.csv",
            "source_row": np.arange(1, 6),
            "event_id": ["e1", "e2", "e3", "e3", "e5"],
            "timestamp": [
                "2024-03-04 10:00",
                "2024-03-05 10:00",
                "2024-03-06 10:00",
                "2024-03-07 10:00",
                "not a date",
            ],
            "crime_type": "burglary",
            "latitude": [p[0] for p in points],
            "longitude": [p[1] for p in points],
        }
    )


def test_outside_events_are_quarantined_by_default(areas: gpd.GeoDataFrame) -> None:
    result = validate_events(raw_frame(), areas=areas, as_of=AS_OF)
    assert AreasConfig().outside_events == "quarantine"
    assert list(result.accepted["event_id"]) == ["e1", "e2"]
    assert dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True)) == {
        3: "outside_study_area",
        4: "outside_study_area",
        5: "unparseable_date",
    }


def test_kept_outside_events_are_accepted_without_an_area(areas: gpd.GeoDataFrame) -> None:
    raw = raw_frame()
    result = validate_events(raw, areas=areas, as_of=AS_OF, outside_events="keep")
    acc = result.accepted.set_index("event_id")
    assert list(acc.index) == ["e1", "e2", "e3"]
    assert acc.loc["e1", "area_code"] == "A1"
    assert acc.loc["e2", "area_code"] == "A2"
    assert pd.isna(acc.loc["e3", "area_code"])  # outside every polygon: no area
    # the second e3 is still a duplicate, the undated row still unparseable: only the polygon
    # check is lifted, and every row read is accepted or quarantined
    assert dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True)) == {
        4: "duplicate_id",
        5: "unparseable_date",
    }
    assert len(result.accepted) + len(result.quarantine) == result.rows_read == len(raw)


def _write_source(folder: Path, areas: gpd.GeoDataFrame) -> None:
    raw = raw_frame()
    pd.DataFrame(
        {
            "crime_id": raw["event_id"],
            "timestamp": raw["timestamp"],
            "crime_type": raw["crime_type"],
            "latitude": raw["latitude"],
            "longitude": raw["longitude"],
        }
    ).to_parquet(folder / "events.parquet")
    areas.to_parquet(folder / "areas.parquet")


@pytest.mark.parametrize(
    ("outside_events", "accepted", "outside"), [("quarantine", 2, 0), ("keep", 3, 1)]
)
def test_the_data_quality_summary_counts_the_kept_events(
    tmp_path: Path, areas: gpd.GeoDataFrame, outside_events: str, accepted: int, outside: int
) -> None:
    _write_source(tmp_path, areas)
    cfg = IngestConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "areas": {"outside_events": outside_events},
            "max_quarantine_share": None,  # a toy source: 2 or 3 of its 5 rows are quarantined
        }
    )
    result = run_ingest(cfg, data_dir=tmp_path, today=AS_OF.date())
    quality = result.quality
    assert quality.rows_read == 5
    assert (quality.rows_accepted, quality.rows_quarantined) == (accepted, 5 - accepted)
    assert quality.rows_accepted + quality.rows_quarantined == quality.rows_read
    assert quality.areas.kind == "prepared"
    assert quality.areas.events_outside_polygons == outside
    assert int(result.accepted["area_code"].isna().sum()) == outside
    assert quality.place == "the synthetic London-like city"


def test_the_cells_of_kept_events_have_no_residents_and_no_group(
    areas: gpd.GeoDataFrame,
) -> None:
    kept = validate_events(raw_frame(), areas=areas, as_of=AS_OF, outside_events="keep").accepted
    result = build_cells(kept, areas, config=CellsConfig(h3_resolution=8), source="synthetic")
    cells = result.cells.set_index("h3_int")
    outside_cell = index_points([OUTSIDE[0]], [OUTSIDE[1]], resolution=8)[0]
    assert outside_cell in cells.index  # the kept event's cell is a study cell
    row = cells.loc[outside_cell]
    groups = [c for c in cells.columns if c.startswith("res_")]
    assert "res_minority" in groups and "res_dep_q1" in groups
    assert row["residents"] == 0
    assert (row[groups] == 0).all()
    assert row["district_name"] == "outside areas"
    # every resident is still in some cell: the kept cell takes none from the areas
    assert cells["residents"].sum() == pytest.approx(4000, rel=1e-6)
    # the audit reads it as a cell with no residents (no group share), not as an error
    config = AuditConfig.model_validate(
        {
            "attributes": [
                {
                    "name": "ethnicity",
                    "groups": {
                        "minority": {"column": "res_minority", "label": "minority residents"},
                        "majority": {"column": "res_majority", "label": "majority residents"},
                    },
                }
            ],
            "strata": [],
            "intersections": [],
        }
    )
    _, residents, by_group = cell_populations(result.cells.reset_index(drop=True), config)
    position = int(np.flatnonzero(result.cells["h3_int"].to_numpy() == outside_cell)[0])
    assert residents[position] == 0
    assert (by_group[position] == 0).all()


def test_keep_is_refused_where_it_cannot_mean_anything() -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"outside_events 'keep' needs area polygons"
    ):
        AreasConfig(kind="none", path=None, outside_events="keep")
    with pytest.raises(
        pydantic.ValidationError,
        match=r"outside_events 'keep' cannot be combined with "
        r"ingest\.areas\.coverage_min_rate_ratio \(0\.2\)",
    ):
        AreasConfig(coverage_min_rate_ratio=0.2, outside_events="keep")
    with pytest.raises(pydantic.ValidationError, match=r"outside_events\n  Input should be"):
        AreasConfig(outside_events="drop")  # type: ignore[arg-type]


MAPPING = ColumnMapping(
    time_column="t",
    time_format="%Y-%m-%d",
    latitude_column="lat",
    longitude_column="lon",
    category_column="c",
    id_columns=("id",),
)


def test_the_place_defaults_to_a_neutral_name_never_the_loader() -> None:
    assert IngestConfig().place_name == "the synthetic London-like city"
    mapped = IngestConfig(source="mapped_csv", mapping=MAPPING)
    assert mapped.place is None
    assert mapped.place_name == "the study area"
    assert IngestConfig(source="police_uk_api").place_name == "the study area"
    named = IngestConfig(source="mapped_csv", mapping=MAPPING, place="  St. Louis, Missouri ")
    assert named.place_name == "St. Louis, Missouri"


@pytest.mark.parametrize("bad", ["", "   ", "St. Louis\nMissouri", "x" * 81])
def test_a_place_name_must_be_one_printable_line(bad: str) -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"ingest\.place must be the place's name on one line"
    ):
        IngestConfig(place=bad)
