"""Place covariates: stations, licensed premises, shops... from a user-supplied file of points or
polygons (``features.places``), as per cell-period features.

The file (one row per place; the contract the synthetic city writes too):

- a CSV with ``kind`` (snake_case), ``lon``, ``lat`` (WGS84 degrees) and optional ``opened`` /
  ``closed`` (ISO dates ``YYYY-MM-DD``; empty: always there / still open); or
- a GeoPackage or GeoJSON (read by geopandas) with ``kind``, ``opened``, ``closed`` and a point,
  polygon or multipolygon geometry instead of ``lon``/``lat``.

A place is *open in period t* when its ``opened`` is empty or at or before the start of ``t``, and
its ``closed`` is empty or after that start. Opening dates are known in advance for real places
(a licence is granted before a venue opens), so a place that opens on a period's first day
counts in that period: the rule is "opened <= period start", never "opened before the last
observed period". The features of cell ``c`` in period ``t`` count only places open in ``t``:

- ``plc_<kind>_disk<d>``: open places of the kind in the cells within ``d`` H3 rings of ``c``
  (``d = 0``: the cell itself), whether those cells are in the study area or not; a polygon counts
  once where it intersects any of those cells;
- ``<wks|mths>_since_plc_<kind>_opened``: periods from the opening of the most recently opened
  open place of the kind within the largest ring radius to the start of ``t`` (0: it opened
  at or before this period's start and after the previous one's), capped at ``since_cap``; the
  cap too when none is open there, or when every one is always there (no ``opened``).

Bad rows are refused with the file, the data row and the column (a covariate file is small and
hand-made; a silently dropped station would bias every cell near it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h3ronpy
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from h3ronpy import vector
from pydantic import BaseModel, ConfigDict, field_validator

from beatwise.h3index import index_points
from beatwise.period import Period, period_offsets, shift_periods
from features.multires import cells_resolution

logger = logging.getLogger(__name__)

#: a place kind, as it appears in the feature names
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: name prefix of the place features
PLACE_PREFIX: str = "plc_"
#: the file suffixes read as vector files (geopandas) rather than CSV
VECTOR_SUFFIXES: tuple[str, ...] = (".gpkg", ".geojson", ".json")
#: examples of failing rows an error message shows
EXAMPLES = 5


class PlacesConfig(BaseModel):
    """Which place covariates ``build_feature_table`` builds (``features.places``).

    Attributes
    ----------
    path
        The places file (CSV, GeoPackage or GeoJSON), relative to the folder DVC runs in. None
        (default): no place features.
    kinds
        The kinds to build features of; None (default): every kind the file holds. Rows of other
        kinds are left out and counted in the log.
    radius_rings
        Ring radii ``d`` of ``plc_<kind>_disk<d>`` (0: the cell itself); the largest is also the
        reach of ``<wks|mths>_since_plc_<kind>_opened``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str | None = None
    kinds: tuple[str, ...] | None = None
    radius_rings: tuple[int, ...] = (0, 1)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("features.places.path must be a file path or null. Got ''.")
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        bad = [k for k in value if not KIND_PATTERN.match(k)]
        if not value or bad or len(set(value)) != len(value):
            raise ValueError(
                "features.places.kinds must be null or a non-empty list of distinct snake_case "
                f"kinds. Got {list(value)}."
            )
        return value

    @field_validator("radius_rings")
    @classmethod
    def _radius(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 0 <= d <= 5 for d in value) or list(value) != sorted(set(value)):
            raise ValueError(
                "features.places.radius_rings must be non-empty, strictly ascending ints in "
                f"[0, 5]. Got {list(value)}."
            )
        return value


@dataclass(frozen=True)
class Places:
    """A validated places file, indexed to H3 cells at the study cells' resolution.

    ``pair_place`` and ``pair_cell`` list every (place, cell) pair: the one cell a point lies in,
    every cell a polygon intersects.
    """

    source: str
    resolution: int
    #: the kinds features are built of, in column order
    kinds: tuple[str, ...]
    #: position in ``kinds`` of each place
    kind: npt.NDArray[np.int64]
    #: opening and closing dates, datetime64[ns]; NaT: always there / still open
    opened: npt.NDArray[np.datetime64]
    closed: npt.NDArray[np.datetime64]
    pair_place: npt.NDArray[np.int64]
    pair_cell: npt.NDArray[np.uint64]


