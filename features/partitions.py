"""The feature panel built by spatial partitions on a Dask cluster (``engine.kind: dask``).

A partition is one parent cell at ``engine.partition_resolution``: its *own* study cells (the
parent's children among them) and a *halo*, the other study cells within the largest ring of
``features.rings`` of any own cell, with the events of both (:func:`partition_cells`,
:func:`split_events`). Each partition counts its events and builds the features of its cells
with the functions the local path uses (:func:`features.build.count_events`,
:func:`features.build.tabulate_counts`), then keeps the rows of its own cells; the rows are put
back in the local path's order (period, then cell).

The table is the local one byte for byte, because

- what is decided from the whole city is decided once, before any partition: the period, the
  complete periods and the configured types (:class:`features.build.PanelPlan`), and which types
  are absent, by :func:`features.build.drop_absent_types` on every partition's counts;
- a cell's own features read only its own counts, which a partition holding the cell has whole;
- a ring feature of an own cell averages the study cells at that distance, all of which are in
  the halo, over the same ring as the whole city's (a halo cell's ring may be cut, but its rows
  are dropped), summed in the same order (ascending cell id), so the floats are the same bits;
- a parent feature (``features.parent_resolutions``, each at or finer than the partition
  resolution, checked) reads the counts of the study cells in the cell's parent, all of them own
  cells of the same partition, summed exactly in integers;
- a place feature reads the places file (the same for every partition), not the counts;
- the calendar and static columns are per period or per cell.

Dask and ``distributed`` are imported only when a run asks for them (:mod:`beatwise.engine`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h3ronpy
import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.cells import CellsMeta
from beatwise.engine import EngineConfig, dask_client
from beatwise.h3index import ring_neighbours
from beatwise.progress import progress
from features.build import (
    PanelPlan,
    Tabulated,
    Tabulator,
    count_events,
    drop_absent_types,
    tabulate_counts,
    tabulate_local,
)
from features.engineering import FeatureConfig
from features.panel import validate_cells

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellPartitions:
    """Study cells grouped by their parent cell, each group with its halo.

    Positions index the study cells (``cell_ids``, ascending). ``own`` partitions the positions:
    every study cell is own in exactly one partition.
    """

    cell_ids: npt.NDArray[np.uint64]
    #: the parent cell of each partition, ascending
    parents: npt.NDArray[np.uint64]
    #: positions of each partition's own cells, ascending
    own: tuple[npt.NDArray[np.int64], ...]
    #: positions of each partition's own and halo cells, ascending
    cells: tuple[npt.NDArray[np.int64], ...]

    def own_mask(self, part: int) -> npt.NDArray[np.bool_]:
        """Which of partition ``part``'s cells (``cells[part]``) are its own."""
        return np.isin(self.cells[part], self.own[part], assume_unique=True)


