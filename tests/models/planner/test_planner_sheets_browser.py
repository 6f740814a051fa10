"""The district sheets in headless Chromium with every request but ``file://`` aborted: a
district's link shows its sheet alone, its flagged cells drawn in their colour, its legend naming
the coverage and the week; printed, the page gives the index and one A4 page per district."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from headless_chromium import CHROMIUM_ARGS, require_chromium
from planner_city import WEEK, toy_cells, toy_forecast
from stage_files import panel_meta
from toy_areas import DISTRICTS, toy_areas

from beatwise.artefacts.panel import PanelMeta
from models.planner._svg import FLAGGED_COLOUR
from models.planner.bands import busiest_bands
from models.planner.sheets import SHEETS_HTML, district_sheets
from models.timebands import ForecastBands, TimeBandsConfig, band_labels

pytestmark = pytest.mark.e2e

FLAGGED_RGB = tuple(int(FLAGGED_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
NORTH = DISTRICTS[1]


@pytest.fixture(scope="module")
def forecast() -> pd.DataFrame:
    return toy_forecast(toy_cells(radius=10), coverage=0.1)


@pytest.fixture(scope="module")
def shown(forecast: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Open one district's sheet offline; what it requested, logged and showed."""
    browser_bin = require_chromium()
    from playwright.sync_api import Route, sync_playwright

    config = TimeBandsConfig()
    shares = np.full((len(forecast), config.n_bands), 1 / config.n_bands)
    bands = ForecastBands(band_labels(config), shares, None, 52)
    files = district_sheets(
        forecast,
        toy_areas(toy_cells(radius=10)),
        panel=PanelMeta.from_json(panel_meta(forecast_period=str(WEEK))),
        coverage=0.1,
        interval_level=0.8,
        audit_status="pass",
        bands=bands,
        busiest=busiest_bands(forecast, bands),
    )
    folder = tmp_path_factory.mktemp("sheets")
    page_path = folder / SHEETS_HTML
    page_path.write_bytes(files[SHEETS_HTML])
    requests: list[str] = []
    errors: list[str] = []

    def only_files(route: Route) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    anchor = f"district-{NORTH.lower()}"
    out: dict[str, Any] = {"map_png": folder / "map.png", "sheet_png": folder / "sheet.png"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_bin, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
        page.route("**/*", only_files)
        page.goto(f"{page_path.as_uri()}#{anchor}", wait_until="load")
        page.screenshot(path=str(out["sheet_png"]))
        sheet_map = page.locator(f"#{anchor} .district-map")
        sheet_map.screenshot(path=str(out["map_png"]))
        # the drawn area of the flagged hexagons, in CSS pixels (a hexagon is 3/4 of its box)
        out["flagged_px"] = page.evaluate(
            f"""() => [...document.querySelectorAll('#{anchor} .cells.flagged path')]
                .map(p => p.getBoundingClientRect())
                .map(b => 0.75 * b.width * b.height)
                .reduce((a, b) => a + b, 0)"""
        )
        out["visible"] = page.evaluate(
            """() => [...document.querySelectorAll('header, section')]
                .filter(e => e.offsetParent !== null || e.getClientRects().length > 0)
                .map(e => e.id || e.tagName)"""
        )
        out["legend"] = page.locator(f"#{anchor} .legend").inner_text()
        page.goto(page_path.as_uri(), wait_until="load")  # the whole page: index and sheets
        page.emulate_media(media="print")
        out["pdf"] = page.pdf(format="A4", prefer_css_page_size=True)
        browser.close()
    out["requests"], out["errors"] = requests, errors
    out["page_uri"] = f"{page_path.as_uri()}#{anchor}"
    return out


def test_the_sheet_requests_only_itself_and_runs_clean(shown: dict[str, Any]) -> None:
    assert [r.split("#")[0] for r in shown["requests"]] == [shown["page_uri"].split("#")[0]] * len(
        shown["requests"]
    )
    assert shown["errors"] == []


def test_a_districts_link_shows_its_sheet_alone(shown: dict[str, Any]) -> None:
    assert shown["visible"] == [f"district-{NORTH.lower()}"]


def test_the_flagged_cells_are_drawn_in_their_colour(
    shown: dict[str, Any], forecast: pd.DataFrame
) -> None:
    from PIL import Image

    with Image.open(shown["map_png"]) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    flagged = (np.abs(pixels - FLAGGED_RGB).max(axis=1) <= 3).sum()
    expected = shown["flagged_px"]
    n_flagged = int((forecast["flagged"] & (forecast["district_name"] == NORTH)).sum())
    assert n_flagged >= 20 and expected > 20 * n_flagged  # hexagons big enough to count on
    # filled, less their outlines and the rank numbers written on them
    assert 0.5 * expected < flagged <= 1.05 * expected
    faint = (np.abs(pixels - (230, 230, 230)).max(axis=1) <= 12).sum()
    assert faint > flagged  # the district's other cells, faint, around them


def test_the_legend_names_the_coverage_and_the_week(
    shown: dict[str, Any], forecast: pd.DataFrame
) -> None:
    legend = " ".join(shown["legend"].split())
    assert "Forecast for the week of Monday 6 January 2025 to Sunday 12 January 2025" in legend
    mine = forecast["district_name"] == NORTH
    n_flagged = int((forecast["flagged"] & mine).sum())
    assert (
        f"Flagged: the 10% of the area with the highest expected count ({n_flagged} of this "
        f"district's {int(mine.sum())} hexagons;"
    ) in legend


def test_it_prints_the_index_and_one_a4_page_per_district(shown: dict[str, Any]) -> None:
    pdf: bytes = shown["pdf"]
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1 + len(DISTRICTS)
    assert {(round(float(w)), round(float(h))) for w, h in sizes} == {(595, 842)}  # A4 portrait
