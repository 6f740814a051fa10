"""The district sheets: every district listed (one without flags said so in words), shares of the
flags and of the expected crime that add up, a district's hours the sum of its flagged cells'
bands, a PDF of one A4 page per district after the index, and the same bytes in every process."""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from planner_city import WEEK, toy_forecast
from stage_files import panel_meta
from toy_areas import DISTRICTS, toy_areas

from beatwise.artefacts.panel import PanelMeta
from models.planner.bands import band_table, busiest_bands
from models.planner.districts import district_figures
from models.planner.sheets import SHEETS_HTML, SHEETS_PDF, district_sheets
from models.timebands import ForecastBands, TimeBandsConfig, band_labels

ROOT = Path(__file__).resolve().parents[3]
COVERAGE = 0.05
SOUTH, NORTH = DISTRICTS
#: a district of the study areas that holds no cell (east of the toy disc)
EMPTY = "Eastmarsh"
PANEL = PanelMeta.from_json(
    panel_meta(forecast_period=str(WEEK), target_types=["burglary", "theft_person"])
)


@pytest.fixture(scope="module")
def table(cells: pd.DataFrame) -> pd.DataFrame:
    """The toy forecast flagging few enough cells that all lie in the north-east."""
    return toy_forecast(cells, coverage=COVERAGE)


@pytest.fixture(scope="module")
def areas(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """The toy's two districts and a third, east of them, where no cell lies."""
    two = toy_areas(cells)
    west, south, east, north = two.total_bounds
    third = gpd.GeoDataFrame(
        {
            "area_code": ["A3"],
            "area_name": ["Marsh area"],
            "district_name": [EMPTY],
            "residents": [10.0],
        },
        geometry=[shapely.box(east, south, east + (east - west) / 3, north)],
        crs="EPSG:4326",
    )
    return gpd.GeoDataFrame(pd.concat([two, third], ignore_index=True), crs="EPSG:4326")


@pytest.fixture(scope="module")
def bands(table: pd.DataFrame) -> ForecastBands:
    config = TimeBandsConfig()
    raw = np.random.default_rng(7).gamma(2.0, size=(len(table), config.n_bands))
    return ForecastBands(band_labels(config), raw / raw.sum(axis=1, keepdims=True), None, 52)


def sheets(table: pd.DataFrame, areas: gpd.GeoDataFrame, bands: ForecastBands) -> dict[str, bytes]:
    return district_sheets(
        table,
        areas,
        panel=PANEL,
        coverage=COVERAGE,
        interval_level=0.8,
        audit_status="pass",
        bands=bands,
        busiest=busiest_bands(table, bands),
    )


@pytest.fixture(scope="module")
def files(table: pd.DataFrame, areas: gpd.GeoDataFrame, bands: ForecastBands) -> dict[str, bytes]:
    return sheets(table, areas, bands)


def text_of(page: str) -> str:
    """The words of an HTML fragment, as a reader sees them."""
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))
    return re.sub(r"\s+([.,;:)])", r"\1", words).replace("( ", "(")


def test_the_shares_of_the_flags_and_of_the_expected_crime_add_up(
    table: pd.DataFrame, areas: gpd.GeoDataFrame, bands: ForecastBands
) -> None:
    summary = district_figures(table, areas, bands).summary.set_index("district_name")
    assert list(summary.index) == sorted([SOUTH, NORTH, EMPTY])  # every district, by name
    assert summary["flag_share"].sum() == pytest.approx(1.0)
    assert summary["harm_share"].sum() == pytest.approx(1.0)
    by_district = table.groupby("district_name")
    for name in (SOUTH, NORTH):
        assert summary.loc[name, "n_flagged"] == by_district["flagged"].sum()[name]
        assert summary.loc[name, "n_cells"] == by_district.size()[name]
        assert summary.loc[name, "expected_count"] == pytest.approx(
            by_district["risk_score"].sum()[name]
        )
        assert summary.loc[name, "harm_share"] == pytest.approx(
            by_district["risk_score"].sum()[name] / table["risk_score"].sum()
        )
    assert summary.loc[EMPTY, ["n_cells", "n_flagged", "flag_share", "harm_share"]].eq(0).all()


