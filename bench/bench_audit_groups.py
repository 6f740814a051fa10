"""Benchmark: the audit's fairlearn figures by group as the number of cells grows.

Times ``models.audit._figures._metric_frame_for_attribute`` (the group sums by ``bincount``, then
fairlearn's MetricFrame over one row per group) for five deprivation groups over 52 weeks, on
synthetic cells: the default city's 2,372 cells, a large city and a national grid of 204,000 res-8
cells. Prints the median over ``--repeats`` calls.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python bench/bench_audit_groups.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from models.audit._figures import Allocation, Population, _metric_frame_for_attribute

WEEKS = 52
GROUPS = ["q1", "q2", "q3", "q4", "q5"]


def inputs(n_cells: int, seed: int = 0) -> tuple[Allocation, np.ndarray, Population]:
    rng = np.random.default_rng(seed)
    residents = rng.gamma(2.0, 800.0, n_cells)
    shares = rng.dirichlet(np.ones(len(GROUPS)), n_cells)
    scores = rng.gamma(0.5, 0.4, (WEEKS, n_cells))
    threshold = np.quantile(scores, 0.95, axis=1, keepdims=True)
    model = Allocation(label="this model", flagged=scores >= threshold, scores=scores)
    y = rng.poisson(scores).astype(np.float64)
    pop = Population(
        area=np.full(n_cells, 0.74),
        residents=residents,
        P=residents[:, None] * shares,
        columns=tuple(("deprivation", g) for g in GROUPS),
    )
    return model, y, pop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for n_cells in (2_372, 50_000, 204_000):
        model, y, pop = inputs(n_cells)
        j = pop.index_of("deprivation")
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            _metric_frame_for_attribute(model, y, pop, j, GROUPS, "deprivation")
            times.append(time.perf_counter() - started)
        print(f"{n_cells:>8,} cells  median {statistics.median(times):7.3f} s", flush=True)


if __name__ == "__main__":
    main()
