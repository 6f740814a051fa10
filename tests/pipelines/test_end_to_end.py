"""End to end: the real DVC pipeline on a small synthetic city, in a temporary copy of the repo.

One module-scoped run feeds several checks: every contract output exists and parses, and the
`dvc repro` of the committed params published its set whole; a second `dvc repro` re-runs
nothing; changing one `train` param re-runs only train and what follows; a `dvc exp run -S`
works, `dvc metrics diff` shows the change, and it publishes nothing and moves no alias; a
blocked experiment is kept, its block visible in `dvc exp show`; a forced full re-run gives a
byte-identical forecast CSV (train reuses the MLflow run of the identical model); a SIGKILL of the
publish stage at its first, middle and last steps leaves a whole publication; every notebook runs
against the outputs and shows the figures it declares; a fresh MLflow store changes only the
CSV's `mlflow_run_id`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from headless_chromium import CHROMIUM_ARGS, require_chromium
from repo_copy import ROOT, copy_repo, ran_stages, run, set_params

from beatwise.artefacts.headline import BACKTEST_WORDS
from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.publication import PublicationRecord
from beatwise.publications import KILL_AT_ENV, list_publications, read_latest, verify_publication
from models.baselines import baseline_label
from simcity.testing import TINY_CITY_PUBLISH_OVERRIDE

pytestmark = pytest.mark.e2e

#: A tiny city (80 km², 80 weeks; simcity.testing) and a short backtest: a pipeline of about a
#: minute that still has 52 weeks of lags. Its groups are far too small for the audit (most hard
#: gates report INSUFFICIENT DATA), so the run publishes under a test override naming those gates;
#: this test is about DVC mechanics and the output contract. The gates themselves are tested in
#: tests/models/test_audit.py, and blocking in tests/pipelines/test_publish.py.
SMALL: dict[str, dict[str, object]] = {
    "evaluate": {"backtest_periods": 8, "refit_every": 4, "n_boot": 200, "min_train_periods": 12},
    "train": {"max_rounds": 100, "validation_periods": 4, "min_data_in_leaf": 50},
    "audit": {"n_boot": 200},
    "publish": {"override": TINY_CITY_PUBLISH_OVERRIDE},
    # a short loop of two seeds: it runs, and G11 says REVIEW (fewer than 52 weeks)
    "feedback": {"weeks": 8, "seeds": 2},
}


def small_city_overrides() -> dict[str, object]:
    from simcity.testing import TINY_CITY_OVERRIDES

    return {**TINY_CITY_OVERRIDES, "n_weeks": 80}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    repo = copy_repo(tmp_path_factory.mktemp("beatwise") / "repo")
    set_params(repo, {**SMALL, "simulate": small_city_overrides()})
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "small city"], repo)
    first = run(["dvc", "repro"], repo)
    forecast = (repo / CANDIDATE / "forecast.csv").read_bytes()
    second = run(["dvc", "repro"], repo)
    return {"path": repo, "first": first.stdout, "second": second.stdout, "forecast": forecast}


CANDIDATE = Path("data/forecasts/candidate")
PUBLISHED = Path("data/published")


def published_files(path: Path) -> dict[str, bytes]:
    """Every file of the published area, by its path there."""
    root = path / PUBLISHED
    return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()}


def aliases(path: Path) -> dict[str, str]:
    """The registered model's aliases, read with the MLflow client from the repo's store."""
    script = (
        "import json\n"
        "from mlflow.tracking import MlflowClient\n"
        "c = MlflowClient('sqlite:///mlflow.db')\n"
        "m = c.get_registered_model('beatwise-risk')\n"
        "print(json.dumps({a: str(v) for a, v in m.aliases.items()}))\n"
    )
    return json.loads(run([sys.executable, "-c", script], path).stdout.strip().splitlines()[-1])


def experiments(path: Path) -> dict[str, dict[str, object]]:
    """`dvc exp show`: each experiment's name -> its reports/publication.json as DVC shows it."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], path).stdout)
    found: dict[str, dict[str, object]] = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for revision in exp.get("revs") or []:
                metrics = (revision.get("data") or {}).get("metrics") or {}
                record = metrics.get("reports/publication.json", {}).get("data")
                if exp.get("name") and record is not None:
                    found[exp["name"]] = {**record, "_metrics": metrics}
    return found