def _refuse(
    where: str, column: str, bad: npt.NDArray[np.bool_], text: pd.Series, *, rule: str, unit: str
) -> None:
    """Raise naming the file, column, first failing data row and a sample, if any ``bad``."""
    rows = np.flatnonzero(bad)
    if not rows.size:
        return
    sample = ", ".join(f"{unit} {i + 1} {text.iloc[i]!r}" for i in rows[:EXAMPLES].tolist())
    raise ValueError(
        f"{where}: column {column!r} {rule}; {unit} {rows[0] + 1} has {text.iloc[rows[0]]!r}. "
        f"{rows.size} of the {len(text)} rows fail, e.g. {sample}."
    )


def _dates(where: str, column: str, values: pd.Series, *, unit: str) -> npt.NDArray[np.datetime64]:
    """ISO dates, or NaT where empty; refuses anything else."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values).dt.tz_localize(None).dt.normalize()
        return parsed.to_numpy(dtype="datetime64[ns]")
    text = values.fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(text.where(text != ""), format="%Y-%m-%d", errors="coerce")
    _refuse(
        where, column, ((text != "") & parsed.isna()).to_numpy(), text,
        rule="must be empty or an ISO date YYYY-MM-DD", unit=unit,
    )  # fmt: skip
    return parsed.to_numpy(dtype="datetime64[ns]")


def _attributes(
    frame: pd.DataFrame, where: str, *, unit: str
) -> tuple[pd.Series, npt.NDArray[np.datetime64], npt.NDArray[np.datetime64]]:
    """The validated ``kind``, ``opened`` and ``closed`` of every row."""
    kind = frame["kind"].fillna("").astype(str).str.strip()
    bad_kind = ~kind.str.match(KIND_PATTERN.pattern).to_numpy(dtype=bool)
    _refuse(where, "kind", bad_kind, kind, rule="must be a snake_case kind", unit=unit)
    missing = pd.Series("", index=frame.index)
    opened = _dates(where, "opened", frame.get("opened", missing), unit=unit)
    closed = _dates(where, "closed", frame.get("closed", missing), unit=unit)
    order = (
        "opened " + pd.Series(opened).dt.strftime("%Y-%m-%d").fillna("")
        + ", closed " + pd.Series(closed).dt.strftime("%Y-%m-%d").fillna("")
    )  # fmt: skip
    both = ~np.isnat(opened) & ~np.isnat(closed)
    _refuse(
        where, "closed", both & (closed <= opened), order,
        rule="must be after opened", unit=unit,
    )  # fmt: skip
    return kind, opened, closed


def _require(frame: pd.DataFrame, where: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where} lacks the column(s) {missing}; a places file has {list(columns)} and "
            f"optional 'opened', 'closed'. Got {[str(c) for c in frame.columns]}."
        )


def _read_csv(path: Path, resolution: int) -> tuple[pd.DataFrame, tuple[npt.NDArray, ...]]:
    where = str(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    _require(frame, where, ("kind", "lon", "lat"))
    coords = {}
    for column, limit in (("lon", 180.0), ("lat", 90.0)):
        text = frame[column].str.strip()
        value = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(value) | (np.abs(value) > limit)
        _refuse(where, column, bad, text, rule=f"must be a number in [-{limit:g}, {limit:g}]",
                unit="data row")  # fmt: skip
        coords[column] = value
    cells = index_points(coords["lat"], coords["lon"], resolution=resolution)
    return frame, (np.arange(len(frame), dtype=np.int64), cells)


def _vector_cells(geometry: Any, resolution: int) -> tuple[npt.NDArray, npt.NDArray]:
    """(place, cell) pairs of a GeoSeries: a point's cell, or every cell a polygon intersects."""
    kinds = geometry.geom_type.to_numpy()
    point = kinds == "Point"
    place = [np.flatnonzero(point).astype(np.int64)]
    cells = [index_points(geometry[point].y.to_numpy(), geometry[point].x.to_numpy(),
                          resolution=resolution)]  # fmt: skip
    polygon = np.flatnonzero(~point)
    if polygon.size:
        lists = pa.array(
            vector.wkb_to_cells(
                geometry.iloc[polygon].to_wkb(), resolution,
                containment_mode=h3ronpy.ContainmentMode.IntersectsBoundary,
            )
        )  # fmt: skip
        lengths = np.diff(np.asarray(lists.offsets))
        place.append(np.repeat(polygon, lengths))
        cells.append(np.asarray(lists.flatten(), dtype=np.uint64))
    return np.concatenate(place), np.concatenate(cells)


