"""``beatwise compare``: runs as columns, changed params and the headline as rows, in a width."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from beatwise.cli import compare_runs
from beatwise.compare import render, runs_of

HEADLINE = {
    "coverage": 0.05,
    "pai": 5.8383,
    "hit_rate": 0.29294,
    "pei": 0.78353,
    "pei_truth": 0.99312,
    "lift": 0.99927,
    "lift_ci_low": 0.99506,
    "lift_ci_high": 1.0039,
    "best_baseline": "all_history",
    "poisson_deviance": 0.88165,
    "calibration_oe": 0.99835,
    "churn": 0.90042,
}
PARAMS = {"train": {"learning_rate": 0.2, "num_leaves": 31}, "ingest": {"source": "synthetic"}}


def _data(
    params: dict[str, Any], *, pai: float, status: str, timestamp: str | None = None
) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "params": {"params.yaml": {"data": params}},
        "metrics": {
            "reports/compare/backtest.json": {"data": HEADLINE | {"pai": pai}},
            "reports/compare/gates.json": {
                "data": {"verdict": "pass with review", "gates": {"G1": "PASS", "G2": "REVIEW"}}
            },
            "reports/publication.json": {"data": {"status": status, "blocked_by": ""}},
        },
    }


def _exp(name: str, params: dict[str, Any], pai: float, timestamp: str) -> dict[str, Any]:
    data = _data(params, pai=pai, status="candidate", timestamp=timestamp)
    return {"name": name, "executor": None, "revs": [{"rev": "c0ffee", "name": name, "data": data}]}


def _with(section: str, key: str, value: Any) -> dict[str, Any]:
    return PARAMS | {section: PARAMS[section] | {key: value}}


def shown(*experiments: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``dvc exp show --json`` prints: the workspace, then the commit and its experiments."""
    workspace = _data(_with("train", "learning_rate", 0.1), pai=5.846, status="candidate")
    return [
        {"rev": "workspace", "name": None, "data": workspace, "experiments": None},
        {
            "rev": "abbf1992",
            "name": "main",
            "data": _data(PARAMS, pai=5.8383, status="published"),
            "experiments": list(experiments),
        },
    ]


def test_columns_are_the_commit_the_workspace_then_experiments_oldest_first() -> None:
    later = _exp("lr01", _with("train", "learning_rate", 0.1), 5.846, "2026-12-02T14:03:24")
    earlier = _exp("leaves63", _with("train", "num_leaves", 63), 5.9, "2026-12-02T12:00:00")
    queued = {"name": "queued", "executor": {"state": "queued"}, "revs": [{"data": {}}]}
    runs = runs_of(shown(later, earlier, queued))
    assert [run.name for run in runs] == ["main", "workspace", "leaves63", "lr01"]
    assert [run.name for run in runs_of(shown(later, earlier), names=["lr01"])] == [
        "main",
        "workspace",
        "lr01",
    ]


def test_the_table_shows_the_changed_param_and_every_headline_figure_in_120_columns() -> None:
    lr = _exp("lr01", _with("train", "learning_rate", 0.1), 5.846, "2026-12-02T14:03:24")
    lines = render(runs_of(shown(lr)), width=120)
    assert max(len(line) for line in lines) <= 120
    text = "\n".join(lines)
    changed = next(line for line in lines if "train.learning_rate" in line)
    assert changed.startswith("*") and changed.split()[-3:] == ["0.2", "0.1", "0.1"]
    assert "num_leaves" not in text  # the same everywhere
    pai = next(line for line in lines if line.lstrip("* ").startswith("PAI at 5% of the area"))
    assert pai.split()[-3:] == ["5.8383", "5.846", "5.846"] and pai.startswith("*")
    for words in (
        "lift over the best baseline",
        "lift, 95% interval low",
        "truth efficiency PEI_T at 5%",
        "audit verdict",
        "forecast",
    ):
        assert words in text
    assert next(line for line in lines if "forecast" in line).split()[-3:] == [
        "published",
        "candidate",
        "candidate",
    ]
    assert "gate G2" not in text  # gates are listed only when they differ


def test_a_preset_with_many_long_params_still_fits() -> None:
    preset = PARAMS | {
        "ingest": {
            "source": "csv",
            "data_dir": "../shared/data/a-city-with-a-very-long-folder-name/events",
            "mapping": {f"category_{i}": f"a type with a long name {i}" for i in range(30)},
            "areas": {"deprivation_decile": {"a_key_named_at_great_length_by_its_author": 1}},
        }
    }
    lines = render(runs_of(shown(_exp("stlouis", preset, 4.1, "2026-12-02T10:00:00"))), width=120)
    assert max(len(line) for line in lines) <= 120
    assert sum("ingest.mapping.category_" in line for line in lines) == 30
    assert any(line.rstrip().endswith("…") for line in lines)
    assert any(line.startswith("* …") and "great_length_by_its_author" in line for line in lines)


def test_experiments_that_do_not_fit_are_left_out_oldest_first_and_counted() -> None:
    exps = [
        _exp(f"experiment-{i:02d}", _with("train", "learning_rate", i / 100), 5.0 + i, f"T{i:02d}")
        for i in range(12)
    ]
    lines = render(runs_of(shown(*exps)), width=120)
    assert max(len(line) for line in lines) <= 120
    header = lines[0].split()
    assert header[:2] == ["main", "workspace"] and header[-1] == "experiment-11"
    assert f"({12 - (len(header) - 2)} older experiments left out to fit 120 columns" in lines[-2]


def test_the_command_prints_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    lr = _exp("lr01", _with("train", "learning_rate", 0.1), 5.846, "2026-12-02T14:03:24")
    monkeypatch.setattr("beatwise.compare.exp_show_json", lambda repo: shown(lr))
    printed: list[str] = []
    args = argparse.Namespace(repo=".", exp=[], width=100)
    assert compare_runs(args, out=printed.append) == 0
    assert printed[0].split() == ["main", "workspace", "lr01"]
    assert max(len(line) for line in printed) <= 100
