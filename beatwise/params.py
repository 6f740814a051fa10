"""The one params loader: read ``params.yaml``, keep a stage's declared sections, validate them.

Every stage defines a frozen pydantic model whose fields are the top-level ``params.yaml`` sections
it reads, and ``dvc.yaml`` declares exactly those sections for the stage (a test checks both agree).
Unknown or mistyped keys are errors whose message names the key, the expectation and the value.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

DEFAULT_PARAMS_PATH = Path("params.yaml")


class StageParams(BaseModel):
    """Base class of a stage's params: frozen, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=StageParams)


class ParamsError(ValueError):
    """A stage's params are missing, unknown or of the wrong type."""


def read_params_file(path: Path = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """Read ``params.yaml`` into a dict, refusing a missing file, bad YAML or a non-mapping."""
    if not path.exists():
        raise ParamsError(f"The params file {path} does not exist; run from the repository root.")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        # The parser's own words, with the line and column of the problem (1-based).
        raise ParamsError(
            f"The params file {path} is not valid YAML: {' '.join(str(err).split())}"
        ) from None
    except ValueError as err:  # YAML reads an unquoted 2024-13-01 as a date, which has no month 13
        raise ParamsError(
            f"The params file {path} holds an unquoted date that is no date ({err})"
            f'{_first_impossible_date(text)}; write dates in quotes, "YYYY-MM-DD".'
        ) from None
    if not isinstance(data, dict):
        raise ParamsError(f"The params file {path} must hold a mapping of sections. Got {data!r}.")
    return data


#: an unquoted ``key: YYYY-MM-DD`` value, which YAML reads as a date
_UNQUOTED_DATE = re.compile(r"^\s*(?:-\s+)?([\w.-]+):[ \t]*(\d{4}-\d{1,2}-\d{1,2})\b")


def _first_impossible_date(text: str) -> str:
    """`` at line N ('key: value')`` for the first unquoted date-like value that is no date."""
    for number, line in enumerate(text.splitlines(), start=1):
        found = _UNQUOTED_DATE.match(line)
        if found:
            try:
                dt.date(*map(int, found[2].split("-")))
            except ValueError:
                return f" at line {number} ('{found[1]}: {found[2]}')"
    return ""


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model that a validation error location points into.

    A mapping of models (``dict[str, Model]``) is walked through: the key after it is a name. An
    optional model (``Model | None``) is the model.
    """
    current: Any = model
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = fields[part].annotation
        if get_origin(current) in (Union, UnionType):
            current = next((a for a in get_args(current) if a is not type(None)), current)
        if get_origin(current) is dict and parts:
            current = get_args(current)[1]
            parts.pop(0)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def params_refusal(expectation: str, *, got: object, key: str | None = None) -> PydanticCustomError:
    """A validator's refusal as :func:`_describe` words it: the expectation ("must ..."), the
    value shown and, when the value judged sits below the validated key, its relative ``key``
    (appended to the key the error is reported at)."""
    context: dict[str, Any] = {"expectation": expectation, "got": got}
    if key is not None:
        context["key"] = key
    return PydanticCustomError("params_check", "{expectation}", context)


def _describe(stage: str, model: type[BaseModel], err: dict[str, Any]) -> str:
    """One error in the house style: the key, the stage, the expectation, the value.

    A validator states its expectation as text starting with "must" (a ``ValueError``, or a
    ``PydanticCustomError`` whose context may add ``key``, the key judged below the validated one,
    and ``got``, the value to show instead of the validated input: see ``simcity.config``).
    """
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if "key" in ctx:
        loc = (*loc, *str(ctx["key"]).split("."))
    key = ".".join(str(p) for p in loc)
    got = ctx.get("got", err.get("input"))
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1)
        suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
        return f"The '{key}' parameter of stage '{stage}' is not a known key.{suggestion}"
    if kind == "missing":
        return f"The '{key}' parameter of stage '{stage}' is required but missing from params.yaml."
    expectations = {
        "int_type": "must be an int",
        "int_parsing": "must be an int",
        "int_from_float": "must be an int",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "dict_type": "must be a mapping",
        "greater_than": f"must be > {ctx.get('gt')}",
        "greater_than_equal": f"must be >= {ctx.get('ge')}",
        "less_than": f"must be < {ctx.get('lt')}",
        "less_than_equal": f"must be <= {ctx.get('le')}",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "model_type": "must be a mapping",
        "date_type": "must be a date (YYYY-MM-DD)",
        "date_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
        "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
        "too_short": f"must hold at least {ctx.get('min_length')} item(s)",
        "too_long": f"must hold at most {ctx.get('max_length')} item(s)",
    }
    message = str(ctx["error"]) if kind == "value_error" and "error" in ctx else err["msg"]
    if kind in expectations:
        expectation = expectations[kind]
    elif message.startswith("must "):
        expectation = message
    elif kind == "value_error":  # a validator's own sentence names the key and the value
        return f"The '{key}' parameter of stage '{stage}' is refused: {message}"
    else:
        expectation = message[:1].lower() + message[1:]
    return f"The '{key}' parameter of stage '{stage}' {expectation}. Got {got!r}."


def validate_params(stage: str, model: type[P], raw: dict[str, Any]) -> P:
    """Validate the sections of ``raw`` that ``model`` declares; name every bad key on failure."""
    declared = list(model.model_fields)
    missing = [section for section in declared if section not in raw]
    if missing:
        raise ParamsError(
            f"Stage '{stage}' reads the params.yaml section(s) {missing}, which are missing."
        )
    try:
        return model.model_validate({section: raw[section] for section in declared})
    except ValidationError as exc:
        lines = [_describe(stage, model, dict(err)) for err in exc.errors()]
        raise ParamsError("\n".join(lines)) from None


def load_params(stage: str, model: type[P], path: Path = DEFAULT_PARAMS_PATH) -> P:
    """Load and validate one stage's params from ``params.yaml``."""
    return validate_params(stage, model, read_params_file(path))


def params_hash(params: BaseModel) -> str:
    """A stable short hash of a stage's validated params (for MLflow tags and model versions)."""
    blob = json.dumps(params.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
