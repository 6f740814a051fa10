"""Stage ``build_features``: the leakage-free cell-period feature table and its target.

The period (week or month) is decided here, once, from ``features.period`` and the data's time
resolution (``reports/data_quality.json``); the H3 resolution comes from ``cells_meta.json``.
``panel_meta.json`` records both, and every later stage reads them from there
(:mod:`features.build` holds the logic).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from beatwise.artefacts.cells import CellsMeta
from beatwise.io import read_parquet, write_parquet
from beatwise.params import StageParams, load_params
from features.build import (
    EVENT_COLUMNS,
    CovariatesConfig,
    build_panel,
    panel_row_groups,
    read_data_quality,
)
from features.engineering import FeatureConfig
from pipelines._io import run_stage, setup_logging, timed

STAGE = "build_features"


class Params(StageParams):
    features: FeatureConfig
    covariates: CovariatesConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--cells-meta", type=Path, required=True)
    parser.add_argument("--event-cells", type=Path, required=True)
    parser.add_argument("--data-quality", type=Path, required=True)
    parser.add_argument("--out-features", type=Path, required=True)
    parser.add_argument("--out-meta", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)

    source, time_resolution = read_data_quality(args.data_quality)
    cells_meta = CellsMeta.read(args.cells_meta)
    cells = read_parquet(args.cells, required=("h3_cell", "h3_int"))  # covariates: build_panel
    events = read_parquet(args.event_cells, columns=EVENT_COLUMNS)
    with timed(log, "building the panel"):
        table, meta = build_panel(
            cells,
            events,
            cells_meta=cells_meta,
            features=params.features,
            covariates=params.covariates,
            source=source,
            time_resolution=time_resolution,
        )
    write_parquet(args.out_features, table, row_groups=panel_row_groups(meta))
    meta.write(args.out_meta)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
