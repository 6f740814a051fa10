"""The params loader: declared sections only, typos and wrong types named in the message."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from beatwise.params import ParamsError, StageParams, load_params, params_hash, validate_params

ROOT = Path(__file__).resolve().parents[2]


class Grid(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    h3_resolution: int = Field(8, ge=5, le=11)
    label: str = "x"


class Params(StageParams):
    cells: Grid


def test_keeps_only_declared_sections() -> None:
    params = validate_params("build_cells", Params, {"cells": {"h3_resolution": 9}, "other": 1})
    assert params.cells.h3_resolution == 9
    assert params.cells.label == "x"


def test_out_of_range_names_key_stage_expectation_and_value() -> None:
    with pytest.raises(
        ParamsError,
        match=r"The 'cells.h3_resolution' parameter of stage 'build_cells' "
        r"must be <= 11\. Got 17\.",
    ):
        validate_params("build_cells", Params, {"cells": {"h3_resolution": 17}})


def test_wrong_type_is_named() -> None:
    with pytest.raises(ParamsError, match=r"'cells.h3_resolution' .* must be an int\. Got 'nine'"):
        validate_params("build_cells", Params, {"cells": {"h3_resolution": "nine"}})


def test_unknown_key_suggests_closest() -> None:
    with pytest.raises(
        ParamsError,
        match=r"'cells.h3_resolutoin' .* not a known key\. Did you mean 'h3_resolution'",
    ):
        validate_params("build_cells", Params, {"cells": {"h3_resolutoin": 9}})


def test_missing_section_is_named() -> None:
    with pytest.raises(ParamsError, match=r"reads the params.yaml section\(s\) \['cells'\]"):
        validate_params("build_cells", Params, {"train": {}})


def test_frozen() -> None:
    params = validate_params("build_cells", Params, {"cells": {}})
    with pytest.raises(ValueError, match="frozen"):
        params.cells.h3_resolution = 3  # type: ignore[misc]


def test_load_from_file_and_hash_is_stable(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("cells:\n  h3_resolution: 9\n")
    a = load_params("build_cells", Params, path)
    b = load_params("build_cells", Params, path)
    assert params_hash(a) == params_hash(b)
    path.write_text("cells:\n  h3_resolution: 10\n")
    assert params_hash(load_params("build_cells", Params, path)) != params_hash(a)


def test_bad_yaml_names_the_file_and_the_place(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("cells:\n  h3_resolution: [8\n  label: x\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"params\.yaml is not valid YAML: .*line 3, column 8"):
        load_params("build_cells", Params, path)


def test_an_unquoted_date_that_is_no_date_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text('cells:\n  label: "2024-13-01"\n  h3_resolution: 8\nx:\n  as_of: 2024-13-01\n')
    with pytest.raises(
        ParamsError,
        match=r"params\.yaml holds an unquoted date that is no date \(month must be in 1\.\.12\) "
        r"at line 5 \('as_of: 2024-13-01'\); write dates in quotes",
    ):
        load_params("build_cells", Params, path)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="does not exist"):
        load_params("build_cells", Params, tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="must hold a mapping"):
        load_params("build_cells", Params, bad)


class Zone(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    low: float = 0.0
    high: float = 1.0
    start: dt.date = dt.date(2022, 1, 3)

    @field_validator("high")
    @classmethod
    def _above_low(cls, v: float, info: ValidationInfo) -> float:
        if v <= info.data.get("low", 0.0):
            raise ValueError("must be above low")
        return v

    @field_validator("start")
    @classmethod
    def _monday(cls, v: dt.date) -> dt.date:
        if v.weekday() != 0:
            raise PydanticCustomError("check", "{expectation}", {"expectation": "must be a Monday"})
        return v

    @model_validator(mode="after")
    def _narrow(self) -> Zone:
        if self.high - self.low > 10:
            raise PydanticCustomError(
                "check", "{expectation}", {"expectation": "must be < 10", "key": "width", "got": 11}
            )
        if self.low < -5:
            raise ValueError("Zone.low below -5 is not supported here. Got a lower value.")
        return self


class ZoneParams(StageParams):
    zones: dict[str, Zone]


@pytest.mark.parametrize(
    ("zone", "match"),
    [
        ({"low": 2.0, "high": 1.0}, r"'zones\.a\.high' .* must be above low\. Got 1\.0\.$"),
        ({"start": "2022-01-04"}, r"'zones\.a\.start' .* must be a Monday\. Got '2022-01-04'\.$"),
        ({"start": "2022-13-04"}, r"'zones\.a\.start' .* must be a date \(YYYY-MM-DD\)"),
        ({"high": 11.0}, r"'zones\.a\.width' parameter of stage 'x' must be < 10\. Got 11\.$"),
        ({"low": -6.0}, r"'zones\.a' parameter of stage 'x' is refused: Zone\.low below -5 is not"),
        ({"hihg": 1.0}, r"'zones\.a\.hihg' .* not a known key\. Did you mean 'high'\?"),
    ],
)
def test_validator_refusals_read_in_the_same_style(zone: dict[str, object], match: str) -> None:
    """A validator's "must ..." text, its context's key and value, and free sentences."""
    with pytest.raises(ParamsError, match=match):
        validate_params("x", ZoneParams, {"zones": {"a": zone}})


def _section_schemas(text: str) -> dict[str, str]:
    """Each top-level section of params.yaml -> the comment block just above it."""
    out: dict[str, str] = {}
    comment: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            comment.append(line)
            continue
        key = re.match(r"^([a-z_]+):", line)
        if key:
            out[key.group(1)] = " ".join(comment)
        comment = []
    return out


def test_params_file_names_each_sections_schema_and_keeps_the_simulator_last() -> None:
    """The comment above every section names the class that validates it, and that class exists
    in the module named (so a moved schema makes this fail until the comment follows)."""
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    sections = _section_schemas(text)
    assert list(sections) == list(yaml.safe_load(text))
    assert list(sections)[-1] == "simulate"
    for section, comment in sections.items():
        named = re.search(r"Schema: (\w+) in ([\w/]+\.py)", comment)
        assert named, f"the comment above '{section}:' names no schema ('Schema: X in path')"
        cls, module = named.groups()
        source = (ROOT / module).read_text(encoding="utf-8")
        assert re.search(rf"^class {cls}\(", source, re.M), f"{module} defines no class {cls}"


# --- dates: quoted in the files DVC reads, accepted either way by the loader -------------------

#: ``key: YYYY-MM-DD`` without quotes, in a value or in a commented example people uncomment
_UNQUOTED_DATE_TEXT = re.compile(r"([A-Za-z_]\w*):[ \t]*(\d{4}-\d{2}-\d{2})\b")


def _date_values(node: object, key: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every value YAML read as a date or a date-time."""
    if isinstance(node, dt.date):  # datetime.datetime too
        return [(key, node)]
    if isinstance(node, dict):
        return [hit for k, v in node.items() for hit in _date_values(v, f"{key}.{k}".lstrip("."))]
    if isinstance(node, list):
        return [hit for i, v in enumerate(node) for hit in _date_values(v, f"{key}[{i}]")]
    return []


