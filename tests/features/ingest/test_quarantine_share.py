"""The quarantine bound: a run that loses too much of its input stops; exclusion is not loss."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.quality import DataQuality
from features.ingest.config import IngestConfig
from features.ingest.quality import QuarantineShareError
from features.ingest.run import run_ingest

#: a burglary file whose "Offence" column also lists other offences: 6 of 10 rows are burglaries,
#: and one burglary is not geocoded
ROWS = [
    [str(i), f"2024-03-{i + 1:02d} 10:00", offence, lat, "-90.19"]
    for i, (offence, lat) in enumerate(
        [
            ("Burglary", "38.62"),
            ("Burglary", "38.63"),
            ("Burglary", ""),
            *[("Burglary", "38.64")] * 3,
            *[("Loitering", "38.62")] * 2,
            *[("Disorderly", "38.61")] * 2,
        ]
    )
]


def config(data: Path, **mapping: Any) -> IngestConfig:
    with (data / "city.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "When", "Offence", "Lat", "Lon"])
        writer.writerows(ROWS)
    return IngestConfig.model_validate(
        {
            "source": "mapped_csv",
            "data_dir": str(data),
            "events": "city.csv",
            "mapping": {
                "time_column": "When",
                "time_format": "%Y-%m-%d %H:%M",
                "latitude_column": "Lat",
                "longitude_column": "Lon",
                "category_column": "Offence",
                "category_map": {"Burglary": "burglary"},
                "id_columns": ["Id"],
                **mapping,
            },
            "areas": {"kind": "none", "path": None},
            "as_of": "2024-12-31",
        }
    )


def test_a_run_that_quarantines_too_much_stops_and_says_why(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert cfg.max_quarantine_share == 0.2  # the default
    with pytest.raises(QuarantineShareError) as caught:
        run_ingest(cfg, data_dir=tmp_path)
    message = str(caught.value)
    assert "50.0% of the 10 rows in scope (5 rows) were quarantined" in message
    assert "ingest.max_quarantine_share allows (20.0%)" in message
    assert "unknown_category 4 rows" in message
    assert "e.g. city.csv row 7: category Loitering is not in the taxonomy" in message
    assert "missing_coordinates 1 row (" in message
    assert "unmapped_categories: exclude" in message


def test_the_same_input_passes_when_the_other_offences_are_excluded(tmp_path: Path) -> None:
    result = run_ingest(config(tmp_path, unmapped_categories="exclude"), data_dir=tmp_path)
    quality = result.quality
    assert (quality.rows_read, quality.rows_accepted, quality.rows_quarantined) == (10, 5, 5)
    assert quality.by_reason == {"excluded_category": 4, "missing_coordinates": 1}
    assert quality.rows_excluded == 4
    assert quality.quarantine_share == pytest.approx(1 / 6)  # 1 problem in 6 rows in scope
    assert quality.max_quarantine_share == 0.2
    assert "excluded_category" in quality.reason_meanings
    assert len(result.quarantine) == 5


def test_the_bound_is_a_param_recorded_beside_the_share(tmp_path: Path) -> None:
    cfg = config(tmp_path, unmapped_categories="exclude")
    strict = cfg.model_copy(update={"max_quarantine_share": 0.1})
    with pytest.raises(
        QuarantineShareError, match=r"16\.7% of the 6 rows in scope \(1 row, after 4 excluded"
    ):
        run_ingest(strict, data_dir=tmp_path)
    relaxed = cfg.model_copy(update={"max_quarantine_share": 0.5})
    quality = run_ingest(relaxed, data_dir=tmp_path).quality
    assert quality.max_quarantine_share == 0.5
    assert quality.quarantine_share == pytest.approx(1 / 6)
    unbounded = cfg.model_copy(update={"max_quarantine_share": None})
    assert run_ingest(unbounded, data_dir=tmp_path).quality.max_quarantine_share is None


def test_the_excluded_count_must_agree_with_the_reasons(tmp_path: Path) -> None:
    cfg = config(tmp_path, unmapped_categories="exclude")
    data = run_ingest(cfg, data_dir=tmp_path).quality.to_json()
    DataQuality.from_json(data)
    with pytest.raises(ArtefactError, match=r"rows_excluded \(3\) must equal"):
        DataQuality.from_json({**data, "rows_excluded": 3})
    with pytest.raises(ValueError, match="max_quarantine_share"):
        IngestConfig.model_validate({**cfg.model_dump(), "max_quarantine_share": 1.5})
