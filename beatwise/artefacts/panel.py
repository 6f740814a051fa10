"""``data/processed/panel_meta.json``: the panel's period, space and columns, written by
``build_features`` and read by ``train``, ``evaluate``, ``audit`` and ``publish``."""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import Field, model_validator

from beatwise.artefacts._base import Artefact
from beatwise.h3index import MAX_RESOLUTION, MIN_RESOLUTION
from beatwise.period import PERIOD_COLUMN, Period, TimeResolution

#: the column of ``features.parquet`` holding each row's target (null in the forecast period)
TARGET_COLUMN = "target_count"


class PanelMeta(Artefact):
    """What every later stage needs to know about the cell-period panel, decided once."""

    #: the forecast period (``features.period`` resolved against the data's time resolution)
    period: Period
    #: the source kind (``ingest.source``), e.g. ``synthetic``
    source: str
    time_resolution: TimeResolution
    #: H3 resolution of the study cells (from ``cells_meta.json``; ``cells.h3_resolution``)
    h3_resolution: int = Field(ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    #: the configured target types present in the data: what the forecast predicts
    target_types: tuple[str, ...] = Field(min_length=1)
    target_reason: str | None = None
    #: the types with per-type features (present in the data)
    feature_types: tuple[str, ...]
    #: configured target or feature types with no accepted event in the panel's whole history:
    #: no per-type features, not forecast (``features.build.drop_absent_types``)
    absent_types: tuple[str, ...] = ()
    #: the sentence saying so, for the reports; None when no configured type is absent
    absent_types_note: str | None = None
    static_covariates: tuple[str, ...]
    feature_columns: tuple[str, ...] = Field(min_length=1)
    #: first period with a feature row
    first_period: dt.date
    #: the last period whose target is known
    last_complete_period: dt.date
    #: the period published forecasts are for (the one after ``last_complete_period``)
    forecast_period: dt.date
    #: first and last period of data (the panel of counts the features are built from)
    all_periods: tuple[dt.date, dt.date]
    n_cells: int = Field(ge=1)
    n_periods: int = Field(ge=1)
    n_rows: int = Field(ge=1)
    #: the last complete period the model and its backtest are fitted through (the refresh
    #: schedule's fit point, ``features.refresh``); None: ``last_complete_period``
    fit_through: dt.date | None = None

    @property
    def fitted_through(self) -> dt.date:
        """The period the model serving this panel must have been fitted through."""
        return self.last_complete_period if self.fit_through is None else self.fit_through

    @model_validator(mode="after")
    def _absent_apart(self) -> Self:
        both = sorted(set(self.absent_types) & {*self.target_types, *self.feature_types})
        if both:
            raise ValueError(f"absent_types {both} are also target or feature types")
        if bool(self.absent_types) != (self.absent_types_note is not None):
            raise ValueError("absent_types and absent_types_note go together")
        if self.fit_through is not None and self.fit_through > self.last_complete_period:
            raise ValueError(
                f"fit_through {self.fit_through} lies after the last complete period "
                f"{self.last_complete_period}"
            )
        return self

    def table_columns(self) -> tuple[str, ...]:
        """The columns of the ``features.parquet`` this panel describes, in order: the keys
        (``h3_cell``, ``period_start``), the feature columns and the target."""
        return ("h3_cell", PERIOD_COLUMN, *self.feature_columns, TARGET_COLUMN)
