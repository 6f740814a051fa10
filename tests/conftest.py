"""Shared test set-up: offline defaults for every test process."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

#: the end-to-end modules, longest first. The suite runs on every core (pyproject's addopts: one
#: worker per core, each test file whole on one worker, in this order), so the longest files
#: start first and the short ones fill in around them; a long file started last would run alone
#: at the end.
LONGEST_FIRST = (
    "test_end_to_end.py",
    "test_own_city.py",
    "test_default_city.py",
    "test_refresh_e2e.py",
    "test_scorecard_e2e.py",
    "test_end_to_end_monthly.py",
)


def _start_rank(item: pytest.Item) -> int:
    name = item.path.name
    if name in LONGEST_FIRST:
        return LONGEST_FIRST.index(name)
    return len(LONGEST_FIRST) + (0 if item.get_closest_marker("e2e") else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end files first, longest first; the sort is stable, so each file stays whole."""
    items.sort(key=_start_rank)
