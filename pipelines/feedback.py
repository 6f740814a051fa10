"""Stage ``feedback``: does the forecast feed on itself? The closed loop on the synthetic city.

Runs the pipeline's own features, model, ranking and coverage in a closed loop with the synthetic
city (:mod:`models.feedback`): each week it forecasts, flags, patrol rises in the flagged cells,
recording answers patrol, and the week joins the history of the next forecast. The same loop
open (patrol never answering the flags) beside it gives the drift that gate G11 judges. Writes
``feedback.json`` (:class:`beatwise.artefacts.feedback.FeedbackReport`) and the drift figure;
on real data, the findings are the synthetic city's under the same configuration, labelled so.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from beatwise.params import load_params
from features.build import CovariatesConfig
from features.cells import CellsConfig
from features.engineering import FeatureConfig
from features.ingest.config import IngestSource
from models.audit import AuditConfig
from models.evaluation import EvaluateConfig
from models.feedback._stage import FeedbackInputs, run_feedback
from models.feedback.config import FeedbackConfig
from models.feedback.figure import drift_figure
from models.operational import OperationalConfig
from models.risk_model import RiskModelConfig
from models.selection import selected_config
from pipelines._io import run_stage, setup_logging, timed
from simcity.config import SimulateParams

STAGE = "feedback"


class Params(SimulateParams):
    ingest: IngestSource  # only ingest.source: the findings are labelled by it
    cells: CellsConfig
    features: FeatureConfig
    covariates: CovariatesConfig
    train: RiskModelConfig
    evaluate: EvaluateConfig
    operational: OperationalConfig
    audit: AuditConfig
    feedback: FeedbackConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-report", type=Path, required=True)
    parser.add_argument("--out-figure", type=Path, required=True)
    parser.add_argument("--selection", type=Path, default=None)  # selected_config.json
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    inputs = FeedbackInputs(
        feedback=params.feedback,
        features=params.features,
        covariates=params.covariates,
        model=selected_config(params.train, args.selection),
        refit_every=params.evaluate.refit_every,
        operational=params.operational,
        audit=params.audit,
        city=params.simulate,
        h3_resolution=params.cells.h3_resolution,
        data_source=params.ingest.source,
    )
    figure = os.path.relpath(args.out_figure, args.out_report.parent)
    with timed(log, "closed and open loops"):
        report = run_feedback(inputs, figure=figure)
    args.out_figure.parent.mkdir(parents=True, exist_ok=True)
    drift_figure(report, args.out_figure)
    report.write(args.out_report)
    log.info("G11 feedback stability: %s. %s", report.status, report.summary)
    return 0


if __name__ == "__main__":
    run_stage(main, STAGE)
