"""After the period: how a forecast did, scored as the backtest scores its periods.

A scorecard takes one period's forecast, the target events ingested for that period (mapped to
cells by ``build_cells``) and counts them exactly as the backtest does
(:func:`models.evaluation._target_counts`, one ``count_matrix`` over every period of data up to
the one scored). The figures come from the backtest's own functions (:mod:`models.metrics`):
``flag_top_area`` and ``weekly_capture`` for the flags and their hits, ``hit_rate``, ``pai``,
``pei`` and ``pai_lift``. Every baseline of the registry is scored with the backtest's knobs
(:func:`models.evaluation.score_baselines`) on the same cells, in the same period and at the same
coverage, from the counts strictly before the period.

Two sources of the forecast, always named by the caller:

- a publication (:func:`score_publication`): the ``forecast.csv`` of the latest publication of the
  period in the published area. Its flags are the published ones: the cells are ordered by their
  published rank with the flagged cells first, so the area rule reproduces the published flags
  (also under an allocation policy) and anything else is refused;
- a backtest period (:func:`score_backtest_period`): the model's scores and each baseline's in
  ``backtest.parquet``, flagged at the backtest's coverage exactly as ``evaluate`` flags them, so
  that the scorecard of a past period equals the backtest's figures for that period.

Refusals name what is missing and what to run: a period never published, a period that has not
ended, events of the period not ingested yet (:class:`ScorecardError`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.manifest import AuditStatus
from beatwise.artefacts.metrics import BacktestMetrics
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.scorecard import FlagScore, Scorecard, ScoreSource
from beatwise.h3index import cells_to_int
from beatwise.io import read_parquet
from beatwise.period import (
    PERIOD_COLUMN,
    Period,
    complete_periods,
    last_day,
    next_period_start,
    period_floor,
    period_range,
    period_words,
)
from beatwise.publications import find_publication, list_publications, verify_publication
from features.build import read_data_quality
from models.evaluation import EVENT_COLUMNS, EvaluateConfig, _target_counts, score_baselines
from models.forecast import PERIOD_START_COLUMNS
from models.metrics import (
    DECIMALS,
    flag_top_area,
    hit_rate,
    pai,
    pai_lift,
    pei,
    weekly_capture,
)

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
#: the prefix of a baseline's score column in ``backtest.parquet``
BASELINE_PREFIX = "score_"


class ScorecardError(ValueError):
    """A period cannot be scored yet, or was never forecast; the message says what to run."""


@dataclass(frozen=True)
class RunFiles:
    """The pipeline's files a scorecard reads (paths as ``dvc.yaml`` writes them)."""

    event_cells: Path
    cells: Path
    cells_meta: Path
    panel_meta: Path
    data_quality: Path
    backtest: Path
    backtest_metrics: Path

    @classmethod
    def under(cls, repo: Path) -> RunFiles:
        """The default layout under the repository ``repo``."""
        repo = Path(repo)
        return cls(
            event_cells=repo / "data/processed/event_cells.parquet",
            cells=repo / "data/processed/cells.parquet",
            cells_meta=repo / "data/processed/cells_meta.json",
            panel_meta=repo / "data/processed/panel_meta.json",
            data_quality=repo / "reports/data_quality.json",
            backtest=repo / "data/processed/backtest.parquet",
            backtest_metrics=repo / "reports/backtest_metrics.json",
        )


@dataclass(frozen=True)
class PeriodForecast:
    """One period's forecast over its cells, ascending by H3 id.

    ``scores`` order the cells as the forecast ranked them (higher = riskier); ``baselines`` holds
    each baseline's scores when the source has them (a backtest), and is empty for a publication
    (they are computed from the counts before the period).
    """

    source: ScoreSource
    period: Period
    period_start: dt.date
    cell_ids: npt.NDArray[np.uint64]
    areas_km2: FloatArray
    scores: FloatArray
    coverage: float
    baselines: dict[str, FloatArray]
    folder: str | None = None
    model_version: str | None = None
    audit_status: AuditStatus | None = None
    #: the H3 resolution a publication's manifest names
    h3_resolution: int | None = None


