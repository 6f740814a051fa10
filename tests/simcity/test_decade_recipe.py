"""The decade recipe (preset london_decade) simulates ten years that ingest accepts whole, and the
simulate stage refuses a city that runs past today instead of handing ingest future dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from beatwise.params import read_params_file
from beatwise.presets import load_preset, overlay_params
from features.ingest.config import IngestConfig
from features.ingest.run import judge_source
from simcity.config import CityConfig
from simcity.generate import simulate_city
from simcity.io import write_city
from simcity.testing import tiny_city_config

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 2)


def _decade() -> tuple[dict[str, object], CityConfig]:
    params = overlay_params(read_params_file(ROOT / "params.yaml"), load_preset("london_decade"))
    return params, CityConfig.model_validate(params["simulate"])


def test_the_recipe_is_a_decade_at_london_volume_that_ends_before_today() -> None:
    _, city = _decade()
    assert (city.start, city.n_weeks, city.scale) == (dt.date(2015, 1, 5), 520, 1.0)
    assert city.last_day == dt.date(2024, 12, 22)
    city.refuse_future(TODAY)  # no refusal


def test_its_ten_years_are_accepted_whole_by_ingest(tmp_path: Path) -> None:
    """The recipe's dates on the tiny city (the volume is the only change): every row accepted."""
    params, decade = _decade()
    city = simulate_city(tiny_city_config(start=decade.start, n_weeks=decade.n_weeks, scale=0.002))
    write_city(city, tmp_path)
    cfg = IngestConfig.model_validate(params["ingest"])
    judged = judge_source(cfg, data_dir=tmp_path, today=TODAY)
    result = judged.result
    assert len(result.quarantine) == 0
    assert len(result.accepted) == len(city.events) > 10_000
    stamps = result.accepted["timestamp"]
    assert stamps.min().date() < dt.date(2015, 1, 12)  # the first week
    assert stamps.max().date() >= dt.date(2024, 12, 16)  # the last week


def test_a_city_that_runs_past_today_is_refused_with_the_way_out() -> None:
    late = tiny_city_config(start=dt.date(2022, 1, 3), n_weeks=520)
    assert late.last_day == dt.date(2031, 12, 21)
    with pytest.raises(ValueError, match=r"runs to 2031-12-21, after today \(2026-12-02\)") as err:
        late.refuse_future(TODAY)
    assert "at most 256 weeks from this start" in str(err.value)
    assert "london_decade" in str(err.value)
