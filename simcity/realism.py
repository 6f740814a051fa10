"""Set the default synthetic city beside real figures (REALISM.md), measured the same way.

``python -m simcity.realism --out docs/realism-report.md`` simulates the default parameters at
London's scale (``scale`` 1.0) over 27 months, measures spatial concentration on H3 res-9 cells,
Knox ratios, hour and weekday profiles and monthly swings, and writes a Markdown report. The
measurements are plain functions so tests and notebooks can apply them to any events.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from beatwise.h3index import index_points
from beatwise.io import write_text
from beatwise.taxonomy import canonical_crime_type
from simcity.config import DEFAULT_PARAMS_PATH, CityConfig, load_city_config

if TYPE_CHECKING:
    from simcity.generate import SimulatedCity

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
EARTH_RADIUS_M: Final[float] = 6_371_008.8
TOP_SHARES: Final[tuple[float, ...]] = (0.01, 0.05, 0.10, 0.20)
KNOX_WINDOWS: Final[tuple[tuple[float, float], ...]] = ((200, 7), (400, 14), (400, 28), (800, 56))
NIGHT_HOURS: Final[frozenset[int]] = frozenset({22, 23, 0, 1, 2, 3})

#: REALISM.md, London (data.police.uk API sample, 25 boroughs, Apr 2016 - Jun 2018):
#: canonical type -> (per month, top 1%, top 5%, top 10%, top 20%, zero, month max/min)
LONDON: Final[dict[str, tuple[float, ...]]] = {
    "violence_sexual": (12965, 0.100, 0.270, 0.404, 0.590, 0.041, 1.28),
    "burglary": (4468, 0.070, 0.207, 0.325, 0.501, 0.053, 1.47),
    "vehicle_crime": (6288, 0.065, 0.208, 0.334, 0.519, 0.046, 1.45),
    "criminal_damage_arson": (3732, 0.074, 0.231, 0.364, 0.559, 0.104, 1.42),
    "robbery": (1661, 0.168, 0.398, 0.560, 0.745, 0.345, 2.11),
    "theft_person": (2549, 0.403, 0.729, 0.837, 0.921, 0.464, 1.98),
    "other_theft": (6597, 0.227, 0.495, 0.633, 0.768, 0.100, 1.16),
    "shoplifting": (2965, 0.416, 0.782, 0.918, 0.983, 0.689, 1.22),
    "bicycle_theft": (1100, 0.192, 0.471, 0.640, 0.814, 0.466, 2.48),
    "drugs": (1903, 0.180, 0.405, 0.557, 0.734, 0.296, 1.45),
    "possession_weapons": (353, 0.171, 0.421, 0.600, 0.815, 0.626, 2.11),
    "public_order": (2855, 0.138, 0.347, 0.490, 0.673, 0.183, 1.56),
    "anti_social_behaviour": (14047, 0.122, 0.319, 0.463, 0.649, 0.066, 1.84),
}

#: REALISM.md, St. Louis 2015-2019: UCR group -> (matching canonical type, Knox 200m/7d,
#: 400m/14d, 400m/28d, 800m/56d, peak hour, night share, weekday max/min)
ST_LOUIS: Final[dict[str, tuple[str, float, float, float, float, int, float, float]]] = {
    "robbery": ("robbery", 1.27, 1.15, 1.12, 1.05, 21, 0.35, 1.21),
    "aggravated assault": ("violence_sexual", 4.62, 1.64, 1.34, 1.06, 22, 0.30, 1.28),
    "burglary": ("burglary", 1.57, 1.24, 1.20, 1.09, 12, 0.17, 1.21),
    "larceny": ("other_theft", 1.28, 1.10, 1.09, 1.03, 18, 0.18, 1.12),
    "vehicle theft": ("vehicle_crime", 1.33, 1.12, 1.10, 1.04, 22, 0.28, 1.15),
}
ST_LOUIS_PER_YEAR: Final[dict[str, float]] = {
    "robbery": 1739,
    "aggravated assault": 3690,
    "burglary": 3348,
    "larceny": 12550,
    "vehicle theft": 3117,
}
KNOX_RANGE: Final[dict[tuple[float, float], tuple[float, float]]] = {
    (200, 7): (1.27, 4.62),
    (400, 14): (1.10, 1.64),
    (400, 28): (1.09, 1.34),
    (800, 56): (1.03, 1.09),
}


# ---------------------------------------------------------------------- measurements
def concentration(
    latitude: npt.ArrayLike,
    longitude: npt.ArrayLike,
    crime_type: npt.ArrayLike,
    *,
    resolution: int = 9,
) -> pd.DataFrame:
    """Share of each type's events in the top 1/5/10/20% of H3 cells, and the zero share.

    Cells are those with any event of any type (as in REALISM.md); each type ranks them by its
    own count. Returns one row per type: ``top1``, ``top5``, ``top10``, ``top20``, ``zero``.
    """
    cells = index_points(latitude, longitude, resolution=resolution)
    uniq, pos = np.unique(cells, return_inverse=True)
    kinds = np.asarray(crime_type)
    rows = {}
    for name in pd.unique(kinds):
        counts = np.bincount(pos[kinds == name], minlength=uniq.size).astype(np.float64)
        ranked = np.sort(counts)[::-1]
        total = ranked.sum()
        row = {}
        for share in TOP_SHARES:
            k = max(1, round(share * uniq.size))
            row[f"top{round(share * 100)}"] = ranked[:k].sum() / total
        row["zero"] = float(np.mean(counts == 0))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def knox_ratio(
    latitude: npt.ArrayLike,
    longitude: npt.ArrayLike,
    timestamp: npt.ArrayLike,
    *,
    distance_m: float,
    window_days: float,
    n_random_pairs: int = 200_000,
    seed: int = 0,
) -> float:
    """Knox ratio: pairs close in space and time over the number expected under independence.

    Space-close pairs are counted exactly (distance <= ``distance_m`` on a local equirectangular
    projection); space-and-time-close pairs exactly (|Δt| <= ``window_days``); the time-closeness
    probability is estimated from ``n_random_pairs`` random pairs (seeded), as in REALISM.md.
    Events at identical coordinates are grouped, so snapped locations make this fast.
    """
    lat = np.asarray(latitude, dtype=np.float64)
    lon = np.asarray(longitude, dtype=np.float64)
    t = np.asarray(timestamp, dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 86_400e9
    n = t.size
    if n < 3:
        return float("nan")
    lat0 = math.radians(float(np.mean(lat)))
    x = np.radians(lon) * EARTH_RADIUS_M * math.cos(lat0)
    y = np.radians(lat) * EARTH_RADIUS_M
    loc_xy, loc = np.unique(np.c_[x, y], axis=0, return_inverse=True)
    loc = loc.ravel()
    counts = np.bincount(loc).astype(np.float64)
    pairs = cKDTree(loc_xy).query_pairs(distance_m, output_type="ndarray")
    n_space = float(
        (counts * (counts - 1) / 2).sum() + (counts[pairs[:, 0]] * counts[pairs[:, 1]]).sum()
    )

    t_rel = t - t.min()
    span = float(t_rel.max()) + 4 * window_days + 1.0
    order = np.lexsort((t_rel, loc))
    key = loc[order] * span + t_rel[order]
    loc_sorted = loc[order]
    start = np.searchsorted(loc_sorted, np.arange(loc_xy.shape[0]), side="left")
    # Same-location pairs (i < j in time order).
    same = np.searchsorted(key, key + window_days, side="right") - (np.arange(n) + 1)
    n_close = float(same.sum())
    # Distinct-location pairs, in chunks so memory stays bounded.
    if pairs.size:
        a, b = pairs[:, 0], pairs[:, 1]
        per_pair = counts[a].astype(np.int64)
        bounds = np.concatenate([[0], np.cumsum(per_pair)])
        chunk = 4_000_000
        first = 0
        while first < a.size:
            last = int(np.searchsorted(bounds, bounds[first] + chunk, side="right")) - 1
            last = max(last, first + 1)
            sel = slice(first, last)
            reps = per_pair[sel]
            pa_idx = np.repeat(np.arange(first, last), reps)
            offset = np.arange(int(reps.sum())) - np.repeat(
                bounds[first:last] - bounds[first], reps
            )
            ev = start[a[pa_idx]] + offset
            t_i = t_rel[order][ev]
            base = b[pa_idx] * span
            lo = np.searchsorted(key, base + t_i - window_days, side="left")
            hi = np.searchsorted(key, base + t_i + window_days, side="right")
            n_close += float((hi - lo).sum())
            first = last
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_random_pairs)
    j = rng.integers(0, n - 1, n_random_pairs)
    j = j + (j >= i)
    p_time = float(np.mean(np.abs(t[i] - t[j]) <= window_days))
    expected = n_space * p_time
    return n_close / expected if expected > 0 else float("nan")


def timing(timestamp: npt.ArrayLike) -> dict[str, float]:
    """Peak hour, night share (22:00-03:59) and weekday max/min of a set of events."""
    ts = pd.DatetimeIndex(np.asarray(timestamp, dtype="datetime64[ns]"))
    hours = np.bincount(ts.hour, minlength=24)
    weekdays = np.bincount(ts.day_of_week, minlength=7)
    return {
        "peak_hour": int(np.argmax(hours)),
        "night_share": float(hours[sorted(NIGHT_HOURS)].sum() / max(hours.sum(), 1)),
        "weekday_max_min": float(weekdays.max() / max(weekdays.min(), 1)),
    }


def month_max_min(timestamp: npt.ArrayLike) -> float:
    """Largest over smallest monthly total, over complete calendar months only."""
    ts = np.asarray(timestamp, dtype="datetime64[ns]")
    if ts.size == 0:
        return float("nan")
    first_full = (ts.min().astype("datetime64[M]") + np.timedelta64(1, "M")).astype(
        "datetime64[ns]"
    )
    last_full = ts.max().astype("datetime64[M]").astype("datetime64[ns]")
    inside = ts[(ts >= first_full) & (ts < last_full)]
    if inside.size == 0:
        return float("nan")
    months = inside.astype("datetime64[M]")
    counts = np.unique(months, return_counts=True)[1]
    return float(counts.max() / counts.min())


# ---------------------------------------------------------------------- report
def realism_config(*, params: Path = DEFAULT_PARAMS_PATH, scale: float, n_weeks: int) -> CityConfig:
    """The default parameters over the London sample's period (from Monday 2016-04-04)."""
    return load_city_config(
        params, overrides={"scale": scale, "n_weeks": n_weeks, "start": "2016-04-04"}
    )


