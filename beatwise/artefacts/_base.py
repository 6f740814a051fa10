"""The base of every typed file passed between stages.

A stage writes its JSON output through one pydantic definition and the next stage reads it
through the same definition, so a field is named, typed and decided once. Reading refuses a file
that disagrees with its definition (a missing key, a typo, a wrong type) with a message that names
the file and the key, instead of a ``KeyError`` three stages later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from beatwise.io import read_json, write_json


class ArtefactError(ValueError):
    """A stage file does not match its typed definition."""


def describe_validation_error(source: str, err: ValidationError) -> str:
    """One readable message per wrong field: where, what was expected, what was got."""
    lines = []
    for item in err.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "missing":
            lines.append(f"{source}: key '{key}': Field required (the file has no such key).")
            continue
        got = item.get("input")
        shown = repr(got) if not isinstance(got, dict) else "an object"
        lines.append(f"{source}: key '{key}': {item['msg']}. Got {shown[:80]}.")
    return "\n".join(lines)


class Artefact(BaseModel):
    """A frozen, strict record written by one stage and read by later ones.

    Subclasses set ``kind`` in their docstring's first line (what the file is for); ``write`` goes
    through ``beatwise.io.write_json`` (atomic, sorted keys, NaN as null), so the bytes on disk
    depend only on the field values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_json(cls, data: dict[str, Any], *, source: str = "<memory>") -> Self:
        """Validate a JSON object into this artefact, naming ``source`` in any error."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ArtefactError(
                f"{source} does not match the {cls.__name__} definition "
                f"({cls.__module__}):\n{describe_validation_error(source, err)}"
            ) from None

    @classmethod
    def read(cls, path: Path | str) -> Self:
        """Read and validate the file at ``path``."""
        return cls.from_json(read_json(Path(path)), source=str(path))

    def to_json(self) -> dict[str, Any]:
        """The JSON object this artefact is written as (override to change the file's layout)."""
        return self.model_dump(mode="json")

    def write(self, path: Path | str, *, durable: bool = False) -> None:
        """Write atomically as sorted, strict JSON (``durable``: flushed to disk, see
        :func:`beatwise.io.atomic_path`)."""
        write_json(Path(path), self.to_json(), durable=durable)
