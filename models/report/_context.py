"""What the documents describe: the model, its run, its dates, the study area, the data, who
answers for it (params ``governance``) and where the documents sit beside each other."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from beatwise.artefacts.cells import STUDY_AREA_RULE_WORDS
from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.quality import SOURCE_WORDS
from beatwise.period import Period, last_day, period_words
from beatwise.taxonomy import validate_crime_types
from models.audit import RECORD_FILE, TargetDefinition
from models.governance import GovernanceConfig
from models.report._quality import DataQualitySummary


class DocumentLinks(BaseModel):
    """The file names by which the documents link each other; they sit in one folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bias_report: str = "bias_report.html"
    model_card: str = "model_card.md"
    record_md: str = RECORD_FILE
    record_json: str = "transparency_record.json"
    audit_json: str = "audit.json"


@dataclass(frozen=True)
class DocumentPaths:
    """Where the audit stage writes its files. They link each other by file name, so they must
    sit in one folder (refused otherwise, naming each path)."""

    audit_json: Path
    bias_report: Path
    model_card: Path
    record_md: Path
    record_json: Path

    def __post_init__(self) -> None:
        paths = {f.name: getattr(self, f.name) for f in fields(self)}
        if len({str(Path(p).parent) for p in paths.values()}) != 1:
            raise ValueError(
                "The audit's documents link each other by file name, so they must be written to "
                f"one folder. Got {', '.join(f'{k}: {p}' for k, p in paths.items())}."
            )

    @property
    def links(self) -> DocumentLinks:
        """The file names by which the documents link each other."""
        return DocumentLinks(**{f.name: Path(getattr(self, f.name)).name for f in fields(self)})


class ReportContext(BaseModel):
    """What the documents describe: model version, run, dates, study area, data, governance.

    ``audit_date`` (the audit's run date) and ``forecast_period`` are passed in, never read from
    the clock, so that the documents are a function of their inputs. ``period``
    (``panel_meta.json``) sets the words: "the coming week" or "the coming month", cell-weeks or
    cell-months.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_version: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    #: the day the audit judged the gates (``AuditSetup.run_date``)
    audit_date: dt.date
    #: the first day of the period the published forecast is for
    forecast_period: dt.date
    #: the study area in a sentence: its name, cells, land, residents and the rule that chose
    #: the cells
    study_area: str = Field(min_length=1)
    #: the place's name (``data_quality.json``'s ``place``), for titles; None: ``study_area``
    place: str | None = Field(default=None, min_length=1)
    model_type: str = "LightGBM gradient-boosted trees with a Poisson objective"
    #: how the backtest chose the model's configuration (the select stage), in words
    model_selection: str | None = None
    model_params: dict[str, Any] = Field(default_factory=dict)
    target_types: tuple[str, ...] = Field(min_length=1)
    #: configured types with no event in the data: not forecast (``panel_meta.json``)
    absent_types: tuple[str, ...] = ()
    police_activity_reasons: dict[str, str] = Field(default_factory=dict)
    published_resolution: int = Field(ge=0, le=15)
    backtest_period: str = Field(min_length=1)
    training_data: str = Field(min_length=1)
    evaluation_data: str = Field(min_length=1)
    period: Period = "week"
    #: the cell attributes the model sees besides the crime counts (``panel_meta.json``)
    static_covariates: tuple[str, ...] = ()
    #: who answers for the forecast (params ``governance``); default: research, nothing filled
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    links: DocumentLinks = Field(default_factory=DocumentLinks)

    def model_post_init(self, __context: Any) -> None:
        validate_crime_types(self.target_types, what="ReportContext.target_types")
        if self.absent_types:
            validate_crime_types(self.absent_types, what="ReportContext.absent_types")

    @property
    def title_place(self) -> str:
        """What titles name: the place, or the study-area sentence when no name was given."""
        return self.place if self.place is not None else self.study_area


def report_context(
    panel: PanelMeta,
    model: ModelMeta,
    metrics: BacktestMetrics,
    quality: DataQualitySummary,
    cells: pd.DataFrame,
    *,
    audit_date: dt.date,
    governance: GovernanceConfig | None = None,
    paths: DocumentPaths | None = None,
) -> ReportContext:
    """The context of the audit stage's documents, from the typed stage files and the cells.

    ``audit_date`` is the audit's run date; the forecast period is the panel's; the target is the
    panel's
    (:meth:`TargetDefinition.with_reason`, as the audit reads it); the documents add the number
    of backtest periods and cells themselves. The place is the data-quality summary's
    (``ingest.place``) and the study-area rule the metrics' (``cells_meta.json``). Refuses a
    data-quality summary without the place, dates and row counts the documents state.
    """
    missing = [
        key
        for key in ("place", "date_min", "date_max", "rows_accepted", "rows_read")
        if getattr(quality, key) is None
    ]
    if missing:
        raise ValueError(f"data_quality.json lacks {missing}, which the documents state.")
    words = period_words(panel.period)
    target = TargetDefinition.with_reason(panel.target_types, panel.target_reason)
    assert quality.place is not None  # checked above
    rule = (
        ""
        if metrics.study_area is None
        else f"; the study area is {STUDY_AREA_RULE_WORDS[metrics.study_area]}"
    )
    source = SOURCE_WORDS.get(panel.source, "events")
    model_type = ReportContext.model_fields["model_type"].default
    if model.blend is not None:  # train.blend: the published expected count is a blend
        pairs = zip(model.blend.parts, model.blend.weights, strict=True)
        mix = ", ".join(f"{part} {weight:g}" for part, weight in pairs)
        model_type += (
            f", blended with the baselines {', '.join(model.blend.parts[1:])} (weights {mix}, "
            f"fitted on {model.blend.holdout_periods[0]} to {model.blend.holdout_periods[1]})"
        )
    return ReportContext(
        model_version=model.model_version,
        run_id=model.mlflow_run_id,
        audit_date=audit_date,
        forecast_period=panel.forecast_period,
        study_area=f"{quality.place} ({len(cells):,} H3 cells at resolution "
        f"{panel.h3_resolution}, {cells['area_km2'].sum():,.0f} km², "
        f"{cells['residents'].sum():,.0f} residents{rule})",
        place=quality.place,
        model_type=model_type,
        model_selection=model.selection,
        model_params={"best_rounds": model.best_rounds},
        target_types=target.target_types,
        absent_types=panel.absent_types,
        police_activity_reasons=target.police_activity_reasons,
        published_resolution=panel.h3_resolution,
        backtest_period=f"{metrics.backtest_first_period} to "
        f"{last_day(metrics.backtest_last_period, period=panel.period)} ("
        + (
            "a fixed window, evaluate.backtest_first to backtest_last)"
            if metrics.backtest_window == "fixed"
            else f"the last {metrics.n_backtest_periods} labelled {words.plural})"
        ),
        training_data=f"{source}, {quality.date_min} to {quality.date_max}; "
        f"{quality.rows_accepted:,} accepted of {quality.rows_read:,} read; the model was "
        f"fitted on the {words.plural} {model.trained_periods[0]} to "
        f"{model.trained_periods[1]}, earlier data reaching it only through the features "
        "(lags, long-run means)",
        evaluation_data=f"rolling-origin backtest: each {panel.period} forecast by a model "
        f"trained on earlier {words.plural} only (refit every {metrics.refit_every} "
        f"{words.plural})",
        period=panel.period,
        static_covariates=panel.static_covariates,
        governance=governance or GovernanceConfig(),
        links=paths.links if paths is not None else DocumentLinks(),
    )
