"""Benchmark: the backtest's rolling-origin refits (the evaluate stage's largest step) on the panel
of the last ``dvc repro``, with the committed ``train`` and ``evaluate`` params.

Prints the seconds the refits took (reading the panel excluded) and a digest of the scores, so two
trees can be timed against each other on the same data. Run from the repository root after
``dvc repro``, for example paired against another checkout::

    PYTHONPATH=. .venv/bin/python bench/bench_backtest.py
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import pipelines.evaluate
from beatwise.artefacts.panel import PanelMeta
from beatwise.io import read_parquet
from beatwise.params import load_params
from models.backtest import backtest_scores
from models.evaluation import choose_backtest_periods


def main() -> None:
    if not Path("data/processed/features.parquet").is_file():
        sys.exit("Run `dvc repro` first: this benchmark reads data/processed/features.parquet.")
    params = load_params("evaluate", pipelines.evaluate.Params, Path("params.yaml"))
    panel = PanelMeta.read("data/processed/panel_meta.json")
    features = read_parquet("data/processed/features.parquet", required=panel.table_columns())
    periods = choose_backtest_periods(features, config=params.evaluate, period=panel.period)
    started = time.perf_counter()
    scored = backtest_scores(
        features,
        feature_columns=list(panel.feature_columns),
        backtest_periods=periods,
        refit_every=params.evaluate.refit_every,
        config=params.train,
    )
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(scored["risk_score"].to_numpy().tobytes()).hexdigest()[:16]
    print(f"{seconds:.2f} s, {len(periods)} periods, scores {digest}")


if __name__ == "__main__":
    main()
