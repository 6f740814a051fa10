"""The QGIS style: XML as QGIS writes a layer style, a categorised renderer on the forecast's
``flagged`` field with a symbol per category, and labels on the flagged cells' rank and count."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from models.forecast import FORECAST_COLUMNS
from models.planner.qml import LABEL_FIELDS, STYLED_FIELD, forecast_qml

WEEK_WORDS = "week of Monday 6 January 2025 to Sunday 12 January 2025"


def style() -> ET.Element:
    text = forecast_qml(coverage=0.05, period_words=WEEK_WORDS)
    assert text.startswith("<!DOCTYPE qgis ")
    return ET.fromstring(text)


def test_the_style_is_a_categorised_renderer_on_the_flagged_field() -> None:
    root = style()
    assert root.tag == "qgis" and root.get("labelsEnabled") == "1"
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "categorizedSymbol"
    assert f'"{STYLED_FIELD}"' in renderer.get("attr", "")
    categories = renderer.findall("categories/category")
    assert [c.get("value") for c in categories] == ["flagged", "not flagged"]
    assert categories[0].get("label") == (
        f"Flagged: the 5% of the area with the highest expected count, {WEEK_WORDS}"
    )
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    assert {c.get("symbol") for c in categories} == set(symbols)
    colours = {
        name: s.find("layer/Option/Option[@name='color']").get("value")  # type: ignore[union-attr]
        for name, s in symbols.items()
    }
    assert colours == {"0": "204,61,0,255", "1": "210,210,210,90"}  # strong and faint


def test_the_labels_name_the_rank_and_expected_count_of_flagged_cells() -> None:
    text_style = style().find("labeling[@type='simple']/settings/text-style")
    assert text_style is not None and text_style.get("isExpression") == "1"
    expression = text_style.get("fieldName", "")
    assert expression.startswith(f'CASE WHEN "{STYLED_FIELD}" THEN')
    named = set(re.findall(r'"([a-z0-9_]+)"', expression))
    assert named == {STYLED_FIELD, *LABEL_FIELDS}
    assert named <= set(FORECAST_COLUMNS)  # every field it reads is published
