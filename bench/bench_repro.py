"""Benchmark: wall time and peak memory of the default `dvc repro` on the synthetic city.

Clones the repository's HEAD into a temporary folder (so nothing is cached and a fresh MLflow
store is created, as on a new machine) and runs `dvc repro` there with this virtualenv's tools.

    python bench/bench_repro.py [--keep]

Prints the wall time, the peak resident memory of the largest process, and each stage's share.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="beatwise-bench-"))
    repo = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    proc = subprocess.run(
        ["dvc", "repro"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    stamps: dict[str, list[str]] = {}
    stage = None
    for line in proc.stdout.splitlines():
        m = re.match(r"Running stage '(\w+)'", line)
        if m:
            stage = m.group(1)
        t = re.match(r"(\d\d:\d\d:\d\d) ", line)
        if stage and t:
            stamps.setdefault(stage, []).append(t.group(1))
    print(f"default dvc repro: {wall:.1f} s wall, peak memory {peak_mib:.0f} MiB (largest process)")
    print("stage log spans (first to last log line, excludes interpreter start-up):")
    for name, times in stamps.items():
        print(f"  {name:15s} {times[0]} -> {times[-1]}")
    if proc.returncode != 0:
        print(f"dvc repro FAILED ({proc.returncode}):", proc.stdout[-3000:])
    if args.keep:
        print(f"kept {repo}")
    else:
        shutil.rmtree(tmp)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
