"""The forecast map in headless Chromium with every request but ``file://`` aborted: the page asks
for nothing else, the flagged cells are drawn in their colour, the legend names the coverage and
the week, the line of recent forecasts is drawn under it, pointing at a cell shows its figures,
and it prints on two A4 landscape pages."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from headless_chromium import CHROMIUM_ARGS, require_chromium
from planner_city import WEEK, toy_cells, toy_forecast
from toy_areas import toy_areas
from track_inputs import toy_track_record

from models.planner.map import FLAGGED_COLOUR, district_outlines, forecast_map_html
from models.track_chart import STYLES

pytestmark = pytest.mark.e2e

FLAGGED_RGB = tuple(int(FLAGGED_COLOUR[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def forecast() -> pd.DataFrame:
    return toy_forecast(toy_cells(radius=10), coverage=0.1)


@pytest.fixture(scope="module")
def shown(forecast: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Open the page offline; what it requested, logged and showed, and its screenshots."""
    browser_bin = require_chromium()
    from playwright.sync_api import Route, sync_playwright

    folder = tmp_path_factory.mktemp("map")
    page_path = folder / "forecast_map.html"
    page_path.write_text(
        forecast_map_html(
            forecast,
            district_outlines(toy_areas(toy_cells(radius=10))),
            period="week",
            period_start=WEEK,
            coverage=0.1,
            interval_level=0.8,
            target_types=("burglary",),
            audit_status="pass",
            track=toy_track_record(),
        ),
        encoding="utf-8",
    )
    requests: list[str] = []
    errors: list[str] = []

    def only_files(route: Route) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    out: dict[str, Any] = {
        "map_png": folder / "map.png",
        "page_png": folder / "page.png",
        "line_png": folder / "line.png",
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_bin, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
        page.route("**/*", only_files)
        page.goto(page_path.as_uri(), wait_until="load")
        page.screenshot(path=str(out["page_png"]))
        page.locator("#map").screenshot(path=str(out["map_png"]))
        # the drawn area of the flagged hexagons, in CSS pixels (a hexagon is 3/4 of its box)
        out["flagged_px"] = page.evaluate(
            """() => [...document.querySelectorAll('.cells.flagged path')]
                .map(p => p.getBoundingClientRect())
                .map(b => 0.75 * b.width * b.height)
                .reduce((a, b) => a + b, 0)"""
        )
        out["legend"] = page.locator("#legend").inner_text()
        line = page.locator("#recent svg.track")
        line.scroll_into_view_if_needed()
        line.screenshot(path=str(out["line_png"]))
        out["line_box"] = line.bounding_box()
        out["recent"] = page.locator("#recent").inner_text()
        out["line_paths"] = page.evaluate(
            """() => [...document.querySelectorAll('#recent svg.track .series path')]
                .map(p => [p.getAttribute('stroke'), p.getTotalLength()])"""
        )
        page.hover('path[data-r="1"]')
        out["hover"] = page.locator("#info").inner_text()
        page.locator('#ranked tr[data-r="2"]').click()
        out["selected"] = page.evaluate(
            "() => [...document.querySelectorAll('.sel')].map(e => e.tagName + e.dataset.r)"
        )
        out["clicked"] = page.locator("#info").inner_text()
        page.emulate_media(media="print")
        out["pdf"] = page.pdf(format="A4", landscape=True, prefer_css_page_size=True)
        browser.close()
    out["requests"], out["errors"], out["page_uri"] = requests, errors, page_path.as_uri()
    return out


def test_the_page_requests_only_itself_and_runs_clean(shown: dict[str, Any]) -> None:
    assert shown["requests"] == [shown["page_uri"]]
    assert shown["errors"] == []


def test_the_flagged_cells_are_drawn_in_their_colour(
    shown: dict[str, Any], forecast: pd.DataFrame
) -> None:
    from PIL import Image

    with Image.open(shown["map_png"]) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    flagged = (np.abs(pixels - FLAGGED_RGB).max(axis=1) <= 3).sum()
    faint = (np.abs(pixels - (230, 230, 230)).max(axis=1) <= 3).sum()
    expected = shown["flagged_px"]
    n_flagged = int(forecast["flagged"].sum())
    assert n_flagged >= 20 and expected > 20 * n_flagged  # hexagons big enough to count on
    assert 0.5 * expected < flagged <= 1.05 * expected  # filled, less their outlines
    assert faint > 3 * flagged  # the other cells, faint, around them


def test_the_legend_names_the_coverage_and_the_week(
    shown: dict[str, Any], forecast: pd.DataFrame
) -> None:
    legend = " ".join(shown["legend"].split())
    assert "Forecast for the week of Monday 6 January 2025 to Sunday 12 January 2025" in legend
    n_flagged = int(forecast["flagged"].sum())
    assert f"Flagged: the 10% of the area with the highest expected count ({n_flagged} of " in (
        legend
    )


def test_the_line_of_recent_forecasts_is_drawn_under_the_legend(shown: dict[str, Any]) -> None:
    from PIL import Image

    box = shown["line_box"]
    assert box is not None and box["width"] > 250 and box["height"] > 90  # the side's width
    lengths = dict(shown["line_paths"])
    for series in ("published", "backtest", "baseline"):
        assert lengths[STYLES[series][0]] > 50, series  # each series a line, not a dot
    with Image.open(shown["line_png"]) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    for series in ("published", "backtest"):
        rgb = tuple(int(STYLES[series][0][i : i + 2], 16) for i in (1, 3, 5))
        assert (np.abs(pixels - rgb).max(axis=1) <= 40).sum() > 100, series  # visibly drawn
    recent = " ".join(shown["recent"].split())
    assert "published forecasts, scored after the week" in recent
    assert "backtest: the model's forecast of past weeks" in recent
    assert "best baseline: self-exciting model ETAS, B7" in recent
    assert "30 Dec 2024 36.0%, 7.20 34.0%, 6.80 32.0%, 6.40" in recent  # the table


def test_pointing_at_a_cell_shows_its_figures(
    shown: dict[str, Any], forecast: pd.DataFrame
) -> None:
    top = forecast.set_index("risk_rank").loc[1]
    hover = " ".join(shown["hover"].split())
    assert f"Rank 1 of {len(forecast)}: flagged" in hover
    assert f"District: {top['district_name']}" in hover
    assert (
        f"Expected count {top['risk_score']:.2f}, likely range {top['risk_low_80']} to "
        f"{top['risk_high_80']}." in hover
    )
    assert sorted(shown["selected"]) == ["TR2", "path2"]  # the row and its cell, together
    assert "Rank 2 of" in shown["clicked"]


def test_it_prints_on_two_a4_landscape_pages(shown: dict[str, Any]) -> None:
    pdf: bytes = shown["pdf"]
    sizes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 2  # the map, then the ranked table
    assert {(round(float(w)), round(float(h))) for w, h in sizes} == {(842, 595)}  # A4 landscape
