"""B7 grid ETAS: parameter recovery on simulated cascades, a hand-computed intensity, no leakage,
degenerate inputs, the refit schedule and its place among the baselines."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import h3
import numpy as np
import pytest

from beatwise.period import Period
from models import baselines as b
from models.etas import (
    THETA_MAX,
    EtasFit,
    etas_intensity,
    fit_etas,
    forecast_etas,
)
from models.metrics.count_metrics import calibration_oe, poisson_deviance


def simulate_grid_etas(
    mu: np.ndarray, *, theta: float, omega: float, n_periods: int, seed: int
) -> np.ndarray:
    """Counts ``[period, cell]`` of grid ETAS by its cluster representation, one generation at a
    time: background ~ Poisson(mu) per cell-period; each event has Poisson(theta) children in its
    cell, each ``k ~ Geometric(1 - exp(-omega))`` periods later (k >= 1); children past the last
    period are lost, as in the fitted likelihood. Independent of the fit's recursions."""
    rng = np.random.default_rng(seed)
    n_cells = mu.size
    total = rng.poisson(np.broadcast_to(mu, (n_periods, n_cells))).astype(np.int64)
    generation = total.copy()
    while generation.any():
        children = rng.poisson(theta * generation)
        t_idx, c_idx = np.nonzero(children)
        n = children[t_idx, c_idx]
        t_child = np.repeat(t_idx, n) + rng.geometric(1.0 - math.exp(-omega), size=int(n.sum()))
        c_child = np.repeat(c_idx, n)
        inside = t_child < n_periods
        flat = t_child[inside] * n_cells + c_child[inside]
        generation = np.bincount(flat, minlength=n_periods * n_cells).reshape(n_periods, n_cells)
        total += generation
    return total.astype(np.float64)


def background(n_cells: int, seed: int) -> np.ndarray:
    """Skewed background rates (mean 0.1 events per cell-period), some cells near zero."""
    return np.random.default_rng(seed).gamma(1.0, 0.1, size=n_cells)


# Tolerances: with 200 cells x 500 periods (~10,000-25,000 events), the MLE of theta sits about
# 0.01-0.02 below the truth, because each cell's own background (200 free rates) soaks up part of
# its clustering (an incidental-parameter bias that shrinks as the periods per cell grow); omega's
# spread across seeds is about 10%. The bounds leave room for that and nothing more.
@pytest.mark.parametrize(
    ("theta", "omega", "seed"),
    [(0.4, 0.7, 1), (0.6, 0.25, 2), (0.2, 2.0, 3)],
)
def test_fit_recovers_known_parameters(theta: float, omega: float, seed: int) -> None:
    mu = background(200, seed)
    counts = simulate_grid_etas(mu, theta=theta, omega=omega, n_periods=500, seed=seed)
    fit = fit_etas(counts)
    assert fit.status == "converged" and not fit.theta_capped
    assert fit.theta == pytest.approx(theta, abs=0.04)
    assert fit.omega == pytest.approx(omega, rel=0.15)
    assert np.corrcoef(fit.mu, mu)[0, 1] >= 0.95
    # The total is right: background plus offspring inside the window adds up to the events.
    lam = etas_intensity(counts, fit)[:-1]
    assert lam.sum() == pytest.approx(counts.sum(), rel=1e-6)


def test_fit_without_triggering_finds_no_branching() -> None:
    mu = background(200, 4)
    counts = simulate_grid_etas(mu, theta=0.0, omega=0.7, n_periods=400, seed=4)
    fit = fit_etas(counts)
    assert fit.theta < 0.02
    np.testing.assert_allclose(fit.mu, counts.mean(axis=0), atol=0.01)


def poisson_log_likelihood(counts: np.ndarray, fit: EtasFit) -> float:
    lam = etas_intensity(counts, fit)[:-1]
    positive = counts > 0
    return float((counts[positive] * np.log(lam[positive])).sum() - lam.sum())


