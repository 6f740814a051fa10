"""MLflow tracking for stages: offline defaults, provenance tags, one context manager per run.

Every run carries the tags a data scientist needs to trace a number back to its inputs: git commit
and dirty flag, stage, DVC experiment name (under ``dvc exp run``), a hash of the stage's params,
and the md5 of each input as recorded in ``dvc.lock``.

A ``train`` run is content-addressed: when the same model (``model_version``, the hash of the model
text) was already logged with the same params, :func:`find_reusable_train_run` finds that run and
``train`` reuses it instead of minting a new run id, so a re-run against the same MLflow store
publishes the same id. :func:`track_training` and :func:`track_publication` are the whole MLflow
side of the ``train`` and ``publish`` stages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beatwise.runs import lock_md5s

if TYPE_CHECKING:
    import mlflow
    import pandas as pd

    from beatwise.artefacts.audit import AuditReport
    from models.risk_model import RiskModel

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT_NAME = "beatwise"
REGISTERED_MODEL_NAME = "beatwise-risk"
#: the tag counting how often ``train`` reproduced a run's model instead of logging it again
REPRODUCED_COUNT_TAG = "reproduced_count"
_HEX = re.compile(r"[0-9a-f]+")


def configure_offline_defaults() -> None:
    """Telemetry off and a local SQLite store, unless the user chose otherwise."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    # With a local SQLite store MLflow keeps artifacts under ./mlruns (ignored by git and DVC).
    os.environ.setdefault("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip()


def git_state() -> dict[str, str]:
    """Commit hash and whether tracked files differ from it ('unknown' outside a git repo).

    ``dvc.lock`` is left out of the comparison: DVC rewrites it as each stage of a run finishes,
    so it differs from the commit in every run, which says nothing about the code or params.
    """
    commit = _git("rev-parse", "HEAD") or "unknown"
    status = _git(
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)dvc.lock",
        ":(exclude)reports/compare",
    )
    dirty = "unknown" if status is None else str(bool(status)).lower()
    return {"git_commit": commit, "git_dirty": dirty}


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(_md5_of(child).encode())
        return digest.hexdigest()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_md5s(inputs: Sequence[Path], lock_path: Path = Path("dvc.lock")) -> dict[str, str]:
    """md5 of each input path as recorded in ``dvc.lock`` (by the stage that produced it).

    An input that ``dvc.lock`` does not know yet (first run, or a run outside DVC) is hashed
    here, with the same file md5 DVC uses for single files; directories get a digest of their
    files' md5s, marked with a ``computed:`` prefix so nobody mistakes it for DVC's ``.dir`` hash.
    """
    recorded = lock_md5s(lock_path)
    result: dict[str, str] = {}
    for path in inputs:
        key = str(Path(path))
        if key in recorded:
            result[key] = recorded[key]
        elif Path(path).exists():
            result[key] = ("computed:" if Path(path).is_dir() else "") + _md5_of(Path(path))
    return result


def provenance_tags(*, stage: str, params_digest: str, inputs: Sequence[Path]) -> dict[str, str]:
    """The tags every Beatwise MLflow run carries."""
    tags = {"stage": stage, "params_hash": params_digest, **git_state()}
    exp_name = os.environ.get("DVC_EXP_NAME")
    if exp_name:
        tags["dvc_experiment"] = exp_name
    baseline = os.environ.get("DVC_EXP_BASELINE_REV")
    if baseline:
        tags["dvc_exp_baseline_rev"] = baseline
    for path, md5 in input_md5s(inputs).items():
        tags[f"input_md5.{path}"] = md5
    return tags


def run_name(tags: dict[str, str]) -> str:
    """A run's name in the MLflow UI: its stage and which run of the project it belongs to.

    ``train · exp lr01`` inside ``dvc exp run`` (DVC names the experiment), else
    ``train · 6dd091c`` (the commit, ``+ changes`` when tracked files differ from it), so two runs
    of one stage are told apart at a glance; the tags hold the same facts in full.
    """
    stage = tags["stage"]
    if "dvc_experiment" in tags:
        return f"{stage} · exp {tags['dvc_experiment']}"
    commit = tags.get("git_commit", "unknown")
    if commit == "unknown":
        return f"{stage} · outside git"
    return f"{stage} · {commit[:7]}" + (" + changes" if tags.get("git_dirty") == "true" else "")