def unquoted_dates(path: Path) -> list[str]:
    """Why each date of a params file DVC reads is not a quoted string, naming its key."""
    text = path.read_text(encoding="utf-8")
    problems = [
        f"{path.name}: '{key}' is an unquoted date ({value}); write it \"{value}\": DVC refuses "
        "YAML dates ('Unsupported value of type date') before any stage runs."
        for key, value in _date_values(yaml.safe_load(text))
    ]
    problems += [
        f"{path.name} line {number}: the example '{match[0]}: {match[1]}' in a comment is an "
        f'unquoted date; write it "{match[1]}", as whoever uncomments it needs.'
        for number, line in enumerate(text.splitlines(), start=1)
        if "#" in line
        for match in _UNQUOTED_DATE_TEXT.findall(line[line.index("#") :])
    ]
    return problems


@pytest.mark.parametrize(
    "path",
    [ROOT / "params.yaml", *sorted((ROOT / "presets").glob("*.yaml"))],
    ids=lambda p: p.name,
)
def test_every_date_dvc_reads_is_a_quoted_string(path: Path) -> None:
    problems = unquoted_dates(path)
    assert not problems, "\n".join(problems)


def test_the_date_check_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(
        "ingest:\n"
        '  start: "2016-04-01"\n'
        "  as_of: 2018-06-30       # latest date\n"
        "publish:\n"
        '  # override: {date: 2027-01-15, expires: "2027-02-15"}\n'
        "  override: null\n",
        encoding="utf-8",
    )
    assert unquoted_dates(path) == [
        "params.yaml: 'ingest.as_of' is an unquoted date (2018-06-30); write it \"2018-06-30\": "
        "DVC refuses YAML dates ('Unsupported value of type date') before any stage runs.",
        "params.yaml line 5: the example 'date: 2027-01-15' in a comment is an unquoted date; "
        'write it "2027-01-15", as whoever uncomments it needs.',
    ]


def test_ingest_dates_are_accepted_quoted_or_not() -> None:
    from pipelines.ingest import Params as IngestParams

    quoted = yaml.safe_load('ingest:\n  start: "2016-04-01"\n  as_of: "2018-06-30"\n')
    unquoted = yaml.safe_load("ingest:\n  start: 2016-04-01\n  as_of: 2018-06-30\n")
    assert isinstance(unquoted["ingest"]["as_of"], dt.date)
    a = validate_params("ingest", IngestParams, quoted)
    b = validate_params("ingest", IngestParams, unquoted)
    assert a == b and b.ingest.as_of == dt.date(2018, 6, 30)
    assert params_hash(a) == params_hash(b)
