"""The forecast map page: self-contained (nothing to fetch), every cell drawn and every flagged
one ranked in the table, the legend naming the coverage and the period in words, district names
escaped, and the same forecast giving the same bytes."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from planner_city import MONTH, WEEK, toy_forecast
from toy_areas import DISTRICTS, toy_areas

from models.planner.map import (
    crimes_in_words,
    district_outlines,
    forecast_map_html,
    period_in_words,
)


class Page(HTMLParser):
    """Every start tag with its attributes, the text of <script> and <style>, the other text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.code: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        (self.code if self._in else self.text).append(data)


def render(table: pd.DataFrame, outlines: gpd.GeoDataFrame, **kw: object) -> str:
    options: dict[str, object] = {
        "period": "week",
        "period_start": WEEK,
        "coverage": 0.2,
        "interval_level": 0.8,
        "target_types": ("burglary", "theft_person"),
        "audit_status": "pass with review",
    }
    return forecast_map_html(table, outlines, **{**options, **kw})  # type: ignore[arg-type]


def test_the_page_fetches_nothing(table: pd.DataFrame, outlines: gpd.GeoDataFrame) -> None:
    page = Page(render(table, outlines))
    links = [
        (tag, key, value)
        for tag, attrs in page.tags
        for key, value in attrs.items()
        if key in ("src", "href", "xlink:href", "action", "srcset", "data")
    ]
    assert [link for link in links if re.match(r"\s*(https?:)?//", link[2] or "")] == []
    assert {value for _, _, value in links} == {"bias_report.html", "model_card.md"}  # beside it
    assert not [t for t, _ in page.tags if t in ("link", "img", "iframe", "object", "embed")]
    assert all("src" not in attrs for tag, attrs in page.tags if tag == "script")
    code = "".join(page.code)
    assert "@import" not in code and "url(" not in code and "fetch(" not in code
    assert "XMLHttpRequest" not in code and "http://" not in code and "https://" not in code


def test_every_cell_is_drawn_and_every_flagged_one_ranked(
    table: pd.DataFrame, outlines: gpd.GeoDataFrame
) -> None:
    page = Page(render(table, outlines))
    cells = [a for t, a in page.tags if t == "path" and "data-r" in a]
    assert sorted(int(str(a["data-r"])) for a in cells) == sorted(table["risk_rank"])
    for attrs in cells:  # one closed hexagon each: a move, five lines, a close
        d = str(attrs["d"])
        assert d.count("M") == 1 and d.endswith("Z") and len(re.findall(r"[\d.]+,[\d.]+", d)) == 6
    flagged = table[table["flagged"]].sort_values("risk_rank")
    rows = [int(str(a["data-r"])) for t, a in page.tags if t == "tr" and "data-r" in a]
    assert rows == flagged["risk_rank"].tolist()
    assert len(rows) >= 2 and len(rows) < len(table)
    text = " ".join(page.text)
    first = flagged.iloc[0]
    row = (
        f"{first['risk_rank']} {first['district_name']} {first['risk_score']:.2f} "
        f"{first['risk_low_80']} to {first['risk_high_80']}"
    )
    assert row in re.sub(r"\s+", " ", text)


def test_the_cells_data_behind_the_hover_box_is_the_table(
    table: pd.DataFrame, outlines: gpd.GeoDataFrame
) -> None:
    page = render(table, outlines)
    raw = re.search(r'<script type="application/json" id="cell-data">(.*?)</script>', page)
    assert raw is not None
    data = json.loads(raw.group(1))
    ranked = table.sort_values("risk_rank")
    assert data["n"] == len(table)
    assert [data["districts"][i] for i in data["district"]] == ranked["district_name"].tolist()
    assert data["score"] == [f"{x:.2f}" for x in ranked["risk_score"]]
    assert data["low"] == ranked["risk_low_80"].tolist()
    assert data["high"] == ranked["risk_high_80"].tolist()
    assert data["flagged"] == ranked["flagged"].astype(int).tolist()


def test_the_legend_names_the_coverage_and_the_week(
    table: pd.DataFrame, outlines: gpd.GeoDataFrame
) -> None:
    text = re.sub(r"\s+", " ", " ".join(Page(render(table, outlines)).text))
    n_flagged = int(table["flagged"].sum())
    assert "Crime forecast for the week of Monday 6 January 2025 to Sunday 12 January 2025" in text
    assert f"the 20% of the area with the highest expected count ({n_flagged} of 61 hexagons)" in (
        text
    )
    assert "these types: burglary and theft from the person" in text
    assert "count falls in this range 80% of the time" in text
    assert "partly reflects where police were sent" in text  # the feedback-loop caveat
    assert "Bias audit: pass with review" in text
    assert all(name in text for name in DISTRICTS)  # the districts are named on the map


