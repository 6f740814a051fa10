"""MLflow tracking for stages: offline defaults, provenance tags, one context manager per run.

Every run carries the tags a data scientist needs to trace a number back to its inputs: git commit
and dirty flag, stage, DVC experiment name (under ``dvc exp run``), a hash of the stage's params,
and the md5 of each input as recorded in ``dvc.lock``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import mlflow

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
EXPERIMENT_NAME = "beatwise"
REGISTERED_MODEL_NAME = "beatwise-risk"


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
    """Commit hash and whether tracked files differ from it ('unknown' outside a git repo)."""
    commit = _git("rev-parse", "HEAD") or "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no")
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
    recorded: dict[str, str] = {}
    if lock_path.exists():
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
        for stage in (lock.get("stages") or {}).values():
            for entry in (stage.get("outs") or []) + (stage.get("deps") or []):
                if "md5" in entry:
                    recorded[str(Path(entry["path"]))] = entry["md5"]
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
            mlflow.start_run(run_name=stage, nested=True, tags=tags) as run,
        ):
            log.info("MLflow run %s (stage %s, parent %s)", run.info.run_id, stage, parent_run_id)
            yield run
    else:
        with mlflow.start_run(run_name=stage, tags=tags) as run:
            log.info("MLflow run %s (stage %s)", run.info.run_id, stage)
            yield run


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
