"""The LightGBM next-period risk model: a count regression whose predictions are expected counts.

A period is a week or a month (``features.period``); the model only sees rows keyed by
``period_start`` and never needs to know which. Deterministic by construction
(``deterministic=True``, ``force_row_wise``, fixed seeds, fixed thread count), trained with a
Poisson or Tweedie objective, early-stopped on the most recent periods of the training data
(time-ordered, never shuffled), then refitted on all training periods with the number of rounds
early stopping chose. The data are binned once (bins from all training periods, features only;
targets never inform the bins). Zero cell-periods may be down-sampled for speed;
the kept zeros are up-weighted by the inverse of the keep rate, so the weighted Poisson loss has
the full data's expectation and predicted counts stay calibrated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from beatwise.artefacts.model import ModelMeta
from models.blend import BlendConfig

log = logging.getLogger(__name__)


class RiskModelConfig(BaseModel):
    """Hyper-parameters of the risk model (the ``train`` section of params.yaml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    objective: Literal["poisson", "tweedie"] = "poisson"
    tweedie_variance_power: float = Field(1.2, gt=1.0, lt=2.0)
    learning_rate: float = Field(0.2, gt=0.0, le=1.0)
    num_leaves: int = Field(15, ge=2, le=1024)
    min_data_in_leaf: int = Field(400, ge=1)
    feature_fraction: float = Field(0.8, gt=0.0, le=1.0)
    bagging_fraction: float = Field(0.8, gt=0.0, le=1.0)
    lambda_l2: float = Field(1.0, ge=0.0)
    max_rounds: int = Field(600, ge=1)
    early_stopping_rounds: int = Field(20, ge=1)
    #: latest training periods (weeks, or months in monthly mode) held out for early stopping
    validation_periods: int = Field(8, ge=1)
    zero_keep_rate: float = Field(1.0, gt=0.0, le=1.0)
    #: latest labelled periods a fit learns from (its hold-out included); None: every one. Caps
    #: a fit's cost when the history grows (a decade) and lets old patterns age out
    history_periods: int | None = Field(None, ge=2)
    num_threads: int = Field(2, ge=1)
    seed: int = 0
    #: the stacked blend of the published expected count (:mod:`models.blend`); off by default
    blend: BlendConfig = BlendConfig()
    #: prefixes of the panel's feature columns the model leaves out (``par7_``: the parent cells
    #: at resolution 7; ``plc_``: the places), so that ``select.candidates`` can try the model
    #: with and without a family the panel holds; () uses every feature column
    exclude_features: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _history_holds_the_holdout(self) -> RiskModelConfig:
        if self.history_periods is not None and self.history_periods <= self.validation_periods:
            raise ValueError(
                f"history_periods={self.history_periods} must exceed validation_periods="
                f"{self.validation_periods}: a fit early-stops on the latest validation_periods "
                "of its history and trains on the periods before them."
            )
        return self

    def history_start(self, periods: npt.NDArray[np.datetime64]) -> np.datetime64 | None:
        """The first period a fit on ``periods`` (its training periods, any order) learns from:
        the ``history_periods``-th latest of them; None when every period is used."""
        unique = np.unique(periods)
        if self.history_periods is None or len(unique) <= self.history_periods:
            return None
        return unique[-self.history_periods]

    @field_validator("exclude_features")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not prefix for prefix in value):
            raise ValueError(f"must hold non-empty column prefixes. Got {list(value)}")
        return value

    def model_columns(self, columns: Sequence[str], *, strict: bool = True) -> list[str]:
        """The feature columns the model fits: ``columns`` without those ``exclude_features``
        names, in order.

        ``strict`` refuses a prefix that begins no column (a typo, or a family the panel does not
        hold); the closed loop, whose panel has no places, passes False. A model left with no
        column is always refused.
        """
        prefixes = tuple(self.exclude_features)
        if strict:
            unused = [p for p in prefixes if not any(c.startswith(p) for c in columns)]
            if unused:
                raise ValueError(
                    f"train.exclude_features names {unused}, which begin no feature column of the "
                    f"panel ({len(columns)} columns, e.g. {list(columns[:3])}); build the family "
                    "first (features) or correct the prefix."
                )
        kept = [c for c in columns if not (prefixes and c.startswith(prefixes))]
        if not kept:
            raise ValueError(
                f"train.exclude_features {list(prefixes)} leaves the model no feature column."
            )
        return kept


