"""Stage publish: a blocked audit or a grid finer than publish.max_resolution writes nothing and
leaves the last forecast in place; panel_meta.json is read through its typed definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_inputs import audited_city_report, blocked_on_g3, pass_with_review
from stage_files import panel_meta

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.audit import AuditReport
from pipelines import publish

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture(scope="module")
def approved() -> AuditReport:
    return pass_with_review(audited_city_report())


def run(folder: Path, *, audit: AuditReport, meta: dict[str, Any] | None = None) -> int:
    """Run the stage with ``audit`` and the panel ``meta``; every other input is absent."""
    audit.write(folder / "audit.json")
    if meta is not None:
        (folder / "panel_meta.json").write_text(json.dumps(meta))
    out = folder / "forecasts"
    out.mkdir(exist_ok=True)
    (out / "forecast.csv").write_text("old forecast\n")
    return publish.main(
        [
            "--features", str(folder / "absent.parquet"),
            "--panel-meta", str(folder / "panel_meta.json"),
            "--cells", str(folder / "absent.parquet"),
            "--model", str(folder / "absent.txt"),
            "--model-meta", str(folder / "absent.json"),
            "--audit", str(folder / "audit.json"),
            "--report", str(folder / "absent.html"),
            "--out-dir", str(out),
            "--params", str(PARAMS),
        ]
    )  # fmt: skip


def assert_old_forecast_only(folder: Path) -> None:
    out = folder / "forecasts"
    assert (out / "forecast.csv").read_text() == "old forecast\n"
    assert sorted(p.name for p in out.iterdir()) == ["forecast.csv"]


def test_blocked_stage_exits_non_zero_and_leaves_the_old_forecast(
    tmp_path: Path, approved: AuditReport, caplog: pytest.LogCaptureFixture
) -> None:
    assert run(tmp_path, audit=blocked_on_g3(approved)) == 1  # the panel meta is never read
    assert "G3 FAIL: value 0.52 (95% interval 0.5 to 0.53" in caplog.text
    assert_old_forecast_only(tmp_path)


def test_cells_finer_than_max_resolution_are_not_published(
    tmp_path: Path, approved: AuditReport, caplog: pytest.LogCaptureFixture
) -> None:
    # params.yaml: publish.max_resolution = 9; the panel's cells are at resolution 10
    assert run(tmp_path, audit=approved, meta=panel_meta(h3_resolution=10)) == 1
    assert "H3 resolution 10 are finer than publish.max_resolution=9" in caplog.text
    assert_old_forecast_only(tmp_path)


def test_panel_meta_without_the_resolution_is_refused(
    tmp_path: Path, approved: AuditReport
) -> None:
    old = {k: v for k, v in panel_meta().items() if k != "h3_resolution"}
    with pytest.raises(
        ArtefactError, match=r"panel_meta\.json: key 'h3_resolution': Field required"
    ):
        run(tmp_path, audit=approved, meta=old)
    assert_old_forecast_only(tmp_path)
