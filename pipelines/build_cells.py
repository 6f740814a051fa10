"""Stage ``build_cells``: H3 study cells with residents by group; events indexed to cells."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from beatwise.h3index import index_points
from beatwise.io import write_parquet
from features.cells import build_cell_table, study_cells
from features.ingest import read_areas
from pipelines._io import setup_logging, timed
from pipelines._params import StageParams, load_params

STAGE = "build_cells"


class CellsConfig(BaseModel):
    """The modelling grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: H3 resolution of the modelling cells (8 ≈ 0.74 km², 9 ≈ 0.105 km²)
    h3_resolution: int = Field(8, ge=5, le=11)


class Params(StageParams):
    cells: CellsConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--areas", type=Path, required=True, help="study areas from ingest")
    parser.add_argument("--out-cells", type=Path, required=True)
    parser.add_argument("--out-event-cells", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    cfg = load_params(STAGE, Params, args.params).cells

    events = pd.read_parquet(args.events)
    areas = read_areas(args.areas, allow_empty=True)
    with timed(log, "indexing events"):
        event_h3 = index_points(
            events["latitude"].to_numpy(),
            events["longitude"].to_numpy(),
            resolution=cfg.h3_resolution,
        )
    if areas.empty:
        # A source without area polygons (ingest.areas.kind: none): the study area is the cells
        # where the source recorded events, and no cell has residents to audit.
        cells = np.unique(event_h3)
        log.warning(
            "no area polygons: the study area is the %d cells with at least one event; "
            "the audit's group gates will report insufficient data",
            len(cells),
        )
    else:
        cells = study_cells(areas, resolution=cfg.h3_resolution, event_cells=event_h3)
    with timed(log, "apportioning area attributes"):
        table = build_cell_table(cells, areas)
    log.info(
        "%d cells, %.1f km², %.0f residents apportioned (areas hold %.0f)",
        len(table),
        table["area_km2"].sum(),
        table["residents"].sum(),
        areas["residents"].sum(),
    )
    events = events.assign(h3_int=event_h3)
    write_parquet(args.out_cells, table)
    write_parquet(args.out_event_cells, events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
