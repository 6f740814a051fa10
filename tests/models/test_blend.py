"""The stacked blend (``models.blend``, ``models.blend_backtest``, ``models.blend_serving``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtest_city import CONFIG, MODEL, N_PERIODS, PERIODS, toy_city
from pydantic import ValidationError

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import BlendRecord, ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.params import ParamsError, validate_params
from beatwise.period import PERIOD_COLUMN
from models.blend import BlendConfig, blend_parts, fit_blend_weights, mean_deviance
from models.blend_serving import fit_published_blend
from models.evaluation import BacktestResult, run_backtest, score_baselines
from models.publication import forecast_next_period
from models.training import train_risk_model
from pipelines.train import Params as TrainParams

BLEND = ("all_history", "mean_4w")
BLENDED = MODEL.model_copy(update={"blend": BlendConfig(baselines=BLEND)})


def test_the_weights_recover_a_known_mix_of_poisson_draws() -> None:
    rng = np.random.default_rng(3)
    a = rng.gamma(0.8, 1.0, size=200_000)
    b = rng.gamma(0.8, 1.0, size=200_000)
    noise = rng.gamma(0.8, 1.0, size=200_000)  # a part the truth does not contain
    y = rng.poisson(0.7 * a + 0.3 * b)
    w = fit_blend_weights(y, [a, b])
    assert w == pytest.approx([0.7, 0.3], abs=0.02)
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    w3 = fit_blend_weights(y, [a, b, noise])
    assert w3 == pytest.approx([0.7, 0.3, 0.0], abs=0.02)
    assert (w3 >= 0).all()
    # the fitted mix beats either part alone, and the model-only corner
    assert mean_deviance(y, blend_parts([a, b], w)) < min(mean_deviance(y, a), mean_deviance(y, b))


def test_the_weights_refuse_bad_parts_and_fall_back_without_events() -> None:
    y = np.zeros(5)
    assert fit_blend_weights(y, [np.ones(5), np.full(5, 2.0)]).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="one value per count"):
        fit_blend_weights(np.ones(5), [np.ones(4)])
    with pytest.raises(ValueError, match=">= 0"):
        fit_blend_weights(np.ones(2), [np.array([1.0, -1.0])])
    with pytest.raises(ValueError, match="at least one part"):
        fit_blend_weights(np.ones(2), [])


def _train_params(blend: Any) -> dict[str, Any]:
    return {"train": {"blend": {"baselines": blend}}, "evaluate": {}}


def test_the_blend_params_are_validated_once_naming_the_key() -> None:
    assert not validate_params("train", TrainParams, _train_params(None)).train.blend.enabled
    assert not validate_params("train", TrainParams, _train_params([])).train.blend.enabled
    on = validate_params("train", TrainParams, _train_params(["etas", "all_history"]))
    assert on.train.blend.baselines == ("etas", "all_history")
    with pytest.raises(ParamsError, match=r"'train\.blend\.baselines\.0' parameter of stage"):
        validate_params("train", TrainParams, _train_params(["etass"]))
    with pytest.raises(ParamsError, match=r"train\.blend\.baselines.*must name each baseline once"):
        validate_params("train", TrainParams, _train_params(["etas", "etas"]))
    with pytest.raises(ParamsError, match=r"train\.blend\.baselines"):
        validate_params("train", TrainParams, _train_params(["etas", "mean_4w", "mean_13w", "b"]))
    with pytest.raises(
        ValueError, match=r"'train\.blend\.baselines' parameter names \['mean_4w'\]"
    ):
        BlendConfig(baselines=("mean_4w",)).check_period("month")


def test_a_blend_record_is_on_the_simplex() -> None:
    kw: dict[str, Any] = {
        "parts": ("model", "etas"),
        "holdout_periods": (dt.date(2024, 1, 1), dt.date(2024, 2, 19)),
        "holdout_deviance_model": 0.9,
        "holdout_deviance_blend": 0.8,
    }
    BlendRecord(weights=(0.25, 0.75), **kw)
    with pytest.raises(ValidationError, match="sum to 1"):
        BlendRecord(weights=(0.5, 0.75), **kw)
    with pytest.raises(ValidationError, match="start with 'model'"):
        BlendRecord(weights=(0.25, 0.75), **{**kw, "parts": ("etas", "model")})


def _backtest(
    features: pd.DataFrame, cells: pd.DataFrame, events: pd.DataFrame, meta: PanelMeta
) -> BacktestResult:
    return run_backtest(
        features, cells, events, meta, config=CONFIG, model_config=BLENDED, coverage=0.1
    )


@pytest.fixture(scope="module")
def city() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]:
    return toy_city()


@pytest.fixture(scope="module")
def blended(city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]) -> BacktestResult:
    cells, events, features, meta = city
    return _backtest(features, cells, events, meta)


def test_the_backtest_scores_the_blend_and_the_model_alone(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta], blended: BacktestResult
) -> None:
    cells, events, features, meta = city
    alone = run_backtest(
        features, cells, events, meta, config=CONFIG, model_config=MODEL, coverage=0.1
    )
    metrics = blended.metrics
    assert metrics.blend is not None and alone.metrics.blend is None
    # the model alone in the blended run is the unblended backtest's model, figure for figure
    assert metrics.blend.unblended == alone.metrics.model
    assert metrics.blend.unblended_lift == alone.metrics.lift
    # the baselines stay pure: the same figures and the same best baseline either way
    assert metrics.baselines == alone.metrics.baselines
    assert metrics.best_baseline == alone.metrics.best_baseline
    first = [PERIODS[i].astype("datetime64[D]").item() for i in (N_PERIODS - 8, N_PERIODS - 4)]
    assert list(metrics.blend.weights) == first
    assert metrics.blend.parts == ("model", *BLEND)
    # the blend's scores are each block's weights applied to the model and the baselines
    frame, base = blended.frame, alone.frame
    for start, w in metrics.blend.weights.items():
        rows = frame[PERIOD_COLUMN] >= pd.Timestamp(start)
        if start == first[0]:
            rows &= frame[PERIOD_COLUMN] < pd.Timestamp(first[1])
        expected = blend_parts(
            [base.loc[rows, "risk_score"], *(base.loc[rows, f"score_{n}"] for n in BLEND)], w
        )
        np.testing.assert_allclose(frame.loc[rows, "risk_score"], expected, rtol=1e-12)
    # the file keeps the headline keys and reads back equal
    assert BacktestMetrics.from_json(metrics.to_json()) == metrics
    assert "pai_at_10pct" in metrics.to_json() and "blend" not in alone.metrics.to_json()


def _altered_from(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta], week: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta]:
    """The city with every event of week ``week`` and later tripled (targets to match)."""
    cells, events, features, meta = city
    late = events["timestamp"] >= PERIODS[week]
    events = pd.concat([events, events[late], events[late]], ignore_index=True)
    features = features.copy()
    rows = features[PERIOD_COLUMN] >= PERIODS[week]
    features.loc[rows, "target_count"] *= 3
    return cells, events, features, meta


def test_no_leakage_data_of_a_block_and_later_never_reach_its_weights(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta], blended: BacktestResult
) -> None:
    second = N_PERIODS - 4  # the first period of the second refit block
    day = PERIODS[second].astype("datetime64[D]").item()
    cells, events, features, meta = _altered_from(city, second)
    altered = _backtest(features, cells, events, meta).metrics.blend
    assert altered is not None and blended.metrics.blend is not None
    assert altered.weights == blended.metrics.blend.weights
    # the test has power: altering the block's hold-out (the period before it) moves its weights
    cells, events, features, meta = _altered_from(city, second - 1)
    moved = _backtest(features, cells, events, meta).metrics.blend
    assert moved is not None
    assert moved.weights[day] != blended.metrics.blend.weights[day]


def test_publish_applies_the_weights_train_recorded(
    city: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, PanelMeta], tmp_path: Any
) -> None:
    cells, events, features, meta = city
    cells = cells.assign(district_name="Ashbourne")
    fitter = lambda fit, labelled: fit_published_blend(  # noqa: E731
        fit, labelled, events, cells, panel=meta, blend=BLENDED.blend, config=CONFIG
    )
    trained = train_risk_model(features, panel=meta, config=BLENDED, fit_blend=fitter)
    alone = train_risk_model(features, panel=meta, config=MODEL)
    assert trained.blend is not None and alone.blend is None
    assert trained.text == alone.text and trained.model_version != alone.model_version
    model_meta: ModelMeta = trained.meta(
        mlflow_run_id="run", registered_model="beatwise-risk", registered_version="1"
    )
    assert ModelMeta.from_json(model_meta.to_json()) == model_meta
    assert (
        "blend"
        not in alone.meta(
            mlflow_run_id="run", registered_model="beatwise-risk", registered_version="1"
        ).to_json()
    )
    events.to_parquet(tmp_path / "event_cells.parquet")
    rows = features[features[PERIOD_COLUMN] == PERIODS[-1]]
    kw: dict[str, Any] = {
        "panel": meta, "model_meta": model_meta, "coverage": 0.1, "interval_level": 0.8,
        "audit_status": "pass",
    }  # fmt: skip
    table = forecast_next_period(
        rows,
        cells,
        trained.model,
        event_cells=tmp_path / "event_cells.parquet",
        baseline_config=CONFIG,
        **kw,
    )
    counts = np.zeros((N_PERIODS, len(cells)))
    for i in range(N_PERIODS):  # the city's counts, week by week (40 weeks)
        in_week = (events["timestamp"] >= PERIODS[i]) & (events["timestamp"] < PERIODS[i + 1])
        ids = events.loc[in_week, "h3_int"].to_numpy(dtype=np.uint64)
        counts[i] = (ids[:, None] == cells["h3_int"].to_numpy(dtype=np.uint64)).sum(axis=0)
    parts = score_baselines(
        counts, [N_PERIODS], cell_ids=cells["h3_int"], period="week", config=CONFIG
    )
    model = trained.model.predict(rows.set_index("h3_cell").reindex(cells["h3_cell"]))
    assert model_meta.blend is not None
    expected = blend_parts([model, *(parts[n][0] for n in BLEND)], model_meta.blend.weights)
    published = table.set_index("h3_cell").loc[cells["h3_cell"], "risk_score"].to_numpy()
    np.testing.assert_allclose(published, np.round(expected, 6), atol=1e-12)
    assert not np.allclose(published, np.round(model, 6))
    with pytest.raises(ValueError, match="records a blend"):
        forecast_next_period(rows, cells, trained.model, **kw)


def test_the_documents_say_the_forecast_is_a_blend_and_with_which_weights() -> None:
    from audit_inputs import city as audit_city
    from audit_inputs import make_metrics
    from stage_files import data_quality, panel_meta

    from beatwise.artefacts.quality import DataQuality
    from models.report import DataQualitySummary, report_context

    record = BlendRecord(
        parts=("model", "etas"),
        weights=(0.4165, 0.5835),
        holdout_periods=(dt.date(2024, 11, 4), dt.date(2024, 12, 23)),
        holdout_deviance_model=0.886267,
        holdout_deviance_blend=0.884374,
    )
    meta = ModelMeta(
        feature_columns=("cnt_all_lag1w",),
        best_rounds=40,
        model_version="v-blend",
        mlflow_run_id="run-blend",
        registered_model="beatwise-risk",
        registered_version="1",
        period="week",
        trained_periods=(dt.date(2023, 10, 2), dt.date(2024, 3, 18)),
    )
    cells, _ = audit_city(truth="none")
    dq = DataQuality.model_validate({**data_quality(source="mapped_csv"), "place": "Town"})
    args = (
        PanelMeta.from_json(panel_meta(source="mapped_csv", n_cells=len(cells))),
        make_metrics(),
        DataQualitySummary.from_dict(dq.to_json()),
        cells,
    )
    alone = report_context(args[0], meta, *args[1:], audit_date=dt.date(2024, 4, 22))
    mixed = report_context(
        args[0],
        meta.model_copy(update={"blend": record}),
        *args[1:],
        audit_date=dt.date(2024, 4, 22),
    )
    assert "blend" not in alone.model_type
    assert mixed.model_type.startswith(alone.model_type)
    assert "blended with the baselines etas (weights model 0.4165, etas 0.5835" in mixed.model_type
