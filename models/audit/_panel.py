"""The board's panel: one allocation's absolute figures (METRICS.md "The absolute panel").

They never block by themselves; the board weighs them, and may ratify limits (G12).
"""

from __future__ import annotations

import numpy as np

from beatwise.artefacts.audit import BoardAllocation, BoardGroup
from models.audit._arrays import safe_div
from models.audit._config import AuditConfig
from models.audit._figures import (
    Allocation,
    GroupReplicates,
    Population,
    StrataInternals,
    stratum_sums,
)


def board_group(
    rep: GroupReplicates, j: int, label: str, *, flagged_cell_periods: float | None = None
) -> BoardGroup:
    """Group ``j``'s absolute figures (the point estimates of ``rep``) as the board reads them."""
    return BoardGroup(
        label=label,
        exposure=float(rep.exposure[0, j]),
        residents_per_period=float(rep.residents_flagged[j]),
        exposure_ratio=float(rep.exposure_ratio[0, j]),
        discovery=float(rep.discovery[0, j]),
        discovery_committed=(
            None if rep.discovery_committed is None else float(rep.discovery_committed[j])
        ),
        burden_benefit=float(rep.burden_benefit[0, j]),
        false_flag_rate=float(rep.false_flag[0, j]),
        false_flag_ratio=float(rep.false_flag_ratio[0, j]),
        flagged_cell_periods=flagged_cell_periods,
    )


def gap_pp(values: np.ndarray) -> float | None:
    """The largest gap between groups, in percentage points (None when nothing is known)."""
    if not np.isfinite(values).any():
        return None
    return float(100 * (np.nanmax(values) - np.nanmin(values)))


def shared_area(alloc: Allocation, model: Allocation, area: np.ndarray) -> float | None:
    """The share of ``alloc``'s flagged area that ``model`` flags too, averaged over periods
    (None when ``alloc`` flags nothing)."""
    mine = alloc.flagged.astype(np.float64) @ area
    both = (alloc.flagged & model.flagged).astype(np.float64) @ area
    return None if mine.sum() <= 0 else float(both.sum() / mine.sum())


def board_allocation(
    alloc: Allocation,
    rep: GroupReplicates,
    y: np.ndarray,
    pop: Population,
    config: AuditConfig,
    strata: StrataInternals,
    *,
    model: Allocation | None = None,
) -> BoardAllocation:
    """One allocation's absolute figures for the board's panel (point estimates); with
    ``model``, also the share of its flagged area the model flags too."""
    W = y.shape[0]
    F = alloc.flagged.astype(np.float64)
    total_area = pop.area.sum()
    hr = safe_div((F * y).sum(), y.sum())
    pai = float(safe_div(hr, (F @ pop.area).sum() / (W * total_area)))
    groups: dict[str, dict[str, BoardGroup]] = {}
    gaps: dict[str, float | None] = {}
    committed_gaps: dict[str, float | None] = {}
    for attr in config.attributes:
        j = pop.index_of(attr.name)
        groups[attr.name] = {}
        for key, gj in zip(attr.groups, j, strict=True):
            groups[attr.name][key] = board_group(rep, gj, attr.label_of(key))
        gaps[attr.name] = gap_pp(rep.discovery[0, j])
        if rep.discovery_committed is not None:
            committed_gaps[attr.name] = gap_pp(rep.discovery_committed[j])
    pai_by: dict[str, dict[str, float | None]] = {}
    for name, s in strata.items():
        codes = s["codes"]
        keys = s["keys"]
        M = np.zeros((codes.size, len(keys)))
        ok = codes >= 0
        M[np.nonzero(ok)[0], codes[ok]] = 1.0
        sums = stratum_sums(alloc, y, pop.area, M, np.ones((1, W)))
        pai_s = sums.pai(pop.area @ M, W)[0]
        pai_by[name] = {k: float(v) for k, v in zip(keys, pai_s, strict=True)}
    none = (pop.residents < config.no_resident_max).astype(np.float64)
    return BoardAllocation(
        label=alloc.label,
        hit_rate=float(hr),
        pai=pai,
        groups=groups,
        all_residents_exposure=float(rep.exposure_all[0]),
        all_residents_discovery=float(rep.discovery_all[0]),
        discovery_gap_pp=gaps,
        discovery_committed_gap_pp=committed_gaps if rep.discovery_committed is not None else None,
        pai_by_stratum=pai_by,
        no_resident_area_share=float(safe_div((F @ (pop.area * none)).sum(), (F @ pop.area).sum())),
        no_resident_crime_share=float(safe_div(((F * y) @ none).sum(), (F * y).sum())),
        area_shared_with_model=None if model is None else shared_area(alloc, model, pop.area),
    )
