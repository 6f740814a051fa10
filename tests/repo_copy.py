"""A copy of the repository in a temporary folder, and commands run in it as a user would.

The end-to-end tests run the real DVC pipeline there, so that the working tree (its data, its
``mlflow.db``) is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from beatwise.presets import overlay_params

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def git(folder: Path, *args: str) -> None:
    """Run git in ``folder`` with a throwaway identity (for toy repositories in tests)."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GIT_AUTHOR_NAME": "beatwise-test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "beatwise-test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def ran_stages(output: str) -> list[str]:
    return re.findall(r"Running stage '([\w]+)'", output)


def copy_repo(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def set_params(repo: Path, updates: dict[str, dict[str, object]]) -> None:
    path = repo / "params.yaml"
    params = overlay_params(yaml.safe_load(path.read_text()), updates)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
