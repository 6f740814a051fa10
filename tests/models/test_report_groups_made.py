"""The bias report says how each group of residents was made, from the data-quality summary."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from audit_inputs import audited_city_report, make_metrics, report_context
from tract_county import tract_mapping

from beatwise.artefacts.audit import AuditReport
from features.ingest.quality import summarise_areas, summarise_quality
from features.ingest.validation import validate_events
from models.report import DataQualitySummary, read_data_quality, render_bias_report

#: census tracts with percentage attributes, as a user maps them
MAPPING = tract_mapping()
AREAS = gpd.GeoDataFrame(
    {
        "area_code": ["29510101100", "29510101200"],
        "residents": [2000.0, 1000.0],
        "residents_minority": [500.0, 900.0],
        "residents_majority": [1500.0, 100.0],
        "minority_share": [0.25, 0.9],
        "deprivation_decile": [6, 1],
        "deprivation_score": [12.5, 40.0],
    },
    geometry=[shapely.box(-90.3, 38.6, -90.2, 38.7), shapely.box(-90.2, 38.6, -90.1, 38.7)],
    crs="EPSG:4326",
)
QUINTILES = "Deprivation fifths are population-weighted quintiles of 'pct_poverty'"


@pytest.fixture(scope="module")
def audit() -> AuditReport:
    return audited_city_report()


def written_summary(tmp_path: Path) -> Path:
    """The ingest stage's data_quality.json for one accepted event in the tracts."""
    raw = pd.DataFrame(
        {
            "source_file": ["city.csv"],
            "source_row": [1],
            "event_id": ["e1"],
            "timestamp": ["2024-03-04 10:00"],
            "crime_type": ["Burglary"],
            "latitude": ["38.65"],
            "longitude": ["-90.25"],
        }
    )
    result = validate_events(raw, areas=AREAS, as_of=pd.Timestamp("2024-12-31 23:59:59"))
    quality = summarise_quality(
        result,
        by_file_read=raw["source_file"].value_counts(),
        source="mapped_csv",
        place="the study area",
        areas=summarise_areas(
            AREAS,
            kind="mapped",
            mapping=MAPPING,
            accepted_area_code=result.accepted["area_code"],
        ),
    )
    path = tmp_path / "data_quality.json"
    quality.write(path)
    return path


def test_the_sentences_travel_through_the_written_summary(tmp_path: Path) -> None:
    path = written_summary(tmp_path)
    made = json.loads(path.read_text())["areas"]["how_groups_made"]
    assert [m["columns"] for m in made] == [
        ["residents"],
        ["residents_minority", "residents_majority", "minority_share"],
        ["deprivation_decile", "deprivation_score"],
    ]
    summary = read_data_quality(path)
    assert summary.groups_made == tuple(m["sentence"] for m in made)
    assert summary.groups_made[2].startswith(QUINTILES)
    # an older summary without the key reads as no sentences
    assert DataQualitySummary.from_dict({"areas": {"kind": "prepared"}}).groups_made == ()


def test_the_report_lists_how_the_groups_were_made(tmp_path: Path, audit: AuditReport) -> None:
    summary = read_data_quality(written_summary(tmp_path))
    html = render_bias_report(
        audit, metrics=make_metrics(), data_quality=summary, context=report_context()
    )
    start = html.index('<section id="groups"')
    section = html[start : html.index("</section>", start)]
    assert '<h3 id="groups-made">How the groups were made</h3>' in section
    items = [unescape(i) for i in section.split("<li>")[1:]]
    listed = [i[: i.index("</li>")] for i in items[: len(summary.groups_made)]]
    assert listed == list(summary.groups_made)
    assert "residents x 'pct_minority' / 100, where 'pct_minority' in table 'tracts'" in listed[1]
    assert "(percent of residents in poverty) in table 'tracts'" in listed[2]
    # before the figures by group, which the sentences explain
    assert section.index("How the groups were made") < section.index("Groups of residents by")


def test_without_sentences_the_report_has_no_such_list(audit: AuditReport) -> None:
    html = render_bias_report(
        audit, metrics=make_metrics(), data_quality=DataQualitySummary(), context=report_context()
    )
    assert "How the groups were made" not in html