@contextlib.contextmanager
def stage_run(
    *,
    stage: str,
    params_digest: str,
    inputs: Sequence[Path],
    parent_run_id: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run for a stage (nested under ``parent_run_id`` when given)."""
    configure_offline_defaults()
    import mlflow

    mlflow.set_experiment(EXPERIMENT_NAME)
    tags = provenance_tags(stage=stage, params_digest=params_digest, inputs=inputs)
    if parent_run_id:
        with (
            mlflow.start_run(run_id=parent_run_id),
            mlflow.start_run(run_name=run_name(tags), nested=True, tags=tags) as run,
        ):
            log.info("MLflow run %s (stage %s, parent %s)", run.info.run_id, stage, parent_run_id)
            yield run
    else:
        with mlflow.start_run(run_name=run_name(tags), tags=tags) as run:
            log.info("MLflow run %s (stage %s)", run.info.run_id, stage)
            yield run


def find_reusable_train_run(model_version: str, params_digest: str) -> tuple[str, str] | None:
    """The training run that already logged this model with these params, and its model version.

    A run qualifies when it is in the ``beatwise`` experiment, active (not deleted), ``FINISHED``,
    tagged ``stage=train`` with the same ``model_version`` and ``params_hash`` tags, and still has
    a ``READY`` version of :data:`REGISTERED_MODEL_NAME`. Among several, the earliest wins (by
    start time, then run id), so every re-run picks the same one.

    Parameters
    ----------
    model_version
        Hex digest of the model text (``model_meta.json``'s ``model_version``).
    params_digest
        :func:`beatwise.params.params_hash` of the stage's params (hex).

    Returns
    -------
    ``(run_id, registered_version)``, or ``None`` when no run qualifies (or the experiment does
    not exist yet). Refuses digests that are not lowercase hex with a ``ValueError``.
    """
    for name, value in (("model_version", model_version), ("params_digest", params_digest)):
        if not _HEX.fullmatch(value):
            raise ValueError(f"{name} must be a lowercase hex digest. Got {value!r}.")
    configure_offline_defaults()
    from mlflow.entities import Run, ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None or experiment.lifecycle_stage != "active":
        return None
    query = (
        f"tags.stage = 'train' and tags.model_version = '{model_version}' "
        f"and tags.params_hash = '{params_digest}' and attributes.status = 'FINISHED'"
    )
    runs: list[Run] = []
    page_token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string=query,
            run_view_type=ViewType.ACTIVE_ONLY,
            page_token=page_token,
        )
        runs.extend(page)
        page_token = page.token
        if not page_token:
            break
    for run in sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id)):
        versions = client.search_model_versions(
            f"name = '{REGISTERED_MODEL_NAME}' and run_id = '{run.info.run_id}'"
        )
        ready = sorted(int(v.version) for v in versions if v.status == "READY")
        if ready:
            return run.info.run_id, str(ready[0])
    return None


def record_reproduction(run_id: str) -> int:
    """Count one more reproduction on a reused training run (tag ``reproduced_count``)."""
    configure_offline_defaults()
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    count = int(client.get_run(run_id).data.tags.get(REPRODUCED_COUNT_TAG, "0")) + 1
    client.set_tag(run_id, REPRODUCED_COUNT_TAG, str(count))
    return count


def track_training(
    model: RiskModel,
    labelled: pd.DataFrame,
    *,
    model_version: str,
    params_digest: str,
    run_params: dict[str, Any],
    inputs: Sequence[Path],
    importance_plot: Path,
    point_candidate: bool,
) -> tuple[str, str]:
    """The training run and registered version of ``model``; with ``point_candidate``, alias
    ``candidate`` points at it.

    Reuses the run of an identical model (:func:`find_reusable_train_run`), counting one more
    reproduction on it, or logs a new ``train`` run with ``run_params``, two training metrics, the
    importance plot and the model, and registers it. Returns ``(run_id, registered_version)``.
    ``candidate`` names the model of the committed configuration, so only a deliberate run of it
    moves the alias (``beatwise.runs``): an experiment's model is registered, never the candidate.
    """
    reusable = find_reusable_train_run(model_version, params_digest)
    if reusable is None:
        run_id, version = _log_train_run(
            model,
            labelled,
            model_version=model_version,
            params_digest=params_digest,
            run_params=run_params,
            inputs=inputs,
            importance_plot=importance_plot,
        )
        log.info("registered %s version %s as run %s", REGISTERED_MODEL_NAME, version, run_id)
    else:
        run_id, version = reusable
        count = record_reproduction(run_id)
        log.info(
            "identical model already logged as run %s (version %s); reusing it "
            "(reproduced %d time%s)",
            run_id,
            version,
            count,
            "" if count == 1 else "s",
        )
    if point_candidate:
        _point_aliases(version, "candidate")
    else:
        log.info("alias 'candidate' unchanged: not a run of the committed configuration")
    return run_id, version


def _point_aliases(version: str, *aliases: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for alias in aliases:
        client.set_registered_model_alias(REGISTERED_MODEL_NAME, alias, version)
        log.info("alias '%s' -> %s version %s", alias, REGISTERED_MODEL_NAME, version)


def _log_train_run(
    model: RiskModel,
    labelled: pd.DataFrame,
    *,
    model_version: str,
    params_digest: str,
    run_params: dict[str, Any],
    inputs: Sequence[Path],
    importance_plot: Path,
) -> tuple[str, str]:
    """Log a new training run with the model and register it; return (run id, version)."""
    import lightgbm as lgb
    import mlflow
    from mlflow.models import infer_signature

    with stage_run(stage="train", params_digest=params_digest, inputs=inputs) as run:
        mlflow.log_params(run_params)
        mlflow.set_tag("model_version", model_version)
        # float64 columns: a row built by hand (Python floats) meets the signature, and float32
        # input is still accepted (a safe widening)
        sample = labelled[list(model.feature_columns)].head(200).astype("float64")
        pred = model.predict(sample)
        fitted = model.predict(labelled)
        mlflow.log_metric("train_mean_target", float(labelled["target_count"].mean()))
        mlflow.log_metric("train_mean_prediction", float(fitted.mean()))
        mlflow.log_artifact(str(importance_plot))
        info = mlflow.lightgbm.log_model(
            model.booster,
            name="model",
            signature=infer_signature(sample, pred),
            input_example=sample.head(5),
            # stated, not inferred: inference reloads the model in a subprocess (seconds)
            pip_requirements=[f"lightgbm=={lgb.__version__}"],
            registered_model_name=REGISTERED_MODEL_NAME,
        )
        return run.info.run_id, str(info.registered_model_version)


def track_publication(
    forecast_csv: Path,
    *,
    audit_status: str,
    status: str,
    registered_version: str,
    params_digest: str,
    inputs: Sequence[Path],
    parent_run_id: str,
) -> None:
    """Log a ``publish`` run under the training run, tagged with what became of the forecast.

    Only when ``status`` is ``published`` do the aliases move: ``published`` and ``candidate``
    both point at the model (``candidate`` again, since DVC may have restored ``train`` from its
    run cache without running it). A candidate (an experiment's, say) moves neither.
    """
    with stage_run(
        stage="publish", params_digest=params_digest, inputs=inputs, parent_run_id=parent_run_id
    ):
        import mlflow

        mlflow.log_artifact(str(forecast_csv), artifact_path="forecast")
        mlflow.set_tags({"audit_status": audit_status, "publication": status})
        if status == "published":
            _point_aliases(registered_version, "published", "candidate")
        else:
            log.info("aliases 'published' and 'candidate' unchanged: forecast %s", status)


def track_audit(
    audit: AuditReport,
    *,
    inputs: Sequence[Path],
    documents: Sequence[Path],
    params_digest: str,
    parent: str,
) -> None:
    """Log the audit's decision, each gate's value and status, and the documents to MLflow."""
    with stage_run(stage="audit", params_digest=params_digest, inputs=inputs, parent_run_id=parent):
        import mlflow

        mlflow.log_metric("audit_publishable", float(audit.publishable))
        values = {
            f"audit.{n}.value": g.value for n, g in audit.gates.items() if g.value is not None
        }
        mlflow.log_metrics(values)
        for name, gate in audit.gates.items():
            mlflow.set_tag(f"audit.{name}", gate.status)
        for document in documents:
            mlflow.log_artifact(str(document))


def track_evaluation(
    metrics: dict[str, Any],
    *,
    evaluate_params: dict[str, Any],
    plots: Path,
    inputs: Sequence[Path],
    params_digest: str,
    parent: str,
) -> None:
    """Log the backtest's figures (nested, flattened), its params and plots to MLflow, and copy
    the headline (everything but the per-baseline detail) onto the training run."""
    flat = flatten_metrics(metrics)
    with stage_run(
        stage="evaluate", params_digest=params_digest, inputs=inputs, parent_run_id=parent
    ):
        import mlflow

        mlflow.log_params({f"evaluate.{k}": v for k, v in evaluate_params.items()})
        mlflow.log_metrics(flat)
        for png in sorted(plots.glob("*.png")):
            mlflow.log_artifact(str(png), artifact_path="plots")
    headline = {k: v for k, v in flat.items() if not k.startswith("baselines.")}
    log_to_parent(parent, metrics=headline)


def log_to_parent(parent_run_id: str, *, metrics: dict[str, float]) -> None:
    """Copy headline metrics onto the training run so one MLflow row shows params and results."""
    configure_offline_defaults()
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for key, value in metrics.items():
        if value is not None:
            client.log_metric(parent_run_id, key, float(value))


def flatten_metrics(payload: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested numeric metrics into MLflow keys like ``baselines.mean_52w.pai_at_5pct``."""
    flat: dict[str, float] = {}
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, prefix=f"{name}."))
        elif isinstance(value, bool) or (isinstance(value, int | float) and value == value):
            flat[name] = float(value)
    return flat
