"""What the district sheets say and draw: each district's flags against its expected crime, the
hours its flagged cells' crime falls in, and its map zoomed to it.

A district is a ``district_name`` of the forecast table or of the study areas (a district of the
areas that holds no cell's centre is still listed). Its share of the flags is its flagged cells
over the city's; its share of the expected crime (harm) is the sum of its cells' expected counts
(``risk_score``) over the city's. Both shares add up to 1 over the districts. Its hours are the
time bands' expected counts (``models.planner.bands``) summed over its flagged cells.

:func:`district_drawing` projects one district's picture (:class:`models.planner._svg.Projection`)
once; the HTML sheets (:mod:`models.planner.sheets`) and the PDF (:mod:`models.planner.sheets_pdf`)
draw the same shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from models.planner._svg import MAP_WIDTH, SIMPLIFY_UNITS, Projection
from models.planner.bands import BUSIEST_SHOWN
from models.planner.gis import cell_hexagons
from models.planner.map import OUTSIDE_AREAS
from models.timebands import ForecastBands

FloatArray = npt.NDArray[np.float64]

#: space around a district's own shapes on its map, as a share of the larger span
ZOOM_PAD: Final[float] = 0.06
#: area boundaries are simplified to this many drawing units (a pixel on screen)
AREA_SIMPLIFY_UNITS: Final[float] = 1.0
#: a neighbouring district is named on the map where this much of it shows (drawing units²)
LABEL_ROOM_UNITS2: Final[float] = 4000.0


@dataclass(frozen=True)
class DistrictFigures:
    """The figures of every district, in sheet order (by name, ``outside areas`` last)."""

    #: one row per district: ``district_name``, ``anchor`` (the sheet's id in the HTML),
    #: ``n_cells``, ``n_flagged``, ``flag_share``, ``expected_count`` (sum of its cells'
    #: ``risk_score``), ``harm_share`` and ``busiest`` (its busiest bands in words, or "")
    summary: pd.DataFrame
    #: ``[district, band]``: the expected count of its flagged cells in each band; None without
    #: time bands
    band_counts: FloatArray | None
    #: the bands in words (empty without time bands)
    band_labels: tuple[str, ...]
    #: why there are no time bands; None with them
    hours_reason: str | None


def district_names(table: pd.DataFrame, areas: gpd.GeoDataFrame) -> list[str]:
    """Every district of the forecast ``table`` and of the study ``areas``, by name, with the
    cells outside every area last."""
    names = set(table["district_name"].astype(str))
    if "district_name" in areas.columns:
        names |= set(areas["district_name"].dropna().astype(str))
    return sorted(names, key=lambda name: (name == OUTSIDE_AREAS, name.casefold(), name))


def _anchors(names: list[str]) -> list[str]:
    """An HTML id per district from its name (``district-north-gate``), unique."""
    slugs = [re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "x" for name in names]
    seen: dict[str, int] = {}
    out = []
    for slug in slugs:
        seen[slug] = seen.get(slug, 0) + 1
        out.append(f"district-{slug}" + (f"-{seen[slug]}" if seen[slug] > 1 else ""))
    return out


def district_figures(
    table: pd.DataFrame, areas: gpd.GeoDataFrame, bands: ForecastBands
) -> DistrictFigures:
    """Each district's flags, expected crime and hours (see the module's docstring).

    Parameters
    ----------
    table
        The published forecast table: ``district_name``, ``risk_score``, ``flagged``.
    areas
        The study areas (their ``district_name`` lists the districts without cells too).
    bands
        The forecast week's time bands, in the table's row order.
    """
    names = district_names(table, areas)
    code = pd.Categorical(table["district_name"].astype(str), categories=names).codes
    flagged = table["flagged"].to_numpy(dtype=bool)
    score = table["risk_score"].to_numpy(dtype=np.float64)
    n_cells = np.bincount(code, minlength=len(names))
    n_flagged = np.bincount(code, weights=flagged, minlength=len(names)).astype(np.int64)
    expected = np.bincount(code, weights=score, minlength=len(names))
    summary = pd.DataFrame(
        {
            "district_name": names,
            "anchor": _anchors(names),
            "n_cells": n_cells,
            "n_flagged": n_flagged,
            "flag_share": n_flagged / max(int(n_flagged.sum()), 1),
            "expected_count": expected,
            "harm_share": expected / expected.sum() if expected.sum() > 0 else 0.0 * expected,
        }
    )
    if bands.shares is None:
        return DistrictFigures(summary.assign(busiest=""), None, (), bands.reason or "")
    if bands.shares.shape[0] != len(table):
        raise ValueError(
            f"the time bands cover {bands.shares.shape[0]} cells, the forecast {len(table)}."
        )
    counts = np.zeros((len(names), len(bands.labels)))
    np.add.at(counts, code[flagged], bands.shares[flagged] * score[flagged, None])
    summary["busiest"] = busiest_in_words(counts, bands.labels)
    return DistrictFigures(summary, counts, bands.labels, None)


def busiest_in_words(counts: FloatArray, labels: tuple[str, ...]) -> list[str]:
    """Per row of ``counts`` (``[district, band]``), its :data:`BUSIEST_SHOWN` busiest bands with
    their shares of the row (``weekdays 16:00-20:00 (18%), ...``); "" for a row of zeros."""
    total = counts.sum(axis=1)
    top = np.argsort(-counts, axis=1, kind="stable")[:, :BUSIEST_SHOWN]
    share = np.take_along_axis(counts, top, axis=1) / np.where(total > 0, total, 1.0)[:, None]
    names = np.asarray(labels, dtype=object)[top]
    words = names + " (" + np.char.mod("%.0f", share * 100).astype(object) + "%)"
    joined = [", ".join(row) for row in words.tolist()]
    return [text if t > 0 else "" for text, t in zip(joined, total, strict=True)]


def cell_area_names(table: pd.DataFrame, areas: gpd.GeoDataFrame) -> npt.NDArray[np.object_]:
    """Per row of ``table``, the ``area_name`` of the study area holding its cell's centre ("" for
    none, or when the areas have no names)."""
    out = np.full(len(table), "", dtype=object)
    if areas.empty or "area_name" not in areas.columns or table.empty:
        return out
    shapes = areas.to_crs("EPSG:4326")
    centres = shapely.points(table["lon"].to_numpy(), table["lat"].to_numpy())
    cell, area = shapely.STRtree(shapes.geometry.to_numpy()).query(centres, predicate="within")
    order = np.lexsort((area, cell))  # a centre on a shared edge: the first area by row
    cell, area = cell[order], area[order]
    first = np.r_[True, cell[1:] != cell[:-1]] if cell.size else np.zeros(0, dtype=bool)
    names = shapes["area_name"].astype(str).to_numpy(dtype=object)
    out[cell[first]] = names[area[first]]
    return out


@dataclass(frozen=True)
class DistrictDrawing:
    """One district's map in drawing units (y down, as in SVG): shapes already projected."""

    projection: Projection
    #: its cells' hexagons, by rank, and which are flagged, with their ranks
    hexagons: npt.NDArray[np.object_]
    flagged: npt.NDArray[np.bool_]
    ranks: npt.NDArray[np.int64]
    #: its study areas' boundaries (street-scale context)
    areas: npt.NDArray[np.object_]
    #: its own outline (may be empty: cells outside every area)
    outline: npt.NDArray[np.object_]
    #: the other districts' outlines within the frame, and the names shown on the map
    neighbours: npt.NDArray[np.object_]
    neighbour_names: npt.NDArray[np.object_]
    #: where each name goes: inside the neighbour's drawn part, clear of the district's
    #: hexagons (a part too small for its name is not named)
    neighbour_label_xy: npt.NDArray[np.float64]


