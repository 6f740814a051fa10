"""Inputs of the audit and report tests: a typed ``backtest_metrics.json`` with hand-set figures, a
small city's cells and backtest as the evaluate stage writes them, and the feedback stage's
report (G11 PASS, ``feedback_inputs``) in the stage's setup."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from feedback_inputs import make_feedback

from beatwise.artefacts.audit import AuditReport
from beatwise.artefacts.metrics import BacktestMetrics, ForecastScores, Lift
from beatwise.period import Period
from models.audit import (
    AttributeSpec,
    AuditConfig,
    AuditSetup,
    BacktestArrays,
    GranularityCheck,
    GroupSpec,
    StratumSpec,
    TargetDefinition,
    audit_backtest,
)
from models.metrics import flag_top_area
from models.report import DataQualitySummary, ReportContext, document_audit


def _scores(coverage: float, hr: float, pai: float, pei: float) -> ForecastScores:
    return ForecastScores(
        hr={coverage: hr},
        pai={coverage: pai},
        pei={coverage: pei},
        poisson_deviance=None,
        calibration_oe=None,
        churn=None,
    )


def make_metrics(
    *,
    estimate: float | None = 1.12,
    ci: tuple[float | None, float | None] = (1.04, 1.21),
    coverage: float = 0.05,
    last_week: str = "b1_last_week",
    period: Period = "week",
) -> BacktestMetrics:
    """The model at PAI 6.2 and two baselines; the lift is over ``b4_all_history``, the best."""
    return BacktestMetrics(
        period=period,
        coverage=coverage,
        coverages=(coverage,),
        model=_scores(coverage, 0.31, 6.2, 0.71),
        baselines={
            last_week: _scores(coverage, 0.2, 4.0, 0.45),
            "b4_all_history": _scores(coverage, 0.28, 5.5, 0.63),
        },
        best_baseline="b4_all_history",
        lift=Lift(baseline="b4_all_history", estimate=estimate, ci_low=ci[0], ci_high=ci[1]),
        backtest_first_period=dt.date(2024, 1, 1),
        backtest_last_period=dt.date(2024, 3, 18),
        n_backtest_periods=12,
        n_periods_without_events=0,
        n_cells=400,
        refit_every=4,
    )


N_CELLS, N_WEEKS, COVERAGE = 300, 16, 0.05
CONFIG = AuditConfig(
    attributes=(
        AttributeSpec(
            name="ethnicity",
            groups={
                "minority": GroupSpec(column="res_minority", label="residents of minority groups"),
                "majority": GroupSpec(column="res_rest", label="residents of the majority group"),
            },
        ),
    ),
    strata=(StratumSpec(name="minority_share", column="minority_share", label="minority share"),),
    min_flagged_cell_periods=5,
    min_residents=1000,
    n_boot=100,
)
SETUP = AuditSetup(
    config=CONFIG,
    target=TargetDefinition(target_types=("burglary",)),
    granularity=GranularityCheck(published_resolution=8, max_resolution=9, event_level_rows=False),
    run_date=dt.date(2024, 4, 22),
    feedback=make_feedback("PASS"),
)


def city(*, truth: str = "own") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells and a backtest frame as evaluate writes it (flags: top 5% of area by risk_score).

    ``truth``: ``"own"`` (a true risk of its own), ``"model"`` (the model's scores) or ``"none"``
    (real data: no truth, so the reference is ``score_all_history``).
    """
    rng = np.random.default_rng(4)
    lam = rng.lognormal(-0.5, 0.7, N_CELLS)
    share = rng.uniform(0.05, 0.7, N_CELLS)
    residents = np.full(N_CELLS, 400.0)
    ids = np.arange(1, N_CELLS + 1, dtype=np.uint64) * np.uint64(7919)
    cells = pd.DataFrame(
        {
            "h3_cell": [f"{i:015x}" for i in ids],
            "h3_int": ids,
            "area_km2": rng.uniform(0.5, 1.5, N_CELLS),
            "residents": residents,
            "res_minority": residents * share,
            "res_rest": residents * (1 - share),
            "minority_share": share,
            "lon": rng.uniform(-0.1, 0.1, N_CELLS),
            "lat": rng.uniform(51.4, 51.6, N_CELLS),
        }
    )
    weeks = pd.date_range("2024-01-01", periods=N_WEEKS, freq="7D")
    y = rng.poisson(lam, size=(N_WEEKS, N_CELLS)).astype(float)
    model = np.tile(lam * rng.uniform(0.8, 1.2, N_CELLS), (N_WEEKS, 1))
    true = {"own": np.tile(lam, (N_WEEKS, 1)), "model": model, "none": np.full(model.shape, np.nan)}
    flagged = flag_top_area(
        model, areas_km2=cells["area_km2"].to_numpy(), cell_ids=ids, coverage=COVERAGE
    )
    backtest = pd.DataFrame(
        {
            "period_start": np.repeat(weeks, N_CELLS),
            "h3_cell": np.tile(cells["h3_cell"], N_WEEKS),
            "target_count": y.ravel(),
            "risk_score": model.ravel(),
            "score_b4_all_history": np.tile(lam * 0.9 + 0.1, N_WEEKS),
            "score_all_history": np.tile(lam * 0.9 + 0.1, N_WEEKS),
            "truth_recorded": true[truth].ravel(),
            "truth_committed": 1.25 * true[truth].ravel(),
            "flagged": flagged.ravel(),
        }
    )
    return cells, backtest


def report_context() -> ReportContext:
    """What the audit stage tells the documents about the run (a toy city's)."""
    return ReportContext(
        model_version="v-json",
        run_id="run-7",
        audit_date=dt.date(2024, 4, 22),
        forecast_period=dt.date(2024, 4, 22),
        study_area="Toy City",
        target_types=("burglary", "drugs"),
        published_resolution=8,
        backtest_period="2024-01-01 to 2024-04-15",
        training_data="Synthetic events before the backtest.",
        evaluation_data="Synthetic events in the backtest weeks.",
    )


def pass_with_review(report: AuditReport) -> AuditReport:
    """``report`` as an audit whose hard gates all pass and whose G2 is in review."""
    raw = report.to_json()
    for gate in raw["gates"].values():
        gate["status"] = "PASS"
    raw["gates"]["G2"]["status"] = "REVIEW"
    raw.update(blocking_gates=[], review_gates=["G2"], override_applied=None, publishable=True)
    return AuditReport.from_json(raw)


def blocked_on_g3(report: AuditReport) -> AuditReport:
    """``report`` as an audit that G3 blocks at 0.52 [0.50, 0.53]; every other gate passes."""
    raw = pass_with_review(report).to_json()
    raw["gates"]["G3"].update(status="FAIL", value=0.52, ci_low=0.5, ci_high=0.53)
    raw.update(blocking_gates=["G3"], review_gates=[], publishable=False)
    raw["gates"]["G2"]["status"] = "PASS"
    return AuditReport.from_json(raw)


def audited_city_report() -> AuditReport:
    """The audit stage's ``audit.json`` for the small city, G10 judged on the documents."""
    cells, backtest = city()
    metrics = make_metrics()
    result = audit_backtest(
        BacktestArrays.from_frames(backtest, cells),
        setup=SETUP,
        metrics=metrics,
    )
    docs = document_audit(
        result, metrics=metrics, data_quality=DataQualitySummary(), context=report_context()
    )
    return docs.audit