def test_first_run_runs_every_stage(repo: dict[str, object]) -> None:
    assert ran_stages(str(repo["first"])) == [
        "simulate",
        "ingest",
        "build_cells",
        "build_features",
        "select",
        "train",
        "evaluate",
        "feedback",
        "audit",
        "publish",
    ]


def test_contract_outputs_exist_and_parse(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    with (path / CANDIDATE / "forecast.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and float(rows[0]["risk_score"]) >= float(rows[-1]["risk_score"])
    dictionary = pd.read_csv(ROOT / "docs/forecast-dict.csv")
    assert list(rows[0]) == list(dictionary.loc[dictionary["period"] != "month", "column"])
    assert (
        rows[0]["week_start"]
        == json.loads((path / "data/processed/panel_meta.json").read_text())["forecast_period"]
    )
    geo = json.loads((path / CANDIDATE / "forecast.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == len(rows)
    metrics = json.loads((path / "reports/backtest_metrics.json").read_text())
    assert metrics["period"] == "week"
    assert {
        "pai_at_5pct",
        "hr_at_5pct",
        "pei_truth_at_5pct",
        "baselines",
        "lift_pai_at_5pct",
    } <= set(metrics)
    audit = json.loads((path / "reports/audit.json").read_text())
    assert audit["publishable"] is True
    assert {f"G{i}" for i in range(1, 11)} <= set(audit["gates"])
    # synthetic data: the same gates for the flags the true risk would have raised
    statuses = {"PASS", "REVIEW", "FAIL", "INSUFFICIENT DATA"}
    assert audit["counterfactuals"]["true risk"]["G3"]["status"] in statuses
    HTMLParser().feed((path / "reports/bias_report.html").read_text())
    assert "## " in (path / "reports/model_card.md").read_text()
    # the transparency record: research phase (the default), its gaps listed, the others link it
    record = json.loads((path / "reports/transparency_record.json").read_text())
    assert record["metadata"]["phase"] == "research" and record["gaps"]
    record_md = (path / "reports/transparency_record.md").read_text()
    assert "## Tier 2.5: Risks, mitigations and impact assessments" in record_md
    assert "## Gaps in this record" in record_md and "`governance.owner`" in record_md
    assert 'href="transparency_record.md"' in (path / "reports/bias_report.html").read_text()
    assert "](transparency_record.md)" in (path / "reports/model_card.md").read_text()
    manifest = json.loads((path / CANDIDATE / "manifest.json").read_text())
    assert manifest["mlflow_run_id"] and manifest["forecast_csv_sha256"]
    model_meta = json.loads((path / "data/models/model_meta.json").read_text())
    # one training run for every row: the one the manifest and the model meta name
    assert {row["mlflow_run_id"] for row in rows} == {manifest["mlflow_run_id"]}
    assert manifest["mlflow_run_id"] == model_meta["mlflow_run_id"]
    for png in yaml.safe_load((path / "dvc.yaml").read_text())["stages"]["evaluate"]["plots"]:
        assert (path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    quality = json.loads((path / "reports/data_quality.json").read_text())
    assert quality["rows_accepted"] + quality["rows_quarantined"] == quality["rows_read"]
    meta = json.loads((path / "data/processed/panel_meta.json").read_text())
    assert (meta["period"], meta["source"], meta["time_resolution"]) == (
        "week",
        "synthetic",
        "sub_day",
    )
    assert (path / "mlflow.db").exists()


def test_the_committed_configuration_published_its_whole_set(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    latest = read_latest(path / PUBLISHED)
    assert latest is not None
    week = json.loads((path / "data/processed/panel_meta.json").read_text())["forecast_period"]
    assert latest.folder == week and latest.forecast_period.isoformat() == week
    folder = path / PUBLISHED / week
    manifest = verify_publication(folder)  # six files, each the sha256 its manifest names
    for name in ("forecast.csv", "forecast.geojson", "manifest.json"):
        assert (folder / name).read_bytes() == (path / CANDIDATE / name).read_bytes()
    for name, report in (
        ("audit.json", "audit.json"),
        ("bias_report.html", "bias_report.html"),
        ("model_card.md", "model_card.md"),
    ):
        assert (folder / name).read_bytes() == (path / "reports" / report).read_bytes()
    record = PublicationRecord.read(path / "reports/publication.json")
    assert (record.status, record.run, record.folder) == ("published", "publication", week)
    model_meta = json.loads((path / "data/models/model_meta.json").read_text())
    version = model_meta["registered_version"]
    assert aliases(path) == {"candidate": version, "published": version}
    assert manifest.registered_model == f"beatwise-risk/{version}"


#: Every JSON file passed between stages, with its one typed definition (beatwise.artefacts).
STAGE_FILES = {
    "reports/data_quality.json": ("quality", "DataQuality"),
    "data/processed/cells_meta.json": ("cells", "CellsMeta"),
    "data/processed/panel_meta.json": ("panel", "PanelMeta"),
    "data/processed/fit/panel_meta.json": ("panel", "PanelMeta"),
    "data/processed/fit/data_quality.json": ("quality", "DataQuality"),
    "data/models/selected_config.json": ("selection", "SelectedConfig"),
    "reports/model_selection.json": ("selection", "ModelSelection"),
    "data/models/model_meta.json": ("model", "ModelMeta"),
    "reports/backtest_metrics.json": ("metrics", "BacktestMetrics"),
    "reports/compare/backtest.json": ("headline", "BacktestHeadline"),
    "reports/compare/gates.json": ("headline", "GatesHeadline"),
    "reports/time_bands.json": ("timebands", "TimeBandsBacktest"),
    "reports/feedback.json": ("feedback", "FeedbackReport"),
    "reports/audit.json": ("audit", "AuditReport"),
    "reports/transparency_record.json": ("transparency", "TransparencyRecord"),
    "data/forecasts/candidate/manifest.json": ("manifest", "Manifest"),
    "reports/publication.json": ("publication", "PublicationRecord"),
}


def test_every_stage_file_is_what_its_definition_writes(repo: dict[str, object]) -> None:
    """A producer and its definition cannot disagree: each file the run wrote validates, and the
    definition writes it back to the same bytes. Every JSON output in dvc.yaml is listed here."""
    import importlib

    path = Path(str(repo["path"]))
    stages = yaml.safe_load((path / "dvc.yaml").read_text())["stages"]
    declared = {
        name
        for stage in stages.values()
        for key in ("outs", "metrics")
        for out in stage.get(key, [])
        for name in ([out] if isinstance(out, str) else list(out))
    }
    candidate = path / "data/forecasts/candidate"  # a folder output: the set publish writes
    written = {name for name in declared if name.endswith(".json")} | {
        str(f.relative_to(path))
        for f in candidate.glob("*.json")
        # its copies of the audit stage's files
        if f.name not in ("audit.json", "transparency_record.json")
    }
    assert written == set(STAGE_FILES)
    for rel, (module, name) in STAGE_FILES.items():
        definition = getattr(importlib.import_module(f"beatwise.artefacts.{module}"), name)
        artefact = definition.read(path / rel)
        artefact.write(path / "rewritten.json")
        assert (path / "rewritten.json").read_bytes() == (path / rel).read_bytes(), rel


def test_coverage_table_agrees_with_the_operational_audit(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    audit = json.loads((path / "reports/audit.json").read_text())
    table = audit["coverage_sensitivity"]
    assert table["coverages"] == [0.01, 0.02, 0.05, 0.1, 0.2]
    metrics = BacktestMetrics.read(path / "reports/backtest_metrics.json")
    best = f"best baseline ({baseline_label(metrics.best_baseline)})"
    assert set(table["rankings"]) == {"this model", best}
    # at the operational coverage the table re-derives the flags from the scores; it must find
    # exactly the verdicts of the audit itself, and of the best baseline's counterfactual
    at_5 = table["rankings"]["this model"]["5"]
    for gid in table["gates"]:
        assert at_5[gid] == {k: audit["gates"][gid][k] for k in ("status", "value")}, gid
        baseline = audit["counterfactuals"][best][gid]
        assert table["rankings"][best]["5"][gid] == baseline, gid
    html = (path / "reports/bias_report.html").read_text()
    assert 'id="coverage-sensitivity"' in html


def test_second_run_reruns_nothing(repo: dict[str, object]) -> None:
    assert ran_stages(str(repo["second"])) == []


#: what the Dask engine computes elsewhere, and must write as the local path does
ON_DASK = (
    "data/processed/features.parquet",
    "data/processed/fit/features.parquet",
    "data/models/selected_config.json",
    "reports/model_selection.json",
    "data/processed/backtest.parquet",
    "reports/backtest_metrics.json",
)


def test_the_dask_engine_writes_the_local_paths_bytes(repo: dict[str, object]) -> None:
    """engine.kind dask: the panel by partitions, the backtests' refits as tasks on a
    LocalCluster (worker threads, for speed); the stages it changes re-run, and write what the
    local path wrote, so DVC runs nothing after them."""
    path = Path(str(repo["path"]))
    local = {name: (path / name).read_bytes() for name in ON_DASK}
    kept = {name: (path / name).read_bytes() for name in ("params.yaml", "dvc.lock")}
    set_params(path, {"engine": {"kind": "dask", "processes": False, "partition_resolution": 6}})
    try:
        out = run(["dvc", "repro"], path).stdout
        assert ran_stages(out) == ["build_features", "select", "evaluate"]
        for name in ON_DASK:
            assert (path / name).read_bytes() == local[name], name
    finally:
        for name, content in kept.items():
            (path / name).write_bytes(content)
    assert ran_stages(run(["dvc", "repro"], path).stdout) == []  # the local lock still holds


def test_mlflow_run_is_tagged_and_model_registered(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    script = (
        "import mlflow, json\n"
        "from mlflow.tracking import MlflowClient\n"
        "mlflow.set_tracking_uri('sqlite:///mlflow.db')\n"
        "runs = mlflow.search_runs(experiment_names=['beatwise'], output_format='list')\n"
        "c = MlflowClient()\n"
        "v = c.get_model_version_by_alias('beatwise-risk', 'published')\n"
        "print(json.dumps({'tags': [r.data.tags for r in runs], 'version': v.version}))\n"
    )
    out = run([sys.executable, "-c", script], path).stdout.strip().splitlines()[-1]
    payload = json.loads(out)
    by_stage = {t.get("stage"): t for t in payload["tags"]}
    assert {"train", "evaluate", "audit", "publish"} <= set(by_stage)
    train = by_stage["train"]
    assert {"git_commit", "git_dirty", "params_hash"} <= set(train)
    assert any(k.startswith("input_md5.") for k in train)
    assert payload["version"]


def test_train_param_change_reruns_only_downstream(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "lock"], path)
    before, registry = published_files(path), aliases(path)
    out = run(["dvc", "exp", "run", "-S", "train.learning_rate=0.1", "-n", "lr01"], path).stdout
    # the selection starts from the train params, and the loop runs the chosen model settings,
    # so both run again too
    assert ran_stages(out) == ["select", "train", "evaluate", "feedback", "audit", "publish"]
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], path).stdout)
    changes = diff["reports/compare/backtest.json"]
    assert changes["poisson_deviance"]["old"] is not None  # HEAD's metrics were found
    assert any(v.get("diff") not in (0, None) for v in changes.values())
    assert set(changes) <= set(BACKTEST_WORDS)  # the headline only, not every baseline
    assert "reports/backtest_metrics.json" not in diff
    # the README's comparison: both runs, the changed param, the headline, in 120 columns
    table = run(["beatwise", "compare", "--width", "120"], path).stdout.splitlines()
    assert max(len(line) for line in table) <= 120
    assert table[0].split() == ["main", "workspace", "lr01"]
    lr = next(line for line in table if "train.learning_rate" in line)
    assert lr.startswith("*") and lr.split()[-2:] == ["0.1", "0.1"]
    assert any(line.lstrip("* ").startswith("lift over the best baseline") for line in table)
    # the curves of both revisions, on one chart each
    overlaid = json.loads(run(["dvc", "plots", "diff", "HEAD", "lr01", "--json"], path).stdout)
    for plot_id in ("capture_curve", "calibration", "pai_by_period"):
        (spec,) = overlaid["data"][plot_id]
        assert spec["revisions"] == ["HEAD", "lr01"], plot_id
        revisions = {row["rev"] for row in spec["content"]["data"]["values"]}
        assert revisions == {"HEAD", "lr01"}, plot_id
    # the experiment's forecast is its candidate, for comparison: nothing is published
    assert published_files(path) == before
    assert aliases(path) == registry
    assert (path / CANDIDATE / "forecast.csv").read_bytes() != repo["forecast"]
    shown = experiments(path)["lr01"]
    assert (shown["status"], shown["run"]) == ("candidate", "experiment")
    assert "reports/compare/backtest.json" in shown["_metrics"]  # type: ignore[operator]


def test_a_blocked_experiment_is_kept_with_its_block_visible(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    before, registry = published_files(path), aliases(path)
    # without the test override the tiny city's audit blocks (its groups are too small to judge)
    out = run(["dvc", "exp", "run", "-S", "publish.override=null", "-n", "no-override"], path)
    assert ran_stages(out.stdout) == ["audit", "publish"]
    shown = experiments(path)["no-override"]
    assert (shown["status"], shown["run"], shown["n_cells"]) == ("blocked", "experiment", 0)
    blocked_by = str(shown["blocked_by"]).split(", ")
    assert blocked_by and all(g.startswith("G") for g in blocked_by), shown["blocked_by"]
    gates = shown["_metrics"]["reports/compare/gates.json"]["data"]  # type: ignore[index]
    assert gates["verdict"] == "blocked"
    assert all(gates["gates"][g] not in ("PASS", "REVIEW") for g in blocked_by)
    audit = json.loads((path / "reports/audit.json").read_text())  # kept: the experiment's audit
    assert audit["publishable"] is False and sorted(audit["blocking_gates"]) == sorted(blocked_by)
    assert sorted(p.name for p in (path / CANDIDATE).iterdir()) == ["blocked.txt"]
    assert published_files(path) == before and aliases(path) == registry


def test_forced_rerun_gives_byte_identical_forecast(repo: dict[str, object]) -> None:
    path = Path(str(repo["path"]))
    before = published_files(path)
    run(["git", "checkout", "--", "params.yaml", "dvc.lock"], path)
    out = run(["dvc", "repro", "--force"], path)
    model_meta = json.loads((path / "data/models/model_meta.json").read_text())
    run_id = model_meta["mlflow_run_id"]
    assert f"identical model already logged as run {run_id}" in out.stdout + out.stderr
    assert (path / CANDIDATE / "forecast.csv").read_bytes() == repo["forecast"]
    # the same set again: already the latest publication, nothing written; both aliases name
    # the committed configuration's model, whatever the experiments did
    assert published_files(path) == before
    version = model_meta["registered_version"]
    assert aliases(path) == {"candidate": version, "published": version}


#: where the publish stage is killed: its publication writes fifteen files, renames the folder,
#: then writes latest.json in two steps (eighteen steps). Every step of the same writer is killed
#: in tests/beatwise/test_publications.py; here the stage as DVC runs it is killed at the first
#: and a middle file, the last file, the rename and both of latest.json's steps, and step 19 (no
#: kill) must complete: the stage has exactly the eighteen steps that test counts.
KILL_POINTS = (1, 8, 15, 16, 17, 18)
PUBLISH_STEPS = 18


def test_a_kill_at_any_step_of_publish_leaves_a_whole_publication(
    repo: dict[str, object], tmp_path: Path
) -> None:
    """The publish stage as DVC runs it, SIGKILLed after its publication's steps."""
    path = Path(str(repo["path"]))
    run(["git", "checkout", "--", "params.yaml"], path)  # the committed configuration, published
    run(["dvc", "repro"], path)
    # a second edition of the model card, recorded by DVC as the audit stage's output
    card = path / "reports/model_card.md"
    card.write_text(card.read_text() + "\nSecond edition.\n")
    run(["dvc", "commit", "-f", "audit"], path)
    cmd = shlex.split(yaml.safe_load((path / "dvc.yaml").read_text())["stages"]["publish"]["cmd"])
    env = {**os.environ, "DVC_STAGE": "publish", "DVC_ROOT": str(path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    old = read_latest(path / PUBLISHED)
    assert old is not None
    shutil.copytree(path / PUBLISHED, tmp_path / "before")
    for step in (*KILL_POINTS, PUBLISH_STEPS + 1):
        proc = subprocess.run(
            [sys.executable, *cmd[1:]],
            cwd=path,
            env={**env, KILL_AT_ENV: str(step)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        latest = read_latest(path / PUBLISHED)
        assert latest is not None
        verify_publication(path / PUBLISHED / latest.folder)  # whole, whichever it is
        if step > PUBLISH_STEPS:  # the step count was passed: the publication completed
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert latest.folder == f"{old.folder}.2"
            break
        assert proc.returncode == -signal.SIGKILL, (step, proc.stderr[-3000:])
        # before the pointer's last step the old publication is the latest, after it the new one
        assert latest.folder == (old.folder if step < PUBLISH_STEPS else f"{old.folder}.2"), step
        for folder in list_publications(tmp_path / "before"):  # the old ones are untouched
            assert verify_publication(path / PUBLISHED / folder.name)
        shutil.rmtree(path / PUBLISHED)
        shutil.copytree(tmp_path / "before", path / PUBLISHED)
    new = verify_publication(path / PUBLISHED / f"{old.folder}.2")
    assert (
        new.model_card_sha256 != verify_publication(path / PUBLISHED / old.folder).model_card_sha256
    )


def test_every_notebook_shows_its_figures(repo: dict[str, object]) -> None:
    """Each notebook of notebooks/ runs in a Jupyter kernel against this run's outputs, and every
    cell that declares a figure shows one (tests/notebook_checks.py); each declares at least one."""
    from notebook_checks import check_notebook

    path = Path(str(repo["path"]))
    notebooks = sorted((path / "notebooks").glob("*.ipynb"))
    assert notebooks
    for notebook in notebooks:
        check_notebook(notebook, root=path)


def test_bias_report_renders_in_a_real_browser(repo: dict[str, object], tmp_path: Path) -> None:
    browser_bin = require_chromium()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    report = Path(str(repo["path"])) / "reports" / "bias_report.html"
    shot = tmp_path / "bias_report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_bin, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        assert page.locator("#summary").is_visible()
        gate_rows = page.locator("#gates tr[id^='gate-G']")
        assert gate_rows.count() == 12  # G1-G12
        for i in range(12):
            assert gate_rows.nth(i).is_visible()
        assert page.locator("#decision").inner_text().strip()
        assert page.locator("#transparency a[href='transparency_record.md']").is_visible()
        assert "Audit run on" in page.locator("#dates").inner_text()
        assert page.locator("#feedback img").is_visible()  # the drift figure, embedded
        # how recent forecasts did: the backtest's line at least, before any week is scored
        assert page.locator("#performance svg.track [data-series='backtest']").count() >= 1
        assert page.locator("#performance svg.track").is_visible()
        images = page.locator("img")
        assert images.count() >= 3
        assert all(
            page.evaluate(
                "(img) => img.complete && img.naturalWidth > 0", images.nth(i).element_handle()
            )
            for i in range(images.count())
        )
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not [url for url in requests if not url.startswith(("file:", "data:"))]  # offline
    with Image.open(shot) as image:
        assert image.width == 1280 and image.height > 3000
        grey = np.asarray(image.convert("L").resize((64, 256)))
        assert len(np.unique(grey)) > 16  # text, tables and charts, not a blank page


# Last in the module: it leaves outputs naming a run that the restored MLflow store does not hold.
def test_fresh_mlflow_store_changes_only_the_run_id(
    repo: dict[str, object], tmp_path: Path
) -> None:
    """A fresh clone has no MLflow store: train mints a new run id, and only that column moves."""
    path = Path(str(repo["path"]))
    stores = ("mlflow.db", "mlruns")
    previous = read_latest(path / PUBLISHED)
    for name in stores:
        if (path / name).exists():
            shutil.move(path / name, tmp_path / name)
    try:
        # The stages before train never touch MLflow, so forcing train and what follows is all of
        # a fresh clone's run that can differ (and saves re-simulating the city).
        out = run(["dvc", "repro", "--force", "--downstream", "train"], path)
        fresh = (path / CANDIDATE / "forecast.csv").read_bytes()
        latest = read_latest(path / PUBLISHED)
    finally:
        for name in stores:
            if (path / name).is_dir():
                shutil.rmtree(path / name)
            elif (path / name).exists():
                (path / name).unlink()
            if (tmp_path / name).exists():
                shutil.move(tmp_path / name, path / name)
    assert ran_stages(out.stdout) == ["train", "evaluate", "audit", "publish"]
    original = repo["forecast"]
    assert isinstance(original, bytes)
    before, after = (
        pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        for data in (original, fresh)
    )
    assert list(after.columns) == list(before.columns)
    (old_id,), (new_id,) = before["mlflow_run_id"].unique(), after["mlflow_run_id"].unique()
    assert new_id != old_id
    pd.testing.assert_frame_equal(
        after.drop(columns="mlflow_run_id"), before.drop(columns="mlflow_run_id")
    )
    # not a byte elsewhere: swapping the ids back gives the original file
    assert fresh.replace(new_id.encode(), old_id.encode()) == original
    # published again, beside the earlier publications of the same week
    assert previous is not None and latest is not None and latest.folder != previous.folder
    assert latest.folder.startswith(f"{latest.forecast_period}.")
    assert (path / PUBLISHED / latest.folder / "forecast.csv").read_bytes() == fresh
    assert (path / PUBLISHED / previous.folder).is_dir()
