"""``data/processed/cells_meta.json``: the modelling grid, written by ``build_cells``."""

from __future__ import annotations

from pydantic import Field

from beatwise.artefacts._base import Artefact
from beatwise.h3index import MAX_RESOLUTION, MIN_RESOLUTION


class CellsMeta(Artefact):
    """The H3 grid the study cells live on, decided once from ``cells.h3_resolution``."""

    #: H3 resolution of every study cell (validated once, by the build_cells params)
    h3_resolution: int = Field(ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    #: number of study cells (rows of cells.parquet)
    n_cells: int = Field(ge=1)
