"""The drawing machinery the map page and the district sheets share: lon/lat to drawing units,
polygons as SVG path data, name labels and a round scale-bar length.

Drawing units are the SVG's (:data:`MAP_WIDTH` across); the district sheets' PDF uses the same
units with y flipped, so the HTML and PDF sheets show the same picture.
"""

from __future__ import annotations

import html
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

#: width of a drawing in its units; its height follows the drawn area's shape
MAP_WIDTH: Final[float] = 1000.0
#: the fill of a flagged cell (QGIS style: ``models.planner.qml.FLAGGED_RGBA``)
FLAGGED_COLOUR: Final[str] = "#cc3d00"
#: boundaries are simplified to this many drawing units (half a pixel on screen)
SIMPLIFY_UNITS: Final[float] = 0.5


class Projection:
    """Lon/lat to drawing units: equirectangular about the middle latitude, north up (distances
    true to well under 1% over a city), with ``pad`` of the larger span around ``bounds``."""

    def __init__(self, bounds: npt.NDArray[np.float64], *, pad: float = 0.02) -> None:
        west, south, east, north = (float(v) for v in bounds)
        self.kx = float(np.cos(np.radians((south + north) / 2)))
        span_x = max((east - west) * self.kx, 1e-9)
        margin = pad * max(span_x, north - south)
        self.west, self.north = west - margin / self.kx, north + margin
        self.scale = MAP_WIDTH / (span_x + 2 * margin)
        self.height = round((north - south + 2 * margin) * self.scale, 1)

    def __call__(self, lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = (lonlat[:, 0] - self.west) * self.kx * self.scale
        y = (self.north - lonlat[:, 1]) * self.scale
        return np.column_stack([x, y])

    @property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """The drawn frame in lon/lat: west, south, east, north."""
        east = self.west + MAP_WIDTH / (self.scale * self.kx)
        return self.west, self.north - self.height / self.scale, east, self.north

    @property
    def units_per_km(self) -> float:
        return self.scale / 111.32  # a degree of latitude is 111.32 km


def ring_paths(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """One SVG path ``d`` per polygon or multipolygon: each ring as ``Mx,yLx,y x,y ...Z``."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    out = np.full(len(geoms), "", dtype=object)
    if len(coords) == 0:
        return out
    xy = np.char.mod("%.1f", coords[:, 0]).astype(object) + ","
    xy = xy + np.char.mod("%.1f", coords[:, 1]).astype(object)
    first = np.r_[True, ring_of[1:] != ring_of[:-1]]
    closing = np.r_[ring_of[1:] != ring_of[:-1], True]  # a ring's last corner repeats its first
    second = np.r_[False, first[:-1]]
    last_drawn = np.r_[closing[1:], False]
    prefix = np.where(first, "M", np.where(second, "L", " ")).astype(object)
    token = prefix + xy + np.where(last_drawn, "Z", "").astype(object)
    owner = part_owner[ring_part[ring_of]]
    joined = pd.Series(token[~closing]).groupby(owner[~closing], sort=True).agg("".join)
    out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def name_labels(names: npt.NDArray[np.object_], drawn: npt.NDArray[np.object_]) -> str:
    """SVG ``<text>`` of each name at a point inside its drawn polygon (none for an empty
    name or an empty polygon)."""
    if len(names) == 0:
        return ""
    named = np.asarray([bool(x) for x in names], dtype=bool) & ~shapely.is_empty(drawn)
    if not named.any():
        return ""
    xy = shapely.get_coordinates(shapely.point_on_surface(drawn[named]))
    esc = [html.escape(str(x)) for x in names[named]]
    return "".join(
        f'<text x="{x:.1f}" y="{y:.1f}">{name}</text>' for (x, y), name in zip(xy, esc, strict=True)
    )


def label_anchors(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    """SVG ``text-anchor`` of labels at ``xy``: a name near the drawing's left edge starts at its
    point, one near the right edge ends there, so that neither runs off the frame."""
    x = xy[:, 0] if len(xy) else np.zeros(0)
    anchors: npt.NDArray[np.str_] = np.where(
        x < 0.12 * MAP_WIDTH, "start", np.where(x > 0.88 * MAP_WIDTH, "end", "middle")
    )
    return anchors


def text_labels(names: npt.NDArray[np.object_], xy: npt.NDArray[np.float64]) -> str:
    """SVG ``<text>`` of each name at its point (drawing units), escaped, anchored to stay inside
    the drawing (:func:`label_anchors`)."""
    esc = [html.escape(str(x)) for x in names]
    anchors = label_anchors(xy)
    return "".join(
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{a}">{name}</text>'
        for (x, y), name, a in zip(xy, esc, anchors, strict=True)
    )


def scale_bar_km(project: Projection) -> float:
    """A round length (1, 2 or 5 times a power of ten km) about a tenth of the drawing's width."""
    target = MAP_WIDTH / 10 / project.units_per_km
    power = 10 ** np.floor(np.log10(target))
    for step in (5, 2, 1):
        if step * power <= target:
            return float(step * power)
    return float(power)


def scale_and_north(project: Projection) -> str:
    """The scale bar (bottom left) and the north arrow (top right) as SVG."""
    km = scale_bar_km(project)
    bar, h = km * project.units_per_km, project.height
    return (
        f'<g class="scale" transform="translate(20 {h - 24:.1f})">'
        f'<rect width="{bar:.1f}" height="5"/><text x="0" y="-6">0</text>'
        f'<text x="{bar:.1f}" y="-6" text-anchor="middle">{km:g} km</text></g>\n'
        f'<text class="north" x="{MAP_WIDTH - 24:g}" y="34" text-anchor="middle">N &#8593;</text>\n'
    )
