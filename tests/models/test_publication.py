"""Publication: the audit gate, the resolution gate, the forecast of the panel's period and its
manifest (typed, and written back byte for byte); the candidate set; publish's own check that
audit.json is the file the audit stage wrote and that its verdict agrees with its gates."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from audit_inputs import audited_city_report, blocked_on_g3, pass_with_review
from stage_files import panel_meta, toy_cells
from toy_areas import toy_areas

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.audit import BLOCKING_STATUSES, AuditReport, PublicationBlockedError
from beatwise.artefacts.manifest import PUBLISHED_FILES, Manifest
from beatwise.artefacts.model import ModelMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.runs import RunContext, RunKind, md5_file
from models.allocation import AllocationPolicy
from models.audit import AuditOverride
from models.forecast import forecast_csv, forecast_geojson
from models.metrics import flag_top_area
from models.planner.bands import BAND_COLUMNS
from models.publication import (
    Documents,
    build_manifest,
    candidate_set,
    check_resolution,
    exit_code,
    forecast_next_period,
    read_documents,
    write_candidate,
)
from models.timebands import ForecastBands, TimeBandsConfig, band_labels


@pytest.fixture(scope="module")
def review() -> AuditReport:
    """A publishable audit whose G2 is in review: planners read "pass with review"."""
    return pass_with_review(audited_city_report())


def test_cells_finer_than_the_limit_are_not_published() -> None:
    check_resolution(9, max_resolution=9)
    with pytest.raises(
        PublicationBlockedError,
        match=r"Cells at H3 resolution 10 are finer than publish\.max_resolution=9; not published",
    ):
        check_resolution(10, max_resolution=9)


class Doubling:
    """A stand-in model: twice the one feature."""

    feature_columns = ("x",)

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        return 2.0 * frame["x"].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return toy_cells()


def panel(period: str, forecast: str) -> PanelMeta:
    return PanelMeta.from_json(
        panel_meta(
            period=period,
            feature_columns=["x"],
            last_complete_period="2024-01-01",
            forecast_period=forecast,
            all_periods=["2023-01-02", "2024-01-01"],
            n_cells=10,
            n_periods=2,
            n_rows=20,
        )
    )


MODEL_META = ModelMeta(
    feature_columns=("x",),
    best_rounds=3,
    model_version="0123456789ab",
    mlflow_run_id="c134743e6c6d4bf1bd526e05208afdd6",
    registered_model="beatwise-risk",
    registered_version="7",
    period="week",
    trained_periods=(dt.date(2023, 1, 2), dt.date(2024, 1, 1)),
)
OVERRIDE = AuditOverride(
    approving_body="The board",
    date=dt.date(2026, 1, 5),
    reason="A test.",
    gates=("G3",),
    expires=dt.date(2026, 2, 5),
)


def publish(
    folder: Path,
    cells: pd.DataFrame,
    *,
    audit: AuditReport,
    period: str,
    forecast: str,
    **kw: Any,
) -> Manifest:
    """What the publish stage does after its gates, into ``folder``."""
    start = pd.Timestamp(forecast)
    features = pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"].tolist() * 2,
            "period_start": [start - pd.Timedelta(days=7)] * len(cells) + [start] * len(cells),
            "x": np.linspace(0.1, 2.0, 2 * len(cells)),
            "target_count": [1.0] * len(cells) + [np.nan] * len(cells),
        }
    )
    meta = panel(period, forecast)
    table = forecast_next_period(
        features,
        cells,
        Doubling(),  # type: ignore[arg-type]
        panel=meta,
        model_meta=MODEL_META,
        coverage=0.2,
        interval_level=0.8,
        audit_status=audit.status,
    )
    (folder / "forecast.csv").write_text(forecast_csv(table))
    return build_manifest(
        table,
        panel=meta,
        model_meta=MODEL_META,
        audit=audit,
        coverage=0.2,
        params_digest="f67132828f00dd99",
        files={
            "forecast.csv": forecast_csv(table).encode(),
            "forecast.geojson": (forecast_geojson(table) + "\n").encode(),
            "forecast.gpkg": b"SQLite format 3\x00",
            "forecast.parquet": b"PAR1",
            "forecast.qml": b"<qgis/>\n",
            "forecast_map.html": b"<html>the map</html>\n",
            "forecast_bands.csv": b"h3_cell,band\n",
            "district_sheets.html": b"<html>the sheets</html>\n",
            "district_sheets.pdf": b"%PDF-1.4\n",
            "bias_report.html": b"<html></html>\n",
            "model_card.md": b"# Model card\n",
            "audit.json": b"{}\n",
            "transparency_record.md": b"# Transparency record\n",
            "transparency_record.json": b"{}\n",
        },
        **kw,
    )


def test_the_forecast_scores_the_panels_period(
    tmp_path: Path, cells: pd.DataFrame, review: AuditReport
) -> None:
    manifest = publish(
        tmp_path, cells, audit=review, period="week", forecast="2025-01-06", override=None
    )
    table = pd.read_csv(tmp_path / "forecast.csv")
    assert table["week_start"].eq("2025-01-06").all()
    assert table["audit_status"].eq("pass with review").all()
    # the forecast week's x, doubled, ranked
    expected = 2.0 * np.linspace(0.1, 2.0, 2 * len(cells))[len(cells) :]
    np.testing.assert_allclose(table["risk_score"], np.round(expected[::-1], 6))
    assert (manifest.n_cells, manifest.n_flagged) == (len(cells), int(table["flagged"].sum()))
    assert manifest.registered_model == "beatwise-risk/7"
    assert (manifest.h3_resolution, manifest.period_key) == (8, "forecast_week")


def test_a_produced_manifest_validates_and_writes_identical_bytes(
    tmp_path: Path, cells: pd.DataFrame, review: AuditReport, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="models.publication"):
        manifest = publish(
            tmp_path,
            cells,
            audit=review,
            period="month",
            forecast="2025-02-01",
            override=OVERRIDE,
        )
    assert "PUBLISHED UNDER OVERRIDE by The board on 2026-01-05: A test." in caplog.text
    manifest.write(tmp_path / "manifest.json")
    written = (tmp_path / "manifest.json").read_bytes()
    again = Manifest.read(tmp_path / "manifest.json")
    assert again == manifest
    again.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == written
    assert b'"forecast_month": "2025-02-01"' in written
    assert again.override is not None and again.override.gates == ("G3",)


def policy(max_share: float) -> AllocationPolicy:
    return AllocationPolicy(
        column="deprivation_score",
        label="deprivation score, where higher means more deprived",
        n_quantiles=2,
        max_share=max_share,
        approved_by="The board",
        date=dt.date(2026, 1, 5),
        reason="A test.",
    )


def forecast(cells: pd.DataFrame, **kw: Any) -> pd.DataFrame:
    """The forecast of week 2025-01-06 whose scores rise with the cell's position in ``cells``."""
    start = pd.Timestamp("2025-01-06")
    features = pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"].tolist(),
            "period_start": [start] * len(cells),
            "x": np.linspace(0.1, 1.0, len(cells)),
            "target_count": np.nan,
        }
    )
    return forecast_next_period(
        features,
        cells,
        Doubling(),  # type: ignore[arg-type]
        panel=panel("week", "2025-01-06"),
        model_meta=MODEL_META,
        coverage=0.2,
        interval_level=0.8,
        audit_status="pass",
        **kw,
    )


