"""The published area: a publication is a whole folder, kept; the pointer names the latest; a
SIGKILL at any step of a publication leaves the old publication or the new one, whole."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from beatwise.artefacts.manifest import PUBLISHED_FILES, Manifest
from beatwise.io import current_umask, json_text, sha256_bytes
from beatwise.publications import (
    KILL_AT_ENV,
    LATEST,
    IncompletePublicationError,
    find_publication,
    list_publications,
    main,
    parse_folder_name,
    publish_set,
    read_latest,
    verify_publication,
)

ROOT = Path(__file__).resolve().parents[2]
#: writes of the fifteen files, the folder's rename, the pointer's temporary file and its rename
STEPS = 18


def forecast_set(
    week: str = "2024-12-30", *, csv: str = "h3_cell,risk_score\nabc,1.5\n"
) -> dict[str, bytes]:
    """A publication's files, its manifest naming the others' sha256."""
    files = {
        "forecast.csv": csv.encode(),
        "forecast.geojson": b'{"type": "FeatureCollection", "features": []}\n',
        "forecast.gpkg": b"SQLite format 3\x00 a GeoPackage",
        "forecast.parquet": b"PAR1 a GeoParquet PAR1",
        "forecast.qml": b"<qgis><renderer-v2/></qgis>\n",
        "forecast_map.html": b"<html><body>The map.</body></html>\n",
        "forecast_bands.csv": b"h3_cell,risk_rank,district_name,band,band_share\n",
        "district_sheets.html": b"<html><body>The district sheets.</body></html>\n",
        "district_sheets.pdf": b"%PDF-1.4 the district sheets %%EOF\n",
        "bias_report.html": b"<html><body>Publishable.</body></html>\n",
        "model_card.md": b"# Model card\n\n## Verdict\n",
        "audit.json": b'{"publishable": true}\n',
        "transparency_record.md": b"# Transparency record\n",
        "transparency_record.json": b'{"metadata": {"phase": "research"}}\n',
    }
    manifest = {
        "audit_publishable": True,
        "audit_sha256": sha256_bytes(files["audit.json"]),
        "audit_status": "pass",
        "bias_report_sha256": sha256_bytes(files["bias_report.html"]),
        "coverage": 0.05,
        "district_sheets_html_sha256": sha256_bytes(files["district_sheets.html"]),
        "district_sheets_pdf_sha256": sha256_bytes(files["district_sheets.pdf"]),
        "forecast_csv_sha256": sha256_bytes(files["forecast.csv"]),
        "forecast_geojson_sha256": sha256_bytes(files["forecast.geojson"]),
        "forecast_gpkg_sha256": sha256_bytes(files["forecast.gpkg"]),
        "forecast_map_sha256": sha256_bytes(files["forecast_map.html"]),
        "forecast_bands_sha256": sha256_bytes(files["forecast_bands.csv"]),
        "forecast_parquet_sha256": sha256_bytes(files["forecast.parquet"]),
        "forecast_qml_sha256": sha256_bytes(files["forecast.qml"]),
        "forecast_week": week,
        "h3_resolution": 8,
        "mlflow_run_id": "c134743e6c6d4bf1bd526e05208afdd6",
        "model_card_sha256": sha256_bytes(files["model_card.md"]),
        "model_version": "88cc1ef0214d",
        "n_cells": 1,
        "n_flagged": 1,
        "override": None,
        "params_hash": "f67132828f00dd99",
        "period": "week",
        "registered_model": "beatwise-risk/1",
        "time_bands_note": None,
        "transparency_record_json_sha256": sha256_bytes(files["transparency_record.json"]),
        "transparency_record_md_sha256": sha256_bytes(files["transparency_record.md"]),
    }
    return files | {"manifest.json": json_text(manifest).encode()}


def snapshot(root: Path) -> dict[str, dict[str, bytes]]:
    """Every publication folder's files, by folder name."""
    return {p.name: {f.name: f.read_bytes() for f in p.iterdir()} for p in list_publications(root)}


