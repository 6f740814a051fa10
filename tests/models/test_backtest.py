"""The rolling-origin refit: a model used for period w never saw period w (METRICS.md protocol)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from beatwise.period import PERIOD_COLUMN
from models import backtest as bt
from models.risk_model import BinnedRows, RiskModelConfig

N_PERIODS, N_CELLS = 24, 12
PERIODS = pd.date_range("2024-01-01", periods=N_PERIODS, freq="7D").to_numpy()
CELLS = np.array([f"88195d2b{i:07x}" for i in range(N_CELLS)], dtype=object)
#: small and fast, and able to learn from a handful of rows
CONFIG = RiskModelConfig(
    min_data_in_leaf=2,
    num_leaves=4,
    max_rounds=30,
    early_stopping_rounds=5,
    validation_periods=2,
    bagging_fraction=1.0,
    feature_fraction=1.0,
    num_threads=1,
)


def toy_panel(seed: int = 0) -> pd.DataFrame:
    """A (period, cell) panel: a static feature ``x`` (the cell's base rate) and Poisson targets."""
    rng = np.random.default_rng(seed)
    rate = np.linspace(0.2, 3.0, N_CELLS)
    return pd.DataFrame(
        {
            PERIOD_COLUMN: np.repeat(PERIODS, N_CELLS),
            "h3_cell": np.tile(CELLS, N_PERIODS),
            "x": np.tile(rate, N_PERIODS),
            "target_count": rng.poisson(np.tile(rate, N_PERIODS)).astype(float),
        }
    )


def scores_by_period(frame: pd.DataFrame, *, backtest: np.ndarray, refit_every: int) -> np.ndarray:
    scored = bt.backtest_scores(
        frame,
        feature_columns=["x"],
        backtest_periods=backtest,
        refit_every=refit_every,
        config=CONFIG,
    )
    return bt.to_matrix(scored, "risk_score", periods=backtest, cells=CELLS)


# Backtest: the last 8 periods (16..23) in two blocks of 4: models fit on < 16 and on < 20.
BACKTEST = PERIODS[16:]


@pytest.mark.parametrize("w", [16, 17, 19])
def test_an_enormous_target_in_period_w_leaves_its_own_score_unchanged(w: int) -> None:
    panel = toy_panel()
    spiked = panel.copy()
    spiked.loc[spiked[PERIOD_COLUMN] == PERIODS[w], "target_count"] *= 1000.0
    before = scores_by_period(panel, backtest=BACKTEST, refit_every=4)
    after = scores_by_period(spiked, backtest=BACKTEST, refit_every=4)
    # Periods 16..19 share the model fitted on periods < 16: it never saw period w.
    np.testing.assert_array_equal(after[:4], before[:4])
    # The next model (fitted on < 20) did see it: its scores rise.
    assert (after[4:] > before[4:] * 10).all()


def test_a_spike_after_the_last_refit_changes_no_score() -> None:
    panel = toy_panel()
    spiked = panel.copy()
    spiked.loc[spiked[PERIOD_COLUMN] >= PERIODS[20], "target_count"] *= 1000.0
    np.testing.assert_array_equal(
        scores_by_period(spiked, backtest=BACKTEST, refit_every=4),
        scores_by_period(panel, backtest=BACKTEST, refit_every=4),
    )


@dataclass(frozen=True)
class _Fake:
    """Stands in for a fitted model: every prediction is the number of the fit that made it."""

    fit_number: int

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), float(self.fit_number))

    @property
    def model(self) -> _Fake:  # a fit with its hold-out (risk_model.HoldoutFit), none held out
        return self

    early = model
    holdout_periods = np.array([], dtype="datetime64[ns]")


@pytest.mark.parametrize(("n_backtest", "refit_every"), [(10, 3), (8, 4), (5, 1), (6, 13)])
def test_refits_happen_exactly_every_refit_every_periods(
    monkeypatch: pytest.MonkeyPatch, n_backtest: int, refit_every: int
) -> None:
    seen: list[np.ndarray] = []

    def fake_fit(rows: BinnedRows, *, before: pd.Timestamp, **_: object) -> _Fake:
        seen.append(np.unique(rows.periods[rows.periods < before]))
        return _Fake(len(seen) - 1)

    monkeypatch.setattr(bt, "fit_binned_holdout", fake_fit)
    backtest = PERIODS[-n_backtest:]
    first = N_PERIODS - n_backtest
    scores = scores_by_period(toy_panel(), backtest=backtest, refit_every=refit_every)
    starts = list(range(0, n_backtest, refit_every))
    assert len(seen) == len(starts)
    for fit, start in enumerate(starts):
        # Fit k trains on every labelled period before its block, and on nothing else.
        np.testing.assert_array_equal(seen[fit], PERIODS[: first + start])
    # Period i of the backtest is scored by the fit made at the start of its block.
    expected = np.arange(n_backtest) // refit_every
    np.testing.assert_array_equal(scores, np.repeat(expected[:, None], N_CELLS, axis=1))


def test_unlabelled_rows_are_never_trained_on_or_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = toy_panel()
    forecast_row = panel[panel[PERIOD_COLUMN] == PERIODS[-1]].assign(target_count=np.nan)
    panel = pd.concat([panel[panel[PERIOD_COLUMN] < PERIODS[-1]], forecast_row])
    trained_on: list[int] = []

    def fake_fit(rows: BinnedRows, *, before: pd.Timestamp, **_: object) -> _Fake:
        label = rows.dataset.get_label()[rows.periods < before]
        trained_on.append(int(np.isnan(label).sum()) + int((rows.periods == PERIODS[-1]).sum()))
        return _Fake(0)

    monkeypatch.setattr(bt, "fit_binned_holdout", fake_fit)
    scored = bt.backtest_scores(
        panel, feature_columns=["x"], backtest_periods=PERIODS[16:], refit_every=4, config=CONFIG
    )
    assert trained_on == [0, 0]
    assert PERIODS[-1] not in set(scored[PERIOD_COLUMN])


def test_to_matrix_pivots_in_the_given_order_and_refuses_gaps() -> None:
    frame = toy_panel().iloc[: 2 * N_CELLS]
    cells = CELLS[::-1]
    got = bt.to_matrix(frame, "x", periods=PERIODS[:2], cells=cells)
    assert got.shape == (2, N_CELLS)
    np.testing.assert_array_equal(got[0], np.linspace(0.2, 3.0, N_CELLS)[::-1])
    with pytest.raises(ValueError, match="'x' is missing for some backtest cell-periods"):
        bt.to_matrix(frame.iloc[1:], "x", periods=PERIODS[:2], cells=cells)


def test_refit_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"refit_every must be >= 1 period. Got 0"):
        scores_by_period(toy_panel(), backtest=BACKTEST, refit_every=0)