def _round(value: float) -> float | None:
    return round(float(value), DECIMALS) if np.isfinite(value) else None


def flag_score(
    y: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    areas_km2: npt.ArrayLike,
    cell_ids: npt.ArrayLike,
    coverage: float,
) -> FlagScore:
    """The flags of one forecast in one period at ``coverage``, and what they caught.

    Parameters
    ----------
    y, scores : (C,) array_like
        Target events of the period per cell, and the forecast's scores (ranking order).
    areas_km2, cell_ids : (C,) array_like
        Cell areas (km²) and unique H3 ids (the tie-break).
    coverage : float
        Share of the study area flagged, in (0, 1].

    Returns
    -------
    FlagScore
        Counts, and hit rate, PAI and PEI from :mod:`models.metrics` (None when ``y`` is all 0).
    """
    y_2d = np.asarray(y, dtype=np.float64)[None, :]
    s_2d = np.asarray(scores, dtype=np.float64)[None, :]
    kw: dict[str, Any] = {"areas_km2": areas_km2, "cell_ids": cell_ids, "coverage": coverage}
    cap = weekly_capture(y_2d, s_2d, areas_km2=areas_km2, cell_ids=cell_ids, coverages=[coverage])
    flagged = flag_top_area(s_2d, **kw)[0]
    with_crime = int(np.count_nonzero(flagged & (y_2d[0] > 0)))
    n_flagged = int(cap.n_flagged[0, 0])
    return FlagScore(
        n_flagged=n_flagged,
        flagged_area_share=round(float(cap.area_share[0, 0]), DECIMALS),
        events_captured=int(np.rint(cap.hits[0, 0])),
        n_flagged_with_crime=with_crime,
        n_flagged_without_crime=n_flagged - with_crime,
        hit_rate=_round(hit_rate(y_2d, s_2d, **kw).weekly[0]),
        pai=_round(pai(y_2d, s_2d, **kw).weekly[0]),
        pei=_round(pei(y_2d, s_2d, **kw).weekly[0]),
    )


def ingested_through(files: RunFiles, *, period: Period) -> tuple[pd.DataFrame, dt.date]:
    """The ingested events mapped to cells, and the start of their last complete period.

    A period counts as ingested when the events cover it whole, by the rule ``build_features``
    uses (:func:`beatwise.period.complete_periods` with the source's time resolution).
    """
    for path, stage in ((files.event_cells, "build_cells"), (files.data_quality, "ingest")):
        if not path.exists():
            raise ScorecardError(
                f"{path} does not exist: no events are ingested here. Run `dvc repro {stage}`."
            )
    _, resolution = read_data_quality(files.data_quality)
    events = read_parquet(files.event_cells, columns=EVENT_COLUMNS)
    periods = complete_periods(events["timestamp"], period=period, time_resolution=resolution)
    return events, pd.Timestamp(periods[-1]).date()


def _check_ingested(
    period_start: dt.date, through: dt.date, *, period: Period, where: Path
) -> None:
    if period_start <= through:
        return
    words = period_words(period)
    ends = last_day(period_start, period=period)
    raise ScorecardError(
        f"The events of the {words.singular} {period_start} to {ends} "
        f"are not ingested yet: {where} covers whole {words.plural} up to the one starting "
        f"{through}. Add the newer events to the source, run `dvc repro build_cells`, then score "
        "again."
    )


