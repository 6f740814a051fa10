"""Benchmark of ingestion: source loaders, then ``validate_events``, each phase timed apart.

Two cases, each run in a fresh child process so one does not inflate the other's memory:

``london``
    The real data.police.uk API sample (``ward-level-crime-data_london_month_2016-01_2018-06
    .tar.xz``: 14,425 JSON responses, 1.92M records) read straight from the archive with
    ``load_police_uk_api_json``, then validated against the London 2011 LSOA polygons
    (``london-2011-lsoa-gen20.shp``; ``area_code`` = ``LSOA11CD``, ``residents`` = 1.0).
``stl``
    A generated St. Louis-like release (default 10M rows in 12 monthly CSV files with the 20 SLMPD
    columns: ``Complaint``, ``DateOccur`` as ``%m/%d/%Y %H:%M``, ``Crime`` UCR codes, ``Count``
    +1 with about 1.3% reversals (-1), state-plane ``XCoord``/``YCoord`` in US feet with about
    3% 0/0, about 0.6% occurrences years before the release) written to a temporary folder, read
    with ``load_mapped_csv`` through the St. Louis preset's column mapping
    (``presets/st_louis.yaml``) and validated with a study-area rectangle around the city and
    ``not_before`` 2015-01-01. Generating the files is not timed.

Each phase reports wall time and the peak resident memory of the process during that phase
(Linux ``VmHWM``, reset between phases through ``/proc/self/clear_refs``), which includes what
earlier phases still hold (the raw frame, while validating).

Run from the repository root::

    .venv/bin/python bench/bench_ingest.py                  # both cases, one after the other
    .venv/bin/python bench/bench_ingest.py london
    .venv/bin/python bench/bench_ingest.py stl --rows 1e6   # a smaller release

The London case needs the shared data folder (``--data``, default ``../shared/data`` beside the
repository).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beatwise.presets import preset_value
from features.ingest import (
    POLICE_UK_TIME_FORMAT,
    QUARANTINE_REASONS,
    ColumnMapping,
    ValidatedEvents,
    load_mapped_csv,
    load_police_uk_api_json,
    validate_events,
)

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
LONDON_ARCHIVE = Path(
    "london-police-api-2016-2018/ward-level-crime-data_london_month_2016-01_2018-06.tar.xz"
)
LONDON_AREAS = Path("london-areas/london-2011-lsoa-gen20.shp")
LONDON_AS_OF = pd.Timestamp("2018-12-31 23:59:59")

STL_AS_OF = pd.Timestamp("2020-01-01")
STL_NOT_BEFORE = pd.Timestamp("2015-01-01")
#: the city's extent in state-plane feet, roughly; generated points fall inside it
STL_X = (870_000.0, 915_000.0)
STL_Y = (990_000.0, 1_070_000.0)
#: the St. Louis preset's column mapping (presets/st_louis.yaml owns it, crime-code map included)
STL_MAPPING = ColumnMapping.model_validate(preset_value("st_louis", "ingest.mapping"))
if STL_MAPPING.crs is None:
    raise RuntimeError(
        "The st_louis preset's mapping has no 'crs'; this bench writes state-plane x/y."
    )
#: NAD83 Missouri East, US survey feet (SLMPD's XCoord/YCoord), as the preset reads them
STL_CRS: str = STL_MAPPING.crs
STL_HEADER = (
    "Complaint",
    "CodedMonth",
    "DateOccur",
    "FlagCrime",
    "FlagUnfounded",
    "FlagAdministrative",
    "Count",
    "FlagCleanup",
    "Crime",
    "District",
    "Description",
    "ILEADSAddress",
    "ILEADSStreet",
    "Neighborhood",
    "LocationName",
    "LocationComment",
    "CADAddress",
    "CADStreet",
    "XCoord",
    "YCoord",
)
#: UCR codes (right-aligned to 6 characters as SLMPD writes them) with rough 2015-2019 shares of
#: their groups; the preset maps the Part I groups (1-8) only, so the Part II codes (simple
#: assault, fraud, vandalism, drugs, disturbance) are ``unknown_category``, as in the real files.
STL_CODES = {
    " 10000": ("HOMICIDE", 1),
    " 21000": ("RAPE -- FORCIBLE", 1),
    " 31111": ("ROBBERY-HIGHWAY-GUN", 9),
    " 41311": ("AGG.ASSAULT-HANDS,FIST,FEET", 19),
    " 52511": ("BURGLARY-RESIDENCE-NIGHT-FORCE", 17),
    " 63111": ("LARCENY-FROM MTR VEH-$500-$24,999", 64),
    " 71000": ("AUTO THEFT-PASSENGER CAR", 17),
    " 81300": ("ARSON-RESIDENCE", 1),
    " 91000": ("ASSAULT-SIMPLE", 17),
    "115400": ("STLG BY DECEIT/IDENTITY THEFT REPORT", 6),
    "142320": ("PROPERTY DAMAGE-PRIVATE", 20),
    "181000": ("DRUGS-POSSESSION", 8),
    "261000": ("DISTURBANCE", 44),
}
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def _peak_mib() -> float:
    """Peak resident memory of this process since the last reset, in MiB (Linux ``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line; this benchmark needs Linux.")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")  # 5 resets the peak resident set size to the current one


