"""When in the week: each cell's expected share of its weekly risk by time band.

Visible patrol is a place *and* an hour. A week is cut into bands of ``band_hours`` hours of the
day, on weekdays (Monday to Friday) and at weekends (Saturday and Sunday) apart when
``weekend_split``: six 4-hour bands by weekday/weekend make twelve. A cell's share of its risk in
band ``b`` for the week starting at period ``t`` is estimated from events strictly before ``t``:

- its own events of the last ``history_periods`` weeks in each band (chosen on the weeks before
  the backtest when ``auto``: :func:`choose_history`), plus ``neighbour_weight``
  times those of the cells within ``neighbour_rings`` H3 rings (a cell with few events borrows
  its surroundings' rhythm);
- shrunk by ``prior_events`` pseudo-events toward a centre: the pooled profile of the cells of
  similar activity (``activity_strata`` equal-count groups by events; one group is the whole
  city), so a cell with no history gets its group's profile and one with many events its own:

  ``share[c, b] = (local[c, b] + prior_events * centre[c, b]) / (sum_b local[c, b] +
  prior_events)``

  Why groups: hot spots have a rhythm of their own (more repeat incidents, other hours), and a
  single city-wide centre pulls every flagged cell toward the quiet majority's hours, which
  misstates the flagged cells' bands in aggregate. How many pseudo-events is a question the data
  answer (``prior_events: auto``): if the cells' own profiles differ from their centres no more
  than multinomial sampling would make them, the centre should win; the more they differ, the
  fewer pseudo-events. :func:`estimate_prior_events` solves the Dirichlet-multinomial moment
  equation for it, week by week;
- for the busiest activity group (where the flagged cells come from), re-centred on the group's
  rhythm of the last ``recent_periods`` weeks (:func:`recent_rhythm`): a long window tells busy
  cells apart best, but their hours drift, and the flagged cells' hours in aggregate must be
  those of now (on St. Louis this turns a chi-square of 31 on 11 degrees of freedom into 12).

Shares are of the week, so a weekday band (five days of those hours) naturally weighs more than
the same hours at the weekend (two days). The expected count of a band is the cell's expected
count times its share. Monthly data (data.police.uk records only the month) and data with dates
but no times of day have no time bands: :func:`refusal` says why in words.

Everything is arrays ``[period, cell, band]``: counts by one ``bincount``, windows by a cumulative
sum over periods, neighbours by one sparse product.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.timebands import TimeBandsBacktest
from beatwise.h3index import ring_neighbours
from beatwise.period import Period, TimeResolution

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: hours of the day a band may span: whole divisors of a day
BAND_HOURS: Final[tuple[int, ...]] = (1, 2, 3, 4, 6, 8, 12, 24)
#: Saturday and Sunday (pandas weekday numbers)
_WEEKEND_FROM: Final[int] = 5


class TimeBandsConfig(BaseModel):
    """How the week is cut into bands and how a cell's shares are estimated (``time_bands``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    band_hours: int = 4
    #: weekdays (Mon-Fri) and weekends (Sat-Sun) as separate bands
    weekend_split: bool = True
    #: weeks of history behind each estimate; "auto": the candidate (:data:`HISTORY_CANDIDATES`)
    #: that best predicted the weeks just before the backtest (:func:`choose_history`)
    history_periods: int | Literal["auto"] = "auto"
    #: H3 rings whose events count toward a cell's own
    neighbour_rings: int = Field(1, ge=0, le=3)
    #: weight of one neighbouring event against one of the cell's own
    neighbour_weight: float = Field(0.5, ge=0.0, le=1.0)
    #: pseudo-events of the centre's profile that every cell's estimate starts from; "auto"
    #: estimates them from how much the cells' rhythms really differ (:func:`estimate_prior_events`)
    prior_events: float | Literal["auto"] = "auto"
    #: equal-count groups of cells by activity; each group's pooled profile is the centre its
    #: cells shrink toward (1: the whole city's)
    activity_strata: int = Field(10, ge=1, le=100)
    #: weeks of recent events that re-centre the busiest group's rhythm (0: none; no effect when
    #: not shorter than the history window): :func:`recent_rhythm`
    recent_periods: int = Field(26, ge=0, le=520)

    @field_validator("history_periods")
    @classmethod
    def _history_positive(cls, value: int | str) -> int | str:
        if value != "auto" and not int(value) >= 1:
            raise ValueError('history_periods must be "auto" or a number of weeks of at least 1')
        return value

    def window(self) -> int:
        """The history window in weeks; refuses ``auto``, which :func:`choose_history` resolves."""
        if self.history_periods == "auto":
            raise ValueError("history_periods is 'auto': resolve it with choose_history first.")
        return int(self.history_periods)

    @field_validator("prior_events")
    @classmethod
    def _positive(cls, value: float | str) -> float | str:
        if value != "auto" and not float(value) > 0:
            raise ValueError('prior_events must be "auto" or a number of pseudo-events above 0')
        return value

    @field_validator("band_hours")
    @classmethod
    def _divides_a_day(cls, value: int) -> int:
        if value not in BAND_HOURS:
            raise ValueError(f"band_hours must divide a day into whole bands: one of {BAND_HOURS}")
        return value

    @property
    def bands_per_day(self) -> int:
        return 24 // self.band_hours

    @property
    def n_bands(self) -> int:
        return self.bands_per_day * (2 if self.weekend_split else 1)


