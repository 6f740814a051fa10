"""Benchmark: simulate ~10M recorded events (London's volume for 10 years) and time it.

Run from the repository root::

    .venv/bin/python bench/bench_simulate.py            # scale 1.0 x 520 weeks (~10.6M events)
    .venv/bin/python bench/bench_simulate.py --write bench/results/city   # also time write_city

Prints wall time per phase and the peak resident memory (ru_maxrss) of the process. The target
on the 2-core reference machine is < 60 s and < 4 GB for the simulation itself.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simcity.config import load_city_config
from simcity.generate import simulate_city
from simcity.io import write_city


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--write", type=Path, default=None, help="also write the city here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_city_config(overrides={"scale": args.scale, "n_weeks": args.weeks})
    t0 = time.perf_counter()
    city = simulate_city(config)
    t_sim = time.perf_counter() - t0
    print(
        f"simulate_city: {len(city.events):,} recorded events "
        f"({len(city.committed):,} committed) in {t_sim:.1f} s; peak RSS {_peak_gb():.2f} GB"
    )
    if args.write is not None:
        t1 = time.perf_counter()
        write_city(city, args.write)
        print(f"write_city: {time.perf_counter() - t1:.1f} s; peak RSS {_peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
