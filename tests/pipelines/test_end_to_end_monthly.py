"""End to end in monthly mode: the real stages on a tiny synthetic city whose events carry only
their month, as data.police.uk publishes them.

The tiny city (simcity.testing) is simulated for three years; its events' timestamps are then
floored to 00:00 on the 1st of their month, so the ingest stage finds monthly time resolution and
``features.period: auto`` becomes ``month``. Each stage runs as ``dvc.yaml`` spells its command,
in a temporary folder, with the monthly-sized params ``params.yaml`` suggests for such data. The
checks: the contract outputs exist, ``panel_meta.json`` says month, the forecast CSV's
``month_start`` is the month after the last complete month, and the texts say month.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from beatwise.presets import overlay_params
from simcity.testing import TINY_CITY_PUBLISH_OVERRIDE

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e

STAGES = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
#: Monthly-sized windows (params.yaml's comment on features) and a short backtest. The tiny
#: city's groups are too small for the audit, so it publishes under a test override, as in
#: test_end_to_end.py; the gates themselves are tested in tests/models/test_audit.py.
MONTHLY: dict[str, dict[str, Any]] = {
    "features": {
        "period": "auto",
        "lags": [1, 2, 3],
        "rolling_windows": [3, 6, 12],
        "decay_half_lives": [1, 3],
        "since_cap": 24,
        "min_history_periods": 12,
    },
    "train": {"validation_periods": 3, "max_rounds": 100, "min_data_in_leaf": 50},
    "evaluate": {
        "backtest_periods": 6,
        "min_train_periods": 6,
        "refit_every": 3,
        "kde_periods": 2,
        "hotspot_periods": 2,
        "block_len": 3,
        "n_boot": 200,
    },
    "audit": {"n_boot": 200},
    "publish": {"override": TINY_CITY_PUBLISH_OVERRIDE},
    "feedback": {"weeks": 8, "seeds": 2},
}


def three_year_city() -> dict[str, Any]:
    from simcity.testing import TINY_CITY_OVERRIDES

    return {**TINY_CITY_OVERRIDES, "n_weeks": 156}  # 2022-01-03 to 2024-12-29


def run_stage(stage: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run one stage as dvc.yaml spells it, with the worktree's code and the folder's params."""
    text = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    params = yaml.safe_load((folder / "params.yaml").read_text())

    def param(match: re.Match[str]) -> str:  # DVC's ${section.key} templating
        value: Any = params
        for part in match.group(1).split("."):
            value = value[part]
        return str(value)

    cmd = shlex.split(re.sub(r"\$\{([\w.]+)\}", param, text))
    assert cmd[0] == "python"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    env.pop("MLFLOW_TRACKING_URI", None)  # the stages' default: ./mlflow.db in the folder
    for name in ("DVC_STAGE", "DVC_ROOT", "DVC_EXP_NAME"):  # run by hand, as a person would
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, *cmd[1:]], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        raise AssertionError(f"stage {stage} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def floor_to_months(path: Path) -> None:
    """What data.police.uk publishes: each event's month, as 00:00 on its 1st."""
    events = pd.read_parquet(path)
    events["timestamp"] = events["timestamp"].dt.to_period("M").dt.start_time
    events.to_parquet(path)


@pytest.fixture(scope="module")
def monthly_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("beatwise_monthly")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = overlay_params(params, {**MONTHLY, "simulate": three_year_city()})
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    logs: dict[str, str] = {}
    for stage in STAGES:
        logs[stage] = run_stage(stage, folder).stderr
        if stage == "simulate":
            floor_to_months(folder / "data/raw/synthetic/events.parquet")
    return {"path": folder, "logs": logs}


def _json(folder: Path, rel: str) -> Any:
    return json.loads((folder / rel).read_text())


def test_contract_outputs_exist(monthly_run: dict[str, Any]) -> None:
    folder = monthly_run["path"]
    for rel in (
        "data/forecasts/candidate/forecast.csv",
        "data/forecasts/candidate/forecast.geojson",
        "data/forecasts/candidate/manifest.json",
        "reports/publication.json",
        "reports/backtest_metrics.json",
        "reports/compare/backtest.json",
        "reports/compare/gates.json",
        "reports/compare/pai_by_period.csv",
        "reports/audit.json",
        "reports/bias_report.html",
        "reports/model_card.md",
        "data/processed/backtest.parquet",
    ):
        assert (folder / rel).stat().st_size > 0, rel
    for png in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]["plots"]:
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _json(folder, "reports/audit.json")["publishable"] is True
    # run by hand, not by DVC: the forecast is a candidate, and nothing is published
    record = _json(folder, "reports/publication.json")
    assert (record["status"], record["run"]) == ("candidate", "outside_dvc")
    assert not (folder / "data/published").exists()


