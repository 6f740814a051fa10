"""The README's worked example, "Bring your own city": its preset file and its commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECTION = "### Bring your own city: a worked example"


def worked_example() -> tuple[str, str, list[str]]:
    """The README section's preset file name and text, and its shell commands in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION)
    end = readme.index("\n## ", start)
    section = readme[start:end]
    preset = re.search(r"```yaml\n(.*?)```", section, re.S)
    commands = re.search(r"```bash\n(.*?)```", section, re.S)
    assert preset and commands, "the section must hold a yaml block and a bash block"
    name = re.search(r"Save this preset as `([\w.-]+\.yaml)`", section)
    assert name, "the section must say where to save the preset"
    lines = [line.split("  #")[0].strip() for line in commands.group(1).splitlines()]
    return name.group(1), preset.group(1), [line for line in lines if line]
