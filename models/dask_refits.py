"""The backtest's refits as tasks on a Dask cluster (``engine.kind: dask``), with the local models.

The refits of :func:`models.backtest.backtest_scores_holdout` are independent: each fits the
model on the binned rows before its block. Here the rows are binned once in the stage's process,
as on the local path, and sent once to every worker as LightGBM's binary dataset (the bins, the
targets and the weights: about a byte per feature and row); each task rebuilds the dataset and
runs :func:`models.risk_model.fit_binned_holdout` for one refit, and sends the two models back as
LightGBM's text. A booster rebuilt from its text predicts exactly as the fitted one, so the scores
computed from them in the stage's process, and every file the stage writes, are the local path's
bytes (tested on a ``LocalCluster``). The backtest's wall time then falls with the workers, up to
one per refit; its memory on each worker is the binned rows and one fit.

Why not ``lightgbm.dask``: its data-parallel training bins each worker's rows and sums their
histograms across workers, so its model differs from the one a single process fits, and the
audit would judge a model other than the one published. The binned rows of a national monthly run
(about 22 million cell-months of 130 features, 3 GB) fit one worker; the refits are what the
cluster spreads.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.engine import EngineConfig, dask_client
from models.backtest import Refits, refit_here
from models.risk_model import BinnedRows, HoldoutFit, RiskModel, RiskModelConfig, fit_binned_holdout

if TYPE_CHECKING:  # imported at run time only when a run asks for Dask
    from distributed import Client


@dataclass(frozen=True)
class BinnedPayload:
    """:class:`BinnedRows` as bytes and arrays, to send to a worker."""

    #: LightGBM's binary dataset (``Dataset.save_binary``)
    binary: bytes
    periods: npt.NDArray[np.datetime64]
    feature_columns: tuple[str, ...]
    #: the dataset's LightGBM params, with which it was binned and is fitted
    params: dict[str, Any]

    @classmethod
    def of(cls, rows: BinnedRows) -> BinnedPayload:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "binned.bin"
            rows.dataset.save_binary(str(path))
            params = dict(rows.dataset.params or {})
            return cls(path.read_bytes(), rows.periods, rows.feature_columns, params)

    def rows(self) -> BinnedRows:
        """The binned rows again: the same bins, targets and weights."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "binned.bin"
            path.write_bytes(self.binary)
            # no raw data to keep (it is a file name), so subsets do not look for any
            dataset = lgb.Dataset(str(path), params=self.params).construct()
        return BinnedRows(dataset, self.periods, self.feature_columns)


@dataclass(frozen=True)
class FitText:
    """A :class:`HoldoutFit` as text, to send back from a worker."""

    model: str
    early: str
    best_rounds: int
    holdout_start: pd.Timestamp
    holdout_periods: npt.NDArray[np.datetime64]

    @classmethod
    def of(cls, fit: HoldoutFit) -> FitText:
        return cls(
            model=fit.model.booster.model_to_string(),
            early=fit.early.booster.model_to_string(),
            best_rounds=fit.model.best_rounds,
            holdout_start=fit.holdout_start,
            holdout_periods=fit.holdout_periods,
        )

    def fit(self, feature_columns: tuple[str, ...]) -> HoldoutFit:
        def model(text: str) -> RiskModel:
            return RiskModel(lgb.Booster(model_str=text), feature_columns, self.best_rounds)

        return HoldoutFit(
            model=model(self.model),
            early=model(self.early),
            holdout_start=self.holdout_start,
            holdout_periods=self.holdout_periods,
        )


def refit_task(payload: BinnedPayload, config: RiskModelConfig, before: pd.Timestamp) -> FitText:
    """One refit on a worker: the model on the rows before ``before``, as text."""
    return FitText.of(fit_binned_holdout(payload.rows(), config=config, before=before))


def dask_refits(client: Client) -> Refits:
    """:data:`~models.backtest.Refits` that runs each refit as a task on ``client``'s cluster."""

    def refits(
        binned: BinnedRows, config: RiskModelConfig, befores: Sequence[pd.Timestamp]
    ) -> list[HoldoutFit]:
        payload = client.scatter(BinnedPayload.of(binned), broadcast=True)
        tasks = [
            client.submit(refit_task, payload, config, before, pure=False) for before in befores
        ]
        return [text.fit(binned.feature_columns) for text in client.gather(tasks)]

    return refits


@contextlib.contextmanager
def engine_refits(config: EngineConfig) -> Iterator[Refits]:
    """The refits ``engine`` chooses, for the block: here (``local``, importing no Dask), or as
    tasks on its cluster (``dask``: ``engine.scheduler``, or a ``LocalCluster`` started and
    closed with the block)."""
    if config.kind == "local":
        yield refit_here
        return
    with dask_client(config) as client:
        yield dask_refits(client)
