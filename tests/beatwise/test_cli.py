"""``beatwise check-source``: what a run would accept and quarantine, before any run."""

from __future__ import annotations

import csv
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import yaml

from beatwise import cli

REPO = Path(__file__).resolve().parents[2]
ROWS = [
    ["1", "2024-03-04 10:00", "Burglary", "38.62", "-90.19"],
    ["2", "2024-03-05 11:00", "Burglary", "38.63", "-90.20"],
    ["2", "2024-03-05 11:00", "Burglary", "38.63", "-90.20"],  # repeated id
    ["3", "2024-03-06 12:00", "Theft from vehicle", "0", "0"],  # not geocoded
    ["4", "2024-03-07 13:00", "Loitering", "38.60", "-90.18"],  # out of scope
    ["5", "2024-03-11 09:00", "Theft from vehicle", "38.61", "-90.21"],
    ["6", "2024-03-12 09:00", "Burglary", "38.61", "-90.21"],
    ["7", "2024-03-13 09:00", "Burglary", "38.61", "-90.21"],
    ["8", "2024-03-14 09:00", "Burglary", "38.61", "-90.21"],
    ["9", "2024-03-15 09:00", "Burglary", "38.61", "-90.21"],
    ["10", "2024-03-16 09:00", "Burglary", "38.61", "-90.21"],
]


def write_source(tmp_path: Path, **ingest: Any) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    with (data / "city.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "When", "Offence", "Lat", "Lon"])
        writer.writerows(ROWS)
    section = {
        "source": "mapped_csv",
        "data_dir": "data",  # relative to the params file's folder
        "events": "city.csv",
        "mapping": {
            "time_column": "When",
            "time_format": "%Y-%m-%d %H:%M",
            "latitude_column": "Lat",
            "longitude_column": "Lon",
            "category_column": "Offence",
            "category_map": {"Burglary": "burglary", "Theft from vehicle": "vehicle_crime"},
            "unmapped_categories": "exclude",
            "id_columns": ["Id"],
        },
        "areas": {"kind": "none", "path": None},
        "as_of": "2024-12-31",
        **ingest,
    }
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"ingest": section}), encoding="utf-8")
    return params


def test_check_source_counts_reasons_and_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_source(tmp_path)
    assert cli.main(["check-source", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "read                  11 rows from 1 file(s)" in out
    assert "accepted               8 rows" in out
    assert "excluded               1 row:" in out and "Loitering (1)" in out
    assert "quarantined            2 rows: 20.0% of the 10 rows in scope" in out
    assert "duplicate_id" in out and "e.g. city.csv row 3: event id 2 was seen earlier" in out
    assert "invalid_coordinates" in out and "e.g. city.csv row 4: latitude 0" in out
    assert "2024-03-04 10:00 to 2024-03-16 09:00" in out and "weekly periods" in out
    assert "burglary 7, vehicle_crime 1" in out
    assert "areas         none configured" in out
    assert "Verdict: the run would go on: 20.0% is within 20.0%." in out


def test_check_source_says_when_the_run_would_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_source(tmp_path, max_quarantine_share=0.1)
    assert cli.main(["check-source", "--params", str(params), "--limit-rows", "5"]) == 1
    out = capsys.readouterr().out
    assert "read                   5 rows" in out
    assert "Verdict: the run would stop: 50.0% quarantined is more than" in out
    assert "ingest.max_quarantine_share (10.0%)" in out


def test_check_source_errors_are_one_paragraph_without_a_traceback(tmp_path: Path) -> None:
    params = write_source(tmp_path, events="absent.csv")
    run = subprocess.run(
        [sys.executable, "-m", "beatwise", "check-source", "--params", str(params)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("beatwise check-source: No input at ")
    assert "absent.csv" in run.stderr and "ingest.events 'absent.csv'" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_check_source_bad_params_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check-source", "--params", str(tmp_path / "nope.yaml")]) == 2
    assert "The params file" in capsys.readouterr().err
    params = write_source(tmp_path, max_quarantine_share=2)
    assert cli.main(["check-source", "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "'ingest.max_quarantine_share'" in err and "Traceback" not in err
    assert cli.main(["check-source", "--params", str(params), "--preset", "atlantis"]) == 2
    assert "No preset named 'atlantis'" in capsys.readouterr().err


def test_the_console_script_points_at_main() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    module, _, name = scripts["beatwise"].partition(":")
    assert getattr(import_module(module), name) is cli.main
