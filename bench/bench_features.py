"""Benchmark of the build_features library code: count_matrix + build_feature_table.

Synthetic events (no simulator): H3 res-9 cells in a hexagonal disk around central London,
cell intensities drawn from a gamma distribution (a few hot cells, many quiet ones), crime types
in rough police.uk proportions, timestamps uniform over whole ISO weeks. Reports wall time per
step and the peak resident memory of the process (``resource.getrusage``), which includes the
synthetic event frame itself.

Run from the repository root (``PYTHONPATH=.`` unless the package is installed)::

    PYTHONPATH=. .venv/bin/python bench/bench_features.py                 # 10M events, ~15k cells
    PYTHONPATH=. .venv/bin/python bench/bench_features.py --events 1e6 --ring 25  # ~2k cells
"""

from __future__ import annotations

import argparse
import logging
import resource
import time

import h3
import numpy as np
import pandas as pd

from beatwise.period import period_range
from beatwise.taxonomy import CANONICAL_TYPES
from features.engineering import FeatureConfig, build_feature_table
from features.panel import count_matrix

logger = logging.getLogger("bench_features")

LONDON = (51.5074, -0.1278)
# Rough shares of police.uk London records, in CANONICAL_TYPES order.
TYPE_SHARES = np.array([6, 3, 24, 5, 9, 6, 9, 5, 2, 4, 1, 7, 17, 2], dtype=np.float64)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def make_cells(*, ring: int, resolution: int = 9) -> np.ndarray:
    """Res-``resolution`` cells within ``ring`` steps of central London, uint64 ascending."""
    origin = h3.latlng_to_cell(*LONDON, resolution)
    return np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(origin, ring)), dtype=np.uint64)


def make_events(
    cells: np.ndarray, weeks: np.ndarray, *, n_events: int, seed: int = 0
) -> pd.DataFrame:
    """``n_events`` synthetic events in ``cells`` during ``weeks``, sorted by timestamp."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.5, 1.0, size=cells.size)
    cell_pos = rng.choice(cells.size, size=n_events, p=weights / weights.sum())
    span_ns = int(weeks.size) * 7 * 86_400 * 10**9
    offsets = np.sort(rng.integers(0, span_ns, size=n_events))
    types = pd.Categorical.from_codes(
        rng.choice(len(CANONICAL_TYPES), size=n_events, p=TYPE_SHARES / TYPE_SHARES.sum()),
        categories=list(CANONICAL_TYPES),
    )
    return pd.DataFrame(
        {
            "h3_int": cells[cell_pos],
            "timestamp": weeks[0] + offsets.astype("timedelta64[ns]"),
            "crime_type": types,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, default=10e6, help="number of events")
    parser.add_argument("--ring", type=int, default=70, help="disk radius in cells (70: ~15k)")
    parser.add_argument("--weeks", type=int, default=156, help="complete weeks of data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    t0 = time.perf_counter()
    cells = make_cells(ring=args.ring)
    weeks = period_range(
        "2021-01-04", pd.Timestamp("2021-01-04") + pd.Timedelta(weeks=args.weeks - 1), period="week"
    )
    events = make_events(cells, weeks, n_events=int(args.events), seed=args.seed)
    t_gen = time.perf_counter() - t0
    peak_gen = _peak_mib()
    logger.info(
        "synthetic: %d events, %d cells, %d weeks in %.1f s (peak RSS %.0f MiB)",
        len(events),
        cells.size,
        weeks.size,
        t_gen,
        peak_gen,
    )

    t1 = time.perf_counter()
    counts = count_matrix(events, cell_ids=cells, periods=weeks, crime_types=CANONICAL_TYPES)
    t_count = time.perf_counter() - t1
    static = pd.DataFrame({"h3_int": cells, "residents": np.ones(cells.size)})
    t2 = time.perf_counter()
    table, _meta = build_feature_table(
        counts,
        cell_ids=cells,
        periods=weeks,
        period="week",
        static=static,
        config=FeatureConfig(),
    )
    t_build = time.perf_counter() - t2
    logger.info(
        "count_matrix %.1f s | build_feature_table %.1f s | total %.1f s | "
        "table %d rows x %d columns, %.0f MiB | peak RSS %.0f MiB (after synthetic data: %.0f MiB)",
        t_count,
        t_build,
        t_count + t_build,
        len(table),
        table.shape[1],
        table.memory_usage(deep=False).sum() / 2**20,
        _peak_mib(),
        peak_gen,
    )


if __name__ == "__main__":
    main()
