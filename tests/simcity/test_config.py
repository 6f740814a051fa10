"""The simulate params: the committed defaults validate, and bad values are named.

Bad values go through the project's params loader, as the simulate stage reads them, so the
messages are the house style: "The 'simulate.<key>' parameter of stage 'simulate' must ...".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from beatwise.params import ParamsError, load_params, validate_params
from beatwise.taxonomy import CANONICAL_TYPES
from pipelines.simulate import Params
from simcity.config import DEFAULT_PARAMS_PATH, CityConfig, load_city_config, merge_overrides
from simcity.generate import simulate_city
from simcity.testing import tiny_city_config

COMPONENTS = ("residential", "nightlife", "retail", "transit")
STYLE = r"The '{key}' parameter of stage 'simulate' "


def _section() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))["simulate"]


def _validate(overrides: dict[str, Any]) -> Params:
    return validate_params("simulate", Params, {"simulate": merge_overrides(_section(), overrides)})


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


def _style(key: str) -> str:
    return STYLE.format(key=key.replace(".", r"\."))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"n_weeks": 2}, _style("simulate.n_weeks") + r"must be >= 4\. Got 2\.$"),
        ({"n_weeks": 2000}, _style("simulate.n_weeks") + r"must be <= 1100\. Got 2000\.$"),
        (
            {"start": "2022-01-04"},
            _style("simulate.start") + r"must be a Monday \(ISO week start\)\. Got '2022-01-04'\.$",
        ),
        ({"start": "2022-13-04"}, _style("simulate.start") + r"must be a date \(YYYY-MM-DD\)"),
        ({"scale": -1.0}, _style("simulate.scale") + r"must be > 0\.0\. Got -1\.0\.$"),
        ({"scale": float("nan")}, _style("simulate.scale") + r"must be <= 5\.0\. Got nan\.$"),
        ({"seed": -3}, _style("simulate.seed") + r"must be >= 0\. Got -3\.$"),
        ({"seed": "x"}, _style("simulate.seed") + r"must be an int\. Got 'x'\.$"),
        ({"geography": {"n_areas": 5}}, _style("simulate.geography.n_areas") + r"must be >= 10\."),
        (
            {"geography": {"n_districts": 400}},
            _style("simulate.geography.n_districts") + r"must be <= 100\. Got 400\.$",
        ),
        (
            {"geography": {"n_areas": 100, "n_districts": 60}},
            _style("simulate.geography.n_districts")
            + r"must be at most half of geography\.n_areas \(100\)\. Got 60\.$",
        ),
        (
            {"base_hourly_activity": [1.0] * 23},
            _style("simulate.base_hourly_activity") + r"must hold 24 positive numbers",
        ),
        (
            {"base_hourly_activity": [1.0] * 23 + [0.0]},
            _style("simulate.base_hourly_activity.23") + r"must be > 0\.0\. Got 0\.0\.$",
        ),
        (
            {"crime_types": {"burglary": {"triggering": {"branching_ratio": 0.95}}}},
            _style("simulate.crime_types.burglary.triggering.branching_ratio")
            + r"must be <= 0\.9\. Got 0\.95\.$",
        ),
        (
            {"crime_types": {"burglary": {"recording_rate": 1.2}}},
            _style("simulate.crime_types.burglary.recording_rate")
            + r"must be a reporting probability in \(0, 1\] for a victim-reported type\. Got 1\.2",
        ),
        (
            {"crime_types": {"burglary": {"weekday_weights": [1, 1, 1, 1, 1, 1, 0]}}},
            _style("simulate.crime_types.burglary.weekday_weights.6") + r"must be > 0\.0\. Got 0\.",
        ),
        (
            {"crime_types": {"burglary": {"weekday_weights": [1, 1, 1, 1, 1, 1]}}},
            _style("simulate.crime_types.burglary.weekday_weights")
            + r"must hold 7 positive numbers \(Monday\.\.Sunday\)",
        ),
        (
            {"crime_types": {"burglary": {"spatial": dict.fromkeys(COMPONENTS, 0.0)}}},
            _style("simulate.crime_types.burglary.spatial")
            + r"must be a mixture with a positive weight on at least one component\. Got 0\.0\.$",
        ),
        (
            {"recording": {"over_policing": {"factor": 0.0}}},
            _style("simulate.recording.over_policing.factor") + r"must be > 0\.0\. Got 0\.0\.$",
        ),
        (
            {"recording": {"over_policing": {"deprivation_decile_max": 11}}},
            _style("simulate.recording.over_policing.deprivation_decile_max")
            + r"must be <= 10\. Got 11\.$",
        ),
        (
            {"patrol_response": {"reporting_uplift": 1.5}},
            _style("simulate.patrol_response.reporting_uplift") + r"must be <= 1\.0\. Got 1\.5\.$",
        ),
        (
            {"patrol_response": {"deterrence": -0.1}},
            _style("simulate.patrol_response.deterrence") + r"must be >= 0\.0\. Got -0\.1\.$",
        ),
    ],
)
def test_bad_values_name_key_expectation_and_value(override: dict[str, Any], match: str) -> None:
    with pytest.raises(ParamsError, match=match):
        _validate(override)


def test_unknown_key_is_refused_with_the_closest_known_one() -> None:
    with pytest.raises(
        ParamsError, match=_style("simulate.geografy") + r"is not a known key\. Did you mean 'geo"
    ):
        _validate({"geografy": {}})
    with pytest.raises(
        ParamsError,
        match=_style("simulate.crime_types.burglary.spatial.hotspot_sdd")
        + r"is not a known key\. Did you mean 'hotspot_sd'\?",
    ):
        _validate({"crime_types": {"burglary": {"spatial": {"hotspot_sdd": 1.0}}}})


def test_bad_params_file_stops_the_stage_loader(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))
    raw["simulate"]["burn_in_weeks"] = 300
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ParamsError, match=_style("simulate.burn_in_weeks") + r"must be <= 260"):
        load_params("simulate", Params, path)


def test_load_city_config_refuses_a_bad_override_as_the_stage_does() -> None:
    with pytest.raises(ParamsError, match=_style("simulate.n_weeks") + r"must be >= 4\. Got 2\."):
        load_city_config(overrides={"n_weeks": 2})


def test_non_canonical_crime_type_is_refused() -> None:
    section = _section()
    section["crime_types"]["car_theft"] = section["crime_types"]["burglary"]
    with pytest.raises(
        ParamsError,
        match=_style("simulate.crime_types") + r"must be keyed by canonical Beatwise types.*"
        r"'car_theft' is not one\. Got \[.*'car_theft'",
    ):
        validate_params("simulate", Params, {"simulate": section})
    section["crime_types"] = {}
    with pytest.raises(ParamsError, match=_style("simulate.crime_types") + r"must hold at least 1"):
        validate_params("simulate", Params, {"simulate": section})


def test_missing_params_section_is_refused(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: {}\n", encoding="utf-8")
    with pytest.raises(
        ParamsError, match=r"Stage 'simulate' reads the params\.yaml section\(s\) \['simulate'\]"
    ):
        load_city_config(path)


def test_over_policing_unknown_district_is_refused() -> None:
    config = tiny_city_config(
        recording={"over_policing": {"districts": ["Atlantis"], "factor": 2.0}}
    )
    with pytest.raises(
        ValueError,
        match=_style("simulate.recording.over_policing.districts")
        + r"must name districts of this city \(.*\)\. Got 'Atlantis'\.$",
    ):
        simulate_city(config)
