"""The weekly refresh through DVC: a week of new events between fit points re-runs neither the
model nor its backtest, and its forecast is byte for byte a full run's on the same data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from repo_copy import copy_repo, ran_stages, run, set_params
from test_end_to_end import SMALL, small_city_overrides

pytestmark = pytest.mark.e2e

#: the tiny city's events run to Sunday 2023-07-16; held back to two Sundays a week apart, whose
#: last complete weeks (2023-06-19, 2023-06-26) share the fit point 2023-06-12 of a refit every
#: four weeks (week 2788 since 1970-01-05 is a multiple of four)
WEEK_ONE, WEEK_TWO = "2023-06-25", "2023-07-02"
FIT_POINT = "2023-06-12"
CANDIDATE = Path("data/forecasts/candidate")
#: the stages that read only the fit set, which a week between fit points re-runs none of
FITTED = ("select", "train", "evaluate", "audit")
QUALITY, FIT_QUALITY = (
    Path("reports/data_quality.json"),
    Path("data/processed/fit/data_quality.json"),
)


def commit_params(repo: Path, as_of: str) -> None:
    set_params(repo, {"ingest": {"as_of": as_of}})
    run(["git", "commit", "-q", "-am", f"events as of {as_of}"], repo)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    repo = copy_repo(tmp_path_factory.mktemp("refresh") / "repo")
    set_params(
        repo,
        {**SMALL, "simulate": small_city_overrides(), "refresh": {"refit_model_every": 4},
         "ingest": {"as_of": WEEK_ONE}},
    )  # fmt: skip
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "tiny city, refit every four weeks"], repo)
    started = time.perf_counter()
    first = run(["dvc", "repro"], repo)
    full_seconds = time.perf_counter() - started
    model_before = (repo / "data/models/model.txt").read_bytes()
    quality_before = {name: (repo / name).read_bytes() for name in (QUALITY, FIT_QUALITY)}
    commit_params(repo, WEEK_TWO)
    started = time.perf_counter()
    second = run(["dvc", "repro"], repo)
    refresh_seconds = time.perf_counter() - started
    refreshed = {
        "forecast": (repo / CANDIDATE / "forecast.csv").read_bytes(),
        "panel": json.loads((repo / "data/processed/panel_meta.json").read_text()),
        "model": (repo / "data/models/model.txt").read_bytes(),
        "record": json.loads((repo / "reports/publication.json").read_text()),
        "quality": {name: (repo / name).read_bytes() for name in (QUALITY, FIT_QUALITY)},
    }
    third = run(["dvc", "repro", "--force"], repo)  # a full run on the same data
    return {
        "path": repo, "first": first.stdout, "second": second.stdout, "third": third.stdout,
        "model_before": model_before, "quality_before": quality_before, "refreshed": refreshed,
        "full_seconds": full_seconds, "refresh_seconds": refresh_seconds,
    }  # fmt: skip


def test_a_week_between_fit_points_refits_nothing(refreshed: dict[str, object]) -> None:
    first, second = ran_stages(str(refreshed["first"])), ran_stages(str(refreshed["second"]))
    assert set(FITTED) <= set(first)
    assert not set(FITTED) & set(second), second
    assert {"ingest", "build_features", "publish"} <= set(second)
    fresh = refreshed["refreshed"]
    assert isinstance(fresh, dict)
    assert fresh["model"] == refreshed["model_before"]
    assert fresh["panel"]["fit_through"] == FIT_POINT
    assert fresh["panel"]["forecast_period"] == "2023-07-03"  # a week on from the first run's
    assert fresh["record"]["status"] == "published"
    # the audit prints the data as of the fit point: the newest week's rows change ingest's
    # record, not the fit set's
    before = refreshed["quality_before"]
    assert isinstance(before, dict)
    assert fresh["quality"][QUALITY] != before[QUALITY]
    assert fresh["quality"][FIT_QUALITY] == before[FIT_QUALITY]
    print(  # the figures the closing note quotes, in the test log
        f"full run {refreshed['full_seconds']:.0f} s, week's refresh "
        f"{refreshed['refresh_seconds']:.0f} s"
    )


def test_the_refreshed_forecast_is_a_full_runs_byte_for_byte(
    refreshed: dict[str, object],
) -> None:
    path = Path(str(refreshed["path"]))
    assert set(FITTED) <= set(ran_stages(str(refreshed["third"])))
    fresh = refreshed["refreshed"]
    assert isinstance(fresh, dict)
    assert (path / "data/models/model.txt").read_bytes() == fresh["model"]
    assert (path / CANDIDATE / "forecast.csv").read_bytes() == fresh["forecast"]