def _phase(name: str, work: Callable[[], T]) -> T:
    _reset_peak()
    t0 = time.perf_counter()
    out = work()
    print(f"{name}: {time.perf_counter() - t0:.1f} s wall, peak RSS {_peak_mib():,.0f} MiB")
    return out


def _report(result: ValidatedEvents) -> None:
    by_reason = result.quarantine["reason"].value_counts()
    print(
        f"rows read {result.rows_read:,}, accepted {len(result.accepted):,}, "
        f"quarantined {len(result.quarantine):,}"
    )
    for reason in QUARANTINE_REASONS:
        if reason in by_reason:
            print(f"  {reason}: {by_reason[reason]:,}")


def run_london(data: Path) -> None:
    """Time the London API archive: read from the tar.xz, then validate with LSOA polygons."""
    archive = data / LONDON_ARCHIVE
    if not archive.exists():
        raise FileNotFoundError(f"No London API archive at {archive}; pass --data.")
    areas = gpd.read_file(data / LONDON_AREAS)
    areas = areas.rename(columns={"LSOA11CD": "area_code"}).assign(residents=1.0)
    areas = areas[["area_code", "residents", "geometry"]].to_crs("EPSG:4326")
    print(f"london: {archive.name}, {len(areas):,} LSOA polygons")
    raw = _phase("read (load_police_uk_api_json)", lambda: load_police_uk_api_json(archive))
    result = _phase(
        "validate (validate_events)",
        lambda: validate_events(
            raw, areas=areas, as_of=LONDON_AS_OF, time_format=POLICE_UK_TIME_FORMAT
        ),
    )
    _report(result)


