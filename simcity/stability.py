"""Stability of hot spots: how much recent counts say beyond all-history counts, real and synthetic.

For one dataset, target events are counted per H3 resolution-8 cell and period (ISO week or
calendar month). Over the last year of the data, each short-window baseline of
``models.baselines`` (last period; the mean of the last ~1, ~3 and ~12 months; an exponentially
weighted mean) and the all-history count (B4) rank the cells every period, and ``models.metrics``
scores their PAI at 5% of the area against the realised counts. A short window's PAI over
all-history's says how much hot spots move: near 1 or above where they do, well below 1 where
they stay put and a long memory wins. Churn is the share of the top 5% of cells (by the
period's realised count, area-based as ``F_w(k)``) that was not in the previous period's top 5%.
On the synthetic city the truth efficiency ``PEI_T@5%`` of each baseline is also given, with
the true expected counts as both the reference ranking and the events scored, so the figure is
free of sampling noise.

Real samples are read from a folder given by the caller (the project's shared data, never copied
into the repository); a sample whose folder is absent is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.h3index import cell_areas_km2, index_points
from beatwise.taxonomy import CRIME_TYPES, canonical_crime_type
from models.baselines import mean_previous_periods
from models.metrics import flag_top_area, pai, pei_truth

if TYPE_CHECKING:
    from simcity.generate import SimulatedCity

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Period = Literal["week", "month"]

RESOLUTION: Final[int] = 8
COVERAGE: Final[float] = 0.05
#: victim-reported types: the forecast's default targets (``features.target_types``)
TARGET_TYPES: Final[tuple[str, ...]] = tuple(n for n, v in CRIME_TYPES.items() if v[2] == "victim")
#: short windows, in periods: (label, weeks, months); None = exponentially weighted
WINDOWS: Final[tuple[tuple[str, int, int], ...]] = (
    ("last period", 1, 1),
    ("~1 month (4 w / 1 m)", 4, 1),
    ("~3 months (13 w / 3 m)", 13, 3),
    ("~12 months (52 w / 12 m)", 52, 12),
)
#: half-life of the exponentially weighted mean, in periods (weeks, months)
EWMA_HALF_LIFE: Final[tuple[int, int]] = (13, 3)
SCORED: Final[dict[str, int]] = {"week": 52, "month": 12}


@dataclass(frozen=True)
class Panel:
    """Target counts ``[period, cell]`` (periods in time order, cells ascending H3 id)."""

    name: str
    period: Period
    counts: FloatArray
    cells: npt.NDArray[np.uint64]
    starts: npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class Stability:
    """One dataset's figures over its last year (``n_scored`` periods)."""

    name: str
    period: Period
    n_scored: int
    n_cells: int
    events_per_cell_period: float
    pai_all_history: float
    #: short window label -> its pooled PAI@5% over all-history's
    ratio: dict[str, float]
    churn: float
    #: synthetic only: baseline label -> PEI_T@5% (truth as events and reference)
    pei_truth: dict[str, float] | None = None


