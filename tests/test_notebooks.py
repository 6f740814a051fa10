"""The notebook checker on tiny synthetic notebooks, and the committed notebooks as stored in git.

No pipeline run here: the synthetic notebooks need only a kernel. Executing the real notebooks
against a pipeline's outputs is the end-to-end test
``tests/pipelines/test_end_to_end.py::test_every_notebook_shows_its_figures``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from notebook_checks import (
    ExpectedFigure,
    NotebookFigureError,
    check_notebook,
    expected_figures,
    missing_figures,
)
from repo_copy import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

DRAW = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"


def figure_cell(source: str, name: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"beatwise": {"figure": name}})


def write_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nbformat.write(new_notebook(cells=list(cells)), path)
    return path


def test_every_missing_figure_is_named_and_a_shown_one_is_not(tmp_path: Path) -> None:
    """One kernel: a figure drawn inline, one cell that draws nothing, one drawn under Agg."""
    path = write_notebook(
        tmp_path / "nb.ipynb",
        new_markdown_cell("# A notebook"),
        figure_cell(DRAW, "drawn inline"),
        figure_cell("x = 1 + 1", "draws nothing"),
        new_code_cell("print('not a figure cell: shows nothing, and that is fine')"),
        figure_cell('import matplotlib\nmatplotlib.use("Agg")\n' + DRAW, "drawn under Agg"),
    )
    with pytest.raises(NotebookFigureError) as raised:
        check_notebook(path, root=tmp_path)
    message = str(raised.value)
    assert message.startswith("nb.ipynb: 2 figure cell(s) showed no image/png output")
    assert "cell 2 ('draws nothing')" in message
    assert "cell 4 ('drawn under Agg')" in message
    assert "drawn inline" not in message


def test_figures_drawn_inline_or_displayed_as_png_pass(tmp_path: Path) -> None:
    """Run as the tests run it (MPLBACKEND=Agg in this process): the kernel still draws inline."""
    path = write_notebook(
        tmp_path / "nb.ipynb",
        figure_cell(DRAW, "a line"),
        figure_cell(
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots()\n"
            "ax.bar([1, 2], [3, 4])\n"
            "fig.savefig('figure.png')\n"
            "from IPython.display import Image, display\n"
            "display(Image(filename='figure.png'))",
            "a saved PNG, displayed",
        ),
    )
    executed = check_notebook(path, root=tmp_path)
    assert missing_figures(executed) == []
    assert [f.name for f in expected_figures(executed)] == ["a line", "a saved PNG, displayed"]


def test_a_notebook_without_a_declared_figure_is_refused_before_it_runs(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "quiet.ipynb", new_code_cell("raise SystemExit('ran')"))
    with pytest.raises(NotebookFigureError, match=r"quiet\.ipynb declares no figure cell"):
        check_notebook(path, root=tmp_path)


def test_a_failing_cell_is_an_error_naming_its_source(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb", figure_cell("open('reports/absent.json')", "never drawn")
    )
    with pytest.raises(CellExecutionError, match=r"reports/absent\.json"):
        check_notebook(path, root=tmp_path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            new_code_cell("", metadata={"beatwise": "capture curve"}),
            r"nb: cell 0: metadata 'beatwise' must be an object .* Got 'capture curve'",
        ),
        (
            new_code_cell("", metadata={"beatwise": {"figure": " "}}),
            r"nb: cell 0: metadata 'beatwise.figure' must name the figure .* Got ' '",
        ),
        (
            new_code_cell("", metadata={"beatwise": {"figur": "map"}}),
            r"metadata 'beatwise.figure' must name the figure .* Got None",
        ),
        (
            new_markdown_cell("", metadata={"beatwise": {"figure": "map"}}),
            r"nb: cell 0: declares the figure 'map' but is a markdown cell",
        ),
    ],
)
def test_malformed_figure_metadata_is_refused(cell: nbformat.NotebookNode, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_figures(new_notebook(cells=[cell]), source="nb")


def test_expected_figures_are_listed_by_cell_index() -> None:
    nb = new_notebook(cells=[new_markdown_cell("x"), figure_cell("", "map"), new_code_cell("")])
    assert expected_figures(nb) == [ExpectedFigure(index=1, name="map")]
    assert str(expected_figures(nb)[0]) == "cell 1 ('map')"


def test_the_notebooks_folder_holds_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no .ipynb file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_declares_figures_and_stores_no_outputs(path: Path) -> None:
    """Outputs belong to a run, not to git: each notebook is stored cleared, and declares at least
    one figure cell so the end-to-end test checks it."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert expected_figures(nb, source=path.name), f"{path.name} declares no figure cell"
    stored = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not stored, (
        f"{path.name}: cells {stored} hold outputs or execution counts; clear them before "
        "committing (Jupyter: Edit > Clear Outputs of All Cells)"
    )
