"""A scorecard: how one period's forecast did once the period ended and its events were ingested.

``beatwise score`` (:mod:`models.scorecard`) writes two things beside the publications:

- ``data/published/scorecards/<period start>.json`` (:class:`Scorecard`): the whole scorecard of
  one published forecast: the model's figures and every baseline's, at the published coverage;
- ``data/published/scorecard.csv`` (:data:`HISTORY_COLUMNS`): the history, one row per scored
  period, oldest first. Scoring a period again replaces its row, so the file is the same whatever
  order periods were scored in. Maps and the bias report draw it as a line over recent periods.

A scorecard of a backtest period (``beatwise score --from-backtest``) has the same definition and
``source: backtest``; it is printed (or written where ``--out`` says) and never enters the
history, which holds only what planners were sent.

The history's columns (stable: new figures go into the JSON, never into this file's columns):

=========================  ====================================================================
column                     meaning
=========================  ====================================================================
period                     ``week`` or ``month``
period_start               first day of the period scored (an ISO Monday, or a 1st)
period_end                 last day of the period (a Sunday, or the month's last day)
folder                     the publication's folder (``2024-12-30``, ``2024-12-30.2``)
model_version              the published model's content hash
audit_status               the audit's word on the forecast (``pass``, ...)
coverage                   share of the study area the publication flagged (``k``)
n_cells                    cells in the published forecast
events                     target events in those cells during the period
events_outside_cells       target events of the period in cells the forecast did not hold
n_flagged                  cells flagged
flagged_area_share         the flagged cells' share of the study area (>= ``k``: whole cells)
events_captured            target events in flagged cells (the hits)
n_flagged_with_crime       flagged cells with at least one target event
n_flagged_without_crime    flagged cells with none
hit_rate                   events_captured / events (empty when the period had no event)
pai                        hit_rate / flagged_area_share
pei                        hit_rate over the best hit rate a flagged set of that area could get
reference_baseline         the backtest's best baseline (highest pooled PAI at the coverage)
reference_hit_rate         its hit rate in this period, flagged at the same coverage
reference_pai              its PAI in this period
pai_lift                   pai / reference_pai (METRICS.md's lift, for this one period)
target_types               the crime types counted, ``;``-separated
=========================  ====================================================================
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Final, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from beatwise.artefacts._base import Artefact
from beatwise.artefacts.manifest import AuditStatus
from beatwise.io import atomic_path
from beatwise.period import Period

#: where the forecast scored came from
ScoreSource = Literal["publication", "backtest"]

#: the history file's columns, in order (the module docstring says what each means)
HISTORY_COLUMNS: Final[tuple[str, ...]] = (
    "period",
    "period_start",
    "period_end",
    "folder",
    "model_version",
    "audit_status",
    "coverage",
    "n_cells",
    "events",
    "events_outside_cells",
    "n_flagged",
    "flagged_area_share",
    "events_captured",
    "n_flagged_with_crime",
    "n_flagged_without_crime",
    "hit_rate",
    "pai",
    "pei",
    "reference_baseline",
    "reference_hit_rate",
    "reference_pai",
    "pai_lift",
    "target_types",
)
#: the history's name beside the publications, and the folder of the scorecards' JSON
HISTORY_FILE: Final[str] = "scorecard.csv"
SCORECARD_FOLDER: Final[str] = "scorecards"


class FlagScore(BaseModel):
    """One forecast's flags in the period scored, and what they caught.

    Ratios are None when the period had no target event (METRICS.md: such periods are skipped).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_flagged: int = Field(ge=0)
    flagged_area_share: float = Field(ge=0.0, le=1.0)
    events_captured: int = Field(ge=0)
    n_flagged_with_crime: int = Field(ge=0)
    n_flagged_without_crime: int = Field(ge=0)
    hit_rate: float | None = Field(ge=0.0, le=1.0)
    pai: float | None = Field(ge=0.0)
    pei: float | None = Field(ge=0.0)


class Scorecard(Artefact):
    """How one period's forecast did against the events recorded in it, beside the baselines."""

    source: ScoreSource
    period: Period
    period_start: dt.date
    period_end: dt.date
    #: the publication's folder; None for a backtest period
    folder: str | None
    model_version: str | None
    audit_status: AuditStatus | None
    coverage: float = Field(gt=0.0, le=1.0)
    n_cells: int = Field(ge=1)
    study_area_km2: float = Field(gt=0.0)
    target_types: tuple[str, ...] = Field(min_length=1)
    events: int = Field(ge=0)
    events_outside_cells: int = Field(ge=0)
    model: FlagScore
    #: every baseline of the registry, by name, flagged at the same coverage in the same cells
    baselines: dict[str, FlagScore] = Field(min_length=1)
    #: the backtest's best baseline, which the lift is taken over
    reference_baseline: str
    #: the model's PAI over the reference baseline's in this period; None when undefined
    pai_lift: float | None = Field(ge=0.0)

    def history_row(self) -> dict[str, Any]:
        """This scorecard as one row of the history (:data:`HISTORY_COLUMNS`)."""
        ref = self.baselines[self.reference_baseline]
        row: dict[str, Any] = {
            "period": self.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "folder": self.folder,
            "model_version": self.model_version,
            "audit_status": self.audit_status,
            "coverage": self.coverage,
            "n_cells": self.n_cells,
            "events": self.events,
            "events_outside_cells": self.events_outside_cells,
            **self.model.model_dump(),
            "reference_baseline": self.reference_baseline,
            "reference_hit_rate": ref.hit_rate,
            "reference_pai": ref.pai,
            "pai_lift": self.pai_lift,
            "target_types": ";".join(self.target_types),
        }
        return {column: row[column] for column in HISTORY_COLUMNS}


