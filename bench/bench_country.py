"""Benchmark: a synthetic country, run force by force on a Dask LocalCluster.

The country (``simcity.country``, defaults: England and Wales at the size of a national monthly
run, 43 forces, ~200,000 res-8 cells, ~60M events over 110 months) is partitioned by force: each
force is a synthetic city of its own, with its own seed, area, residents and volume, and its own
copy of the pipeline (a clone of HEAD whose ``simulate`` section is the force's, with the
monthly-sized windows ``params.yaml`` suggests). Every force's whole pipeline (its city simulated
in its partition, ingest to publication, the closed loop and the audit included, each stage its own
``dvc repro -s``, timed) is a task on a ``dask.distributed.LocalCluster`` of ``--workers``
processes, one thread each; a scheduler's address (``--scheduler``) sends them to a cluster
instead. Each force trains, audits and publishes on its own data, as each force is its own
controller of its records: the model is trained per partition group, the group being a force.
Forces sit apart, so their cells are disjoint and no halo is needed (checked: the run counts the
cells two forces share).

In each force's run the model fits on one thread (``train.num_threads: 1``) and the closed loop
runs its seeds one at a time (``feedback.workers: 1``), so that the cluster's workers, not the
stages, decide how many cores are busy.

Reports, per force and in all: recorded events, cells, cell-months, the run's wall and its largest
process, each stage's wall and largest process, the audit's verdict, whether it published, and the
lift over the best baseline; for the whole run, the wall and the machine's memory in use above what
it was at the start (``/proc/meminfo``, sampled every half second). ``--forces K`` runs K of the
country's forces at evenly spaced quantiles of volume (the median force for one, the quartiles for
two); the national wall is then estimated as the K forces' wall times the country's forces over K
(every force covers the same area, so the same cells and cell-months), which the report labels as
an estimate.

    python bench/bench_country.py --forces 2                  # the forces at the quartiles
    python bench/bench_country.py                             # the whole country
    python bench/bench_country.py --forces 4 --out country.json --keep
    python bench/bench_country.py --until simulate            # the whole country, generated
    python bench/bench_country.py --country n_forces=4 area_km2=400 residents_total=800000 \
        recorded_per_year=40000                               # a small country
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import yaml
from bench_growth import STAGES, _env, run_stage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from beatwise.presets import overlay_params  # noqa: E402
from simcity.config import load_city_config  # noqa: E402
from simcity.country import CountryConfig, Force, force_overrides, layout  # noqa: E402

#: params.yaml's suggestion for monthly data (its comment on ``features``), with the
#: evaluate windows of the data.police.uk preset
MONTHLY: dict[str, Any] = {
    "features": {
        "period": "month",
        "lags": [1, 2, 3],
        "rolling_windows": [3, 6, 12],
        "decay_half_lives": [1, 3],
        "since_cap": 24,
        "min_history_periods": 12,
    },
    "train": {"validation_periods": 3, "num_threads": 1},
    "select": {"periods": 6},
    "evaluate": {
        "backtest_periods": 12,
        "min_train_periods": 6,
        "refit_every": 3,
        "kde_periods": 2,
        "hotspot_periods": 2,
        "block_len": 3,
    },
    "feedback": {"workers": 1},
}


def force_repo(force: Force, country: CountryConfig, folder: Path) -> Path:
    """A clone of HEAD whose params are the force's, committed."""
    repo = folder / force.code
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    path = repo / "params.yaml"
    params = overlay_params(yaml.safe_load(path.read_text()), MONTHLY)
    params = overlay_params(params, {"simulate": force_overrides(force, country)})
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "commit", "-q", "-am", force.code], cwd=repo, env=_env(), check=True)
    return repo


def _json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


