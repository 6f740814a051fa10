"""Benchmark: the backtest's refits here (``engine.kind: local``) against the same refits as tasks
on a Dask ``LocalCluster`` (``models.dask_refits``), on the panel of the last ``dvc repro`` with
the committed ``train``, ``evaluate`` and ``engine`` params.

Each path runs ``--repeats`` times in this process, alternating (local, Dask, local, ...); the
cluster is started once and its start-up timed apart, as a stage run pays it once. Prints each
run's seconds, the medians, and a digest of the scores of both paths, which must be equal.
Run from the repository root after ``dvc repro``::

    PYTHONPATH=. .venv/bin/python bench/bench_dask_refits.py --repeats 3
    PYTHONPATH=. .venv/bin/python bench/bench_dask_refits.py --workers 4 --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

import pipelines.evaluate
from beatwise.artefacts.panel import PanelMeta
from beatwise.engine import EngineConfig, dask_client
from beatwise.io import read_parquet
from beatwise.params import load_params
from models.backtest import backtest_scores
from models.dask_refits import dask_refits
from models.evaluation import choose_backtest_periods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="the LocalCluster's processes")
    parser.add_argument(
        "--threads", type=int, default=None, help="train.num_threads (default: params)"
    )
    args = parser.parse_args()
    if not Path("data/processed/fit/features.parquet").is_file():
        sys.exit("Run `dvc repro` first: this benchmark reads data/processed/fit/features.parquet.")
    params = load_params("evaluate", pipelines.evaluate.Params, Path("params.yaml"))
    config = params.train
    if args.threads is not None:
        config = config.model_copy(update={"num_threads": args.threads})
    panel = PanelMeta.read("data/processed/fit/panel_meta.json")
    features = read_parquet("data/processed/fit/features.parquet", required=panel.table_columns())
    periods = choose_backtest_periods(features, config=params.evaluate, period=panel.period)
    refits = len(range(0, len(periods), params.evaluate.refit_every))
    print(f"{len(features):,} rows, {len(periods)} backtest periods, {refits} refits, "
          f"{config.num_threads} LightGBM threads per fit")  # fmt: skip

    def backtest(**extra: object) -> tuple[float, str]:
        started = time.perf_counter()
        scored = backtest_scores(
            features, feature_columns=list(panel.feature_columns), backtest_periods=periods,
            refit_every=params.evaluate.refit_every, config=config, **extra,  # type: ignore[arg-type]
        )  # fmt: skip
        seconds = time.perf_counter() - started
        return seconds, hashlib.sha256(scored["risk_score"].to_numpy().tobytes()).hexdigest()[:16]

    engine = EngineConfig(kind="dask", workers=args.workers)
    started = time.perf_counter()
    with dask_client(engine) as client:
        print(f"cluster start: {time.perf_counter() - started:.2f} s ({args.workers} processes)")
        times: dict[str, list[float]] = {"local": [], "dask": []}
        digests: dict[str, set[str]] = {"local": set(), "dask": set()}
        for repeat in range(args.repeats):
            for name, extra in (("local", {}), ("dask", {"refits": dask_refits(client)})):
                seconds, digest = backtest(**extra)
                times[name].append(seconds)
                digests[name].add(digest)
                print(f"run {repeat + 1} {name}: {seconds:.2f} s, scores {digest}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(pd.Series(medians).round(2).to_string())
    print(f"dask / local: {medians['dask'] / medians['local']:.2f}")
    same = digests["local"] == digests["dask"] and len(digests["local"]) == 1
    print("scores equal on both paths" if same else f"SCORES DIFFER: {digests}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
