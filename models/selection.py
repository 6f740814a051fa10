"""Model selection as code: the backtest, not a person, chooses the model's configuration.

``select.candidates`` names alternatives to the ``train`` params (each changes some of its keys,
for example ``num_leaves`` or ``blend``). The ``select`` stage backtests the ``train`` params and
every candidate on a **selection window**: the ``select.periods`` labelled periods just before
``evaluate``'s backtest window, so the figures ``evaluate`` reports come from periods the choice
never saw (choosing on the reported window would overstate the winner's lift). Each model of the
selection backtest is, as in ``evaluate``, trained only on the periods before the ones it scores.

The criterion is the pooled PAI at the operational coverage over the window, the numerator of
the headline lift (the baselines do not depend on the candidate, so it ranks candidates as the
lift does). The ``train`` params are kept unless a candidate beats them by evidence, not by
noise: a candidate is eligible only when its PAI over the ``train`` params' has a 95% moving-block
bootstrap interval above 1 (the headline lift's interval, ``evaluate.n_boot`` and ``block_len``),
and the highest PAI among the eligible ones wins (ties: the earlier entry). The figures go
to ``model_selection.json`` (:class:`ModelSelection`); the chosen configuration, whole, to
``selected_config.json`` (:class:`SelectedConfig`), which ``train``, ``evaluate`` and
``feedback`` read. It records the ``train`` params it was chosen from, and a stage refuses a
selection made from other ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from beatwise.artefacts.metrics import Lift
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.selection import BASE_NAME, CandidateScore, ModelSelection, SelectedConfig
from beatwise.params import params_refusal
from beatwise.period import PERIOD_COLUMN, period_words
from models.backtest import Refits, refit_here
from models.evaluation import (
    MIN_BACKTEST_PERIODS,
    EvaluateConfig,
    choose_backtest_periods,
    run_backtest,
)
from models.metrics import pai, pai_lift
from models.panel_rows import periods_to_read
from models.risk_model import BinnedRows, HoldoutFit, RiskModelConfig

logger = logging.getLogger(__name__)


class SelectConfig(BaseModel):
    """The ``select`` section: the selection window and the candidates to the ``train`` params.

    A candidate is a mapping of ``train`` keys to the values it tries; every key it does not name
    keeps the ``train`` value (a nested key such as ``blend`` is replaced whole). ``{}`` (no
    candidates) keeps the ``train`` params without a selection backtest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: labelled periods (weeks, or months in monthly mode) just before evaluate's backtest window
    periods: int = Field(26, ge=MIN_BACKTEST_PERIODS, le=520)
    #: seeds each configuration is backtested with (``train.seed`` onwards); its scores are their
    #: mean, so that a choice is not one seed's luck (the seed moves PAI by about 1% on St. Louis)
    seeds: int = Field(1, ge=1, le=10)
    candidates: dict[str, RiskModelConfig] = {}

    @field_validator("candidates", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return {} if value is None else value

    @model_validator(mode="after")
    def _named_changes(self) -> Self:
        for name, candidate in self.candidates.items():
            if name == BASE_NAME or not name.isidentifier():
                raise params_refusal(
                    "must be named by a word of letters, digits and underscores other than "
                    f"{BASE_NAME!r} (the train params' own name)",
                    key=f"candidates.{name}",
                    got=name,
                )
            if not candidate.model_fields_set:
                raise params_refusal(
                    "must change at least one train key", key=f"candidates.{name}", got={}
                )
        return self

    def configs(self, base: RiskModelConfig) -> dict[str, RiskModelConfig]:
        """``{name: config}``: the ``train`` params first (as ``params``), then each candidate."""
        out = {BASE_NAME: base}
        for name, candidate in self.candidates.items():
            fields = {key: getattr(candidate, key) for key in candidate.model_fields_set}
            out[name] = base.model_copy(update=fields)
        return out


def changes(candidate: RiskModelConfig) -> dict[str, Any]:
    """The ``train`` keys a candidate sets, with its values, as JSON."""
    return candidate.model_dump(mode="json", include=candidate.model_fields_set)


def selection_window(
    features: pd.DataFrame, meta: PanelMeta, *, periods: int, evaluate: EvaluateConfig
) -> npt.NDArray[np.datetime64]:
    """The labelled periods just before ``evaluate``'s backtest window, at most ``periods``.

    The window leaves ``evaluate.min_train_periods`` before it; it is shortened (with a warning)
    when the data allow fewer, and refused below :data:`MIN_BACKTEST_PERIODS`.
    """
    words = period_words(meta.period)
    reported = choose_backtest_periods(features, config=evaluate, period=meta.period)
    labelled = np.sort(features.loc[features["target_count"].notna(), PERIOD_COLUMN].unique())
    before = labelled[labelled < reported[0]]
    n = min(periods, len(before) - evaluate.min_train_periods)
    if n < MIN_BACKTEST_PERIODS:
        raise ValueError(
            f"Only {len(before)} labelled {words.plural} precede evaluate's backtest window: too "
            f"few for a selection window of at least {MIN_BACKTEST_PERIODS} after "
            f"evaluate.min_train_periods={evaluate.min_train_periods}. Load more {words.plural}, "
            "shorten the backtest, or set select.candidates: {} (no selection)."
        )
    if n < periods:
        logger.warning("selection window shortened to %d %s (data allow no more)", n, words.plural)
    return before[-n:]


class SharedRefits:
    """The backtest's refits (:data:`models.backtest.Refits`), fitted once for configurations
    that differ only in ``blend``: the blend mixes the model's scores with baselines after the
    fits, so their boosters are the same (a blend candidate costs no LightGBM fit)."""

    def __init__(self, refits: Refits) -> None:
        self.refits = refits
        self.fitted: dict[tuple[str, ...], list[HoldoutFit]] = {}

    def __call__(
        self, binned: BinnedRows, config: RiskModelConfig, befores: Sequence[pd.Timestamp]
    ) -> list[HoldoutFit]:
        key = (
            config.model_dump_json(exclude={"blend"}),
            *binned.feature_columns,
            *(str(b) for b in befores),
            str(len(binned.periods)),
        )
        if key not in self.fitted:
            self.fitted[key] = self.refits(binned, config, befores)
        else:
            logger.info("refits shared with an earlier configuration (only its blend differs)")
        return self.fitted[key]


def selection_periods_to_read(
    keys: pd.DataFrame,
    meta: PanelMeta,
    *,
    select: SelectConfig,
    base: RiskModelConfig,
    evaluate: EvaluateConfig,
) -> list[pd.Timestamp] | None:
    """The panel's periods the selection reads (:func:`models.panel_rows.periods_to_read`,
    over every configuration it backtests); None: every period."""
    if not select.candidates:
        return None
    window = selection_window(keys, meta, periods=select.periods, evaluate=evaluate)
    return periods_to_read(
        keys,
        first=window[0],
        configs=list(select.configs(base).values()),
        min_train_periods=evaluate.min_train_periods,
    )


def window_config(evaluate: EvaluateConfig, window: npt.NDArray[np.datetime64]) -> EvaluateConfig:
    """``evaluate`` with its backtest moved to the fixed window ``window``."""
    first, last = (pd.Timestamp(window[i]).date() for i in (0, -1))
    return EvaluateConfig.model_validate(
        {**evaluate.model_dump(), "backtest_periods": None, "backtest_first": first,
         "backtest_last": last}
    )  # fmt: skip


def choose(scores: list[CandidateScore]) -> str:
    """The highest PAI among the eligible entries (:attr:`CandidateScore.eligible`); the
    earliest wins a tie (the train params come first)."""
    eligible = [(n, s) for n, s in enumerate(scores) if s.eligible]
    return max(eligible, key=lambda item: (item[1].pai, -item[0]))[1].name


def run_selection(
    features: pd.DataFrame,
    cells: pd.DataFrame,
    event_cells: pd.DataFrame,
    meta: PanelMeta,
    *,
    select: SelectConfig,
    base: RiskModelConfig,
    evaluate: EvaluateConfig,
    coverage: float,
    refits: Refits = refit_here,
) -> tuple[ModelSelection, SelectedConfig]:
    """Backtest the ``train`` params and every candidate on the selection window; choose one.

    The inputs are ``evaluate``'s (:func:`models.evaluation.run_backtest`, ``refits`` too);
    without candidates nothing is backtested and the ``train`` params are the choice.
    """
    if not select.candidates:
        as_json = base.model_dump(mode="json")
        return (
            ModelSelection(coverage=coverage, window=None, scores=(), chosen=BASE_NAME),
            SelectedConfig(chosen=BASE_NAME, base=as_json, config=as_json),
        )
    window = selection_window(features, meta, periods=select.periods, evaluate=evaluate)
    protocol = window_config(evaluate, window)
    configs = select.configs(base)
    logger.info(
        "selection window: %d %s from %s; %d configurations",
        len(window),
        period_words(meta.period).plural,
        pd.Timestamp(window[0]).date(),
        len(configs),
    )
    scores: list[CandidateScore] = []
    refits = SharedRefits(refits)
    areas, ids = cells["area_km2"].to_numpy(), cells["h3_int"].to_numpy(dtype=np.uint64)
    params_scores: npt.NDArray[np.float64] | None = None
    baselines = None  # the baselines do not depend on the model: scored once, for the params
    for name, config in configs.items():
        runs = []  # the configuration's scores, one [period, cell] matrix per seed
        for seed in range(config.seed, config.seed + select.seeds):
            result = run_backtest(
                features, cells, event_cells, meta, config=protocol,
                model_config=config.model_copy(update={"seed": seed}), coverage=coverage,
                baseline_scores=baselines, refits=refits,
            )  # fmt: skip
            shape = (len(result.period_starts), len(cells))
            runs.append(result.frame["risk_score"].to_numpy(dtype=np.float64).reshape(shape))
            if baselines is None:
                baselines = {
                    b: result.frame[f"score_{b}"].to_numpy(dtype=np.float64).reshape(shape)
                    for b in result.metrics.baselines
                }
        metrics = result.metrics
        y = result.frame["target_count"].to_numpy(dtype=np.float64).reshape(shape)
        own = runs[0] if len(runs) == 1 else np.mean(runs, axis=0)
        over = None
        if params_scores is None:
            params_scores = own
        else:
            paired = pai_lift(
                y, own, params_scores, areas_km2=areas, cell_ids=ids, coverage=coverage,
                n_boot=protocol.n_boot, block_len=protocol.block_len, seed=protocol.seed,
            )  # fmt: skip
            over = Lift(
                baseline=BASE_NAME, estimate=_finite(paired.estimate),
                ci_low=_finite(paired.ci_low), ci_high=_finite(paired.ci_high),
            )  # fmt: skip
        lift = metrics.lift
        if len(runs) > 1:  # the seeds' mean: its PAI, and its lift over the same baseline
            value = _finite(pai(y, own, areas_km2=areas, cell_ids=ids, coverage=coverage).pooled)
            assert baselines is not None
            best = pai_lift(
                y, own, baselines[lift.baseline], areas_km2=areas, cell_ids=ids,
                coverage=coverage, n_boot=protocol.n_boot, block_len=protocol.block_len,
                seed=protocol.seed,
            )  # fmt: skip
            lift = Lift(
                baseline=lift.baseline, estimate=_finite(best.estimate),
                ci_low=_finite(best.ci_low), ci_high=_finite(best.ci_high),
            )  # fmt: skip
        else:
            value = metrics.model.pai[metrics.coverage]
        if value is None:
            raise ValueError(
                f"The selection window {pd.Timestamp(window[0]).date()} to "
                f"{pd.Timestamp(window[-1]).date()} holds no events, so it cannot rank the "
                "candidates; lengthen select.periods."
            )
        scores.append(
            CandidateScore(
                name=name,
                changes={} if name == BASE_NAME else changes(select.candidates[name]),
                pai=value,
                lift=lift,
                over_params=over,
            )
        )
        logger.info(
            "candidate %s: PAI %.4f, lift %s, over the train params %s",
            name,
            value,
            lift.estimate,
            "-" if over is None else f"{over.estimate} [{over.ci_low}, {over.ci_high}]",
        )
    chosen = choose(scores)
    logger.info("chosen: %s", chosen)
    first, last = (pd.Timestamp(window[i]).date() for i in (0, -1))
    report = ModelSelection(
        coverage=coverage, window=(first, last), scores=tuple(scores), chosen=chosen,
        seeds=select.seeds,
    )  # fmt: skip
    return report, SelectedConfig(
        chosen=chosen,
        base=base.model_dump(mode="json"),
        config=configs[chosen].model_dump(mode="json"),
    )


def _finite(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def selected_config(base: RiskModelConfig, path: Path | None) -> RiskModelConfig:
    """The configuration a stage fits: ``selected_config.json``'s choice, or without that file
    (a stage run on its own) the ``train`` params themselves."""
    if path is None:
        return base
    selected = SelectedConfig.read(path)
    if RiskModelConfig.model_validate(selected.base) != base:
        raise ValueError(
            f"{path} was chosen from other train params than params.yaml's (it is stale); "
            "re-run the select stage (dvc repro)."
        )
    try:
        return RiskModelConfig.model_validate(selected.config)
    except ValidationError as err:
        raise ValueError(f"{path}: 'config' is no train configuration ({err})") from None
