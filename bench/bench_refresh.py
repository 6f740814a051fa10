"""Benchmark: a week's refresh against a full run, on the default synthetic city.

Clones the repository's HEAD into a temporary folder and runs the pipeline as a force's analyst
would each Monday: the events sit in a folder of their own (``ingest.data_dir``, a copy of the
simulated city held back to an earlier Sunday), ``refresh.refit_model_every`` is 4, and each
week one more week of events lands in the folder before ``dvc repro``. Times, with this
virtualenv's tools:

1. the week's refresh: ``dvc repro`` after one week of events was appended, between fit points
   (the model and its backtest are re-used);
2. a full run on the same data: ``dvc repro --force``.

``--pairs N`` times N such pairs in the same clone: before each further pair the appended week is
taken out again and ``dvc repro`` brings the outputs back to the held-back data (untimed). Every
``dvc repro`` after the first runs with ``--no-run-cache``: DVC would otherwise restore the
stages of a week it has seen from its run cache, and the refresh would time a cache copy.
Prints each pair's walls, their ratio and the stages each ran, then the medians; checks that
every refresh's forecast is the same bytes as the full run's after it.

``--preset london_decade`` runs the same on a preset's city (its params laid over the clone's
before anything runs; the decade ends on the same Sunday as the default city, so the dates hold).
``--no-full`` skips the forced full runs, which on the decade take half an hour each: the
refreshes are then set against the first run, itself a full run from nothing on the data one week
shorter, and no forecast is compared.

    python bench/bench_refresh.py [--pairs N] [--keep]
    python bench/bench_refresh.py --preset london_decade --pairs 3 --no-full
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from beatwise.presets import load_preset, overlay_params

ROOT = Path(__file__).resolve().parents[1]
#: the simulated city runs to Sunday 2024-12-29; the refresh appends the week to 2024-12-22,
#: whose last complete week (2024-12-16) shares its fit point (2024-11-25) with the week before
HELD_BACK, APPENDED = dt.date(2024, 12, 15), dt.date(2024, 12, 22)
FORECAST = Path("data/forecasts/candidate/forecast.csv")


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _run(cmd: list[str], repo: Path) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=repo, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return wall, proc.stdout


def _events_through(source: Path, city: Path, last_day: dt.date) -> None:
    events = pd.read_parquet(city / "events.parquet")
    kept = events[events["timestamp"] < pd.Timestamp(last_day + dt.timedelta(days=1))]
    kept.to_parquet(source / "events.parquet", index=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1, help="refresh/full pairs timed (1)")
    parser.add_argument("--preset", help="a preset's city instead of the default (london_decade)")
    parser.add_argument(
        "--no-full", action="store_true", help="no forced full runs: set against the first run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="beatwise-refresh-"))
    repo = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    if args.preset:
        base = yaml.safe_load((repo / "params.yaml").read_text())
        laid = overlay_params(base, load_preset(args.preset, repo / "presets"))
        (repo / "params.yaml").write_text(yaml.safe_dump(laid, sort_keys=False))
    _run(["dvc", "repro", "simulate"], repo)
    city, source = repo / "data/raw/synthetic", tmp / "source"
    shutil.copytree(city, source)
    _events_through(source, city, HELD_BACK)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ingest"]["data_dir"] = str(source)
    params["refresh"]["refit_model_every"] = 4
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(
        ["git", "commit", "-qam", "events in a folder of their own"], cwd=repo, check=True
    )
    first, _ = _run(["dvc", "repro"], repo)
    print(f"first run (events to {HELD_BACK}): {first:.1f} s", flush=True)
    refreshes, fulls, all_same = [], [], True
    for pair in range(1, args.pairs + 1):
        if pair > 1:  # back to the held-back week, untimed
            _events_through(source, city, HELD_BACK)
            _run(["dvc", "repro", "--no-run-cache"], repo)
        _events_through(source, city, APPENDED)
        refresh, log = _run(["dvc", "repro", "--no-run-cache"], repo)
        refreshes.append(refresh)
        if args.no_full:
            print(
                f"pair {pair}: week's refresh {refresh:.1f} s, ran {_ran(log)}; refresh / first "
                f"run {refresh / first:.3f}",
                flush=True,
            )
            continue
        refreshed = (repo / FORECAST).read_bytes()
        full, full_log = _run(["dvc", "repro", "--force"], repo)
        same = (repo / FORECAST).read_bytes() == refreshed
        all_same &= same
        fulls.append(full)
        print(
            f"pair {pair}: week's refresh (events to {APPENDED}) {refresh:.1f} s, ran "
            f"{_ran(log)}; full run (dvc repro --force) {full:.1f} s, ran {_ran(full_log)}; "
            f"refresh / full {refresh / full:.3f}; forecasts byte-identical: {same}",
            flush=True,
        )
    if args.no_full:
        print(
            f"median over {args.pairs} refresh(es): {statistics.median(refreshes):.1f} s "
            f"({min(refreshes):.1f}-{max(refreshes):.1f}); refresh / first run "
            f"{statistics.median(refreshes) / first:.3f}"
        )
    else:
        ratios = [r / f for r, f in zip(refreshes, fulls, strict=True)]
        print(
            f"medians over {args.pairs} pair(s): refresh {statistics.median(refreshes):.1f} s "
            f"({min(refreshes):.1f}-{max(refreshes):.1f}), full {statistics.median(fulls):.1f} s "
            f"({min(fulls):.1f}-{max(fulls):.1f}), refresh / full {statistics.median(ratios):.3f} "
            f"({min(ratios):.3f}-{max(ratios):.3f}); every forecast byte-identical: {all_same}"
        )
    if args.keep:
        print(f"kept {repo}")
    else:
        shutil.rmtree(tmp)
    return 0 if all_same else 1


def _ran(log: str) -> str:
    return ", ".join(re.findall(r"Running stage '(\w+)'", log))


if __name__ == "__main__":
    raise SystemExit(main())
