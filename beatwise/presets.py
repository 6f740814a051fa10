"""Presets: named sets of params for real data sources, run as DVC experiments.

A preset is a YAML file ``presets/<name>.yaml`` (or any YAML file given by its path) holding only
the params that differ from ``params.yaml`` (the synthetic-city default), in the same sections and
keys. It never adds a key that ``params.yaml`` lacks, so every value a preset sets is one a stage
already validates (the one exception, :data:`REPLACED_WHOLE`, is the named model candidates of
``select.candidates``, which a preset replaces whole and the select stage validates), and it must
set the keys that describe its source (:data:`SOURCE_KEYS`), so no preset inherits the synthetic
city's data folder, name, publication override or data-access terms.

Running a preset is a DVC experiment: ``python -m beatwise.presets st_louis`` writes the preset's
values into ``params.yaml`` and runs ``dvc exp run -n st-louis publish`` (the publish stage and
what it needs, so the simulator runs only for a synthetic source), so DVC records the experiment
with its params and metrics (``dvc exp show``, ``dvc metrics diff``) and the stages that read a
changed section re-run. Any
value a YAML file can hold travels this way, category maps whose keys hold spaces, slashes or
hyphens included. ``params.yaml`` holds the preset's values afterwards (``git checkout
params.yaml`` returns to the default). ``--print`` lists the values it would set without writing
anything; ``--write-only`` writes ``params.yaml`` and stops (then ``dvc repro`` runs it as the
committed configuration once committed, or ``dvc exp run`` as an experiment).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PRESETS_DIR = REPO_ROOT / "presets"

#: keys every preset must set, null included: they describe the source, so the synthetic city's
#: values (its folder, its name, its publication override, its data-access terms) never carry over
SOURCE_KEYS: Final[tuple[str, ...]] = (
    "ingest.source",
    "ingest.data_dir",
    "publish.override",
    "governance.data_access_terms",
)


def list_presets(directory: Path = PRESETS_DIR) -> list[str]:
    """Names of the presets shipped in ``directory`` (file stems, sorted)."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def preset_path(name: str, directory: Path = PRESETS_DIR) -> Path:
    """The file of preset ``name``: ``<directory>/<name>.yaml``, or ``name`` itself when it is a
    path to a YAML file (a preset kept outside the repository's ``presets/``)."""
    given = Path(name)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return given
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_presets(directory)) or "none"
        raise ValueError(
            f"No preset named {name!r} (no file {path.name} in presets/, and no YAML file at "
            f"that path). Known presets: {known}."
        )
    return path


