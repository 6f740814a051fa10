"""Stage ``ingest``: read a source's raw events and areas, validate every row, keep the study area.

Writes the accepted events, the quarantine (every refused row with its reason), the study areas
(polygons with the audit's resident groups, restricted to the districts the data cover) and the
data-quality summary that the bias report prints, and passes on the synthetic city's true risk
(``features.ingest.truth``), so that the backtest depends on ingest, never on the simulator. The
work is ``features.ingest.run_ingest``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from beatwise.io import write_parquet
from beatwise.params import StageParams, load_params
from features.ingest import IngestConfig, run_ingest
from features.ingest.truth import carry_truth
from pipelines._io import run_stage, setup_logging, timed

STAGE = "ingest"


class Params(StageParams):
    ingest: IngestConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="the source's folder (ingest.data_dir)"
    )
    parser.add_argument("--out-events", type=Path, required=True)
    parser.add_argument("--out-quarantine", type=Path, required=True)
    parser.add_argument("--out-areas", type=Path, required=True)
    parser.add_argument("--out-quality", type=Path, required=True)
    parser.add_argument(
        "--out-truth", type=Path, required=True, help="the true risk, synthetic sources only"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    cfg = load_params(STAGE, Params, args.params).ingest
    if Path(cfg.data_dir).is_absolute():
        log.warning(
            "ingest.data_dir %r is absolute, so dvc.lock records this machine's folder; give it "
            "relative to the repository (e.g. ../data/my-city) to keep dvc.lock portable",
            cfg.data_dir,
        )

    with timed(log, f"ingesting the {cfg.source} source (areas: {cfg.areas.kind})"):
        result = run_ingest(cfg, data_dir=args.data_dir)
    write_parquet(args.out_events, result.accepted)
    write_parquet(args.out_quarantine, result.quarantine)
    write_parquet(args.out_areas, result.areas)
    result.quality.write(args.out_quality)
    if carry_truth(cfg.source, args.data_dir, args.out_truth):
        log.info("carried the synthetic city's truth model to %s", args.out_truth)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
