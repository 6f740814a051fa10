"""``data/processed/cells_meta.json``: the modelling grid, written by ``build_cells``."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from beatwise.artefacts._base import Artefact
from beatwise.h3index import MAX_RESOLUTION, MIN_RESOLUTION

#: which cells form the study area (``cells.study_area`` once resolved): the cells overlapping
#: the area polygons plus every cell holding an accepted event, or the cells holding an event
StudyAreaRule = Literal["areas_and_events", "events_only"]

#: each rule in words, as the documents state it
STUDY_AREA_RULE_WORDS: Final[dict[str, str]] = {
    "areas_and_events": "the cells overlapping the area polygons, plus any cell holding an "
    "accepted event",
    "events_only": "the cells holding at least one accepted event",
}


class CellsMeta(Artefact):
    """The H3 grid the study cells live on, decided once from the ``cells`` params."""

    #: H3 resolution of every study cell (validated once, by the build_cells params)
    h3_resolution: int = Field(ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    #: number of study cells (rows of cells.parquet)
    n_cells: int = Field(ge=1)
    #: the rule that chose the study cells (``cells.study_area``, ``auto`` resolved)
    study_area: StudyAreaRule
