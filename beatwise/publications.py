"""The published area: every publication kept whole, one folder per forecast period, and a
pointer to the latest.

Layout (``data/published/``; ``dvc.yaml`` passes the path to ``publish``)::

    latest.json        the folder planners read now (beatwise.artefacts.publication)
    2024-12-23/        forecast.csv, forecast.geojson, bias_report.html, model_card.md,
    2024-12-30/          audit.json, manifest.json: the forecast and the documents that approved it
    2024-12-30.2/      the same week published again (another model, a fresh MLflow store)

A folder is never changed once in place. Publishing is a transaction (:func:`publish_set`): the
files go into a temporary sibling folder and are flushed to disk, one atomic rename puts the
folder in place under a name no other folder has, and only then is ``latest.json`` replaced
atomically. A process killed at any point leaves ``latest.json`` naming a whole publication, the
old one or the new one; what it leaves behind (a temporary folder, a new folder the pointer never
reached) is cleaned up or completed by the next publication of the same set.

The area lies outside every DVC output, so ``dvc checkout``, ``dvc exp apply`` and the removal of
outputs before a stage runs never touch it; ``latest.json`` is a file, not a symlink, so it
survives copies, archives and file systems without links.

``python -m beatwise.publications`` lists the publications and checks that each is whole.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from beatwise.artefacts import ArtefactError
from beatwise.artefacts.manifest import PUBLISHED_FILES, Manifest
from beatwise.artefacts.publication import LatestPublication
from beatwise.io import atomic_path, current_umask, fsync_path, json_text, sha256_bytes

log = logging.getLogger(__name__)

LATEST = "latest.json"
#: Test only: SIGKILL the process at this step of :func:`publish_set` (1 = after its first file
#: write), to prove that a crash at any point leaves a whole publication.
KILL_AT_ENV = "BEATWISE_PUBLISH_KILL_AT"
_FOLDER = re.compile(r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:\.(?P<n>[0-9]+))?$")


class IncompletePublicationError(ValueError):
    """A publication's folder is not whole: a file missing, extra, or not what its manifest says."""


@dataclass(frozen=True)
class Published:
    """The outcome of :func:`publish_set`."""

    folder: Path
    manifest: Manifest
    #: False when the set was already the latest publication (nothing was written)
    new: bool


class _Steps:
    """Counts the writes and renames of one publication; the test-only kill point."""

    def __init__(self) -> None:
        raw = os.environ.get(KILL_AT_ENV)
        self.kill_at = int(raw) if raw else None
        self.count = 0

    def done(self, what: str) -> None:
        self.count += 1
        log.debug("publication step %d: %s", self.count, what)
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def folder_name(forecast_period: dt.date, revision: int = 1) -> str:
    """``2024-12-30`` for the first publication of a period, ``2024-12-30.<n>`` for the n-th."""
    return forecast_period.isoformat() + ("" if revision == 1 else f".{revision}")


def parse_folder_name(name: str) -> tuple[dt.date, int] | None:
    """The forecast period and revision a folder name says, or None for any other name."""
    match = _FOLDER.match(name)
    if match is None:
        return None
    try:
        day = dt.date.fromisoformat(match["date"])
    except ValueError:
        return None
    return day, int(match["n"] or 1)


def list_publications(root: Path) -> list[Path]:
    """Every publication's folder under ``root``, oldest forecast period first, then revision."""
    if not Path(root).is_dir():
        return []
    found = [(parse_folder_name(p.name), p) for p in Path(root).iterdir() if p.is_dir()]
    return [p for key, p in sorted((k, p) for k, p in found if k is not None)]


def find_publication(root: Path, forecast_period: dt.date) -> Path | None:
    """The latest publication of ``forecast_period`` (its highest revision), if any."""
    matches = [p for p in list_publications(root) if p.name.split(".")[0] == str(forecast_period)]
    return matches[-1] if matches else None


def read_latest(root: Path) -> LatestPublication | None:
    """``latest.json`` under ``root``, or None before the first publication."""
    path = Path(root) / LATEST
    return LatestPublication.read(path) if path.exists() else None


def verify_publication(folder: Path) -> Manifest:
    """The manifest of a whole publication; refuses one with a file missing, extra or changed.

    Raises
    ------
    IncompletePublicationError
        Naming the folder and the first file that is not as the manifest says.
    """
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    whole = sorted(PUBLISHED_FILES)
    if names != whole and "manifest.json" in names:  # one made before today's file set
        with contextlib.suppress(ArtefactError):
            whole = sorted(
                [*Manifest.read(folder / "manifest.json").file_hashes(), "manifest.json"]
            )
    if names != whole:
        raise IncompletePublicationError(f"{folder} must hold exactly {whole}. Got {names}.")
    try:
        manifest = Manifest.read(folder / "manifest.json")
    except ArtefactError as err:
        raise IncompletePublicationError(str(err)) from None
    for name, expected in manifest.file_hashes().items():
        got = sha256_bytes((folder / name).read_bytes())
        if got != expected:
            raise IncompletePublicationError(
                f"{folder / name} has sha256 {got}; its manifest says {expected}."
            )
    return manifest


def _revision(folder: Path) -> int:
    parsed = parse_folder_name(folder.name)
    return parsed[1] if parsed else 0


def _same_files(folder: Path, files: Mapping[str, bytes]) -> bool:
    try:
        return all((folder / name).read_bytes() == data for name, data in files.items())
    except OSError:
        return False


