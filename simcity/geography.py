"""The synthetic city's geography: study area, H3 micro-cells, places, small areas and districts.

Everything spatial is built once per seed in a local metric projection (British National Grid,
EPSG:27700) and reported in WGS84. The unit of intensity is the H3 resolution-10 micro-cell
(~0.015 km², centres ~130 m apart); events sit at their micro-cell's centre, like data.police.uk
snaps locations to anonymised map points, so a coarser H3 cell's expected count is an exact sum
over the micro-cells whose centre it contains.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from h3ronpy import vector
from pyproj import Transformer
from scipy import ndimage
from scipy.spatial import cKDTree

from simcity.config import MICRO_RESOLUTION, CityConfig

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Local metric projection (metres) for all spatial computation.
METRIC_CRS = "EPSG:27700"

COMPONENTS: tuple[str, ...] = ("residential", "nightlife", "retail", "transit")

_PREFIXES = (
    "Ash", "Bram", "Cold", "Dun", "Elm", "Fern", "Glen", "Hart", "Ivy", "Kings",
    "Lark", "Mill", "North", "Oak", "Pen", "Queens", "Rose", "Stan", "Thorn", "Wood",
)  # fmt: skip
_SUFFIXES = ("bourne", "ford", "ham", "ley", "wick")
_STREET_WORDS = (
    "Albert", "Alder", "Beech", "Brook", "Castle", "Cedar", "Chapel", "Church", "Clarence",
    "Crown", "Dock", "Elder", "Empress", "Forest", "Garden", "George", "Grange", "Grove",
    "Hamilton", "Harbour", "Hazel", "High", "Hill", "Holly", "King", "Lime", "Manor", "Maple",
    "Market", "Meadow", "Mill", "Nelson", "Orchard", "Park", "Poplar", "Priory", "Queen",
    "Railway", "Regent", "River", "Rowan", "School", "Spring", "Station", "Tower", "Victoria",
    "Water", "Well", "Willow", "Windsor",
)  # fmt: skip
_STREET_KINDS = ("Road", "Street", "Lane", "Close", "Avenue", "Way", "Gardens", "Place")


@dataclass(frozen=True)
class Geography:
    """Micro-cell arrays (index = position in ascending ``cells``) and the area tables.

    ``components`` hold the place densities that shape crime (each sums to 1 over micro-cells);
    ``deprivation_z`` and ``deprivation_rank`` are the micro-cell's small-area values
    (rank 1 = most deprived area, 0 = least).
    """

    cells: npt.NDArray[np.uint64]
    lat: FloatArray
    lon: FloatArray
    x: FloatArray
    y: FloatArray
    residents: FloatArray
    area_index: IntArray
    district_index: IntArray
    deprivation_z: FloatArray
    deprivation_rank: FloatArray
    nightlife_z: FloatArray
    components: dict[str, FloatArray]
    location_names: npt.NDArray[np.object_]
    areas: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    #: micro-cell positions of the point places behind the components, by places.csv kind:
    #: ``station`` (transport hubs), ``shop`` (retail point sources, one row per micro-cell),
    #: ``town_centre`` (town centres, the central zone's centre first)
    places: dict[str, IntArray] = field(default_factory=dict)


def build_geography(config: CityConfig, *, rng: np.random.Generator) -> Geography:
    """Build the study area, micro-cells, place components, small areas and districts.

    Deterministic for a given generator state. Cost is dominated by the micro-cells
    (~110k for 1,500 km²) and the Voronoi small areas; about 2-4 s for the default city.
    """
    geo = config.geography
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    to_wgs = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    x0, y0 = to_metric.transform(geo.centre_lon, geo.centre_lat)

    boundary = _boundary(
        rng, x0=x0, y0=y0, area_m2=geo.area_km2 * 1e6, rough=geo.boundary_roughness
    )
    bx, by = np.asarray(boundary.exterior.coords).T
    blon, blat = to_wgs.transform(bx, by)
    poly = h3.LatLngPoly(list(zip(blat[:-1], blon[:-1], strict=True)))
    cells = np.sort(
        np.fromiter(
            (h3.str_to_int(c) for c in h3.polygon_to_cells(poly, MICRO_RESOLUTION)),
            dtype=np.uint64,
        )
    )
    coords = vector.cells_to_coordinates(pa.array(cells))
    lat = np.asarray(coords["lat"].to_numpy(), dtype=np.float64)
    lon = np.asarray(coords["lng"].to_numpy(), dtype=np.float64)
    x, y = (np.asarray(v, dtype=np.float64) for v in to_metric.transform(lon, lat))
    n_micro = cells.size
    if n_micro < geo.n_areas:
        raise ValueError(
            f"The 'simulate.geography.n_areas' parameter ({geo.n_areas}) exceeds the number of "
            f"micro-cells in a {geo.area_km2} km² city ({n_micro}); use fewer areas."
        )
    logger.info("Study area %.0f km²: %d H3 res-%d micro-cells", boundary.area / 1e6, n_micro,
                MICRO_RESOLUTION)  # fmt: skip

    bounds = (x.min() - 500, y.min() - 500, x.max() + 500, y.max() + 500)
    dist_centre = np.hypot(x - x0, y - y0)

    # Residents: falls off from the centre, lumpy, with parks and a low-residential core.
    pop_field = _gaussian_field(rng, x, y, length_m=800.0, bounds=bounds)
    park_field = _gaussian_field(rng, x, y, length_m=600.0, bounds=bounds)
    density = np.exp(-dist_centre / (geo.population_scale_km * 1000.0) + 0.5 * pop_field)
    density *= np.where(park_field > 1.28, 0.03, 1.0)
    density *= 1.0 - 0.6 * np.exp(-(dist_centre**2) / (2 * geo.central_zone_radius_m**2))
    residents = geo.residents_total * density / density.sum()

    # Night-time economy: the central zone plus town centres placed where people live.
    tc_idx = rng.choice(n_micro, size=geo.n_town_centres, replace=False, p=density / density.sum())
    tc_w = rng.lognormal(0.0, 0.6, size=geo.n_town_centres)
    caz = _blob(x, y, x0, y0, geo.central_zone_radius_m)
    towns = _blobs(x, y, x[tc_idx], y[tc_idx], tc_w, geo.town_centre_radius_m)
    nightlife = geo.central_zone_weight * caz + (1 - geo.central_zone_weight) * towns

    # Transport hubs: near people and near the centres.
    hub_p = 0.5 * np.sqrt(residents) / np.sqrt(residents).sum() + 0.5 * nightlife
    hub_idx = rng.choice(n_micro, size=geo.n_transport_hubs, replace=False, p=hub_p / hub_p.sum())
    hub_w = rng.lognormal(0.0, 0.8, size=geo.n_transport_hubs)
    transit = _blobs(x, y, x[hub_idx], y[hub_idx], hub_w, geo.hub_radius_m)

    # Retail: point sources (shops) on high streets and in neighbourhoods.
    shop_p = 0.6 * nightlife + 0.4 * residents / residents.sum()
    shop_idx = rng.choice(n_micro, size=geo.n_shops, replace=True, p=shop_p / shop_p.sum())
    retail = np.bincount(shop_idx, weights=rng.lognormal(0.0, 1.0, geo.n_shops), minlength=n_micro)
    retail = retail / retail.sum()

    components = {
        "residential": residents / residents.sum(),
        "nightlife": nightlife,
        "retail": retail,
        "transit": transit,
    }

    # Small areas: Voronoi cells of micro-cell centres drawn in proportion to residents.
    seeds = np.sort(
        rng.choice(n_micro, size=geo.n_areas, replace=False, p=residents / residents.sum())
    )
    # Jitter (< 20 m, well under half the ~130 m micro-cell spacing) breaks the lattice's exact
    # ties between seeds, so nearest-seed assignment and the Voronoi polygons always agree.
    sx = x[seeds] + rng.uniform(-14.0, 14.0, seeds.size)
    sy = y[seeds] + rng.uniform(-14.0, 14.0, seeds.size)
    _, micro_area = cKDTree(np.c_[sx, sy]).query(np.c_[x, y])
    area_res = np.bincount(micro_area, weights=residents, minlength=geo.n_areas).astype(np.float64)

    # Districts: residents-weighted k-means of the area seeds (a few Lloyd steps).
    area_district = _cluster(rng, sx, sy, area_res, k=geo.n_districts)

    # Deprivation and minority share: correlated, spatially clustered latent fields.
    dep_field = _gaussian_field(rng, x, y, length_m=geo.field_scale_m, bounds=bounds)
    oth_field = _gaussian_field(rng, x, y, length_m=geo.field_scale_m, bounds=bounds)
    rho = geo.deprivation_minority_rho
    w = np.maximum(area_res, 1e-9)
    dep_area = _standardise(
        np.bincount(micro_area, weights=residents * dep_field, minlength=geo.n_areas) / w
        + rng.normal(0, 0.35, geo.n_areas)
    )
    oth_area = _standardise(
        np.bincount(micro_area, weights=residents * oth_field, minlength=geo.n_areas) / w
        + rng.normal(0, 0.35, geo.n_areas)
    )
    # Orthogonalise so the realised correlation is rho even when a small city has few
    # independent patches of each field.
    oth_area = _standardise(oth_area - np.mean(oth_area * dep_area) * dep_area)
    min_latent = rho * dep_area + np.sqrt(1 - rho**2) * oth_area

    # Order areas by district, then north to south, west to east; codes follow that order.
    order = np.lexsort((sx, -np.round(sy, -2), area_district))
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(order.size)
    micro_area = rank_of[micro_area]
    seeds, sx, sy = seeds[order], sx[order], sy[order]
    area_res, area_district = area_res[order], area_district[order]
    dep_area, min_latent = dep_area[order], min_latent[order]

    district_names = _district_names(rng, geo.n_districts)
    areas_gdf, districts_gdf = _area_tables(
        boundary=boundary,
        seeds_xy=np.c_[sx, sy],
        residents=area_res,
        area_district=area_district,
        dep_z=dep_area,
        minority_latent=min_latent,
        minority_mean=geo.minority_share_mean,
        district_names=district_names,
    )
    dep_rank_area = _deprivation_rank(areas_gdf["deprivation_score"].to_numpy())

    night_log = np.log(nightlife * n_micro + 0.05)
    locations = _location_names(rng, n_micro, hub_idx=hub_idx, shop_idx=shop_idx)
    logger.info(
        "Built %d small areas in %d districts, %.2fM residents",
        geo.n_areas, geo.n_districts, areas_gdf["residents"].sum() / 1e6,
    )  # fmt: skip
    return Geography(
        cells=cells,
        lat=lat,
        lon=lon,
        x=x,
        y=y,
        residents=residents,
        area_index=micro_area.astype(np.int64),
        district_index=area_district[micro_area].astype(np.int64),
        deprivation_z=_standardise(np.log(areas_gdf["deprivation_score"].to_numpy()))[micro_area],
        deprivation_rank=dep_rank_area[micro_area],
        nightlife_z=_standardise(night_log),
        components=components,
        location_names=locations,
        areas=areas_gdf,
        districts=districts_gdf,
        places={
            "station": np.sort(hub_idx).astype(np.int64),
            "shop": np.unique(shop_idx).astype(np.int64),
            "town_centre": np.r_[np.argmin(dist_centre), np.sort(tc_idx)].astype(np.int64),
        },
    )


def _boundary(
    rng: np.random.Generator, *, x0: float, y0: float, area_m2: float, rough: float
) -> shapely.Polygon:
    theta = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    radius = np.ones_like(theta)
    for j in range(2, 7):
        radius += (
            rough / (j - 1) * rng.normal(0, 0.7) * np.cos(j * theta + rng.uniform(0, 2 * np.pi))
        )
    radius = np.clip(radius, 0.5, None)
    # Polar area 0.5 ∫ r² dθ fixes the scale to the requested area.
    r0 = np.sqrt(area_m2 / (0.5 * np.mean(radius**2) * 2 * np.pi))
    return shapely.Polygon(
        np.c_[x0 + r0 * radius * np.cos(theta), y0 + r0 * radius * np.sin(theta)]
    )


def _gaussian_field(
    rng: np.random.Generator,
    x: FloatArray,
    y: FloatArray,
    *,
    length_m: float,
    bounds: tuple[float, float, float, float],
) -> FloatArray:
    """A standardised Gaussian random field with correlation length ~``length_m`` at (x, y)."""
    step = max(length_m / 4.0, 25.0)
    nx = int(np.ceil((bounds[2] - bounds[0]) / step)) + 1
    ny = int(np.ceil((bounds[3] - bounds[1]) / step)) + 1
    field = ndimage.gaussian_filter(rng.standard_normal((ny, nx)), sigma=length_m / step)
    rows = (y - bounds[1]) / step
    cols = (x - bounds[0]) / step
    values = ndimage.map_coordinates(field, np.vstack([rows, cols]), order=1, mode="nearest")
    return _standardise(values)


def _standardise(v: FloatArray) -> FloatArray:
    sd = v.std()
    return (v - v.mean()) / (sd if sd > 0 else 1.0)


def _blob(x: FloatArray, y: FloatArray, cx: float, cy: float, sd: float) -> FloatArray:
    g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sd**2))
    return g / g.sum()


def _blobs(
    x: FloatArray, y: FloatArray, cx: FloatArray, cy: FloatArray, w: FloatArray, sd: float
) -> FloatArray:
    # A short loop over places (tens to hundreds), each a vector operation over micro-cells.
    out = np.zeros_like(x)
    for px, py, pw in zip(cx, cy, w / w.sum(), strict=True):
        out += pw * _blob(x, y, px, py, sd)
    return out / out.sum()


def _cluster(
    rng: np.random.Generator, sx: FloatArray, sy: FloatArray, weight: FloatArray, *, k: int
) -> IntArray:
    pts = np.c_[sx, sy]
    p = weight / weight.sum()
    centres = pts[rng.choice(pts.shape[0], size=k, replace=False, p=p)]
    labels = np.zeros(pts.shape[0], dtype=np.int64)
    for _ in range(20):
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = d2.argmin(axis=1)
        wsum = np.bincount(labels, weights=weight, minlength=k)
        for dim in range(2):
            num = np.bincount(labels, weights=weight * pts[:, dim], minlength=k)
            centres[:, dim] = np.where(wsum > 0, num / np.maximum(wsum, 1e-12), centres[:, dim])
    # Relabel north to south so district codes read like a map.
    order = np.lexsort((centres[:, 0], -np.round(centres[:, 1], -3)))
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    return relabel[labels]


def _district_names(rng: np.random.Generator, k: int) -> list[str]:
    names = [p + s for p in _PREFIXES for s in _SUFFIXES]
    picked = rng.permutation(len(names))[:k]
    return [names[i] for i in picked]


def _deprivation_rank(score: FloatArray) -> FloatArray:
    """Rank in [0, 1] with 1 = most deprived area."""
    order = np.argsort(score, kind="stable")
    rank = np.empty(score.size, dtype=np.float64)
    rank[order] = np.arange(score.size) / max(score.size - 1, 1)
    return rank


def _area_tables(
    *,
    boundary: shapely.Polygon,
    seeds_xy: FloatArray,
    residents: FloatArray,
    area_district: IntArray,
    dep_z: FloatArray,
    minority_latent: FloatArray,
    minority_mean: float,
    district_names: list[str],
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    n = seeds_xy.shape[0]
    vor = shapely.voronoi_polygons(shapely.MultiPoint(seeds_xy), extend_to=boundary, ordered=True)
    polys = shapely.intersection(np.asarray(shapely.get_parts(vor)), boundary)
    polys = shapely.make_valid(polys)

    res_int = np.round(residents).astype(np.int64)
    # IMD-like score: right-skewed, median ~21 (English LSOAs range ~1-90).
    score = np.round(21.0 * np.exp(0.55 * dep_z), 3)
    order_desc = np.argsort(-score, kind="stable")
    decile = np.empty(n, dtype=np.int64)
    decile[order_desc] = 1 + (np.arange(n) * 10) // n
    intercept = _solve_intercept(minority_latent, residents, minority_mean)
    share = 1.0 / (1.0 + np.exp(-(intercept + 1.1 * minority_latent)))
    res_min = np.round(res_int * share).astype(np.int64)
    res_maj = res_int - res_min
    min_share = np.where(res_int > 0, res_min / np.maximum(res_int, 1), 0.0)

    d_codes = np.array([f"X09{i + 1:06d}" for i in range(len(district_names))], dtype=object)
    d_names = np.asarray(district_names, dtype=object)
    within = np.zeros(n, dtype=np.int64)
    for d in range(len(district_names)):
        members = np.flatnonzero(area_district == d)
        within[members] = np.arange(1, members.size + 1)
    area_names = [f"{d_names[d]} {j:03d}A" for d, j in zip(area_district, within, strict=True)]
    areas = gpd.GeoDataFrame(
        {
            "area_code": [f"X01{i + 1:06d}" for i in range(n)],
            "area_name": area_names,
            "district_code": d_codes[area_district].astype(str),
            "district_name": d_names[area_district].astype(str),
            "residents": res_int,
            "residents_minority": res_min,
            "residents_majority": res_maj,
            "minority_share": min_share.astype(np.float64),
            "deprivation_score": score.astype(np.float64),
            "deprivation_decile": decile,
        },
        geometry=polys,
        crs=METRIC_CRS,
    )
    dissolved = [
        shapely.coverage_union_all(polys[area_district == d]) for d in range(len(district_names))
    ]
    districts = gpd.GeoDataFrame(
        {"district_code": d_codes.astype(str), "district_name": d_names.astype(str)},
        geometry=dissolved,
        crs=METRIC_CRS,
    )
    return areas.to_crs("EPSG:4326"), districts.to_crs("EPSG:4326")


def _solve_intercept(latent: FloatArray, weight: FloatArray, target: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        mean = np.average(1.0 / (1.0 + np.exp(-(mid + 1.1 * latent))), weights=weight + 1e-9)
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return 0.5 * (lo + hi)


def _location_names(
    rng: np.random.Generator, n_micro: int, *, hub_idx: IntArray, shop_idx: IntArray
) -> npt.NDArray[np.object_]:
    words = rng.integers(0, len(_STREET_WORDS), n_micro)
    kinds = rng.integers(0, len(_STREET_KINDS), n_micro)
    labels = np.array(
        [
            f"On or near {_STREET_WORDS[a]} {_STREET_KINDS[b]}"
            for a, b in zip(words, kinds, strict=True)
        ],
        dtype=object,
    )
    labels[shop_idx] = "On or near Shopping Area"
    labels[hub_idx] = "On or near Station"
    return labels
