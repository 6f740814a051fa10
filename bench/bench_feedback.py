"""Benchmark of the feedback stage: the default loop (52 weeks, 3 seeds, the configured scenario
closed and open), and optionally every scenario.

Times the stage's command as DVC runs it (a fresh interpreter, its worker processes, the report
and the figure). Target: the default loop under 5 minutes on 2 cores, and the whole default
``dvc repro`` under 3 minutes (``bench_repro.py``).

Run from the repository root::

    PYTHONPATH=. .venv/bin/python bench/bench_feedback.py              # the default loop
    PYTHONPATH=. .venv/bin/python bench/bench_feedback.py --all        # all six scenarios
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from beatwise.artefacts.feedback import FeedbackReport

SCENARIOS = (
    "police_activity_target",
    "police_activity_features",
    "over_policing",
    "downweight_discovered",
    "consecutive_cap",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=1, help="runs of the stage's command")
    parser.add_argument("--all", action="store_true", help="run every scenario")
    args = parser.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))
    if args.all:
        params["feedback"]["scenarios"] = list(SCENARIOS)
    with tempfile.TemporaryDirectory() as tmp:
        params_path = Path(tmp) / "params.yaml"
        params_path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        report_path = Path(tmp) / "feedback.json"
        cmd = [
            sys.executable, "-m", "pipelines.feedback",
            "--out-report", str(report_path),
            "--out-figure", str(Path(tmp) / "plots" / "feedback_drift.png"),
            "--params", str(params_path),
        ]  # fmt: skip
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
        report = FeedbackReport.read(report_path)
    walls.sort()
    print(f"{'stage command (median)':<36} {walls[len(walls) // 2]:7.1f} s  runs {walls}")
    for s in report.scenarios:
        print(f"  {s.name:<34} {s.seconds:7.1f} s of loops  G11 {s.status}")
    print(
        f"seeds {report.seeds}, {report.weeks} weeks; G11 on the configured target: {report.status}"
    )


if __name__ == "__main__":
    main()
