"""The LightGBM risk model: deterministic, calibrated, refuses what it cannot fit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.model import ModelMeta
from models.risk_model import (
    RiskModel,
    RiskModelConfig,
    bin_rows,
    feature_importance,
    fit_binned,
    fit_risk_model,
)


def toy_panel(n_cells: int = 300, n_weeks: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    risk = rng.gamma(0.7, 0.6, size=n_cells)
    weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="7D")
    cell = np.repeat(np.arange(n_cells), n_weeks)
    week = np.tile(weeks.to_numpy(), n_cells)
    noise = rng.normal(0, 0.05, size=n_cells * n_weeks)
    return pd.DataFrame(
        {
            "cell": cell,
            "period_start": week,
            "x_risk": np.repeat(risk, n_weeks) + noise,
            "x_noise": rng.normal(size=n_cells * n_weeks),
            "target_count": rng.poisson(np.repeat(risk, n_weeks)).astype(float),
        }
    )


CFG = RiskModelConfig(min_data_in_leaf=50, max_rounds=200, validation_periods=5, num_threads=1)


def test_fit_is_deterministic_and_learns_the_signal() -> None:
    frame = toy_panel()
    a = fit_risk_model(frame, feature_columns=["x_risk", "x_noise"], config=CFG)
    b = fit_risk_model(frame, feature_columns=["x_risk", "x_noise"], config=CFG)
    assert a.to_text() == b.to_text()
    pred = a.predict(frame)
    assert np.corrcoef(pred, frame["x_risk"])[0, 1] > 0.9
    assert pred.mean() == pytest.approx(frame["target_count"].mean(), rel=0.05)
    assert feature_importance(a)["feature"].iloc[0] == "x_risk"


def test_zero_downsampling_stays_calibrated() -> None:
    frame = toy_panel(seed=2)
    cfg = CFG.model_copy(update={"zero_keep_rate": 0.3})
    model = fit_risk_model(frame, feature_columns=["x_risk", "x_noise"], config=cfg)
    pred = model.predict(frame)
    assert pred.mean() == pytest.approx(frame["target_count"].mean(), rel=0.08)


def test_round_trip_through_text(tmp_path: Path) -> None:
    frame = toy_panel(n_cells=100, n_weeks=20)
    model = fit_risk_model(frame, feature_columns=["x_risk", "x_noise"], config=CFG)
    (tmp_path / "m.txt").write_text(model.to_text())
    meta = _meta(model.feature_columns, model.best_rounds)
    meta.write(tmp_path / "m.json")
    loaded = RiskModel.load(tmp_path / "m.txt", tmp_path / "m.json")
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    assert RiskModel.load(tmp_path / "m.txt", meta).feature_columns == ("x_risk", "x_noise")


def _meta(feature_columns: tuple[str, ...], best_rounds: int) -> ModelMeta:
    return ModelMeta(
        feature_columns=feature_columns,
        best_rounds=best_rounds,
        model_version="0123456789ab",
        mlflow_run_id="run",
        registered_model="beatwise-risk",
        registered_version="1",
        period="week",
        trained_periods=(dt.date(2023, 1, 2), dt.date(2023, 5, 1)),
    )


def test_load_refuses_a_sidecar_of_another_model(tmp_path: Path) -> None:
    model = fit_risk_model(
        toy_panel(n_cells=100, n_weeks=20), feature_columns=["x_risk", "x_noise"], config=CFG
    )
    (tmp_path / "m.txt").write_text(model.to_text())
    _meta(("x_noise", "x_risk"), model.best_rounds).write(tmp_path / "m.json")
    with pytest.raises(
        ValueError,
        match=r"m\.txt was fitted on 2 features \['x_risk', 'x_noise'\]\.\.\., but its "
        r"model_meta\.json lists 2 \['x_noise', 'x_risk'\]",
    ):
        RiskModel.load(tmp_path / "m.txt", tmp_path / "m.json")
    (tmp_path / "m.json").write_text('{"feature_columns": ["x_risk", "x_noise"], "best_rounds": 3}')
    with pytest.raises(ArtefactError, match=r"m\.json: key 'model_version': Field required"):
        RiskModel.load(tmp_path / "m.txt", tmp_path / "m.json")


def test_load_refuses_a_file_lightgbm_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("not a model\n")
    with pytest.raises(ValueError, match=r"m\.txt is not a LightGBM model file \(.*re-run train"):
        RiskModel.load(tmp_path / "m.txt", _meta(("x_risk",), 3))


def test_refusals() -> None:
    frame = toy_panel(n_cells=20, n_weeks=4)
    with pytest.raises(ValueError, match=r"more than validation_periods=5 periods; got 4"):
        fit_risk_model(frame, feature_columns=["x_risk"], config=CFG)
    with pytest.raises(ValueError, match="No rows with a known target"):
        fit_risk_model(frame.assign(target_count=np.nan), feature_columns=["x_risk"], config=CFG)
    model = fit_risk_model(
        toy_panel(n_cells=50, n_weeks=10), feature_columns=["x_risk"], config=CFG
    )
    with pytest.raises(ValueError, match=r"lacks feature column\(s\) \['x_risk'\]"):
        model.predict(frame.drop(columns=["x_risk"]))


def _by_period(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["period_start", "cell"], ignore_index=True)


@pytest.mark.parametrize("keep_rate", [1.0, 0.4])
def test_a_fit_on_binned_rows_equals_a_fresh_fit_on_the_prefix(keep_rate: float) -> None:
    # The backtest bins every row once and fits each refit on a subset; with the bins taken from
    # the prefix, that is the very model a fit on the prefix alone gives (same kept zeros too).
    frame = _by_period(toy_panel(n_cells=200, n_weeks=30, seed=3))
    cfg = CFG.model_copy(update={"zero_keep_rate": keep_rate})
    cut = pd.Timestamp(np.sort(frame["period_start"].unique())[20])
    columns = ["x_risk", "x_noise"]
    binned = bin_rows(frame, feature_columns=columns, config=cfg, bins_before=cut)
    subset = fit_binned(binned, config=cfg, before=cut)
    fresh = fit_risk_model(frame[frame["period_start"] < cut], feature_columns=columns, config=cfg)
    assert subset.to_text() == fresh.to_text()


def test_binned_rows_learn_nothing_from_later_feature_values() -> None:
    frame = _by_period(toy_panel(n_cells=200, n_weeks=30, seed=4))
    cut = pd.Timestamp(np.sort(frame["period_start"].unique())[20])
    later = frame["period_start"] >= cut
    shifted = frame.assign(x_risk=frame["x_risk"].where(~later, frame["x_risk"] * 50 + 7))
    columns = ["x_risk", "x_noise"]
    models = [
        fit_binned(
            bin_rows(f, feature_columns=columns, config=CFG, bins_before=cut),
            config=CFG,
            before=cut,
        )
        for f in (frame, shifted)
    ]
    assert models[0].to_text() == models[1].to_text()
    # control: bins from every row do see the later values, and the fit changes
    unguarded = [
        fit_binned(bin_rows(f, feature_columns=columns, config=CFG), config=CFG, before=cut)
        for f in (frame, shifted)
    ]
    assert unguarded[0].to_text() != unguarded[1].to_text()


def test_binning_refuses_a_cut_before_every_row() -> None:
    frame = _by_period(toy_panel(n_cells=20, n_weeks=10))
    with pytest.raises(ValueError, match="No labelled rows before 2023-01-02"):
        bin_rows(
            frame, feature_columns=["x_risk"], config=CFG, bins_before=pd.Timestamp("2023-01-02")
        )


@pytest.mark.parametrize("keep_rate", [1.0, 0.4])
def test_a_fit_with_a_history_window_equals_a_fit_on_its_latest_periods(keep_rate: float) -> None:
    frame = _by_period(toy_panel(n_cells=200, n_weeks=30, seed=5))
    columns = ["x_risk", "x_noise"]
    plain = CFG.model_copy(update={"zero_keep_rate": keep_rate})
    windowed = plain.model_copy(update={"history_periods": 12})
    latest = np.sort(frame["period_start"].unique())[-12:]
    recent = frame[frame["period_start"].isin(latest)]
    model = fit_risk_model(frame, feature_columns=columns, config=windowed).to_text()
    assert model == fit_risk_model(recent, feature_columns=columns, config=plain).to_text()
    # control: the whole history gives another model
    assert model != fit_risk_model(frame, feature_columns=columns, config=plain).to_text()


def test_periods_older_than_every_window_change_no_refit() -> None:
    # The backtest bins once for refits at two origins; with a 10-period window the rows older
    # than the first origin's window are not even binned, so rewriting them changes nothing.
    frame = _by_period(toy_panel(n_cells=200, n_weeks=30, seed=6))
    periods = np.sort(frame["period_start"].unique())
    first, second = pd.Timestamp(periods[20]), pd.Timestamp(periods[25])
    old = frame["period_start"] < periods[10]
    rewritten = frame.assign(
        x_risk=frame["x_risk"].where(~old, -frame["x_risk"]),
        target_count=frame["target_count"].where(~old, 0.0),
    )
    columns = ["x_risk", "x_noise"]

    def refits(f: pd.DataFrame, config: RiskModelConfig) -> list[str]:
        binned = bin_rows(f, feature_columns=columns, config=config, bins_before=first)
        return [fit_binned(binned, config=config, before=b).to_text() for b in (first, second)]

    windowed = CFG.model_copy(update={"history_periods": 10})
    assert refits(frame, windowed) == refits(rewritten, windowed)
    binned = bin_rows(frame, feature_columns=columns, config=windowed, bins_before=first)
    assert binned.first_period == periods[10]
    assert binned.periods.min() == periods[10]
    # control: without the window both refits learn from the rewritten periods
    changed = zip(refits(frame, CFG), refits(rewritten, CFG), strict=True)
    assert all(a != b for a, b in changed)


def test_a_window_refuses_a_fit_reaching_past_the_binned_rows() -> None:
    frame = _by_period(toy_panel(n_cells=50, n_weeks=30, seed=7))
    periods = np.sort(frame["period_start"].unique())
    windowed = CFG.model_copy(update={"history_periods": 10})
    binned = bin_rows(
        frame, feature_columns=["x_risk"], config=windowed, bins_before=pd.Timestamp(periods[20])
    )
    with pytest.raises(ValueError, match=r"needs 10 periods of history, but the rows were binned"):
        fit_binned(binned, config=windowed, before=pd.Timestamp(periods[15]))


def test_a_window_must_hold_more_than_the_holdout() -> None:
    with pytest.raises(ValueError, match=r"history_periods=5 must exceed validation_periods=5"):
        RiskModelConfig(validation_periods=5, history_periods=5)
    assert RiskModelConfig(validation_periods=8, history_periods=9).history_periods == 9