def test_a_declared_policy_caps_the_stratum_in_the_published_flags(
    cells: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    # ten 1 km² cells, 2 km² flagged; cells 5-9 are the upper half by deprivation score and the
    # highest scores. A cap of half the flagged area (1 km²) keeps cell 9 and passes over 8-5
    # for cell 4, the best of the lower half.
    cells = cells.assign(area_km2=1.0, deprivation_score=np.arange(10.0), residents=100.0)
    plain = forecast(cells)
    with caplog.at_level(logging.INFO, logger="models.publication"):
        capped = forecast(cells, policy=policy(0.5))
    assert "allocation policy of The board (2026-01-05)" in caplog.text
    flagged = dict(zip(capped["h3_cell"], capped["flagged"], strict=True))
    assert [flagged[c] for c in cells["h3_cell"]] == [False] * 4 + [True] + [False] * 4 + [True]
    assert list(plain.loc[plain["flagged"], "h3_cell"]) == list(cells["h3_cell"][[9, 8]])
    # only the flags differ: same columns, scores and ranks
    assert list(capped.columns) == list(plain.columns)
    pd.testing.assert_frame_equal(capped.drop(columns="flagged"), plain.drop(columns="flagged"))


def test_without_a_policy_the_flags_are_the_top_area_and_a_cap_of_one_changes_no_byte(
    cells: pd.DataFrame,
) -> None:
    cells = cells.assign(deprivation_score=np.arange(10.0), residents=100.0)
    plain = forecast(cells)
    by_cell = plain.set_index("h3_cell").loc[cells["h3_cell"]]
    expected = flag_top_area(
        by_cell["risk_score"].to_numpy()[None, :],
        areas_km2=cells["area_km2"].to_numpy(),
        cell_ids=cells["h3_int"].to_numpy(),
        coverage=0.2,
    )[0]
    np.testing.assert_array_equal(by_cell["flagged"].to_numpy(), expected)
    assert forecast_csv(forecast(cells, policy=policy(1.0))) == forecast_csv(plain)


def test_a_policy_needs_its_column_in_cells(cells: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"needs the column 'deprivation_score'"):
        forecast(cells.assign(residents=100.0), policy=policy(0.5))


# ---------------------------------------------------------------------------------------------
# The candidate set, and publish's own check of the audit's verdict


def write_record(folder: Path) -> None:
    """The transparency record the audit stage writes beside the report and the card."""
    (folder / "transparency_record.md").write_text("# Transparency record\n")
    (folder / "transparency_record.json").write_text("{}\n")


def documents(folder: Path, audit: AuditReport) -> Documents:
    audit.write(folder / "audit.json")
    (folder / "report.html").write_text("<html>the report</html>\n")
    (folder / "card.md").write_text("# Model card\n")
    write_record(folder)
    return read_documents(
        audit=folder / "audit.json",
        report=folder / "report.html",
        card=folder / "card.md",
        lock_path=None,
    )


def test_the_candidate_set_is_the_forecast_its_documents_and_a_manifest_naming_them(
    tmp_path: Path, cells: pd.DataFrame, review: AuditReport
) -> None:
    docs = documents(tmp_path, review)
    table = forecast(cells.assign(residents=100.0))
    config = TimeBandsConfig()
    shares = np.full((len(table), config.n_bands), 0.5 / (config.n_bands - 1))
    shares[:, 4] = 0.5  # half of every cell's week falls on weekdays 16:00-20:00
    bands = ForecastBands(band_labels(config), shares, reason=None, history_periods=52)
    manifest, files = candidate_set(
        table,
        docs,
        areas=toy_areas(cells),
        panel=panel("week", "2025-01-06"),
        model_meta=MODEL_META,
        coverage=0.2,
        interval_level=0.8,
        override=None,
        params_digest="f67132828f00dd99",
        bands=bands,
    )
    assert tuple(files) == PUBLISHED_FILES
    rows = pd.read_csv(io.BytesIO(files["forecast_bands.csv"]))
    assert list(rows.columns) == list(BAND_COLUMNS)
    assert len(rows) == table["flagged"].sum() * config.n_bands
    assert rows["risk_rank"].is_monotonic_increasing
    busiest = rows[rows["band"] == "weekdays 16:00-20:00"]
    np.testing.assert_allclose(busiest["band_share"], 0.5)
    expected = table.set_index("h3_cell").loc[busiest["h3_cell"], "risk_score"].to_numpy()
    np.testing.assert_allclose(busiest["band_expected_count"], np.round(expected * 0.5, 3))
    assert "Busiest hours" in files["forecast_map.html"].decode()
    assert manifest.time_bands_note is None
    assert files["forecast.csv"] == forecast_csv(table).encode()  # the CSV as it always was
    # the planners' formats of the same forecast: the GeoPackage is a SQLite file, the map names
    # every flagged cell by its rank and the week in words
    assert files["forecast.gpkg"].startswith(b"SQLite format 3\x00")
    assert files["forecast.parquet"][:4] == files["forecast.parquet"][-4:] == b"PAR1"
    assert b"<renderer-v2" in files["forecast.qml"]
    page = files["forecast_map.html"].decode()
    assert "week of Monday 6 January 2025 to Sunday 12 January 2025" in page
    for rank in table.loc[table["flagged"], "risk_rank"]:
        assert f'<path data-r="{rank}"' in page
    # and a sheet per district, in the page and the PDF, each naming the busiest hours
    sheets = files["district_sheets.html"].decode()
    for district in table["district_name"].unique():
        assert f">{district}</a></td>" in sheets
    assert (
        sheets.count("weekdays 16:00-20:00 (50%)")
        == table.groupby("district_name")["flagged"].any().sum()
    )
    assert files["district_sheets.pdf"].startswith(b"%PDF-")
    assert files["audit.json"] == (tmp_path / "audit.json").read_bytes()
    assert files["model_card.md"] == b"# Model card\n"
    assert files["transparency_record.md"] == b"# Transparency record\n"  # it travels too
    for name, sha in manifest.file_hashes().items():
        assert hashlib.sha256(files[name]).hexdigest() == sha, name
    assert Manifest.from_json(json.loads(files["manifest.json"])) == manifest
    write_candidate(tmp_path / "candidate", files)
    assert {p.name: p.read_bytes() for p in (tmp_path / "candidate").iterdir()} == files


def lock_recording(folder: Path, *, audit_md5: str | None = None) -> Path:
    """A dvc.lock recording the audit stage's three outputs in ``folder`` as they are now."""
    outs = "".join(
        f"    - path: {folder / name}\n      hash: md5\n"
        f"      md5: {md5 if md5 else md5_file(folder / name)}\n"
        for name, md5 in (
            ("audit.json", audit_md5),
            ("report.html", None),
            ("card.md", None),
            ("transparency_record.md", None),
            ("transparency_record.json", None),
        )
    )
    lock = folder / "dvc.lock"
    lock.write_text(f"schema: '2.0'\nstages:\n  audit:\n    cmd: x\n    outs:\n{outs}")
    return lock


def read_checked(folder: Path, lock: Path) -> Documents:
    return read_documents(
        audit=folder / "audit.json",
        report=folder / "report.html",
        card=folder / "card.md",
        lock_path=lock,
    )


def test_publish_reads_the_verdict_only_from_the_audit_file_the_audit_stage_wrote(
    tmp_path: Path, review: AuditReport
) -> None:
    documents(tmp_path, blocked_on_g3(review))
    written = md5_file(tmp_path / "audit.json")
    lock = lock_recording(tmp_path)
    assert not read_checked(tmp_path, lock).audit.publishable
    # a verdict edited by hand into one its gates agree with: only the hash can tell
    edited = pass_with_review(blocked_on_g3(review))
    edited.write(tmp_path / "audit.json")
    with pytest.raises(
        PublicationBlockedError, match=r"Not the documents the audit stage wrote"
    ) as err:
        read_checked(tmp_path, lock)
    assert err.value.blocked_by == ("audit.json",)
    assert f"{lock} records md5 {written}" in str(err.value)
    # a retouched model card too; and with no record at all, nothing vouches for any file
    (tmp_path / "card.md").write_text("# Model card, improved\n")
    with pytest.raises(PublicationBlockedError) as err:
        read_checked(tmp_path, lock)
    assert err.value.blocked_by == ("audit.json", "model_card.md")
    with pytest.raises(PublicationBlockedError, match=r"records no md5 for it"):
        read_checked(tmp_path, tmp_path / "absent.lock")


def test_a_hand_set_publishable_true_that_its_gates_contradict_is_refused(
    tmp_path: Path, review: AuditReport
) -> None:
    raw = blocked_on_g3(review).to_json()
    raw["publishable"] = True
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(raw))
    (tmp_path / "report.html").write_text("")
    (tmp_path / "card.md").write_text("")
    write_record(tmp_path)
    lock = lock_recording(tmp_path)  # say the lock was committed too
    with pytest.raises(
        ArtefactError, match=r"publishable is True but the blocking gates are \['G3'\]"
    ):
        read_checked(tmp_path, lock)
    raw["blocking_gates"] = []  # and the list of blocking gates emptied: G3 still FAILs
    path.write_text(json.dumps(raw))
    lock = lock_recording(tmp_path)
    with pytest.raises(
        ArtefactError,
        match=r"blocking_gates must be the hard gates whose status blocks \(\['G3'\]\)\. Got \[\]",
    ):
        read_checked(tmp_path, lock)


