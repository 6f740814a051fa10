"""The moving-block bootstrap over weeks and its percentile interval."""

from __future__ import annotations

import numpy as np
import pytest

from models.bootstrap import block_bootstrap_indices, percentile_interval


def blocks_of(row: np.ndarray, block_len: int) -> list[np.ndarray]:
    return [row[i : i + block_len] for i in range(0, row.size, block_len)]


@pytest.mark.parametrize(("n_weeks", "block_len"), [(52, 4), (10, 3), (7, 1), (5, 5)])
def test_indices_shape_range_and_contiguous_blocks(n_weeks: int, block_len: int) -> None:
    idx = block_bootstrap_indices(n_weeks, n_boot=200, block_len=block_len, seed=3)
    assert idx.shape == (200, n_weeks)
    assert idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() <= n_weeks - 1
    for row in idx:
        for block in blocks_of(row, block_len):
            # Each block is a run of consecutive weeks that stays inside the backtest (the last
            # block of a replicate may be cut short).
            np.testing.assert_array_equal(block, block[0] + np.arange(block.size))
            assert block[0] + block_len <= n_weeks


def test_every_start_is_drawn() -> None:
    idx = block_bootstrap_indices(10, n_boot=500, block_len=4, seed=0)
    starts = np.concatenate([row[::4] for row in idx])
    assert set(starts.tolist()) == set(range(10 - 4 + 1))


def test_deterministic_by_seed() -> None:
    a = block_bootstrap_indices(30, n_boot=50, block_len=4, seed=7)
    b = block_bootstrap_indices(30, n_boot=50, block_len=4, seed=7)
    c = block_bootstrap_indices(30, n_boot=50, block_len=4, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_block_longer_than_the_backtest_is_the_whole_backtest() -> None:
    idx = block_bootstrap_indices(3, n_boot=5, block_len=10, seed=0)
    np.testing.assert_array_equal(idx, np.tile(np.arange(3), (5, 1)))


def test_refusals() -> None:
    with pytest.raises(ValueError, match=r"n_weeks must be >= 1. Got 0"):
        block_bootstrap_indices(0)
    with pytest.raises(ValueError, match=r"block_len must be >= 1. Got 0"):
        block_bootstrap_indices(5, block_len=0)


def test_percentile_interval_hand_checked() -> None:
    reps = np.arange(101.0)  # 0, 1, ..., 100: the q-quantile (linear) is 100 q
    assert percentile_interval(reps) == pytest.approx((2.5, 97.5))
    assert percentile_interval(reps, level=0.5) == pytest.approx((25.0, 75.0))
    # Five replicates: quantiles at positions 0.1 and 3.9 of the sorted values (linear).
    assert percentile_interval([4.0, 1.0, 3.0, 2.0, 5.0], level=0.95) == pytest.approx((1.1, 4.9))


def test_percentile_interval_ignores_undefined_replicates() -> None:
    reps = np.r_[np.arange(101.0), np.nan, np.inf, -np.inf]
    assert percentile_interval(reps) == pytest.approx((2.5, 97.5))
    lo, hi = percentile_interval([np.nan, np.nan])
    assert np.isnan(lo) and np.isnan(hi)