def test_monthly_resolution_is_detected_and_recorded(monthly_run: dict[str, Any]) -> None:
    folder = monthly_run["path"]
    assert _json(folder, "reports/data_quality.json")["time_resolution"] == "month"
    meta = _json(folder, "data/processed/panel_meta.json")
    assert (meta["period"], meta["source"], meta["time_resolution"]) == (
        "month",
        "synthetic",
        "month",
    )
    # 36 months of data, January 2022 to December 2024; December is whole (monthly data).
    assert meta["all_periods"] == ["2022-01-01", "2024-12-01"]
    assert meta["first_period"] == "2023-01-01"  # after min_history_periods = 12
    assert meta["last_complete_period"] == "2024-12-01"
    assert meta["forecast_period"] == "2025-01-01"
    assert "cnt_all_lag1m" in meta["feature_columns"]
    assert not [c for c in meta["feature_columns"] if c.endswith("w") or "week" in c]
    assert _json(folder, "data/models/model_meta.json")["period"] == "month"


def test_forecast_csv_is_for_the_month_after_the_last_complete_month(
    monthly_run: dict[str, Any],
) -> None:
    folder = monthly_run["path"]
    with (folder / "data/forecasts/candidate/forecast.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    dictionary = pd.read_csv(ROOT / "docs/forecast-dict.csv")
    assert list(rows[0]) == list(dictionary.loc[dictionary["period"] != "week", "column"])
    events = pd.read_parquet(folder / "data/interim/events.parquet")
    last_month = events["timestamp"].max()
    assert last_month == pd.Timestamp("2024-12-01")
    assert {r["month_start"] for r in rows} == {"2025-01-01"}
    manifest = _json(folder, "data/forecasts/candidate/manifest.json")
    assert (manifest["period"], manifest["forecast_month"]) == ("month", "2025-01-01")
    assert "forecast_week" not in manifest


def test_metrics_baselines_and_texts_are_monthly(monthly_run: dict[str, Any]) -> None:
    folder = monthly_run["path"]
    metrics = _json(folder, "reports/backtest_metrics.json")
    assert metrics["period"] == "month"
    headline = _json(folder, "reports/compare/backtest.json")
    assert headline["pai"] == pytest.approx(metrics["pai_at_5pct"], rel=1e-4)
    assert headline["pei_truth"] is not None  # the truth by month: E[month | before the month]
    assert (metrics["backtest_first_period"], metrics["backtest_last_period"]) == (
        "2024-07-01",
        "2024-12-01",
    )
    assert metrics["n_backtest_periods"] == 6
    assert set(metrics["baselines"]) == {
        "last_month",
        "mean_3m",
        "mean_6m",
        "mean_12m",
        "same_month_last_year",
        "all_history",
        "kde_retrospective",
        "prospective_hotspot",
        "etas",
    }
    # The simulator's truth by month: truth efficiency, and the true risk as the audit's reference.
    assert metrics["pei_truth_at_5pct"] is not None
    assert "pei_truth_* skipped" not in monthly_run["logs"]["evaluate"]
    backtest = pd.read_parquet(folder / "data/processed/backtest.parquet")
    assert backtest["period_start"].nunique() == 6 and backtest["truth_recorded"].notna().all()
    # A month's truth is calibrated against what the month recorded (6 months of a tiny city:
    # a few thousand target crimes, so within 10%).
    observed, expected = backtest["target_count"].sum(), backtest["truth_recorded"].sum()
    assert observed / expected == pytest.approx(1.0, abs=0.1)
    audit = _json(folder, "reports/audit.json")
    assert (audit["period"], audit["n_periods"]) == ("month", 6)
    assert audit["reference"]["label"] == "the true risk"
    card = (folder / "reports/model_card.md").read_text()
    assert card.startswith("# Model card: monthly crime-risk forecast")
    assert "for the coming month" in card and "6 months" in card
    html = (folder / "reports/bias_report.html").read_text()
    assert "in the coming month" in html and "cell-months" in html
