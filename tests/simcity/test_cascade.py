"""The within-period cascade: hand-computed on a three-day period, folds keep the mass."""

from __future__ import annotations

import numpy as np

from simcity.cascade import Offspring, descendants, fold_powers, period_weights

LAW = Offspring(alpha=0.4, repeat_share=0.3, q_repeat=0.5, q_near=0.8)


def test_descendants_of_a_three_day_period_by_hand() -> None:
    r1, r2 = 0.4 * 0.3 * 0.5, 0.4 * 0.3 * 0.5 * 0.5  # repeat children with delay 1, 2 days
    n1, n2 = 0.4 * 0.7 * 0.2, 0.4 * 0.7 * 0.8 * 0.2  # near-repeat children with delay 1, 2
    last = np.array([1.0, 0.0, 0.0])
    middle = np.array([1.0 + r1, n1, 0.0])
    first = np.array([1.0, 0.0, 0.0]) + r1 * middle + r2 * last
    first[1:] += (n1 * middle + n2 * last)[:-1]
    np.testing.assert_allclose(descendants(LAW, 3), np.vstack([first, middle, last]), rtol=1e-14)
    assert descendants(LAW, 1).tolist() == [[1.0]]


def test_folding_keeps_the_mass_of_long_chains() -> None:
    month = descendants(LAW, 31)
    folded = fold_powers(month.T, 2)
    assert folded.shape == (3, 31)
    np.testing.assert_allclose(folded.sum(axis=0), month.sum(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(folded[:2], month.T[:2])
    assert month[0, 3:].sum() > 0  # a month has chains of more than two near steps


def test_period_weights_split_a_month_by_its_weeks() -> None:
    share = np.full(7, 1 / 7)
    # Day 2 from the origin is a Wednesday: 30 days touch weeks 0 to 4 (5, 7, 7, 7 and 4 days).
    w = period_weights(LAW, share, first_day=np.array([2, 9]), length=np.array([30, 7]), cap=2)
    assert w.weeks.tolist() == [0, 1, 2, 3, 4]
    assert w.background.shape == (3, 5, 2)
    # Without offspring a day counts once: the weights are the days in each week times 1/7.
    still = Offspring(alpha=0.0, repeat_share=0.3, q_repeat=0.5, q_near=0.8)
    plain = period_weights(
        still, share, first_day=np.array([2, 9]), length=np.array([30, 7]), cap=2
    )
    np.testing.assert_allclose(plain.background[0, :, 0] * 7, [5, 7, 7, 7, 4])
    np.testing.assert_allclose(plain.background[0, :, 1] * 7, [0, 5, 2, 0, 0])
    assert not plain.repeat.any() and not plain.near.any()
    # With them, each unit of background yields more than one event, and more over a longer span.
    per_day = w.background.sum(axis=(0, 1)) / np.array([30, 7])
    assert per_day[0] > per_day[1] > 1 / 7
    # Pending near repeats need a kernel step to arrive: nothing at power 0.
    assert (w.near[0] == 0).all() and (w.near[1] > 0).all()
    # A longer period catches more of the pending offspring.
    assert w.repeat.sum(axis=0)[0] > w.repeat.sum(axis=0)[1] > 0