def _read_vector(path: Path, resolution: int) -> tuple[pd.DataFrame, tuple[npt.NDArray, ...]]:
    import geopandas as gpd

    where = str(path)
    frame = gpd.read_file(path)
    _require(frame, where, ("kind",))
    geometry = frame.geometry
    kinds = pd.Series(geometry.geom_type.fillna("missing").to_numpy())
    bad = (geometry.isna() | geometry.is_empty).to_numpy() | ~kinds.isin(
        ["Point", "Polygon", "MultiPolygon"]
    ).to_numpy()
    _refuse(where, "geometry", bad, kinds, rule="must be a point, polygon or multipolygon",
            unit="feature")  # fmt: skip
    if frame.crs is None:
        logger.info("%s declares no CRS; read as WGS84 longitude/latitude.", where)
    elif frame.crs.to_epsg() != 4326:
        geometry = geometry.to_crs(4326)
    if len(frame) and np.abs(geometry.total_bounds[[1, 3]]).max() > 90:
        raise ValueError(
            f"{where}: latitudes outside [-90, 90] after reading it as WGS84; declare its CRS."
        )
    return pd.DataFrame(frame.drop(columns=frame.geometry.name)), _vector_cells(
        geometry, resolution
    )


def read_places(config: PlacesConfig, *, resolution: int) -> Places | None:
    """Read, validate and index the places file ``config.path``; None when no file is configured.

    Parameters
    ----------
    config
        ``features.places``.
    resolution
        The study cells' H3 resolution (``cells_meta.json``): places are indexed at it.

    Refuses a missing file (naming ``features.places.path``), an unknown suffix, a file without
    ``kind``/``lon``/``lat`` (or a geometry), a row with a bad kind, coordinate, date or geometry,
    a place closed at or before it opened (each naming the file, data row and column), and
    configured ``kinds`` the file does not hold.
    """
    if config.path is None:
        return None
    path = Path(config.path)
    if not path.is_file():
        raise FileNotFoundError(
            f"The 'features.places.path' parameter of stage 'build_features' names {str(path)!r}, "
            f"which is not a file (relative to {Path.cwd()}). Set it to a places CSV, GeoPackage "
            "or GeoJSON, or to null for no place features."
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame, (place, cell) = _read_csv(path, resolution)
        unit = "data row"
    elif suffix in VECTOR_SUFFIXES:
        frame, (place, cell) = _read_vector(path, resolution)
        unit = "feature"
    else:
        raise ValueError(
            f"The 'features.places.path' parameter names {str(path)!r}: expected a .csv, "
            f"{', '.join(VECTOR_SUFFIXES)} file. Got the suffix {suffix!r}."
        )
    kind, opened, closed = _attributes(frame, str(path), unit=unit)
    present = sorted(set(kind))
    if config.kinds is not None:
        absent = [k for k in config.kinds if k not in present]
        if absent:
            raise ValueError(
                f"The 'features.places.kinds' parameter names {absent}, which {path} does not "
                f"hold; it holds {present}."
            )
    kinds = config.kinds if config.kinds is not None else tuple(present)
    code = pd.Index(kinds).get_indexer(kind).astype(np.int64)
    keep = code >= 0
    left_out = kind[~keep].value_counts().sort_index()
    logger.info(
        "places: %d read from %s, %d kept (%s), %d of kinds not configured (%s)",
        len(kind), path, int(keep.sum()), ", ".join(kinds), int((~keep).sum()),
        ", ".join(f"{k} {n}" for k, n in left_out.items()) or "none",
    )  # fmt: skip
    new_id = np.cumsum(keep) - 1  # place positions among the kept rows
    on = keep[place]
    return Places(
        source=str(path), resolution=resolution, kinds=tuple(kinds), kind=code[keep],
        opened=opened[keep], closed=closed[keep], pair_place=new_id[place[on]],
        pair_cell=cell[on],
    )  # fmt: skip


def place_feature_names(
    kinds: tuple[str, ...], *, radius_rings: tuple[int, ...], recency_prefix: str
) -> list[str]:
    """The place features of ``kinds`` in their stable order (kind by kind)."""
    names: list[str] = []
    for k in kinds:
        names += [f"{PLACE_PREFIX}{k}_disk{d}" for d in radius_rings]
        names.append(f"{recency_prefix}_{PLACE_PREFIX}{k}_opened")
    return names


def _first_period_at_or_after(
    dates: npt.NDArray[np.datetime64], *, origin: np.datetime64, period: Period, missing: int
) -> npt.NDArray[np.int64]:
    """Index (from ``origin``'s period) of the first period starting at or after each date;
    ``missing`` where the date is NaT."""
    out = np.full(dates.size, missing, dtype=np.int64)
    known = ~np.isnat(dates)
    if known.any():
        offset = period_offsets(dates[known], origin=origin, period=period)
        start = shift_periods(np.full(offset.size, origin), offset, period=period)
        out[known] = offset + (dates[known] > start)
    return out


def _disk_pairs(
    places: Places, cell_ids: npt.NDArray[np.uint64], radius: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(place, study cell position, grid distance) for every study cell within ``radius`` rings
    of a place's cells, each (place, study cell) once at its smallest distance."""
    cells, inverse = np.unique(places.pair_cell, return_inverse=True)
    batch = pa.record_batch(h3ronpy.grid_disk_distances(cells, radius))
    lists, dists = batch.column("cell"), batch.column("k")
    lengths = np.diff(np.asarray(lists.offsets))
    disk_cell = np.asarray(lists.flatten(), dtype=np.uint64)
    disk_dist = np.asarray(dists.flatten(), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    per_pair = lengths[inverse]
    index = np.repeat(starts[inverse] - np.cumsum(per_pair) + per_pair, per_pair) + np.arange(
        per_pair.sum()
    )
    place = np.repeat(places.pair_place, per_pair)
    target, dist = disk_cell[index], disk_dist[index]
    pos = np.minimum(np.searchsorted(cell_ids, target), cell_ids.size - 1)
    inside = cell_ids[pos] == target
    place, pos, dist = place[inside], pos[inside].astype(np.int64), dist[inside]
    order = np.lexsort((dist, pos, place))  # smallest distance first within (place, cell)
    place, pos, dist = place[order], pos[order], dist[order]
    first = np.ones(place.size, dtype=bool)
    first[1:] = (place[1:] != place[:-1]) | (pos[1:] != pos[:-1])
    return place[first], pos[first], dist[first]


def place_features(
    places: Places,
    *,
    cell_ids: npt.NDArray[np.uint64],
    starts: npt.NDArray[np.datetime64],
    rows: npt.NDArray[np.int64],
    period: Period,
    config: PlacesConfig,
    since_cap: int,
    recency_prefix: str,
) -> dict[str, npt.NDArray[np.float32]]:
    """The place features, float32 ``[len(rows), cell]`` each, in :func:`place_feature_names`
    order.

    ``starts`` are the complete periods (their index is the period index); ``rows`` are the
    consecutive period indices of the output rows (the last may be ``len(starts)``, the forecast
    period). A place counts in row ``t`` when open at the start of period ``t`` (module docstring).
    """
    n_rows, n_cells, n_kinds = rows.size, cell_ids.size, len(places.kinds)
    found = cells_resolution(cell_ids)
    if places.resolution != found:
        raise ValueError(
            f"{places.source} was indexed at H3 resolution {places.resolution}, but the study "
            f"cells are at {found}; read it at the cells' resolution."
        )
    if n_rows and not np.array_equal(rows, np.arange(rows[0], rows[0] + n_rows)):
        raise ValueError("place_features needs consecutive rows.")
    big = 1 << 40
    opens = _first_period_at_or_after(places.opened, origin=starts[0], period=period, missing=-big)
    shuts = _first_period_at_or_after(places.closed, origin=starts[0], period=period, missing=big)
    # rows [first, last) of the output in which each place is open
    first = np.clip(opens - rows[0], 0, n_rows)
    last = np.clip(shuts - rows[0], 0, n_rows)
    place, pos, dist = _disk_pairs(places, cell_ids, max(config.radius_rings))
    kind = places.kind[place]
    out: dict[str, npt.NDArray[np.float32]] = {}
    counts: dict[int, npt.NDArray[np.int64]] = {}
    for d in config.radius_rings:
        sel = dist <= d
        flat_cell = kind[sel] * (n_rows + 1) * n_cells + pos[sel]
        size = n_kinds * (n_rows + 1) * n_cells
        diff = np.bincount(flat_cell + first[place[sel]] * n_cells, minlength=size) - np.bincount(
            flat_cell + last[place[sel]] * n_cells, minlength=size
        )
        counts[d] = np.cumsum(diff.reshape(n_kinds, n_rows + 1, n_cells), axis=1)[:, :n_rows]
    # the newest opening among the open places of each kind within the largest radius
    dated = ~np.isnat(places.opened[place])
    lo, hi = first[place[dated]], last[place[dated]]
    length = np.maximum(hi - lo, 0)
    row = np.repeat(lo - np.cumsum(length) + length, length) + np.arange(length.sum())
    newest = np.full((n_kinds, n_rows, n_cells), -big, dtype=np.int64)
    np.maximum.at(
        newest,
        (np.repeat(kind[dated], length), row, np.repeat(pos[dated], length)),
        np.repeat(opens[place[dated]], length),
    )
    gap = rows[None, :, None] - newest
    since = np.where(newest > -big, np.minimum(gap, since_cap), since_cap).astype(np.float32)
    for j, k in enumerate(places.kinds):
        for d in config.radius_rings:
            out[f"{PLACE_PREFIX}{k}_disk{d}"] = counts[d][j].astype(np.float32)
        out[f"{recency_prefix}_{PLACE_PREFIX}{k}_opened"] = since[j]
    return out
