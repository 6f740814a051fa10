"""The weekly refresh: which data the model and its backtest are fitted on, on a schedule.

Every run forecasts the period after the newest complete one, from the newest events. The model
and its backtest need not follow every period: with ``refresh.refit_model_every: k``, they are
fitted on the data **as they stood at the end of the latest fit point**, a period whose number
(weeks since Monday 5 January 1970, or months since January 1970) is a multiple of ``k``. The
fit points are fixed on the calendar, not counted from the data's start, so appending a period
moves the fit point only when it reaches the next one.

``build_features`` writes that *fit set* beside the full panel: the features and
``panel_meta.json`` that ``build_features`` would write if the data ended with the fit point,
the events before its end (:func:`fit_set`; the stage keeps the columns its readers take), and
the data-quality record of the rows dated before its end (:func:`quality_through`), which the
audit's documents print. ``train``, ``evaluate`` and ``audit`` read the fit set, ``publish`` the
full panel. Between fit points the fit set is byte for byte what it was, so DVC re-runs none of
the stages that read it: a week's refresh re-runs ingest, cells, features and the forecast, and
reuses the model, the backtest and the audit that approved them. The fit set
changes, and everything downstream re-runs, when the schedule reaches a new fit point or when
any event before the fit point's end changed (a revised earlier month, a late report), since the
fit set is rebuilt from the events every run. With ``k = 1`` (the default) the fit point is the
newest complete period and the fit set is the full panel: every run refits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.quality import DataQuality
from beatwise.period import Period, next_period_start
from features.ingest.quality import summarise_quality
from features.ingest.validation import ValidatedEvents

#: the Monday weeks are numbered from (week 0)
WEEK_ZERO: Final[dt.date] = dt.date(1970, 1, 5)


class RefreshConfig(BaseModel):
    """How often the model and its backtest are refitted (``refresh``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: periods between fit points (1: every run refits on all the data)
    refit_model_every: int = Field(1, ge=1, le=520)


def period_number(start: dt.date, *, period: Period) -> int:
    """Weeks since Monday 5 January 1970, or months since January 1970, of a period's start."""
    if period == "month":
        return (start.year - 1970) * 12 + start.month - 1
    return (start - WEEK_ZERO).days // 7


def fit_point(last_complete: dt.date, *, period: Period, every: int) -> dt.date:
    """The latest period at or before ``last_complete`` whose number is a multiple of ``every``."""
    back = period_number(last_complete, period=period) % every
    if period == "month":
        months = last_complete.year * 12 + last_complete.month - 1 - back
        return dt.date(months // 12, months % 12 + 1, 1)
    return last_complete - dt.timedelta(weeks=back)


def fit_end(point: dt.date, *, period: Period) -> pd.Timestamp:
    """The exclusive end of the fit point's period: where the fit set's data stop."""
    return pd.Timestamp(next_period_start(np.array([np.datetime64(point, "ns")]), period=period)[0])


@dataclass(frozen=True)
class FitSet:
    """The data the model and its backtest are fitted on (see the module's docstring)."""

    table: pd.DataFrame
    meta: PanelMeta
    #: the events before the fit point's end, with the columns of the events given to
    #: :func:`fit_set` (the stage gives the panel's and ``source_file``)
    events: pd.DataFrame
    #: the full panel's meta, recording the fit point (``fit_through``): ``panel_meta.json``
    full_meta: PanelMeta
    #: the exclusive end of the fit set's data (the end of the fit point's period)
    end: pd.Timestamp
    #: why the fit set is the full panel though the schedule says otherwise; None otherwise
    note: str | None = None

    def _with(self, note: str) -> FitSet:
        return FitSet(self.table, self.meta, self.events, self.full_meta, self.end, note)


#: builds a panel from events and the exclusive end of the data: ``build_panel`` with the stage's
#: cells and params bound
PanelBuilder = Callable[[pd.DataFrame, pd.Timestamp], tuple[pd.DataFrame, PanelMeta]]


def fit_set(
    events: pd.DataFrame,
    table: pd.DataFrame,
    meta: PanelMeta,
    *,
    build: PanelBuilder,
    config: RefreshConfig,
) -> FitSet:
    """The fit set of a run whose full panel is ``table``/``meta``, built from ``events``.

    ``build`` must be the builder that made the full panel, so that the fit set is exactly what
    a run on the events before the fit point's end would build. A fit set whose feature columns
    differ from the full panel's (a crime type first recorded after the fit point) could not
    score the newest period: then the fit set is the full panel, and ``note`` says why.
    """
    point = fit_point(meta.last_complete_period, period=meta.period, every=config.refit_model_every)
    end = fit_end(point, period=meta.period)
    before = events[events["timestamp"] < end]
    if point == meta.last_complete_period:
        full = meta.model_copy(update={"fit_through": point})
        return FitSet(table=table, meta=full, events=before, full_meta=full, end=end)
    fit_table, fit_meta = build(before, end)
    if fit_meta.feature_columns != meta.feature_columns:
        note = (
            f"the data through {point} (the fit point of refresh.refit_model_every="
            f"{config.refit_model_every}) have other feature columns than the data through "
            f"{meta.last_complete_period}; the model is refitted on all the data this run"
        )
        return fit_set(events, table, meta, build=build, config=RefreshConfig())._with(note)
    return FitSet(
        table=fit_table,
        meta=fit_meta.model_copy(update={"fit_through": point}),
        events=before,
        full_meta=meta.model_copy(update={"fit_through": point}),
        end=end,
    )


def quality_through(
    quality: DataQuality, events: pd.DataFrame, quarantine: pd.DataFrame, *, end: pd.Timestamp
) -> DataQuality:
    """The data-quality record of the rows dated before ``end``: the data as of the fit point.

    ``events`` are the fit set's accepted events (:attr:`FitSet.events`); ``quarantine`` is the
    ingest stage's (``timestamp``, ``reason`` and ``source_file`` are read). A quarantined row
    counts when its time is before ``end`` or could not be read (it cannot be placed in time,
    so every fit set counts it). Rows read, accepted and quarantined, by reason, file and type,
    and the dates are counted again over those rows, by the ingest stage's own
    :func:`~features.ingest.quality.summarise_quality`; what describes the source as a whole
    (the place, the areas, the empty files, the time resolution, the bound on the quarantine's
    share) is ``quality``'s. Between fit points the record is the same bytes whatever the newer
    weeks hold, so the audit, which prints it, need not run again; a revised or late row dated
    before ``end`` changes it, as it changes the fit set.
    """
    kept = quarantine[~(quarantine["timestamp"] >= end).to_numpy(dtype=bool)]
    files = pd.concat(
        [events["source_file"].astype(str), kept["source_file"].astype(str)], ignore_index=True
    )
    counted = summarise_quality(
        ValidatedEvents(accepted=events, quarantine=kept, rows_read=len(events) + len(kept)),
        by_file_read=files.value_counts(),
        source=quality.source,
        place=quality.place,
        areas=quality.areas,
        empty_files=quality.empty_files,
        max_quarantine_share=quality.max_quarantine_share,
    )
    return counted.model_copy(update={"time_resolution": quality.time_resolution})