def band_labels(config: TimeBandsConfig) -> tuple[str, ...]:
    """Each band in words, in band order: ``weekdays 00:00-04:00`` ... ``weekends 20:00-24:00``."""
    hours = [f"{h:02d}:00-{h + config.band_hours:02d}:00" for h in range(0, 24, config.band_hours)]
    if not config.weekend_split:
        return tuple(f"every day {h}" for h in hours)
    return (*(f"weekdays {h}" for h in hours), *(f"weekends {h}" for h in hours))


def band_duration_shares(config: TimeBandsConfig) -> FloatArray:
    """Each band's share of the hours of a week (what a cell would get with no rhythm at all)."""
    days = np.repeat([5.0, 2.0] if config.weekend_split else [7.0], config.bands_per_day)
    return days / days.sum()


def refusal(time_resolution: TimeResolution, period: Period) -> str | None:
    """Why these data can have no time bands, in words; None when they can."""
    if time_resolution == "month":
        return (
            "the source records only the month of each crime (as data.police.uk does), so "
            "nothing says when in the week it happened: time bands need times of day"
        )
    if time_resolution == "day":
        return (
            "the source records dates without times of day, so nothing says which hours of the "
            "day the risk falls in: time bands need times of day"
        )
    if period != "week":
        return f"time bands split a week, and these forecasts are by {period}"
    return None


def bands_of_hour_of_week(profile: npt.ArrayLike, config: TimeBandsConfig) -> FloatArray:
    """Aggregate ``[..., 168]`` hour-of-week values (Monday 00:00 first) into ``[..., band]``."""
    hours = pd.date_range("2024-01-01", periods=168, freq="h")  # a Monday
    values = np.asarray(profile, dtype=np.float64)
    onto = np.zeros((168, config.n_bands))
    onto[np.arange(168), event_bands(hours, config)] = 1.0
    return values @ onto


def event_bands(timestamps: pd.Series | pd.DatetimeIndex, config: TimeBandsConfig) -> IntArray:
    """The band of each timestamp (:func:`band_labels` order)."""
    index = pd.DatetimeIndex(timestamps)
    band = index.hour.to_numpy(np.int64) // config.band_hours
    if config.weekend_split:
        band = band + config.bands_per_day * (index.day_of_week.to_numpy() >= _WEEKEND_FROM)
    return band


def band_counts(
    cell_index: npt.ArrayLike,
    timestamps: pd.Series | pd.DatetimeIndex,
    *,
    week_starts: npt.ArrayLike,
    n_cells: int,
    config: TimeBandsConfig,
) -> npt.NDArray[np.int32]:
    """Events per ``[week, cell, band]``.

    ``cell_index`` is each event's position on the cell axis (0..n_cells-1); ``week_starts`` are
    consecutive Monday starts. Events before the first week or from the end of the last are left
    out (they belong to no week of the axis), as :func:`features.panel.count_matrix` does.
    """
    starts = np.asarray(week_starts, dtype="datetime64[ns]")
    stamps = pd.DatetimeIndex(timestamps).to_numpy(dtype="datetime64[ns]")
    week = (stamps - starts[0]) // np.timedelta64(7, "D")
    cells = np.asarray(cell_index, dtype=np.int64)
    if cells.size and (cells.min() < 0 or cells.max() >= n_cells):
        raise ValueError(f"cell_index must lie in 0..{n_cells - 1}.")
    inside = (stamps >= starts[0]) & (week < starts.size)
    n_bands = config.n_bands
    flat = (week[inside] * n_cells + cells[inside]) * n_bands + event_bands(
        pd.DatetimeIndex(stamps[inside]), config
    )
    counts = np.bincount(flat, minlength=starts.size * n_cells * n_bands)
    return counts.reshape(starts.size, n_cells, n_bands).astype(np.int32)


