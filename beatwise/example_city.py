"""A made-up city's open-data files, to try "bring your own city" without downloading anything.

:func:`write_example_city` writes what a US city's open-data portal and census tables typically
look like: one gzipped CSV of a single offence (residential burglary) with minute timestamps,
longitude/latitude and no id column, some rows repeated (several victims of one incident), some
without coordinates or with an unreadable date, a few in a park and an airport outside every
tract; census-tract polygons as a Shapefile whose tract code is stored as a floating-point number;
and a census table of population, percent minority and percent in poverty, keyed by the code as
text. The README's worked example ("Bring your own city") runs on these files, and the tests run
it. Every number is drawn from one seed, so the files are the same on every machine.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: the grid of tracts: columns x rows, each ~1 km square, south-west corner at ORIGIN (lon, lat)
GRID: Final[tuple[int, int]] = (8, 8)
ORIGIN: Final[tuple[float, float]] = (-90.32, 38.58)
STEP: Final[tuple[float, float]] = (0.0115, 0.009)
#: tract codes: state 29, county 999 (no such county), then the tract number
CODE_BASE: Final[int] = 29999000000
EVENTS_FILE: Final[str] = "city_crimes.csv.gz"
TRACTS_FILE: Final[str] = "tracts.shp"
CENSUS_FILE: Final[str] = "census.csv"


def _tracts(rng: np.random.Generator) -> gpd.GeoDataFrame:
    nx, ny = GRID
    grid_x, grid_y = np.meshgrid(np.arange(nx), np.arange(ny))
    ix, iy = grid_x.ravel(), grid_y.ravel()
    x0 = ORIGIN[0] + ix * STEP[0]
    y0 = ORIGIN[1] + iy * STEP[1]
    # smooth fields: poverty highest in the north-east, minority share following it loosely
    u, v = ix / (nx - 1), iy / (ny - 1)
    poverty = np.clip(8 + 40 * (0.6 * u + 0.4 * v) + rng.normal(0, 5, u.size), 2, 65)
    minority = np.clip(15 + 60 * (0.5 * u + 0.5 * v) + rng.normal(0, 10, u.size), 3, 97)
    population = rng.integers(1500, 5200, u.size)
    population[(ix == 0) & (iy == 0)] = 0  # the riverside industrial tract: nobody lives there
    return gpd.GeoDataFrame(
        {
            "GEOID": (CODE_BASE + 100 * (np.arange(u.size) + 1)).astype(np.float64),
            "NAME": [f"Tract {k + 1}" for k in range(u.size)],
            "WARD": [f"Ward {1 + (i // 4) + 2 * (j // 4)}" for i, j in zip(ix, iy, strict=True)],
            "pop": population,
            "pct_poverty": poverty.round(1),
            "pct_minority": minority.round(1),
        },
        geometry=shapely.box(x0, y0, x0 + STEP[0], y0 + STEP[1]),
        crs="EPSG:4326",
    )


def _events(
    rng: np.random.Generator, tracts: gpd.GeoDataFrame, *, weeks: int, start: str
) -> pd.DataFrame:
    """Weekly burglaries per tract: a rate rising with poverty, hot spots that drift slowly."""
    n = len(tracts)
    base = 0.25 + tracts["pct_poverty"].to_numpy() / 25.0
    base = base * (tracts["pop"].to_numpy() > 0)
    hot = np.exp(np.cumsum(rng.normal(0, 0.08, (weeks, n)), axis=0))  # slow random drift
    season = 1 + 0.15 * np.sin(2 * np.pi * np.arange(weeks) / 52.0)
    counts = rng.poisson(base[None, :] * hot * season[:, None])
    week, tract = np.nonzero(counts)
    reps = counts[week, tract]
    week, tract = np.repeat(week, reps), np.repeat(tract, reps)
    bounds = tracts.geometry.bounds.to_numpy()
    lon = bounds[tract, 0] + rng.random(tract.size) * (bounds[tract, 2] - bounds[tract, 0])
    lat = bounds[tract, 1] + rng.random(tract.size) * (bounds[tract, 3] - bounds[tract, 1])
    # a park and an airport south of the tracts: a few burglaries of sheds and hangars
    outside = rng.random(tract.size) < 0.01
    lat[outside] = ORIGIN[1] - rng.random(outside.sum()) * 0.01
    minutes = rng.integers(0, 7 * 24 * 60, tract.size)
    when = pd.Timestamp(start) + pd.to_timedelta(week * 7 * 24 * 60 + minutes, unit="min")
    order = np.argsort(when.to_numpy(), kind="stable")
    when, lon, lat = when[order], lon[order], lat[order]
    frame = pd.DataFrame(
        {
            "Occurred": when.strftime("%m/%d/%Y %H:%M"),
            "Offense": "RESIDENTIAL BURGLARY",
            "Longitude": np.round(lon, 6).astype(str),
            "Latitude": np.round(lat, 6).astype(str),
            "Victims": 1,
        }
    )
    # several victims of one incident: the row repeated, as such portals publish them
    repeated = frame.sample(frac=0.02, random_state=np.random.RandomState(1))
    frame = pd.concat([frame, repeated]).sort_index(kind="stable").reset_index(drop=True)
    blank = rng.random(len(frame)) < 0.004
    frame.loc[blank, ["Longitude", "Latitude"]] = ""
    bad_date = rng.random(len(frame)) < 0.002
    frame.loc[bad_date, "Occurred"] = "UNKNOWN"
    return frame


def write_example_city(
    out_dir: Path, *, seed: int = 7, weeks: int = 156, start: str = "2021-01-04"
) -> dict[str, Path]:
    """Write the example city's three sources into ``out_dir``; return their paths by role.

    Raises
    ------
    ValueError
        When ``weeks`` is under 2 or ``start`` is not a date.
    """
    if weeks < 2:
        raise ValueError(f"weeks must be at least 2; got {weeks}.")
    try:
        pd.Timestamp(start)
    except ValueError as err:
        raise ValueError(f"start must be a date such as '2021-01-04'; got {start!r}.") from err
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tracts = _tracts(rng)
    events = _events(rng, tracts, weeks=weeks, start=start)
    paths = {
        "events": out_dir / EVENTS_FILE,
        "tracts": out_dir / TRACTS_FILE,
        "census": out_dir / CENSUS_FILE,
    }
    # mtime 0: the same bytes on every run
    with gzip.GzipFile(paths["events"], "wb", mtime=0) as handle:
        handle.write(events.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    tracts[["GEOID", "NAME", "WARD", "geometry"]].to_file(paths["tracts"], engine="pyogrio")
    census = pd.DataFrame(
        {
            "GEOID": (CODE_BASE + 100 * (np.arange(len(tracts)) + 1)).astype(str),
            "total_pop": tracts["pop"].to_numpy(),
            "pct_minority": tracts["pct_minority"].to_numpy(),
            "pct_poverty": tracts["pct_poverty"].to_numpy(),
        }
    )
    census.to_csv(paths["census"], index=False, lineterminator="\n")
    return paths
