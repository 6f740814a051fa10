"""Training on the panel: the panel's columns and period, the model's identity, its typed meta."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import stage_files

from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from models.risk_model import RiskModel, RiskModelConfig
from models.training import train_risk_model

CFG = RiskModelConfig(min_data_in_leaf=20, max_rounds=50, validation_periods=3, num_threads=1)


def features(n_cells: int = 60, n_weeks: int = 12, seed: int = 3) -> pd.DataFrame:
    """A toy feature table: ``n_weeks`` labelled weeks and one forecast week (null target)."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2024-01-01", periods=n_weeks + 1, freq="7D")
    risk = np.tile(rng.gamma(0.8, 0.8, size=n_cells), n_weeks + 1)
    target = rng.poisson(risk).astype("float32")
    target[-n_cells:] = np.nan
    return pd.DataFrame(
        {
            "h3_cell": np.tile([f"c{i}" for i in range(n_cells)], n_weeks + 1),
            "period_start": np.repeat(weeks.to_numpy(), n_cells),
            "x_risk": risk.astype("float32"),
            "x_noise": rng.normal(size=risk.size).astype("float32"),
            "target_count": target,
        }
    )


def panel_meta(**changes: Any) -> PanelMeta:
    toy = {
        "target_types": ["burglary", "robbery"],
        "feature_types": ["burglary", "robbery"],
        "feature_columns": ["x_risk", "x_noise"],
    }
    return PanelMeta.from_json(stage_files.panel_meta(**{**toy, **changes}))


def test_trains_on_the_labelled_rows_with_the_panel_columns(tmp_path: Path) -> None:
    trained = train_risk_model(features(), panel=panel_meta(), config=CFG)
    assert trained.model.feature_columns == ("x_risk", "x_noise")
    assert len(trained.labelled) == 60 * 12  # the forecast week is left out
    assert trained.trained_periods == (dt.date(2024, 1, 1), dt.date(2024, 3, 18))
    assert trained.model_version == hashlib.sha256(trained.text.encode()).hexdigest()[:12]
    assert trained.run_params["target_types"] == "burglary,robbery"
    assert trained.run_params["train.validation_periods"] == 3
    assert trained.run_params["best_rounds"] == trained.model.best_rounds
    again = train_risk_model(features(), panel=panel_meta(), config=CFG)
    assert again.text == trained.text  # deterministic: the version is the model's identity

    meta = trained.meta(
        mlflow_run_id="abc", registered_model="beatwise-risk", registered_version="4"
    )
    assert meta.period == "week" and meta.registered_version == "4"
    meta.write(tmp_path / "model_meta.json")
    (tmp_path / "model.txt").write_text(trained.text)
    assert ModelMeta.read(tmp_path / "model_meta.json") == meta
    loaded = RiskModel.load(tmp_path / "model.txt", tmp_path / "model_meta.json")
    np.testing.assert_array_equal(
        loaded.predict(trained.labelled), trained.model.predict(trained.labelled)
    )


def test_only_the_panel_feature_columns_are_used() -> None:
    trained = train_risk_model(features(), panel=panel_meta(feature_columns=["x_risk"]), config=CFG)
    assert trained.model.feature_columns == ("x_risk",)
    assert trained.run_params["n_features"] == 1


def test_a_table_without_labelled_rows_is_refused() -> None:
    table = features().assign(target_count=np.nan)
    with pytest.raises(ValueError, match=r"has no rows with a known target_count \(780 rows"):
        train_risk_model(table, panel=panel_meta(), config=CFG)


def test_registered_version_stays_a_string() -> None:
    trained = train_risk_model(features(), panel=panel_meta(), config=CFG)
    with pytest.raises(ValueError, match=r"registered_version"):
        trained.meta(mlflow_run_id="abc", registered_model="beatwise-risk", registered_version="v4")
