"""The simulator's true risk in the backtest: when it is used, and its counts by period.

On synthetic data the simulator knows each cell's expected count of every period, given the
events before that period (``simcity.truth``): a week's, or a calendar month's, never conditioned
on an event inside the period. The backtest uses it for truth efficiency (``pei_truth_*``) and
the audit as its reference allocation. This module only states what it needs of the truth model
(:class:`TruthModel`), so ``models`` never imports the simulator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from beatwise.artefacts.panel import PanelMeta
from beatwise.period import next_period_start

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


class TruthModel(Protocol):
    """What the backtest needs of the simulator's truth (``simcity.truth.TruthModel``)."""

    def expected_counts_between(
        self,
        cells: npt.ArrayLike,
        starts: npt.ArrayLike,
        ends: npt.ArrayLike,
        crime_types: Sequence[str],
        *,
        kind: Literal["recorded", "committed"],
    ) -> FloatArray: ...


def truth_skip_reason(truth_dir: Path | None, meta: PanelMeta) -> str | None:
    """Why the simulator's truth is left out of this backtest, or None when it is used.

    It is used only when the truth model's folder holds a model (its ``meta.json``) and the data
    are synthetic (the truth model gives the simulated city's expected counts, by week or by
    calendar month).
    """
    if truth_dir is None or not (Path(truth_dir) / "meta.json").is_file():
        return f"no truth model at {truth_dir}: pei_truth_* not computed"
    if meta.source != "synthetic":
        return (
            "pei_truth_* skipped: the simulator's truth model gives expected counts of synthetic "
            f"data, and these data are {meta.source}"
        )
    return None


def truth_counts(
    truth: TruthModel | None,
    cell_ids: npt.NDArray[np.uint64],
    periods: npt.NDArray[np.datetime64],
    meta: PanelMeta,
) -> tuple[FloatArray | None, FloatArray | None]:
    """The truth's expected (recorded, committed) counts ``[period, cell]``; None without it.

    Each period is asked for as ``[its start, the next period's start)`` of the panel's period
    (``meta.period``), so each conditions on the events before it only.
    """
    if truth is None:
        return None, None
    start = time.perf_counter()
    types = list(meta.target_types)
    ends = next_period_start(periods, period=meta.period)
    recorded = truth.expected_counts_between(cell_ids, periods, ends, types, kind="recorded")
    committed = truth.expected_counts_between(cell_ids, periods, ends, types, kind="committed")
    logger.info("truth expected counts in %.2f s", time.perf_counter() - start)
    return recorded, committed
