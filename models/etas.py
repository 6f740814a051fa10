"""Baseline B7: grid ETAS, the self-exciting point process behind PredPol's published forecast.

Mohler et al. (2015, "Randomized controlled field trials of predictive policing", JASA 110(512),
1399-1411) model the events of each grid cell ``c`` as a Hawkes process: a steady background
rate ``mu_c`` plus, after every event in the cell, a short-lived rise in the rate that decays
exponentially, ``theta * omega * exp(-omega * dt)``, with the branching ratio ``theta`` (expected
offspring per event) and the decay ``omega`` shared by every cell. They fit it by
expectation-maximisation (EM) on the events before each forecast; open_cp's ``seppexp`` is the
reference implementation.

Here the events are the count matrix ``counts[period, cell]`` of :mod:`models.baselines`
(weeks, or months in monthly mode), so the model is the same process seen at period
resolution. An offspring of an event in period ``s`` lands in period ``s + k`` (``k >= 1``) with
probability ``g(k) = (1 - b) * b**(k - 1)``, ``b = exp(-omega)``: this is exactly the exponential
trigger's mass in the later periods, whatever the parent's time inside its period, renormalised.
The expected count of cell ``c`` in period ``t``, given the periods before it, is

    lambda[t, c] = mu_c + theta * sum_{k >= 1} g(k) * counts[t - k, c]

and the counts are Poisson with that mean. Offspring in the parent's own period cannot be told
apart from background without finer timestamps (monthly data have none), so they are part of
``mu_c`` and ``theta`` counts only the offspring in later periods: Mohler's branching ratio is
``theta / (1 - g0)`` with ``g0 = 1 - (1 - exp(-omega)) / omega``, the same-period share of the
continuous trigger. ``omega`` is per period; the mean lag of a later-period offspring is
``1 / (1 - b)`` periods.

The fit
-------
EM on the complete-data likelihood (each event is background, or the child of an earlier event in
its cell at some lag). The E-step needs only two sums per cell-period, the geometric sums
``phi[t] = sum_k b**(k-1) counts[t-k]`` and ``psi[t] = sum_k k b**(k-1) counts[t-k]``, which are
linear recursions: :func:`scipy.signal.lfilter` runs them over every cell at once. The M-step is
closed form for ``mu``; ``theta`` and ``b`` maximise the expected log-likelihood jointly, with
the edge correction for offspring that would land after the fitted window (``theta`` is profiled
out, ``b`` is a bounded one-dimensional search). Iterations stop when the log-likelihood gains
less than ``tol`` (relative) or after ``max_iter``.

Guards: with no events (or a single period) the trigger cannot be estimated, so ``theta = 0`` and
the forecast is the mean count per period (0 with no events); ``theta`` is capped at
:data:`THETA_MAX` (a fit that reaches it says so in ``theta_capped`` and in the log), because as
``theta -> 1`` the background vanishes and the process has no stationary rate; ``b`` stays in
:data:`BETA_BOUNDS`. Cells with no event in the fitted window have ``mu = 0``.

Refit scheme
------------
The backtest's: the score periods are cut into blocks of ``refit_every`` periods from the first
one (the model's blocks, :mod:`models.backtest`); each block's parameters are fitted on every row
before the block's first period (warm-started from the previous block's fit) and every period
``t`` of the block is forecast from its own past, rows ``< t``, with them. So a score never reads
row ``t`` or later, and the evaluate stage makes four fits for a 52-week backtest.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar
from scipy.signal import lfilter

from beatwise.progress import progress
from models._counts import as_counts, as_score_periods, check_int

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Largest branching ratio a fit may take: as theta -> 1 the background vanishes.
THETA_MAX: float = 0.95
#: Range of ``b = exp(-omega)``: a mean offspring lag from 1 to 1,000 periods.
BETA_BOUNDS: tuple[float, float] = (1e-6, 0.999)
#: ``b`` where the data cannot say (no events): half of the offspring at lag 1.
DEFAULT_BETA: float = 0.5
#: Branching ratio an EM run starts from without a warm start.
INITIAL_THETA: float = 0.2
DEFAULT_MAX_ITER: int = 500
DEFAULT_TOL: float = 1e-8

FitStatus = Literal["converged", "max_iter", "no_events", "too_short"]


@dataclass(frozen=True)
class EtasFit:
    """Fitted grid-ETAS parameters.

    Attributes
    ----------
    mu : (C,) float64
        Background events per cell-period.
    theta : float
        Branching ratio: expected offspring per event in later periods, in ``[0, THETA_MAX]``.
    omega : float
        Decay of the trigger per period; ``beta = exp(-omega)``.
    n_periods, n_events : int, float
        Rows fitted and the events in them.
    n_iter : int
        EM iterations run (0 when the trigger could not be estimated).
    status : FitStatus
        ``converged``; ``max_iter`` (stopped before the tolerance); ``no_events`` or
        ``too_short`` (fewer than 2 periods): theta is 0 and the forecast is the mean count.
    theta_capped : bool
        The branching ratio ended at its cap (``theta_max``, default :data:`THETA_MAX`).
    log_likelihood : float
        Poisson log-likelihood of the fitted rows (without the ``log(y!)`` constant).
    """

    mu: FloatArray
    theta: float
    omega: float
    n_periods: int
    n_events: float
    n_iter: int
    status: FitStatus
    theta_capped: bool
    log_likelihood: float

    @property
    def beta(self) -> float:
        """``exp(-omega)``: the share of the trigger left one period later."""
        return math.exp(-self.omega)


@dataclass(frozen=True)
class EtasForecast:
    """B7 scores with the fits that made them.

    Attributes
    ----------
    scores : (S, C) float64
        Expected count per cell for each score period, in the order asked.
    fits : tuple of EtasFit
        One fit per refit block, in time order.
    fit_periods : (F,) int64
        Each fit saw rows ``< fit_periods[i]``.
    """

    scores: FloatArray
    fits: tuple[EtasFit, ...]
    fit_periods: IntArray


def _phi(counts_ct: FloatArray, beta: float) -> FloatArray:
    """``phi[c, t] = sum_{k >= 1} beta**(k - 1) * counts[c, t - k]`` (time on axis 1)."""
    return np.asarray(lfilter([0.0, 1.0], [1.0, -beta], counts_ct, axis=1))


def _psi(counts_ct: FloatArray, beta: float) -> FloatArray:
    """``psi[c, t] = sum_{k >= 1} k * beta**(k - 1) * counts[c, t - k]``."""
    return np.asarray(lfilter([0.0, 1.0], [1.0, -2.0 * beta, beta * beta], counts_ct, axis=1))


def _edge(beta: float, per_period: FloatArray, later: FloatArray) -> float:
    """``sum_s n_s (1 - beta**L_s)``: offspring mass (per unit theta) inside the window."""
    return float((per_period * (1.0 - beta**later)).sum())


def _trigger_m_step(
    n_off: float,
    lag_sum: float,
    *,
    per_period: FloatArray,
    later: FloatArray,
    theta_max: float,
) -> tuple[float, float]:
    """``(theta, beta)`` maximising the expected complete log-likelihood of the offspring.

    ``Q = n_off (log theta + log(1 - b)) + (lag_sum - n_off) log b - theta * edge(b)``; for a
    given ``b`` the best theta is ``min(n_off / edge(b), theta_max)``.
    """

    def theta_at(beta: float) -> float:
        edge = _edge(beta, per_period, later)
        return min(n_off / edge, theta_max) if edge > 0 else 0.0

    def neg_q(beta: float) -> float:
        theta = theta_at(beta)
        return -(
            n_off * (math.log(theta) + math.log1p(-beta))
            + (lag_sum - n_off) * math.log(beta)
            - theta * _edge(beta, per_period, later)
        )

    res = minimize_scalar(neg_q, bounds=BETA_BOUNDS, method="bounded", options={"xatol": 1e-9})
    beta = float(res.x)
    return theta_at(beta), beta


def fit_etas(
    counts: npt.ArrayLike,
    *,
    init: EtasFit | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    theta_max: float = THETA_MAX,
) -> EtasFit:
    """Fit grid ETAS by EM to every row of ``counts`` (see the module docstring).

    Parameters
    ----------
    counts : (T, C) array_like
        Events per period and cell, period axis in time order; every row is fitted.
    init : EtasFit, optional
        Warm start (the previous refit's parameters, same cells). Cells with no background in
        ``init`` start from half their mean count.
    max_iter : int
        Most EM iterations.
    tol : float
        Stop when the log-likelihood gains less than ``tol * |log-likelihood|``, in (0, 1).
    theta_max : float
        Cap on the branching ratio, in (0, 1).

    Returns
    -------
    EtasFit
        ``status`` says how the fit ended; with no events or fewer than 2 periods ``theta`` is 0
        and ``mu`` the mean count per period.
    """
    arr = as_counts(counts)
    max_iter = check_int("max_iter", max_iter)
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must be a relative tolerance in (0, 1). Got {tol}.")
    if not 0.0 < theta_max < 1.0:
        raise ValueError(f"theta_max must be a branching ratio in (0, 1). Got {theta_max}.")
    n_periods, n_cells = arr.shape
    if init is not None and init.mu.shape != (n_cells,):
        raise ValueError(
            f"init must be a fit on the same {n_cells} cells. Got mu of shape {init.mu.shape}."
        )
    n_events = float(arr.sum())
    mean = arr.sum(axis=0) / max(n_periods, 1)
    beta = init.beta if init is not None else DEFAULT_BETA
    if n_events == 0 or n_periods < 2:
        short: FitStatus = "no_events" if n_events == 0 else "too_short"
        ll = float(np.sum(arr * np.log(np.where(mean > 0, mean, 1.0))) - n_periods * mean.sum())
        return EtasFit(mean, 0.0, -math.log(beta), n_periods, n_events, 0, short, False, ll)

    counts_ct = np.ascontiguousarray(arr.T)
    cell, period = np.nonzero(counts_ct)
    y = counts_ct[cell, period]
    per_period = arr.sum(axis=1)
    later = (n_periods - 1 - np.arange(n_periods)).astype(np.float64)
    if init is not None:
        mu = np.where(init.mu > 0, init.mu, 0.5 * mean)
        theta = min(init.theta, theta_max) if init.theta > 0 else INITIAL_THETA
    else:
        mu, theta = 0.5 * mean, INITIAL_THETA
    mu = np.where(mean > 0, mu, 0.0)

    def e_step(mu: FloatArray, theta: float, beta: float) -> tuple[float, FloatArray, FloatArray]:
        """Log-likelihood, ``y / lambda`` and ``phi`` at the events' cell-periods."""
        phi = _phi(counts_ct, beta)[cell, period]
        lam = mu[cell] + theta * (1.0 - beta) * phi
        compensator = n_periods * mu.sum() + theta * _edge(beta, per_period, later)
        return float((y * np.log(lam)).sum() - compensator), y / lam, phi

    ll_prev = -math.inf
    status: FitStatus = "max_iter"
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        ll, ratio, phi = e_step(mu, theta, beta)
        if abs(ll - ll_prev) <= tol * abs(ll):
            status = "converged"
            break
        ll_prev = ll
        scale = theta * (1.0 - beta)
        psi = _psi(counts_ct, beta)[cell, period]
        n_off = scale * float((ratio * phi).sum())
        lag_sum = scale * float((ratio * psi).sum())
        mu = mu * np.bincount(cell, weights=ratio, minlength=n_cells) / n_periods
        if n_off <= 1e-12 * n_events:
            theta = 0.0
        else:
            theta, beta = _trigger_m_step(
                n_off, lag_sum, per_period=per_period, later=later, theta_max=theta_max
            )
    capped = theta >= theta_max * (1 - 1e-9)
    if capped:
        logger.warning(
            "etas: the branching ratio reached its cap %.2f on %d periods: the counts look more "
            "like a drifting rate than a steady background with short-lived rises",
            theta_max,
            n_periods,
        )
    ll = e_step(mu, theta, beta)[0]
    omega = -math.log(beta)
    return EtasFit(mu, float(theta), omega, n_periods, n_events, n_iter, status, capped, ll)


def etas_intensity(counts: npt.ArrayLike, fit: EtasFit) -> FloatArray:
    """Expected count of every period ``0..T`` given the rows before it, under ``fit``.

    Row ``t`` of the ``(T + 1, C)`` result reads rows ``< t`` of ``counts`` only; row ``T`` is the
    period after the last row.
    """
    arr = as_counts(counts)
    if fit.mu.shape != (arr.shape[1],):
        raise ValueError(
            f"fit must be on the {arr.shape[1]} cells of counts. Got mu of shape {fit.mu.shape}."
        )
    padded = np.vstack([arr, np.zeros((1, arr.shape[1]))])
    phi = _phi(np.ascontiguousarray(padded.T), fit.beta).T
    return fit.mu[None, :] + fit.theta * (1.0 - fit.beta) * phi


def forecast_etas(
    counts: npt.ArrayLike,
    score_periods: npt.ArrayLike,
    *,
    refit_every: int,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
) -> EtasForecast:
    """B7 scores for each score period, refitting every ``refit_every`` periods.

    Parameters
    ----------
    counts : (T, C) array_like
        Target counts per period and cell, period axis in time order.
    score_periods : (S,) array_like of int
        Period indices to score, each in ``[0, T]``. They are cut into blocks of
        ``refit_every`` periods from the earliest; a block's fit sees the rows before its first
        period and each period ``t`` is forecast from rows ``< t`` (module docstring).
    refit_every : int
        Block length in periods (the backtest's ``evaluate.refit_every``).
    max_iter, tol : int, float
        EM stopping rule (:func:`fit_etas`).

    Returns
    -------
    EtasForecast
        Scores (expected counts per cell-period, in the order of ``score_periods``) and fits. A
        block starting at period 0 has no history: its fit has no events and its scores are 0.
    """
    start = time.perf_counter()
    arr = as_counts(counts)
    idx = as_score_periods(score_periods, n_periods=arr.shape[0])
    refit_every = check_int("refit_every", refit_every)
    scores = np.zeros((idx.size, arr.shape[1]))
    if idx.size == 0:
        return EtasForecast(scores, (), np.zeros(0, dtype=np.int64))
    unique = np.unique(idx)
    block = (unique - unique[0]) // refit_every
    firsts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    fits: list[EtasFit] = []
    unique_scores = np.zeros((unique.size, arr.shape[1]))
    init: EtasFit | None = None
    blocks = zip(firsts, [*firsts[1:], unique.size], strict=True)
    for first, stop in progress(blocks, desc="ETAS baseline refits", unit="fit", total=firsts.size):
        begin = time.perf_counter()
        t0 = int(unique[first])
        fit = fit_etas(arr[:t0], init=init, max_iter=max_iter, tol=tol)
        periods = unique[first:stop]
        unique_scores[first:stop] = etas_intensity(arr[: int(periods[-1])], fit)[periods]
        fits.append(fit)
        if fit.n_events > 0:
            init = fit
        logger.info(
            "etas fit on %d periods (%.0f events): theta %.3f, omega %.3f per period (mean lag "
            "%.2f), %d EM iterations, %s%s, %.2f s",
            fit.n_periods,
            fit.n_events,
            fit.theta,
            fit.omega,
            1.0 / (1.0 - fit.beta),
            fit.n_iter,
            fit.status,
            " at the cap" if fit.theta_capped else "",
            time.perf_counter() - begin,
        )
    scores = unique_scores[np.searchsorted(unique, idx)]
    logger.info(
        "etas: %d score periods, %d fits in %.2f s",
        idx.size,
        len(fits),
        time.perf_counter() - start,
    )
    return EtasForecast(scores, tuple(fits), unique[firsts].astype(np.int64))