def test_an_override_cannot_be_edited_to_lift_fewer_gates_than_block(review: AuditReport) -> None:
    raw = blocked_on_g3(review).to_json()
    raw["gates"]["G4"].update(status="FAIL")
    raw["blocking_gates"] = ["G3", "G4"]
    raw["publishable"] = True
    raw["override_applied"] = {
        "approving_body": "The board",
        "date": "2026-01-05",
        "expires": "2026-02-05",
        "reason": "A test.",
        "approved_gates": ["G3"],
        "overridden_gates": ["G3"],
        "text": "Approved despite G3.",
    }
    with pytest.raises(ArtefactError, match=r"override_applied lifts \['G3'\], but the gates"):
        AuditReport.from_json(raw, source="audit.json")


def test_the_blocking_statuses_are_the_audits() -> None:
    from models.audit._catalogue import BLOCKING

    assert BLOCKING == BLOCKING_STATUSES


def test_the_exit_code_keeps_an_experiment_and_refuses_anything_unpublished() -> None:
    kinds: tuple[RunKind, ...] = ("publication", "experiment", "uncommitted", "outside_dvc")
    codes = {
        kind: (
            exit_code(RunContext(kind, ""), blocked=False),
            exit_code(RunContext(kind, ""), blocked=True),
        )
        for kind in kinds
    }
    assert codes == {
        "publication": (0, 1),
        "experiment": (0, 0),  # DVC keeps a blocked experiment's metrics and audit
        "uncommitted": (1, 1),  # so the dvc repro after the commit publishes
        "outside_dvc": (0, 1),
    }


