"""The backtest of the time bands: the history window they use, and their calibration by band.

``evaluate`` writes :func:`time_bands_report` as ``reports/time_bands.json``: over the backtest's
flagged cell-weeks, the events each band was expected to hold (the forecast's expected count
times the cell's shares from :mod:`models.timebands`, from events before the week only) against
those it held, and the window ``history_periods: auto`` chose on the weeks before the backtest
(:func:`choose_history`). ``publish`` uses the same window for the forecast week, so the
published shares are the ones whose calibration is reported.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.timebands import BandCalibration, TimeBandsBacktest
from beatwise.period import PERIOD_COLUMN
from models.timebands import (
    FloatArray,
    TimeBandsConfig,
    band_labels,
    band_shares,
    neighbour_matrix,
    refusal,
    shares_and_prior,
    weekly_band_counts,
)

#: the history windows (weeks) ``history_periods: auto`` chooses from
HISTORY_CANDIDATES: Final[tuple[int, ...]] = (13, 26, 52, 104)
#: weeks just before the backtest on which the window is chosen
SELECTION_PERIODS: Final[int] = 26


def choose_history(
    counts: npt.NDArray[np.integer],
    first_row: int,
    *,
    neighbours: sp.csr_array,
    config: TimeBandsConfig,
) -> tuple[int, dict[int, float]]:
    """The history window that best predicted the band of each event in the
    :data:`SELECTION_PERIODS` weeks before ``first_row`` (the backtest's first week), so the
    window is chosen on weeks the backtest never scores.

    A city whose weekly rhythm is steady gains from a long window (more events per cell); one
    whose rhythm drifts (opening hours, policing, seasons) from a short one. The score is the
    mean log-probability each candidate's shares gave the band each event fell in; ties go to
    the shorter window. With no week before ``first_row`` the longest candidate is taken.
    Returns the window and every candidate's score.
    """
    rows = np.arange(max(first_row - SELECTION_PERIODS, 1), first_row)
    events = counts[rows].astype(np.float64)
    if rows.size == 0 or events.sum() == 0:
        return HISTORY_CANDIDATES[-1], {}
    scores: dict[int, float] = {}
    for weeks in HISTORY_CANDIDATES:
        candidate = config.model_copy(update={"history_periods": weeks})
        shares = band_shares(counts, rows, neighbours=neighbours, config=candidate)
        scores[weeks] = float((events * np.log(np.maximum(shares, 1e-12))).sum() / events.sum())
    best = max(HISTORY_CANDIDATES, key=lambda weeks: (scores[weeks], -weeks))
    return best, scores


def band_calibration(
    shares: FloatArray,
    expected: FloatArray,
    observed: npt.NDArray[np.integer],
    flagged: npt.NDArray[np.bool_],
    *,
    config: TimeBandsConfig,
) -> pd.DataFrame:
    """Expected against observed events by band, over the flagged cell-weeks.

    ``shares`` ``[week, cell, band]`` (:func:`band_shares`), ``expected`` the forecast's expected
    count ``[week, cell]``, ``observed`` the events ``[week, cell, band]``, ``flagged``
    ``[week, cell]``. One row per band: ``band``, ``expected``, ``observed``, ``ratio``
    (observed / expected; 1 is calibrated) and ``observed_share`` / ``expected_share`` of the
    flagged cells' events.
    """
    weight = np.where(flagged, expected, 0.0)
    exp_band = np.einsum("tc,tcb->b", weight, shares)
    obs_band = np.where(flagged[..., None], observed, 0).sum(axis=(0, 1)).astype(np.float64)
    return pd.DataFrame(
        {
            "band": list(band_labels(config)),
            "expected": exp_band,
            "observed": obs_band,
            "ratio": np.divide(
                obs_band, exp_band, out=np.full(exp_band.size, np.nan), where=exp_band > 0
            ),
            "expected_share": exp_band / max(exp_band.sum(), 1e-12),
            "observed_share": obs_band / max(obs_band.sum(), 1.0),
        }
    )


def chi_square(table: pd.DataFrame) -> float:
    """Pearson chi-square of observed band counts against the expected shares (the expected
    scaled to the observed total): how far the flagged cells' hours differ from the forecast's."""
    observed = table["observed"].to_numpy(dtype=np.float64)
    share = table["expected_share"].to_numpy(dtype=np.float64)
    expected = share * observed.sum()
    keep = expected > 0
    return float(((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum())


def backtest_time_bands(
    backtest: pd.DataFrame,
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    all_periods: tuple[np.datetime64, np.datetime64],
    config: TimeBandsConfig,
) -> TimeBandsBacktest:
    """Calibration by band of the model's flagged cells over the backtest (weekly, timed data).

    ``backtest`` is ``backtest.parquet`` (``period_start``, ``h3_cell``, ``risk_score``,
    ``flagged``; every study cell in every backtest week); ``events`` the target events with
    ``h3_int`` and ``timestamp``; ``cells`` the study cells (``h3_cell``, ``h3_int``,
    ascending); ``all_periods`` the first and last week of the counts (``panel_meta.json``).
    Each week's shares come from the events before it only.
    """
    cell_ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    weeks, counts = weekly_band_counts(events, cell_ids, all_periods=all_periods, config=config)
    position_of = pd.Index(cells["h3_cell"]).get_indexer(backtest["h3_cell"])
    if (position_of < 0).any():
        raise ValueError("backtest.parquet holds cells that cells.parquet lacks.")
    ordered = backtest.assign(_cell=position_of).sort_values([PERIOD_COLUMN, "_cell"])
    test_weeks = np.sort(ordered[PERIOD_COLUMN].unique())
    rows = np.searchsorted(weeks.to_numpy(), test_weeks)
    shape = (test_weeks.size, cell_ids.size)
    neighbours = neighbour_matrix(cell_ids, rings=config.neighbour_rings)
    scores: dict[int, float] = {}
    if config.history_periods == "auto":
        weeks, scores = choose_history(
            counts, int(rows.min()), neighbours=neighbours, config=config
        )
        config = config.model_copy(update={"history_periods": weeks})
    shares, prior = shares_and_prior(counts, rows, neighbours=neighbours, config=config)
    flagged = ordered["flagged"].to_numpy().reshape(shape)
    table = band_calibration(
        shares,
        ordered["risk_score"].to_numpy(dtype=np.float64).reshape(shape),
        counts[rows],
        flagged,
        config=config,
    )
    return TimeBandsBacktest(
        available=True,
        reason=None,
        bands=band_labels(config),
        calibration=tuple(
            BandCalibration(
                band=str(row.band),
                expected=float(row.expected),
                observed=float(row.observed),
                ratio=None if np.isnan(row.ratio) else float(row.ratio),
                expected_share=float(row.expected_share),
                observed_share=float(row.observed_share),
            )
            for row in table.itertuples()
        ),
        flagged_cell_periods=int(flagged.sum()),
        periods=int(test_weeks.size),
        history_periods=config.window(),
        history_scores={str(weeks): round(score, 6) for weeks, score in scores.items()},
        prior_events_median=float(np.median(prior)),
        chi_square=chi_square(table),
        degrees_of_freedom=config.n_bands - 1,
    )


def time_bands_report(
    backtest: pd.DataFrame,
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    panel: PanelMeta,
    config: TimeBandsConfig,
) -> TimeBandsBacktest:
    """What ``evaluate`` writes as ``reports/time_bands.json``: :func:`backtest_time_bands` on
    the panel's target types, or why these data have none (:func:`refusal`)."""
    reason = refusal(panel.time_resolution, panel.period)
    if reason is not None:
        return TimeBandsBacktest(available=False, reason=reason)
    target = events[events["crime_type"].isin(panel.target_types)]
    first, last = (np.datetime64(day, "D") for day in panel.all_periods)
    return backtest_time_bands(backtest, target, cells, all_periods=(first, last), config=config)
