"""Benchmark: the feature panel built locally against the partitioned build on Dask.

Reads what ``dvc repro build_features`` left in ``data/processed/`` (cells, their meta, the event
cells) and ``reports/data_quality.json``, with the ``features`` and ``covariates`` params, and
builds the full panel (``features.build.build_panel``) twice:

1. local: ``engine.kind: local`` (this process);
2. Dask: a ``LocalCluster`` of ``--workers`` worker processes (one thread each), partitions cut
   at ``--partition-resolution``; the cluster's start-up is timed apart from the build.

Prints the walls, their ratio and the partitions' sizes, and checks that both tables are the same
(``pandas.testing.assert_frame_equal``, exact). Figures are notes, not assertions.

    dvc repro build_features
    .venv/bin/python bench/bench_dask_panel.py [--workers 2] [--partition-resolution 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from beatwise.artefacts.cells import CellsMeta
from beatwise.engine import EngineConfig
from beatwise.io import read_parquet
from beatwise.params import load_params
from features.build import EVENT_COLUMNS, build_panel, read_data_quality, tabulate_local
from features.partitions import panel_tabulator
from pipelines.build_features import STAGE, Params

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-resolution", type=int, default=None,
                        help="default: params.yaml's engine.partition_resolution")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="builds per path; the best is kept")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params(STAGE, Params, ROOT / "params.yaml")
    processed = ROOT / "data" / "processed"
    cells_meta = CellsMeta.read(processed / "cells_meta.json")
    cells = read_parquet(processed / "cells.parquet", required=("h3_cell", "h3_int"))
    events = read_parquet(processed / "event_cells.parquet")[list(EVENT_COLUMNS)]
    source, time_resolution = read_data_quality(ROOT / "reports" / "data_quality.json")

    def build(tabulate: object) -> tuple[pd.DataFrame, float]:
        best, table = float("inf"), pd.DataFrame()
        for _ in range(args.repeat):
            started = time.perf_counter()
            table, _ = build_panel(
                cells, events, cells_meta=cells_meta, features=params.features,
                covariates=params.covariates, source=source, time_resolution=time_resolution,
                tabulate=tabulate,  # type: ignore[arg-type]
            )  # fmt: skip
            best = min(best, time.perf_counter() - started)
        return table, best

    local, local_s = build(tabulate_local)
    resolution = args.partition_resolution
    engine = EngineConfig(
        kind="dask",
        workers=args.workers,
        partition_resolution=(
            params.engine.partition_resolution if resolution is None else resolution
        ),
    )
    started = time.perf_counter()
    with panel_tabulator(
        engine, cells, cells_meta=cells_meta, features=params.features
    ) as tabulate:
        start_s = time.perf_counter() - started
        partitions = tabulate.keywords["partitions"]  # type: ignore[attr-defined]
        dask, dask_s = build(tabulate)
    pd.testing.assert_frame_equal(dask, local, check_exact=True)
    own = [o.size for o in partitions.own]
    computed = sum(c.size for c in partitions.cells)
    print(
        f"panel: {len(local):,} rows x {local.shape[1]} columns; {len(cells):,} cells at H3 "
        f"resolution {cells_meta.h3_resolution}, {len(events):,} events\n"
        f"partitions: {len(own)} at resolution {engine.partition_resolution}, own cells "
        f"{min(own)} to {max(own)}, {computed / len(cells):.2f} cells computed per study cell\n"
        f"local build:                 {local_s:7.2f} s (best of {args.repeat})\n"
        f"dask build ({args.workers} processes):    {dask_s:7.2f} s (best of {args.repeat})\n"
        f"dask cluster start + halos:  {start_s:7.2f} s (once per stage run)\n"
        f"ratio dask / local:          {dask_s / local_s:7.2f}\n"
        f"tables equal: yes"
    )


if __name__ == "__main__":
    main()
