"""The power check of METRICS.md: do the hard gates catch a forecast biased on purpose?

A canary multiplies the reference ranking (the true risk on synthetic data) by
``1 + beta * share``, where ``share`` is each cell's share of residents in one group (minority
ethnic groups; the most deprived fifth of areas), with and without rescaling each period's total
back to the original. Each canary is audited against the unaltered reference like a model; it is
*caught* when one of the hard gates that judge a flagged set (G2-G6) FAILs. The audit reports,
for each canary, the smallest beta of ``audit.canary_betas`` that is caught and which gates
caught it, and the gates that FAIL at beta = 0.5 (where METRICS.md requires every canary to be
caught). The unaltered reference, audited the same way, must pass.
"""

from __future__ import annotations

import logging
from typing import Final

import numpy as np

from beatwise.artefacts.audit import AuditPower, CanaryPower
from beatwise.progress import progress
from models.audit._arrays import safe_div
from models.audit._backtest import AuditSetup, BacktestArrays
from models.audit._figures import Allocation

logger = logging.getLogger(__name__)

#: the hard gates a canary's flags and scores can fail
JUDGED: Final[tuple[str, ...]] = ("G2", "G3", "G4", "G5", "G6")
#: the beta at which METRICS.md requires every canary to be caught
REQUIRED_BETA: Final[float] = 0.5


def canary_scores(
    base: np.ndarray, share: np.ndarray, beta: float, *, rescaled: bool
) -> np.ndarray:
    """``base * (1 + beta * share)``; ``rescaled``: each period's total set back to the base's."""
    scores = base * (1.0 + beta * share[None, :])
    if rescaled:
        factor = safe_div(base.sum(axis=1), scores.sum(axis=1))
        scores = scores * np.nan_to_num(factor, nan=1.0)[:, None]
    return scores


def failed_gates(
    scores: np.ndarray, arrays: BacktestArrays, setup: AuditSetup, reference: Allocation
) -> tuple[str, ...]:
    """The gates of :data:`JUDGED` that FAIL for ``scores`` held against ``reference``."""
    coverage = setup.config.coverage
    model = Allocation("canary", arrays.flags(scores, coverage), scores)
    gates = setup.run(
        model,
        reference,
        arrays.y,
        arrays.cells,
        reference_info=arrays.reference_info,
        cross_check=False,
    ).gates
    return tuple(g for g in JUDGED if gates[g].status == "FAIL")


def audit_power(arrays: BacktestArrays, setup: AuditSetup) -> AuditPower | None:
    """Every canary of ``audit.canaries``, with and without rescaling, and the unaltered base.

    None when no canary's column is among the cells (data without resident groups).
    """
    config = setup.config
    cells = arrays.cells
    specs = [c for c in config.canaries if c.column in cells.columns]
    if not specs:
        return None
    reference = arrays.reference(config.coverage)
    base = reference.scores
    residents = cells[config.residents_column].to_numpy(dtype=np.float64)
    betas = tuple(sorted(set(config.canary_betas) | {REQUIRED_BETA}))
    canaries = []
    runs = [(spec, rescaled) for spec in specs for rescaled in (False, True)]
    for spec, rescaled in progress(runs, desc="audit canaries", unit="canary"):
        share = np.nan_to_num(safe_div(cells[spec.column].to_numpy(dtype=np.float64), residents))
        failed = {
            beta: failed_gates(
                canary_scores(base, share, beta, rescaled=rescaled), arrays, setup, reference
            )
            for beta in betas
        }
        caught = [beta for beta in betas if failed[beta]]
        smallest = caught[0] if caught else None
        canaries.append(
            CanaryPower(
                canary=spec.name + ("_rescaled" if rescaled else ""),
                label=spec.label,
                rescaled=rescaled,
                betas=betas,
                smallest_beta_caught=smallest,
                caught_by=failed[smallest] if smallest is not None else (),
                failed_at_half=failed[REQUIRED_BETA],
            )
        )
        logger.info(
            "Power: canary %s%s caught from beta %s by %s.",
            spec.name,
            " (rescaled)" if rescaled else "",
            smallest,
            ", ".join(failed[smallest]) if smallest is not None else "no gate",
        )
    return AuditPower(
        base=reference.label,
        base_failed=failed_gates(base, arrays, setup, reference),
        canaries=tuple(canaries),
    )