def weekly_band_counts(
    events: pd.DataFrame,
    cell_ids: npt.NDArray[np.uint64],
    *,
    all_periods: tuple[np.datetime64, np.datetime64] | tuple[dt.date, dt.date],
    config: TimeBandsConfig,
) -> tuple[pd.DatetimeIndex, npt.NDArray[np.int32]]:
    """The week axis from the first to the last week of ``all_periods`` and the events (``h3_int``,
    ``timestamp``) per ``[week, cell, band]`` on it (:func:`band_counts`), cells in the order of
    ``cell_ids`` (ascending)."""
    weeks = week_axis(all_periods)
    counts = band_counts(
        cell_positions(cell_ids, events["h3_int"].to_numpy()),
        events["timestamp"],
        week_starts=weeks,
        n_cells=cell_ids.size,
        config=config,
    )
    return weeks, counts


def window_start(
    all_periods: tuple[np.datetime64, np.datetime64] | tuple[dt.date, dt.date],
    *,
    history_periods: int,
) -> pd.Timestamp:
    """The Monday from which the forecast week's shares read events: the first of the
    ``history_periods`` weeks before the forecast week on :func:`weekly_band_counts`' axis (the
    data's first week when there are fewer). :func:`window_counts` reads no earlier week, so
    :func:`forecast_bands` of the events from this day on equals that of every event."""
    weeks = week_axis(all_periods)
    return weeks[max(weeks.size - history_periods, 0)]


def week_axis(
    all_periods: tuple[np.datetime64, np.datetime64] | tuple[dt.date, dt.date],
) -> pd.DatetimeIndex:
    """The weeks' Mondays from the first to the last week of ``all_periods``: the one axis of
    :func:`weekly_band_counts` and :func:`window_start`."""
    return pd.date_range(all_periods[0], all_periods[1], freq="7D")


def cell_positions(cell_ids: npt.NDArray[np.uint64], h3_int: npt.ArrayLike) -> IntArray:
    """Each event's position on the ascending cell axis; refuses events in no study cell (the
    event cells come from ``build_cells``, which keeps only study cells)."""
    ids = np.asarray(h3_int, dtype=np.uint64)
    position = np.searchsorted(cell_ids, ids)
    known = position < cell_ids.size
    known[known] = cell_ids[position[known]] == ids[known]
    if not known.all():
        raise ValueError(
            f"{int((~known).sum())} events lie in cells that cells.parquet lacks; re-run "
            "build_cells so that the events and the cells come from the same run."
        )
    return position.astype(np.int64)


def neighbour_matrix(cell_ids: npt.ArrayLike, *, rings: int) -> sp.csr_array:
    """``[cell, cell]`` 0/1 matrix of the other study cells within ``rings`` H3 rings."""
    cells = np.asarray(cell_ids, dtype=np.uint64)
    if rings == 0:
        return sp.csr_array((cells.size, cells.size))
    i, j, d = ring_neighbours(cells, k=rings)
    other = d > 0
    ones = np.ones(int(other.sum()))
    return sp.csr_array((ones, (i[other], j[other])), shape=(cells.size, cells.size))


#: bounds of the estimated pseudo-events: below 1 a cell's few events would be its whole
#: profile; above 10**4 the centre's profile already wins everywhere
PRIOR_BOUNDS: Final[tuple[float, float]] = (1.0, 1e4)


def activity_groups(local: FloatArray, *, strata: int) -> IntArray:
    """Each cell's activity group ``[row, cell]``: per row, cells ranked by their ``local`` events
    (ties in cell order) and cut into ``strata`` equal-count groups, 0 the quietest."""
    volume = local.sum(axis=2)
    rank = np.argsort(np.argsort(volume, axis=1, kind="stable"), axis=1, kind="stable")
    return rank * strata // local.shape[1]


def activity_centres(
    own: FloatArray, local: FloatArray, *, strata: int, fallback: FloatArray
) -> FloatArray:
    """The profile each cell's estimate shrinks toward, ``[row, cell, band]``.

    Per row, cells fall into ``strata`` groups by activity (:func:`activity_groups`); a group's
    profile is its cells' own events pooled. Hot spots
    keep a rhythm of their own (more repeats, other hours), so a hot cell shrinks toward other
    hot cells, not toward the quiet majority. A cell's own events are left out of its centre (so
    the centre is evidence apart from the cell, and the dispersion around it is not understated);
    a centre with no events is ``fallback``.
    """
    n_rows, _, n_bands = own.shape
    group = activity_groups(local, strata=strata)
    flat = (np.arange(n_rows)[:, None] * strata + group).ravel()
    pooled = np.stack(
        [np.bincount(flat, weights=own[..., b].ravel(), minlength=n_rows * strata)
         for b in range(n_bands)],
        axis=1,
    ).reshape(n_rows, strata, n_bands)  # fmt: skip
    others = np.take_along_axis(pooled, group[..., None], axis=1) - own  # leave the cell out
    total = others.sum(axis=2, keepdims=True)
    return np.where(total > 0, others / np.maximum(total, 1e-12), fallback[:, None, :])