def partition_cells(
    cell_ids: npt.ArrayLike, *, cells_resolution: int, partition_resolution: int, halo: int
) -> CellPartitions:
    """Group the study cells by their parent at ``partition_resolution``, with a halo of ``halo``
    rings (grid distance, study cells only) around each group.

    Refuses a partition resolution not coarser than ``cells_resolution`` (``cells_meta.json``'s),
    checked first, and cells that are not all at ``cells_resolution``.
    """
    if partition_resolution >= cells_resolution:
        raise ValueError(
            f"engine.partition_resolution must be coarser (smaller) than the cells' H3 "
            f"resolution {cells_resolution} (cells_meta.json): each partition is a parent cell "
            f"holding many study cells. Got {partition_resolution}; set it to at most "
            f"{cells_resolution - 1} (4 to 6 suit a city)."
        )
    cells = validate_cells(cell_ids)
    found = np.unique(np.asarray(h3ronpy.cells_resolution(cells).to_numpy()))
    if found.tolist() != [cells_resolution]:
        raise ValueError(
            f"cells.parquet holds cells at H3 resolution(s) {found.tolist()}, but "
            f"cells_meta.json says {cells_resolution}; re-run build_cells."
        )
    parent_of = np.asarray(
        h3ronpy.change_resolution(cells, partition_resolution).to_numpy(), dtype=np.uint64
    )
    parents, part_of = np.unique(parent_of, return_inverse=True)
    n, n_parts = cells.size, parents.size
    by_part = np.argsort(part_of, kind="stable")  # ascending positions within each partition
    own = np.split(by_part, np.cumsum(np.bincount(part_of, minlength=n_parts))[:-1])
    i, j, _ = ring_neighbours(cells, k=halo)  # includes (i, i): own cells are in their halo set
    keys = np.unique(part_of[i].astype(np.int64) * n + j)
    members = keys % n
    bounds = np.searchsorted(keys // n, np.arange(n_parts + 1))
    halo_cells = [members[bounds[p] : bounds[p + 1]] for p in range(n_parts)]
    return CellPartitions(cell_ids=cells, parents=parents, own=tuple(own), cells=tuple(halo_cells))


def _ranges(starts: npt.NDArray[np.int64], stops: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``concat(arange(a, b) for a, b in zip(starts, stops))``, vectorised."""
    lengths = stops - starts
    ends = np.cumsum(lengths)
    return np.repeat(starts - ends + lengths, lengths) + np.arange(ends[-1] if ends.size else 0)


def split_events(event_cells: pd.DataFrame, partitions: CellPartitions) -> list[pd.DataFrame]:
    """The events of each partition's cells (own and halo), in their original order.

    Events outside every study cell are in no partition, as the local count leaves them out.
    """
    h3_int = event_cells["h3_int"].to_numpy()
    if h3_int.dtype != np.uint64:
        raise ValueError(f"event_cells.h3_int must be uint64. Got dtype {h3_int.dtype}.")
    cells = partitions.cell_ids
    pos = np.minimum(np.searchsorted(cells, h3_int), cells.size - 1)
    cell_of = np.where(cells[pos] == h3_int, pos, cells.size)  # cells.size: no study cell
    order = np.argsort(cell_of, kind="stable")
    bounds = np.searchsorted(cell_of[order], np.arange(cells.size + 1))
    return [
        event_cells.iloc[np.sort(order[_ranges(bounds[c], bounds[c + 1])])].reset_index(drop=True)
        for c in partitions.cells
    ]


def _nonzero(counts: dict[str, npt.NDArray[np.int32]]) -> dict[str, int]:
    """How many cell-periods of each type hold an event (a partition's part of the absent test)."""
    return {t: int(np.count_nonzero(c)) for t, c in counts.items()}


def _own_rows(
    plan: PanelPlan,
    counts: dict[str, npt.NDArray[np.int32]],
    present: FeatureConfig,
    own: npt.NDArray[np.bool_],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A partition's feature rows of its own cells (the table is period by period, cell by cell)."""
    table, built = tabulate_counts(plan, counts, present)
    return table[np.tile(own, built["n_periods"])], built


def tabulate_partitioned(
    plan: PanelPlan, event_cells: pd.DataFrame, *, client: Client, partitions: CellPartitions
) -> Tabulated:
    """The whole city's feature table built by ``partitions`` on ``client``'s cluster: the same
    table, byte for byte, as :func:`features.build.tabulate_local` (see the module docstring)."""
    from distributed import as_completed

    if not np.array_equal(plan.cell_ids, partitions.cell_ids):
        raise ValueError("the partitions were made for other study cells than the panel's.")
    n_cells, n_parts = partitions.cell_ids.size, partitions.parents.size
    plans = client.scatter([plan.on_cells(c) for c in partitions.cells], hash=False)
    events = client.scatter(split_events(event_cells, partitions), hash=False)
    counts = [
        client.submit(count_events, p, e, pure=False) for p, e in zip(plans, events, strict=True)
    ]
    nonzero = client.gather([client.submit(_nonzero, c, pure=False) for c in counts])
    present, absent, note = drop_absent_types(
        plan.features,
        {t: np.array([part[t] for part in nonzero]) for t in plan.types},
        span=plan.span,
    )
    futures = [
        client.submit(_own_rows, p, c, present, partitions.own_mask(k), pure=False)
        for k, (p, c) in enumerate(zip(plans, counts, strict=True))
    ]
    with progress(total=n_parts, desc="panel partitions", unit="partition") as bar:
        for _ in as_completed(futures):
            bar.update()
    parts: list[tuple[pd.DataFrame, dict[str, Any]]] = client.gather(futures)
    built = parts[0][1]
    for _, other in parts[1:]:
        if {**other, "n_cells": 0, "n_rows": 0} != {**built, "n_cells": 0, "n_rows": 0}:
            raise RuntimeError(f"partitions built different panels: {built} and {other}.")
    # row r of a partition: its period r // n_own, its own cell r % n_own
    n_periods = built["n_periods"]
    dest = np.concatenate(
        [(np.arange(n_periods)[:, None] * n_cells + own[None, :]).ravel() for own in partitions.own]
    )
    order = np.empty_like(dest)
    order[dest] = np.arange(dest.size)
    table = pd.concat([t for t, _ in parts], ignore_index=True).take(order)
    table = table.reset_index(drop=True)
    return Tabulated(
        table=table,
        built={**built, "n_cells": n_cells, "n_rows": len(table)},
        absent=absent,
        note=note,
    )


@contextlib.contextmanager
def panel_tabulator(
    engine: EngineConfig, cells: pd.DataFrame, *, cells_meta: CellsMeta, features: FeatureConfig
) -> Iterator[Tabulator]:
    """The table builder a run of ``build_features`` uses, for as long as the block lasts.

    ``engine.kind: local`` gives :func:`features.build.tabulate_local` (and imports no Dask);
    ``dask`` partitions ``cells`` once (:func:`partition_cells`, halo: ``max(features.rings)``),
    opens the cluster (:func:`beatwise.engine.dask_client`) and gives
    :func:`tabulate_partitioned` on it, so that every panel built in the block (the full panel
    and the refresh's fit set) runs on the same cluster. Refuses a partition resolution not
    coarser than ``cells_meta.h3_resolution``, or finer than a parent resolution of
    ``features.parent_resolutions``, before any cluster starts.
    """
    if engine.kind == "local":
        yield tabulate_local
        return
    resolution = engine.partition_resolution
    if features.parent_resolutions and resolution > min(features.parent_resolutions):
        raise ValueError(
            f"engine.partition_resolution ({resolution}) must be at most the coarsest of "
            f"features.parent_resolutions {list(features.parent_resolutions)}: a partition must "
            "hold every study cell of its cells' parents."
        )
    partitions = partition_cells(
        cells["h3_int"].to_numpy(),
        cells_resolution=cells_meta.h3_resolution,
        partition_resolution=resolution,
        halo=max(features.rings),
    )
    sizes = np.array([c.size for c in partitions.cells])
    own = np.array([o.size for o in partitions.own])
    logger.info(
        "dask: %d partitions at H3 resolution %d; own cells %d to %d, with halo %d to %d "
        "(%.2f cells computed per study cell)",
        own.size, resolution, own.min(), own.max(), sizes.min(), sizes.max(),
        sizes.sum() / own.sum(),
    )  # fmt: skip
    with dask_client(engine) as client:
        yield functools.partial(tabulate_partitioned, client=client, partitions=partitions)
