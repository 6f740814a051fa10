"""The model as MLflow logs it: an input example beside it, and a signature that takes float64
rows built by hand (the columns are doubles; float32 input still passes, a safe widening)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.risk_model import RiskModelConfig, fit_risk_model
from pipelines._tracking import EXPERIMENT_NAME, REGISTERED_MODEL_NAME, track_training

FEATURES = ["x_risk", "x_noise"]


def _panel(n_cells: int = 80, n_weeks: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    risk = rng.gamma(0.7, 0.6, size=n_cells)
    weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="7D")
    return pd.DataFrame(
        {
            "cell": np.repeat(np.arange(n_cells), n_weeks),
            "period_start": np.tile(weeks.to_numpy(), n_cells),
            "x_risk": np.repeat(risk, n_weeks),
            "x_noise": rng.normal(size=n_cells * n_weeks),
            "target_count": rng.poisson(np.repeat(risk, n_weeks)).astype(float),
        }
    )


def test_logged_model_has_an_input_example_and_takes_float64_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.models import get_model_info
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    MlflowClient().create_experiment(EXPERIMENT_NAME)
    frame = _panel()
    config = RiskModelConfig(
        min_data_in_leaf=20, max_rounds=30, validation_periods=4, num_threads=1
    )
    model = fit_risk_model(frame, feature_columns=FEATURES, config=config)
    plot = tmp_path / "importance.png"
    plot.write_bytes(b"\x89PNG\r\n")
    run_id, version = track_training(
        model,
        frame,
        model_version="0a1b",
        params_digest="feed",
        run_params={"train.max_rounds": 30},
        inputs=[],
        importance_plot=plot,
        point_candidate=False,
    )
    uri = f"models:/{REGISTERED_MODEL_NAME}/{version}"
    info = get_model_info(uri)
    assert info.run_id == run_id
    assert info.saved_input_example_info is not None
    assert info.signature is not None
    assert {col.type.name for col in info.signature.inputs.inputs} == {"double"}
    assert info.signature.inputs.input_names() == FEATURES

    loaded = mlflow.pyfunc.load_model(uri)
    by_hand = pd.DataFrame([{"x_risk": 0.5, "x_noise": 0.1}, {"x_risk": 2.0, "x_noise": -1.0}])
    predicted = np.asarray(loaded.predict(by_hand), dtype=float)
    assert predicted.shape == (2,) and np.all(predicted > 0)
    assert predicted[1] > predicted[0]  # more risk, more expected events
    as_float32 = loaded.predict(by_hand.astype("float32"))
    assert np.allclose(np.asarray(as_float32, dtype=float), predicted, rtol=1e-5)
