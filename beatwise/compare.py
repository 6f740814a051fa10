"""``beatwise compare``: the committed run beside the workspace and each experiment, in one table.

``dvc exp show`` puts each run on a row and each param and metric in a column, which no terminal
is wide enough for. This turns it round: one column per run (the commit's own, the workspace,
then its experiments, newest last), one row per param that differs between them and per headline
figure (``reports/compare/``, :mod:`beatwise.artefacts.headline`), named in words. Rows whose
values differ are marked ``*``. It reads ``dvc exp show --json`` and writes nothing.

Columns that do not fit the width (the terminal's, or ``--width``) are left out oldest first,
and the table says how many; ``--exp NAME`` picks experiments by name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beatwise.artefacts.headline import BACKTEST_WORDS, GATES_WORDS

#: The metric files compared, and the words of their headline keys.
HEADLINE_FILES: dict[str, dict[str, str]] = {
    "reports/compare/backtest.json": BACKTEST_WORDS,
    "reports/compare/gates.json": GATES_WORDS,
    "reports/publication.json": {"status": "forecast", "blocked_by": "blocked by"},
}
#: Widest a value may print (longer ones end with an ellipsis).
MAX_VALUE = 24
#: Widest a row's label may print (longer ones keep their end: the key's last parts).
MAX_LABEL = 50
#: Columns between two values.
GAP = 2


@dataclass(frozen=True)
class Run:
    """One column: a run's name, its flattened params and its headline metrics."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys (``train.learning_rate``); lists stay values."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _run(name: str, data: Mapping[str, Any]) -> Run:
    params = flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
    metrics = {
        path: (entry or {}).get("data") or {} for path, entry in (data.get("metrics") or {}).items()
    }
    return Run(name=name, params=params, metrics=metrics)


def runs_of(shown: Sequence[Mapping[str, Any]], *, names: Sequence[str] = ()) -> list[Run]:
    """The columns of ``dvc exp show --json``: the commit's run, the workspace, its experiments.

    Experiments that have not finished (queued, running, failed) have no figures and are left
    out. ``names`` keeps only the experiments named (the commit and the workspace always stay).
    """
    workspace: Run | None = None
    runs: list[Run] = []
    for baseline in shown:
        data = baseline.get("data") or {}
        if baseline.get("rev") == "workspace":
            workspace = _run("workspace", data)
            continue
        runs.append(_run(str(baseline.get("name") or str(baseline.get("rev"))[:7]), data))
        finished = []
        for exp in baseline.get("experiments") or []:
            rev = (exp.get("revs") or [{}])[0]
            if (
                exp.get("executor")
                or rev.get("error")
                or not (rev.get("data") or {}).get("metrics")
            ):
                continue
            finished.append((rev["data"].get("timestamp") or "", str(exp.get("name")), rev["data"]))
        for _, name, exp_data in sorted(finished):
            if not names or name in names:
                runs.append(_run(name, exp_data))
        break  # the baseline of HEAD only: other branches are not this comparison
    if workspace is not None:
        runs.insert(1 if runs else 0, workspace)
    return runs


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.5g}"
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _label(words: str, coverage: Any) -> str:
    if isinstance(coverage, int | float):
        return words.format(coverage=f"{coverage * 100:g}%")
    return words.format(coverage="the operational coverage")


def table_rows(runs: Sequence[Run]) -> list[tuple[str, list[str]]]:
    """(label, values) per row: params that differ, then the headline figures, then gates that
    differ. A label starts with ``*`` when the values differ."""
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, values: list[str], *, always: bool) -> None:
        differ = len(set(values)) > 1
        if differ or always:
            if len(label) > MAX_LABEL - 2:
                label = "…" + label[-(MAX_LABEL - 3) :]
            rows.append((("* " if differ else "  ") + label, values))

    keys = sorted({key for run in runs for key in run.params})
    for key in keys:
        add(key, [_text(run.params.get(key)) for run in runs], always=False)
    coverage = next((r.metrics.get("reports/compare/backtest.json", {}) for r in runs), {})
    for path, words in HEADLINE_FILES.items():
        for key, text in words.items():
            values = [_text(run.metrics.get(path, {}).get(key)) for run in runs]
            add(_label(text, coverage.get("coverage")), values, always=True)
    gates = sorted(
        {g for r in runs for g in r.metrics.get("reports/compare/gates.json", {}).get("gates", {})},
        key=lambda gid: (len(gid), gid),
    )
    for gid in gates:
        values = [
            _text(r.metrics.get("reports/compare/gates.json", {}).get("gates", {}).get(gid))
            for r in runs
        ]
        add(f"gate {gid}", values, always=False)
    return rows


def render(runs: Sequence[Run], *, width: int) -> list[str]:
    """The table as lines no wider than ``width``: as many runs as fit, newest experiments kept."""
    if not runs:
        return ["No runs to compare: run `dvc repro` (or `dvc exp run`) first."]
    rows = table_rows(runs)
    label_width = max(len(label) for label, _ in rows) if rows else 10
    widths = [
        max(len(run.name), *(len(values[i]) for _, values in rows)) for i, run in enumerate(runs)
    ]
    # the commit's run and the workspace always; then experiments, newest first, while they fit
    keep = list(range(min(2, len(runs))))
    used = label_width + sum(GAP + widths[i] for i in keep)
    for i in range(len(runs) - 1, 1, -1):
        if used + GAP + widths[i] > width:
            break
        keep.insert(2, i)
        used += GAP + widths[i]
    keep.sort()
    left_out = len(runs) - len(keep)

    def line(label: str, cells: Sequence[str]) -> str:
        parts = [label.ljust(label_width)]
        parts += [cells[i].rjust(widths[i]) for i in keep]
        return (" " * GAP).join(parts).rstrip()

    out = [line("", [run.name for run in runs]), "-" * min(width, used)]
    out += [line(label, values) for label, values in rows]
    if left_out:
        out.append(
            f"({left_out} older experiment{'s' if left_out > 1 else ''} left out to fit "
            f"{width} columns: --exp NAME picks them, --width widens)"
        )
    out.append("* the values differ. Params not listed are the same in every column.")
    return out


def exp_show_json(repo: Path) -> list[dict[str, Any]]:
    """``dvc exp show --json`` in ``repo``; a readable error when DVC fails."""
    proc = subprocess.run(
        ["dvc", "exp", "show", "--json"], cwd=repo, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ValueError(f"`dvc exp show --json` failed in {repo}: {proc.stderr.strip()}")
    shown: list[dict[str, Any]] = json.loads(proc.stdout)
    return shown


def terminal_width() -> int:
    """The terminal's width (``COLUMNS`` when set), 120 when there is none."""
    return shutil.get_terminal_size(fallback=(120, 24)).columns
