"""dvc.yaml and the stage modules agree: declared params, order, contract outputs."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
STAGES = [
    "simulate",
    "ingest",
    "build_cells",
    "build_features",
    "select",
    "train",
    "evaluate",
    "feedback",
    "audit",
    "publish",
]


def test_stage_names_and_order() -> None:
    assert list(DVC) == STAGES


@pytest.mark.parametrize("stage", STAGES)
def test_stage_declares_exactly_the_sections_its_module_reads(stage: str) -> None:
    entry = DVC[stage]
    module_name = re.search(r"python -m (pipelines\.\w+)", entry["cmd"]).group(1)  # type: ignore[union-attr]
    module = importlib.import_module(module_name)
    assert stage == module.STAGE
    # a section, or one key of it (``ingest.source``) where the stage reads that key alone
    declared = [str(p).split(".")[0] for p in entry["params"]]
    assert sorted(module.Params.model_fields) == sorted(declared)
    for key in (str(p) for p in entry["params"] if "." in str(p)):
        section, name = key.split(".", 1)
        assert list(module.Params.model_fields[section].annotation.model_fields) == [name], key
    assert f"{module_name.replace('.', '/')}.py" in entry["deps"]


@pytest.mark.parametrize("stage", STAGES)
def test_stage_keys_in_house_order(stage: str) -> None:
    keys = list(DVC[stage])
    order = ["desc", "cmd", "deps", "params", "outs", "metrics", "plots"]
    assert keys == [k for k in order if k in keys]


@pytest.mark.parametrize("stage", STAGES)
def test_params_file_validates_for_every_stage(stage: str) -> None:
    module = importlib.import_module(f"pipelines.{stage}")
    from beatwise.params import validate_params

    validate_params(stage, module.Params, PARAMS)


def _outs(entry: dict[str, object], key: str) -> list[str]:
    items = entry.get(key) or []
    return [next(iter(i)) if isinstance(i, dict) else i for i in items]  # type: ignore[union-attr]


def test_contract_outputs_are_declared() -> None:
    outs = {o for e in DVC.values() for o in _outs(e, "outs")}
    metrics = {o for e in DVC.values() for o in _outs(e, "metrics")}
    plots = {o for e in DVC.values() for o in _outs(e, "plots")}
    assert {
        "data/forecasts/candidate",
        "reports/audit.json",
        "reports/bias_report.html",
        "reports/model_card.md",
        "reports/transparency_record.md",
        "reports/transparency_record.json",
    } <= outs
    assert "reports/backtest_metrics.json" in outs  # the detail: not what DVC compares
    assert metrics == {
        "reports/compare/backtest.json",
        "reports/compare/gates.json",
        "reports/publication.json",
    }
    assert plots and all(p.startswith("reports/plots/") and p.endswith(".png") for p in plots)


def test_what_dvc_compares_is_committed_and_nothing_else_in_reports() -> None:
    """``reports/compare/`` is committed (``cache: false``), so ``dvc metrics diff`` and
    ``dvc plots diff`` find the committed run's figures on a fresh clone; git ignores the rest."""
    committed = {
        name: spec
        for entry in DVC.values()
        for key in ("outs", "metrics")
        for item in entry.get(key) or []
        if isinstance(item, dict)
        for name, spec in item.items()
        if name.startswith("reports/compare/")
    }
    assert set(committed) == {
        "reports/compare/backtest.json",
        "reports/compare/gates.json",
        "reports/compare/capture_curve.csv",
        "reports/compare/calibration.csv",
        "reports/compare/pai_by_period.csv",
    }
    assert all(spec == {"cache": False} for spec in committed.values())
    tracked = subprocess.run(
        ["git", "ls-files", "reports"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(tracked) == set(committed)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "reports/metrics.json"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0
    not_ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "reports/compare/backtest.json"],
        cwd=ROOT,
        check=False,
    )
    assert not_ignored.returncode == 1


def test_top_level_plots_draw_committed_curves_with_x_and_y() -> None:
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    committed = {
        name for e in DVC.values() for o in e.get("outs") or [] if isinstance(o, dict) for name in o
    }
    ids = []
    for plot in plots:
        ((plot_id, spec),) = plot.items()
        ids.append(plot_id)
        assert spec["x"] and spec["title"] and spec["x_label"] and spec["y_label"]
        assert set(spec["y"]) <= committed, plot_id
    assert ids == ["capture_curve", "calibration", "pai_by_period"]


def test_what_is_published_lies_outside_every_dvc_output() -> None:
    """DVC deletes, restores and checks out its outputs: a publication must be none of them, and
    the publish stage must not be restored from DVC's run cache instead of running."""
    assert "--published-dir data/published" in DVC["publish"]["cmd"]
    declared = {
        o for e in DVC.values() for key in ("outs", "metrics", "plots") for o in _outs(e, key)
    }
    assert not [o for o in declared if o.startswith("data/published") or o in ("data", "data/")]
    assert any(
        isinstance(o, dict) and next(iter(o.values())).get("persist")
        for key in ("outs", "metrics")
        for o in DVC["publish"].get(key, [])
    )


def test_every_data_dependency_is_produced_upstream() -> None:
    produced: set[str] = set()
    for stage in STAGES:
        entry = DVC[stage]
        for dep in entry["deps"]:
            if dep.startswith(("data/", "reports/")):
                assert any(dep == p or dep.startswith(p + "/") for p in produced), (stage, dep)
        produced |= (
            set(_outs(entry, "outs")) | set(_outs(entry, "metrics")) | set(_outs(entry, "plots"))
        )


def test_only_ingest_reads_the_simulator_and_only_through_its_data_folder() -> None:
    """A real-data run (ingest.data_dir outside data/raw/synthetic) never runs simulate: no stage
    depends on the simulator's folder except ingest, through ``${ingest.data_dir}``."""
    simulated = set(_outs(DVC["simulate"], "outs"))
    for stage in STAGES[1:]:
        deps = DVC[stage]["deps"]
        assert not [d for d in deps if any(d.startswith(o) for o in simulated)], stage
    assert "${ingest.data_dir}" in DVC["ingest"]["deps"]
    assert "--truth-dir data/interim/truth" in DVC["evaluate"]["cmd"]
    assert "data/interim/truth" in _outs(DVC["ingest"], "outs")


def test_offline_configuration_is_committed() -> None:
    config = (ROOT / ".dvc" / "config").read_text()
    assert re.search(r"analytics\s*=\s*false", config)
    assert re.search(r"check_update\s*=\s*false", config)
    ignore = (ROOT / ".dvcignore").read_text().split()
    assert {"__pycache__/", "*.pyc", "mlflow.db", "mlartifacts/"} <= set(ignore)
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert {"/data/", "/reports/*", "!/reports/compare/", "mlflow.db", ".venv/"} <= set(gitignore)


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 2
    assert "dvc repro" in lines[0]
    assert "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1] in ci