def counts_through(
    events: pd.DataFrame, cell_ids: npt.NDArray[np.uint64], period_start: dt.date, panel: PanelMeta
) -> tuple[FloatArray, int]:
    """Target counts ``[period, cell]`` from the data's first period to ``period_start``, and the
    target events of that last period that fall outside ``cell_ids``."""
    first = panel.all_periods[0]
    periods = period_range(first, period_start, period=panel.period)
    counts = _target_counts(events, cell_ids, periods, panel).astype(np.float64)
    start = np.datetime64(period_start, "ns")
    end = next_period_start(np.array([start]), period=panel.period)[0]
    stamps = events["timestamp"].to_numpy(dtype="datetime64[ns]")
    in_period = (stamps >= start) & (stamps < end)
    is_target = events["crime_type"].astype(str).isin(panel.target_types).to_numpy()
    total = int(np.count_nonzero(in_period & is_target))
    return counts, total - int(counts[-1].sum())


def registry_baselines(
    counts: FloatArray,
    *,
    cell_ids: npt.NDArray[np.uint64],
    period: Period,
    config: EvaluateConfig,
) -> dict[str, FloatArray]:
    """Every baseline of the registry scoring the last row of ``counts`` from the rows before it.

    The knobs are the ``evaluate`` params, through the backtest's own
    :func:`models.evaluation.score_baselines`; cell centroids come from the H3 ids, as
    ``cells.parquet``'s do.
    """
    scored = score_baselines(
        counts,
        np.array([counts.shape[0] - 1]),
        cell_ids=cell_ids,
        period=period,
        config=config,
    )
    return {name: arr[0] for name, arr in scored.items()}


def build_scorecard(
    forecast: PeriodForecast,
    y: FloatArray,
    baselines: dict[str, FloatArray],
    *,
    events_outside_cells: int,
    target_types: tuple[str, ...],
    reference_baseline: str,
) -> Scorecard:
    """The scorecard of ``forecast`` against the period's counts ``y`` (cells as the forecast's)."""
    if reference_baseline not in baselines:
        raise ScorecardError(
            f"The backtest's best baseline {reference_baseline!r} is not among the baselines "
            f"scored ({sorted(baselines)}); re-run `dvc repro evaluate`."
        )
    kw: dict[str, Any] = {
        "areas_km2": forecast.areas_km2,
        "cell_ids": forecast.cell_ids,
        "coverage": forecast.coverage,
    }
    lift = pai_lift(
        y[None, :], forecast.scores[None, :], baselines[reference_baseline][None, :], n_boot=0, **kw
    )
    return Scorecard(
        source=forecast.source,
        period=forecast.period,
        period_start=forecast.period_start,
        period_end=last_day(forecast.period_start, period=forecast.period),
        folder=forecast.folder,
        model_version=forecast.model_version,
        audit_status=forecast.audit_status,
        coverage=forecast.coverage,
        n_cells=int(forecast.cell_ids.size),
        study_area_km2=round(float(forecast.areas_km2.sum()), DECIMALS),
        target_types=target_types,
        events=int(y.sum()),
        events_outside_cells=events_outside_cells,
        model=flag_score(y, forecast.scores, **kw),
        baselines={name: flag_score(y, s, **kw) for name, s in baselines.items()},
        reference_baseline=reference_baseline,
        pai_lift=_round(lift.weekly[0]),
    )


def _period_start(day: dt.date, *, period: Period) -> dt.date:
    start = period_floor(np.array([np.datetime64(day, "ns")]), period=period)[0]
    return pd.Timestamp(start).date()