def build_report(
    config: CityConfig,
    *,
    knox_types: Sequence[str] | None = None,
    stability_config: CityConfig | None = None,
    data_root: Path | None = None,
) -> str:
    """Simulate ``config`` and render the Markdown realism report.

    ``stability_config`` (the default city, as the pipeline runs it) adds the "Stability of hot
    spots" section, set beside the real samples found under ``data_root`` (skipped if absent).
    """
    from simcity.generate import simulate_city

    city = simulate_city(config)
    ev = city.events
    canon = np.array([canonical_crime_type(str(v)) for v in ev["crime_type"].cat.categories])
    kind = canon[ev["crime_type"].cat.codes.to_numpy()]
    conc = concentration(ev["latitude"], ev["longitude"], kind)
    all_conc = concentration(ev["latitude"], ev["longitude"], np.zeros(len(ev), dtype=np.int8))
    months_in = len(np.unique(ev["timestamp"].to_numpy().astype("datetime64[M]")))
    n_cells = len(np.unique(index_points(ev["latitude"], ev["longitude"], resolution=9)))
    lines = [
        "# Realism report: the default synthetic city beside real figures",
        "",
        "Generated by `python -m simcity.realism --out docs/realism-report.md` from the default "
        f"parameters (`params.yaml`, seed {config.seed}) at scale "
        f"{config.scale:g} (London's volume) from {config.start} for {config.n_weeks} weeks "
        f"({months_in} calendar months, like the London sample's Apr 2016 - Jun 2018): "
        f"{len(ev):,} recorded events on {n_cells:,} res-9 cells with any event (London sample: "
        "10,159). Real figures come from `REALISM.md`, measured the same way: H3 res-9 cells "
        "with any event, each type ranked by its own count; Knox ratios with exact "
        "space-close and space-time-close pair counts and the time-closeness probability from "
        "200,000 seeded random pairs; night = 22:00-03:59. They describe real data; they are "
        "not targets for any model's accuracy.",
        "",
    ]
    lines += _concentration_section(conc, all_conc, ev, kind, config)
    lines += _knox_section(
        ev,
        kind,
        knox_types or config.type_names,
        area_km2=config.geography.area_km2,
        years=config.n_weeks * 7 / 365.25,
    )
    lines += _timing_section(ev, kind, config)
    lines += _process_section(city)
    if stability_config is not None:
        lines += ["", *_stability_lines(stability_config, data_root)]
    return "\n".join(lines) + "\n"


