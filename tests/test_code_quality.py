"""The house rules that tools can check: ruff lint, ruff format, mypy (settings in pyproject)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["beatwise", "features", "models", "pipelines", "simcity"]
pytestmark = pytest.mark.lint


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", *PACKAGES],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(command: list[str]) -> None:
    tool = Path(sys.executable).parent / command[0]
    proc = subprocess.run(
        [str(tool), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_no_merge_conflict_markers_in_tracked_files() -> None:
    proc = subprocess.run(
        ["git", "grep", "-n", "-E", "^(<{7} |>{7} |={7}$)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode == 128:  # not a git checkout (e.g. an unpacked archive)
        pytest.skip("not a git checkout")
    assert proc.stdout == "", f"conflict markers left in:\n{proc.stdout[:2000]}"
