"""The backtest's refits on a Dask cluster: the same models, scores and hold-out predictions as
the refits in the stage's own process (``models.dask_refits``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_backtest import CONFIG, PERIODS, toy_panel

from beatwise.engine import EngineConfig, dask_client
from models import backtest as bt
from models.dask_refits import BinnedPayload, FitText, dask_refits
from models.risk_model import bin_rows, fit_binned_holdout

pytest.importorskip("distributed")

#: the last 8 periods in four blocks of two: four refits, on 16, 18, 20 and 22 periods
BACKTEST = PERIODS[16:]


def _panel() -> pd.DataFrame:
    frame = toy_panel(seed=3)
    rng = np.random.default_rng(4)
    frame["noise"] = rng.normal(size=len(frame))  # a feature the trees may split on by chance
    frame.loc[frame["target_count"] == 0, "noise"] += 0.5
    return frame


def test_binned_rows_sent_as_bytes_fit_the_same_model() -> None:
    frame = _panel()
    binned = bin_rows(frame, feature_columns=["x", "noise"], config=CONFIG, bins_before=BACKTEST[0])
    here = fit_binned_holdout(binned, config=CONFIG, before=pd.Timestamp(BACKTEST[4]))
    there = FitText.of(
        fit_binned_holdout(
            BinnedPayload.of(binned).rows(), config=CONFIG, before=pd.Timestamp(BACKTEST[4])
        )
    ).fit(binned.feature_columns)
    assert there.model.to_text() == here.model.to_text()
    assert there.early.to_text() == here.early.to_text()
    rows = frame[frame["period_start"].isin(BACKTEST)]
    assert np.array_equal(there.model.predict(rows), here.model.predict(rows))
    assert np.array_equal(there.early.predict(rows), here.early.predict(rows))


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_the_backtest_on_a_local_cluster_equals_the_local_one(processes: bool) -> None:
    frame = _panel()
    kwargs = {
        "feature_columns": ["x", "noise"],
        "backtest_periods": BACKTEST,
        "refit_every": 2,
        "config": CONFIG,
    }
    scores, holdout = bt.backtest_scores_holdout(frame, **kwargs)  # type: ignore[arg-type]
    engine = EngineConfig(kind="dask", workers=2, processes=processes)
    with dask_client(engine) as client:
        on_dask = bt.backtest_scores_holdout(frame, **kwargs, refits=dask_refits(client))  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(on_dask[0], scores, check_exact=True)
    pd.testing.assert_frame_equal(on_dask[1], holdout, check_exact=True)
    assert holdout["block_start"].nunique() == 4
