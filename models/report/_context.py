"""What the documents describe: the model, its run and date, the study area and the data."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.period import Period, period_words
from beatwise.taxonomy import validate_crime_types
from models.audit import TargetDefinition
from models.report._quality import DataQualitySummary

#: how the documents name the study area of each ingest source
STUDY_AREA_NAMES: Final[dict[str, str]] = {"synthetic": "synthetic London-like city"}


class ReportContext(BaseModel):
    """What the documents describe: model version, run, date, study area and data.

    ``report_date`` is passed in (never read from the clock) so that output is reproducible.
    ``period`` (``panel_meta.json``) sets the words: "the coming week" or "the coming month",
    cell-weeks or cell-months.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_version: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    report_date: dt.date
    study_area: str = Field(min_length=1)
    model_type: str = "LightGBM gradient-boosted trees with a Poisson objective"
    model_params: dict[str, Any] = Field(default_factory=dict)
    target_types: tuple[str, ...] = Field(min_length=1)
    police_activity_reasons: dict[str, str] = Field(default_factory=dict)
    published_resolution: int = Field(ge=0, le=15)
    backtest_period: str = Field(min_length=1)
    training_data: str = Field(min_length=1)
    evaluation_data: str = Field(min_length=1)
    period: Period = "week"
    contact: str = "the Beatwise maintainers"

    def model_post_init(self, __context: Any) -> None:
        validate_crime_types(self.target_types, what="ReportContext.target_types")


def report_context(
    panel: PanelMeta,
    model: ModelMeta,
    metrics: BacktestMetrics,
    quality: DataQualitySummary,
    cells: pd.DataFrame,
) -> ReportContext:
    """The context of the audit stage's documents, from the typed stage files and the cells.

    The report date is the forecast period's start; the target is the panel's
    (:meth:`TargetDefinition.with_reason`, as the audit reads it); the documents add the number
    of backtest periods and cells themselves. Refuses a data-quality summary without the dates
    and row counts the documents state.
    """
    missing = [
        key
        for key in ("date_min", "date_max", "rows_accepted", "rows_read")
        if getattr(quality, key) is None
    ]
    if missing:
        raise ValueError(f"data_quality.json lacks {missing}, which the documents state.")
    words = period_words(panel.period)
    target = TargetDefinition.with_reason(panel.target_types, panel.target_reason)
    place = STUDY_AREA_NAMES.get(panel.source, panel.source)
    return ReportContext(
        model_version=model.model_version,
        run_id=model.mlflow_run_id,
        report_date=panel.forecast_period,
        study_area=f"the {place} ({len(cells):,} H3 cells at resolution {panel.h3_resolution}, "
        f"{cells['area_km2'].sum():,.0f} km², {cells['residents'].sum():,.0f} residents)",
        model_params={"best_rounds": model.best_rounds},
        target_types=target.target_types,
        police_activity_reasons=target.police_activity_reasons,
        published_resolution=panel.h3_resolution,
        backtest_period=f"{metrics.backtest_first_period} to {metrics.backtest_last_period}",
        training_data=f"{panel.source} events, {quality.date_min} to {quality.date_max}; "
        f"{quality.rows_accepted:,} accepted of {quality.rows_read:,} read",
        evaluation_data=f"rolling-origin backtest: each {panel.period} forecast by a model "
        f"trained on earlier {words.plural} only (refit every {metrics.refit_every} "
        f"{words.plural})",
        period=panel.period,
    )
