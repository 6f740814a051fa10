"""Benchmark: step the default synthetic city week by week under a changing patrol.

Run from the repository root::

    .venv/bin/python bench/bench_stepper.py                # default city, 104 + 52 weeks
    .venv/bin/python bench/bench_stepper.py --seeds 3      # three seeds, one after another

Times building ``simcity.loop.CityStepper`` (the latent city), stepping the weeks before the loop
under the static patrol, then 52 weeks in which a random 5% of res-8 cells get twice the baseline
patrol (a stand-in for a forecast's flags), and ``expected_counts`` for every type on the res-8
cells (one call per week for the first few weeks, after the kernels are built). Prints the peak
resident memory (ru_maxrss) of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beatwise.h3index import index_points
from simcity.config import load_city_config
from simcity.loop import CityStepper


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--loop-weeks", type=int, default=52)
    parser.add_argument("--truth-weeks", type=int, default=3)
    args = parser.parse_args()
    config = load_city_config()
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        stepper = CityStepper(config, seed=config.seed + seed)
        t_build = time.perf_counter() - t0
        before = stepper.n_weeks - args.loop_weeks
        t0 = time.perf_counter()
        for _ in range(before):
            stepper.step()
        t_static = time.perf_counter() - t0
        geo = stepper.geography
        res8 = np.unique(index_points(geo.lat, geo.lon, resolution=8))
        types = list(stepper.intensity.types)
        rng = np.random.default_rng(seed)
        stepper.expected_counts(res8, types, kind="committed")  # builds the kernels once
        t_loop = t_truth = 0.0
        n_events = 0
        for week in range(args.loop_weeks):
            flagged = rng.choice(res8, size=res8.size // 20, replace=False)
            t0 = time.perf_counter()
            mult = stepper.multiplier_for_cells(flagged, 2.0)
            if week < args.truth_weeks:
                t1 = time.perf_counter()
                stepper.expected_counts(res8, types, kind="committed", patrol_multiplier=mult)
                t_truth += time.perf_counter() - t1
                t0 += time.perf_counter() - t1
            n_events += len(stepper.step(mult).events)
            t_loop += time.perf_counter() - t0
        print(
            f"seed {stepper.config.seed}: build {t_build:.1f} s; {before} static weeks "
            f"{t_static:.1f} s ({1000 * t_static / before:.0f} ms/week); {args.loop_weeks} "
            f"patrolled weeks {t_loop:.1f} s ({1000 * t_loop / args.loop_weeks:.0f} ms/week, "
            f"{n_events:,} recorded events); expected_counts all {len(types)} types on "
            f"{res8.size:,} res-8 cells {t_truth / max(args.truth_weeks, 1):.2f} s/call; "
            f"peak RSS {_peak_gb():.2f} GB"
        )


if __name__ == "__main__":
    main()