def _stability_lines(config: CityConfig, data_root: Path | None) -> list[str]:
    from simcity.generate import simulate_city
    from simcity.stability import measure, real_measures, stability_section, synthetic_panels

    city = simulate_city(config)
    name = f"synthetic (scale {config.scale:g}, {config.n_weeks} weeks)"
    weekly, monthly, truth = synthetic_panels(city, name)
    synthetic = [measure(weekly, truth=truth), measure(monthly)]
    return stability_section(synthetic, real_measures(data_root))


def _concentration_section(
    conc: pd.DataFrame,
    all_conc: pd.DataFrame,
    ev: pd.DataFrame,
    kind: np.ndarray,
    config: CityConfig,
) -> list[str]:
    months = ev["timestamp"].to_numpy()
    lines = [
        "## Spatial concentration (London, 25 boroughs, Apr 2016 - Jun 2018)",
        "",
        "Share of a type's events in the top 1/5/10/20% of res-9 cells; `sim` = synthetic, "
        "`real` = London; ✓ = top-5% share within ±0.05 of London. Per month: synthetic recorded "
        "events per month beside the London sample's (25 of 33 boroughs, so the synthetic city "
        "at scale 1 is ~1/0.7 larger). Month max/min over complete months.",
        "",
        "| type | per month sim / real | top 1% sim / real | top 5% sim / real "
        "| top 10% sim / real | top 20% sim / real | zero sim / real "
        "| month max/min sim / real | top 5% ok |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    n_months = (ev["timestamp"].max() - ev["timestamp"].min()).days / 30.44
    for name in config.type_names:
        if name not in conc.index:
            continue
        c = conc.loc[name]
        sel = kind == name
        per_month = sel.sum() / n_months
        mm = month_max_min(months[sel])
        real = LONDON.get(name)
        if real is None:
            lines.append(
                f"| {name} | {per_month:,.0f} / - | {c.top1:.3f} / - | {c.top5:.3f} / - | "
                f"{c.top10:.3f} / - | {c.top20:.3f} / - | {c.zero:.3f} / - | {mm:.2f} / - | n/a |"
            )
            continue
        ok = "✓" if abs(c.top5 - real[2]) <= 0.05 else "✗"
        lines.append(
            f"| {name} | {per_month:,.0f} / {real[0]:,.0f} | {c.top1:.3f} / {real[1]:.3f} | "
            f"{c.top5:.3f} / {real[2]:.3f} | {c.top10:.3f} / {real[3]:.3f} | "
            f"{c.top20:.3f} / {real[4]:.3f} | {c.zero:.3f} / {real[5]:.3f} | "
            f"{mm:.2f} / {real[6]:.2f} | {ok} |"
        )
    a = all_conc.iloc[0]
    lines.append(
        f"| all types | {len(ev) / n_months:,.0f} / 62,133 | {a.top1:.3f} / 0.123 | "
        f"{a.top5:.3f} / 0.300 | {a.top10:.3f} / 0.431 | {a.top20:.3f} / 0.605 | - | "
        f"{month_max_min(months):.2f} / 1.28 | {'✓' if abs(a.top5 - 0.300) <= 0.05 else '✗'} |"
    )
    return [*lines, ""]


#: St. Louis city's land area (km²), to compare event densities with REALISM.md's per-year counts.
ST_LOUIS_KM2: Final[float] = 160.0


def _knox_section(
    ev: pd.DataFrame, kind: np.ndarray, types: Sequence[str], *, area_km2: float, years: float
) -> list[str]:
    lines = [
        "## Near repeats: Knox ratios (St. Louis 2015-2019 ranges)",
        "",
        "Knox ratio per type on the synthetic recorded events; the real range is the span over "
        "St. Louis's five UCR groups (200 m/7 d: 1.27-4.62; 400 m/14 d: 1.10-1.64). ✓ = both "
        "inside that range, `partly` = one of the two. Density = recorded events per km² per "
        f"year (St. Louis: per-year count over its {ST_LOUIS_KM2:.0f} km²).",
        "",
        "| type | density / km² / yr | 200 m / 7 d | 400 m / 14 d | 400 m / 28 d | 800 m / 56 d "
        "| in range |",
        "|---|---|---|---|---|---|---|",
    ]
    lat, lon, ts = ev["latitude"].to_numpy(), ev["longitude"].to_numpy(), ev["timestamp"].to_numpy()
    missed = []
    for name in types:
        sel = kind == name
        if sel.sum() < 50:
            continue
        vals = [
            knox_ratio(lat[sel], lon[sel], ts[sel], distance_m=d, window_days=w, seed=1)
            for d, w in KNOX_WINDOWS
        ]
        ok = [
            KNOX_RANGE[win][0] <= v <= KNOX_RANGE[win][1]
            for win, v in zip(KNOX_WINDOWS[:2], vals[:2], strict=True)
        ]
        flag = "✓" if all(ok) else ("partly" if any(ok) else "✗")
        if not all(ok):
            missed.append(name)
        density = sel.sum() / area_km2 / years
        lines.append(
            f"| {name} | {density:.0f} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {flag} |"
        )
    real_density = ", ".join(
        f"{group} {ST_LOUIS_PER_YEAR[group] / ST_LOUIS_KM2:.0f}" for group in ST_LOUIS
    )
    lines += [
        "| St. Louis (real) | " + real_density + " | 1.27-4.62 | 1.10-1.64 | 1.09-1.34 | "
        "1.03-1.09 | |",
        "",
    ]
    if missed:
        lines += [
            f"**Where the defaults miss ({', '.join(missed)}), and why.** A Knox ratio is "
            "1 + (triggered close pairs per event) / (chance close pairs per event). Chance "
            "pairs grow with the density of events, triggered pairs do not: at London's volume "
            "most types are several times denser per km² than St. Louis's groups (and very "
            "concentrated), so with a triggered share held to the assumed 0.1-0.3 "
            "(self-excitation as in Mohler et al. 2011) their ratios stay below St. Louis's. "
            "Raising the triggered share, or "
            "squeezing offspring into days and metres, until these ratios reached St. Louis's "
            "would calibrate the city to a smaller, sparser one and overstate how much recent "
            "events predict. St. Louis's 4.62 for aggravated assault also reflects several "
            "records per incident, which the simulator does not model. The thinly spread types "
            "(robbery, possession of weapons, other crime) land inside the range; burglary, "
            "the best-studied near-repeat crime, is calibrated to its St. Louis short-range "
            "ratio.",
            "",
        ]
    return lines


def _timing_section(ev: pd.DataFrame, kind: np.ndarray, config: CityConfig) -> list[str]:
    lines = [
        "## Timing (St. Louis 2015-2019, occurrence times)",
        "",
        "| synthetic type (St. Louis group) | peak hour sim / real | night share sim / real | "
        "weekday max/min sim / real |",
        "|---|---|---|---|",
    ]
    ts = ev["timestamp"].to_numpy()
    matched = {v[0]: (k, v) for k, v in ST_LOUIS.items()}
    for name in config.type_names:
        sel = kind == name
        if sel.sum() == 0:
            continue
        tm = timing(ts[sel])
        if name in matched:
            group, real = matched[name]
            lines.append(
                f"| {name} ({group}) | {tm['peak_hour']} / {real[5]} | "
                f"{tm['night_share']:.2f} / {real[6]:.2f} | "
                f"{tm['weekday_max_min']:.2f} / {real[7]:.2f} |"
            )
        else:
            lines.append(
                f"| {name} | {tm['peak_hour']} / - | {tm['night_share']:.2f} / - | "
                f"{tm['weekday_max_min']:.2f} / - |"
            )
    return [*lines, ""]


def _process_section(city: SimulatedCity) -> list[str]:
    cfg = city.config
    com = city.committed
    lines = [
        "## The process behind it (calibrated to the assumed ranges of docs/synthetic-city.md)",
        "",
        "Triggered share = committed in-period events that are offspring "
        "(assumed range: 0.1-0.3). "
        "Seasonal swing = peak over trough of the configured weekly factor (assumed range: "
        "10-20%). Recorded share = recorded over committed.",
        "",
        "| type | recorded / year | configured / year | triggered share | seasonal swing | "
        "recorded share |",
        "|---|---|---|---|---|---|",
    ]
    years = cfg.n_weeks * 7 / 365.25
    kinds = com["crime_type"].to_numpy()
    gen = com["generation"].to_numpy()
    rec = com["recorded"].to_numpy()
    for i, name in enumerate(cfg.type_names):
        sel = kinds == name
        amp = cfg.crime_types[name].seasonal_amplitude
        lines.append(
            f"| {name} | {rec[sel].sum() / years:,.0f} | "
            f"{cfg.crime_types[name].yearly_volume * cfg.scale:,.0f} | "
            f"{np.mean(gen[sel] > 0):.3f} | {(1 + amp) / (1 - amp) - 1:.0%} | "
            f"{np.mean(rec[sel]):.2f} |"
        )
        _ = i
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: write the realism report (deterministic for the default params)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/realism-report.md"))
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_PATH)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--weeks", type=int, default=117, help="117 weeks ~ 27 months")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_PARAMS_PATH.parents[1] / "shared" / "data",
        help="folder of the real samples (read in place; a missing sample is skipped)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = realism_config(params=args.params, scale=args.scale, n_weeks=args.weeks)
    report = build_report(
        config, stability_config=load_city_config(args.params), data_root=args.data_root
    )
    write_text(args.out, report)
    logger.info("Wrote %s in %.0f s", args.out, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
