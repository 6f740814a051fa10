"""The documents' dates, each labelled by what it is the date of.

Every document (the bias report, the model card, the transparency record) states the same
dates in the same words: the day the audit ran (``AuditSetup.run_date``, the audit stage's
``--run-date``), the period the published forecast is for, the backtest period the audit judged,
and when the owner last reviewed the accountability fields. None of them is read from the clock
here: the documents are a function of their inputs, the run date among them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.period import Period, last_day, period_words
from models.report._context import ReportContext


@dataclass(frozen=True)
class DateLine:
    """One date of the documents: its label, the date(s) in words, and what it is the date of."""

    label: str
    value: str
    meaning: str


# day and month names spelled here, not by strftime, whose names follow the machine's locale
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def period_span(start: dt.date, period: Period) -> str:
    """A period in words: "Monday 2024-12-30 to Sunday 2025-01-05 (ISO week 2025-W01)" or
    "January 2025 (2025-01-01 to 2025-01-31)"."""
    end = last_day(start, period=period)
    if period == "week":
        year, week, _ = start.isocalendar()
        return (
            f"{_DAYS[start.weekday()]} {start.isoformat()} to {_DAYS[end.weekday()]} "
            f"{end.isoformat()} (ISO week {year}-W{week:02d})"
        )
    return f"{_MONTHS[start.month - 1]} {start.year} ({start.isoformat()} to {end.isoformat()})"


@dataclass(frozen=True)
class DocumentDates:
    """The dates every document states."""

    audit_run: dt.date
    forecast_start: dt.date
    forecast_end: dt.date
    backtest_first: dt.date
    backtest_end: dt.date
    lines: tuple[DateLine, ...]


def document_dates(ctx: ReportContext, metrics: BacktestMetrics) -> DocumentDates:
    """The audit's run date, the forecast period, the backtest period and the accountability
    fields' last review, as every document prints them."""
    words = period_words(ctx.period)
    n = metrics.n_backtest_periods
    backtest_end = last_day(metrics.backtest_last_period, period=ctx.period)
    reviewed = ctx.governance.last_reviewed
    lines = (
        DateLine(
            "Audit run on",
            ctx.audit_date.isoformat(),
            "the day the audit judged the gates and any expiry date; what it judged is the "
            "backtest below, not the forecast period",
        ),
        DateLine(
            "Forecast period",
            period_span(ctx.forecast_period, ctx.period),
            f"the {words.singular} the published forecast is for",
        ),
        DateLine(
            "Backtest period",
            f"{metrics.backtest_first_period.isoformat()} to {backtest_end.isoformat()} "
            f"({n} {words.singular if n == 1 else words.plural})",
            f"the past {words.plural} every figure and gate of the audit is measured over, each "
            f"forecast by a model trained only on earlier {words.plural}"
            + (
                "; a fixed window set in params (evaluate.backtest_first to backtest_last)"
                if metrics.backtest_window == "fixed"
                else ""
            ),
        ),
        DateLine(
            "Accountability fields last reviewed",
            reviewed.isoformat() if reviewed else "never",
            "when the owner last reviewed who answers for the forecast, in params governance"
            if reviewed
            else "no owner has reviewed who answers for the forecast, in params governance",
        ),
    )
    return DocumentDates(
        audit_run=ctx.audit_date,
        forecast_start=ctx.forecast_period,
        forecast_end=last_day(ctx.forecast_period, period=ctx.period),
        backtest_first=metrics.backtest_first_period,
        backtest_end=backtest_end,
        lines=lines,
    )
