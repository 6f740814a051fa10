"""``beatwise forecast``: next period's forecast, made the one way a forecast may be published.

A forecast needs features built from the newest events and the audit's consent for the model
that makes it, and a publication comes only from a ``dvc repro`` of the committed
``params.yaml`` (:mod:`beatwise.runs`). The verb is that run, with the checks and the reading a
planner or analyst would otherwise do by hand:

1. it refuses, before running anything, a ``params.yaml`` that differs from the commit (such a
   run could publish nothing; the message names the params and what to do instead);
2. ``--dry-run`` says which stages a run would re-run (``dvc status``) and stops there;
3. otherwise it runs ``dvc repro``, which re-runs only the stages whose inputs changed: with no
   new events, the forecast is the one already published; with new events, the features are
   brought up to date and, at the refresh schedule's fit points (every run by default), the
   model, backtest and audit too; between fit points the forecast comes from the model of the
   last fit point, which the audit judged (:mod:`features.refresh`);
4. it reads ``reports/publication.json`` and says in words what became of the forecast: the
   period, published (where, with which files to open) or blocked (by which gates), the flagged
   cells and the districts that hold most of them.

Exit status: 0 when the forecast was published (or is up to date), 1 when the audit blocked it,
2 when it could not run (changed params, DVC missing, a stage failing: DVC's own message is
above the verb's).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beatwise.artefacts.publication import PublicationRecord

#: what ``publish`` writes about its run (``dvc.yaml``)
RECORD_PATH = Path("reports/publication.json")
#: the full panel's meta (``build_features``), which records the fit point
PANEL_META_PATH = Path("data/processed/panel_meta.json")
#: how many districts the summary names
DISTRICTS_SHOWN = 5
#: the files a planner opens first, in the order named
FILES_TO_OPEN = ("forecast_map.html", "district_sheets.html", "forecast.csv", "bias_report.html")

Runner = Callable[[Sequence[str], Path], int]


def add_forecast(verbs: Any) -> None:
    """The ``forecast`` subcommand (``beatwise.cli``)."""
    forecast = verbs.add_parser(
        "forecast",
        help="forecast the next period and publish it if the audit allows (dvc repro, checked)",
        description=(
            "Bring the forecast up to date the one way it may be published: a dvc repro of the "
            "committed params.yaml, which re-runs only the stages whose inputs changed (new "
            "events: the features, and at the refresh schedule's fit points the model, backtest "
            "and audit, before any publication). Refuses a "
            "params.yaml that differs from the commit. Then says what became of the forecast: "
            "the period, published (where, and which files to open) or blocked (by which gates), "
            "and the districts holding most flagged cells. Exit status 0: published or up to "
            "date; 1: blocked by the audit; 2: could not run."
        ),
    )
    forecast.add_argument("--repo", type=Path, default=Path("."), help="the repository (default .)")
    forecast.add_argument(
        "--dry-run",
        action="store_true",
        help="say which stages a run would re-run (dvc status) and run nothing",
    )
    forecast.set_defaults(run=forecast_verb)


def _run(command: Sequence[str], cwd: Path) -> int:
    """Run ``command`` in ``cwd`` with the terminal's streams (DVC's and the stages' progress)."""
    if shutil.which(command[0]) is None:
        raise ValueError(f"{command[0]} is not on PATH: activate the environment first.")
    return subprocess.run(list(command), cwd=cwd, check=False).returncode


