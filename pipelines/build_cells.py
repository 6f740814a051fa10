"""Stage ``build_cells``: H3 study cells with residents by group; events indexed to cells.

The H3 resolution (``cells.h3_resolution``) is checked against what the source supports (the
source comes from the data-quality summary) and, with the study-area rule that ran
(``cells.study_area``), recorded in ``cells_meta.json``. The work is
``features.cells.build_cells``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from beatwise.artefacts.quality import DataQuality
from beatwise.io import read_parquet, write_parquet
from beatwise.params import StageParams, load_params
from features.cells import CellsConfig, build_cells
from features.ingest import read_areas
from pipelines._io import run_stage, setup_logging, timed

STAGE = "build_cells"
#: the columns of events.parquet this stage and build_features read
READ_EVENT_COLUMNS = ("timestamp", "crime_type", "latitude", "longitude")


class Params(StageParams):
    cells: CellsConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--areas", type=Path, required=True, help="study areas from ingest")
    parser.add_argument("--data-quality", type=Path, required=True, help="its source")
    parser.add_argument("--out-cells", type=Path, required=True)
    parser.add_argument("--out-event-cells", type=Path, required=True)
    parser.add_argument("--out-meta", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    cfg = load_params(STAGE, Params, args.params).cells
    source = DataQuality.read(args.data_quality).source

    # what this stage reads, and what build_features reads from the event cells it writes
    events = read_parquet(args.events, required=READ_EVENT_COLUMNS)
    areas = read_areas(args.areas, allow_empty=True)
    with timed(log, f"building cells at H3 resolution {cfg.h3_resolution}"):
        result = build_cells(events, areas, config=cfg, source=source)
    write_parquet(args.out_cells, result.cells)
    write_parquet(args.out_event_cells, result.event_cells)
    result.meta.write(args.out_meta)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
