"""Benchmark: a week's refresh against a full run, on the default synthetic city.

Clones the repository's HEAD into a temporary folder and runs the pipeline as a force's analyst
would each Monday: the events sit in a folder of their own (``ingest.data_dir``, a copy of the
simulated city held back to an earlier Sunday), ``refresh.refit_model_every`` is 4, and each
week one more week of events lands in the folder before ``dvc repro``. Times, with this
virtualenv's tools:

1. the week's refresh: ``dvc repro`` after one week of events was appended, between fit points
   (the model and its backtest are re-used);
2. a full run on the same data: ``dvc repro --force``.

Prints both walls, their ratio and the stages each ran; checks that the forecasts are the same
bytes.

    python bench/bench_refresh.py [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

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
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="beatwise-refresh-"))
    repo = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
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
    _events_through(source, city, APPENDED)
    refresh, log = _run(["dvc", "repro"], repo)
    refreshed = (repo / FORECAST).read_bytes()
    full, full_log = _run(["dvc", "repro", "--force"], repo)
    same = (repo / FORECAST).read_bytes() == refreshed
    print(f"first run (events to {HELD_BACK}): {first:.1f} s")
    print(f"week's refresh (events to {APPENDED}): {refresh:.1f} s, ran", _ran(log))
    print(f"full run on the same data (dvc repro --force): {full:.1f} s, ran", _ran(full_log))
    print(f"refresh / full: {refresh / full:.3f}; forecasts byte-identical: {same}")
    if args.keep:
        print(f"kept {repo}")
    else:
        shutil.rmtree(tmp)
    return 0 if same else 1


def _ran(log: str) -> str:
    return ", ".join(re.findall(r"Running stage '(\w+)'", log))


if __name__ == "__main__":
    raise SystemExit(main())