def district_drawing(
    name: str,
    cells: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame,
) -> DistrictDrawing:
    """The map of district ``name``: its cells (rows of the forecast table, by rank), its areas
    and outline, and the neighbouring outlines clipped to the frame.

    The frame holds the district's outline and every one of its hexagons, with
    :data:`ZOOM_PAD` around them.
    """
    hexes = cell_hexagons(cells["h3_cell"])
    own = outlines["name"].astype(str).to_numpy() == name
    shapes = np.asarray(outlines.geometry.to_numpy(), dtype=object)
    frame = np.concatenate([hexes, shapes[own]])
    if frame.size == 0:  # a district named by the areas alone, whose outline is empty
        raise ValueError(f"District {name!r} has neither cells nor an outline to draw.")
    project = Projection(shapely.total_bounds(frame), pad=ZOOM_PAD)
    west, south, east, north = project.lonlat_bounds
    others = shapely.clip_by_rect(shapes[~own], west, south, east, north)
    keep = ~shapely.is_empty(others)
    if areas.empty or "district_name" not in areas.columns:
        area_shapes = np.empty(0, dtype=object)
    else:
        mine = areas[areas["district_name"].astype(str) == name].to_crs("EPSG:4326")
        area_shapes = np.asarray(mine.geometry.make_valid().to_numpy(), dtype=object)

    def draw(geoms: npt.NDArray[np.object_], tolerance: float) -> npt.NDArray[np.object_]:
        drawn: npt.NDArray[np.object_] = shapely.simplify(
            shapely.transform(geoms, project), tolerance
        )
        return drawn

    drawn_hexes = shapely.transform(hexes, project)
    neighbours = draw(others[keep], SIMPLIFY_UNITS)
    names = outlines["name"].astype(str).to_numpy(dtype=object)[~own][keep]
    # a name goes where the neighbour shows: off the district's hexagons, inside the frame
    frame_box = shapely.box(0, 0, MAP_WIDTH, project.height)
    room = shapely.intersection(
        shapely.difference(neighbours, shapely.union_all(drawn_hexes)), frame_box
    )
    roomy = (shapely.area(room) >= LABEL_ROOM_UNITS2) & (names != "")
    return DistrictDrawing(
        projection=project,
        hexagons=drawn_hexes,
        flagged=cells["flagged"].to_numpy(dtype=bool),
        ranks=cells["risk_rank"].to_numpy(dtype=np.int64),
        areas=draw(area_shapes, AREA_SIMPLIFY_UNITS),
        outline=draw(shapes[own], SIMPLIFY_UNITS),
        neighbours=neighbours,
        neighbour_names=names[roomy],
        neighbour_label_xy=shapely.get_coordinates(shapely.point_on_surface(room[roomy])),
    )