def test_fit_is_a_maximum_of_the_likelihood() -> None:
    mu = background(60, 5)
    counts = simulate_grid_etas(mu, theta=0.5, omega=0.5, n_periods=300, seed=5)
    fit = fit_etas(counts, tol=1e-12, max_iter=5000)
    best = poisson_log_likelihood(counts, fit)
    assert best == pytest.approx(fit.log_likelihood, rel=1e-9)
    truth = EtasFit(mu, 0.5, 0.5, 300, counts.sum(), 0, "converged", False, 0.0)
    assert best >= poisson_log_likelihood(counts, truth)
    nudges = [(0.01, 1, 1), (-0.01, 1, 1), (0, 1.03, 1), (0, 0.97, 1), (0, 1, 1.02), (0, 1, 0.98)]
    for d_theta, k_omega, k_mu in nudges:
        moved = EtasFit(
            fit.mu * k_mu,
            fit.theta + d_theta,
            fit.omega * k_omega,
            300,
            counts.sum(),
            0,
            "converged",
            False,
            0.0,
        )
        assert poisson_log_likelihood(counts, moved) < best, (d_theta, k_omega, k_mu)


def test_intensity_hand_computed() -> None:
    # beta = exp(-omega) = 0.5, so the lag weights are theta (1 - beta) beta**(k-1) = 0.25, 0.125..
    counts = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    fit = EtasFit(np.array([0.1, 0.2]), 0.5, math.log(2.0), 3, 6.0, 0, "converged", False, 0.0)
    got = etas_intensity(counts, fit)
    expected = [
        [0.1, 0.2],
        [0.1 + 0.25 * 1, 0.2],
        [0.1 + 0.125 * 1, 0.2 + 0.25 * 2],
        [0.1 + 0.25 * 3 + 0.0625 * 1, 0.2 + 0.125 * 2],
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_forecast_reads_only_rows_before_t() -> None:
    mu = background(30, 6)
    counts = simulate_grid_etas(mu, theta=0.4, omega=0.7, n_periods=80, seed=6)
    periods = np.arange(40, 81)
    before = forecast_etas(counts, periods, refit_every=5).scores
    rng = np.random.default_rng(6)
    for t in (40, 44, 45, 57, 79):
        changed = counts.copy()
        changed[t:] = rng.poisson(2.0, size=changed[t:].shape)
        after = forecast_etas(changed, periods, refit_every=5).scores
        upto = t - 40 + 1  # score rows of periods 40..t
        np.testing.assert_array_equal(after[:upto], before[:upto], err_msg=f"t = {t}")
        # The change is visible from period t + 1 on (the test is not vacuous).
        assert not np.array_equal(after[upto], before[upto])


def test_refit_schedule_and_warm_start() -> None:
    mu = background(40, 7)
    counts = simulate_grid_etas(mu, theta=0.4, omega=0.7, n_periods=120, seed=7)
    periods = np.array([110, 100, 101, 112, 113, 104, 108])  # any order, gaps allowed
    out = forecast_etas(counts, periods, refit_every=4)
    # Blocks of 4 periods from the first score period: 100-103, 104-107, 108-111, 112-115.
    assert out.fit_periods.tolist() == [100, 104, 108, 112]
    assert [f.n_periods for f in out.fits] == [100, 104, 108, 112]
    # Each period is forecast with its block's fit, from its own past.
    for row, t in enumerate(periods):
        fit = out.fits[int(np.searchsorted(out.fit_periods, t, side="right")) - 1]
        np.testing.assert_allclose(out.scores[row], etas_intensity(counts[:t], fit)[t])
    # A warm start lands where a cold start does.
    cold = fit_etas(counts[:104])
    assert out.fits[1].theta == pytest.approx(cold.theta, abs=1e-3)
    assert out.fits[1].omega == pytest.approx(cold.omega, rel=1e-2)


def test_forecast_is_calibrated_on_simulated_counts() -> None:
    mu = background(200, 8)
    counts = simulate_grid_etas(mu, theta=0.5, omega=0.5, n_periods=300, seed=8)
    periods = np.arange(200, 300)
    scores = forecast_etas(counts, periods, refit_every=25).scores
    assert calibration_oe(counts[periods], scores) == pytest.approx(1.0, abs=0.05)
    # ... and it fits better than the all-history mean, which ignores the recent cascades.
    mean = b.mean_previous_periods(counts, periods, window=None)
    assert poisson_deviance(counts[periods], scores) < poisson_deviance(counts[periods], mean)


def test_degenerate_inputs() -> None:
    none = fit_etas(np.zeros((10, 4)))
    assert (none.status, none.theta, none.n_iter) == ("no_events", 0.0, 0)
    assert np.all(none.mu == 0)
    one = fit_etas(np.array([[1.0, 0.0, 2.0]]))
    assert one.status == "too_short" and one.theta == 0.0
    assert one.mu.tolist() == [1.0, 0.0, 2.0]
    assert fit_etas(np.zeros((0, 3))).status == "no_events"
    # No history, then no events: every score is 0; a cell that never had an event scores 0.
    counts = np.zeros((12, 3))
    counts[6:, 0] = [1, 0, 2, 1, 0, 1]
    out = forecast_etas(counts, np.arange(13), refit_every=6)
    assert [f.status for f in out.fits] == ["no_events", "no_events", "converged"]
    assert np.all(out.scores[:12] == 0)  # fitted on rows < 0, then on the empty rows < 6
    assert out.scores[12, 0] > 0 and np.all(out.scores[12, 1:] == 0)
    out = forecast_etas(counts, np.arange(9, 13), refit_every=6)
    assert np.all(out.scores[:, 1:] == 0) and np.all(out.scores[:, 0] > 0)
    assert forecast_etas(counts, np.array([], dtype=int), refit_every=3).scores.shape == (0, 3)


def test_theta_is_capped_on_a_runaway_series(caplog: pytest.LogCaptureFixture) -> None:
    doubling = np.tile(2.0 ** np.arange(12), (3, 1)).T
    with caplog.at_level(logging.WARNING, logger="models.etas"):
        fit = fit_etas(doubling)
    assert fit.theta_capped and fit.theta == pytest.approx(THETA_MAX)
    assert "reached its cap 0.95 on 12 periods" in caplog.text
    capped = fit_etas(
        simulate_grid_etas(background(50, 9), theta=0.6, omega=0.5, n_periods=200, seed=9),
        theta_max=0.3,
    )
    assert capped.theta_capped and capped.theta == pytest.approx(0.3)
    assert np.isfinite(capped.mu).all() and np.isfinite(capped.log_likelihood)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fit_etas(np.ones(4)), r"2-D array \[period, cell\]"),
        (lambda: fit_etas(-np.ones((3, 2))), "finite and >= 0"),
        (lambda: fit_etas(np.ones((3, 2)), tol=0.0), r"tol must be a relative tolerance.*Got 0.0"),
        (lambda: fit_etas(np.ones((3, 2)), theta_max=1.0), r"theta_max .* in \(0, 1\). Got 1.0"),
        (lambda: fit_etas(np.ones((3, 2)), max_iter=0), r"max_iter must be an int >= 1. Got 0"),
        (
            lambda: fit_etas(np.ones((3, 2)), init=fit_etas(np.ones((3, 5)))),
            r"same 2 cells. Got mu of shape \(5,\)",
        ),
        (
            lambda: etas_intensity(np.ones((3, 2)), fit_etas(np.ones((3, 5)))),
            r"on the 2 cells of counts. Got mu of shape \(5,\)",
        ),
        (lambda: forecast_etas(np.ones((3, 2)), [1], refit_every=0), "refit_every must be"),
        (lambda: forecast_etas(np.ones((3, 2)), [4], refit_every=2), r"Got \[4\]"),
    ],
)
def test_bad_input_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def h3_ids(n: int) -> np.ndarray:
    centre = h3.latlng_to_cell(51.5074, -0.1278, 9)
    disk = sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, 3))
    return np.array(disk[:n], dtype=np.uint64)


@pytest.mark.parametrize("period", ["week", "month"])
def test_etas_is_baseline_b7_in_both_period_modes(period: Period) -> None:
    names = b.baseline_names(period)
    assert names[-1] == "etas" and names.count("etas") == 1
    assert "(B7, ETAS" in b.baseline_words("etas")
    counts = simulate_grid_etas(background(20, 10), theta=0.4, omega=0.7, n_periods=60, seed=10)
    periods = np.arange(30, 61)
    out = b.compute_baselines(
        counts,
        periods,
        cell_ids=h3_ids(20),
        period=period,
        etas_refit_every=7,
    )
    assert list(out) == list(names)
    np.testing.assert_array_equal(out["etas"], forecast_etas(counts, periods, refit_every=7).scores)
    # The refit schedule is the caller's: another one gives other scores.
    other = b.compute_baselines(counts, periods, cell_ids=h3_ids(20), names=["etas"])
    assert not np.array_equal(other["etas"], out["etas"])
