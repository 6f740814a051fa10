"""``reports/time_bands.json``: when in the week the flagged cells' risk falls, and whether the
band shares were calibrated over the backtest (``models.timebands``).

Written by ``evaluate`` for every run: with the calibration by band when the data have times of
day and weekly periods, and otherwise with the reason there are no time bands (``available``
false), which the reports print instead.
"""

from __future__ import annotations

from pydantic import Field

from beatwise.artefacts._base import Artefact


class BandCalibration(Artefact):
    """One band's expected and observed events over the backtest's flagged cell-weeks."""

    band: str
    #: the model's expected count times the cell's band share, summed
    expected: float = Field(ge=0.0)
    observed: float = Field(ge=0.0)
    #: observed / expected; None when nothing was expected
    ratio: float | None
    expected_share: float = Field(ge=0.0, le=1.0)
    observed_share: float = Field(ge=0.0, le=1.0)


class TimeBandsBacktest(Artefact):
    """``reports/time_bands.json``: the backtest of the time-band shares, or why there is none."""

    available: bool
    #: why these data have no time bands (monthly data, dates without times); None when available
    reason: str | None
    #: the bands in words, in order (empty when not available)
    bands: tuple[str, ...] = ()
    calibration: tuple[BandCalibration, ...] = ()
    #: flagged cell-periods the calibration sums over
    flagged_cell_periods: int = Field(0, ge=0)
    #: weeks of the backtest
    periods: int = Field(0, ge=0)
    #: the history window the shares used (weeks), and, when it was chosen (``auto``), each
    #: candidate's mean log-probability of the band events fell in, on the weeks before the
    #: backtest (higher is better)
    history_periods: int | None = None
    history_scores: dict[str, float] = Field(default_factory=dict)
    #: median over the backtest weeks of the pseudo-events each estimate was shrunk by
    prior_events_median: float | None = None
    #: Pearson chi-square of the observed band counts against the expected shares (each band's
    #: expected scaled to the observed total), and its degrees of freedom: a test of the shape
    chi_square: float | None = None
    degrees_of_freedom: int | None = None
