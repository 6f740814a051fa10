"""The board's intersectional figures: residents by two attributes at once
(``audit.intersections``).

A group such as "residents of minority ethnic groups in the most deprived fifth of areas" is not
judged by any gate (the gates judge each attribute on its own, METRICS.md "Audit groups"); its
absolute figures go on the board's panel beside the others, for every allocation.

Where the data allow: the cells must carry the joint counts ``res_<a>_<b>``, which build_cells
derives only from areas that give both attributes for the same residents. Without them, the panel
says so; a joint count is never made up by multiplying a cell's two shares, which would assume the
attributes independent within the cell. The small-group rule of METRICS.md applies per group and
allocation: fewer than ``min_residents`` residents or ``min_flagged_cell_periods`` flagged
cell-periods, and the group's figures are withheld as "insufficient data", never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from beatwise.artefacts.audit import (
    BoardAllocation,
    BoardGroup,
    BoardPanel,
    IntersectionGroup,
    IntersectionPanel,
)
from models.audit._arrays import cell_column
from models.audit._config import AuditConfig, IntersectionSpec
from models.audit._figures import Allocation, Population, group_replicates
from models.audit._panel import board_group, gap_pp

logger = logging.getLogger(__name__)

#: how closely the joint counts must add up to each group's residents (share of all residents)
_ADDS_UP_TOLERANCE = 1e-6


def _joint_population(
    spec: IntersectionSpec,
    pop: Population,
    cells: pd.DataFrame,
    config: AuditConfig,
    unit: str,
) -> tuple[Population | None, str]:
    """The joint groups' residents per cell, or None with the reason the data do not allow them."""
    groups = spec.groups(config.attributes)
    a, b = spec.attributes
    missing = [g.column for g in groups.values() if g.column not in cells.columns]
    if missing:
        return None, (
            f"Not available for these data: the cells carry no joint counts ({missing[0]} and "
            f"{len(missing) - 1} more), because the areas do not give {a} and {b} for the same "
            f"residents. Multiplying a cell's share of one by its share of the other would assume "
            "the two independent, so no figures are made up."
        )
    P = np.column_stack(
        [cell_column(cells, g.column, what="residents of a joint group") for g in groups.values()]
    )
    if not (np.isfinite(P).all() and (P >= 0).all()):
        return None, f"Not available: the joint counts of {spec.label} are not all finite and >= 0."
    # IntersectionSpec.groups pairs the first attribute's groups, in order, each with every
    # group of the second: the pairs of the first's i-th group are columns i*n .. (i+1)*n - 1
    first = next(x for x in config.attributes if x.name == a)
    n = len(groups) // len(first.groups)
    for i, (a_key, group) in enumerate(first.groups.items()):
        joint = P[:, i * n : (i + 1) * n].sum(axis=1)
        alone = cell_column(cells, group.column, what="residents of an audit group")
        if np.abs(joint - alone).sum() > _ADDS_UP_TOLERANCE * max(pop.residents.sum(), 1.0):
            return None, (
                f"Not available: the joint counts of {spec.label} do not add up to the residents "
                f"of {a} group {a_key!r} ({joint.sum():,.0f} against {alone.sum():,.0f})."
            )
    joint_pop = Population(
        area=pop.area,
        residents=pop.residents,
        P=P,
        columns=tuple((spec.name, key) for key in groups),
    )
    return joint_pop, (
        f"Counted from the areas, not estimated: {b} is a property of each area, so every resident "
        f"of an area shares its {b} group, and the area's residents of each {a} group are counted "
        "in it; they are shared among cells by overlap like every other group. Figures are "
        f"withheld as insufficient data for a group with fewer than {config.min_residents:,.0f} "
        f"residents or {config.min_flagged_cell_periods:,.0f} flagged {unit} under that "
        "allocation (METRICS.md's small-group rule)."
    )


def _groups_of(
    alloc: Allocation,
    y: np.ndarray,
    pop: Population,
    labels: dict[str, str],
    config: AuditConfig,
    committed: np.ndarray | None,
    unit: str,
) -> tuple[dict[str, BoardGroup], float | None]:
    """One allocation's figures for each joint group (withheld where too small), and the largest
    gap in discovery between the groups it reports."""
    W = y.shape[0]
    rep = group_replicates(alloc.flagged, y, pop, np.ones((1, W)), committed=committed)
    flagged = (alloc.flagged.astype(np.float64) @ pop.share).sum(axis=0)
    residents = pop.P.sum(axis=0)
    out: dict[str, BoardGroup] = {}
    reported = np.full(len(labels), np.nan)
    for j, (key, label) in enumerate(labels.items()):
        reasons = []
        if residents[j] < config.min_residents:
            reasons.append(f"{residents[j]:,.0f} residents, {config.min_residents:,.0f} needed")
        if flagged[j] < config.min_flagged_cell_periods:
            reasons.append(
                f"{flagged[j]:,.1f} flagged {unit}, {config.min_flagged_cell_periods:,.0f} needed"
            )
        if reasons:
            out[key] = BoardGroup(
                label=label,
                exposure=None,
                residents_per_period=None,
                exposure_ratio=None,
                discovery=None,
                burden_benefit=None,
                false_flag_rate=None,
                flagged_cell_periods=float(flagged[j]),
                insufficient_reason="; ".join(reasons),
            )
            continue
        reported[j] = rep.discovery[0, j]
        out[key] = board_group(rep, j, label, flagged_cell_periods=float(flagged[j]))
    return out, gap_pp(reported)


def with_intersections(
    board: BoardPanel,
    allocations: Mapping[str, Allocation],
    y: np.ndarray,
    pop: Population,
    cells: pd.DataFrame,
    config: AuditConfig,
    *,
    committed: np.ndarray | None = None,
    unit: str = "cell-weeks",
) -> BoardPanel:
    """``board`` with every intersection of ``config`` on it: its description (or why the data
    do not allow it) and, per allocation, each joint group's figures or why they are withheld.

    ``allocations`` are the board's, by role, with flags already checked (``validate_inputs``).
    """
    if not config.intersections:
        return board
    panels: dict[str, IntersectionPanel] = {}
    extra: dict[str, dict[str, dict[str, BoardGroup]]] = {role: {} for role in allocations}
    gaps: dict[str, dict[str, float | None]] = {role: {} for role in allocations}
    for spec in config.intersections:
        groups = spec.groups(config.attributes)
        joint, note = _joint_population(spec, pop, cells, config, unit)
        residents = joint.P.sum(axis=0) if joint is not None else np.zeros(len(groups))
        panels[spec.name] = IntersectionPanel(
            label=spec.label,
            attributes=spec.attributes,
            available=joint is not None,
            note=note,
            groups={
                key: IntersectionGroup(label=g.label, column=g.column, residents=float(r))
                for (key, g), r in zip(groups.items(), residents, strict=True)
            },
        )
        if joint is None:
            logger.info("Audit: no intersectional figures for %s. %s", spec.label, note)
            continue
        labels = {key: g.label for key, g in groups.items()}
        for role, alloc in allocations.items():
            extra[role][spec.name], gaps[role][spec.name] = _groups_of(
                alloc, y, joint, labels, config, committed, unit
            )
    allocs: dict[str, BoardAllocation] = {}
    for role, alloc_figures in board.allocations.items():
        allocs[role] = alloc_figures.model_copy(
            update={
                "groups": {**alloc_figures.groups, **extra.get(role, {})},
                "discovery_gap_pp": {**alloc_figures.discovery_gap_pp, **gaps.get(role, {})},
            }
        )
    return board.model_copy(update={"allocations": allocs, "intersections": panels})
