"""``reports/model_selection.json`` and ``data/models/selected_config.json``, written by
``select`` (:mod:`models.selection`): the selection backtest's figures and choice, read by
``train`` (the model card's words), and the chosen configuration, read by ``train``,
``evaluate`` and ``feedback``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beatwise.artefacts._base import Artefact
from beatwise.artefacts.metrics import Lift

#: the name the ``train`` params go by among the candidates
BASE_NAME = "params"


class CandidateScore(BaseModel):
    """One configuration's selection backtest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    #: the train keys it changes and their values (empty for the train params themselves)
    changes: dict[str, Any]
    #: pooled PAI at the operational coverage over the selection window (the criterion)
    pai: float
    #: its lift over the window's best baseline, with the block-bootstrap interval
    lift: Lift
    #: its PAI over the train params' on the same window and interval; None for the params
    over_params: Lift | None = None

    @property
    def eligible(self) -> bool:
        """The train params, or a candidate whose interval over them lies above 1."""
        if self.over_params is None:
            return True
        low = self.over_params.ci_low
        return low is not None and low > 1.0


class SelectedConfig(Artefact):
    """``selected_config.json``: the configuration train, evaluate and feedback fit.

    Apart from the selection's figures (``model_selection.json``), so that its bytes change only
    when the choice does and the stages after it re-run only then. The configurations are the
    ``train`` section's keys as JSON; ``models.selection.selected_config`` reads them through
    the ``train`` schema (``models.risk_model.RiskModelConfig``), which lives above this package.
    """

    chosen: str
    #: the train params the selection started from
    base: dict[str, Any]
    #: the chosen configuration, whole
    config: dict[str, Any]


class ModelSelection(Artefact):
    """``model_selection.json``: which configuration the selection backtest chose, and why."""

    #: the operational coverage the criterion is taken at
    coverage: float = Field(gt=0.0, le=1.0)
    #: first and last period of the selection window; None when there were no candidates
    window: tuple[dt.date, dt.date] | None
    #: every configuration backtested, the train params first; empty without candidates
    scores: tuple[CandidateScore, ...]
    chosen: str
    #: seeds each configuration was backtested with, its scores their mean (``select.seeds``);
    #: left out of the file when 1
    seeds: int = Field(default=1, ge=1, exclude_if=lambda value: value == 1)

    @model_validator(mode="after")
    def _chosen_is_scored(self) -> Self:
        names = [s.name for s in self.scores]
        if (names and self.chosen not in names) or (not names and self.chosen != BASE_NAME):
            raise ValueError(f"chosen {self.chosen!r} must be one of the scored {names}")
        return self

    def summary(self) -> str:
        """What the model card says of the choice, in words."""
        if not self.scores:
            return (
                "the train params as declared; no alternative was backtested "
                "(select.candidates is empty)."
            )
        assert self.window is not None
        best = next(s for s in self.scores if s.name == self.chosen)
        where = (
            f"{len(self.scores)} configurations were backtested on the periods from "
            f"{self.window[0]} to {self.window[1]}, before the reported backtest"
            + (f", each with {self.seeds} seeds and scored by their mean" if self.seeds > 1 else "")
        )
        if self.chosen == BASE_NAME:
            head = (
                f"the train params as declared (PAI at {self.coverage:.0%} coverage "
                f"{best.pai:.3f}): {where}, and no candidate beat them beyond chance (a 95% "
                "interval above 1 for its PAI over theirs)"
            )
        else:
            head = (
                f"{self.chosen} ({_changed(best.changes)}; PAI at {self.coverage:.0%} coverage "
                f"{best.pai:.3f}, {_versus(best)}): {where}, and it had the highest PAI of "
                "those that beat the train params beyond chance (a 95% interval above 1 for its "
                "PAI over theirs)"
            )
        others = "; ".join(_described(s) for s in self.scores if s.name != self.chosen)
        return f"{head}. The others: {others}."


def _changed(changes: dict[str, Any]) -> str:
    """``min_data_in_leaf 100, blend.baselines etas``: a candidate's changes in one line."""

    def flat(prefix: str, value: Any) -> list[str]:
        if isinstance(value, dict):
            return [item for k, v in sorted(value.items()) for item in flat(f"{prefix}.{k}", v)]
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        return [f"{prefix.lstrip('.')} {shown or 'none'}"]

    return ", ".join(flat("", changes)) or "no change"


def _versus(score: CandidateScore) -> str:
    """``0.9% above the train params' (95% interval 0.1% to 1.5%)``."""
    over = score.over_params
    if over is None or over.estimate is None:
        return "the train params themselves"
    side = "above" if over.estimate >= 1 else "below"
    text = f"{abs(over.estimate - 1):.1%} {side} the train params'"
    if over.ci_low is not None and over.ci_high is not None:
        text += f" (95% interval {over.ci_low - 1:+.1%} to {over.ci_high - 1:+.1%})"
    return text


def _described(score: CandidateScore) -> str:
    if score.name == BASE_NAME:
        return f"the train params {score.pai:.3f}"
    return f"{score.name} ({_changed(score.changes)}) {score.pai:.3f}, {_versus(score)}"