def published_forecast(root: Path, day: dt.date, *, period: Period) -> PeriodForecast:
    """The latest publication of the period holding ``day``, as a forecast to score.

    Refuses a period never published (naming the periods that were), a publication that is not
    whole, and one whose flags are not the area rule's over its published ranking.
    """
    start = _period_start(day, period=period)
    folder = find_publication(root, start)
    if folder is None:
        names = [p.name for p in list_publications(root)]
        have = f"{len(names)} publication(s), {names[0]} to {names[-1]}" if names else "none yet"
        raise ScorecardError(
            f"The {period} {start} was never published under {root} ({have}; `beatwise "
            f"publications` lists them). To score the backtest's forecast of a past {period}, "
            "add --from-backtest."
        )
    manifest = verify_publication(folder)
    if manifest.period != period:
        raise ScorecardError(
            f"{folder} holds a {manifest.period}ly forecast but the pipeline's periods are "
            f"{period}s (panel_meta.json); score it with the configuration that published it."
        )
    column = PERIOD_START_COLUMNS[period]
    table = pd.read_csv(folder / "forecast.csv", dtype={"h3_cell": str, column: str})
    table = table.assign(h3_int=cells_to_int(table["h3_cell"])).sort_values("h3_int")
    n = len(table)
    rank = table["risk_rank"].to_numpy(dtype=np.float64)
    flags = table["flagged"].to_numpy(dtype=bool)
    # the published order: flagged cells first, each group by its published rank
    scores = (n - rank) + n * flags
    forecast = PeriodForecast(
        source="publication",
        period=period,
        period_start=start,
        cell_ids=table["h3_int"].to_numpy(dtype=np.uint64),
        areas_km2=table["area_km2"].to_numpy(dtype=np.float64),
        scores=scores,
        coverage=manifest.coverage,
        baselines={},
        folder=folder.name,
        model_version=manifest.model_version,
        audit_status=manifest.audit_status,
        h3_resolution=manifest.h3_resolution,
    )
    rebuilt = flag_top_area(
        scores[None, :], areas_km2=forecast.areas_km2, cell_ids=forecast.cell_ids,
        coverage=forecast.coverage,
    )[0]  # fmt: skip
    if not np.array_equal(rebuilt, flags):
        raise ScorecardError(
            f"{folder / 'forecast.csv'}: its {int(flags.sum())} flagged cells are not the "
            f"shortest prefix of its ranking reaching {manifest.coverage:g} of the area "
            f"({int(rebuilt.sum())} cells); the scorecard cannot measure them as published."
        )
    return forecast


def _reference_baseline(files: RunFiles) -> str:
    if not files.backtest_metrics.exists():
        raise ScorecardError(
            f"{files.backtest_metrics} does not exist: the scorecard names the backtest's best "
            "baseline. Run `dvc repro evaluate`."
        )
    return BacktestMetrics.read(files.backtest_metrics).best_baseline


def score_publication(
    root: Path,
    day: dt.date,
    *,
    files: RunFiles,
    config: EvaluateConfig,
    today: dt.date,
) -> Scorecard:
    """The scorecard of the published forecast for the period holding ``day``.

    Raises
    ------
    ScorecardError
        The period was never published, has not ended by ``today``, or its events are not
        ingested yet (each message says which, and what to run).
    """
    panel = PanelMeta.read(files.panel_meta)
    forecast = published_forecast(root, day, period=panel.period)
    start = forecast.period_start
    ends = last_day(start, period=panel.period)
    if today <= ends:
        raise ScorecardError(
            f"The {panel.period} {start} has not ended: it runs to {ends} and today is {today}. "
            f"Score it once it is over and its events are ingested (`dvc repro build_cells`)."
        )
    resolution = CellsMeta.read(files.cells_meta).h3_resolution
    if forecast.h3_resolution != resolution:
        raise ScorecardError(
            f"{forecast.folder} is published at H3 resolution {forecast.h3_resolution} but the "
            f"ingested events are mapped at {resolution} (cells.h3_resolution); score it with "
            "the configuration that published it."
        )
    events, through = ingested_through(files, period=panel.period)
    _check_ingested(start, through, period=panel.period, where=files.event_cells)
    counts, outside = counts_through(events, forecast.cell_ids, start, panel)
    baselines = registry_baselines(
        counts, cell_ids=forecast.cell_ids, period=panel.period, config=config
    )
    card = build_scorecard(
        forecast,
        counts[-1],
        baselines,
        events_outside_cells=outside,
        target_types=panel.target_types,
        reference_baseline=_reference_baseline(files),
    )
    logger.info("scored %s: %d events, %d captured", start, card.events, card.model.events_captured)
    return card


