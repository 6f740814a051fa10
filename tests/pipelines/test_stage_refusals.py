"""A stage that refuses its input says so in one message and exits 2, from the command line.

Each case is an input error a user can make: params that are not YAML, a folder named like a data
file, a folder where a JSON file belongs, a Parquet file of the wrong kind. None may print a
traceback unless asked (``BEATWISE_TRACEBACK=1``, or ``BEATWISE_LOG_LEVEL=DEBUG``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from stage_files import data_quality

from beatwise.artefacts.quality import DataQuality
from pipelines._io import describe_refusal

ROOT = Path(__file__).resolve().parents[2]


def stage(name: str, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m pipelines.<name> args`` as a user runs it, without the debugging switches."""
    clean = {
        k: v for k, v in os.environ.items() if k not in ("BEATWISE_TRACEBACK", "BEATWISE_LOG_LEVEL")
    }
    return subprocess.run(
        [sys.executable, "-m", f"pipelines.{name}", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def ingest_args(tmp_path: Path, data_dir: Path, params: Path) -> list[str]:
    out = tmp_path / "out"
    return [
        "--data-dir", str(data_dir),
        "--out-events", str(out / "events.parquet"),
        "--out-quarantine", str(out / "quarantine.parquet"),
        "--out-areas", str(out / "areas.parquet"),
        "--out-quality", str(out / "quality.json"),
        "--out-truth", str(out / "truth"),
        "--params", str(params),
    ]  # fmt: skip


def build_cells_args(tmp_path: Path, events: Path, quality: Path) -> list[str]:
    out = tmp_path / "out"
    return [
        "--events", str(events),
        "--areas", str(tmp_path / "areas.parquet"),
        "--data-quality", str(quality),
        "--out-cells", str(out / "cells.parquet"),
        "--out-event-cells", str(out / "event_cells.parquet"),
        "--out-meta", str(out / "cells_meta.json"),
        "--params", str(ROOT / "params.yaml"),
    ]  # fmt: skip


def assert_one_message(proc: subprocess.CompletedProcess[str], stage: str, message: str) -> None:
    """Exit 2, no traceback, and the first stderr line is the stage's refusal."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if " INFO " not in line]
    assert lines[0].startswith(f"Stage '{stage}' stopped: "), proc.stderr
    assert message in lines[0], proc.stderr
    assert lines[-1] == "(set BEATWISE_TRACEBACK=1 or BEATWISE_LOG_LEVEL=DEBUG to see where)"


def test_params_that_are_not_yaml(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  source: [synthetic\n  events: x\n", encoding="utf-8")
    proc = stage("ingest", ingest_args(tmp_path, tmp_path, params))
    assert_one_message(proc, "ingest", f"The params file {params} is not valid YAML")


def test_a_folder_named_like_a_street_csv(tmp_path: Path) -> None:
    (tmp_path / "src" / "2016-01" / "2016-01-metropolitan-street.csv").mkdir(parents=True)
    params = tmp_path / "params.yaml"
    section = {"source": "police_uk_csv", "data_dir": "src", "events": "."}
    params.write_text(yaml.safe_dump({"ingest": section}), encoding="utf-8")
    proc = stage("ingest", ingest_args(tmp_path, tmp_path / "src", params))
    assert_one_message(
        proc, "ingest", "2016-01-metropolitan-street.csv is a folder, not a data.police.uk street"
    )


def test_a_folder_where_a_json_file_belongs(tmp_path: Path) -> None:
    folder = tmp_path / "data_quality.json"
    folder.mkdir()
    proc = stage("build_cells", build_cells_args(tmp_path, tmp_path / "events.parquet", folder))
    assert_one_message(proc, "build_cells", f"Is a directory: {folder}")


@pytest.fixture
def wrong_events(tmp_path: Path) -> list[str]:
    """build_cells given the cells table where the events belong."""
    quality = tmp_path / "data_quality.json"
    DataQuality.model_validate(data_quality(source="synthetic")).write(quality)
    events = tmp_path / "cells.parquet"
    pd.DataFrame({"h3_cell": ["88195da49bfffff"], "lat": [51.5], "lon": [-0.1]}).to_parquet(events)
    return build_cells_args(tmp_path, events, quality)


def test_a_parquet_file_of_the_wrong_kind(wrong_events: list[str]) -> None:
    proc = stage("build_cells", wrong_events)
    assert_one_message(
        proc, "build_cells", "cells.parquet lacks 4 column(s) this stage reads, e.g. ['timestamp'"
    )


def test_the_traceback_is_there_when_asked_for(wrong_events: list[str]) -> None:
    debug = stage("build_cells", wrong_events, BEATWISE_LOG_LEVEL="DEBUG")
    assert debug.returncode == 2
    assert "the refusal's traceback" in debug.stderr and "Traceback" in debug.stderr
    assert "Stage 'build_cells' stopped: " in debug.stderr
    raised = stage("build_cells", wrong_events, BEATWISE_TRACEBACK="1")
    assert raised.returncode == 1
    assert raised.stderr.count("Traceback (most recent call last)") == 1  # no chained causes
    assert "ValueError: " in raised.stderr


def test_describe_refusal_names_the_file_of_an_os_error(tmp_path: Path) -> None:
    try:
        (tmp_path / "x.json").read_text()
    except OSError as err:
        assert describe_refusal(err) == f"No such file or directory: {tmp_path / 'x.json'}"
    bare = FileNotFoundError(str(tmp_path / "y.parquet"))  # as pandas and pyarrow raise it
    assert describe_refusal(bare) == f"No such file: {tmp_path / 'y.parquet'}"
    sentence = FileNotFoundError("No input at x; expected a file.")
    assert describe_refusal(sentence) == "No input at x; expected a file."
