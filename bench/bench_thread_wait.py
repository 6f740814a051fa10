"""Benchmark: the default model fit on a quiet machine and beside a busy neighbour process, with
OpenMP's active and passive wait.

Each fit runs in a fresh interpreter (OpenMP reads ``OMP_WAIT_POLICY`` when LightGBM loads) on the
panel of the last ``dvc repro`` with the committed ``train`` params (2 threads). The busy
neighbour is one process spinning on one core, as another job on a shared 2-core machine would.
Beatwise sets the passive wait itself (``beatwise/__init__.py``); ``ACTIVE`` is OpenMP's default
elsewhere. Prints the median fit time of each case over ``--repeats`` runs, and checks that every
case fitted the same model.

Run from the repository root after ``dvc repro``::

    PYTHONPATH=. .venv/bin/python bench/bench_thread_wait.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

FIT = """
import hashlib, sys, time
import pipelines.train
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import read_parquet
from beatwise.params import load_params
from models.training import train_risk_model
from pathlib import Path
params = load_params("train", pipelines.train.Params, Path("params.yaml"))
panel = PanelMeta.read("data/processed/panel_meta.json")
features = read_parquet("data/processed/features.parquet", required=panel.table_columns())
started = time.perf_counter()
trained = train_risk_model(features, panel=panel, config=params.train)
seconds = time.perf_counter() - started
print(seconds, hashlib.sha256(trained.text.encode()).hexdigest())
"""


def fit(policy: str) -> tuple[float, str]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONPATH": "."}
    out = subprocess.run(
        [sys.executable, "-c", FIT], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), out[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not Path("data/processed/features.parquet").is_file():
        sys.exit("Run `dvc repro` first: this benchmark fits on data/processed/features.parquet.")
    models: set[str] = set()
    for load in ("quiet", "busy neighbour"):
        neighbour = (
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            if load == "busy neighbour"
            else None
        )
        try:
            for policy in ("PASSIVE", "ACTIVE"):
                times = []
                for _ in range(args.repeats):
                    seconds, digest = fit(policy)
                    times.append(seconds)
                    models.add(digest)
                print(
                    f"{load:<15} {policy:<8} median {statistics.median(times):6.1f} s "
                    f"(runs: {', '.join(f'{t:.1f}' for t in times)})",
                    flush=True,
                )
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait()
    print("every fit gave the same model" if len(models) == 1 else f"{len(models)} models differ")


if __name__ == "__main__":
    main()