#: the history's columns that hold numbers: never empty (counts, shares), or empty when the
#: period had no target event (ratios); each with its lowest and highest allowed value
_NUMBERS: Final[dict[str, tuple[bool, float, float]]] = {
    # column: (may be empty, low, high)
    "coverage": (False, 0.0, 1.0),
    "n_cells": (False, 1.0, math.inf),
    "events": (False, 0.0, math.inf),
    "events_outside_cells": (False, 0.0, math.inf),
    "n_flagged": (False, 0.0, math.inf),
    "flagged_area_share": (False, 0.0, 1.0),
    "events_captured": (False, 0.0, math.inf),
    "n_flagged_with_crime": (False, 0.0, math.inf),
    "n_flagged_without_crime": (False, 0.0, math.inf),
    "hit_rate": (True, 0.0, 1.0),
    "pai": (True, 0.0, math.inf),
    "pei": (True, 0.0, math.inf),
    "reference_hit_rate": (True, 0.0, 1.0),
    "reference_pai": (True, 0.0, math.inf),
    "pai_lift": (True, 0.0, math.inf),
}


class HistoryError(ValueError):
    """The history is not as ``beatwise score`` writes it; the message names the row and column."""


def _refuse(path: Path, table: pd.DataFrame, bad: pd.Series, column: str, expected: str) -> None:
    """Raise :class:`HistoryError` at the first row where ``bad`` holds (rows count from 1 after
    the header, so row ``r`` is line ``r + 1`` of the file)."""
    if not bad.any():
        return
    row = int(np.flatnonzero(bad.to_numpy())[0])
    raise HistoryError(
        f"{path} row {row + 1} (line {row + 2}), column {column!r}: "
        f"{table[column].iloc[row]!r} is not {expected}. Fix or remove that row, or score the "
        "period again to rewrite it."
    )


def _checked(path: Path, text: pd.DataFrame) -> pd.DataFrame:
    """The history read as text, checked value by value, with its numbers and dates typed."""
    _refuse(path, text, ~text["period"].isin(get_args(Period)), "period", "'week' or 'month'")
    out = text.copy()
    for column in ("period_start", "period_end"):
        days = pd.to_datetime(text[column], format="%Y-%m-%d", errors="coerce")
        _refuse(path, text, days.isna(), column, "a date written YYYY-MM-DD")
    for column, (may_be_empty, low, high) in _NUMBERS.items():
        empty = text[column] == ""
        values = pd.to_numeric(text[column].where(~empty), errors="coerce")
        wrong = values.isna() | ~values.between(low, high)
        wrong = (wrong & ~empty) if may_be_empty else wrong
        kind = f"a number >= {low:g}" if math.isinf(high) else f"a number in [{low:g}, {high:g}]"
        _refuse(path, text, wrong, column, kind + (", or empty" if may_be_empty else ""))
        out[column] = values
    _refuse(
        path, text, text["period_start"].duplicated(), "period_start",
        "a period of its own (each period has one row)",
    )  # fmt: skip
    for column in ("folder", "model_version", "audit_status", "reference_baseline"):
        out[column] = text[column].where(text[column] != "", None)
    return out


def read_history(path: Path) -> pd.DataFrame:
    """The history at ``path`` (an empty table of :data:`HISTORY_COLUMNS` when there is none).

    Refuses a file whose columns are not :data:`HISTORY_COLUMNS`, naming the difference, so that
    a hand-edited or foreign file is never silently rewritten, and a value that is not what its
    column holds (a period, an ISO date, a number in its range), naming the row and the column
    (:class:`HistoryError`). Numbers come back as floats (empty: NaN), other columns as text.
    """
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(text.columns) != HISTORY_COLUMNS:
        missing = [c for c in HISTORY_COLUMNS if c not in text.columns]
        extra = [c for c in text.columns if c not in HISTORY_COLUMNS]
        raise HistoryError(
            f"{path} is not a scorecard history: its columns must be {list(HISTORY_COLUMNS)} in "
            f"that order. Missing {missing}, unexpected {extra}."
        )
    return _checked(path, text)


def _csv_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def upsert_history(path: Path, card: Scorecard) -> pd.DataFrame:
    """Put ``card``'s row into the history at ``path`` (replacing the row of its period) and
    write it atomically, oldest period first; returns the table written.

    Only publications enter the history; a backtest scorecard is refused.
    """
    if card.source != "publication":
        raise ValueError(
            f"Only scorecards of publications enter {HISTORY_FILE}; this one's source is "
            f"{card.source!r}."
        )
    table = read_history(path)
    kept = table[table["period_start"].astype(str) != card.period_start.isoformat()]
    row = pd.DataFrame([{k: _csv_value(v) for k, v in card.history_row().items()}])
    parts = [part for part in (kept, row) if not part.empty]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else row
    out = out.sort_values("period_start", kind="stable").reset_index(drop=True)
    with atomic_path(Path(path)) as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n")
    return out
