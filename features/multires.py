"""Multi-resolution features: the counts of each study cell's parent cells at coarser H3
resolutions (``features.parent_resolutions``).

A parent at resolution ``p`` holds many study cells (7 per step: an H3 resolution-6 cell has 49
resolution-8 children). Its counts say how busy the wider neighbourhood is, with far less noise
than a single cell's, and a change there (a hot spot that emerges or fades) shows in the parent
before the cell's own sparse history catches up.

Every parent feature of study cell ``c`` in period ``t`` is the parent's total over the study
cells it holds, divided by how many study cells it holds (a mean per study cell, so a parent cut
by the study area's edge is not under-stated), built with the same array builders as the cell's
own features (:mod:`features.arrays`) and so from periods strictly before ``t`` only. The parent
counts come from one ``np.bincount`` over the ``[period, cell]`` count matrix with a parent index
per cell: no loop over cells or periods.
"""

from __future__ import annotations

from collections.abc import Iterable

import h3ronpy
import numpy as np
import numpy.typing as npt

from features.arrays import decayed, history_mean, lagged, rolling_mean

#: name prefix of the parent features: ``par7_cnt_all_lag1w`` is the resolution-7 parent's
PARENT_PREFIX: str = "par"
#: the lag (in periods) of the parent's last-period count
PARENT_LAG: int = 1


def cells_resolution(cell_ids: npt.NDArray[np.uint64]) -> int:
    """The one H3 resolution of ``cell_ids``; refuses a mix."""
    found = np.unique(np.asarray(h3ronpy.cells_resolution(cell_ids).to_numpy()))
    if found.size != 1:
        raise ValueError(f"cell_ids mix H3 resolutions {found.tolist()}; expected one.")
    return int(found[0])


def check_parent_resolutions(
    resolutions: Iterable[int], *, cells_resolution: int, source: str
) -> tuple[int, ...]:
    """Check that every configured parent resolution is coarser than the study cells'.

    Parameters
    ----------
    resolutions
        ``features.parent_resolutions``.
    cells_resolution
        The study cells' H3 resolution (``cells.h3_resolution`` as ``cells_meta.json`` records
        it, or the resolution of the cell ids themselves).
    source
        Where ``cells_resolution`` comes from, for the message.
    """
    resolutions = tuple(resolutions)
    finer = [r for r in resolutions if r >= cells_resolution]
    if finer:
        raise ValueError(
            f"The 'features.parent_resolutions' parameter of stage 'build_features' must hold H3 "
            f"resolutions coarser (smaller) than the study cells' resolution {cells_resolution} "
            f"({source}). Got {list(resolutions)}; {finer} are not coarser."
        )
    return resolutions


def parent_index(
    cell_ids: npt.NDArray[np.uint64], *, resolution: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each study cell's parent at ``resolution`` as a position, and each parent's study cells.

    Returns
    -------
    parent_of : int64 [cell]
        Position of the cell's parent among the distinct parents (ascending parent id).
    n_children : int64 [parent]
        How many study cells each parent holds (at least 1).
    """
    parents = np.asarray(h3ronpy.change_resolution(cell_ids, resolution).to_numpy(), np.uint64)
    _, parent_of = np.unique(parents, return_inverse=True)
    parent_of = parent_of.astype(np.int64).reshape(-1)
    return parent_of, np.bincount(parent_of)


def parent_counts(
    X: npt.NDArray[np.integer], parent_of: npt.NDArray[np.int64], n_parents: int
) -> npt.NDArray[np.int64]:
    """``P[t, q] = sum of X[t, c] over the study cells c whose parent is q``, exact in int64."""
    n_periods = X.shape[0]
    flat = (np.arange(n_periods, dtype=np.int64)[:, None] * n_parents + parent_of[None, :]).ravel()
    sums = np.bincount(flat, weights=X.ravel(), minlength=n_periods * n_parents)
    return np.rint(sums).astype(np.int64).reshape(n_periods, n_parents)


def parent_feature_names(
    resolution: int,
    *,
    rolling_windows: tuple[int, ...],
    decay_half_lives: tuple[int, ...],
    suffix: str,
) -> list[str]:
    """The parent features of one resolution, in their stable order (``suffix``: ``w``/``m``)."""
    stem = f"{PARENT_PREFIX}{resolution}"
    return [
        f"{stem}_cnt_all_lag{PARENT_LAG}{suffix}",
        *(f"{stem}_cnt_all_roll{n}{suffix}" for n in rolling_windows),
        f"{stem}_cnt_all_mean_hist",
        *(f"{stem}_nr_all_decay{h}{suffix}" for h in decay_half_lives),
    ]


def parent_features(
    all_counts: npt.NDArray[np.integer],
    rows: npt.NDArray[np.int64],
    *,
    cell_ids: npt.NDArray[np.uint64],
    resolutions: tuple[int, ...],
    rolling_windows: tuple[int, ...],
    decay_half_lives: tuple[int, ...],
    suffix: str,
) -> dict[str, npt.NDArray[np.float32]]:
    """The parent features of every resolution, float32 ``[len(rows), cell]`` each.

    Parameters
    ----------
    all_counts
        ``[period, cell]`` counts of the target types together (the ``all`` aggregate).
    rows
        Period indices of the output rows (as :mod:`features.arrays` takes them).
    cell_ids
        The study cells (uint64, ascending): the column axis of ``all_counts``.
    resolutions
        ``features.parent_resolutions``, each coarser than the cells (checked by the caller with
        :func:`check_parent_resolutions`).
    rolling_windows, decay_half_lives
        The windows and half-lives of the cell's own features, reused for its parents.
    suffix
        ``w`` or ``m``: the period unit in the names.
    """
    out: dict[str, npt.NDArray[np.float32]] = {}
    for resolution in resolutions:
        parent_of, n_children = parent_index(cell_ids, resolution=resolution)
        per_cell = parent_counts(all_counts, parent_of, n_children.size) / n_children[None, :]
        S = np.zeros((per_cell.shape[0] + 1, per_cell.shape[1]), dtype=np.float64)
        np.cumsum(per_cell, axis=0, out=S[1:])
        values = [
            lagged(per_cell, rows, PARENT_LAG),
            *(rolling_mean(S, rows, n) for n in rolling_windows),
            history_mean(S, rows),
            *(decayed(per_cell, rows, h) for h in decay_half_lives),
        ]
        names = parent_feature_names(
            resolution,
            rolling_windows=rolling_windows,
            decay_half_lives=decay_half_lives,
            suffix=suffix,
        )
        for name, value in zip(names, values, strict=True):
            out[name] = value[:, parent_of]
    return out
