"""The simulate params: the committed defaults validate, and bad values are named."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from beatwise.taxonomy import CANONICAL_TYPES
from simcity.config import DEFAULT_PARAMS_PATH, CityConfig, load_city_config
from simcity.generate import simulate_city
from simcity.testing import tiny_city_config


def _section() -> dict:
    return yaml.safe_load(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))["simulate"]


def test_params_file_validates_and_covers_every_type() -> None:
    config = load_city_config(DEFAULT_PARAMS_PATH)
    assert isinstance(config, CityConfig)
    assert config.type_names == CANONICAL_TYPES
    assert config.start.isoformat() == "2022-01-03"
    assert config.n_weeks == 156
    for name, ct in config.crime_types.items():
        assert 0.1 <= ct.triggering.branching_ratio <= 0.3, name
        swing = (1 + ct.seasonal_amplitude) / (1 - ct.seasonal_amplitude) - 1
        assert 0.10 <= swing <= 0.20 + 1e-9, name


def test_config_is_frozen() -> None:
    config = load_city_config()
    with pytest.raises(ValidationError):
        config.scale = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"n_weeks": 2}, r"'simulate\.n_weeks' parameter must be an int in \[4, 1100\]\. Got 2"),
        ({"start": "2022-01-04"}, r"'simulate\.start' parameter must be a Monday.*2022-01-04"),
        ({"scale": -1.0}, r"'simulate\.scale' parameter must be a number.*Got -1\.0"),
        ({"seed": -3}, r"'simulate\.seed' parameter must be an int"),
        ({"geography": {"n_areas": 5}}, r"'simulate\.geography\.n_areas'.*Got 5"),
        ({"geography": {"n_districts": 400}}, r"'simulate\.geography\.n_districts'.*Got 400"),
        ({"base_hourly_activity": [1.0] * 23}, r"'simulate\.base_hourly_activity'.*24 positive"),
        (
            {"crime_types": {"burglary": {"triggering": {"branching_ratio": 0.95}}}},
            r"triggering\.branching_ratio' parameter must be a number in \[0, 0\.9\]\. Got 0\.95",
        ),
        (
            {"crime_types": {"burglary": {"recording_rate": 1.2}}},
            r"'simulate\.crime_types\.burglary\.recording_rate'.*reporting probability.*Got 1\.2",
        ),
        (
            {"crime_types": {"burglary": {"weekday_weights": [1, 1, 1, 1, 1, 1, 0]}}},
            r"weekday_weights' parameter must be seven positive numbers",
        ),
        (
            {"recording": {"over_policing": {"factor": 0.0}}},
            r"'simulate\.recording\.over_policing\.factor'.*Got 0\.0",
        ),
    ],
)
def test_bad_values_name_key_expectation_and_value(override: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        load_city_config(overrides=override)


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"geografy"):
        load_city_config(overrides={"geografy": {}})
    with pytest.raises(ValidationError, match=r"hotspot_sdd"):
        load_city_config(overrides={"crime_types": {"burglary": {"spatial": {"hotspot_sdd": 1.0}}}})


def test_non_canonical_crime_type_is_refused() -> None:
    section = _section()
    section["crime_types"]["car_theft"] = section["crime_types"]["burglary"]
    with pytest.raises(ValidationError, match=r"'car_theft' is not one"):
        CityConfig.model_validate(section)


def test_missing_params_section_is_refused(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no top-level 'simulate:' section"):
        load_city_config(path)


def test_over_policing_unknown_district_is_refused() -> None:
    config = tiny_city_config(
        recording={"over_policing": {"districts": ["Atlantis"], "factor": 2.0}}
    )
    with pytest.raises(ValueError, match=r"over_policing\.districts.*Got 'Atlantis'"):
        simulate_city(config)
