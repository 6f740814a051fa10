"""The transparency record: built from the run and from params ``governance``, in the ATRS
structure (:class:`beatwise.artefacts.transparency.TransparencyRecord`), and rendered as Markdown.

Technical fields come from the run: the model and its version, the data and its dates, the
backtest against the baselines with a plain conclusion (``_comparison``), the audit's verdict
(``_verdict``), the reference allocation, the board's panel in sentences (``_board``).
Accountability fields come from ``governance`` as its owner wrote them; a field nobody filled is
null in the JSON, printed as not stated in the Markdown, and listed among the gaps
(``models.governance.accountability_gaps``), which in a pilot or production phase block
publication through gate G10. Nothing here reads the clock or invents a name.
"""

from __future__ import annotations

from beatwise.artefacts.audit import AuditReport
from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.transparency import (
    BaselineConclusion,
    DeploymentContext,
    DescriptionAndRationale,
    ImpactAssessment,
    Metadata,
    OwnerAndResponsibility,
    PerformanceRow,
    RecordDates,
    RecordGap,
    Risk,
    RisksAndImpactAssessments,
    Tier1Overview,
    ToolSpecification,
    TransparencyRecord,
)
from beatwise.period import period_words
from beatwise.taxonomy import DISPLAY_NAMES, POLICE_ACTIVITY_TYPES
from models.audit import CAVEATS
from models.baselines import baseline_words
from models.governance import ASSESSMENT_WORDS, PHASE_WORDS, accountability_gaps, stated_none
from models.report._board import intersection_sentences, reference_sentences
from models.report._comparison import BaselineComparison, compare_with_baseline
from models.report._context import ReportContext
from models.report._dates import DocumentDates
from models.report._format import capfirst, fmt, pct
from models.report._verdict import override_note, verdict

#: the standard the record follows, as its metadata names it
STANDARD = (
    "UK Algorithmic Transparency Recording Standard (ATRS): metadata, Tier 1 and the five "
    "sections of Tier 2. Written by Beatwise's audit stage on every run, from the run and from "
    "params governance."
)

#: what the forecast is for, and what it must not be used for (the same words as the card's)
SCOPE: tuple[str, ...] = (
    "Planning place-based prevention for the coming {one} (patrol focus, crime-prevention "
    "visits, environmental design, outreach), decided by people who also use local knowledge.",
    "Describing places, at the level of whole cells, never people.",
)
OUT_OF_SCOPE: tuple[str, ...] = (
    "Anything about individuals: identifying, profiling or watching people, households or "
    "addresses.",
    "Authorising stop and search or any other power; being in a flagged cell is not grounds for "
    "suspicion.",
    "Automated decisions: the forecast must not trigger action without a person deciding.",
    "Rating communities, evidence in any case, or withdrawing services from areas that are not "
    "flagged.",
)


def comparison_of(audit: AuditReport, metrics: BacktestMetrics) -> BaselineComparison:
    """The model against the best simple baseline, with the share of the baseline's flagged area
    the model flags too where the audit's panel has it."""
    baseline = audit.board.allocations.get("best_baseline")
    return compare_with_baseline(
        metrics.lift,
        coverage=audit.coverage,
        shared_area=None if baseline is None else baseline.area_shared_with_model,
    )


def _risks(audit: AuditReport, ctx: ReportContext) -> tuple[Risk, ...]:
    excluded = [DISPLAY_NAMES.get(t, t) for t in POLICE_ACTIVITY_TYPES if t not in ctx.target_types]
    human = ctx.governance.human_review
    if stated_none(human):
        human = None
    return (
        Risk(
            name="Feedback loop",
            description=CAVEATS["feedback_loop"],
            mitigation="The target leaves out offence types recorded mostly where police look ("
            + (", ".join(excluded) or "none")
            + "; gate G1), and the audit holds the model against "
            f"{audit.reference.label} so that it cannot add disparity unseen (gates G2-G5). "
            "Neither removes the loop: field outcomes, not only recorded crime, should be "
            "reviewed.",
        ),
        Risk(
            name="Areas, not people",
            description=CAVEATS["ecological"],
            mitigation="The forecast is published per H3 cell only, with no event-level rows and "
            "no historical counts (gate G9); no personal data are used.",
        ),
        Risk(
            name="Disparity between groups of residents",
            description="Flagging the riskiest places flags some groups' neighbourhoods more "
            "often than others', even for a perfect forecast.",
            mitigation="Hard gates G2-G5 block a model that adds disparity beyond the reference "
            "allocation; the absolute disparities are set before the oversight body, which may "
            "ratify limits (gate G12).",
        ),
        Risk(
            name="Acting on the forecast without judgement",
            description="A flagged cell may be treated as a finding rather than an estimate.",
            mitigation="Out-of-scope uses are stated in every document; "
            + (
                f"human review: {human.rstrip('.')}."
                if human is not None
                else "no human-review procedure is in place (see the gaps)."
            ),
        ),
    )


