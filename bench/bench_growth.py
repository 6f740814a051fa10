"""Benchmark: how each stage's time and memory grow with events, cells and periods.

Clones the repository's HEAD once per size point into a temporary folder (a fresh MLflow store,
nothing cached), sets the synthetic city's volume (``simulate.scale``) and length
(``simulate.n_weeks``, with ``simulate.start`` moved so that every city ends where the default
one does), commits the params, and runs the pipeline one stage at a time with ``dvc repro -s``,
each in a fresh wrapper process so that its peak memory is its own (the largest process it
started). Then it fits, per stage, wall = a + b x driver over the points, where the driver is the
recorded events for the stages that read events (simulate, ingest, build_cells) and the
cell-periods of the panel for the others, and extrapolates to the national sizes of the scale
issue. A straight line through points 100 times smaller is a floor, not a forecast: the README's
scale section says what else breaks first.

    python bench/bench_growth.py                              # the four default points
    python bench/bench_growth.py --points 0.05x156 0.1x156    # scale x weeks
    python bench/bench_growth.py --points 0.1x156@9           # ... at H3 resolution 9
    python bench/bench_growth.py --points 0.4x520@9 --set simulate.geography.area_km2=630
                                                              # any param, for every point
    python bench/bench_growth.py --out growth.json            # the figures as JSON too
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: the pipeline's stages in dvc.yaml's order (the order they run in)
STAGES = tuple(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
BY_EVENTS = ("simulate", "ingest", "build_cells")
#: the national run of the scale issue: events over ten years, and its panel monthly and weekly
NATIONAL = {"events": 60e6, "cell_months": 22e6, "cell_weeks": 96e6}
#: one stage's command in a wrapper of its own, which reports the largest process it waited for
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True)
class Point:
    scale: float
    weeks: int
    resolution: int
    events: int
    cells: int
    periods: int
    cell_periods: int
    seconds: dict[str, float]
    peak_mib: dict[str, float]


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _set_size(
    repo: Path, scale: float, weeks: int, resolution: int | None, settings: dict[str, object]
) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in settings.items():
        *parents, leaf = dotted.split(".")
        section = params
        for name in parents:
            section = section[name]
        if leaf not in section:
            raise SystemExit(f"--set {dotted}: params.yaml has no such key")
        section[leaf] = value
    if resolution is not None:
        params["cells"]["h3_resolution"] = resolution
    sim = params["simulate"]
    end = dt.date.fromisoformat(str(sim["start"])) + dt.timedelta(weeks=int(sim["n_weeks"]))
    sim.update(scale=scale, n_weeks=weeks, start=(end - dt.timedelta(weeks=weeks)).isoformat())
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(
    repo: Path, stage: str, env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """One stage's ``dvc repro -s`` in ``repo``: its wall (s), the largest process it waited for
    (MiB) and the finished process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, "dvc", "repro", "-s", stage],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    return seconds, int(proc.stderr.strip().splitlines()[-1]) / 1024, proc


def run_point(
    scale: float, weeks: int, resolution: int | None, *, settings: dict[str, object], keep: bool
) -> Point:
    tmp = Path(tempfile.mkdtemp(prefix="beatwise-growth-"))
    repo = tmp / "repo"
    env = _env()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    _set_size(repo, scale, weeks, resolution, settings)
    subprocess.run(["git", "commit", "-q", "-am", "size"], cwd=repo, env=env, check=True)
    seconds: dict[str, float] = {}
    peak: dict[str, float] = {}
    for stage in STAGES:
        seconds[stage], peak[stage], proc = run_stage(repo, stage, env)
        if proc.returncode != 0:
            raise SystemExit(f"{stage} failed at {scale}x{weeks}:\n{proc.stdout[-3000:]}")
        label = f"{scale}x{weeks}@{resolution or 'default'}"
        print(f"  {label} {stage:15s} {seconds[stage]:7.1f} s {peak[stage]:7.0f} MiB")
    quality = json.loads((repo / "reports/data_quality.json").read_text())
    meta = json.loads((repo / "data/processed/panel_meta.json").read_text())
    point = Point(
        scale=scale,
        weeks=weeks,
        resolution=int(meta["h3_resolution"]),
        events=int(quality["rows_accepted"]),
        cells=int(meta["n_cells"]),
        periods=int(meta["n_periods"]),
        cell_periods=int(meta["n_rows"]),
        seconds=seconds,
        peak_mib=peak,
    )
    if keep:
        print(f"kept {repo}")
    else:
        shutil.rmtree(tmp)
    return point


def fit(points: list[Point]) -> dict[str, dict[str, float]]:
    """Per stage: wall = a + b x driver (least squares), and its national extrapolations.

    Empty when the points share one size: a line through one point says nothing of growth.
    """
    out: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        driver = "events" if stage in BY_EVENTS else "cell_periods"
        x = np.array([getattr(p, driver) for p in points], dtype=float)
        if len(set(x)) < 2:
            return {}
        y = np.array([p.seconds[stage] for p in points])
        b, a = np.polyfit(x, y, 1)
        per_million = b * 1e6
        targets = (
            {"national": NATIONAL["events"]}
            if driver == "events"
            else {"monthly": NATIONAL["cell_months"], "weekly": NATIONAL["cell_weeks"]}
        )
        out[stage] = {
            "intercept_s": float(a),
            "s_per_million": float(per_million),
            **{f"{k}_s": float(a + b * v) for k, v in targets.items()},
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--points", nargs="+", default=["0.05x156", "0.1x156", "0.2x156", "0.1x260"]
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary clones")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="params set for every point, dotted keys, YAML values (feedback.workers=1)",
    )
    args = parser.parse_args()
    settings = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        settings[key] = yaml.safe_load(value)
    points = []
    for spec in args.points:
        size, _, resolution = spec.partition("@")
        scale, weeks = size.split("x")
        res = int(resolution) if resolution else None
        points.append(run_point(float(scale), int(weeks), res, settings=settings, keep=args.keep))
    print(
        "\n| scale x weeks | resolution | events | cells | periods | cell-periods | total "
        "| largest process |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p in points:
        largest = max(p.peak_mib, key=lambda stage: p.peak_mib[stage])
        print(
            f"| {p.scale} x {p.weeks} | {p.resolution} | {p.events:,} | {p.cells:,} | "
            f"{p.periods} | {p.cell_periods:,} | {sum(p.seconds.values()):.0f} s | "
            f"{max(p.peak_mib.values()):,.0f} MiB ({largest}) |"
        )
    header = " | ".join(f"{p.scale}x{p.weeks}@{p.resolution}" for p in points)
    fitted = fit(points)
    growth = " s per million | national (linear) |" if fitted else ""
    print(f"\n| stage | {header} |{growth}")
    print("|---|" + "---|" * len(points) + ("---|---|" if fitted else ""))
    for stage in STAGES:
        walls = " | ".join(
            f"{p.seconds[stage]:.1f} s, {p.peak_mib[stage]:,.0f} MiB" for p in points
        )
        if not fitted:  # one size: the walls, and no line through them
            print(f"| {stage} | {walls} |")
            continue
        f = fitted[stage]
        unit = "events" if stage in BY_EVENTS else "cell-periods"
        national = (
            f"{f['national_s'] / 60:.0f} min"
            if "national_s" in f
            else f"{f['monthly_s'] / 60:.0f} min monthly, {f['weekly_s'] / 60:.0f} min weekly"
        )
        print(f"| {stage} | {walls} | {f['s_per_million']:.1f} s ({unit}) | {national} |")
    if args.out:
        payload = {"points": [asdict(p) for p in points], "fit": fitted, "national": NATIONAL}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
