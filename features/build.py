"""The cell-period panel from study cells and events: what the ``build_features`` stage computes.

The period (ISO week or calendar month) is decided here, once: ``features.period`` (``auto``,
``week`` or ``month``) against the time resolution the ingest stage found in the events
(``reports/data_quality.json``). The returned :class:`~beatwise.artefacts.panel.PanelMeta` records
it, with the H3 resolution of the cells (``cells_meta.json``, decided by ``build_cells``), and
every later stage reads both from there instead of deriving them again.

The crime types are decided here too, once: a configured type (``features.target_types`` or
``features.feature_types``) with no accepted event in the study cells over the whole history the
panel is built from gets no per-type features and is not forecast
(:func:`drop_absent_types`). ``panel_meta.json`` then records the target as the configured target
types present in the data (``target_types``), the others as ``absent_types`` with a sentence
(``absent_types_note``), and the reports say which configured types were not forecast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.artefacts.quality import DataQuality
from beatwise.period import (
    Period,
    TimeResolution,
    complete_periods,
    period_words,
    resolve_period,
)
from features.engineering import FeatureConfig, build_feature_table
from features.multires import check_parent_resolutions
from features.panel import count_matrix
from features.places import Places, read_places

logger = logging.getLogger(__name__)

#: cell attributes the audit groups by; using them as model inputs needs a written reason
SENSITIVE_COVARIATES = frozenset({"minority_share", "res_minority", "res_majority"})
#: the columns of ``event_cells.parquet`` the panel needs
EVENT_COLUMNS: tuple[str, ...] = ("h3_int", "timestamp", "crime_type")
#: rows a row group of the written panel aims at (whole periods, at least one)
PANEL_GROUP_ROWS = 1 << 16


def panel_row_groups(meta: PanelMeta) -> list[int]:
    """Row-group sizes of the written panel: whole periods, about :data:`PANEL_GROUP_ROWS` rows
    each, and the forecast period (the last) alone, so a stage that needs only the forecast
    reads one group (:func:`beatwise.io.read_parquet`'s ``where``)."""
    per_group = max(1, PANEL_GROUP_ROWS // meta.n_cells)
    history = meta.n_periods - 1
    groups = [per_group] * (history // per_group) + (
        [history % per_group] if history % per_group else []
    )
    return [g * meta.n_cells for g in (*groups, 1)]


class CovariatesConfig(BaseModel):
    """Which per-cell covariates from ``cells.parquet`` the model may use (``covariates``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    static: tuple[str, ...] = ("residents",)
    #: required when ``static`` names a sensitive attribute the audit groups by
    sensitive_reason: str | None = None

    @model_validator(mode="after")
    def _sensitive_needs_reason(self) -> CovariatesConfig:
        sensitive = sorted(SENSITIVE_COVARIATES.intersection(self.static))
        if sensitive and not (self.sensitive_reason or "").strip():
            raise ValueError(
                f"static names the audit attribute(s) {sensitive}; using them as model inputs "
                "needs a written 'sensitive_reason'"
            )
        return self


def read_data_quality(path: Path) -> tuple[str, TimeResolution]:
    """The ``source`` and ``time_resolution`` the ingest stage wrote to ``data_quality.json``.

    The file is read through its definition (:class:`beatwise.artefacts.quality.DataQuality`), so
    a summary without them is refused naming the file and the key: the period cannot be chosen
    without knowing whether the timestamps are monthly (data.police.uk) or finer.
    """
    quality = DataQuality.read(path)
    return quality.source, quality.time_resolution


def drop_absent_types(
    features: FeatureConfig,
    counts: Mapping[str, npt.NDArray[np.integer]],
    *,
    span: str,
) -> tuple[FeatureConfig, tuple[str, ...], str | None]:
    """The feature config restricted to the configured types present in ``counts``.

    A type is present when it has at least one counted event in ``counts``: the accepted events in
    the study cells over every complete period the panel is built from. The decision is taken
    once, from the whole history, and decides only which columns exist, never a feature's value;
    a type first recorded in the last periods counts as present, because its events are in the
    target from then on and a forecast that left them out would under-state it. Leaving an absent
    type out changes no target value (its counts are all zero) and no other feature.

    Parameters
    ----------
    features
        The ``features`` params.
    counts
        ``{crime_type: int array [period, cell]}`` for every configured target and feature type
        (:func:`features.panel.count_matrix`); only whether an array holds a non-zero count
        matters, so a partitioned build passes each type's counts per partition instead.
    span
        The periods ``counts`` covers, in words, for the messages (e.g. ``2015-01-05 to
        2019-11-25``).

    Returns
    -------
    config : FeatureConfig
        ``features`` with ``target_types`` (and ``feature_types`` when set) restricted to the
        present types; ``features`` itself when every type is present.
    absent : tuple of str
        The configured types without an event, in configured order.
    note : str or None
        The sentence ``panel_meta.json`` and the reports give about them; None when none is absent.

    Raises
    ------
    ValueError
        When no configured target type, or no type of an explicit ``features.feature_types``, has
        an event: there would be nothing to forecast, or no type to build features of.
    """
    configured = list(dict.fromkeys((*features.target_types, *features.per_type_feature_types)))
    missing = [t for t in configured if t not in counts]
    if missing:
        raise ValueError(f"counts lacks the configured crime types {missing}.")
    absent = tuple(t for t in configured if not np.any(counts[t]))
    if not absent:
        return features, (), None
    targets = tuple(t for t in features.target_types if t not in absent)
    if not targets:
        raise ValueError(
            f"None of the configured features.target_types {list(features.target_types)} has an "
            f"accepted event in the study cells from {span}: there is nothing to forecast. Check "
            "the source's category mapping (data_quality.json counts accepted rows by type)."
        )
    update: dict[str, object] = {"target_types": targets}
    if features.feature_types is not None:
        kept = tuple(t for t in features.feature_types if t not in absent)
        if not kept:
            raise ValueError(
                f"None of the configured features.feature_types {list(features.feature_types)} "
                f"has an accepted event in the study cells from {span}; name types the data "
                "hold, or null for the target types."
            )
        update["feature_types"] = kept
    config = FeatureConfig.model_validate({**features.model_dump(), **update})
    note = (
        f"Configured crime types with no accepted event in the study cells from {span}, the "
        f"whole history the panel is built from: {', '.join(absent)}. They get no per-type "
        "features and are not forecast; the target is the configured target types present in "
        f"the data: {', '.join(targets)}."
    )
    return config, absent, note


@dataclass(frozen=True)
class PanelPlan:
    """What a panel is built over, decided once for the whole city before any event is counted.

    A partitioned build (:mod:`features.partitions`) gives each partition the same plan on its
    own cells (:meth:`on_cells`), so that every partition counts the same periods and types.
    """

    #: the study cells (``h3_int``, ascending) with the static covariates the model uses
    cells: pd.DataFrame
    #: the complete periods of data, consecutive starts (:func:`~beatwise.period.complete_periods`)
    periods: npt.NDArray[np.datetime64]
    period: Period
    #: every configured target and feature type, in configured order (counted, present or not)
    types: tuple[str, ...]
    #: the ``features`` params, before absent types are dropped
    features: FeatureConfig
    #: the periods in words, for messages (``2015-01-05 to 2019-11-25``)
    span: str
    #: the places file of ``features.places`` indexed to H3 cells; None: no place features
    places: Places | None = None

    @property
    def cell_ids(self) -> npt.NDArray[np.uint64]:
        """The study cells, uint64 H3 ids, ascending."""
        return self.cells["h3_int"].to_numpy()

    def on_cells(self, positions: npt.NDArray[np.int64]) -> PanelPlan:
        """The same plan on the cells at ``positions`` (ascending) of :attr:`cells`."""
        return replace(self, cells=self.cells.iloc[positions].reset_index(drop=True))


@dataclass(frozen=True)
class Tabulated:
    """A panel's feature table and what was decided building it (see :func:`tabulate_local`)."""

    table: pd.DataFrame
    #: the metadata of :func:`~features.engineering.build_feature_table`
    built: dict[str, Any]
    #: the configured types without an event (:func:`drop_absent_types`)
    absent: tuple[str, ...]
    #: the sentence about them; None when none is absent
    note: str | None


#: builds the feature table of a plan from the events: :func:`tabulate_local` in this process,
#: or :func:`features.partitions.tabulate_partitioned` on a Dask cluster
Tabulator = Callable[[PanelPlan, pd.DataFrame], Tabulated]


def count_events(plan: PanelPlan, event_cells: pd.DataFrame) -> dict[str, npt.NDArray[np.int32]]:
    """Counts ``[period, cell]`` of every type of ``plan`` in its cells and periods.

    Events outside the plan's cells or periods (an incomplete last period) are left out.
    """
    started = time.perf_counter()
    counts = count_matrix(
        event_cells,
        cell_ids=plan.cell_ids,
        periods=plan.periods,
        period=plan.period,
        crime_types=plan.types,
        outside="drop",  # events in an incomplete last period are outside every period
    )
    logger.info(
        "counting events per cell-%s took %.2f s", plan.period, time.perf_counter() - started
    )
    return counts


def tabulate_counts(
    plan: PanelPlan, counts: Mapping[str, npt.NDArray[np.integer]], present: FeatureConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The feature table of ``plan``'s cells from their counts, for the types ``present`` keeps
    (:func:`drop_absent_types`); see :func:`~features.engineering.build_feature_table`."""
    kept = {*present.target_types, *present.per_type_feature_types}
    return build_feature_table(
        {t: counts[t] for t in plan.types if t in kept},
        cell_ids=plan.cell_ids,
        periods=plan.periods,
        period=plan.period,
        static=plan.cells,
        config=present,
        places=plan.places,
    )


def tabulate_local(plan: PanelPlan, event_cells: pd.DataFrame) -> Tabulated:
    """The whole city's feature table, built in this process: count, decide the absent types
    from the counts, build the features."""
    counts = count_events(plan, event_cells)
    present, absent, note = drop_absent_types(plan.features, counts, span=plan.span)
    table, built = tabulate_counts(plan, counts, present)
    return Tabulated(table=table, built=built, absent=absent, note=note)


def build_panel(
    cells: pd.DataFrame,
    event_cells: pd.DataFrame,
    *,
    cells_meta: CellsMeta,
    features: FeatureConfig,
    covariates: CovariatesConfig,
    source: str,
    time_resolution: TimeResolution,
    data_end: pd.Timestamp | None = None,
    tabulate: Tabulator = tabulate_local,
) -> tuple[pd.DataFrame, PanelMeta]:
    """The leakage-free cell-period feature table and its typed description.

    Parameters
    ----------
    cells
        ``cells.parquet``: one row per study cell, ascending ``h3_int``, with the columns
        ``covariates.static`` names.
    event_cells
        ``event_cells.parquet`` (at least ``h3_int``, ``timestamp``, ``crime_type``).
    cells_meta
        ``cells_meta.json``: the grid the cells live on; its ``n_cells`` must match ``cells``.
    features, covariates
        The ``features`` and ``covariates`` params.
    source, time_resolution
        From ``data_quality.json`` (:func:`read_data_quality`).
    data_end
        The exclusive end of what the data cover (:func:`~beatwise.period.complete_periods`);
        None: judged from the events and ``time_resolution``. The refresh's fit set gives it
        (:mod:`features.refresh`).
    tabulate
        Where the table is built: :func:`tabulate_local` (default), or the partitioned build on
        Dask (:func:`features.partitions.tabulate_partitioned`), which gives the same table byte for
        byte. The period, its complete periods and the types are decided here, once, for both.

    Returns
    -------
    table : pandas.DataFrame
        See :func:`features.engineering.build_feature_table`.
    meta : PanelMeta
        What ``panel_meta.json`` holds: ``target_types`` are the configured target types present
        in the data, ``absent_types`` the configured types without an event
        (:func:`drop_absent_types`).

    Refuses covariates that ``cells`` lacks, a ``cells_meta`` from another run of build_cells,
    ``features.parent_resolutions`` not coarser than ``cells_meta.h3_resolution``, a places file
    :func:`~features.places.read_places` refuses, configured types none of which has an event,
    and whatever :func:`~beatwise.period.resolve_period`, :func:`~features.panel.count_matrix`
    and :func:`~features.engineering.build_feature_table` refuse.
    """
    if cells_meta.n_cells != len(cells):
        raise ValueError(
            f"cells_meta.json says n_cells={cells_meta.n_cells}, but cells.parquet has "
            f"{len(cells)} rows; re-run build_cells so both come from the same run."
        )
    missing = [c for c in covariates.static if c not in cells.columns]
    if missing:
        raise ValueError(
            f"covariates.static names {missing}, which cells.parquet lacks; it has "
            f"{[c for c in cells.columns if c not in ('h3_cell', 'h3_int')]}."
        )
    check_parent_resolutions(
        features.parent_resolutions,
        cells_resolution=cells_meta.h3_resolution,
        source="cells.h3_resolution, as cells_meta.json records it",
    )
    places = read_places(features.places, resolution=cells_meta.h3_resolution)
    period = resolve_period(features.period, time_resolution=time_resolution)
    logger.info(
        "period: %s (features.period=%s, %s data with time resolution %s)",
        period,
        features.period,
        source,
        time_resolution,
    )
    periods = complete_periods(
        event_cells["timestamp"], period=period, time_resolution=time_resolution, data_end=data_end
    )
    plan = PanelPlan(
        cells=cells[["h3_int", *covariates.static]],
        periods=periods,
        period=period,
        types=tuple(dict.fromkeys((*features.target_types, *features.per_type_feature_types))),
        features=features,
        span=" to ".join(f"{pd.Timestamp(p):%Y-%m-%d}" for p in (periods[0], periods[-1])),
        places=places,
    )
    done = tabulate(plan, event_cells)
    if done.note is not None:
        logger.warning("%s", done.note)
    table = done.table
    meta = PanelMeta.from_json(
        {
            **done.built,
            "all_periods": [f"{pd.Timestamp(p):%Y-%m-%d}" for p in (periods[0], periods[-1])],
            "absent_types": list(done.absent),
            "absent_types_note": done.note,
            "static_covariates": list(covariates.static),
            "target_reason": features.target_reason,
            "source": source,
            "time_resolution": time_resolution,
            "h3_resolution": cells_meta.h3_resolution,
        },
        source="panel_meta.json (as built)",
    )
    logger.info(
        "%d rows x %d features; %s %s to %s; forecast %s %s",
        len(table),
        len(meta.feature_columns),
        period_words(period).plural,
        meta.first_period,
        meta.last_complete_period,
        period,
        meta.forecast_period,
    )
    return table, meta