def _lookup(data: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def load_preset(name: str, directory: Path = PRESETS_DIR) -> dict[str, Any]:
    """Read a preset: a mapping of params sections to the values to set.

    Raises
    ------
    ValueError
        When there is no such preset, it is not a mapping, or it leaves a :data:`SOURCE_KEYS`
        key unset (naming it).
    """
    path = preset_path(name, directory)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"Preset {path.name} is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not data:
        raise ValueError(
            f"Preset {path.name} must hold a mapping of params sections. Got {data!r}."
        )
    missing = [key for key in SOURCE_KEYS if not _lookup(data, key)[0]]
    if missing:
        raise ValueError(
            f"Preset {path.name} must set {', '.join(missing)}: a preset describes another "
            "source, so the synthetic city's values of these keys must not carry over. Set each "
            "one, to null where there is none (e.g. 'publish: {override: null}')."
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


#: mappings a preset replaces whole, by dotted key: sets of named alternatives, not settings (a
#: preset's model candidates are its own, and ``{}`` there means none)
REPLACED_WHOLE: frozenset[str] = frozenset({"select.candidates"})


def overlay_params(
    base: Mapping[str, Any], preset: Mapping[str, Any], _prefix: str = ""
) -> dict[str, Any]:
    """``base`` with the preset's values set: mappings merge key by key, anything else replaces,
    and so do the mappings of :data:`REPLACED_WHOLE`.

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
        whole = f"{_prefix}{key}" in REPLACED_WHOLE
        if isinstance(value, Mapping) and isinstance(base[key], Mapping) and not whole:
            try:
                out[key] = overlay_params(base[key], value, f"{_prefix}{key}.")
            except ValueError as err:
                raise ValueError(f"In {key!r}: {err}") from err
        else:
            out[key] = value
    return out


def preset_settings(
    base: Mapping[str, Any], preset: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """The dotted keys the preset sets and their values, at the deepest shared mapping level."""
    for key, value in preset.items():
        whole = f"{prefix}{key}" in REPLACED_WHOLE
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping) and not whole:
            yield from preset_settings(base[key], value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _portable(value: Any) -> Any:
    """A preset value as ``params.yaml`` may hold it: dates as quoted ISO text (DVC refuses
    YAML dates anywhere in the file), mappings and lists element by element."""
    if isinstance(value, dt.date):  # datetime.datetime too
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_portable(v) for v in value]
    return value


def _repository_relative(data_dir: str, repo: Path) -> str:
    """An absolute ``ingest.data_dir`` as a path relative to the repository, so ``dvc.lock``
    records no machine's folder; relative paths are kept as written."""
    path = Path(os.path.expanduser(data_dir))
    if not path.is_absolute():
        return data_dir
    return Path(os.path.relpath(path, repo)).as_posix()


def preset_params_text(
    params_text: str, preset: Mapping[str, Any], *, name: str, repo: Path
) -> str:
    """``params.yaml``'s values with the preset's set, as YAML text headed by where they came from.

    The text is written afresh (as ``dvc exp run -S`` would), so the default file's comments are
    not in it: they stay in the committed ``params.yaml`` and the preset's own file, which the
    header names. Dates become quoted ISO text, and an absolute ``ingest.data_dir`` becomes
    relative to the repository, so ``dvc.lock`` records no machine's folder.

    Raises
    ------
    ValueError
        When the preset sets a key ``params.yaml`` lacks (see :func:`overlay_params`).
    """
    values = _portable(overlay_params(yaml.safe_load(params_text), preset))
    values["ingest"]["data_dir"] = _repository_relative(str(values["ingest"]["data_dir"]), repo)
    header = (
        f"# params.yaml with preset {name!r} set (python -m beatwise.presets {name}).\n"
        "# Written afresh, so without comments: each key is explained in the committed\n"
        "# params.yaml (git show HEAD:params.yaml), the preset's values in its own file.\n"
        "# git checkout params.yaml returns to the default.\n"
    )
    return header + yaml.safe_dump(values, sort_keys=False, allow_unicode=True, width=100)


def write_preset_params(
    name: str, *, params_path: Path = REPO_ROOT / "params.yaml", directory: Path = PRESETS_DIR
) -> list[tuple[str, Any]]:
    """Write preset ``name``'s values into ``params_path``; return the (key, value) pairs set."""
    preset = load_preset(name, directory)
    text = params_path.read_text(encoding="utf-8")
    params_path.write_text(
        preset_params_text(text, preset, name=name, repo=params_path.resolve().parent),
        encoding="utf-8",
    )
    return list(preset_settings(yaml.safe_load(text), preset))


def experiment_name(name: str) -> str:
    """The DVC experiment name of preset ``name`` (a file's stem, ``_`` as ``-``)."""
    return Path(name).stem.replace("_", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m beatwise.presets",
        description="Run a real-data preset (presets/<name>.yaml, or a YAML file's path) as a "
        "DVC experiment: its values are written into params.yaml, then `dvc exp run` runs.",
    )
    parser.add_argument("name", nargs="?", help="preset name or file; omit to list the presets")
    parser.add_argument(
        "--print", action="store_true", help="list the values it would set; write nothing"
    )
    parser.add_argument(
        "--write-only", action="store_true", help="write params.yaml, do not run the experiment"
    )
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params.yaml")
    args = parser.parse_args(argv)
    if args.name is None:
        for name in list_presets():
            print(name)
        return 0
    try:
        if args.print:
            preset = load_preset(args.name)
            base = yaml.safe_load(args.params.read_text(encoding="utf-8"))
            overlay_params(base, preset)
            for key, value in preset_settings(base, preset):
                print(f"{key} = {json.dumps(_portable(value), ensure_ascii=False)}")
            print(f"then: dvc exp run -n {experiment_name(args.name)} publish")
            return 0
        write_preset_params(args.name, params_path=args.params)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"params.yaml now holds preset {args.name!r} (git checkout params.yaml restores it)")
    if args.write_only:
        return 0
    # publish and what it needs: the simulate stage is not upstream of a real source
    command = ["dvc", "exp", "run", "-n", experiment_name(args.name), "publish"]
    return subprocess.call(command, cwd=args.params.resolve().parent)


if __name__ == "__main__":
    sys.exit(main())