def forecast_verb(
    args: argparse.Namespace, *, out: Callable[[str], Any] = print, runner: Runner = _run
) -> int:
    """Check the params, run (or preview) ``dvc repro`` and report what became of the forecast."""
    from beatwise.artefacts.publication import PublicationRecord
    from beatwise.runs import committed_params_differences

    repo = Path(args.repo)
    params = repo / "params.yaml"
    if not params.is_file():
        raise ValueError(f"{params} does not exist: run beatwise forecast in the repository.")
    differences = committed_params_differences(params)
    if differences is None:
        raise ValueError(
            f"{params} has no committed version to compare with: a forecast is published only "
            "from committed params. Commit params.yaml first."
        )
    if differences:
        shown = ", ".join(differences[:5]) + (" ..." if len(differences) > 5 else "")
        raise ValueError(
            f"{params} differs from the last commit in {len(differences)} param(s) ({shown}), "
            "and a forecast is published only from the committed params. Commit the change to "
            "publish with it, `git checkout params.yaml` to forecast with the committed ones, or "
            "`dvc exp run` to try it as an experiment (which publishes nothing)."
        )
    if args.dry_run:
        out("Stages a forecast would re-run (dvc status; nothing listed: all up to date):")
        return 0 if runner(["dvc", "status"], repo) == 0 else 2
    status = runner(["dvc", "repro"], repo)
    record_path = repo / RECORD_PATH
    if not record_path.is_file():
        out(f"beatwise forecast: dvc repro stopped before publish (exit status {status}).")
        return 2
    record = PublicationRecord.read(record_path)
    if status != 0 and record.status != "blocked":
        out(f"beatwise forecast: dvc repro failed (exit status {status}); see its message above.")
        return 2
    for line in summary(record, repo=repo):
        out(line)
    return 1 if record.status == "blocked" else 0


def summary(record: PublicationRecord, *, repo: Path) -> list[str]:
    """What became of the forecast, in words: the lines :func:`forecast_verb` prints."""
    from models.planner.map import period_in_words

    if record.forecast_period is None or record.period is None:
        return [
            f"No forecast: the audit blocked it ({record.blocked_by}). "
            "The bias report says why: reports/bias_report.html."
        ]
    period = period_in_words(record.forecast_period, period=record.period)
    if record.status == "blocked":
        return [
            f"The forecast for the {period} is NOT published: blocked by {record.blocked_by}.",
            "The bias report says why, in words: reports/bias_report.html.",
        ]
    if record.status != "published" or record.folder is None:
        return [
            f"The forecast for the {period} was made but not published ({record.run} run): "
            "only a dvc repro of the committed params publishes."
        ]
    folder = repo / "data" / "published" / record.folder
    lines = [
        f"The forecast for the {period} is published in {folder} (audit: {record.audit_status}).",
        f"{record.n_flagged:,} of {record.n_cells:,} cells are flagged for visible patrol.",
    ]
    lines += _fitted(repo / PANEL_META_PATH)
    lines += _districts(folder / "forecast.csv")
    opened = [name for name in FILES_TO_OPEN if (folder / name).is_file()]
    lines.append("Open: " + ", ".join(opened) + ".")
    return lines


def _fitted(panel_meta: Path) -> list[str]:
    """Which data the model was fitted on (the refresh schedule's fit point), in one line."""
    from beatwise.artefacts.panel import PanelMeta
    from models.planner.map import period_in_words

    if not panel_meta.is_file():
        return []
    panel = PanelMeta.read(panel_meta)
    through = period_in_words(panel.fitted_through, period=panel.period)
    if panel.fitted_through == panel.last_complete_period:
        return [f"The model was fitted on every complete {panel.period}, through the {through}."]
    return [
        f"The model is the one fitted through the {through} (refresh.refit_model_every), "
        "re-used: the features include every event up to the newest complete "
        f"{panel.period}."
    ]


def _districts(forecast_csv: Path) -> list[str]:
    """The districts holding most flagged cells, in one line."""
    import pandas as pd

    table = pd.read_csv(forecast_csv, usecols=["flagged", "district_name"])
    counts = table.loc[table["flagged"].astype(bool), "district_name"].value_counts()
    if counts.empty:
        return []
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    shown = ", ".join(f"{name} {n}" for name, n in counts.head(DISTRICTS_SHOWN).items())
    rest = counts.size - min(counts.size, DISTRICTS_SHOWN)
    return [f"Most flagged cells: {shown}" + (f"; {rest} more districts." if rest else ".")]