def estimate_prior_events(own: FloatArray, centre: FloatArray) -> FloatArray:
    """Pseudo-events of the centre's profile per row, from own counts ``[row, cell, band]``.

    The cells' counts are taken as Dirichlet-multinomial around their centres ``pi``
    (concentration ``a``, the pseudo-events): then ``X_c = sum_b (p_cb - pi_cb)**2 / pi_cb`` has
    expectation ``(B - 1) (n_c + a) / (n_c (1 + a))`` for a cell of ``n_c`` events in ``B``
    bands. Summing ``n_c X_c / (B - 1) = S`` over the ``C`` cells with events (``N`` events)
    gives ``a = (N - S) / (S - C)``, clipped to :data:`PRIOR_BOUNDS`: no dispersion beyond
    sampling (``S <= C``) gives the upper bound.
    """
    n = own.sum(axis=2)  # [row, cell]
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(centre > 0, (own / n[..., None] - centre) ** 2 / centre, 0.0)
    has = n > 0
    s = np.where(has, n * np.nan_to_num(gap).sum(axis=2), 0.0).sum(axis=1) / (own.shape[2] - 1)
    c, total = has.sum(axis=1), n.sum(axis=1)
    low, high = PRIOR_BOUNDS
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(s > c, (total - s) / np.where(s > c, s - c, 1.0), high)
    return np.clip(a, low, high)


def window_counts(
    counts: npt.NDArray[np.integer], rows: npt.ArrayLike, *, config: TimeBandsConfig
) -> FloatArray:
    """Each cell's events by band in the history window of each of ``rows``,
    ``[len(rows), cell, band]``.

    ``counts`` is :func:`band_counts`; row ``t`` sums weeks ``t - history_periods`` to ``t - 1``
    (fewer at the start of the data). Refuses rows outside ``0..len(counts)`` (``len(counts)``
    is the forecast week, the week after the data).
    """
    t = np.asarray(rows, dtype=np.int64)
    n_periods, n_cells, n_bands = counts.shape
    if t.size and (t.min() < 0 or t.max() > n_periods):
        raise ValueError(f"rows must lie in 0..{n_periods} (the week after the data).")
    cum = np.zeros((n_periods + 1, n_cells, n_bands), dtype=np.int64)
    np.cumsum(counts, axis=0, out=cum[1:])
    return (cum[t] - cum[np.maximum(t - config.window(), 0)]).astype(np.float64)


def city_profile(own: FloatArray, *, config: TimeBandsConfig) -> FloatArray:
    """The study area's shares by band per row, ``[row, band]``, from :func:`window_counts`;
    a row without events gets the hours of the week (:func:`band_duration_shares`)."""
    city_counts = own.sum(axis=1)
    city_total = city_counts.sum(axis=1, keepdims=True)
    return np.where(
        city_total > 0,
        city_counts / np.maximum(city_total, 1.0),
        band_duration_shares(config)[None, :],
    )


def band_shares(
    counts: npt.NDArray[np.integer],
    rows: npt.ArrayLike,
    *,
    neighbours: sp.csr_array,
    config: TimeBandsConfig,
) -> FloatArray:
    """Each cell's share of its week's risk by band, for the weeks ``rows`` of ``counts``.

    ``counts`` is :func:`band_counts`; ``rows`` are positions on its week axis (``len(counts)``
    is the week after the data: the forecast week). Row ``t`` uses only weeks ``t -
    history_periods`` to ``t - 1``. Returns ``[len(rows), cell, band]``, each cell's shares adding
    up to 1.
    """
    return shares_and_prior(counts, rows, neighbours=neighbours, config=config)[0]