def run_force(repo: str, until: str | None) -> dict[str, Any]:
    """One force's stages in order (``until`` and those before it, or all), each its own
    ``dvc repro -s``, run where Dask puts it; its figures, the wall and largest process of each
    stage, and, where the run reached them, its outputs' verdicts."""
    folder = Path(repo)
    # reports/compare/ is committed: read a stage's outputs only where this run reached it
    ran = STAGES[: STAGES.index(until) + 1] if until else STAGES
    stage_seconds: dict[str, float] = {}
    stage_mib: dict[str, int] = {}
    env = {**_env(), "OMP_WAIT_POLICY": "PASSIVE"}
    for stage in ran:
        seconds, mib, proc = run_stage(folder, stage, env)
        stage_seconds[stage] = round(seconds, 1)
        stage_mib[stage] = round(mib)
        if proc.returncode != 0:
            break

    def output(stage: str, path: str) -> dict[str, Any]:
        return _json(folder / path) if stage in ran else {}

    publication = output("publish", "reports/publication.json")
    # a publication the audit blocks stops the run with exit 1: an outcome, not a failure
    if proc.returncode != 0 and publication.get("status") != "blocked":
        raise RuntimeError(
            f"{folder.name}: {stage} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    events = pq.ParquetFile(folder / "data/raw/synthetic/events.parquet").metadata.num_rows
    quality = output("ingest", "reports/data_quality.json")
    meta = output("build_features", "data/processed/panel_meta.json")
    backtest = output("evaluate", "reports/compare/backtest.json")
    return {
        "force": folder.name,
        "simulated_events": events,
        "accepted_events": quality.get("rows_accepted"),
        "cells": meta.get("n_cells"),
        "periods": meta.get("n_periods"),
        "cell_periods": meta.get("n_rows"),
        "seconds": round(sum(stage_seconds.values()), 1),
        "peak_mib": max(stage_mib.values()),
        "stage_seconds": stage_seconds,
        "stage_mib": stage_mib,
        "verdict": output("audit", "reports/compare/gates.json").get("verdict"),
        "publication": publication.get("status"),
        "blocked_by": publication.get("blocked_by"),
        "lift": backtest.get("lift"),
        "best_baseline": backtest.get("best_baseline"),
    }


class MemorySampler(threading.Thread):
    """The machine's memory in use (MemTotal - MemAvailable) above its level at the start."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.start_kib = self._used_kib()
        self.peak_kib = 0
        self._done = threading.Event()

    @staticmethod
    def _used_kib() -> int:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])

    def run(self) -> None:
        while not self._done.wait(0.5):
            self.peak_kib = max(self.peak_kib, self._used_kib() - self.start_kib)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak_kib / 1024


def shared_cells(repos: list[Path]) -> int:
    """Cells that belong to more than one force's study area."""
    cells = pd.concat(
        [pd.read_parquet(r / "data/processed/cells.parquet", columns=["h3_cell"]) for r in repos]
    )["h3_cell"]
    return int(cells.duplicated().sum())


def spread(forces: list[Force], k: int) -> list[Force]:
    """``k`` forces at evenly spaced quantiles of volume (the midpoints of ``k`` equal bands of
    the volume ranks: the median force for one, the quartiles for two), in grid order."""
    if not 1 <= k <= len(forces):
        raise SystemExit(f"--forces must be between 1 and {len(forces)}, got {k}")
    by_volume = sorted(forces, key=lambda f: f.recorded_per_year)
    ranks = {min(len(forces) - 1, int((i + 0.5) * len(forces) / k)) for i in range(k)}
    return sorted((by_volume[r] for r in ranks), key=lambda f: f.code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--forces", type=int, help="run K forces at evenly spaced quantiles of volume (default all)"
    )
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--scheduler", help="a running Dask scheduler's address")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    parser.add_argument("--keep", action="store_true", help="keep the forces' clones")
    parser.add_argument(
        "--country",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="change the country (simcity.country.CountryConfig), e.g. n_forces=4",
    )
    parser.add_argument(
        "--until", choices=STAGES, help="run this stage and those before it (default: all)"
    )
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster, as_completed

    try:
        country = CountryConfig(
            **{k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.country)}
        )
    except (ValueError, TypeError) as err:
        raise SystemExit(f"--country: {err}") from err
    base_volume = sum(t.yearly_volume for t in load_city_config().crime_types.values())
    forces = layout(country, base_volume)
    chosen = spread(forces, args.forces or len(forces))
    folder = Path(tempfile.mkdtemp(prefix="beatwise-country-"))
    repos = [force_repo(force, country, folder) for force in chosen]
    print(f"{len(repos)} forces in {folder}", flush=True)

    sampler = MemorySampler()
    sampler.start()
    started = time.perf_counter()
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    results = []
    futures = client.map(run_force, [str(r) for r in repos], until=args.until, pure=False)
    for future in as_completed(futures):
        row = future.result()
        results.append(row)
        print(
            f"  {row['force']} {row['simulated_events']:>10,} events {row['seconds']:7.1f} s "
            f"{row['peak_mib']:6,} MiB {row['verdict'] or ''} {row['publication'] or ''}",
            flush=True,
        )
        print(
            "    " + ", ".join(f"{k} {v:.0f} s" for k, v in row["stage_seconds"].items()),
            flush=True,
        )
    client.close()
    wall = time.perf_counter() - started
    memory_mib = sampler.stop()

    results.sort(key=lambda r: r["force"])

    def total(key: str) -> int | None:
        values = [r[key] for r in results]
        return None if None in values else sum(values)

    summary = {
        "forces": len(results),
        "of_forces": len(forces),
        "until": args.until or STAGES[-1],
        "workers": args.workers if not args.scheduler else args.scheduler,
        "simulated_events": total("simulated_events"),
        "accepted_events": total("accepted_events"),
        "cells": total("cells"),
        "cell_periods": total("cell_periods"),
        "wall_seconds": round(wall, 1),
        "force_seconds": round(sum(r["seconds"] for r in results), 1),
        "largest_process_mib": max(r["peak_mib"] for r in results),
        "machine_memory_mib": round(memory_mib),
        "shared_cells": shared_cells(repos) if total("cells") is not None else None,
        "published": sum(r["publication"] == "published" for r in results),
        # each stage's seconds summed over the forces: where the country's time goes
        "stage_force_seconds": {
            stage: round(sum(r["stage_seconds"].get(stage, 0.0) for r in results), 1)
            for stage in results[0]["stage_seconds"]
        },
        "national_wall_estimate_seconds": round(wall * len(forces) / len(results), 1),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "forces": results}, indent=2) + "\n")
    if args.keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
