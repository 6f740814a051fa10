"""The documents name the place (``ingest.place``, recorded in data_quality.json) and state the
study-area rule (cells_meta.json, carried by backtest_metrics.json); they never name the loader."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from html import unescape

import pandas as pd
import pytest
from audit_inputs import SETUP, city, make_metrics
from feedback_inputs import make_feedback
from stage_files import data_quality, panel_meta

from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.quality import DataQuality
from models.audit import BacktestArrays, audit_backtest, gate_feedback
from models.report import DataQualitySummary, Documents, document_audit, report_context

PLACE = "St. Louis, Missouri"
MODEL = ModelMeta(
    feature_columns=("cnt_all_lag1w",),
    best_rounds=40,
    model_version="v-place",
    mlflow_run_id="run-place",
    registered_model="beatwise-risk",
    registered_version="1",
    period="week",
    trained_periods=(dt.date(2023, 10, 2), dt.date(2024, 3, 18)),
)


def quality(place: str) -> DataQualitySummary:
    """The summary as the audit stage reads it: through the file's definition."""
    dq = DataQuality.model_validate({**data_quality(source="mapped_csv"), "place": place})
    return DataQualitySummary.from_dict(dq.to_json())


def documents(place: str, rule: str | None) -> tuple[Documents, pd.DataFrame]:
    """The audit stage's documents for a mapped_csv source (real data: no truth), its feedback
    evidence the synthetic city's."""
    cells, backtest = city(truth="none")
    metrics = make_metrics().model_copy(update={"study_area": rule})
    feedback = make_feedback("PASS", synthetic_evidence_only=True).model_copy(
        update={"data_source": "mapped_csv"}
    )
    setup = dataclasses.replace(SETUP, feedback=feedback)
    result = audit_backtest(
        BacktestArrays.from_frames(backtest, cells), setup=setup, metrics=metrics
    )
    summary = quality(place)
    context = report_context(
        PanelMeta.from_json(panel_meta(source="mapped_csv", n_cells=len(cells))),
        MODEL,
        metrics,
        summary,
        cells,
        audit_date=dt.date(2024, 4, 22),
    )
    return document_audit(result, metrics=metrics, data_quality=summary, context=context), cells


@pytest.fixture(scope="module")
def st_louis() -> tuple[Documents, pd.DataFrame]:
    return documents(PLACE, "events_only")


def texts(docs: Documents) -> dict[str, str]:
    return {
        "bias report": unescape(docs.bias_report),
        "model card": docs.model_card,
        "record (Markdown)": docs.record_md,
        "record (JSON)": json.dumps(docs.record.to_json()),
        "audit.json": json.dumps(docs.audit.to_json()),
    }


def test_the_documents_name_the_place_and_never_the_loader(
    st_louis: tuple[Documents, pd.DataFrame],
) -> None:
    docs, _ = st_louis
    for name, text in texts(docs).items():
        assert "mapped_csv" not in text, name
        assert PLACE in text or name == "audit.json", name
    html = unescape(docs.bias_report)
    assert f"<title>Bias report: crime-risk forecast for {PLACE}, model v-place</title>" in html
    assert f"<h1>Bias report: crime-risk forecast for {PLACE}</h1>" in html
    assert docs.model_card.startswith(f"# Model card: weekly crime-risk forecast for {PLACE},")
    assert docs.record.metadata.title.endswith(f"crime-risk forecast for {PLACE}")


def test_the_study_area_sentence_states_the_rule(st_louis: tuple[Documents, pd.DataFrame]) -> None:
    docs, cells = st_louis
    sentence = (
        f"of {PLACE} ({len(cells):,} H3 cells at resolution 8, {cells['area_km2'].sum():,.0f} km², "
        f"{cells['residents'].sum():,.0f} residents; the study area is the cells holding at "
        "least one accepted event), how many"
    )
    assert sentence in " ".join(unescape(docs.bias_report).split())


def test_the_other_rule_and_the_neutral_name() -> None:
    docs, cells = documents("the study area", "areas_and_events")
    html = " ".join(unescape(docs.bias_report).split())
    assert "<h1>Bias report: crime-risk forecast for the study area</h1>" in html
    assert (
        f"{cells['residents'].sum():,.0f} residents; the study area is the cells overlapping "
        "the area polygons, plus any cell holding an accepted event)" in html
    )
    assert "mapped_csv" not in html


def test_a_summary_without_the_place_is_refused() -> None:
    cells, _ = city(truth="none")
    with pytest.raises(ValueError, match=r"data_quality\.json lacks \['place'\]"):
        report_context(
            PanelMeta.from_json(panel_meta(source="mapped_csv")),
            MODEL,
            make_metrics(),
            DataQualitySummary.from_dict(
                {k: v for k, v in data_quality(source="mapped_csv").items() if k != "place"}
            ),
            cells,
            audit_date=dt.date(2024, 4, 22),
        )


def test_the_feedback_gate_describes_the_data_in_words() -> None:
    feedback = make_feedback("PASS", synthetic_evidence_only=True).model_copy(
        update={"data_source": "mapped_csv"}
    )
    text = gate_feedback(feedback).explanation
    assert "this forecast's data are crime records read from delimited files" in text
    assert "mapped_csv" not in text


def test_the_model_card_states_the_weeks_the_model_was_fitted_on(
    st_louis: tuple[Documents, pd.DataFrame],
) -> None:
    docs, _ = st_louis
    assert "the model was fitted on the weeks 2023-10-02 to 2024-03-18" in docs.model_card
