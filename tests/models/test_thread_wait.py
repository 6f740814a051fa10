"""LightGBM's OpenMP threads wait passively by default; the fitted model does not depend on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: A fit through the train stage's imports (beatwise first, as in every stage), printing the
#: policy in force and the model.
FIT = """
import os, sys
import pipelines.train
import numpy as np, pandas as pd
from models.risk_model import RiskModelConfig, fit_risk_model
print(os.environ["OMP_WAIT_POLICY"])
rng = np.random.default_rng(5)
n_cells, n_weeks = 200, 30
risk = rng.gamma(0.7, 0.6, size=n_cells)
weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="7D").to_numpy()
frame = pd.DataFrame({
    "cell": np.repeat(np.arange(n_cells), n_weeks),
    "period_start": np.tile(weeks, n_cells),
    "x_risk": np.repeat(risk, n_weeks) + rng.normal(0, 0.05, n_cells * n_weeks),
    "x_noise": rng.normal(size=n_cells * n_weeks),
    "target_count": rng.poisson(np.repeat(risk, n_weeks)).astype(float),
})
config = RiskModelConfig(min_data_in_leaf=40, max_rounds=60, validation_periods=4, num_threads=2)
model = fit_risk_model(frame, feature_columns=["x_risk", "x_noise"], config=config)
sys.stdout.write(model.to_text())
"""


def _fit(policy: str | None) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run(
        [sys.executable, "-c", FIT], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    chosen, model = out.split("\n", 1)
    return chosen, model


def test_the_default_wait_is_passive_and_an_explicit_choice_is_kept() -> None:
    default, passive_model = _fit(None)
    active, active_model = _fit("ACTIVE")
    assert (default, active) == ("PASSIVE", "ACTIVE")
    assert passive_model == active_model  # the same model to the byte
    assert "tree" in passive_model


def test_every_stage_that_fits_loads_beatwise_before_lightgbm() -> None:
    """OpenMP reads the policy when LightGBM's library loads, so the stage must set it first."""
    for stage in ("select", "train", "evaluate", "feedback", "publish"):
        trace = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import pipelines.{stage}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stderr.splitlines()
        names = [line.rsplit("|", 1)[-1].strip() for line in trace if "|" in line]
        # -X importtime lists a module when its import finishes: beatwise's own module body (which
        # sets the policy) runs before any LightGBM import starts if it finishes first
        assert "lightgbm" in names, stage
        assert names.index("beatwise") < names.index("lightgbm"), stage
