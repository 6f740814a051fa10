"""Study-area H3 cells and the area attributes apportioned to them for the audit.

:func:`build_cells` is the build_cells stage's work as one call; :class:`CellsConfig` is its params
section, where the H3 resolution is bounded, once, against what the source supports.

The study area's cells follow ``cells.study_area`` (:class:`CellsConfig`), recorded in
``cells_meta.json``:

* ``areas_and_events``: the cells that overlap the union of the area polygons, plus any cell that
  holds an accepted event (an event near the edge, or one kept outside every polygon by
  ``ingest.areas.outside_events: keep``, must not be dropped). Overlap rather than
  centre-in-polygon keeps every resident of every area in some cell, so the audit's group totals
  are the areas' totals.
* ``events_only``: the cells that hold at least one accepted event. Fewer cells, so every share of
  the area (the flagged coverage, PAI) is taken over a smaller area, and the residents of cells
  without an event are not counted in the audit's groups. The only rule for a source without
  areas.
* ``auto`` (the default): ``areas_and_events`` when the source has area polygons, ``events_only``
  when it has none.

Residents and their groups are apportioned from areas to cells by overlap area, in a local metric
projection, so each area's residents are shared among the cells that cover it; a cell no area
touches has no residents and no group.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pydantic import BaseModel, ConfigDict, Field

from beatwise.artefacts.cells import STUDY_AREA_RULE_WORDS, CellsMeta, StudyAreaRule
from beatwise.artefacts.quality import SourceKind
from beatwise.h3index import (
    MAX_RESOLUTION,
    MIN_RESOLUTION,
    cell_areas_km2,
    cell_centroids,
    cells_to_str,
    index_points,
)

log = logging.getLogger(__name__)

#: sources that support only part of ``beatwise.h3index``'s MIN_RESOLUTION..MAX_RESOLUTION: the
#: finest resolution each allows, and why. The synthetic city's truth (``simcity.truth``) sums
#: micro-cells of resolution 10 (``simcity.config.MICRO_RESOLUTION``), so a finer cell has no
#: true risk to evaluate against.
SOURCE_MAX_RESOLUTION: Final[Mapping[str, tuple[int, str]]] = {
    "synthetic": (10, "its true risk is defined up to resolution 10"),
}


class CellsConfig(BaseModel):
    """The ``cells`` params section, read by the build_cells stage: the modelling grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: H3 resolution of the modelling cells (8 ≈ 0.74 km², 9 ≈ 0.105 km²); a source may allow
    #: fewer (:data:`SOURCE_MAX_RESOLUTION`, checked by :meth:`check_source`)
    h3_resolution: int = Field(8, ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    #: which cells form the study area (module docstring); auto = areas_and_events with area
    #: polygons, events_only without (:meth:`study_area_rule`)
    study_area: Literal["auto", "areas_and_events", "events_only"] = "auto"

    def study_area_rule(self, *, has_areas: bool) -> StudyAreaRule:
        """The study-area rule that runs: ``study_area`` with ``auto`` resolved.

        Raises
        ------
        ValueError
            When ``study_area`` is ``areas_and_events`` and the source has no area polygons
            (``ingest.areas.kind: none``).
        """
        if self.study_area == "auto":
            return "areas_and_events" if has_areas else "events_only"
        if self.study_area == "areas_and_events" and not has_areas:
            raise ValueError(
                "The 'cells.study_area' parameter of stage 'build_cells' is 'areas_and_events' "
                "(the cells overlapping the area polygons, plus any cell holding an event), but "
                "the source has no area polygons (ingest.areas.kind: none). Without areas the "
                "study area can only be the cells holding events: set cells.study_area to "
                "'events_only' or 'auto'."
            )
        return self.study_area

    def check_source(self, source: SourceKind) -> None:
        """Refuse a resolution finer than ``source`` supports (:data:`SOURCE_MAX_RESOLUTION`).

        Raises
        ------
        ValueError
            Naming the key, the source's limit and the value, in the params loader's style.
        """
        limit = SOURCE_MAX_RESOLUTION.get(source)
        if limit is not None and self.h3_resolution > limit[0]:
            finest, why = limit
            raise ValueError(
                f"The 'cells.h3_resolution' parameter of stage 'build_cells' must be at most "
                f"{finest} for the {source} source ({why}). Got {self.h3_resolution}."
            )


@dataclass(frozen=True)
class CellsResult:
    """What the build_cells stage writes."""

    #: ``cells.parquet``: one row per study cell (see :func:`build_cell_table`)
    cells: pd.DataFrame
    #: ``event_cells.parquet``: the clean events with ``h3_int`` (uint64) added
    event_cells: pd.DataFrame
    #: ``cells_meta.json``: the grid's resolution, size and study-area rule
    meta: CellsMeta


def build_cells(
    events: pd.DataFrame, areas: gpd.GeoDataFrame, *, config: CellsConfig, source: SourceKind
) -> CellsResult:
    """Index events to H3 cells and build the study cells with residents by audit group.

    Parameters
    ----------
    events
        The clean events (``latitude``, ``longitude`` in WGS84).
    areas
        The study areas in EPSG:4326; no rows for a source without areas, in which case the
        study area is the cells where events were recorded and no cell has residents.
    config
        The ``cells`` params section: the resolution and the study-area rule (module docstring).
    source
        The source of the events (``source`` in the data-quality summary), which may support
        only coarser grids.

    Raises
    ------
    ValueError
        When ``config.h3_resolution`` is finer than ``source`` supports, or
        ``config.study_area`` needs area polygons and ``areas`` has none.
    """
    config.check_source(source)
    rule = config.study_area_rule(has_areas=not areas.empty)
    resolution = config.h3_resolution
    event_h3 = index_points(
        events["latitude"].to_numpy(), events["longitude"].to_numpy(), resolution=resolution
    )
    if rule == "events_only":
        cells = np.unique(event_h3)
    else:
        cells = study_cells(areas, resolution=resolution, event_cells=event_h3)
    log.info("study area (cells.study_area %s): %s", config.study_area, STUDY_AREA_RULE_WORDS[rule])
    if areas.empty:
        # A source without area polygons (ingest.areas.kind: none): no cell has residents.
        log.warning(
            "no area polygons: the study area is the %d cells with at least one event; "
            "the audit's group gates will report insufficient data",
            len(cells),
        )
    table = build_cell_table(cells, areas)
    log.info(
        "%d cells, %.1f km², %.0f residents apportioned (areas hold %.0f)",
        len(table),
        table["area_km2"].sum(),
        table["residents"].sum(),
        areas["residents"].sum(),
    )
    return CellsResult(
        cells=table,
        event_cells=events.assign(h3_int=event_h3),
        meta=CellsMeta(h3_resolution=resolution, n_cells=len(table), study_area=rule),
    )


#: deprivation deciles (1 = most deprived) -> quintile group label used by the audit
DEPRIVATION_QUINTILES = {d: f"dep_q{(d + 1) // 2}" for d in range(1, 11)}


def study_cells(
    areas: gpd.GeoDataFrame, *, resolution: int, event_cells: npt.ArrayLike | None = None
) -> npt.NDArray[np.uint64]:
    """Sorted uint64 H3 cells overlapping the union of ``areas``, plus the cells of events."""
    union = shapely.union_all(areas.to_crs("EPSG:4326").geometry.to_numpy())
    shape = h3.geo_to_h3shape(union)
    # h3 marks the containment modes experimental; the version is pinned in constraints.txt.
    found = h3.h3shape_to_cells_experimental(shape, resolution, contain="overlap")
    cells = {h3.str_to_int(c) for c in found}
    if event_cells is not None:
        cells.update(int(c) for c in np.unique(np.asarray(event_cells, dtype=np.uint64)))
    out = np.array(sorted(cells), dtype=np.uint64)
    log.info("study area: %d H3 cells at resolution %d", len(out), resolution)
    return out


def cell_polygons(cells: npt.ArrayLike) -> gpd.GeoDataFrame:
    """Hexagon polygons of the cells in EPSG:4326, column ``cell_pos`` = position in ``cells``."""
    arr = np.asarray(cells, dtype=np.uint64)
    polys = []
    for c in arr:
        boundary = h3.cell_to_boundary(h3.int_to_str(int(c)))  # (lat, lng) pairs
        polys.append(shapely.Polygon([(lng, lat) for lat, lng in boundary]))
    return gpd.GeoDataFrame({"cell_pos": np.arange(len(arr))}, geometry=polys, crs="EPSG:4326")


def apportion_areas(
    cells: npt.ArrayLike,
    areas: gpd.GeoDataFrame,
    *,
    count_columns: list[str],
    label_column: str | None = None,
) -> pd.DataFrame:
    """Share each area's counts among cells by overlap area; one row per cell, in cell order.

    Parameters
    ----------
    cells
        uint64 H3 cells.
    areas
        Polygons with the ``count_columns`` (e.g. residents per group).
    count_columns
        Additive columns to apportion (residents, residents of a group).
    label_column
        Optional categorical column (e.g. district name): each cell gets the label of the area
        that covers most of it, or NA when no area touches it.
    """
    arr = np.asarray(cells, dtype=np.uint64)
    hexes = cell_polygons(arr)
    metric = areas.estimate_utm_crs()
    a = areas[[*count_columns, *([label_column] if label_column else []), "geometry"]].copy()
    a = a.to_crs(metric)
    a["area_m2"] = a.geometry.area
    a["area_idx"] = np.arange(len(a))
    pieces = gpd.overlay(hexes.to_crs(metric), a, how="intersection", keep_geom_type=True)
    share = pieces.geometry.area.to_numpy() / pieces["area_m2"].to_numpy()
    out = pd.DataFrame(index=pd.RangeIndex(len(arr)))
    for col in count_columns:
        vals = np.bincount(
            pieces["cell_pos"].to_numpy(),
            weights=share * pieces[col].to_numpy(dtype=np.float64),
            minlength=len(arr),
        )
        out[col] = vals
    if label_column:
        pieces["piece_m2"] = pieces.geometry.area
        best = pieces.sort_values(
            ["cell_pos", "piece_m2", "area_idx"], ascending=[True, False, True]
        )
        best = best.drop_duplicates("cell_pos")
        labels = pd.Series(pd.NA, index=out.index, dtype="string")
        labels.iloc[best["cell_pos"].to_numpy()] = best[label_column].astype("string").to_numpy()
        out[label_column] = labels
    return out


def build_cell_table(
    cells: npt.ArrayLike,
    areas: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """The ``cells.parquet`` table: ids, centroids, areas, district, residents by audit group.

    Group columns (``res_<group>``) come from what the areas carry: ``residents_minority`` /
    ``residents_majority`` give ``res_minority`` / ``res_majority``; ``deprivation_decile`` gives
    ``res_dep_q1`` .. ``res_dep_q5`` (q1 = deciles 1-2, the most deprived fifth); areas with
    both give the joint groups ``res_minority_dep_q1`` .. ``res_majority_dep_q5`` (an area's
    residents of each group, in its own deprivation fifth: exact at the area level). Means of
    ``minority_share`` and ``deprivation_score`` are resident-weighted over the cell's pieces.
    An area where nobody lives weighs nothing, so its missing value (NaN, or an <NA> decile) never
    reaches a cell; an <NA> decile in an area with residents is refused (ValueError).
    """
    arr = np.asarray(cells, dtype=np.uint64)
    a = areas.copy()
    counts = ["residents"]
    if {"residents_minority", "residents_majority"} <= set(a.columns):
        a["res_minority"] = a["residents_minority"].astype(float)
        a["res_majority"] = a["residents_majority"].astype(float)
        counts += ["res_minority", "res_majority"]
    if "deprivation_decile" in a.columns:
        # an <NA> decile (an area where nobody lives had no value) falls in no fifth: only an
        # area without residents may, or the fifths would not add up to the residents
        decile = a["deprivation_decile"].astype("Int64")
        unplaced = decile.isna().to_numpy() & (a["residents"].to_numpy(dtype=float) > 0)
        if unplaced.any():
            raise ValueError(
                f"{int(unplaced.sum())} area(s) with residents have no deprivation_decile, e.g. "
                f"{a.loc[unplaced, 'area_code'].head(3).tolist()}; only an area where nobody "
                "lives may have none."
            )
        quint = decile.map(DEPRIVATION_QUINTILES)
        for q in sorted(set(DEPRIVATION_QUINTILES.values())):
            a[f"res_{q}"] = np.where(quint == q, a["residents"].astype(float), 0.0)
            counts.append(f"res_{q}")
        # Joint groups (ethnicity by deprivation fifth) exist only where one area carries both:
        # deprivation belongs to the area, so all of an area's minority residents live in its
        # fifth, exactly. Multiplying a cell's shares instead would assume the two independent.
        for grp in ("minority", "majority") if "res_minority" in counts else ():
            for q in sorted(set(DEPRIVATION_QUINTILES.values())):
                a[f"res_{grp}_{q}"] = np.where(quint == q, a[f"res_{grp}"], 0.0)
                counts.append(f"res_{grp}_{q}")
    for attr in ("minority_share", "deprivation_score"):
        if attr in a.columns:
            # an area where nobody lives weighs 0, even when it has no value (NaN)
            residents = a["residents"].astype(float)
            a[f"_w_{attr}"] = np.where(residents > 0, a[attr].astype(float) * residents, 0.0)
            counts.append(f"_w_{attr}")
    label = "district_name" if "district_name" in a.columns else None
    if a.empty:
        # No polygons (a source without areas): no cell has residents or a district.
        shared = pd.DataFrame({c: np.zeros(len(arr)) for c in counts})
        label = None
    else:
        shared = apportion_areas(arr, a, count_columns=counts, label_column=label)
    lat, lon = cell_centroids(arr)
    table = pd.DataFrame(
        {
            "h3_cell": cells_to_str(arr),
            "h3_int": arr,
            "lat": lat,
            "lon": lon,
            "area_km2": cell_areas_km2(arr),
            "district_name": shared[label].fillna("outside areas").astype(str)
            if label
            else "unknown",
        }
    )
    for col in counts:
        if col.startswith("_w_"):
            continue
        table[col] = shared[col].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for attr in ("minority_share", "deprivation_score"):
            if f"_w_{attr}" in shared.columns:
                table[attr] = shared[f"_w_{attr}"].to_numpy() / shared["residents"].to_numpy()
    return table
