"""Can a simple re-allocation of the flags pass G3 without failing G4 or G5? A measured frontier.

G3 (burden vs benefit) fails on the default synthetic city for every ranking, the true risk
included (``docs/audit-findings.md``). The obvious mitigation gives the least-deprived areas
more of the flags: choose the flagged cells by ``risk_score × (1 + β·s5 + β/2·s4)``, where
``s5`` and ``s4`` are the shares of a cell's residents in the least-deprived and second
least-deprived fifths (``res_dep_q5``, ``res_dep_q4``). This script scores that family over the
backtest of the last ``dvc repro`` with the audit of ``params.yaml`` and prints, for each β, the
pooled PAI and gates G2-G5. It is an experiment for the documentation, not a pipeline stage: it
sets the audit up as the audit stage does (``AuditSetup.for_panel``) and asks each β's flags
through the audit's own helper (``gates_of_ranking``), the model's scores as expected counts.

Run from the repository root after ``dvc repro``::

    PYTHONPATH=. .venv/bin/python scripts/g3_mitigation_frontier.py
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from beatwise.artefacts.panel import PanelMeta
from beatwise.params import StageParams, load_params
from models.audit import AuditConfig, AuditSetup, BacktestArrays, gates_of_ranking
from models.metrics import flag_top_area, pai
from models.operational import OperationalConfig, PublishConfig

GATES = ("G2", "G3", "G4", "G5")
BETAS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)


class AuditParams(StageParams):
    """The params sections the audit reads."""

    audit: AuditConfig
    operational: OperationalConfig
    publish: PublishConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backtest", type=Path, default=Path("data/processed/backtest.parquet"))
    parser.add_argument("--cells", type=Path, default=Path("data/processed/cells.parquet"))
    parser.add_argument("--panel-meta", type=Path, default=Path("data/processed/panel_meta.json"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    params = load_params("audit", AuditParams, args.params)
    coverage = params.operational.coverage
    setup = AuditSetup.for_panel(
        params.audit,
        coverage=coverage,
        panel=PanelMeta.read(args.panel_meta),
        max_resolution=params.publish.max_resolution,
        suppress_below=params.publish.min_count_shown,
    )
    arrays = BacktestArrays.from_frames(pd.read_parquet(args.backtest), pd.read_parquet(args.cells))
    cells, scores = arrays.cells, arrays.scores
    area = cells["area_km2"].to_numpy()
    cell_ids = cells["h3_int"].to_numpy()
    residents = cells["residents"].to_numpy(dtype=float)
    share = {
        q: np.divide(
            cells[f"res_dep_q{q}"].to_numpy(dtype=float),
            residents,
            out=np.zeros(len(cells)),
            where=residents > 0,
        )
        for q in (4, 5)
    }

    print(
        f"coverage {100 * coverage:g}%, {len(arrays.periods)} backtest periods, {len(cells)} cells"
    )
    print("| β | PAI | expected hits kept | " + " | ".join(GATES) + " |")
    print("|---|---|---|" + "---|" * len(GATES))
    base_hits = None
    for beta in BETAS:
        adjusted = scores * (1.0 + beta * share[5] + 0.5 * beta * share[4])
        gates = gates_of_ranking(
            adjusted, arrays, setup, coverage=coverage, gates=GATES, expected=scores
        )
        flagged = flag_top_area(adjusted, areas_km2=area, cell_ids=cell_ids, coverage=coverage)
        pooled = pai(
            arrays.y, adjusted, areas_km2=area, cell_ids=cell_ids, coverage=coverage
        ).pooled
        expected_hits = float((scores * flagged).sum())
        base_hits = base_hits or expected_hits
        cells_text = " | ".join(f"{gates[g].status} {gates[g].value:.2f}" for g in GATES)
        print(f"| {beta:g} | {pooled:.2f} | {expected_hits / base_hits:.1%} | {cells_text} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
