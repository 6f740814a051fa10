"""Benchmark of the audit stage on the outputs of the last ``dvc repro``.

Times the stage's command as DVC runs it (a fresh interpreter: imports, reading the backtest,
the audit, the documents, MLflow) and, inside one process, the audit's parts: the model against
its reference, the counterfactual rankings, the coverage table and the power check (the
canaries). Target: the stage under 60 s on the default synthetic city.

Run from the repository root after ``dvc repro``::

    PYTHONPATH=. .venv/bin/python bench/bench_audit.py
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import time
from pathlib import Path

import pandas as pd
import yaml

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.panel import PanelMeta
from beatwise.params import load_params
from models.audit import AuditSetup, BacktestArrays, audit_counterfactuals, coverage_sensitivity
from models.audit._power import audit_power
from pipelines.audit import Params


def _timed(label: str, fn, *args, **kw):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    print(f"{label:<32} {time.perf_counter() - t0:7.2f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the stage's command")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    stage = yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8"))["stages"]["audit"]
    walls = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run(shlex.split(stage["cmd"]), check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    walls.sort()
    print(f"{'stage command (median)':<32} {walls[len(walls) // 2]:7.2f} s  runs {walls}")

    params = load_params("audit", Params, Path("params.yaml"))
    arrays = _timed(
        "read backtest and cells",
        BacktestArrays.from_frames,
        pd.read_parquet("data/processed/backtest.parquet"),
        pd.read_parquet("data/processed/cells.parquet"),
        policy=params.operational.policy,
    )
    setup = AuditSetup.for_panel(
        params.audit,
        coverage=params.operational.coverage,
        panel=PanelMeta.read(Path("data/processed/panel_meta.json")),
        max_resolution=params.publish.max_resolution,
        suppress_below=params.publish.min_count_shown,
    )
    metrics = BacktestMetrics.read(Path("reports/backtest_metrics.json"))
    best = metrics.best_baseline
    coverage = setup.config.coverage
    _timed(
        "model against the reference",
        setup.run,
        arrays.allocation("model", arrays.scores, coverage),
        arrays.reference(coverage),
        arrays.y,
        arrays.cells,
        reference_info=arrays.reference_info,
        committed=arrays.committed,
    )
    _timed("counterfactual rankings", audit_counterfactuals, arrays, setup, best_baseline=best)
    _timed("coverage table", coverage_sensitivity, arrays, setup, best_baseline=best)
    _timed("power check (canaries)", audit_power, arrays, setup)


if __name__ == "__main__":
    main()