def build_record(
    audit: AuditReport,
    *,
    metrics: BacktestMetrics,
    context: ReportContext,
    dates: DocumentDates,
) -> TransparencyRecord:
    """The transparency record of this run (the audit with G10 judged or not: it says which)."""
    ctx, gov = context, context.governance
    words = period_words(ctx.period)
    one = words.singular
    v = verdict(audit)
    comparison = comparison_of(audit, metrics)
    coverage = pct(audit.coverage)
    targets = ", ".join(DISPLAY_NAMES.get(t, t) for t in ctx.target_types)
    groups = "; ".join(
        f"{attr}: " + ", ".join(g.label for g in block.groups.values())
        for attr, block in audit.groups.items()
    )
    # the audit's own columns (groups' residents, strata) among the model's cell attributes
    audited = {g.column for block in audit.groups.values() for g in block.groups.values()}
    audited |= {block.column for block in audit.strata.values()}
    sensitive = [c for c in ctx.static_covariates if c in audited]
    performance = [
        PerformanceRow(
            forecast="this model",
            hit_rate=metrics.model.at("hr", audit.coverage),
            pai=metrics.model.at("pai", audit.coverage),
        ),
        *(
            PerformanceRow(
                forecast=baseline_words(name),
                hit_rate=scores.at("hr", audit.coverage),
                pai=scores.at("pai", audit.coverage),
            )
            for name, scores in metrics.baselines.items()
        ),
    ]
    links = ctx.links
    return TransparencyRecord(
        metadata=Metadata(
            title=f"Transparency record: {words.adjective} crime-risk forecast for "
            f"{ctx.title_place}",
            standard=STANDARD,
            phase=gov.phase,
            model_version=ctx.model_version,
            mlflow_run_id=ctx.run_id,
            dates=RecordDates(
                audit_run=dates.audit_run,
                period=ctx.period,
                forecast_period_start=dates.forecast_start,
                forecast_period_end=dates.forecast_end,
                backtest_first_period=metrics.backtest_first_period,
                backtest_last_period=metrics.backtest_last_period,
                n_backtest_periods=metrics.n_backtest_periods,
                accountability_last_reviewed=gov.last_reviewed,
            ),
            documents={
                "bias report": links.bias_report,
                "model card": links.model_card,
                "this record as JSON": links.record_json,
                "the audit's figures": links.audit_json,
            },
        ),
        tier1_overview=Tier1Overview(
            name=f"Beatwise {words.adjective} crime-risk forecast",
            description=f"Every {one}, Beatwise estimates how many crimes that harm people "
            f"({targets}) will be recorded in each small hexagonal area of {ctx.study_area}, and "
            f"flags the {coverage} of the area where most are expected, so that people planning "
            "patrols and prevention can look there first. It publishes a forecast only when an "
            f"automated bias audit allows it. This run: {v.headline} {comparison.headline}",
            organisation=gov.organisation,
            function="Crime and justice: place-based crime prevention (where to focus patrols "
            "and prevention work)",
            phase=PHASE_WORDS[gov.phase],
            contact=gov.contact,
            more_information=f"The bias report ({links.bias_report}) and the model card "
            f"({links.model_card}), beside this record.",
        ),
        tier2_owner_and_responsibility=OwnerAndResponsibility(
            organisation=gov.organisation,
            owner=gov.owner,
            senior_responsible_owner=gov.senior_responsible_owner,
            supplier=gov.supplier,
            data_access_terms=gov.data_access_terms,
        ),
        tier2_description_and_rationale=DescriptionAndRationale(
            description=f"A model ({ctx.model_type}) predicts, for every H3 cell at resolution "
            f"{ctx.published_resolution}, the expected count of target crime in the coming "
            f"{one}, from features built only from crime recorded before that {one} starts "
            "(recent and long-run counts, near-repeat intensity, neighbouring cells, calendar). "
            f"Cells are ranked by that count and the top {coverage} of the area is flagged.",
            scope=tuple(s.format(one=one) for s in SCOPE),
            out_of_scope=OUT_OF_SCOPE,
            benefits=f"Measured in a rolling-origin backtest over {metrics.n_backtest_periods} "
            f"{words.plural}: the share of recorded target crime that falls in flagged cells "
            "(hit rate) and the predictive accuracy index (PAI: hit rate over the share of the "
            "area flagged), against simple baselines on the same cells and "
            f"{words.plural}. This model: hit rate {pct(metrics.model.at('hr', audit.coverage))}"
            f", PAI {fmt(metrics.model.at('pai', audit.coverage))} at {coverage} of the area.",
            comparison=BaselineConclusion(
                baseline=comparison.baseline,
                baseline_words=comparison.baseline_words,
                lift=metrics.lift.estimate,
                ci_low=metrics.lift.ci_low,
                ci_high=metrics.lift.ci_high,
                conclusion=comparison.conclusion,
                headline=comparison.headline,
                sentence=comparison.sentence,
                area_shared=(
                    audit.board.allocations["best_baseline"].area_shared_with_model
                    if "best_baseline" in audit.board.allocations
                    else None
                ),
            ),
            performance=tuple(performance),
            alternatives_considered="The simple rules an analyst could use without the model ("
            + "; ".join(baseline_words(n) for n in metrics.baselines)
            + f"), each scored on the same cells and {words.plural}; and, for fairness, "
            f"{audit.reference.label}, against which the audit judges whether the model adds "
            f"disparity. {audit.reference.why}",
        ),
        tier2_deployment_context=DeploymentContext(
            process_integration=gov.process_integration,
            provided_information=f"Each {one}: a CSV and a GeoJSON with, per cell, the expected "
            "count, an 80% range, its rank, whether it is flagged, and the audit's status; "
            "never events, people or addresses.",
            frequency_and_scale=f"Once per {one}: {audit.n_cells:,} cells, "
            f"{coverage} of the study area flagged.",
            human_review=gov.human_review,
            training=gov.training,
            appeals_and_review=gov.complaint_route,
            oversight_body=gov.oversight_body,
            review_cadence=gov.review_cadence,
        ),
        tier2_tool_specification=ToolSpecification(
            system_architecture="A DVC pipeline: ingest (every row accepted or quarantined with "
            "a reason) -> H3 cells -> leakage-free features -> the model's configuration chosen "
            "by a backtest of the periods before the reported one -> train -> rolling-origin "
            "backtest against the baselines -> bias audit, which writes the bias report, the "
            "model card and this record -> publish, which writes a forecast only if the audit "
            "allows it.",
            model=ctx.model_type,
            model_version=ctx.model_version,
            training_data=ctx.training_data,
            evaluation_data=f"{ctx.evaluation_data.rstrip('.')}; backtest "
            f"{dates.backtest_first.isoformat()} to {dates.backtest_end.isoformat()}, "
            f"{metrics.n_backtest_periods} {words.plural}",
            target=f"Recorded offences of these types: {targets}."
            + (
                " Configured but absent from the data, so not forecast: "
                + ", ".join(DISPLAY_NAMES.get(t, t) for t in ctx.absent_types)
                + "."
                if ctx.absent_types
                else ""
            ),
            sensitive_attributes=f"Residents by group ({groups}), apportioned to cells from "
            "census areas, are used by the audit to assess fairness-related harms. "
            + (
                "The model sees no group attribute; its cell attributes: "
                + (", ".join(ctx.static_covariates) or "none")
                + "."
                if not sensitive
                else f"The model also sees {', '.join(sensitive)} (a written reason is "
                "required in params covariates)."
            ),
            published_output=f"One row per H3 cell at resolution {ctx.published_resolution}; no "
            "event-level rows and no historical counts (gate G9).",
        ),
        tier2_risks_mitigations_and_impact_assessments=RisksAndImpactAssessments(
            impact_assessments=tuple(
                ImpactAssessment(
                    name=a.name,
                    kind=ASSESSMENT_WORDS[a.kind],
                    date=a.date,
                    reference=a.reference,
                )
                for a in gov.assessments
            ),
            audit_verdict=f"{v.headline} {v.summary}",
            publishable=audit.publishable,
            blocking_gates=audit.blocking_gates,
            review_gates=audit.review_gates,
            reference_allocation=f"{capfirst(audit.reference.label)}. {audit.reference.why}",
            board_panel=reference_sentences(audit),
            intersectional=tuple(
                s for name in audit.board.intersections for s in intersection_sentences(audit, name)
            ),
            override=override_note(audit),
            risks=_risks(audit, ctx),
        ),
        gaps=tuple(
            RecordGap(
                field=g.field,
                label=g.label,
                stated=g.stated,
                blocks=g.blocks,
                required_from=g.required_from,
            )
            for g in accountability_gaps(gov)
        ),
    )