def count_panel(
    name: str,
    latitude: npt.ArrayLike,
    longitude: npt.ArrayLike,
    when: npt.ArrayLike,
    *,
    period: Period,
    cells: npt.ArrayLike | None = None,
) -> Panel:
    """Count events per resolution-8 cell and period, from the first to the last period seen.

    ``cells``: the cells to keep (default: every cell with an event). Periods are ISO weeks
    (Monday) or calendar months; every period between the first and the last is a row.
    """
    ids = index_points(latitude, longitude, resolution=RESOLUTION)
    t = np.asarray(when, dtype="datetime64[ns]")
    if period == "week":
        day = t.astype("datetime64[D]")
        start = day - ((day.astype(np.int64) + 3) % 7).astype("timedelta64[D]")  # Monday
        step = np.timedelta64(7, "D")
        first, last = start.min(), start.max()
        idx = ((start - first) // step).astype(np.int64)
        starts = first + np.arange(int((last - first) // step) + 1) * step
    else:
        month = t.astype("datetime64[M]")
        first, last = month.min(), month.max()
        idx = (month - first).astype(np.int64)
        starts = (first + np.arange(int((last - first).astype(np.int64)) + 1)).astype(
            "datetime64[D]"
        )
    cell_set = np.unique(ids) if cells is None else np.unique(np.asarray(cells, dtype=np.uint64))
    pos = np.searchsorted(cell_set, ids)
    pos_c = np.minimum(pos, cell_set.size - 1)
    hit = cell_set[pos_c] == ids
    counts = np.zeros((starts.size, cell_set.size))
    np.add.at(counts, (idx[hit], pos_c[hit]), 1.0)
    return Panel(name=name, period=period, counts=counts, cells=cell_set, starts=starts)


def baseline_scores(panel: Panel, score_periods: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
    """All-history (B4), the short windows and the exponentially weighted mean,
    ``[score, cell]`` each."""
    unit = 0 if panel.period == "week" else 1
    out = {"all history": mean_previous_periods(panel.counts, score_periods, window=None)}
    for label, weeks, months in WINDOWS:
        window = (weeks, months)[unit]
        out[label] = mean_previous_periods(panel.counts, score_periods, window=window)
    half = EWMA_HALF_LIFE[unit]
    decay = 0.5 ** (1.0 / half)
    ewma = np.zeros_like(panel.counts)
    for t in range(1, panel.counts.shape[0]):  # a loop over periods, vectorised over cells
        ewma[t] = decay * ewma[t - 1] + (1.0 - decay) * panel.counts[t - 1]
    out[f"exp. weighted (half-life {half} {panel.period}s)"] = ewma[score_periods]
    return out


def measure(panel: Panel, *, truth: FloatArray | None = None) -> Stability:
    """PAI ratios and churn over the panel's last year; PEI_T per baseline when ``truth``
    (``[scored period, cell]`` true expected counts) is given."""
    n_scored = min(SCORED[panel.period], panel.counts.shape[0] - 1)
    periods = np.arange(panel.counts.shape[0] - n_scored, panel.counts.shape[0])
    y = panel.counts[periods]
    areas = cell_areas_km2(panel.cells)
    scores = baseline_scores(panel, periods)
    kw: dict[str, Any] = {"areas_km2": areas, "cell_ids": panel.cells, "coverage": COVERAGE}
    pais = {name: pai(y, s, **kw).pooled for name, s in scores.items()}
    flagged = flag_top_area(panel.counts[periods[0] - 1 :], **kw)
    new = (flagged[1:] & ~flagged[:-1]).sum(axis=1) / np.maximum(flagged[1:].sum(axis=1), 1)
    pei_t = None
    if truth is not None:
        pei_t = {name: pei_truth(truth, s, truth, **kw).pooled for name, s in scores.items()}
    base = pais.pop("all history")
    return Stability(
        name=panel.name,
        period=panel.period,
        n_scored=n_scored,
        n_cells=panel.cells.size,
        events_per_cell_period=float(y.mean()),
        pai_all_history=base,
        ratio={name: v / base for name, v in pais.items()},
        churn=float(new.mean()),
        pei_truth=pei_t,
    )


# ---------------------------------------------------------------------- datasets
def synthetic_panels(city: SimulatedCity, name: str) -> tuple[Panel, Panel, FloatArray]:
    """The city's recorded target events as weekly and monthly panels on the res-8 cells of the
    study area, and the truth's expected recorded counts ``[last 52 weeks, cell]``."""
    ev = city.events
    kind = ev["crime_type"].astype(str).map(canonical_crime_type)
    ev = ev[kind.isin(TARGET_TYPES).to_numpy()]
    geo = city.geography
    cells = np.unique(index_points(geo.lat, geo.lon, resolution=RESOLUTION))
    args = (ev["latitude"].to_numpy(), ev["longitude"].to_numpy(), ev["timestamp"].to_numpy())
    weekly = count_panel(name, *args, period="week", cells=cells)
    monthly = count_panel(name, *args, period="month", cells=cells)
    weeks = weekly.starts[-SCORED["week"] :]
    types = [t for t in TARGET_TYPES if t in city.truth.types]
    truth = city.truth.expected_counts(cells, weeks, types, kind="recorded")
    return weekly, monthly, truth


def london_panel(folder: Path) -> Panel | None:
    """London's data.police.uk API sample (monthly), Apr 2016 - Jun 2018 as in REALISM.md
    (March 2016 is mostly missing); None when the file is absent."""
    path = folder / "DERIVED_london_street_crimes_api_2016-01_2018-06.csv.gz"
    if not path.is_file():
        logger.info("London sample not found at %s; skipped", path)
        return None
    df = pd.read_csv(path, usecols=["month", "category", "latitude", "longitude"])
    kind = df["category"].map(lambda c: canonical_crime_type(str(c)))
    keep = kind.isin(TARGET_TYPES) & (df["month"] >= "2016-04") & df["latitude"].notna()
    df = df[keep.to_numpy()]
    when = pd.to_datetime(df["month"], format="%Y-%m").to_numpy()
    return count_panel(
        "London", df["latitude"].to_numpy(), df["longitude"].to_numpy(), when, period="month"
    )


def st_louis_events(folder: Path) -> pd.DataFrame | None:
    """St. Louis's UCR Part I offences (groups 1-8, ``Count`` = 1, occurrence dates 2015-01-01 to
    2019-11-30, geocoded) as latitude, longitude and occurrence time; None when absent."""
    files = sorted((folder / "raw").glob("*/*.csv"))
    if not files:
        logger.info("St. Louis sample not found in %s; skipped", folder)
        return None
    frames = []
    for path in files:  # 60 monthly files
        df = pd.read_csv(path, encoding="cp1252", dtype=str)
        df.columns = [c.replace("\ufeff", "").replace("ï»¿", "").replace(" ", "").replace("-", "")
                      for c in df.columns]  # fmt: skip
        frames.append(df[["DateOccur", "Crime", "Count", "XCoord", "YCoord"]])
    df = pd.concat(frames, ignore_index=True)
    when = pd.to_datetime(df["DateOccur"], format="%m/%d/%Y %H:%M", errors="coerce")
    x = pd.to_numeric(df["XCoord"], errors="coerce")
    y = pd.to_numeric(df["YCoord"], errors="coerce")
    group = pd.to_numeric(df["Crime"], errors="coerce") // 10000
    keep = (
        (pd.to_numeric(df["Count"], errors="coerce") == 1)
        & group.between(1, 8)
        & (when >= "2015-01-01")
        & (when < "2019-12-01")
        & (x > 0)
        & (y > 0)
    )
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("ESRI:102696", "EPSG:4326", always_xy=True).transform(
        x[keep].to_numpy(),
        y[keep].to_numpy(),  # US survey feet, as the CRS says
    )
    return pd.DataFrame({"latitude": lat, "longitude": lon, "when": when[keep].to_numpy()})


def real_measures(data_root: Path | None) -> list[Stability]:
    """The real samples' figures (London monthly; St. Louis weekly and monthly) that exist."""
    if data_root is None or not data_root.is_dir():
        return []
    out = []
    london = london_panel(data_root / "london-police-api-2016-2018")
    if london is not None:
        out.append(measure(london))
    stl = st_louis_events(data_root / "stl-slmpd-2015-2019")
    if stl is not None:
        args = (stl["latitude"].to_numpy(), stl["longitude"].to_numpy(), stl["when"].to_numpy())
        for period in ("week", "month"):
            out.append(measure(count_panel("St. Louis", *args, period=period)))
    return out


def stability_section(synthetic: Sequence[Stability], real: Sequence[Stability]) -> list[str]:
    """Markdown lines of the report's "Stability of hot spots" section."""
    labels = [label for label, _, _ in WINDOWS]
    rows = [*synthetic, *real]
    ewma = [next(k for k in r.ratio if k.startswith("exp.")) for r in rows]
    lines = [
        "## Stability of hot spots",
        "",
        f"Target (victim-reported) events per H3 res-{RESOLUTION} cell and period, rolling over "
        "the last year of each dataset (52 weeks or 12 months). Each short-window baseline's "
        "pooled PAI@5% over the all-history count's (B4), and churn: the share of the period's "
        "top 5% of cells (by realised count) that was not in the previous period's. A ratio "
        "well below 1 says a long memory ranks cells better than recent counts (hot spots stay "
        "put); sparse counts push every short window down too, so density is shown.",
        "",
        "| dataset | period | events / cell / period | PAI@5% all history | "
        + " | ".join(labels)
        + " | exp. weighted | churn of top 5% |",
        "|---|---|---|---|" + "---|" * (len(labels) + 2),
    ]
    for r, ew in zip(rows, ewma, strict=True):
        lines.append(
            f"| {r.name} | {r.period} | {r.events_per_cell_period:.2f} | {r.pai_all_history:.2f} | "
            + " | ".join(f"{r.ratio[label]:.3f}" for label in labels)
            + f" | {r.ratio[ew]:.3f} | {r.churn:.3f} |"
        )
    lines += [
        "",
        *_range_lines(synthetic, real, labels),
        "",
        "Why a miss can be expected: only St. Louis gives weeks, so the weekly range is one "
        "city's value, not a spread; London's monthly sample holds ~10 times the synthetic "
        "city's events per cell, so its short windows lose less to noise and its churn is "
        "lower (churn of the realised top 5% falls with density). The synthetic city is "
        "calibrated to St. Louis's weekly figures, at a similar density, not tuned to them.",
    ]
    for r in synthetic:
        if r.pei_truth:
            lines += [
                "",
                f"**Truth efficiency on the {r.name} city** (PEI_T@5% over its last 52 weeks, "
                "true expected recorded counts as events and reference):",
                "",
                "| baseline | PEI_T@5% |",
                "|---|---|",
                *(f"| {name} | {v:.3f} |" for name, v in r.pei_truth.items()),
            ]
    return lines


def _range_lines(
    synthetic: Sequence[Stability], real: Sequence[Stability], labels: list[str]
) -> list[str]:
    if not real:
        return ["Real samples not found: no range to compare with."]
    out = []
    for s in synthetic:
        same = [r for r in real if r.period == s.period]
        if not same:
            continue
        misses = []
        for label in [*labels, "churn"]:
            vals = [r.churn if label == "churn" else r.ratio[label] for r in same]
            v = s.churn if label == "churn" else s.ratio[label]
            lo, hi = min(vals), max(vals)
            if not lo <= v <= hi:
                misses.append(f"{label} {v:.3f} (real {lo:.3f}-{hi:.3f})")
        where = ", ".join(sorted({r.name for r in same}))
        verdict = (
            "inside the real range on every measure"
            if not misses
            else ("outside the real range: " + "; ".join(misses))
        )
        out.append(f"- {s.name}, {s.period}ly, against {where}: {verdict}.")
    return out