def test_a_publication_is_a_whole_folder_named_by_its_period(tmp_path: Path) -> None:
    files = forecast_set()
    published = publish_set(tmp_path, files)
    assert published.new and published.folder == tmp_path / "2024-12-30"
    assert {p.name: p.read_bytes() for p in published.folder.iterdir()} == files
    manifest = verify_publication(published.folder)
    assert manifest.forecast_period == dt.date(2024, 12, 30)
    latest = read_latest(tmp_path)
    assert latest is not None and latest.folder == "2024-12-30"
    assert latest.manifest_sha256 == sha256_bytes(files["manifest.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-12-30", LATEST]
    # as readable as anything else the process writes: planners' tools may run as other users
    mask = current_umask()
    assert stat.S_IMODE(published.folder.stat().st_mode) == 0o777 & ~mask
    for path in (tmp_path / LATEST, published.folder / "forecast.csv"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path


def test_every_publication_is_kept_and_the_pointer_names_the_last(tmp_path: Path) -> None:
    first = forecast_set("2024-12-23")
    publish_set(tmp_path, first)
    publish_set(tmp_path, forecast_set("2024-12-30"))
    # the same week again, from another model: kept beside the first, never over it
    again = forecast_set("2024-12-30", csv="h3_cell,risk_score\nabc,2.5\n")
    assert publish_set(tmp_path, again).folder.name == "2024-12-30.2"
    assert [p.name for p in list_publications(tmp_path)] == [
        "2024-12-23",
        "2024-12-30",
        "2024-12-30.2",
    ]
    assert read_latest(tmp_path).folder == "2024-12-30.2"  # type: ignore[union-attr]
    # last week's, as a planner finds it
    found = find_publication(tmp_path, dt.date(2024, 12, 23))
    assert found is not None and (found / "forecast.csv").read_bytes() == first["forecast.csv"]
    assert find_publication(tmp_path, dt.date(2024, 12, 30)) == tmp_path / "2024-12-30.2"
    assert find_publication(tmp_path, dt.date(2024, 12, 16)) is None
    for folder in list_publications(tmp_path):
        verify_publication(folder)


def test_publishing_the_latest_set_again_writes_nothing(tmp_path: Path) -> None:
    files = forecast_set()
    publish_set(tmp_path, files)
    before = (tmp_path / LATEST).read_bytes()
    again = publish_set(tmp_path, files)
    assert not again.new and again.folder.name == "2024-12-30"
    assert (tmp_path / LATEST).read_bytes() == before
    assert [p.name for p in list_publications(tmp_path)] == ["2024-12-30"]


def test_a_set_whose_manifest_does_not_name_its_files_is_refused(tmp_path: Path) -> None:
    files = forecast_set()
    with pytest.raises(ValueError, match=r"forecast\.csv is not the file its manifest names"):
        publish_set(tmp_path, files | {"forecast.csv": b"h3_cell\n"})
    with pytest.raises(ValueError, match=r"A publication holds exactly"):
        publish_set(tmp_path, {k: v for k, v in files.items() if k != "model_card.md"})
    assert not list_publications(tmp_path)


def test_a_folder_that_is_not_whole_is_named(tmp_path: Path) -> None:
    folder = publish_set(tmp_path, forecast_set()).folder
    (folder / "bias_report.html").write_text("<html>another report</html>\n")
    with pytest.raises(IncompletePublicationError, match=r"bias_report\.html has sha256 .* says"):
        verify_publication(folder)
    (folder / "model_card.md").unlink()
    with pytest.raises(IncompletePublicationError, match=r"must hold exactly"):
        verify_publication(folder)


#: the files published since the map and the GIS formats, and their manifest keys
PLANNER_FILES = {
    "forecast.gpkg": "forecast_gpkg_sha256",
    "forecast.parquet": "forecast_parquet_sha256",
    "forecast.qml": "forecast_qml_sha256",
    "forecast_map.html": "forecast_map_sha256",
    "forecast_bands.csv": "forecast_bands_sha256",
    "district_sheets.html": "district_sheets_html_sha256",
    "district_sheets.pdf": "district_sheets_pdf_sha256",
}
#: the district sheets' files and their manifest keys
SHEETS = {k: v for k, v in PLANNER_FILES.items() if k.startswith("district_sheets")}


def earlier_set() -> dict[str, bytes]:
    """A publication as written before the map and the GIS formats: eight files."""
    files = {k: v for k, v in forecast_set().items() if k not in PLANNER_FILES}
    manifest = json.loads(files["manifest.json"])
    for key in PLANNER_FILES.values():
        del manifest[key]
    return files | {"manifest.json": json_text(manifest).encode()}


def test_a_publication_made_before_the_map_is_still_whole(tmp_path: Path) -> None:
    folder = tmp_path / "2024-12-23"
    folder.mkdir()
    for name, data in earlier_set().items():
        (folder / name).write_bytes(data)
    manifest = verify_publication(folder)
    assert sorted(manifest.file_hashes()) == sorted(
        n for n in PUBLISHED_FILES if n not in PLANNER_FILES and n != "manifest.json"
    )
    (folder / "forecast.csv").unlink()  # still whole only with every file its manifest names
    with pytest.raises(IncompletePublicationError, match=r"must hold exactly \['audit\.json'"):
        verify_publication(folder)


def test_a_publication_made_before_the_time_bands_is_still_whole(tmp_path: Path) -> None:
    gone = {"forecast_bands.csv": "forecast_bands_sha256", **SHEETS}
    files = {k: v for k, v in forecast_set().items() if k not in gone}
    manifest = json.loads(files["manifest.json"])
    for key in gone.values():
        del manifest[key]
    folder = tmp_path / "2024-12-30"
    folder.mkdir()
    for name, data in (files | {"manifest.json": json_text(manifest).encode()}).items():
        (folder / name).write_bytes(data)
    assert "forecast_bands.csv" not in verify_publication(folder).file_hashes()
    with pytest.raises(ValueError, match=r"A publication holds exactly"):
        publish_set(tmp_path / "new", files | {"manifest.json": json_text(manifest).encode()})


def test_a_publication_made_before_the_district_sheets_is_still_whole(tmp_path: Path) -> None:
    files = {k: v for k, v in forecast_set().items() if k not in SHEETS}
    manifest = json.loads(files["manifest.json"])
    for key in SHEETS.values():
        del manifest[key]
    files["manifest.json"] = json_text(manifest).encode()
    assert len(files) == 13  # as every publication was before the sheets
    folder = tmp_path / "2024-12-30"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    hashes = verify_publication(folder).file_hashes()
    assert "forecast_bands.csv" in hashes and not set(SHEETS) & set(hashes)
    (folder / "forecast_bands.csv").write_bytes(b"h3_cell\n")  # and still checked file by file
    with pytest.raises(IncompletePublicationError, match=r"forecast_bands\.csv has sha256"):
        verify_publication(folder)
    with pytest.raises(ValueError, match=r"A publication holds exactly"):
        publish_set(tmp_path / "new", files)  # today's sets hold the sheets


def test_the_district_sheets_are_published_together_beside_the_time_bands() -> None:
    manifest = json.loads(forecast_set()["manifest.json"])
    with pytest.raises(ValueError, match=r"published together: both or neither"):
        Manifest.from_json({**manifest, "district_sheets_pdf_sha256": None})
    without_bands = {k: v for k, v in manifest.items() if k != "forecast_bands_sha256"}
    with pytest.raises(ValueError, match=r"only beside the map and the time bands"):
        Manifest.from_json(without_bands)


def test_time_bands_are_published_only_beside_the_map(tmp_path: Path) -> None:
    files = earlier_set()
    manifest = json.loads(files["manifest.json"])
    manifest["forecast_bands_sha256"] = sha256_bytes(b"h3_cell\n")
    with pytest.raises(ValueError, match=r"published only beside the map and the GIS files"):
        Manifest.from_json(manifest)


def test_a_new_publication_holds_the_map_and_the_gis_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"A publication holds exactly"):
        publish_set(tmp_path, earlier_set())  # today's sets are whole only with all fifteen
    files = forecast_set()
    manifest = json.loads(files["manifest.json"])
    del manifest["forecast_map_sha256"]  # named in part: refused
    with pytest.raises(ValueError, match=r"published together: all four or none"):
        publish_set(tmp_path, files | {"manifest.json": json_text(manifest).encode()})
    for key in PLANNER_FILES.values():
        manifest.pop(key, None)  # the files there, their hashes not named: refused
    with pytest.raises(ValueError, match=r"The manifest must name every file but itself"):
        publish_set(tmp_path, files | {"manifest.json": json_text(manifest).encode()})
    assert not list_publications(tmp_path)


def test_folder_names() -> None:
    assert parse_folder_name("2024-12-30") == (dt.date(2024, 12, 30), 1)
    assert parse_folder_name("2024-12-30.12") == (dt.date(2024, 12, 30), 12)
    assert parse_folder_name(".2024-12-30.abc.tmp") is None
    assert parse_folder_name("2024-13-30") is None


#: publish one set into a folder, as a separate process: the test kills it at a step
PUBLISHER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from beatwise.publications import publish_set
    files = {k: v.encode("latin-1") for k, v in json.loads(sys.stdin.read()).items()}
    publish_set(Path(sys.argv[1]), files)
    """
)


def publish_in_subprocess(root: Path, files: dict[str, bytes], kill_at: int | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != KILL_AT_ENV}
    if kill_at is not None:
        env[KILL_AT_ENV] = str(kill_at)
    proc = subprocess.run(
        [sys.executable, "-c", PUBLISHER, str(root)],
        input=json.dumps({k: v.decode("latin-1") for k, v in files.items()}),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


def whole_latest(root: Path) -> Manifest:
    """The publication latest.json names, checked whole."""
    latest = read_latest(root)
    assert latest is not None
    manifest = verify_publication(root / latest.folder)
    assert sha256_bytes((root / latest.folder / "manifest.json").read_bytes()) == (
        latest.manifest_sha256
    )
    return manifest


@pytest.mark.parametrize("kill_at", range(1, STEPS + 1))
def test_a_kill_at_any_step_leaves_the_old_or_the_new_publication_whole(
    tmp_path: Path, kill_at: int
) -> None:
    old, new = forecast_set("2024-12-23"), forecast_set("2024-12-30")
    publish_set(tmp_path, old)
    kept = snapshot(tmp_path)
    assert publish_in_subprocess(tmp_path, new, kill_at) == -9  # SIGKILL, at step kill_at
    manifest = whole_latest(tmp_path)
    expected = old if kill_at < STEPS else new  # the pointer's rename is the last step
    assert manifest.to_json() == json.loads(expected["manifest.json"])
    assert {k: v for k, v in snapshot(tmp_path).items() if k in kept} == kept  # never touched
    # the next run completes the publication and clears what the killed one left
    assert publish_in_subprocess(tmp_path, new, None) == 0
    assert whole_latest(tmp_path).to_json() == json.loads(new["manifest.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-12-23", "2024-12-30", LATEST]


def test_a_publication_has_exactly_the_steps_the_kill_test_counts(tmp_path: Path) -> None:
    publish_set(tmp_path, forecast_set("2024-12-23"))
    assert publish_in_subprocess(tmp_path, forecast_set("2024-12-30"), STEPS + 1) == 0


def test_the_command_lists_publications_and_finds_last_weeks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_set(tmp_path, forecast_set("2024-12-23"))
    publish_set(tmp_path, forecast_set("2024-12-30"))
    assert main(["--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  2024-12-23     week of 2024-12-23: 1 of 1 cells flagged")
    assert lines[1].startswith("* 2024-12-30")
    assert main(["--root", str(tmp_path), "2024-12-23"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "2024-12-23")
    (tmp_path / "2024-12-23" / "audit.json").write_text('{"publishable": true, "edited": 1}\n')
    assert main(["--root", str(tmp_path)]) == 1
    assert "NOT WHOLE" in capsys.readouterr().out


def test_the_files_a_publication_holds() -> None:
    assert PUBLISHED_FILES == (
        "forecast.csv",
        "forecast.geojson",
        "forecast.gpkg",
        "forecast.parquet",
        "forecast.qml",
        "forecast_map.html",
        "forecast_bands.csv",
        "district_sheets.html",
        "district_sheets.pdf",
        "bias_report.html",
        "model_card.md",
        "audit.json",
        "transparency_record.md",
        "transparency_record.json",
        "manifest.json",
    )
