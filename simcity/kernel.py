"""The near-repeat spatial kernel on micro-cells, shared by the simulator and the truth model.

An offspring of an event in micro-cell ``s`` lands in micro-cell ``m`` with probability
``K[s, m] ∝ exp(-d(s, m)² / 2σ²)`` over the city's micro-cells within ``truncation_sd · σ``
(a truncated, discretised Gaussian, normalised per source so no offspring leaves the city).
Generation samples from exactly this matrix, so the truth model's expectations are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class SpatialKernel:
    """Row-normalised sparse kernel in CSR parts, plus a search key for vectorised sampling."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float64]
    search_key: npt.NDArray[np.float64]

    @property
    def n_cells(self) -> int:
        return self.indptr.size - 1

    def to_csr(self) -> sparse.csr_array:
        """The kernel as a [source, target] sparse matrix (rows sum to 1)."""
        return sparse.csr_array(
            (self.weights, self.indices, self.indptr), shape=(self.n_cells, self.n_cells)
        )

    def sample(
        self, sources: npt.NDArray[np.int64], u: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        """Target micro-cell of each offspring, given its source cell and a uniform in [0, 1)."""
        pos = np.searchsorted(self.search_key, sources + u, side="right")
        pos = np.minimum(pos, self.indptr[sources + 1] - 1)
        return self.indices[pos].astype(np.int64)


def neighbour_pairs(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], *, radius_m: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """All ordered pairs (source, target, squared distance) within ``radius_m``, self included.

    Sorted by (source, target) whatever order the tree returns them in, so it is deterministic.
    """
    n = x.size
    pairs = cKDTree(np.c_[x, y]).query_pairs(radius_m, output_type="ndarray").astype(np.int64)
    diag = np.arange(n, dtype=np.int64)
    key = np.concatenate(
        [pairs[:, 0] * n + pairs[:, 1], pairs[:, 1] * n + pairs[:, 0], diag * n + diag]
    )
    key.sort()
    rows, cols = np.divmod(key, n)
    d2 = (x[rows] - x[cols]) ** 2 + (y[rows] - y[cols]) ** 2
    return rows, cols, d2


def build_kernel(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    sigma_m: float,
    truncation_sd: float,
    pairs: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]
    | None = None,
) -> SpatialKernel:
    """Build the truncated Gaussian kernel between micro-cell centres (metres).

    ``pairs`` may be ``neighbour_pairs`` for a radius at least ``truncation_sd · sigma_m``
    (shared between kernels of several sigmas). Size is ~ n_cells · π (truncation_sd σ)² /
    15,000 m² entries (~6M for the default city at σ = 200 m).
    """
    n = x.size
    radius = truncation_sd * sigma_m
    if pairs is None:
        pairs = neighbour_pairs(x, y, radius_m=radius)
    rows, cols, d2 = pairs
    inside = d2 <= radius * radius
    if not inside.all():
        rows, cols, d2 = rows[inside], cols[inside], d2[inside]
    w = np.exp(-d2 / (2.0 * sigma_m**2))
    row_sum = np.bincount(rows, weights=w, minlength=n)
    w = w / row_sum[rows]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    cum = np.cumsum(w)
    start = np.concatenate([[0.0], cum])[indptr[:-1]]
    within = cum - start[rows]
    within[indptr[1:] - 1] = 1.0
    return SpatialKernel(
        indptr=indptr,
        indices=cols.astype(np.int32),
        weights=w,
        search_key=rows.astype(np.float64) + within,
    )


def build_kernels(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    sigmas: npt.ArrayLike,
    truncation_sd: float,
) -> dict[float, SpatialKernel]:
    """Kernels for each distinct sigma, sharing one neighbour search at the largest radius."""
    uniq = sorted({float(s) for s in np.asarray(sigmas, dtype=np.float64).ravel()})
    if not uniq:
        return {}
    pairs = neighbour_pairs(x, y, radius_m=truncation_sd * uniq[-1])
    return {
        s: build_kernel(x, y, sigma_m=s, truncation_sd=truncation_sd, pairs=pairs) for s in uniq
    }