def test_data_without_times_publish_the_reason_instead_of_bands(
    tmp_path: Path, cells: pd.DataFrame, review: AuditReport
) -> None:
    table = forecast(cells.assign(residents=100.0))
    reason = "the source records only the month of each crime"
    manifest, files = candidate_set(
        table,
        documents(tmp_path, review),
        areas=toy_areas(cells),
        panel=panel("week", "2025-01-06"),
        model_meta=MODEL_META,
        coverage=0.2,
        interval_level=0.8,
        override=None,
        params_digest="f67132828f00dd99",
        bands=ForecastBands((), None, reason=reason, history_periods=None),
    )
    assert files["forecast_bands.csv"].decode().splitlines() == [",".join(BAND_COLUMNS)]
    assert manifest.time_bands_note == reason
    assert f"No hours of the week: {reason}." in files["forecast_map.html"].decode()
    assert f"No hours of the week: {reason}." in files["district_sheets.html"].decode()


def test_only_the_model_fitted_through_the_schedules_fit_point_may_forecast(
    cells: pd.DataFrame,
) -> None:
    start = pd.Timestamp("2024-01-08")
    features = pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"].tolist(),
            "period_start": [start] * len(cells),
            "x": np.linspace(0.1, 2.0, len(cells)),
            "target_count": [np.nan] * len(cells),
        }
    )
    # the model was fitted through 2024-01-01; a panel whose schedule fits through an earlier
    # week (the week's refresh re-uses the model of its fit point) must be served by that model
    earlier = panel("week", "2024-01-08").model_copy(update={"fit_through": dt.date(2023, 12, 4)})
    forecast = functools.partial(
        forecast_next_period, features, cells, Doubling(),  # type: ignore[arg-type]
        model_meta=MODEL_META, coverage=0.2, interval_level=0.8, audit_status="pass",
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"fitted through 2024-01-01, but panel_meta\.json says"):
        forecast(panel=earlier)
    same = panel("week", "2024-01-08").model_copy(update={"fit_through": dt.date(2024, 1, 1)})
    pd.testing.assert_frame_equal(forecast(panel=same), forecast(panel=panel("week", "2024-01-08")))
