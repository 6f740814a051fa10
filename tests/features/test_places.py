"""Tests for features.places: place covariates from a hand-built file (points and polygons),
the "open at the period's start" rule, validation errors naming file, row and column, and the
dictionary of the new columns."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from pydantic import ValidationError

from beatwise.period import Period, period_range
from features.dictionary import check_columns
from features.engineering import FeatureConfig, build_feature_table
from features.places import PlacesConfig, read_places

# Resolution-9 study cells: C0, one of its ring-1 neighbours C1, and a cell C3 three rings away.
_ORIGIN = h3.latlng_to_cell(51.5074, -0.1278, 9)
_RING1 = sorted(h3.grid_ring(_ORIGIN, 1))[0]
_FAR = sorted(c for c in h3.grid_ring(_ORIGIN, 3) if h3.grid_distance(c, _RING1) >= 2)[0]
_OUTSIDE = sorted(c for c in h3.grid_ring(_ORIGIN, 1) if h3.grid_distance(c, _FAR) > 2)[-1]
_IDS = sorted(h3.str_to_int(c) for c in (_ORIGIN, _RING1, _FAR))
CELLS = np.array(_IDS, dtype=np.uint64)
C0, C1, C3 = (_IDS.index(h3.str_to_int(c)) for c in (_ORIGIN, _RING1, _FAR))
WEEKS = period_range("2024-01-01", "2024-02-26", period="week")  # 9 Mondays; forecast 03-04
CONFIG = FeatureConfig(
    target_types=("burglary",), lags=(1,), rolling_windows=(2,), decay_half_lives=(1,),
    rings=(1,), min_history_periods=1, since_cap=6,
    places=PlacesConfig(path="set by the tests", radius_rings=(0, 1)),
)  # fmt: skip


def _lonlat(cell: str) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return lon, lat


def _csv(tmp_path: Path, rows: list[dict], name: str = "places.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows, columns=["kind", "lon", "lat", "opened", "closed"]).fillna("").to_csv(
        path, index=False
    )
    return path


def _place(kind: str, cell: str, opened: str = "", closed: str = "") -> dict:
    lon, lat = _lonlat(cell)
    return {"kind": kind, "lon": lon, "lat": lat, "opened": opened, "closed": closed}


HAND_BUILT = [
    _place("station", _ORIGIN),  # always there
    _place("shop", _RING1, opened="2024-01-17"),  # a Wednesday: open from Monday 01-22
    _place("shop", _ORIGIN, opened="2024-01-29"),  # a Monday: open that very week
    _place("shop", _FAR, opened="2023-06-01", closed="2024-02-06"),  # closes on a Tuesday
    _place("station", _OUTSIDE, opened="2024-02-12"),  # outside the study cells, next to C0
]


def _table(path: Path, config: FeatureConfig = CONFIG, period: Period = "week") -> pd.DataFrame:
    periods = WEEKS if period == "week" else period_range("2023-01-01", "2024-03-01", period=period)
    places = read_places(config.places.model_copy(update={"path": str(path)}), resolution=9)
    counts = {"burglary": np.zeros((periods.size, CELLS.size), dtype=np.int32)}
    table, _ = build_feature_table(counts, cell_ids=CELLS, periods=periods, period=period,
                                   config=config, places=places)  # fmt: skip
    return table


def _series(table: pd.DataFrame, cell: int, column: str) -> list[float]:
    hexid = format(int(CELLS[cell]), "x")
    return table.loc[table["h3_cell"] == hexid, column].tolist()


def test_hand_built_places_count_only_while_open(tmp_path: Path) -> None:
    table = _table(_csv(tmp_path, HAND_BUILT))
    # rows: weeks 01-08 .. 03-04 (9 rows; the first has one week of history)
    assert _series(table, C0, "plc_station_disk0") == [1] * 9
    assert _series(table, C1, "plc_shop_disk0") == [0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert _series(table, C0, "plc_shop_disk0") == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    # ring 1 of C0 holds C1's shop, and the station outside the study cells from 02-12
    assert _series(table, C0, "plc_shop_disk1") == [0, 0, 1, 2, 2, 2, 2, 2, 2]
    assert _series(table, C0, "plc_station_disk1") == [1, 1, 1, 1, 1, 2, 2, 2, 2]
    # the far shop drops out from the week after it closed (it is open on Monday 02-05)
    assert _series(table, C3, "plc_shop_disk0") == [1, 1, 1, 1, 1, 0, 0, 0, 0]
    # weeks since the newest open shop within 1 ring opened: 0 in its first week, capped at 6
    assert _series(table, C0, "wks_since_plc_shop_opened") == [6, 6, 0, 0, 1, 2, 3, 4, 5]
    assert _series(table, C3, "wks_since_plc_shop_opened") == [6, 6, 6, 6, 6, 6, 6, 6, 6]
    # the always-there station gives the cap; the new one outside resets it
    assert _series(table, C0, "wks_since_plc_station_opened") == [6, 6, 6, 6, 6, 0, 1, 2, 3]
    assert _series(table, C3, "plc_station_disk1") == [0] * 9


def test_monthly_places_and_kinds_subset(tmp_path: Path) -> None:
    config = CONFIG.model_copy(
        update={"places": PlacesConfig(path="set", kinds=("shop",), radius_rings=(0,))}
    )
    table = _table(_csv(tmp_path, HAND_BUILT), config=config, period="month")
    assert [c for c in table.columns if "plc" in c] == [
        "plc_shop_disk0",
        "mths_since_plc_shop_opened",
    ]
    months = table.loc[table["h3_cell"] == format(int(CELLS[C1]), "x"), "period_start"]
    opened = _series(table, C1, "plc_shop_disk0")
    # opened 2024-01-17: not open on 01-01, open on 02-01
    assert dict(zip(months.dt.strftime("%Y-%m"), opened, strict=True))["2024-01"] == 0
    assert dict(zip(months.dt.strftime("%Y-%m"), opened, strict=True))["2024-02"] == 1


def test_polygons_count_once_where_they_intersect(tmp_path: Path) -> None:
    # a polygon over C0 and C1 (their two hexagons' union), a park always there
    both = shapely.union(
        shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(_ORIGIN)]),
        shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(_RING1)]),
    ).buffer(-1e-6)
    frame = gpd.GeoDataFrame(
        {"kind": ["park", "venue"], "opened": ["", "2024-02-01"], "closed": ["", ""]},
        geometry=[both, shapely.Point(*_lonlat(_FAR))],
        crs="EPSG:4326",
    )
    path = tmp_path / "places.geojson"
    frame.to_file(path, driver="GeoJSON")
    table = _table(path)
    assert _series(table, C0, "plc_park_disk0") == [1] * 9
    assert _series(table, C1, "plc_park_disk0") == [1] * 9
    assert _series(table, C0, "plc_park_disk1") == [1] * 9  # once, though it covers two cells
    assert _series(table, C3, "plc_park_disk1") == [0] * 9
    assert _series(table, C3, "plc_venue_disk0") == [0, 0, 0, 0, 1, 1, 1, 1, 1]  # from 02-05
    # a GeoPackage with real date columns reads the same
    dated = frame.assign(opened=pd.to_datetime(frame["opened"]), closed=pd.NaT)
    gpkg = tmp_path / "places.gpkg"
    dated.to_file(gpkg, driver="GPKG")
    pd.testing.assert_frame_equal(_table(gpkg), table)


#: (the change to data row 2, the column named, the rule and the value the message quotes)
BAD_ROWS = [
    ({"lat": "951.2"}, "lat", r"must be a number in \[-90, 90\]", "951\\.2"),
    ({"lon": "east"}, "lon", r"must be a number in \[-180, 180\]", "east"),
    ({"kind": "Big Shop"}, "kind", "must be a snake_case kind", "Big Shop"),
    ({"opened": "17/01/2024"}, "opened", "must be empty or an ISO date YYYY-MM-DD", "17/01/2024"),
    (
        {"closed": "2024-01-10"},
        "closed",
        "must be after opened",
        "opened 2024-01-17, closed 2024-01-10",
    ),
]


@pytest.mark.parametrize(("change", "column", "rule", "value"), BAD_ROWS)
def test_bad_rows_are_refused_naming_file_row_and_column(
    tmp_path: Path, change: dict, column: str, rule: str, value: str
) -> None:
    rows = [dict(r) for r in HAND_BUILT]
    rows[1].update(change)
    path = _csv(tmp_path, rows)
    message = rf"{path.name}: column '{column}' {rule}; data row 2 has '{value}'\. 1 of the 5 rows"
    with pytest.raises(ValueError, match=message):
        read_places(PlacesConfig(path=str(path)), resolution=9)


def test_bad_files_and_keys_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(
        FileNotFoundError,
        match=r"'features\.places\.path' parameter .* names "
        r"'.*nowhere\.csv', which is not a file",
    ):
        read_places(PlacesConfig(path=str(missing)), resolution=9)
    odd = tmp_path / "places.txt"
    odd.write_text("kind,lon,lat\n")
    with pytest.raises(
        ValueError,
        match=r"expected a \.csv, \.gpkg, \.geojson, \.json file\. "
        r"Got the suffix '\.txt'",
    ):
        read_places(PlacesConfig(path=str(odd)), resolution=9)
    no_lat = tmp_path / "no_lat.csv"
    pd.DataFrame({"kind": ["shop"], "lon": [0.1]}).to_csv(no_lat, index=False)
    with pytest.raises(ValueError, match=r"no_lat\.csv lacks the column\(s\) \['lat'\]"):
        read_places(PlacesConfig(path=str(no_lat)), resolution=9)
    path = _csv(tmp_path, HAND_BUILT)
    with pytest.raises(
        ValueError,
        match=r"'features\.places\.kinds' parameter names \['school'\]"
        r", which .* does not hold; it holds \['shop', 'station'\]",
    ):
        read_places(PlacesConfig(path=str(path), kinds=("shop", "school")), resolution=9)
    road = shapely.LineString([(0, 51), (0.1, 51)])
    lines = gpd.GeoDataFrame({"kind": ["road"]}, geometry=[road], crs="EPSG:4326")
    roads = tmp_path / "roads.geojson"
    lines.to_file(roads, driver="GeoJSON")
    with pytest.raises(
        ValueError,
        match=r"column 'geometry' must be a point, polygon or "
        r"multipolygon; feature 1 has 'LineString'",
    ):
        read_places(PlacesConfig(path=str(roads)), resolution=9)


def test_places_config_is_validated() -> None:
    assert PlacesConfig() == PlacesConfig(path=None, kinds=None, radius_rings=(0, 1))
    for bad in ({"radius_rings": [1, 0]}, {"radius_rings": []}, {"radius_rings": [6]}):
        with pytest.raises(ValidationError, match=r"features\.places\.radius_rings must be"):
            PlacesConfig.model_validate(bad)
    for kinds in (["Shop"], [], ["shop", "shop"]):
        with pytest.raises(ValidationError, match=r"features\.places\.kinds must be null or"):
            PlacesConfig.model_validate({"kinds": kinds})
    with pytest.raises(ValidationError, match=r"features\.places\.path must be a file path"):
        PlacesConfig.model_validate({"path": " "})
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        FeatureConfig.model_validate({"places": {"pth": "x.csv"}})


def test_places_at_another_resolution_are_refused(tmp_path: Path) -> None:
    places = read_places(PlacesConfig(path=str(_csv(tmp_path, HAND_BUILT))), resolution=8)
    counts = {"burglary": np.zeros((WEEKS.size, CELLS.size), dtype=np.int32)}
    with pytest.raises(
        ValueError, match=r"indexed at H3 resolution 8, but the study cells are at 9"
    ):
        build_feature_table(counts, cell_ids=CELLS, periods=WEEKS, period="week", config=CONFIG,
                            places=places)  # fmt: skip


@pytest.mark.parametrize("period", ["week", "month"])
def test_the_dictionary_documents_parent_and_place_columns(tmp_path: Path, period: Period) -> None:
    config = CONFIG.model_copy(update={"parent_resolutions": (8, 7)})
    table = _table(_csv(tmp_path, HAND_BUILT), config=config, period=period)
    assert {"par8_cnt_all_mean_hist", "plc_shop_disk1"} <= set(table.columns)
    check_columns(table.columns, config=config, period=period)
    with pytest.raises(ValueError, match=r"not in the feature dictionary: \['plc_shop_disk2'\]"):
        check_columns([*table.columns, "plc_shop_disk2"], config=config, period=period)
