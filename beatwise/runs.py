"""What kind of run a stage is in, and so whether it may publish what planners receive.

Only a deliberate ``dvc repro`` of the committed configuration publishes. Three facts decide,
read from the environment DVC gives a stage's command and from git:

- ``DVC_EXP_NAME`` (and ``DVC_EXP_BASELINE_REV``): DVC sets them for every stage command of a
  ``dvc exp run`` (in the workspace, ``--temp`` or a queue: ``dvc/repo/experiments/queue/base.py``)
  and never for ``dvc repro``. The presets run as experiments. An experiment never publishes.
- ``DVC_STAGE`` (and ``DVC_ROOT``): DVC sets them for every stage command it runs
  (``dvc/stage/run.py``). A stage run by hand never publishes: nothing then vouches that its
  inputs are the pipeline's outputs, and no ``dvc.lock`` records what the audit stage wrote.
- ``params.yaml`` against the last commit's (``git show HEAD:./params.yaml``), compared as data,
  so comments and layout do not count. A ``dvc repro`` of params that differ from the commit (the
  values a preset leaves in the workspace, say) is not the committed configuration.

``dvc.lock`` is also where the hash of what a stage wrote travels to a later stage: DVC records
each output's md5 as soon as its stage finishes, before the next one starts
(:func:`recorded_md5`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

#: publication: a ``dvc repro`` of the committed params; experiment: a ``dvc exp run``;
#: uncommitted: a ``dvc repro`` of params that differ from the last commit (or with no commit to
#: compare with); outside_dvc: a stage command run by hand
RunKind = Literal["publication", "experiment", "uncommitted", "outside_dvc"]

EXP_NAME_ENV = "DVC_EXP_NAME"
STAGE_ENV = "DVC_STAGE"
#: how many differing params a message names
_SHOWN = 5


@dataclass(frozen=True)
class RunContext:
    """The kind of run, and why, in words a log line can print."""

    kind: RunKind
    reason: str
    #: the DVC experiment's name (``kind == "experiment"``)
    experiment: str | None = None

    @property
    def may_publish(self) -> bool:
        """Whether this run may publish and move the registry's aliases."""
        return self.kind == "publication"


def _differences(ours: Any, theirs: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two parsed YAML documents."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = list(dict.fromkeys([*ours, *theirs]))
        return [d for k in keys for d in _differences(ours.get(k), theirs.get(k), f"{prefix}{k}.")]
    return [] if ours == theirs else [prefix.rstrip(".") or "(the whole file)"]


def committed_params_differences(params_path: Path) -> list[str] | None:
    """The params (dotted keys) where ``params_path`` differs from the last commit's file.

    Returns ``None`` when there is nothing to compare with: not a git repository, no commit, the
    file not committed, or git not installed.
    """
    path = Path(params_path).resolve()
    try:
        committed = subprocess.run(
            ["git", "-C", str(path.parent), "show", f"HEAD:./{path.name}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    ours = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _differences(ours, yaml.safe_load(committed))


def detect_run(params_path: Path, *, env: Mapping[str, str] | None = None) -> RunContext:
    """Whether this stage runs in a DVC experiment, by hand, or as a ``dvc repro`` of the
    committed or of changed params (see the module's docstring)."""
    env = os.environ if env is None else env
    name = env.get(EXP_NAME_ENV)
    if name:
        return RunContext("experiment", f"DVC experiment '{name}'", experiment=name)
    if not env.get(STAGE_ENV):
        return RunContext("outside_dvc", "run by hand, not by DVC")
    differences = committed_params_differences(params_path)
    if differences is None:
        return RunContext("uncommitted", f"{params_path} has no committed version to compare with")
    if differences:
        shown = ", ".join(differences[:_SHOWN]) + (" ..." if len(differences) > _SHOWN else "")
        return RunContext(
            "uncommitted",
            f"{params_path} differs from the last commit in {len(differences)} param(s): {shown}",
        )
    return RunContext("publication", f"dvc repro of the committed {params_path}")


def md5_bytes(data: bytes) -> str:
    """Hex md5 of bytes: what DVC records for a file output of these bytes."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: Path) -> str:
    """Hex md5 of a file's bytes: the hash DVC records for a file output."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lock_md5s(lock_path: Path, *, sections: tuple[str, ...] = ("outs", "deps")) -> dict[str, str]:
    """md5 of each path ``dvc.lock`` records, by path, from the given sections of its stages.

    An output is recorded by the stage that wrote it; a dependency by each stage that read it (as
    it was when that stage last ran). An absent lock records nothing.
    """
    if not Path(lock_path).exists():
        return {}
    lock = yaml.safe_load(Path(lock_path).read_text(encoding="utf-8")) or {}
    recorded: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for section in sections:
            for entry in stage.get(section) or []:
                if "md5" in entry:
                    recorded[str(Path(entry["path"]))] = entry["md5"]
    return recorded


def recorded_md5(path: Path, *, lock_path: Path) -> str | None:
    """The md5 ``dvc.lock`` records for ``path`` as the output of the stage that wrote it."""
    return lock_md5s(lock_path, sections=("outs",)).get(str(Path(path)))