def shares_and_prior(
    counts: npt.NDArray[np.integer],
    rows: npt.ArrayLike,
    *,
    neighbours: sp.csr_array,
    config: TimeBandsConfig,
) -> tuple[FloatArray, FloatArray]:
    """:func:`band_shares` and the pseudo-events of each row ``[len(rows)]``."""
    own = window_counts(counts, rows, config=config)
    n_rows, n_cells, n_bands = own.shape
    # neighbours: one sparse product over the cell axis for every row and band at once
    spread = neighbours @ own.transpose(1, 0, 2).reshape(n_cells, -1)
    local = own + config.neighbour_weight * spread.reshape(n_cells, n_rows, n_bands).transpose(
        1, 0, 2
    )
    city = city_profile(own, config=config)
    centre = activity_centres(own, local, strata=config.activity_strata, fallback=city)
    prior = (
        estimate_prior_events(own, centre)
        if config.prior_events == "auto"
        else np.full(n_rows, float(config.prior_events))
    )
    weight = prior[:, None, None]
    shares = (local + weight * centre) / (local.sum(axis=2, keepdims=True) + weight)
    if 0 < config.recent_periods < config.window():
        recent_window = config.model_copy(update={"history_periods": config.recent_periods})
        recent = window_counts(counts, rows, config=recent_window)
        shares = recent_rhythm(shares, own, recent, local, strata=config.activity_strata)
    return shares, prior


def recent_rhythm(
    shares: FloatArray, own: FloatArray, recent: FloatArray, local: FloatArray, *, strata: int
) -> FloatArray:
    """Re-centre the busiest group's shares on that group's recent rhythm, ``[row, cell, band]``.

    The flagged cells come from the busiest of the ``strata`` activity groups
    (:func:`activity_groups`), and a busy place's hours drift
    (a venue's closing time, a season, a change in policing). A long window predicts each cell
    best, yet describes the group's hours as they were on average over it. Per row, each band of
    the group's cells is multiplied by the group's pooled ``recent`` share of the band over its
    pooled ``own`` share (the same window as the shares), and each cell's shares renormalised;
    the cells keep their differences from one another and the group's aggregate takes its
    recent rhythm. A row whose group has no recent event in a band it had events in is left as
    it was. The other groups are left as they were: their recent events are too few for a
    correction that is not mostly noise.
    """
    busiest = activity_groups(local, strata=strata) == strata - 1  # [row, cell]
    pooled_recent = np.where(busiest[..., None], recent, 0.0).sum(axis=1)  # [row, band]
    pooled_long = np.where(busiest[..., None], own, 0.0).sum(axis=1)
    recent_share = pooled_recent / np.maximum(pooled_recent.sum(axis=1, keepdims=True), 1e-12)
    long_share = pooled_long / np.maximum(pooled_long.sum(axis=1, keepdims=True), 1e-12)
    usable = ((pooled_recent > 0) | (pooled_long == 0)).all(axis=1) & (pooled_long.sum(axis=1) > 0)
    factor = np.where(
        usable[:, None] & (long_share > 0), recent_share / np.maximum(long_share, 1e-12), 1.0
    )
    scaled = shares * np.where(busiest[..., None], factor[:, None, :], 1.0)
    return scaled / scaled.sum(axis=2, keepdims=True)


@dataclass(frozen=True)
class ForecastBands:
    """Each study cell's band shares for the forecast week, or why there are none."""

    #: the bands in words (:func:`band_labels`); empty without shares
    labels: tuple[str, ...]
    #: ``[cell, band]`` in the order of the cells given; None without shares
    shares: FloatArray | None
    #: why the data have no time bands (``reports/time_bands.json``); None with shares
    reason: str | None
    #: the history window the shares used (weeks)
    history_periods: int | None


def forecast_bands(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    panel: PanelMeta,
    backtest: TimeBandsBacktest,
    config: TimeBandsConfig,
) -> ForecastBands:
    """The band shares of the forecast week (the week after the data), from every target event
    of the window before it; the window is the one the backtest used (``time_bands.json``), so
    the published shares are the ones whose calibration the backtest reports."""
    if not backtest.available or backtest.history_periods is None:
        reason = backtest.reason or "the backtest of the time bands chose no history window"
        return ForecastBands(labels=(), shares=None, reason=reason, history_periods=None)
    cell_ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    target = events[events["crime_type"].isin(panel.target_types)]
    weeks, counts = weekly_band_counts(
        target, cell_ids, all_periods=panel.all_periods, config=config
    )
    chosen = config.model_copy(update={"history_periods": backtest.history_periods})
    shares = band_shares(
        counts,
        [weeks.size],
        neighbours=neighbour_matrix(cell_ids, rings=chosen.neighbour_rings),
        config=chosen,
    )[0]
    return ForecastBands(
        labels=band_labels(chosen),
        shares=shares,
        reason=None,
        history_periods=backtest.history_periods,
    )
