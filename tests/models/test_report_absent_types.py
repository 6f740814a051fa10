"""The documents name the configured crime types absent from the data as not forecast, take them
from panel_meta.json, and say when the backtest window was fixed in params."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
import stage_files
from audit_inputs import audited_city_report, make_metrics, report_context

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from models.report import (
    DataQualitySummary,
    build_record,
    document_dates,
    render_bias_report,
    render_model_card,
)
from models.report import report_context as context_of

ABSENT = ("theft_person", "shoplifting", "bicycle_theft")
SENTENCE = "Configured but absent from the data, so not forecast: "
NAMES = "Theft from the person, Shoplifting, Bicycle theft"


@pytest.fixture(scope="module")
def audit() -> Any:
    return audited_city_report()


def _documents(audit: Any, absent: tuple[str, ...]) -> tuple[str, str, str]:
    context = report_context().model_copy(update={"absent_types": absent})
    metrics = make_metrics()
    html = render_bias_report(
        audit, metrics=metrics, data_quality=DataQualitySummary(), context=context
    )
    card = render_model_card(audit, metrics=metrics, context=context)
    record = build_record(
        audit, metrics=metrics, context=context, dates=document_dates(context, metrics)
    )
    return html, card, record.tier2_tool_specification.target


def test_the_documents_name_absent_types_as_not_forecast(audit: Any) -> None:
    html, card, target = _documents(audit, ABSENT)
    assert f"{SENTENCE}{NAMES}." in card
    assert f"so not forecast and given no features: {NAMES}." in html
    assert target.endswith(f"{SENTENCE}{NAMES}.")
    # the target line lists what is forecast, not the absent types
    target_line = next(line for line in card.splitlines() if line.startswith("- Target:"))
    assert target_line.split(SENTENCE)[0].count("Shoplifting") == 0


def test_without_absent_types_the_documents_say_nothing_of_them(audit: Any) -> None:
    html, card, target = _documents(audit, ())
    assert "absent from the data" not in card + html + target


def _context(panel: PanelMeta, metrics: BacktestMetrics) -> Any:
    model = ModelMeta.from_json(
        {
            "best_rounds": 10,
            "feature_columns": ["cnt_all_lag1w"],
            "mlflow_run_id": "run-1",
            "model_version": "v1",
            "registered_model": "beatwise-risk",
            "registered_version": "1",
            "period": "week",
            "trained_periods": ["2024-01-01", "2024-03-18"],
        }
    )
    quality = DataQualitySummary.from_dict(
        {
            "date_min": "2023-10-02",
            "date_max": "2024-03-24",
            "rows_read": 10,
            "rows_accepted": 9,
            "place": "the synthetic London-like city",
        }
    )
    cells = pd.DataFrame({"area_km2": [0.7, 0.7], "residents": [10.0, 20.0]})
    return context_of(panel, model, metrics, quality, cells, audit_date=dt.date(2024, 3, 25))


def test_the_report_context_takes_absent_types_from_panel_meta() -> None:
    note = "Configured crime types with no accepted event ...: theft_person."
    panel = PanelMeta.from_json(
        stage_files.panel_meta(absent_types=["theft_person"], absent_types_note=note)
    )
    ctx = _context(panel, make_metrics())
    assert ctx.absent_types == ("theft_person",)
    assert ctx.target_types == ("burglary",)
    assert ctx.backtest_period == "2024-01-01 to 2024-03-24 (the last 12 labelled weeks)"


def test_the_report_context_says_a_fixed_window_was_fixed() -> None:
    panel = PanelMeta.from_json(stage_files.panel_meta())
    fixed = make_metrics().model_copy(update={"backtest_window": "fixed"})
    ctx = _context(panel, fixed)
    assert ctx.absent_types == ()
    assert ctx.backtest_period == (
        "2024-01-01 to 2024-03-24 (a fixed window, evaluate.backtest_first to backtest_last)"
    )