def test_a_district_without_flags_is_listed_and_said_so(
    table: pd.DataFrame, files: dict[str, bytes]
) -> None:
    assert not table.loc[table["district_name"] == SOUTH, "flagged"].any()  # the toy's premise
    assert table["flagged"].sum() >= 3
    page = files[SHEETS_HTML].decode()
    index = text_of(page.split('<section class="sheet"')[0])
    for name in (SOUTH, EMPTY):
        assert re.search(rf"{name} 0 0\.0% [\d.]+% no flagged hexagon this week", index), name
        assert f'<a href="#district-{name.lower()}">{name}</a>' in page
    sheet = text_of(page.split(f'id="district-{SOUTH.lower()}"')[1].split("</section>")[0])
    assert f"{SOUTH} has no flagged hexagon this week; it holds" in sheet
    assert "This district has no flagged hexagon this week." in sheet
    north = text_of(page.split(f'id="district-{NORTH.lower()}"')[1].split("</section>")[0])
    n_flagged = int(table["flagged"].sum())
    assert f"{NORTH} holds 100.0% of the flagged hexagons ({n_flagged} of {n_flagged})" in north


def test_a_districts_hours_are_the_sum_of_its_flagged_cells_bands(
    table: pd.DataFrame, areas: gpd.GeoDataFrame, bands: ForecastBands, files: dict[str, bytes]
) -> None:
    figures = district_figures(table, areas, bands)
    assert figures.band_counts is not None
    rows = band_table(table, bands)  # forecast_bands.csv: one row per flagged cell and band
    summed = rows.pivot_table(
        index="district_name", columns="band", values="band_expected_count", aggfunc="sum"
    )[list(figures.band_labels)]
    north = int(np.flatnonzero(figures.summary["district_name"] == NORTH)[0])
    # the CSV rounds each cell's count to three decimals
    np.testing.assert_allclose(figures.band_counts[north], summed.loc[NORTH], atol=1e-3 * 20)
    assert figures.band_counts[figures.summary["n_flagged"].to_numpy() == 0].sum() == 0
    top = int(np.argmax(figures.band_counts[north]))
    sheet = files[SHEETS_HTML].decode().split(f'id="district-{NORTH.lower()}"')[1]
    assert re.search(
        rf"<tr class=\"busy\"><td>{figures.band_labels[top]}</td><td class=\"n\">"
        rf"{figures.band_counts[north, top]:.2f}</td>",
        sheet,
    )
    share = figures.band_counts[north, top] / figures.band_counts[north].sum()
    assert f"{figures.band_labels[top]} ({share * 100:.0f}%)" in figures.summary["busiest"][north]


def test_without_time_bands_the_sheets_give_the_reason(
    table: pd.DataFrame, areas: gpd.GeoDataFrame
) -> None:
    reason = "the source records only the month of each crime"
    none = ForecastBands((), None, reason=reason, history_periods=None)
    page = sheets(table, areas, none)[SHEETS_HTML].decode()
    assert page.count(f"No hours of the week: {reason}.") == 1 + 3  # the index and each sheet
    assert "Busiest hours of its flagged hexagons" not in page


def test_each_sheet_has_its_map_legend_and_ranked_cells(
    table: pd.DataFrame, files: dict[str, bytes]
) -> None:
    page = files[SHEETS_HTML].decode()
    north = page.split(f'id="district-{NORTH.lower()}"')[1].split("</section>")[0]
    flagged = table[table["flagged"]].sort_values("risk_rank")
    n_north = int((table["district_name"] == NORTH).sum())
    legend = text_of(north)
    assert "Forecast for the week of Monday 6 January 2025 to Sunday 12 January 2025." in legend
    assert (
        f"Flagged: the 5% of the area with the highest expected count ({len(flagged)} of this "
        f"district's {n_north} hexagons; {len(flagged)} of {len(table)} in the whole area)."
    ) in legend
    svg = re.search(r'<svg class="district-map".*?</svg>', north, flags=re.S)
    assert svg is not None
    flagged_paths = re.search(r'<g class="cells flagged">(.*?)</g>', svg.group(0))
    assert flagged_paths is not None and flagged_paths.group(1).count("<path") == len(flagged)
    assert re.findall(r'<g class="ranks"[^>]*>(.*?)</g>', svg.group(0))[0].count("<text") == len(
        flagged
    )
    ranked = re.findall(r'<tr><td class="n">(\d+)</td><td>([^<]*)</td>', north)
    assert [int(r) for r, _ in ranked] == flagged["risk_rank"].tolist()
    assert {area for _, area in ranked} <= {"South area", "North area"}  # the areas named
    assert 'class="areas"' in north and "Southfield</text>" in north  # context drawn, named
    # nothing to fetch: the only links are to this page and the files beside it
    links = set(re.findall(r'(?:href|src)="([^"]*)"', page))
    assert {x for x in links if not x.startswith("#")} == {"bias_report.html", "forecast_map.html"}
    assert "<script" not in page and "url(" not in page and "@import" not in page