@dataclass(frozen=True)
class RiskModel:
    """A trained booster and the feature columns it expects, in order."""

    booster: lgb.Booster
    feature_columns: tuple[str, ...]
    best_rounds: int

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Expected counts for each row of ``frame`` (must hold every feature column)."""
        missing = [c for c in self.feature_columns if c not in frame.columns]
        if missing:
            raise ValueError(f"The frame lacks feature column(s) {missing} the model was fit on.")
        X = frame.loc[:, list(self.feature_columns)].to_numpy(dtype=np.float32)
        pred = self.booster.predict(X, num_iteration=self.best_rounds, num_threads=1)
        return np.asarray(pred, dtype=np.float64)

    def to_text(self) -> str:
        """The booster as LightGBM's text format (deterministic for a given fit)."""
        return str(self.booster.model_to_string(num_iteration=self.best_rounds))

    @classmethod
    def load(cls, model_path: Path, meta: ModelMeta | Path) -> RiskModel:
        """Read a model from its text file and its ``model_meta.json`` (a path or already read).

        Refuses a file LightGBM cannot read (naming it) and a sidecar whose feature columns are
        not the booster's, in order: it belongs to another model.
        """
        if not isinstance(meta, ModelMeta):
            meta = ModelMeta.read(meta)
        try:
            booster = lgb.Booster(model_str=Path(model_path).read_text(encoding="utf-8"))
        except lgb.basic.LightGBMError as err:
            raise ValueError(
                f"{model_path} is not a LightGBM model file ({err}); re-run train to write it."
            ) from None
        if tuple(booster.feature_name()) != meta.feature_columns:
            raise ValueError(
                f"{model_path} was fitted on {booster.num_feature()} features "
                f"{booster.feature_name()[:3]}..., but its model_meta.json lists "
                f"{len(meta.feature_columns)} {list(meta.feature_columns[:3])}...; "
                "re-run train so both come from the same fit."
            )
        return cls(booster, meta.feature_columns, meta.best_rounds)


def _lgb_params(config: RiskModelConfig) -> dict[str, Any]:
    params: dict[str, Any] = {
        "objective": config.objective,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": 1 if config.bagging_fraction < 1.0 else 0,
        "lambda_l2": config.lambda_l2,
        "num_threads": config.num_threads,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
        "metric": "poisson",
    }
    if config.objective == "tweedie":
        params["tweedie_variance_power"] = config.tweedie_variance_power
        params["metric"] = "tweedie"
    return params