def write_stl_like_csv(folder: Path, *, rows: int, files: int, seed: int = 0) -> list[Path]:
    """Write ``rows`` SLMPD-like records as ``files`` monthly CSVs (``2019/<month>2019.csv``).

    Reversal rows (-1) repeat the complaint and code of an earlier record, mostly one that exists;
    about 5% of complaints carry a second offence under a different code, as SLMPD's do. Numbers
    are drawn for all rows at once; the text is built and written one month at a time.
    """
    if not 1 <= files <= len(MONTHS):
        raise ValueError(f"--files must be in [1, {len(MONTHS)}]; got {files}.")
    rng = np.random.default_rng(seed)
    shares = np.array([w for _, w in STL_CODES.values()], dtype=np.float64)
    code_pos = rng.choice(shares.size, size=rows, p=shares / shares.sum()).astype(np.int8)
    month = np.sort(rng.integers(0, files, size=rows, dtype=np.int8))
    serial = np.arange(rows, dtype=np.int32)

    # Later rows that refer to an earlier one: second offences and reversals.
    u = rng.random(rows)
    reversal = (u >= 0.05) & (u < 0.063)
    refers = np.flatnonzero(u < 0.063)
    earlier = np.maximum(0, refers - rng.integers(1, 200_000, size=refers.size))
    serial[refers] = serial[earlier]
    matched = reversal[refers] & (rng.random(refers.size) < 0.9)  # the rest are orphans
    code_pos[refers[matched]] = code_pos[earlier[matched]]
    del u, refers, earlier, matched

    month_start = np.array([f"2019-{m + 1:02d}-01" for m in range(files)], dtype="datetime64[s]")
    occurred = month_start[month] + rng.integers(0, 28 * 24 * 3600 // 60, size=rows) * 60
    late = np.flatnonzero(rng.random(rows) < 0.006)  # reported in 2019, occurred years earlier
    occurred[late] -= rng.integers(5, 30, size=late.size) * 365 * 86_400
    x = np.round(rng.uniform(*STL_X, size=rows), 1)
    y = np.round(rng.uniform(*STL_Y, size=rows), 1)
    zero = rng.random(rows) < 0.03
    x[zero] = 0.0
    y[zero] = 0.0
    del zero

    bounds = np.searchsorted(month, np.arange(files + 1))
    paths = []
    for m in range(files):
        part = slice(bounds[m], bounds[m + 1])
        lines = _stl_lines(
            serial[part],
            code_pos[part],
            reversal[part],
            occurred[part],
            x[part],
            y[part],
            month=m,
            rng=rng,
        )
        path = folder / "2019" / f"{MONTHS[m]}2019.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            out.write((",".join(STL_HEADER) + "\n").encode())
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
            out.write(lines.buffers()[2][offsets[lines.offset] : offsets[-1]])
        paths.append(path)
    return paths


def _stl_lines(
    serial: np.ndarray,
    code_pos: np.ndarray,
    reversal: np.ndarray,
    occurred: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    month: int,
    rng: np.random.Generator,
) -> pa.Array:
    """One month's CSV lines (each ending in a newline) as Arrow ``large_string``.

    The lines are joined in Arrow so that, as in SLMPD's files, only values holding a comma are
    quoted (Arrow's CSV writer quotes every text value).
    """
    n = serial.size
    codes = np.array(list(STL_CODES))
    descriptions = np.array([f'"{d}"' if "," in d else d for d, _ in STL_CODES.values()])
    district = rng.integers(1, 7, size=n)

    def text(values: np.ndarray) -> pa.Array:
        return pa.array(values).cast(pa.large_string())

    def const(value: str) -> pa.Scalar:
        return pa.scalar(value, pa.large_string())

    columns = {
        "Complaint": pc.binary_join_element_wise(
            const("19"), pc.utf8_lpad(text(serial), 7, "0"), const("-")
        ),
        "CodedMonth": const(f"2019-{month + 1:02d}"),
        "DateOccur": pc.strftime(pa.array(occurred), format="%m/%d/%Y %H:%M").cast(
            pa.large_string()
        ),
        "FlagCrime": const("Y"),
        "FlagUnfounded": const(" "),
        "FlagAdministrative": const(" "),
        "Count": text(np.where(reversal, "-1", "1")),
        "FlagCleanup": const(" "),
        "Crime": text(codes[code_pos]),
        "District": text(district),
        "Description": text(descriptions[code_pos]),
        "ILEADSAddress": text(rng.integers(1, 9000, size=n)),
        "ILEADSStreet": text(np.array(["CHIPPEWA ST", "PAGE BLVD", "GRAND BLVD"])[district % 3]),
        "Neighborhood": text(rng.integers(1, 89, size=n)),
        "LocationName": const(" "),
        "LocationComment": const(" "),
        "CADAddress": text(rng.integers(1, 9000, size=n)),
        "CADStreet": text(np.array(["CHIPPEWA", "PAGE", "GRAND"])[district % 3]),
        "XCoord": text(x),
        "YCoord": text(y),
    }
    assert tuple(columns) == STL_HEADER
    lines = pc.binary_join_element_wise(*columns.values(), const(","))
    lines = pc.binary_join_element_wise(lines, const("\n"), const(""))
    return lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines


def stl_study_area() -> gpd.GeoDataFrame:
    """One rectangle around the generated points, in WGS84."""
    to_wgs84 = pyproj.Transformer.from_crs(STL_CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(np.array(STL_X)[[0, 1, 1, 0]], np.array(STL_Y)[[0, 0, 1, 1]])
    box = shapely.box(min(lon) - 0.01, min(lat) - 0.01, max(lon) + 0.01, max(lat) + 0.01)
    return gpd.GeoDataFrame(
        {"area_code": ["STL"], "residents": [1.0]}, geometry=[box], crs="EPSG:4326"
    )


def run_stl(*, rows: int, files: int, areas: bool) -> None:
    """Time a generated St. Louis-like release: read with a column mapping, then validate."""
    with tempfile.TemporaryDirectory(prefix="beatwise-bench-stl-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = write_stl_like_csv(folder, rows=rows, files=files)
        size = sum(p.stat().st_size for p in paths)
        print(
            f"stl: generated {rows:,} rows in {files} files ({size / 2**20:,.0f} MiB) "
            f"in {time.perf_counter() - t0:.1f} s (not timed below)"
        )
        study_area = stl_study_area() if areas else None
        raw = _phase(
            "read (load_mapped_csv)",
            lambda: load_mapped_csv(paths, mapping=STL_MAPPING, root=folder),
        )
    result = _phase(
        "validate (validate_events)",
        lambda: validate_events(
            raw,
            areas=study_area,
            as_of=STL_AS_OF,
            time_format=STL_MAPPING.time_format,
            time_zone=STL_MAPPING.time_zone,
            not_before=STL_NOT_BEFORE,
        ),
    )
    _report(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", choices=["all", "london", "stl"], default="all")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rows", type=float, default=10e6, help="stl: rows to generate")
    parser.add_argument("--files", type=int, default=12, help="stl: monthly files (1-12)")
    parser.add_argument("--no-areas", action="store_true", help="stl: validate without areas")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.case == "all":
        options = ["--data", str(args.data), "--rows", str(args.rows), "--files", str(args.files)]
        options += ["--no-areas"] if args.no_areas else []
        for case in ("london", "stl"):  # one at a time, each in a fresh process
            subprocess.run([sys.executable, __file__, case, *options], check=True)
    elif args.case == "london":
        run_london(args.data)
    else:
        run_stl(rows=int(args.rows), files=args.files, areas=not args.no_areas)


if __name__ == "__main__":
    main()
