"""Stage ``select``: the backtest chooses the model's configuration among ``select.candidates``.

Backtests the ``train`` params and each candidate on the selection window, the periods just
before ``evaluate``'s backtest window (:mod:`models.selection` holds the protocol), and writes
``model_selection.json`` (every configuration's figures and the choice) and
``selected_config.json`` (the chosen configuration whole, which ``train``, ``evaluate`` and
``feedback`` fit). Only the panel's periods the backtests' fits learn from are read
(``train.history_periods``). ``engine`` chooses where the backtests' refits run: here, or on Dask.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from beatwise.artefacts.panel import PanelMeta
from beatwise.engine import EngineConfig
from beatwise.io import read_parquet
from beatwise.params import StageParams, load_params
from models.dask_refits import engine_refits
from models.evaluation import CELL_COLUMNS, EVENT_COLUMNS, EvaluateConfig
from models.operational import OperationalConfig
from models.panel_rows import read_keys, read_panel
from models.risk_model import RiskModelConfig
from models.selection import SelectConfig, run_selection, selection_periods_to_read
from pipelines._io import run_stage, setup_logging, timed

STAGE = "select"


class Params(StageParams):
    train: RiskModelConfig
    select: SelectConfig
    evaluate: EvaluateConfig
    operational: OperationalConfig
    engine: EngineConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("features", "panel-meta", "cells", "event-cells", "out-report", "out-config"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)

    meta = PanelMeta.read(args.panel_meta)
    read = selection_periods_to_read(
        read_keys(args.features), meta, select=params.select, base=params.train,
        evaluate=params.evaluate,
    )  # fmt: skip
    with timed(log, "selection"), engine_refits(params.engine) as refits:
        report, chosen = run_selection(
            read_panel(args.features, meta, read),
            read_parquet(args.cells, required=CELL_COLUMNS),
            read_parquet(args.event_cells, columns=EVENT_COLUMNS),
            meta,
            select=params.select,
            base=params.train,
            evaluate=params.evaluate,
            coverage=params.operational.coverage,
            refits=refits,
        )
    report.write(args.out_report)
    chosen.write(args.out_config)
    log.info("%s", report.summary())
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