def test_the_pdf_has_an_index_page_and_one_a4_page_per_district(files: dict[str, bytes]) -> None:
    pdf = files[SHEETS_PDF]
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1 + 3  # the index, three districts
    sizes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf))
    assert {(round(float(w)), round(float(h))) for w, h in sizes} == {(595, 842)}  # A4 portrait
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf


def test_a_monthly_forecast_says_month(
    areas: gpd.GeoDataFrame, cells: pd.DataFrame, bands: ForecastBands
) -> None:
    table = toy_forecast(cells, coverage=COVERAGE, period="month")
    monthly = PanelMeta.from_json(
        panel_meta(
            period="month", forecast_period="2025-02-01", all_periods=["2024-01-01", "2025-01-01"]
        )
    )
    page = district_sheets(
        table,
        areas,
        panel=monthly,
        coverage=COVERAGE,
        interval_level=0.8,
        audit_status="pass",
        bands=ForecastBands((), None, "monthly data", None),
        busiest=[""] * len(table),
    )[SHEETS_HTML].decode()
    # the time bands are hours of a week, and monthly data have none: said in those words
    words = text_of(page).replace("No hours of the week: monthly data.", "")
    words = words.replace("Hours of the week", "")
    assert "no flagged hexagon this month" in words and "week" not in words
    assert "month of February 2025" in words


#: build the sheets from pickled inputs in a fresh process and write the two files
WRITE_SHEETS = """
import pickle, sys
from pathlib import Path
from models.planner.bands import busiest_bands
from models.planner.sheets import district_sheets
table, areas, bands, panel = pickle.loads(Path(sys.argv[1]).read_bytes())
files = district_sheets(table, areas, panel=panel, coverage=0.05, interval_level=0.8,
                        audit_status="pass", bands=bands, busiest=busiest_bands(table, bands))
for name, data in files.items():
    Path(sys.argv[2], name).write_bytes(data)
"""


def test_the_same_forecast_gives_the_same_bytes_across_processes(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    bands: ForecastBands,
    files: dict[str, bytes],
    tmp_path: Path,
) -> None:
    inputs = tmp_path / "inputs.pkl"
    inputs.write_bytes(pickle.dumps((table, areas, bands, PANEL)))
    written = []
    for run, seed in (("a", "1"), ("b", "2")):  # string hashing differs between the two
        (tmp_path / run).mkdir()
        subprocess.run(
            [sys.executable, "-c", WRITE_SHEETS, str(inputs), str(tmp_path / run)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
        )
        written.append({p.name: p.read_bytes() for p in (tmp_path / run).iterdir()})
    assert written[0] == written[1] == files
    later = PanelMeta.from_json(panel_meta(forecast_period=str(WEEK + dt.timedelta(days=7))))
    other = district_sheets(
        table,
        areas,
        panel=later,
        coverage=COVERAGE,
        interval_level=0.8,
        audit_status="pass",
        bands=bands,
        busiest=busiest_bands(table, bands),
    )
    assert other[SHEETS_PDF] != files[SHEETS_PDF]  # the week is printed: a test that can fail


def test_writing_the_pdf_keeps_the_stage_log_readable(
    table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    bands: ForecastBands,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        sheets(table, areas, bands)
    assert [r.name for r in caplog.records if r.name.startswith("fontTools")] == []
    assert any("district sheets: 3 districts" in r.getMessage() for r in caplog.records)
    assert logging.getLogger("fontTools").level == logging.NOTSET  # put back after writing