def backtest_forecast(
    backtest: pd.DataFrame, cells: pd.DataFrame, day: dt.date, *, period: Period, coverage: float
) -> PeriodForecast:
    """The backtest's forecasts of the period holding ``day`` (``backtest.parquet``'s rows)."""
    start = _period_start(day, period=period)
    periods = np.sort(backtest[PERIOD_COLUMN].unique())
    rows = backtest[backtest[PERIOD_COLUMN] == np.datetime64(start, "ns")]
    if rows.empty:
        first, last = (pd.Timestamp(p).date() for p in (periods[0], periods[-1]))
        raise ScorecardError(
            f"The {period} {start} is not a backtest {period}: the backtest scores {first} to "
            f"{last} ({len(periods)} {period_words(period).plural})."
        )
    rows = rows.merge(cells[["h3_cell", "h3_int", "area_km2"]], on="h3_cell", how="left")
    if rows["h3_int"].isna().any():
        raise ScorecardError(
            "backtest.parquet names cells that cells.parquet does not hold; re-run "
            "`dvc repro evaluate` so both come from the same run."
        )
    rows = rows.sort_values("h3_int")
    names = [c for c in rows.columns if c.startswith(BASELINE_PREFIX)]
    forecast = PeriodForecast(
        source="backtest",
        period=period,
        period_start=start,
        cell_ids=rows["h3_int"].to_numpy(dtype=np.uint64),
        areas_km2=rows["area_km2"].to_numpy(dtype=np.float64),
        scores=rows["risk_score"].to_numpy(dtype=np.float64),
        coverage=coverage,
        baselines={c.removeprefix(BASELINE_PREFIX): rows[c].to_numpy(np.float64) for c in names},
    )
    flags = flag_top_area(
        forecast.scores[None, :], areas_km2=forecast.areas_km2, cell_ids=forecast.cell_ids,
        coverage=coverage,
    )[0]  # fmt: skip
    if not np.array_equal(flags, rows["flagged"].to_numpy(dtype=bool)):
        raise ScorecardError(
            f"backtest.parquet's flags of {start} are not the area rule's at coverage "
            f"{coverage:g} (backtest_metrics.json); re-run `dvc repro evaluate`."
        )
    return forecast


def score_backtest_period(day: dt.date, *, files: RunFiles) -> Scorecard:
    """The scorecard of the backtest's forecast for the period holding ``day``.

    The events are counted from ``event_cells.parquet`` as for a publication, and refused when
    they disagree with the backtest's targets (the files come from different runs).
    """
    panel = PanelMeta.read(files.panel_meta)
    metrics = BacktestMetrics.read(files.backtest_metrics)
    backtest = read_parquet(files.backtest)
    cells = read_parquet(files.cells, columns=("h3_cell", "h3_int", "area_km2"))
    forecast = backtest_forecast(
        backtest, cells, day, period=panel.period, coverage=metrics.coverage
    )
    events, through = ingested_through(files, period=panel.period)
    _check_ingested(forecast.period_start, through, period=panel.period, where=files.event_cells)
    counts, outside = counts_through(events, forecast.cell_ids, forecast.period_start, panel)
    start = np.datetime64(forecast.period_start, "ns")
    targets = backtest.loc[backtest[PERIOD_COLUMN] == start, ["h3_cell", "target_count"]]
    by_cell = targets.merge(cells, on="h3_cell").sort_values("h3_int")["target_count"]
    if not np.array_equal(by_cell.to_numpy(dtype=np.float64), counts[-1]):
        raise ScorecardError(
            f"{files.event_cells} and {files.backtest} disagree on the events of "
            f"{forecast.period_start}; re-run `dvc repro evaluate` so both come from the same "
            "events."
        )
    return build_scorecard(
        forecast,
        counts[-1],
        forecast.baselines,
        events_outside_cells=outside,
        target_types=panel.target_types,
        reference_baseline=metrics.best_baseline,
    )
