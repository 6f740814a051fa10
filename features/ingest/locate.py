"""Which area polygon contains each point: the study-area check of validation and the area of
every accepted event.

:func:`containing_polygons` visits polygons in area-code order, so a point on an edge shared by
two areas belongs to the first by code; :func:`locate_in_areas` gives the codes as text. No point
geometries are built: ten million points take seconds and little memory.
"""

from __future__ import annotations

from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def locate_in_areas(
    latitude: np.ndarray, longitude: np.ndarray, *, areas: gpd.GeoDataFrame
) -> pd.Series:
    """Area code of the polygon containing each point (first by code on shared edges), else NA.

    A point on a polygon's edge is inside it.
    """
    found, codes = containing_polygons(latitude, longitude, areas=areas)
    out = np.full(len(found), None, dtype=object)
    placed = found >= 0
    out[placed] = codes[found[placed]]
    return pd.Series(out, dtype="string")


#: up to this many polygons, each scans every point; beyond, points are bucketed once
_FEW_POLYGONS: Final[int] = 16


def containing_polygons(
    latitude: np.ndarray, longitude: np.ndarray, *, areas: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Index into the returned area codes of the polygon containing each point, -1 for none.

    Polygons are visited in area-code order and each
    tests, in one vectorised call, the still-unplaced points inside its bounding box. The points
    are bucketed once on a regular grid of about four buckets per polygon, sorted by bucket, so a
    polygon's candidates are the few slices of buckets its box overlaps, not a strip across the
    whole study area. No point geometries are built, which keeps ten million points to seconds
    and little memory; the loops are over polygons (thousands) and their bucket rows, never over
    points.
    """
    if "area_code" not in areas.columns:
        raise ValueError(f"The areas table needs an 'area_code' column; it has {list(areas)}.")
    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    polys = areas[["area_code", "geometry"]].to_crs("EPSG:4326")
    codes = polys["area_code"].to_numpy(dtype=object)
    geoms = polys.geometry.to_numpy()
    bounds = shapely.bounds(geoms)
    rank = pd.factorize(codes, sort=True)[0]
    rank = np.where(rank < 0, len(codes), rank)  # a missing code comes last
    every = np.arange(len(lat))
    grid = _PointGrid(lon, lat, n_buckets=4 * len(codes)) if len(codes) > _FEW_POLYGONS else None
    found = np.full(len(lat), -1, dtype=np.int64)
    for i in np.lexsort((np.arange(len(codes)), rank)):
        min_lon, min_lat, max_lon, max_lat = bounds[i]
        if not np.isfinite(bounds[i]).all():
            continue  # an empty or missing geometry contains nothing
        candidates = every if grid is None else grid.in_box(min_lon, min_lat, max_lon, max_lat)
        candidates = candidates[found[candidates] < 0]
        c_lon = lon[candidates]
        c_lat = lat[candidates]
        in_box = (c_lon >= min_lon) & (c_lon <= max_lon) & (c_lat >= min_lat) & (c_lat <= max_lat)
        candidates = candidates[in_box]
        if candidates.size:
            inside = shapely.intersects_xy(geoms[i], lon[candidates], lat[candidates])
            found[candidates[inside]] = i
    return found, codes


class _PointGrid:
    """Points bucketed on a regular longitude x latitude grid over their extent, sorted by bucket:
    the points whose bucket overlaps a box are a few contiguous slices (one per bucket row).

    Points with a missing coordinate are in no bucket. Buckets come from the same arithmetic for
    points and boxes, which is monotone, so every point inside a box is in a slice (the caller
    still tests the box exactly)."""

    def __init__(self, lon: np.ndarray, lat: np.ndarray, *, n_buckets: int) -> None:
        finite = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        self.side = max(1, int(np.sqrt(n_buckets)))
        self.empty = finite.size == 0
        if self.empty:
            self.order = finite
            return
        self.x0, self.y0 = float(lon[finite].min()), float(lat[finite].min())
        self.wx = (float(lon[finite].max()) - self.x0) / self.side or 1.0
        self.wy = (float(lat[finite].max()) - self.y0) / self.side or 1.0
        bucket = self._row(lat[finite]) * self.side + self._column(lon[finite])
        by_bucket = np.argsort(bucket, kind="stable")
        self.order = finite[by_bucket]
        self.start = np.searchsorted(bucket[by_bucket], np.arange(self.side * self.side + 1))

    def _column(self, lon: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((lon - self.x0) / self.wx), 0, self.side - 1).astype(np.int64)

    def _row(self, lat: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((lat - self.y0) / self.wy), 0, self.side - 1).astype(np.int64)

    def in_box(self, min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> np.ndarray:
        """Positions of the points in the buckets the box overlaps (a superset of those inside)."""
        if self.empty:
            return self.order
        c0, c1 = self._column(np.array([min_lon, max_lon]))
        r0, r1 = self._row(np.array([min_lat, max_lat]))
        rows = np.arange(r0, r1 + 1) * self.side
        return np.concatenate(
            [self.order[self.start[r + c0] : self.start[r + c1 + 1]] for r in rows]
        )
