"""The system's Chromium for the browser tests, driven by Playwright (which never downloads one).

Where Chromium is missing a browser test skips, unless ``BEATWISE_REQUIRE_BROWSER=1`` (set by
``.ci/run`` wherever it could install Chromium), when it fails instead.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: launch flags: no sandbox (CI runs as root), and none of Chromium's own background traffic
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """Debian's Chromium (``.ci/run`` installs it); Playwright never downloads a browser here."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """Chromium's path; skip the calling test without one (fail if BEATWISE_REQUIRE_BROWSER=1)."""
    browser_bin = chromium_path()
    if browser_bin is None:
        if os.environ.get("BEATWISE_REQUIRE_BROWSER") == "1":
            pytest.fail("BEATWISE_REQUIRE_BROWSER=1 but no Chromium is installed.")
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package).")
    return browser_bin
