"""Execute a notebook against a repository of pipeline outputs and check that it shows its figures.

A notebook's figure cell declares what it must show in its cell metadata::

    {"beatwise": {"figure": "capture curve"}}

:func:`check_notebook` runs the notebook with nbclient in a Jupyter kernel whose working folder is
the repository (so ``ROOT`` in the notebook is that repository), and refuses it when a cell errors
(nbclient's ``CellExecutionError`` names the cell), when it declares no figure at all, or when any
declared figure cell produced no ``image/png`` output, naming every such cell. A cell that plots
nothing, or plots under a non-interactive backend such as Agg, shows nothing in Jupyter either.

The kernel is started without ``MPLBACKEND``: the test process sets it to Agg (``conftest.py``),
and a kernel inheriting it would draw every figure off-screen, as the first notebook did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

#: the cell metadata key of Beatwise's notebook annotations
METADATA_KEY = "beatwise"
#: seconds one cell may run before nbclient stops it
CELL_TIMEOUT_S = 600


class NotebookFigureError(AssertionError):
    """A notebook declares no figure, or a declared figure cell shows no image."""


@dataclass(frozen=True)
class ExpectedFigure:
    """A code cell that must show a figure: its 0-based index in the notebook and its name."""

    index: int
    name: str

    def __str__(self) -> str:
        return f"cell {self.index} ({self.name!r})"


def expected_figures(
    nb: nbformat.NotebookNode, *, source: str = "<notebook>"
) -> list[ExpectedFigure]:
    """The figure cells ``nb`` declares, in order.

    Raises
    ------
    ValueError
        A ``beatwise`` annotation that is not an object, a ``figure`` that is not a non-empty
        string, or one on a cell that is not code; the message names ``source`` and the cell.
    """
    found: list[ExpectedFigure] = []
    for index, cell in enumerate(nb.cells):
        note = cell.get("metadata", {}).get(METADATA_KEY)
        if note is None:
            continue
        where = f"{source}: cell {index}"
        if not isinstance(note, dict):
            raise ValueError(
                f"{where}: metadata '{METADATA_KEY}' must be an object such as "
                f'{{"figure": "capture curve"}}. Got {note!r}.'
            )
        name = note.get("figure")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"{where}: metadata '{METADATA_KEY}.figure' must name the figure the cell shows "
                f"(a non-empty string). Got {name!r}."
            )
        if cell.cell_type != "code":
            raise ValueError(
                f"{where}: declares the figure {name!r} but is a {cell.cell_type} cell; only a "
                "code cell shows a figure."
            )
        found.append(ExpectedFigure(index=index, name=name))
    return found


def shows_image(cell: nbformat.NotebookNode) -> bool:
    """Whether an executed code cell has an ``image/png`` display or result among its outputs."""
    return any(
        output.get("output_type") in ("display_data", "execute_result")
        and "image/png" in output.get("data", {})
        for output in cell.get("outputs", [])
    )


def missing_figures(
    nb: nbformat.NotebookNode, *, source: str = "<notebook>"
) -> list[ExpectedFigure]:
    """The declared figure cells of an executed notebook whose outputs hold no ``image/png``."""
    return [
        fig for fig in expected_figures(nb, source=source) if not shows_image(nb.cells[fig.index])
    ]


def execute_notebook(
    nb: nbformat.NotebookNode, *, root: Path, timeout: int = CELL_TIMEOUT_S
) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` in place, in a fresh kernel whose working folder is ``root``.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        A cell raised; the message holds the cell's source and traceback.
    """
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    )
    client.execute(env=env)
    return nb


def check_notebook(
    path: Path, *, root: Path, timeout: int = CELL_TIMEOUT_S
) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` against the outputs under ``root``; return it executed.

    Raises
    ------
    NotebookFigureError
        The notebook declares no figure cell, or names every declared figure cell that showed no
        image after running.
    nbclient.exceptions.CellExecutionError
        A cell raised.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if not expected_figures(nb, source=path.name):
        raise NotebookFigureError(
            f"{path.name} declares no figure cell; mark each figure cell with the cell metadata "
            f'{{"{METADATA_KEY}": {{"figure": "<what it shows>"}}}} so that its figure is checked.'
        )
    execute_notebook(nb, root=root, timeout=timeout)
    missing = missing_figures(nb, source=path.name)
    if missing:
        raise NotebookFigureError(
            f"{path.name}: {len(missing)} figure cell(s) showed no image/png output: "
            + "; ".join(str(fig) for fig in missing)
            + ". A cell that draws nothing, or draws under the Agg backend, shows nothing."
        )
    return nb
