"""H3 indexing for millions of points, and conversions between integer and string cell ids."""

from __future__ import annotations

import h3
import numpy as np
import numpy.typing as npt
from h3ronpy import vector

#: The H3 resolutions Beatwise models on: 5 (about 250 km² per cell) to 11 (about 2,000 m²).
#: A source may support fewer (the synthetic city's true risk stops at 10).
MIN_RESOLUTION = 5
MAX_RESOLUTION = 11


def index_points(
    latitude: npt.ArrayLike, longitude: npt.ArrayLike, *, resolution: int
) -> npt.NDArray[np.uint64]:
    """Return the H3 cell (as uint64) that contains each WGS84 point, vectorised.

    Refuses non-finite or out-of-range coordinates with a ValueError: callers validate and
    quarantine bad coordinates before indexing, so meeting one here is a bug upstream.
    """
    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    if lat.shape != lon.shape:
        raise ValueError(f"latitude and longitude differ in shape: {lat.shape} vs {lon.shape}.")
    if not (0 <= resolution <= 15):
        raise ValueError(f"H3 resolution must be an int in [0, 15]. Got {resolution}.")
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} points have missing or out-of-range coordinates.")
    if lat.size == 0:
        return np.empty(0, dtype=np.uint64)
    cells = vector.coordinates_to_cells(lat, lon, resolution)
    return np.asarray(cells.to_numpy(), dtype=np.uint64)


def cells_to_str(cells: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Integer H3 ids -> lowercase hex strings (the form people and GIS tools read)."""
    arr = np.asarray(cells, dtype=np.uint64)
    return np.array([format(int(c), "x") for c in arr], dtype=object)


def cells_to_int(cells: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """Hex string H3 ids -> uint64."""
    return np.array([int(c, 16) for c in np.asarray(cells, dtype=object)], dtype=np.uint64)


def cell_centroids(cells: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return (lat, lon) of each cell's centre."""
    arr = np.asarray(cells, dtype=np.uint64)
    latlng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in arr], dtype=np.float64)
    latlng = latlng.reshape(-1, 2)
    return latlng[:, 0], latlng[:, 1]


def cell_areas_km2(cells: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Exact area of each cell in km² (H3 cells of one resolution differ in area by up to ~2x)."""
    arr = np.asarray(cells, dtype=np.uint64)
    return np.array([h3.cell_area(h3.int_to_str(int(c)), unit="km^2") for c in arr])


def ring_neighbours(
    cells: npt.ArrayLike, *, k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pairs (i, j, d) of positions in ``cells`` whose grid distance d is in [0, k].

    Only pairs where both cells are in ``cells`` are returned, so a study-area edge has fewer
    neighbours rather than phantom zero cells. Cost is O(n·k²) h3 calls, done once per study area
    (cells, not events or cell-weeks).
    """
    arr = np.asarray(cells, dtype=np.uint64)
    pos = {int(c): i for i, c in enumerate(arr)}
    rows_i: list[int] = []
    rows_j: list[int] = []
    rows_d: list[int] = []
    for i, c in enumerate(arr):
        origin = h3.int_to_str(int(c))
        for ring in range(k + 1):
            for nb in h3.grid_ring(origin, ring):
                j = pos.get(h3.str_to_int(nb))
                if j is not None:
                    rows_i.append(i)
                    rows_j.append(j)
                    rows_d.append(ring)
    return (
        np.asarray(rows_i, dtype=np.int64),
        np.asarray(rows_j, dtype=np.int64),
        np.asarray(rows_d, dtype=np.int64),
    )
