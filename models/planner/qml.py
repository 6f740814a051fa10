"""``forecast.qml``: a QGIS layer style for the published forecast's hexagons.

Flagged cells are filled in the map's flagged colour and labelled with their rank and expected
count; the other cells are a faint grey with no label. The style is a categorised renderer
(``categorizedSymbol``) on an expression of the ``flagged`` field, so that it reads the same
from the GeoJSON, the GeoPackage and the GeoParquet, whichever way their driver types a
boolean. It is the XML QGIS writes for a layer style (``<qgis>``, ``<renderer-v2>``,
``<labeling>``), limited to the symbology and labelling categories.
"""

from __future__ import annotations

from typing import Final
from xml.etree import ElementTree as ET

#: the field the categories follow, and the fields the labels read
STYLED_FIELD: Final[str] = "flagged"
LABEL_FIELDS: Final[tuple[str, str]] = ("risk_rank", "risk_score")
#: flagged cells: the map's colour (``models.planner.map``), as QGIS's "r,g,b,a"
FLAGGED_RGBA: Final[str] = "204,61,0,255"
FLAGGED_OUTLINE_RGBA: Final[str] = "122,36,0,255"
#: the other cells, faint
UNFLAGGED_RGBA: Final[str] = "210,210,210,90"
UNFLAGGED_OUTLINE_RGBA: Final[str] = "170,170,170,120"
#: the category expression: a word per cell, whatever type the driver gave ``flagged``
CATEGORY_EXPRESSION: Final[str] = (
    f"CASE WHEN \"{STYLED_FIELD}\" THEN 'flagged' ELSE 'not flagged' END"
)
#: the label of a flagged cell ("#12 1.8": its rank and expected count); none for the others
LABEL_EXPRESSION: Final[str] = (
    f"CASE WHEN \"{STYLED_FIELD}\" THEN '#' || \"{LABEL_FIELDS[0]}\" || ' ' || "
    f'format_number("{LABEL_FIELDS[1]}", 1) END'
)


def _fill_symbol(name: str, *, fill: str, outline: str, outline_mm: float) -> ET.Element:
    symbol = ET.Element(
        "symbol",
        {
            "type": "fill",
            "name": name,
            "alpha": "1",
            "clip_to_extent": "1",
            "force_rhr": "0",
        },
    )
    layer = ET.SubElement(
        symbol, "layer", {"class": "SimpleFill", "pass": "0", "enabled": "1", "locked": "0"}
    )
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in (
        ("color", fill),
        ("outline_color", outline),
        ("outline_style", "solid"),
        ("outline_width", f"{outline_mm:g}"),
        ("outline_width_unit", "MM"),
        ("style", "solid"),
        ("joinstyle", "bevel"),
    ):
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    return symbol


def forecast_qml(*, coverage: float, period_words: str) -> str:
    """The QGIS style (``.qml`` XML) of the forecast's hexagons.

    Parameters
    ----------
    coverage
        ``operational.coverage``: the share of the study area flagged, named in the legend.
    period_words
        The forecast period in words (``week of Monday 30 December 2024``), in the legend.
    """
    share = f"{coverage * 100:g}%"
    root = ET.Element(
        "qgis",
        {
            "version": "3.34.0-Prizren",
            "styleCategories": "Symbology|Labeling",
            "labelsEnabled": "1",
        },
    )
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": "categorizedSymbol",
            "attr": CATEGORY_EXPRESSION,
            "symbollevels": "0",
            "enableorderby": "0",
            "forceraster": "0",
            "referencescale": "-1",
        },
    )
    categories = ET.SubElement(renderer, "categories")
    ET.SubElement(
        categories,
        "category",
        {
            "render": "true",
            "symbol": "0",
            "value": "flagged",
            "label": f"Flagged: the {share} of the area with the highest expected count, "
            f"{period_words}",
        },
    )
    ET.SubElement(
        categories,
        "category",
        {"render": "true", "symbol": "1", "value": "not flagged", "label": "Not flagged"},
    )
    symbols = ET.SubElement(renderer, "symbols")
    symbols.append(
        _fill_symbol("0", fill=FLAGGED_RGBA, outline=FLAGGED_OUTLINE_RGBA, outline_mm=0.3)
    )
    symbols.append(
        _fill_symbol("1", fill=UNFLAGGED_RGBA, outline=UNFLAGGED_OUTLINE_RGBA, outline_mm=0.1)
    )
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    labeling = ET.SubElement(root, "labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    text_style = ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": LABEL_EXPRESSION,
            "isExpression": "1",
            "fontFamily": "Sans Serif",
            "fontSize": "7",
            "fontSizeUnit": "Point",
            "fontWeight": "75",
            "textColor": "0,0,0,255",
            "textOpacity": "1",
            "namedStyle": "Bold",
            "multilineHeight": "1",
        },
    )
    ET.SubElement(
        text_style,
        "text-buffer",
        {
            "bufferDraw": "1",
            "bufferSize": "0.8",
            "bufferSizeUnits": "MM",
            "bufferColor": "255,255,255,255",
            "bufferOpacity": "0.9",
            "bufferNoFill": "1",
            "bufferJoinStyle": "128",
        },
    )
    ET.SubElement(settings, "text-format", {"wrapChar": "", "multilineAlign": "3"})
    # placement 1 = over the point (the polygon's centre); obstacles off so labels may overlap
    ET.SubElement(settings, "placement", {"placement": "1", "centroidWhole": "0"})
    ET.SubElement(
        settings,
        "rendering",
        {"obstacle": "0", "displayAll": "0", "scaleVisibility": "0", "limitNumLabels": "0"},
    )
    ET.SubElement(root, "layerGeometryType").text = "2"  # polygons
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"