def rank_font_units(hexagons: npt.NDArray[np.object_]) -> float:
    """A font size (drawing units) for the rank numbers on drawn hexagons: three digits fit."""
    if hexagons.size == 0:
        return 12.0
    bounds = shapely.bounds(hexagons)
    width = float(np.median(bounds[:, 2] - bounds[:, 0]))
    return float(np.clip(width * 0.3, 7.0, 22.0))


@dataclass(frozen=True)
class Wording:
    """What every sheet says the same way (the map page's words)."""

    #: the forecast period in words (:func:`models.planner.map.period_in_words`)
    when: str
    #: ``week`` or ``month``
    period: str
    #: the forecast's crime types in words (:func:`models.planner.map.crimes_in_words`)
    crimes: str
    #: ``operational.coverage`` and ``publish.interval_level`` as percentages (``5%``)
    coverage: str
    level: str
    audit_status: str
    #: the city's cells and flagged cells
    n_cells: int
    n_flagged: int
    #: the sentence on the hours of the week when there are no time bands (else "")
    no_hours: str


def no_flags_in_words(period: str) -> str:
    """What a district without a flagged cell says: ``no flagged hexagon this week``."""
    return f"no flagged hexagon this {period}"


def flagged_key_in_words(wording: Wording, *, n_flagged: int, n_cells: int) -> str:
    """The legend's line on the flagged cells, as the map says it, with the district's count."""
    return (
        f"Flagged: the {wording.coverage} of the area with the highest expected count "
        f"({n_flagged:,} of this district's {n_cells:,} hexagons; {wording.n_flagged:,} of "
        f"{wording.n_cells:,} in the whole area)."
    )


def share_sentence(row: pd.Series, wording: Wording, *, city_expected: float) -> str:
    """A district's share of the flags against its share of the expected crime, in words.

    ``row`` is a row of :attr:`DistrictFigures.summary`.
    """
    name = str(row["district_name"])
    harm = (
        f"{row['harm_share'] * 100:.1f}% of the expected crime of the whole area "
        f"({row['expected_count']:.1f} of {city_expected:.1f})"
    )
    if int(row["n_flagged"]) == 0:
        return f"{name} has {no_flags_in_words(wording.period)}; it holds {harm}."
    flags, harm_share = float(row["flag_share"]), float(row["harm_share"])
    if flags > 1.1 * harm_share:
        verdict = "a larger share of the flags than of the expected crime"
    elif flags < harm_share / 1.1:
        verdict = "a smaller share of the flags than of the expected crime"
    else:
        verdict = "about the same share of the flags as of the expected crime"
    return (
        f"{name} holds {flags * 100:.1f}% of the flagged hexagons ({int(row['n_flagged']):,} of "
        f"{wording.n_flagged:,}) and {harm}: {verdict}."
    )


#: why a district's shares of flags and of expected crime differ, said once on the index
SHARES_EXPLAINED: Final[str] = (
    "Flags go to the hexagons with the highest expected count wherever they are: a district "
    "whose expected crime is concentrated in a few hexagons holds a larger share of the flags "
    "than of the expected crime, and one whose crime is spread thinly a smaller share."
)
