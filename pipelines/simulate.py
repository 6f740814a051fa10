"""Stage ``simulate``: generate the synthetic city (events, areas, districts, truth model)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from beatwise.params import load_params
from pipelines._io import run_stage, setup_logging, timed
from simcity.config import SimulateParams
from simcity.generate import simulate_city
from simcity.io import write_city

STAGE = "simulate"


#: The ``simulate`` section, validated by its schema in ``simcity.config``.
Params = SimulateParams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    params.simulate.refuse_future(dt.date.today())
    with timed(log, "simulation"):
        city = simulate_city(params.simulate)
    log.info("simulated %d recorded events (%d committed)", len(city.events), city.n_committed)
    with timed(log, "writing"):
        write_city(city, args.out_dir)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
