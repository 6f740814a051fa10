"""The district coverage filter: which districts an event sample covers, and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from features.ingest.coverage import (
    COVERAGE_COLUMNS,
    DEFAULT_MIN_RATE_RATIO,
    covered_districts,
    districts_of_events,
    restrict_to_covered,
)
from features.ingest.locate import locate_in_areas

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
LONDON_EVENTS = (
    SHARED_DATA
    / "london-police-api-2016-2018"
    / "DERIVED_london_street_crimes_api_2016-01_2018-06.csv.gz"
)

UNCOVERED_LONDON = {
    "Bexley",
    "City of London",
    "Croydon",
    "Hackney",
    "Kensington and Chelsea",
    "Redbridge",
    "Southwark",
    "Tower Hamlets",
}


def squares(n: int, *, size_m: float = 1000.0) -> list[shapely.Polygon]:
    """``n`` squares of ``size_m`` metres in a row, in British National Grid."""
    return [
        shapely.box(530_000 + i * size_m, 180_000, 530_000 + (i + 1) * size_m, 180_000 + size_m)
        for i in range(n)
    ]


def coverage_areas(residents: list[float], districts: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_code": [f"A{i}" for i in range(len(residents))],
            "district_name": districts,
            "residents": residents,
        },
        geometry=squares(len(residents)),
        crs="EPSG:27700",
    )


def events_in(counts: dict[str, int], *, outside: int = 0) -> pd.Series:
    names = np.repeat(list(counts), list(counts.values())).tolist() + [None] * outside
    return pd.Series(names, dtype="string")


def test_districts_below_a_share_of_the_median_rate_are_uncovered() -> None:
    areas = coverage_areas([1000.0] * 5, list("ABCDE"))
    # per 1,000 residents and per km²: 100, 80, 60, 5, 0 -> median 60
    result = covered_districts(
        events_in({"A": 100, "B": 80, "C": 60, "D": 5}, outside=3), areas, min_rate_ratio=0.2
    )
    assert result.covered == ("A", "B", "C")
    assert result.uncovered == ("D", "E")
    assert result.events_outside_areas == 3
    table = result.table.set_index("district_name")
    assert tuple(result.table.columns) == COVERAGE_COLUMNS
    assert table["events"].tolist() == [100, 80, 60, 5, 0]
    np.testing.assert_allclose(table["events_per_1k_residents"], [100, 80, 60, 5, 0])
    np.testing.assert_allclose(table["ratio_residents"], [5 / 3, 4 / 3, 1, 1 / 12, 0])
    # 1 km² in British National Grid is within 0.1% of 1 km² in UTM
    np.testing.assert_allclose(table["area_km2"], 1.0, rtol=1e-3)
    np.testing.assert_allclose(table["ratio_area"], [5 / 3, 4 / 3, 1, 1 / 12, 0], rtol=1e-3)


def test_tiny_population_district_needs_events_for_its_land_too() -> None:
    # "City": 20 residents and 3 spill-over events: 150 per 1,000 residents (2.1 x the median
    # of 70) but 3 per km² (0.09 x the median of 32.5).
    areas = coverage_areas([1000.0] * 5 + [20.0], [*"ABCDE", "City"])
    events = events_in({"A": 100, "B": 80, "C": 60, "D": 5, "City": 3})
    both = covered_districts(events, areas, min_rate_ratio=0.2)
    city = both.table.set_index("district_name").loc["City"]
    assert city["ratio_residents"] == pytest.approx(150 / 70)
    assert city["ratio_area"] == pytest.approx(3 / 32.5, rel=1e-3)
    assert "City" in both.uncovered
    per_resident = covered_districts(events, areas, min_rate_ratio=0.2, basis="residents")
    assert "City" in per_resident.covered
    assert both.covered == ("A", "B", "C")


def test_district_without_residents_is_judged_by_area() -> None:
    areas = coverage_areas([1000.0, 1000.0, 1000.0, 0.0], ["A", "B", "C", "Park"])
    result = covered_districts(events_in({"A": 100, "B": 80, "C": 60, "Park": 50}), areas)
    park = result.table.set_index("district_name").loc["Park"]
    assert np.isnan(park["events_per_1k_residents"])
    assert np.isnan(park["ratio_residents"])
    assert "Park" in result.covered


def test_default_ratio_is_the_measured_one() -> None:
    assert DEFAULT_MIN_RATE_RATIO == 0.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_rate_ratio": 0.0}, r"'min_rate_ratio' must be in \(0, 1\].*got 0\.0"),
        ({"min_rate_ratio": 1.5}, r"got 1\.5"),
        ({"basis": "people"}, r"'basis' must be 'both', 'residents' or 'area'; got 'people'"),
    ],
)
def test_coverage_options_are_checked(kwargs: dict[str, Any], match: str) -> None:
    areas = coverage_areas([1000.0] * 3, list("ABC"))
    with pytest.raises(ValueError, match=match):
        covered_districts(events_in({"A": 1, "B": 1, "C": 1}), areas, **kwargs)


def test_coverage_refuses_unknown_districts_and_a_mostly_empty_sample() -> None:
    areas = coverage_areas([1000.0] * 3, list("ABC"))
    with pytest.raises(ValueError, match=r"2 event\(s\) name district\(s\) \['Z'\] that no area"):
        covered_districts(events_in({"A": 1, "Z": 2}), areas)
    with pytest.raises(ValueError, match=r"median district has no events per resident \(1 of 3"):
        covered_districts(events_in({"A": 10}), areas)
    with pytest.raises(
        ValueError,
        match=r"needs areas with a 'district_name' column.*"
        r"Closest names: 'district_name' -> 'district'",
    ):
        covered_districts(events_in({}), areas.rename(columns={"district_name": "district"}))


def test_districts_of_events_maps_area_codes() -> None:
    areas = coverage_areas([1.0] * 3, ["A", "A", "B"])
    codes = pd.Series(["A2", None, "A0"], dtype="string", index=[7, 8, 9])
    out = districts_of_events(codes, areas)
    assert out.index.tolist() == [7, 8, 9]
    assert out.tolist()[0] == "B" and pd.isna(out.iloc[1]) and out.iloc[2] == "A"
    with pytest.raises(
        ValueError,
        match=r"1 event\(s\) carry area codes the areas do not have, "
        r"e\.g\. \['Q1'\]",
    ):
        districts_of_events(pd.Series(["Q1"]), areas)


def test_restrict_to_covered_keeps_covered_districts_only() -> None:
    areas = coverage_areas([1000.0] * 6, [*"ABCDE", "A"])
    result = covered_districts(events_in({"A": 200, "B": 80, "C": 60, "D": 5}), areas)
    kept = restrict_to_covered(areas, result)
    assert kept["area_code"].tolist() == ["A0", "A1", "A2", "A5"]
    empty = type(result)((), result.table, 0.2, "both", 0)
    with pytest.raises(ValueError, match="No district is covered"):
        restrict_to_covered(areas, empty)


@pytest.mark.realdata
def test_london_api_sample_covers_25_of_33_boroughs(london_areas: gpd.GeoDataFrame) -> None:
    if not LONDON_EVENTS.is_file():
        pytest.skip(f"real data not present at {LONDON_EVENTS}")
    events = pd.read_csv(LONDON_EVENTS, usecols=["latitude", "longitude"])
    codes = locate_in_areas(
        events["latitude"].to_numpy(), events["longitude"].to_numpy(), areas=london_areas
    )
    result = covered_districts(districts_of_events(codes, london_areas), london_areas)
    assert set(result.uncovered) == UNCOVERED_LONDON
    assert len(result.covered) == 25
    table = result.table.set_index("district_name")
    worst_uncovered = table.loc[list(UNCOVERED_LONDON), ["ratio_residents", "ratio_area"]]
    worst_covered = table.loc[list(result.covered), ["ratio_residents", "ratio_area"]]
    # a wide margin either side of the default ratio
    assert worst_uncovered.min(axis=1).max() < DEFAULT_MIN_RATE_RATIO / 2
    assert worst_covered.min(axis=1).min() > DEFAULT_MIN_RATE_RATIO * 2
    kept = restrict_to_covered(london_areas, result)
    assert kept["district_name"].nunique() == 25


def test_coverage_summary_for_the_data_quality_report() -> None:
    areas = coverage_areas([1000.0] * 4 + [0.0], list("ABCDE"))
    result = covered_districts(
        events_in({"A": 100, "B": 80, "C": 60, "D": 5}, outside=3), areas, min_rate_ratio=0.2
    )
    summary = result.summary()
    assert summary.covered == ["A", "B", "C"]
    assert summary.uncovered == ["D", "E"]
    assert summary.events_outside_areas == 3
    assert "per resident and per km² reach 0.2 of the median district's" in summary.rule
    assert summary.districts["D"].events == 5
    assert summary.districts["D"].covered is False
    # no residents: no rate per resident, written as null
    assert summary.districts["E"].events_per_1k_residents is None
    assert summary.districts["E"].ratio_residents is None
    assert summary.model_dump(mode="json")["districts"]["E"]["ratio_residents"] is None