def _sample_weights(
    y: npt.NDArray[np.float64], *, keep_rate: float, seed: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Rows to keep and their weights after down-sampling zero targets (inverse-rate weights)."""
    if keep_rate >= 1.0:
        return np.ones(len(y), dtype=bool), np.ones(len(y))
    rng = np.random.default_rng(seed)
    keep = (y > 0) | (rng.random(len(y)) < keep_rate)
    weights = np.where(y > 0, 1.0, 1.0 / keep_rate)
    return keep, weights


@dataclass(frozen=True)
class BinnedRows:
    """Labelled rows binned once, for fits on any time-ordered prefix of them.

    The backtest refits the model on ever longer histories; binning them once and taking subsets
    (which share the bins) saves binning the same rows again at every refit. Zero down-sampling is
    drawn once over all rows, so a prefix of a period-sorted frame keeps the same rows as a fit on
    that prefix alone would. With ``history_periods``, rows older than the earliest fit's history
    are not binned at all (``first_period``).
    """

    dataset: lgb.Dataset
    #: period of each kept row, in the dataset's row order
    periods: npt.NDArray[np.datetime64]
    feature_columns: tuple[str, ...]
    #: the earliest period binned when older labelled rows were left out (``history_periods``);
    #: None when every labelled row was binned
    first_period: np.datetime64 | None = None


def bin_rows(
    frame: pd.DataFrame,
    *,
    feature_columns: list[str] | tuple[str, ...],
    config: RiskModelConfig,
    bins_before: pd.Timestamp | None = None,
    target_column: str = "target_count",
    period_column: str = "period_start",
) -> BinnedRows:
    """Bin a frame's labelled rows once (:class:`BinnedRows`).

    ``bins_before``: when given, the bin edges come only from rows of periods before it, so that
    fits on those periods learn nothing from later feature values, and every fit on these rows
    ends at or after it; None bins on every row (a single fit on the whole frame). With
    ``config.history_periods``, the rows older than the first fit's history are left out.

    Raises
    ------
    ValueError
        When there are no labelled rows, or none before ``bins_before``.
    """
    data = frame[frame[target_column].notna()]
    if data.empty:
        raise ValueError("No rows with a known target to train on.")
    all_periods = data[period_column].to_numpy()
    first_fit = all_periods
    if bins_before is not None:
        first_fit = all_periods[all_periods < np.datetime64(bins_before)]
    first_period = config.history_start(first_fit)
    if first_period is not None:
        data = data[all_periods >= first_period]
    y = data[target_column].to_numpy(dtype=np.float64)
    X = data.loc[:, list(feature_columns)].to_numpy(dtype=np.float32)
    periods = data[period_column].to_numpy()
    keep, weights = _sample_weights(y, keep_rate=config.zero_keep_rate, seed=config.seed)
    params = _lgb_params(config)
    names = list(feature_columns)
    reference = None
    if bins_before is not None:
        early = keep & (periods < np.datetime64(bins_before))
        if not early.any():
            raise ValueError(f"No labelled rows before {pd.Timestamp(bins_before).date()}.")
        reference = lgb.Dataset(X[early], y[early], feature_name=names, params=params).construct()
    dataset = lgb.Dataset(
        X[keep],
        y[keep],
        weight=weights[keep],
        feature_name=names,
        params=params,
        reference=reference,
        free_raw_data=False,
    ).construct()
    return BinnedRows(dataset, periods[keep], tuple(feature_columns), first_period)


@dataclass(frozen=True)
class HoldoutFit:
    """A fit with its early-stopping model, which saw only the periods before the hold-out."""

    #: the model refitted on every training period
    model: RiskModel
    #: the early-stopping model (fitted on the periods before ``holdout_start``), whose
    #: predictions on the hold-out are out of sample (the blend's weights are fitted on them)
    early: RiskModel
    #: the first of the latest ``validation_periods`` training periods
    holdout_start: pd.Timestamp
    #: the hold-out periods, in time order
    holdout_periods: npt.NDArray[np.datetime64]


def fit_binned(
    rows: BinnedRows, *, config: RiskModelConfig, before: pd.Timestamp | None = None
) -> RiskModel:
    """Fit on the binned rows of periods before ``before`` (all rows when None); early stopping
    on the latest ``validation_periods`` of them, then a refit on all of them.

    Raises
    ------
    ValueError
        When fewer training periods than ``validation_periods`` + 1 precede ``before``.
    """
    return fit_binned_holdout(rows, config=config, before=before).model


def fit_binned_holdout(
    rows: BinnedRows, *, config: RiskModelConfig, before: pd.Timestamp | None = None
) -> HoldoutFit:
    """:func:`fit_binned`, keeping the early-stopping model and its hold-out (a
    :class:`HoldoutFit`). With ``config.history_periods``, the fit learns from the latest
    ``history_periods`` periods before ``before`` only.

    Raises
    ------
    ValueError
        As :func:`fit_binned`; and when the history reaches back past the rows that were binned
        (a ``before`` earlier than the ``bins_before`` they were binned with).
    """
    chosen = (
        np.arange(len(rows.periods))
        if before is None
        else np.flatnonzero(rows.periods < np.datetime64(before))
    )
    start = config.history_start(rows.periods[chosen])
    if start is not None:
        chosen = chosen[rows.periods[chosen] >= start]
    elif (
        rows.first_period is not None
        and config.history_periods is not None
        and len(np.unique(rows.periods[chosen])) < config.history_periods
    ):
        raise ValueError(
            f"A fit before {pd.Timestamp(before).date() if before is not None else 'the end'} "
            f"needs {config.history_periods} periods of history, but the rows were binned from "
            f"{pd.Timestamp(rows.first_period).date()} on; bin them with an earlier bins_before."
        )
    periods = np.unique(rows.periods[chosen])
    if len(periods) <= config.validation_periods:
        raise ValueError(
            f"Training needs more than validation_periods={config.validation_periods} periods; "
            f"got {len(periods)}."
        )
    cut = periods[-config.validation_periods]
    is_val = rows.periods[chosen] >= cut
    params = _lgb_params(config)
    # Subsets share the bins (binning is most of a fit's set-up cost). Validation rows carry the
    # same inverse-rate weights, so the validation loss keeps the full slice's expectation.
    dtrain = rows.dataset.subset(chosen[~is_val].tolist())
    dval = rows.dataset.subset(chosen[is_val].tolist())
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=config.max_rounds,
        valid_sets=[dval],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    best = max(int(booster.best_iteration or config.max_rounds), 1)
    log.info("early stopping chose %d rounds (validation from %s)", best, pd.Timestamp(cut).date())
    whole = len(chosen) == len(rows.periods)
    final_set = rows.dataset if whole else rows.dataset.subset(chosen.tolist())
    final = lgb.train(params, final_set, num_boost_round=best)
    return HoldoutFit(
        model=RiskModel(final, rows.feature_columns, best),
        early=RiskModel(booster, rows.feature_columns, best),
        holdout_start=pd.Timestamp(cut),
        holdout_periods=periods[-config.validation_periods :],
    )


def fit_risk_model(
    frame: pd.DataFrame,
    *,
    feature_columns: list[str] | tuple[str, ...],
    config: RiskModelConfig,
    target_column: str = "target_count",
    period_column: str = "period_start",
) -> RiskModel:
    """Fit the risk model on rows with a known target; early stopping on the latest periods.

    Raises
    ------
    ValueError
        When there are no labelled rows, or fewer training periods than
        ``validation_periods`` + 1.
    """
    rows = bin_rows(
        frame,
        feature_columns=feature_columns,
        config=config,
        target_column=target_column,
        period_column=period_column,
    )
    return fit_binned(rows, config=config)


def fit_risk_model_holdout(
    frame: pd.DataFrame,
    *,
    feature_columns: list[str] | tuple[str, ...],
    config: RiskModelConfig,
) -> HoldoutFit:
    """:func:`fit_risk_model`, keeping the early-stopping model and its hold-out."""
    rows = bin_rows(frame, feature_columns=feature_columns, config=config)
    return fit_binned_holdout(rows, config=config)


def feature_importance(model: RiskModel) -> pd.DataFrame:
    """Gain importance per feature, descending (ties by name)."""
    gain = model.booster.feature_importance(importance_type="gain", iteration=model.best_rounds)
    imp = pd.DataFrame({"feature": list(model.feature_columns), "gain": gain.astype(float)})
    return imp.sort_values(["gain", "feature"], ascending=[False, True]).reset_index(drop=True)
