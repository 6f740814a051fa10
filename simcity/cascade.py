"""The truth model's scalar cascade over a period of whole days (a week, a month).

A period is ``L`` consecutive days, counted from the truth model's origin (a Monday, so day ``d``
falls on weekday ``d % 7`` of week ``d // 7``). An event of type ``k`` has ``α`` offspring on
average: a repeat (same micro-cell) with probability ``repeat_share`` and otherwise a near repeat
(one step of the spatial kernel), with a whole-day delay ``d >= 1`` of probability
``q^(d-1)(1 - q)`` (``q_repeat`` or ``q_near``). So an event on day ``t`` of the period has
children on days ``t + d < L`` of the same period, and they have theirs: the within-period
cascade.

:func:`descendants` gives, for one event on day ``t``, the expected number of events on days
``t..L-1`` (itself and its descendants inside the period) split by ``p``, the number of near
steps that carried them, so the spatial spread of a source is ``Σ_p Kᵀᵖ (weight_p · source)``.
:func:`period_weights` turns it into the weights of the three sources of a period's expected
count: the background of each week the period touches (per unit of ``background ·
weekly_factor``, weekday shares applied), and the repeat and near-repeat offspring pending from
events before the period (per unit of ``Σ_e q^(first day - 1 - day_e)``). Everything here is scalar
per type and period: the spatial work is ``simcity.truth``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The longest period the truth model answers for: a calendar month.
MAX_PERIOD_DAYS = 31


@dataclass(frozen=True)
class Offspring:
    """One type's offspring law: mean offspring, repeat share and the daily delay survivals."""

    alpha: float
    repeat_share: float
    q_repeat: float
    q_near: float

    def rates(self, n_lags: int) -> tuple[FloatArray, FloatArray]:
        """Expected repeat and near-repeat children with delays of ``1..n_lags`` days."""
        lag = np.arange(1, n_lags + 1, dtype=np.float64)
        repeat = self.alpha * self.repeat_share * self.q_repeat ** (lag - 1.0) * (1 - self.q_repeat)
        near = self.alpha * (1 - self.repeat_share) * self.q_near ** (lag - 1.0) * (1 - self.q_near)
        return repeat, near

    def pending(self, n_days: int) -> tuple[FloatArray, FloatArray]:
        """Children of earlier events landing on days ``0..n_days-1`` of a period, repeat and
        near, per unit of ``Σ_e q^(first day - 1 - day_e)`` (``q^t (1 - q)`` on day ``t``)."""
        t = np.arange(n_days, dtype=np.float64)
        repeat = self.alpha * self.repeat_share * (1 - self.q_repeat) * self.q_repeat**t
        near = self.alpha * (1 - self.repeat_share) * (1 - self.q_near) * self.q_near**t
        return repeat, near


@dataclass(frozen=True)
class PeriodWeights:
    """A type's cascade weights for a set of periods, powers folded at the kernel cap.

    Attributes
    ----------
    weeks : (W,) int64
        The weeks (indices from the origin) that any period touches, ascending.
    background : (cap + 1, W, P) float64
        Expected events in period ``p`` with ``power`` near steps, per unit of the background
        rate of week ``weeks[w]`` (``background · weekly_factor``, by micro-cell), weekday
        shares applied; zero where the period does not touch the week.
    repeat, near : (cap + 1, P) float64
        The same per unit of pending repeat and near-repeat excitation at the period's first day
        (``Σ_e q^(first day - 1 - day_e)`` over earlier events, by micro-cell).
    """

    weeks: IntArray
    background: FloatArray
    repeat: FloatArray
    near: FloatArray


def descendants(offspring: Offspring, length: int) -> FloatArray:
    """``[t, p]``: expected events on days ``t..length-1`` of a period from one event on day ``t``
    (itself included, at ``p = 0``), by the number ``p`` of near-repeat steps (``p < length``).

    A backward recursion over the days: an event on day ``t`` counts once, and each child it has
    with delay ``d`` (``t + d < length``) counts as an event on day ``t + d``, one power up when
    it is a near repeat. It is exact: no chain inside the period is cut.
    """
    repeat, near = offspring.rates(max(length - 1, 1))
    out = np.zeros((length, length))
    out[:, 0] = 1.0
    for t in range(length - 2, -1, -1):
        later = out[t + 1 :]  # days t+1..length-1: delays 1..length-1-t
        n = later.shape[0]
        out[t] += repeat[:n] @ later
        out[t, 1:] += (near[:n] @ later)[:-1]
    return out


def fold_powers(weights: FloatArray, cap: int) -> FloatArray:
    """Keep powers ``0..cap`` on the first axis; the mass of higher powers goes to ``cap``.

    The kernel conserves mass, so totals are exact; only the spread of the (rare) long chains is
    narrower than theirs.
    """
    cap = max(int(cap), 1)
    out = np.zeros((cap + 1, *weights.shape[1:]))
    top = min(cap, weights.shape[0] - 1)
    out[: top + 1] = weights[: top + 1]
    if weights.shape[0] > cap + 1:
        out[cap] += weights[cap + 1 :].sum(axis=0)
    return out


def period_weights(
    offspring: Offspring,
    weekday_share: FloatArray,
    *,
    first_day: IntArray,
    length: IntArray,
    cap: int,
) -> PeriodWeights:
    """The cascade weights of one type for periods ``[first_day, first_day + length)``.

    Parameters
    ----------
    offspring : Offspring
        The type's offspring law.
    weekday_share : (7,) float64
        The type's background share by weekday, Monday first (sums to 1 over a week).
    first_day, length : (P,) int64
        Each period's first day (from the origin, a Monday) and its number of days
        (``1..MAX_PERIOD_DAYS``).
    cap : int
        The highest kernel power kept (:func:`fold_powers`).
    """
    first_day = np.asarray(first_day, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    n_periods = first_day.size
    offsets = np.arange(int(length.max(initial=0)))
    all_days = first_day[:, None] + offsets
    weeks = np.unique(all_days[offsets < length[:, None]] // 7)
    background = np.zeros((n_periods, weeks.size, cap + 1))  # [period, week, power]
    repeat = np.zeros((cap + 1, n_periods))
    near = np.zeros((cap + 1, n_periods))
    for n_days in np.unique(length).tolist():
        inside = descendants(offspring, n_days)  # [day, power]
        # Pending excitation is Σ_e q^(first day - 1 - day_e): an earlier event's child lands on
        # day t of the period with delay (first day - day_e) + t, probability q^(delay-1)(1 - q).
        repeat_in, near_in = offspring.pending(n_days)  # [day]
        at = np.flatnonzero(length == n_days)
        repeat[:, at] = fold_powers(repeat_in @ inside, cap)[:, None]
        near_steps = np.concatenate([[0.0], near_in @ inside])  # one near step to arrive
        near[:, at] = fold_powers(near_steps, cap)[:, None]
        # The background of day d is its week's rate times the weekday's share.
        days = first_day[at][:, None] + np.arange(n_days)  # [period, day]
        per_day = weekday_share[days % 7][:, :, None] * fold_powers(inside.T, cap).T[None]
        rows = np.repeat(at, n_days)
        cols = np.searchsorted(weeks, days // 7).ravel()
        np.add.at(background, (rows, cols), per_day.reshape(-1, cap + 1))
    return PeriodWeights(
        weeks=weeks, background=background.transpose(2, 1, 0), repeat=repeat, near=near
    )
