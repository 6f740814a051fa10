"""Cell-period features for the risk model, built from dense ``[period, cell]`` count arrays.

A period is an ISO week or a calendar month (:mod:`beatwise.period`); every window, lag and cap
below counts periods, and feature names carry the unit: ``cnt_all_lag1w`` in weekly mode,
``cnt_all_lag1m`` in monthly mode (``docs/feature-dict.csv`` lists both).

Every feature of row ``(c, t)`` uses only complete periods strictly before ``t`` (events with
``timestamp < period_start``), plus things known in advance (the calendar of period ``t`` and
static cell covariates). The table runs from the first period with ``min_history_periods`` periods
of history to the forecast period, the period after the last complete one, whose
``target_count`` is null.

How the arrays are built (``t`` is a period index, ``X[t, c]`` the count in period ``t``):

- rolling means from one cumulative sum with a leading zero row, ``S[t] = X[0] + ... + X[t-1]``,
  so the mean of the ``n`` periods before ``t`` is ``(S[t] - S[t-n]) / n``;
- the decayed intensity by a first-order recursion along periods (one vector operation over
  cells per period);
- periods since the last event from a running maximum (``np.maximum.accumulate``) of event-period
  indices;
- spatial lags by a sparse ``[cell, cell]`` averaging matrix per H3 ring;
- the parents' counts at coarser H3 resolutions by one bincount (:mod:`features.multires`), and
  the place covariates from a file of places (:mod:`features.places`).

The per-period builders live in :mod:`features.arrays`.

Any window reaching before the first period of data gives NaN (never a silent zero), which only
happens when ``min_history_periods`` is shorter than the window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import holidays
import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from beatwise.h3index import cells_to_int, cells_to_str
from beatwise.period import (
    PERIOD_COLUMN,
    Period,
    PeriodChoice,
    check_period,
    next_period_start,
    period_floor,
    period_suffix,
    period_words,
    periods_per_year,
    shift_periods,
    validate_periods,
)
from beatwise.taxonomy import POLICE_ACTIVITY_TYPES, VICTIM_TYPES, validate_crime_types
from features.arrays import decayed, history_mean, lagged, periods_since, rolling_mean
from features.multires import (
    cells_resolution,
    check_parent_resolutions,
    parent_feature_names,
    parent_features,
)
from features.panel import ring_mean, ring_mean_matrices, validate_cells
from features.places import Places, PlacesConfig, place_feature_names, place_features

logger = logging.getLogger(__name__)

#: the type token of the aggregate over all target types
ALL: str = "all"
#: the lag and rolling window (in periods) the spatial-lag features average over neighbouring
#: cells: last period, and about a month (4 weeks) or a quarter (3 months)
NEIGHBOUR_BASES: dict[Period, tuple[tuple[str, int], ...]] = {
    "week": (("lag", 1), ("roll", 4)),
    "month": (("lag", 1), ("roll", 3)),
}
#: calendar features of the row's own period (known in advance)
CALENDAR_COLUMNS: dict[Period, tuple[str, ...]] = {
    "week": ("week_of_year", "holidays_in_week", "weeks_since_start"),
    "month": ("month_of_year", "holidays_in_month", "months_since_start"),
}
#: name prefix of the "periods since the last event" features
RECENCY_PREFIX: dict[Period, str] = {"week": "wks_since", "month": "mths_since"}
KEY_COLUMNS: tuple[str, ...] = ("h3_cell", PERIOD_COLUMN)
TARGET_COLUMN: str = "target_count"
STATIC_PREFIX: str = "static_"


def seasonal_lag(period: Period) -> int:
    """The same-period-last-year lag in periods: 52 weeks or 12 months."""
    return periods_per_year(period)


def _ascending_unique(
    values: tuple[int, ...], *, name: str, low: int, high: int
) -> tuple[int, ...]:
    if not values:
        raise ValueError(f"FeatureConfig.{name} must not be empty.")
    if any(not (low <= v <= high) for v in values):
        raise ValueError(f"FeatureConfig.{name} must hold ints in [{low}, {high}]. Got {values}.")
    if list(values) != sorted(set(values)):
        raise ValueError(
            f"FeatureConfig.{name} must be strictly ascending with no repeats. Got {values}."
        )
    return values


class FeatureConfig(BaseModel):
    """What ``build_feature_table`` builds. Frozen; unknown keys are an error.

    Attributes
    ----------
    target_types
        Canonical types whose count in the row's period is ``target_count`` and whose sum is the
        ``all`` aggregate. Default: the victim-reported types. Police-activity types are refused
        unless ``target_reason`` gives a written reason (audit gate G1). The build_features stage
        keeps only the types present in the data (``features.build.drop_absent_types``).
    target_reason
        Why police-activity types are in the target; required when they are, shown in reports.
    feature_types
        Types that get their own per-type features. None (default) means the target types.
    police_activity_features
        Must be True for ``feature_types`` to include police-activity types: their records follow
        where police were sent, so using them as predictors feeds that back into the forecast.
    period
        ``"auto"`` (default), ``"week"`` or ``"month"``: the period of the panel. ``auto`` is
        resolved from the data's time resolution by :func:`beatwise.period.resolve_period` (in
        the build_features stage); the table builders take the resolved period.
    lags
        Lags ``k`` in periods of ``cnt_<type>_lag<k><u>`` (1 = last period; ``<u>`` is ``w`` or
        ``m``). The same-period-last-year lag (52 weeks, 12 months) is a separate feature and is
        not allowed here.
    rolling_windows
        Windows ``n`` (periods) of the rolling means ``cnt_<type>_roll<n><u>``.
    decay_half_lives
        Half-lives ``h`` (periods) of the decayed intensities ``nr_<type>_decay<h><u>``.
    rings
        H3 ring distances ``r`` of the spatial lags ``nbr<r>_cnt_all_...``.
    parent_resolutions
        Coarser H3 resolutions ``p`` of the parent-cell features ``par<p>_...``
        (:mod:`features.multires`), finest first; each must be coarser than the study cells'
        (checked against ``cells_meta.json`` by the build_features stage). Empty: none.
    places
        The place covariates (:class:`features.places.PlacesConfig`); ``places.path`` null: none.
    since_cap
        Cap (periods) of ``wks_since_<type>`` / ``mths_since_<type>``; also their value when no
        event was seen yet.
    min_history_periods
        Complete periods of data before the first row of the table.
    holidays_country, holidays_subdiv
        Public-holiday calendar of ``holidays_in_week`` / ``holidays_in_month`` (python-holidays
        codes).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_types: tuple[str, ...] = VICTIM_TYPES
    target_reason: str | None = None
    feature_types: tuple[str, ...] | None = None
    police_activity_features: bool = False
    period: PeriodChoice = "auto"
    lags: tuple[int, ...] = (1, 2, 3, 4)
    rolling_windows: tuple[int, ...] = (4, 13, 52)
    decay_half_lives: tuple[int, ...] = (1, 4)
    rings: tuple[int, ...] = (1, 2)
    parent_resolutions: tuple[int, ...] = ()
    places: PlacesConfig = PlacesConfig()
    since_cap: int = Field(default=104, ge=1, le=1000)
    min_history_periods: int = Field(default=52, ge=1, le=1000)
    holidays_country: str = "GB"
    holidays_subdiv: str | None = "ENG"

    @field_validator("target_types", "feature_types")
    @classmethod
    def _canonical(cls, value: tuple[str, ...] | None, info: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(f"FeatureConfig.{info.field_name} must not be empty.")
        if len(set(value)) != len(value):
            raise ValueError(f"FeatureConfig.{info.field_name} repeats a type. Got {value}.")
        return validate_crime_types(value, what=f"FeatureConfig.{info.field_name}")

    @field_validator("lags")
    @classmethod
    def _lags(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _ascending_unique(value, name="lags", low=1, high=520)

    @field_validator("rolling_windows")
    @classmethod
    def _windows(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _ascending_unique(value, name="rolling_windows", low=1, high=520)

    @field_validator("decay_half_lives")
    @classmethod
    def _half_lives(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _ascending_unique(value, name="decay_half_lives", low=1, high=520)

    @field_validator("rings")
    @classmethod
    def _rings(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _ascending_unique(value, name="rings", low=1, high=5)

    @field_validator("parent_resolutions")
    @classmethod
    def _parents(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= r <= 14 for r in value) or list(value) != sorted(set(value), reverse=True):
            raise ValueError(
                "FeatureConfig.parent_resolutions must hold H3 resolutions in [0, 14], strictly "
                f"descending (finest first), or be empty. Got {list(value)}."
            )
        return value

    @model_validator(mode="after")
    def _period(self) -> FeatureConfig:
        if self.period != "auto":
            check_period_config(self, self.period)
        return self

    @model_validator(mode="after")
    def _police_activity(self) -> FeatureConfig:
        police_targets = [t for t in self.target_types if t in POLICE_ACTIVITY_TYPES]
        if police_targets and not (self.target_reason and self.target_reason.strip()):
            raise ValueError(
                f"FeatureConfig.target_types includes police-activity types {police_targets}; "
                "these are recorded where police look, so a target_reason must say why."
            )
        police_features = [t for t in self.per_type_feature_types if t in POLICE_ACTIVITY_TYPES]
        if police_features and not self.police_activity_features:
            raise ValueError(
                f"FeatureConfig.feature_types includes police-activity types {police_features}; "
                "set police_activity_features: true to use them as predictors."
            )
        try:
            holidays.country_holidays(self.holidays_country, subdiv=self.holidays_subdiv)
        except NotImplementedError as exc:
            raise ValueError(
                f"FeatureConfig.holidays_country/holidays_subdiv must name a python-holidays "
                f"calendar. Got {self.holidays_country!r}/{self.holidays_subdiv!r}: {exc}"
            ) from exc
        return self

    @property
    def per_type_feature_types(self) -> tuple[str, ...]:
        """The canonical types that get per-type features (``feature_types`` or the targets)."""
        return self.feature_types if self.feature_types is not None else self.target_types

    @property
    def type_tokens(self) -> tuple[str, ...]:
        """Type tokens of the per-type feature columns: the feature types, then ``all``."""
        return (*self.per_type_feature_types, ALL)


def check_period_config(config: FeatureConfig, period: Period) -> Period:
    """Check that ``config`` can build a ``period`` panel; return the period.

    Refuses an unknown period, a config whose ``period`` names the other one, and ``lags`` that
    include the same-period-last-year lag (52 weeks or 12 months), which is always its own
    feature ``cnt_<type>_lag52w`` / ``cnt_<type>_lag12m``.
    """
    period = check_period(period)
    if config.period not in ("auto", period):
        raise ValueError(
            f"FeatureConfig.period is {config.period!r}, but a {period!r} panel was asked for. "
            f"Resolve the period once (beatwise.period.resolve_period) and pass that."
        )
    seasonal = seasonal_lag(period)
    if seasonal in config.lags:
        u = period_suffix(period)
        raise ValueError(
            f"FeatureConfig.lags must not include {seasonal} in {period_words(period).adjective} "
            f"mode: same {period} last year is always built as cnt_<type>_lag{seasonal}{u}. "
            f"Got {config.lags}."
        )
    return period


def feature_columns(
    config: FeatureConfig,
    *,
    period: Period,
    static_columns: tuple[str, ...] = (),
    place_kinds: tuple[str, ...] = (),
) -> list[str]:
    """The feature columns ``build_feature_table`` produces, in their stable order.

    Parameters
    ----------
    config
        The feature configuration.
    period
        ``"week"`` or ``"month"``: fixes the unit suffix (``w``/``m``), the seasonal lag, the
        recency and calendar names.
    static_columns
        Names of the static covariates as passed in ``static`` (without the ``static_`` prefix).
    place_kinds
        The place kinds of the ``places`` passed (:attr:`features.places.Places.kinds`).
    """
    period = check_period_config(config, period)
    u = period_suffix(period)
    cols: list[str] = []
    for tok in config.type_tokens:
        cols += [f"cnt_{tok}_lag{k}{u}" for k in config.lags]
        cols += [f"cnt_{tok}_roll{n}{u}" for n in config.rolling_windows]
        cols.append(f"cnt_{tok}_mean_hist")
        cols.append(f"cnt_{tok}_lag{seasonal_lag(period)}{u}")
        cols += [f"nr_{tok}_decay{h}{u}" for h in config.decay_half_lives]
        cols.append(f"{RECENCY_PREFIX[period]}_{tok}")
    for r in config.rings:
        cols += [f"nbr{r}_cnt_{ALL}_{kind}{n}{u}" for kind, n in NEIGHBOUR_BASES[period]]
        cols.append(f"nbr{r}_cnt_{ALL}_mean_hist")
    for p in config.parent_resolutions:
        cols += parent_feature_names(
            p,
            rolling_windows=config.rolling_windows,
            decay_half_lives=config.decay_half_lives,
            suffix=u,
        )
    cols += place_feature_names(
        place_kinds, radius_rings=config.places.radius_rings, recency_prefix=RECENCY_PREFIX[period]
    )
    cols += list(CALENDAR_COLUMNS[period])
    cols += [f"{STATIC_PREFIX}{name}" for name in static_columns]
    return cols


def holidays_per_period(
    starts: npt.NDArray[np.datetime64], *, period: Period, country: str, subdiv: str | None
) -> npt.NDArray[np.int64]:
    """Number of public-holiday dates (observed substitute days included) in each period.

    ``starts`` are period starts in ascending order (ISO Mondays or 1sts of months).
    """
    end = next_period_start(starts[-1:], period=period)[0]
    years = range(int(pd.Timestamp(starts[0]).year), int(pd.Timestamp(end).year) + 1)
    calendar = holidays.country_holidays(country, subdiv=subdiv, years=years)
    dates = np.array(sorted(calendar), dtype="datetime64[D]").astype("datetime64[ns]")
    if dates.size == 0:
        return np.zeros(starts.size, dtype=np.int64)
    hol_periods = period_floor(dates, period=period)
    return np.searchsorted(hol_periods, starts, side="right") - np.searchsorted(
        hol_periods, starts, side="left"
    )


def _static_matrix(
    static: pd.DataFrame | None, cell_ids: npt.NDArray[np.uint64]
) -> tuple[tuple[str, ...], npt.NDArray[np.float32]]:
    """Align static covariates to ``cell_ids``; return (names, float32 [cell, covariate])."""
    if static is None:
        return (), np.empty((cell_ids.size, 0), dtype=np.float32)
    if "h3_int" in static.columns:
        keys = static["h3_int"].to_numpy()
        if keys.dtype != np.uint64:
            raise ValueError(f"static.h3_int must be uint64. Got dtype {keys.dtype}.")
    elif "h3_cell" in static.columns:
        keys = cells_to_int(static["h3_cell"].to_numpy())
    else:
        raise ValueError("static must have an 'h3_int' (uint64) or 'h3_cell' (hex str) column.")
    values = static.drop(columns=[c for c in ("h3_int", "h3_cell") if c in static.columns])
    bad = [c for c in values.columns if not (pd.api.types.is_numeric_dtype(values[c]))]
    if bad:
        raise ValueError(
            f"static covariates must be numeric or bool; select or encode them first. "
            f"Got non-numeric columns: {', '.join(map(str, bad))}."
        )
    names = tuple(str(c) for c in values.columns)
    bad_names = [c for c in names if not (c.isidentifier() and c == c.lower())]
    if bad_names:
        raise ValueError(f"static column names must be snake_case. Got {bad_names}.")
    if keys.size == 0 or len(np.unique(keys)) != keys.size:
        raise ValueError("static must hold exactly one row per cell. Got none or repeats.")
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], cell_ids)
    pos = np.minimum(pos, keys.size - 1)
    found = keys[order][pos] == cell_ids
    if not found.all():
        missing = int((~found).sum())
        raise ValueError(
            f"static lacks {missing} of the {cell_ids.size} study cells "
            f"(first: {int(cell_ids[~found][0]):x}); it must cover every cell."
        )
    if keys.size > cell_ids.size:
        logger.info(
            "static has %d rows outside the study cells; ignored.", keys.size - cell_ids.size
        )
    matrix = values.to_numpy(dtype=np.float32, na_value=np.nan)[order[pos]]
    return names, matrix


def build_feature_table(
    counts: Mapping[str, npt.NDArray[np.integer]],
    *,
    cell_ids: npt.ArrayLike,
    periods: npt.ArrayLike,
    period: Period,
    static: pd.DataFrame | None = None,
    config: FeatureConfig | None = None,
    first_row: int | None = None,
    places: Places | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the cell-period feature table and its metadata.

    Parameters
    ----------
    counts
        ``{crime_type: int array [period, cell]}`` as from :func:`features.panel.count_matrix`;
        must hold every target type and every feature type.
    cell_ids
        Study cells, uint64, strictly ascending (the cell axis of ``counts``).
    periods
        The complete periods of data (the period axis of ``counts``), consecutive period starts.
        There must be at least ``config.min_history_periods`` of them.
    period
        ``"week"`` or ``"month"``: the period of ``periods`` (already resolved, never ``auto``).
    static
        Per-cell covariates: an ``h3_int`` (uint64) or ``h3_cell`` (hex str) key column plus
        numeric columns, each becoming ``static_<name>`` (float32). Must cover every study cell.
    config
        What to build; default :class:`FeatureConfig()`.
    first_row
        The index in ``periods`` of the first row's period; default (and smallest allowed)
        ``config.min_history_periods``. A caller that needs only the forecast period (a loop that
        forecasts week by week) passes ``len(periods)``: every row is computed exactly as in the
        whole table, since a row's features depend only on periods before its own.
    places
        The places file read by :func:`features.places.read_places` (``config.places``) at the
        cells' resolution; None: no place features.

    Returns
    -------
    table : pandas.DataFrame
        One row per (period, cell), sorted by ``period_start`` then ``h3_cell``, for periods from
        ``periods[first_row]`` to the forecast period (the one after ``periods[-1]``).
        Columns: ``h3_cell`` (str), ``period_start`` (datetime64[ns]), the float32 features of
        :func:`feature_columns`, and ``target_count`` (float32; NaN in the forecast period).
    meta : dict
        JSON-ready: ``target_types``, ``feature_types``, ``first_period``,
        ``last_complete_period``, ``forecast_period`` (ISO dates), ``feature_columns``,
        ``n_cells``, ``n_periods`` (rows per cell), ``n_rows`` and ``period``.
    """
    started = time.perf_counter()
    config = config or FeatureConfig()
    period = check_period_config(config, period)
    words = period_words(period)
    u = period_suffix(period)
    cells = validate_cells(cell_ids)
    starts = validate_periods(periods, period=period)
    n_periods, n_cells = starts.size, cells.size
    needed = dict.fromkeys((*config.target_types, *config.per_type_feature_types))
    missing = [t for t in needed if t not in counts]
    if missing:
        raise ValueError(
            f"counts lacks the crime types {missing} that the config needs "
            f"(has: {', '.join(counts)})."
        )
    for name in needed:
        shape = np.shape(counts[name])
        if shape != (n_periods, n_cells):
            raise ValueError(
                f"counts[{name!r}] must have shape [{period}, cell] = ({n_periods}, {n_cells}). "
                f"Got {shape}."
            )
    if n_periods < config.min_history_periods:
        raise ValueError(
            f"build_feature_table needs at least min_history_periods="
            f"{config.min_history_periods} complete {words.plural} of data (params count "
            f"{words.plural} in {words.adjective} mode). Got {n_periods}."
        )
    static_names, static_values = _static_matrix(static, cells)

    first = config.min_history_periods if first_row is None else first_row
    if not config.min_history_periods <= first <= n_periods:
        raise ValueError(
            f"first_row must lie between min_history_periods={config.min_history_periods} and "
            f"the number of periods ({n_periods}). Got {first}."
        )
    rows = np.arange(first, n_periods + 1, dtype=np.int64)  # t = n_periods: the forecast period
    n_rows = rows.size
    all_counts = np.zeros((n_periods, n_cells), dtype=np.int32)
    for name in config.target_types:
        all_counts += np.asarray(counts[name], dtype=np.int32)

    columns: dict[str, npt.NDArray[np.float32]] = {}
    seasonal = seasonal_lag(period)
    for tok in config.type_tokens:
        X = all_counts if tok == ALL else np.asarray(counts[tok], dtype=np.int32)
        S = np.zeros((n_periods + 1, n_cells), dtype=np.int64)
        np.cumsum(X, axis=0, out=S[1:])
        for k in config.lags:
            columns[f"cnt_{tok}_lag{k}{u}"] = lagged(X, rows, k)
        for n in config.rolling_windows:
            columns[f"cnt_{tok}_roll{n}{u}"] = rolling_mean(S, rows, n)
        columns[f"cnt_{tok}_mean_hist"] = history_mean(S, rows)
        columns[f"cnt_{tok}_lag{seasonal}{u}"] = lagged(X, rows, seasonal)
        for h in config.decay_half_lives:
            columns[f"nr_{tok}_decay{h}{u}"] = decayed(X, rows, h)
        columns[f"{RECENCY_PREFIX[period]}_{tok}"] = periods_since(X, rows, config.since_cap)

    S_all = np.zeros((n_periods + 1, n_cells), dtype=np.int64)
    np.cumsum(all_counts, axis=0, out=S_all[1:])
    bases = {
        (kind, n): lagged(all_counts, rows, n) if kind == "lag" else rolling_mean(S_all, rows, n)
        for kind, n in NEIGHBOUR_BASES[period]
    }
    history = history_mean(S_all, rows)
    for r, matrix in ring_mean_matrices(cells, rings=config.rings).items():
        for kind, n in NEIGHBOUR_BASES[period]:
            columns[f"nbr{r}_cnt_{ALL}_{kind}{n}{u}"] = ring_mean(matrix, bases[(kind, n)])
        columns[f"nbr{r}_cnt_{ALL}_mean_hist"] = ring_mean(matrix, history)
    if config.parent_resolutions:
        check_parent_resolutions(
            config.parent_resolutions, cells_resolution=cells_resolution(cells), source="cell_ids"
        )
        columns |= parent_features(
            all_counts,
            rows,
            cell_ids=cells,
            resolutions=config.parent_resolutions,
            rolling_windows=config.rolling_windows,
            decay_half_lives=config.decay_half_lives,
            suffix=u,
        )
    if places is not None:
        columns |= place_features(
            places,
            cell_ids=cells,
            starts=starts,
            rows=rows,
            period=period,
            config=config.places,
            since_cap=config.since_cap,
            recency_prefix=RECENCY_PREFIX[period],
        )

    row_starts = shift_periods(np.full(n_rows, starts[0]), rows, period=period)
    of_year = (
        pd.DatetimeIndex(row_starts).isocalendar()["week"].to_numpy(np.int64)
        if period == "week"
        else pd.DatetimeIndex(row_starts).month.to_numpy(np.int64)
    )
    n_holidays = holidays_per_period(
        row_starts,
        period=period,
        country=config.holidays_country,
        subdiv=config.holidays_subdiv,
    )
    per_period = dict(zip(CALENDAR_COLUMNS[period], (of_year, n_holidays, rows), strict=True))
    flat: dict[str, Any] = {
        "h3_cell": pd.array(np.tile(cells_to_str(cells), n_rows), dtype="str"),
        PERIOD_COLUMN: np.repeat(row_starts, n_cells),
    }
    for name, values in columns.items():
        flat[name] = values.reshape(-1)
    for name in CALENDAR_COLUMNS[period]:
        flat[name] = np.repeat(per_period[name].astype(np.float32), n_cells)
    for j, name in enumerate(static_names):
        flat[f"{STATIC_PREFIX}{name}"] = np.tile(static_values[:, j], n_rows)
    target = np.full((n_rows, n_cells), np.nan, dtype=np.float32)
    target[rows < n_periods] = all_counts[rows[rows < n_periods]]
    flat[TARGET_COLUMN] = target.reshape(-1)

    place_kinds = places.kinds if places is not None else ()
    feature_cols = feature_columns(
        config, period=period, static_columns=static_names, place_kinds=place_kinds
    )
    expected = [*KEY_COLUMNS, *feature_cols, TARGET_COLUMN]
    assert list(flat) == expected, "column order drifted from feature_columns()"
    table = pd.DataFrame(flat, copy=False)

    forecast_period = next_period_start(starts[-1:], period=period)[0]
    meta: dict[str, Any] = {
        "target_types": list(config.target_types),
        "feature_types": list(config.per_type_feature_types),
        "first_period": str(np.datetime_as_string(row_starts[0], unit="D")),
        "last_complete_period": str(np.datetime_as_string(starts[-1], unit="D")),
        "forecast_period": str(np.datetime_as_string(forecast_period, unit="D")),
        "feature_columns": feature_cols,
        "n_cells": int(n_cells),
        "n_periods": int(n_rows),
        "n_rows": len(table),
        "period": period,
    }
    logger.info(
        "Built %d feature rows (%d cells x %d %s, %s to forecast %s %s), %d features, in %.1f s.",
        len(table),
        n_cells,
        n_rows,
        words.plural,
        meta["first_period"],
        period,
        meta["forecast_period"],
        len(feature_cols),
        time.perf_counter() - started,
    )
    return table, meta
