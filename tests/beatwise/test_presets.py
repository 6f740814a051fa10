"""Presets: overlays of params.yaml that every stage validates, written into params.yaml for DVC."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from beatwise.params import validate_params
from beatwise.presets import (
    PRESETS_DIR,
    REPO_ROOT,
    SOURCE_KEYS,
    list_presets,
    load_preset,
    main,
    overlay_params,
    preset_value,
    write_preset_params,
)

PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
DVC_STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_the_shipped_presets() -> None:
    assert list_presets() == ["london_api", "london_decade", "st_louis"]


@pytest.mark.parametrize("name", ["london_api", "london_decade", "st_louis"])
@pytest.mark.parametrize("stage", list(DVC_STAGES))
def test_preset_params_validate_for_every_stage(name: str, stage: str) -> None:
    params = overlay_params(PARAMS, load_preset(name))
    module = importlib.import_module(f"pipelines.{stage}")
    validate_params(stage, module.Params, params)


@pytest.mark.parametrize("name", ["london_api", "st_louis"])
def test_written_params_are_the_overlay(name: str, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    settings = write_preset_params(name, params_path=params)
    text = params.read_text(encoding="utf-8")
    assert text.startswith(f"# params.yaml with preset {name!r} set")
    assert yaml.safe_load(text) == overlay_params(PARAMS, load_preset(name))
    assert dict(settings)["ingest.source"] == load_preset(name)["ingest"]["source"]
    assert "as_of: '20" in text  # quoted: DVC refuses YAML dates anywhere in params.yaml


def _preset_file(tmp_path: Path, **extra: object) -> Path:
    preset = {
        "ingest": {
            "source": "mapped_csv",
            "data_dir": "../city",
            "mapping": {
                "time_column": "occurred",
                "time_format": "%Y-%m-%d %H:%M",
                "latitude_column": "lat",
                "longitude_column": "lon",
                "category_column": "offense",
                "category_map": {
                    "open space": "other_theft",
                    "theft/larceny": "other_theft",
                    "break-in": "burglary",
                    "3": "robbery",
                },
                "id_columns": ["incident"],
            },
        },
        "publish": {"override": None},
        "governance": {"data_access_terms": "none: public open data"},
        **extra,
    }
    path = tmp_path / "mycity.yaml"
    path.write_text(yaml.safe_dump(preset, sort_keys=False), encoding="utf-8")
    return path


def test_a_preset_carries_any_mapping_keys(tmp_path: Path) -> None:
    # Keys with spaces, slashes and hyphens could not travel as 'dvc exp run -S' overrides.
    path = _preset_file(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main([str(path), "--write-only", "--params", str(params)]) == 0
    written = yaml.safe_load(params.read_text(encoding="utf-8"))
    assert written["ingest"]["mapping"]["category_map"]["open space"] == "other_theft"
    assert written["ingest"]["mapping"]["category_map"]["theft/larceny"] == "other_theft"
    assert written["ingest"]["mapping"]["category_map"]["break-in"] == "burglary"
    for stage in DVC_STAGES:
        module = importlib.import_module(f"pipelines.{stage}")
        validate_params(stage, module.Params, written)


def test_a_preset_must_set_its_source_keys(tmp_path: Path) -> None:
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump({"ingest": {"source": "mapped_csv"}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"must set ingest\.data_dir, publish\.override, "):
        load_preset(str(path))
    assert set(SOURCE_KEYS) >= {"publish.override", "governance.data_access_terms"}


def test_an_absolute_data_folder_is_written_relative_to_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text(
        (REPO_ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = _preset_file(tmp_path)
    preset = yaml.safe_load(path.read_text(encoding="utf-8"))
    preset["ingest"]["data_dir"] = str(tmp_path / "data" / "city")
    path.write_text(yaml.safe_dump(preset), encoding="utf-8")
    write_preset_params(str(path), params_path=repo / "params.yaml")
    written = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    assert written["ingest"]["data_dir"] == "../data/city"


def test_overlay_merges_mappings_and_refuses_unknown_keys() -> None:
    base = {"a": {"x": 1, "y": {"p": 1}}, "b": [1, 2]}
    assert overlay_params(base, {"a": {"y": {"p": 2}}, "b": [3]}) == {
        "a": {"x": 1, "y": {"p": 2}},
        "b": [3],
    }
    with pytest.raises(ValueError, match="In 'a': The preset sets 'z'"):
        overlay_params(base, {"a": {"z": 1}})


def test_unknown_preset_names_the_known_ones(tmp_path: Path) -> None:
    known = "london_api, london_decade, st_louis"
    with pytest.raises(ValueError, match=rf"No preset named 'nope'.*{known}"):
        load_preset("nope")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_preset("empty", tmp_path)


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


def test_cli_prints_lists_and_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["st_louis", "--print"]) == 0
    out = capsys.readouterr().out
    assert 'ingest.source = "mapped_csv"' in out and out.rstrip().endswith(
        "then: dvc exp run -n st-louis publish"
    )
    assert main([]) == 0
    assert capsys.readouterr().out.split() == ["london_api", "london_decade", "st_louis"]
    assert main(["nope", "--print"]) == 2
    assert "No preset named 'nope'" in capsys.readouterr().err


def test_a_presets_model_candidates_replace_the_defaults_whole() -> None:
    """Candidates are named alternatives, not settings: a preset's are its own, ``{}`` is none,
    and its names need not exist in params.yaml (other mappings merge key by key)."""
    default = PARAMS["select"]["candidates"]
    assert default  # the default city has candidates, so the checks below can fail
    stl = overlay_params(PARAMS, load_preset("st_louis"))
    assert stl["select"]["candidates"] == load_preset("st_louis")["select"]["candidates"]
    assert set(stl["select"]["candidates"]) - set(default)
    assert stl["select"]["periods"] == 52
    london = overlay_params(PARAMS, load_preset("london_api"))
    assert london["select"]["candidates"] == {}
    assert london["select"]["periods"] == PARAMS["select"]["periods"]  # merged key by key
    with pytest.raises(ValueError, match=r"'periodz', which params\.yaml does not have"):
        overlay_params(PARAMS, {"select": {"periodz": 3}})