def test_a_monthly_forecast_says_its_month(cells: pd.DataFrame, outlines: gpd.GeoDataFrame) -> None:
    monthly = toy_forecast(cells, period="month")
    page = render(monthly, outlines, period="month", period_start=MONTH)
    assert "Crime forecast for the month of February 2025" in page
    assert "expects in the hexagon in that month" in re.sub(r"\s+", " ", page)


def test_an_override_is_said_above_the_map(table: pd.DataFrame, outlines: gpd.GeoDataFrame) -> None:
    assert "Published under an override" not in render(table, outlines)
    assert "Published under an override" in render(table, outlines, audit_status="override")


def test_hostile_district_names_are_text(cells: pd.DataFrame) -> None:
    name = '</script><img src=x onerror="alert(1)">&'
    table = toy_forecast(cells.assign(district_name=name))
    areas = toy_areas(cells).assign(district_name=[name, "B"])
    page = render(table, district_outlines(areas))
    assert "<img" not in page and "</script><" not in page.replace("</script>\n<script>", "")
    parsed = Page(page)
    assert not [t for t, _ in parsed.tags if t == "img"]
    raw = re.search(r'id="cell-data">(.*?)</script>', page)
    assert raw is not None and json.loads(raw.group(1))["districts"] == [name]
    assert name in " ".join(parsed.text)  # shown as the name it is


def test_the_same_forecast_gives_the_same_page(cells: pd.DataFrame) -> None:
    first = render(toy_forecast(cells), district_outlines(toy_areas(cells)))
    again = render(toy_forecast(cells), district_outlines(toy_areas(cells)))
    assert first == again


def test_outlines_are_districts_or_the_whole_study_area(cells: pd.DataFrame) -> None:
    areas = toy_areas(cells)
    by_district = district_outlines(areas)
    assert by_district["name"].tolist() == sorted(DISTRICTS)
    whole = district_outlines(areas.drop(columns="district_name"))
    assert whole["name"].tolist() == [""]
    assert shapely.equals(whole.geometry.iloc[0], areas.union_all())
    assert district_outlines(areas.iloc[:0]).empty


def test_a_study_without_areas_still_gets_its_map(table: pd.DataFrame, cells: pd.DataFrame) -> None:
    page = render(table, district_outlines(toy_areas(cells).iloc[:0]))
    assert page.count("<path data-r=") == len(table)
    assert '<g class="districts"></g>' in page


@pytest.mark.parametrize(
    ("start", "period", "words"),
    [
        (dt.date(2024, 12, 30), "week", "week of Monday 30 December 2024 to Sunday 5 January 2025"),
        (dt.date(2025, 3, 1), "month", "month of March 2025"),
    ],
)
def test_the_period_in_words(start: dt.date, period: str, words: str) -> None:
    assert period_in_words(start, period=period) == words  # type: ignore[arg-type]


def test_the_crime_types_in_words() -> None:
    assert crimes_in_words(("burglary",)) == "burglary"
    assert crimes_in_words(("burglary", "robbery", "violence_sexual")) == (
        "burglary, robbery and violence and sexual offences"
    )


def test_the_panel_of_recent_forecasts_draws_both_series_under_the_legend(
    table: pd.DataFrame, outlines: gpd.GeoDataFrame
) -> None:
    from track_inputs import toy_track_record

    record = toy_track_record()
    page = render(table, outlines, track=record)
    assert "How recent forecasts did" not in render(table, outlines)  # none without a record
    ids = [attrs.get("id") for _, attrs in Page(page).tags if attrs.get("id")]
    assert ids.index("legend") < ids.index("info") < ids.index("recent")  # under the legend
    points = re.findall(
        r'data-series="(\w+)" data-period="([\d-]+)" data-hit-rate="([\d.]+)"', page
    )
    by_series: dict[str, dict[str, float]] = {}
    for series, period, rate in points:
        by_series.setdefault(series, {})[period] = float(rate)
    drawn = record.backtest.dropna(subset=["hit_rate"])
    assert by_series["backtest"] == {
        d.isoformat(): pytest.approx(r, abs=5e-7)
        for d, r in zip(drawn["period_start"], drawn["hit_rate"], strict=True)
    }
    assert by_series["published"] == {
        d.isoformat(): pytest.approx(r, abs=5e-7)
        for d, r in zip(record.published["period_start"], record.published["hit_rate"], strict=True)
    }
    # the week without crime is a gap in the backtest's line, not a point at 0
    assert len(by_series["backtest"]) == 11 and len(by_series["baseline"]) == 12
    assert "best baseline: self-exciting model ETAS, B7" in page
    assert "etas" not in " ".join(Page(page).text)  # no code name shown to the reader
    assert render(table, outlines, track=record) == page