def _remove_leftovers(root: Path) -> None:
    """Temporary folders and files a killed publication left (names start with a dot)."""
    for path in root.glob(".*.tmp"):
        log.warning("removing %s, left by an interrupted publication", path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _check_set(files: Mapping[str, bytes]) -> Manifest:
    if sorted(files) != sorted(PUBLISHED_FILES):
        raise ValueError(
            f"A publication holds exactly {sorted(PUBLISHED_FILES)}. Got {sorted(files)}."
        )
    manifest = Manifest.from_json(json.loads(files["manifest.json"]), source="manifest.json")
    if sorted([*manifest.file_hashes(), "manifest.json"]) != sorted(PUBLISHED_FILES):
        raise ValueError(f"The manifest must name every file but itself. Got {sorted(files)}.")
    for name, expected in manifest.file_hashes().items():
        if sha256_bytes(files[name]) != expected:
            raise ValueError(f"{name} is not the file its manifest names (sha256 {expected}).")
    return manifest


def publish_set(root: Path, files: Mapping[str, bytes]) -> Published:
    """Publish one forecast set under ``root`` as a transaction; see the module's docstring.

    ``files`` maps each name of :data:`PUBLISHED_FILES` to its bytes; the manifest's hashes must
    name the other files' bytes. When the set is already the latest publication, nothing is
    written; when a folder of this period holds exactly this set but the pointer never reached it
    (a publication killed before its last step), the pointer moves to it.
    """
    manifest = _check_set(files)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    latest = read_latest(root)
    if latest is not None and _same_files(root / latest.folder, files):
        log.info("%s already holds this forecast set; nothing to publish", root / latest.folder)
        return Published(root / latest.folder, manifest, new=False)
    steps = _Steps()
    same_period = [
        p for p in list_publications(root) if p.name.split(".")[0] == str(manifest.forecast_period)
    ]
    if same_period and _same_files(same_period[-1], files):
        target = same_period[-1]
    else:
        revision = max((_revision(p) for p in same_period), default=0) + 1
        target = root / folder_name(manifest.forecast_period, revision)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=root))
        staging.chmod(0o777 & ~current_umask())  # readable by planners' tools, not 0700
        for name in PUBLISHED_FILES:
            with (staging / name).open("xb") as fh:
                fh.write(files[name])
                fh.flush()
                os.fsync(fh.fileno())
            steps.done(f"wrote {name}")
        fsync_path(staging)
        staging.rename(target)  # never over an existing folder: the name is new
        fsync_path(root)
        steps.done(f"renamed the folder to {target.name}")
    pointer = LatestPublication(
        folder=target.name,
        period=manifest.period,
        forecast_period=manifest.forecast_period,
        manifest_sha256=sha256_bytes(files["manifest.json"]),
        published_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
    with atomic_path(root / LATEST, durable=True) as tmp:
        tmp.write_text(json_text(pointer.to_json()), encoding="utf-8")
        steps.done(f"wrote the new {LATEST} beside the old")
    steps.done(f"pointed {LATEST} at {target.name}")
    log.info("published %s (%s %s)", target, manifest.period, manifest.forecast_period)
    return Published(target, manifest, new=True)


#: what a publication is now: the one ``latest.json`` names, an earlier one, one replaced by a
#: later publication of the same period, or a folder whose files are not what its manifest says
PublicationStatus = Literal["latest", "earlier", "superseded", "not whole"]


@dataclass(frozen=True)
class PublicationEntry:
    """One publication's folder as :func:`describe_publications` finds it."""

    folder: Path
    forecast_period: dt.date
    revision: int
    status: PublicationStatus
    #: None when the folder is not whole (``problem`` says why)
    manifest: Manifest | None
    problem: str | None
    #: the files in the folder, by name
    files: tuple[str, ...]


def describe_publications(root: Path) -> list[PublicationEntry]:
    """Every publication under ``root``, newest forecast period first (then highest revision),
    each checked whole (:func:`verify_publication`) and given its status."""
    latest = read_latest(root)
    folders = list_publications(root)
    newest_revision: dict[dt.date, int] = {}
    for folder in folders:
        day, revision = parse_folder_name(folder.name) or (dt.date.min, 0)
        newest_revision[day] = max(revision, newest_revision.get(day, 0))
    entries = []
    for folder in reversed(folders):
        day, revision = parse_folder_name(folder.name) or (dt.date.min, 0)
        manifest, problem = None, None
        try:
            manifest = verify_publication(folder)
        except IncompletePublicationError as err:
            problem = str(err)
        status: PublicationStatus
        if manifest is None:
            status = "not whole"
        elif latest is not None and folder.name == latest.folder:
            status = "latest"
        elif revision < newest_revision[day]:
            status = "superseded"
        else:
            status = "earlier"
        files = tuple(sorted(p.name for p in folder.iterdir()))
        entries.append(PublicationEntry(folder, day, revision, status, manifest, problem, files))
    return entries


def main(argv: list[str] | None = None) -> int:
    """List the publications under a folder, marking the latest, and check each is whole."""
    parser = argparse.ArgumentParser(prog="python -m beatwise.publications", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("data/published"))
    parser.add_argument("period", nargs="?", type=dt.date.fromisoformat, help="e.g. 2024-12-23")
    args = parser.parse_args(argv)
    if args.period is not None:
        found = find_publication(args.root, args.period)
        print(found if found else f"No publication of {args.period} under {args.root}.")
        return 0 if found else 1
    latest = read_latest(args.root)
    broken = 0
    for folder in list_publications(args.root):
        mark = "*" if latest is not None and folder.name == latest.folder else " "
        try:
            m = verify_publication(folder)
        except IncompletePublicationError as err:
            broken += 1
            print(f"{mark} {folder.name:<14} NOT WHOLE: {err}")
            continue
        print(
            f"{mark} {folder.name:<14} {m.period} of {m.forecast_period}: {m.n_flagged} of "
            f"{m.n_cells} cells flagged, audit {m.audit_status}, model {m.registered_model}"
        )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
