"""Presets: named sets of params for real data sources, run as DVC experiments.

A preset is a YAML file ``presets/<name>.yaml`` holding only the params that differ from
``params.yaml`` (the synthetic-city default), in the same sections and keys. It never adds a key
that ``params.yaml`` lacks, so every value a preset sets is one a stage already validates.

Running a preset is a DVC experiment: ``python -m beatwise.presets st_louis`` runs

    dvc exp run -n st-louis -S ingest.source='mapped_csv' -S ingest.data_dir='...' ...

with one ``-S`` (``--set-param``) per value, so DVC records the experiment with its params and
metrics (``dvc exp show``, ``dvc metrics diff``), the stages that read a changed section re-run,
and ``params.yaml`` in the workspace holds the preset's values afterwards (``git checkout
params.yaml`` returns to the default). ``--print`` shows the command without running it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PRESETS_DIR = REPO_ROOT / "presets"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def list_presets(directory: Path = PRESETS_DIR) -> list[str]:
    """Names of the presets shipped in ``directory`` (file stems, sorted)."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_preset(name: str, directory: Path = PRESETS_DIR) -> dict[str, Any]:
    """Read ``<directory>/<name>.yaml``: a mapping of params sections to the values to set."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_presets(directory)) or "none"
        raise ValueError(f"No preset named {name!r} (no file {path.name}). Known presets: {known}.")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ValueError(
            f"Preset {path.name} must hold a mapping of params sections. Got {data!r}."
        )
    return data


def preset_value(name: str, key: str, directory: Path = PRESETS_DIR) -> Any:
    """The value preset ``name`` sets at the dotted ``key``, e.g. ``ingest.mapping.category_map``.

    The presets own their values (the St. Louis crime-code map lives only in
    ``presets/st_louis.yaml``); benchmarks and tests read them through here.

    Raises
    ------
    ValueError
        When there is no such preset, or it does not set ``key`` (naming the missing part).
    """
    value: Any = load_preset(name, directory)
    for depth, part in enumerate(key.split(".")):
        where = ".".join(key.split(".")[:depth]) or "the top level"
        if not isinstance(value, Mapping):
            raise ValueError(
                f"Preset {name!r} does not set {key!r}: {where} is {value!r}, not a mapping."
            )
        if part not in value:
            raise ValueError(
                f"Preset {name!r} does not set {key!r}: {where} has no key {part!r}. "
                f"Keys there: {sorted(map(str, value))}."
            )
        value = value[part]
    return value


def overlay_params(base: Mapping[str, Any], preset: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the preset's values set: mappings merge key by key, anything else replaces.

    Refuses a key that ``base`` does not have (a typo, or a param the stages do not read), naming
    its full dotted path.
    """
    out = dict(base)
    for key, value in preset.items():
        if key not in base:
            raise ValueError(
                f"The preset sets {key!r}, which params.yaml does not have; presets may only "
                f"change existing params. Known keys here: {sorted(base)}."
            )
        if isinstance(value, Mapping) and isinstance(base[key], Mapping):
            try:
                out[key] = overlay_params(base[key], value)
            except ValueError as err:
                raise ValueError(f"In {key!r}: {err}") from err
        else:
            out[key] = value
    return out


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (what ``dvc exp run -S key=<value>`` parses).

    Strings are always single-quoted, so ``'null'``, ``'1'`` and ``'%m/%d/%Y'`` stay strings.
    A date (an unquoted ``2016-04-01`` in a preset, which YAML reads as a date) is written as its
    quoted ISO text: DVC refuses date values in ``params.yaml``, and the params models read the
    text back as the same date.
    Mapping keys must be identifiers or integers (Hydra cannot quote keys); integer-like text keys
    are written bare and come back as ints, which the params models turn back into text.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):  # datetime.datetime too
        value = value.isoformat()
    if isinstance(value, str):
        if "${" in value:
            raise ValueError(f"Preset values cannot contain '${{' (Hydra interpolation): {value!r}")
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            text = str(key)
            if not (_IDENTIFIER.match(text) or text.isdigit()):
                raise ValueError(
                    f"Preset mapping key {key!r} cannot be passed to 'dvc exp run -S': keys must "
                    "be identifiers or whole numbers."
                )
            items.append(f"{text}: {hydra_value(item)}")
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"Preset value {value!r} of type {type(value).__name__} is not YAML data.")


def set_param_overrides(base: Mapping[str, Any], preset: Mapping[str, Any]) -> list[str]:
    """One ``key.path=value`` override per value the preset sets (deepest shared mapping level)."""
    overrides: list[str] = []

    def walk(b: Mapping[str, Any], p: Mapping[str, Any], prefix: str) -> None:
        for key, value in p.items():
            if key not in b:
                raise ValueError(
                    f"The preset sets {prefix}{key}, which params.yaml does not have; presets "
                    "may only change existing params."
                )
            if isinstance(value, Mapping) and isinstance(b[key], Mapping):
                walk(b[key], value, f"{prefix}{key}.")
            else:
                overrides.append(f"{prefix}{key}={hydra_value(value)}")

    walk(base, preset, "")
    return overrides


def experiment_command(
    name: str, *, params_path: Path = REPO_ROOT / "params.yaml", directory: Path = PRESETS_DIR
) -> list[str]:
    """The ``dvc exp run`` command (argv) that runs preset ``name`` as experiment ``name``."""
    base = yaml.safe_load(params_path.read_text(encoding="utf-8"))
    preset = load_preset(name, directory)
    overlay_params(base, preset)  # refuses unknown keys with the full message
    argv = ["dvc", "exp", "run", "-n", name.replace("_", "-")]
    for override in set_param_overrides(base, preset):
        argv += ["-S", override]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m beatwise.presets",
        description="Run a real-data preset (presets/<name>.yaml) as a DVC experiment.",
    )
    parser.add_argument("name", nargs="?", help="preset name; omit to list the presets")
    parser.add_argument("--print", action="store_true", help="print the command, do not run it")
    args = parser.parse_args(argv)
    if args.name is None:
        for name in list_presets():
            print(name)
        return 0
    command = experiment_command(args.name)
    if args.print:
        print(shlex.join(command))
        return 0
    return subprocess.call(command, cwd=REPO_ROOT)


if __name__ == "__main__":
    sys.exit(main())
