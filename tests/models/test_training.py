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


def test_the_model_leaves_out_the_columns_exclude_features_names(tmp_path: Path) -> None:
    config = CFG.model_copy(update={"exclude_features": ("x_no",)})
    trained = train_risk_model(features(), panel=panel_meta(), config=config)
    assert trained.model.feature_columns == ("x_risk",)
    assert trained.run_params["train.exclude_features"] == "x_no"
    assert trained.run_params["n_features"] == 1
    meta = trained.meta(mlflow_run_id="a", registered_model="beatwise-risk", registered_version="1")
    assert meta.feature_columns == ("x_risk",)  # what publish and RiskModel.load expect
    (tmp_path / "model.txt").write_text(trained.text)
    meta.write(tmp_path / "model_meta.json")
    loaded = RiskModel.load(tmp_path / "model.txt", tmp_path / "model_meta.json")
    table = features()  # the full panel, as publish reads it: the extra column is ignored
    np.testing.assert_array_equal(loaded.predict(table), trained.model.predict(table))


@pytest.mark.parametrize(
    ("prefixes", "strict", "expected"),
    [
        ((), True, ["par7_a", "plc_x", "cnt"]),
        (("par7_",), True, ["plc_x", "cnt"]),
        (("par7_", "plc_"), True, ["cnt"]),
        (("plc_", "par6_"), False, ["par7_a", "cnt"]),  # the closed loop: no such family there
    ],
)
def test_model_columns_keep_the_order_and_drop_the_named_families(
    prefixes: tuple[str, ...], strict: bool, expected: list[str]
) -> None:
    config = RiskModelConfig(exclude_features=prefixes)
    assert config.model_columns(["par7_a", "plc_x", "cnt"], strict=strict) == expected


def test_exclude_features_refuses_a_typo_an_empty_prefix_and_an_empty_model() -> None:
    with pytest.raises(ValueError, match=r"names \['par6_'\], which begin no feature column"):
        RiskModelConfig(exclude_features=("par6_",)).model_columns(["par7_a", "cnt"])
    with pytest.raises(ValueError, match="leaves the model no feature column"):
        RiskModelConfig(exclude_features=("par7_", "c")).model_columns(["par7_a", "cnt"])
    with pytest.raises(ValueError, match="must hold non-empty column prefixes"):
        RiskModelConfig(exclude_features=("",))


def test_a_table_without_labelled_rows_is_refused() -> None:
    table = features().assign(target_count=np.nan)
    with pytest.raises(ValueError, match=r"has no rows with a known target_count \(780 rows"):
        train_risk_model(table, panel=panel_meta(), config=CFG)


def test_registered_version_stays_a_string() -> None:
    trained = train_risk_model(features(), panel=panel_meta(), config=CFG)
    with pytest.raises(ValueError, match=r"registered_version"):
        trained.meta(mlflow_run_id="abc", registered_model="beatwise-risk", registered_version="v4")


def test_a_history_window_is_the_span_the_model_records() -> None:
    windowed = CFG.model_copy(update={"history_periods": 5})
    trained = train_risk_model(features(), panel=panel_meta(), config=windowed)
    # the latest five of the twelve labelled weeks, 2024-02-19 to 2024-03-18
    assert trained.trained_periods == (dt.date(2024, 2, 19), dt.date(2024, 3, 18))
    assert trained.run_params["train.history_periods"] == 5
    recent = features()
    recent = recent[recent["period_start"] >= "2024-02-19"]
    assert trained.text == train_risk_model(recent, panel=panel_meta(), config=CFG).text
