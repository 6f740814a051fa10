"""Presets: overlays of params.yaml that every stage validates, passed to DVC as -S overrides."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from beatwise.params import validate_params
from beatwise.presets import (
    PRESETS_DIR,
    REPO_ROOT,
    experiment_command,
    hydra_value,
    list_presets,
    load_preset,
    main,
    overlay_params,
    preset_value,
    set_param_overrides,
)

PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
DVC_STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def _parse(overrides: list[str]) -> dict[str, object]:
    parsed = OverridesParser.create().parse_overrides(overrides)
    return {o.key_or_group: o.value() for o in parsed}


def test_the_shipped_presets() -> None:
    assert list_presets() == ["london_api", "st_louis"]


@pytest.mark.parametrize("name", ["london_api", "st_louis"])
@pytest.mark.parametrize("stage", list(DVC_STAGES))
def test_preset_params_validate_for_every_stage(name: str, stage: str) -> None:
    params = overlay_params(PARAMS, load_preset(name))
    module = importlib.import_module(f"pipelines.{stage}")
    validate_params(stage, module.Params, params)


@pytest.mark.parametrize("name", ["london_api", "st_louis"])
def test_overrides_round_trip_through_hydra(name: str) -> None:
    preset = load_preset(name)
    parsed = _parse(set_param_overrides(PARAMS, preset))
    merged = overlay_params(PARAMS, preset)
    for key, value in parsed.items():
        expected: object = merged
        for part in key.split("."):
            expected = expected[part]  # type: ignore[index]
        assert _texty(value) == _texty(expected), key


def _texty(value: object) -> object:
    """Hydra returns integer-like mapping keys as ints; the params models read them as text."""
    if isinstance(value, dict):
        return {str(k): _texty(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_texty(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (0.25, "0.25"),
        ("null", "'null'"),
        ("%m/%d/%Y %H:%M", "'%m/%d/%Y %H:%M'"),
        ("it's", "'it\\'s'"),
        ([1, "a"], "[1, 'a']"),
        ({"a": 1, 3: "robbery"}, "{a: 1, 3: 'robbery'}"),
    ],
)
def test_hydra_value(value: object, text: str) -> None:
    assert hydra_value(value) == text
    assert _parse([f"k={text}"])["k"] == value


def test_hydra_value_quotes_a_date_that_yaml_read_unquoted() -> None:
    # A preset's unquoted 2016-04-01 is a date to YAML; DVC refuses dates in params.yaml.
    value = yaml.safe_load("start: 2016-04-01")["start"]
    assert hydra_value(value) == "'2016-04-01'"
    assert _parse([f"ingest.start={hydra_value(value)}"])["ingest.start"] == "2016-04-01"


def test_hydra_value_refuses_keys_and_interpolation() -> None:
    with pytest.raises(ValueError, match="keys must be identifiers or whole numbers"):
        hydra_value({"not an id": 1})
    with pytest.raises(ValueError, match="Hydra interpolation"):
        hydra_value("${oops}")


def test_overlay_merges_mappings_and_refuses_unknown_keys() -> None:
    base = {"a": {"x": 1, "y": {"p": 1}}, "b": [1, 2]}
    assert overlay_params(base, {"a": {"y": {"p": 2}}, "b": [3]}) == {
        "a": {"x": 1, "y": {"p": 2}},
        "b": [3],
    }
    with pytest.raises(ValueError, match="In 'a': The preset sets 'z'"):
        overlay_params(base, {"a": {"z": 1}})
    with pytest.raises(ValueError, match=r"sets a\.z, which params\.yaml does not have"):
        set_param_overrides(base, {"a": {"z": 1}})


def test_a_null_mapping_is_replaced_whole() -> None:
    base = {"ingest": {"mapping": None, "source": "synthetic"}}
    assert set_param_overrides(base, {"ingest": {"mapping": {"time_column": "t"}}}) == [
        "ingest.mapping={time_column: 't'}"
    ]


def test_unknown_preset_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"No preset named 'nope'.*london_api, st_louis"):
        load_preset("nope")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_preset("empty", tmp_path)


def test_experiment_command_and_cli(capsys: pytest.CaptureFixture[str]) -> None:
    argv = experiment_command("st_louis")
    assert argv[:5] == ["dvc", "exp", "run", "-n", "st-louis"]
    assert "ingest.source='mapped_csv'" in argv
    assert main(["st_louis", "--print"]) == 0
    assert capsys.readouterr().out.startswith("dvc exp run -n st-louis -S ")
    assert main([]) == 0
    assert capsys.readouterr().out.split() == ["london_api", "st_louis"]


def test_presets_live_in_the_repository() -> None:
    assert PRESETS_DIR == REPO_ROOT / "presets"


def test_preset_value_reads_a_nested_value_and_names_what_is_missing() -> None:
    codes = preset_value("st_louis", "ingest.mapping.category_map")
    assert codes[3] == "robbery" and codes[5] == "burglary"  # UCR groups as YAML reads them
    with pytest.raises(
        ValueError,
        match=r"Preset 'st_louis' does not set 'ingest\.mapping\.nope': ingest\.mapping has no "
        r"key 'nope'\. Keys there: \['category_column',",
    ):
        preset_value("st_louis", "ingest.mapping.nope")
    with pytest.raises(ValueError, match=r"ingest\.source is 'mapped_csv', not a mapping"):
        preset_value("st_louis", "ingest.source.kind")
    with pytest.raises(ValueError, match=r"the top level has no key 'ingset'"):
        preset_value("st_louis", "ingset")
    with pytest.raises(ValueError, match=r"No preset named 'nope'"):
        preset_value("nope", "ingest")
