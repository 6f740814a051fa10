"""Stage ``build_features``: the leakage-free cell-period feature table and its target.

The period (week or month) is decided here, once, from ``features.period`` and the data's time
resolution (``reports/data_quality.json``); the H3 resolution comes from ``cells_meta.json``.
``panel_meta.json`` records both, and every later stage reads them from there
(:mod:`features.build` holds the logic). Beside the full panel, the fit set: the panel, its meta
and the events as they stood at the refresh schedule's fit point, which ``train``, ``evaluate``
and ``audit`` read, with the data-quality record of the rows dated before the fit point's end
(:mod:`features.refresh`). ``engine`` chooses where both panels are built:
here, or by partitions on Dask (:mod:`features.partitions`), with the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.quality import DataQuality
from beatwise.engine import EngineConfig
from beatwise.io import copy_file, read_parquet, write_parquet
from beatwise.params import StageParams, load_params
from features.build import (
    EVENT_COLUMNS,
    CovariatesConfig,
    build_panel,
    panel_row_groups,
)
from features.engineering import FeatureConfig
from features.partitions import panel_tabulator
from features.refresh import RefreshConfig, fit_set, quality_through
from pipelines._io import run_stage, setup_logging, timed

STAGE = "build_features"


class Params(StageParams):
    features: FeatureConfig
    covariates: CovariatesConfig
    refresh: RefreshConfig
    engine: EngineConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("cells", "cells-meta", "event-cells", "data-quality", "quarantine",
                 "out-features", "out-meta", "out-fit-features", "out-fit-meta", "out-fit-events",
                 "out-fit-quality"):  # fmt: skip
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)

    quality = DataQuality.read(args.data_quality)  # the source decides the period (build_panel)
    cells_meta = CellsMeta.read(args.cells_meta)
    cells = read_parquet(args.cells, required=("h3_cell", "h3_int"))  # covariates: build_panel
    # the panel's columns and the source file the fit set's data quality counts by: the others
    # (ids, coordinates, areas) are strings that a decade of events takes seconds to read
    events = read_parquet(args.event_cells, columns=(*EVENT_COLUMNS, "source_file"))

    engine = panel_tabulator(params.engine, cells, cells_meta=cells_meta, features=params.features)
    with engine as tabulate:  # both panels on one engine: a Dask cluster starts once

        def build(events: pd.DataFrame, end: pd.Timestamp | None) -> tuple[pd.DataFrame, PanelMeta]:
            return build_panel(
                cells, events[list(EVENT_COLUMNS)], cells_meta=cells_meta,
                features=params.features, covariates=params.covariates, source=quality.source,
                time_resolution=quality.time_resolution, data_end=end, tabulate=tabulate,
            )  # fmt: skip

        with timed(log, "building the panel"):
            table, meta = build(events, None)
        with timed(log, "building the fit set"):
            fit = fit_set(events, table, meta, build=build, config=params.refresh)
    if fit.note is not None:
        log.warning("%s", fit.note)
    log.info("model and backtest fitted through %s", fit.meta.last_complete_period)
    write_parquet(args.out_features, table, row_groups=panel_row_groups(meta))
    fit.full_meta.write(args.out_meta)
    if fit.table is table:  # the fit point is the newest period: the same bytes
        copy_file(args.out_features, args.out_fit_features)
    else:
        write_parquet(args.out_fit_features, fit.table, row_groups=panel_row_groups(fit.meta))
    fit.meta.write(args.out_fit_meta)
    write_parquet(args.out_fit_events, fit.events[list(EVENT_COLUMNS)])  # what its readers read
    quarantine = read_parquet(args.quarantine, columns=["source_file", "reason", "timestamp"])
    quality_through(quality, fit.events, quarantine, end=fit.end).write(args.out_fit_quality)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
