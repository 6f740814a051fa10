"""The feature panel by spatial partitions on Dask: the partitions and halos, the split of the
events, and a table equal to the local one, value for value and dtype for dtype."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from distributed import Client
from partition_city import FEATURES, PARTITION_RESOLUTION, TARGET_TYPES, toy_cells, toy_events

from beatwise.artefacts.cells import CellsMeta
from beatwise.artefacts.panel import PanelMeta
from beatwise.engine import EngineConfig, dask_client
from features.build import CovariatesConfig, Tabulator, build_panel, tabulate_local
from features.engineering import FeatureConfig
from features.partitions import (
    CellPartitions,
    panel_tabulator,
    partition_cells,
    split_events,
    tabulate_partitioned,
)
from features.places import PlacesConfig

CONFIG = FeatureConfig.model_validate({**FEATURES, "target_types": TARGET_TYPES})
CELLS = toy_cells()
EVENTS = toy_events(CELLS)
CELLS_META = CellsMeta.from_json(
    {"h3_resolution": 8, "n_cells": len(CELLS), "study_area": "events_only"}, source="test"
)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with dask_client(EngineConfig(kind="dask", workers=2, processes=False)) as client:
        yield client


def _build(
    tabulate: Tabulator, *, events: pd.DataFrame = EVENTS, data_end: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, PanelMeta]:
    return build_panel(
        CELLS, events, cells_meta=CELLS_META, features=CONFIG,
        covariates=CovariatesConfig(static=("residents",)), source="synthetic",
        time_resolution="sub_day", data_end=data_end, tabulate=tabulate,
    )  # fmt: skip


def _partitions(halo: int = 2) -> CellPartitions:
    return partition_cells(
        CELLS["h3_int"].to_numpy(),
        cells_resolution=8,
        partition_resolution=PARTITION_RESOLUTION,
        halo=halo,
    )


def test_each_cell_is_own_in_one_partition_under_its_parent() -> None:
    parts = partition_cells(
        CELLS["h3_int"].to_numpy(), cells_resolution=8, partition_resolution=6, halo=2
    )
    assert len(parts.own) == len(parts.cells) == parts.parents.size > 5
    owned = np.concatenate(parts.own)
    assert np.array_equal(np.sort(owned), np.arange(len(CELLS)))  # each cell exactly once
    for parent, own, cells in zip(parts.parents, parts.own, parts.cells, strict=True):
        assert np.all(np.diff(own) > 0) and np.all(np.diff(cells) > 0)
        assert set(own) <= set(cells)
        for cell in CELLS["h3_int"].to_numpy()[own]:
            assert h3.cell_to_parent(h3.int_to_str(int(cell)), 6) == h3.int_to_str(int(parent))


@pytest.mark.parametrize("halo", [1, 2])
def test_the_halo_is_every_study_cell_within_the_rings_of_an_own_cell(halo: int) -> None:
    parts = _partitions(halo)
    ids = [h3.int_to_str(int(c)) for c in CELLS["h3_int"]]
    for own, cells in zip(parts.own, parts.cells, strict=True):
        near = {
            j
            for j, cell in enumerate(ids)
            if min(h3.grid_distance(ids[i], cell) for i in own) <= halo
        }
        assert set(cells.tolist()) == near
        assert len(near) > len(own)  # the halo matters: it reaches into other partitions


def test_the_events_of_a_partition_are_those_of_its_cells_in_their_order() -> None:
    parts = _partitions()
    split = split_events(EVENTS, parts)
    ids = CELLS["h3_int"].to_numpy()
    for events, cells in zip(split, parts.cells, strict=True):
        expected = EVENTS[EVENTS["h3_int"].isin(ids[cells])].reset_index(drop=True)
        pd.testing.assert_frame_equal(events, expected)
    outside = ~EVENTS["h3_int"].isin(ids)
    assert outside.sum() == 20  # in no partition
    assert sum(len(e) for e in split) > len(EVENTS) - 20  # halo events are in several


def test_a_partition_resolution_not_coarser_than_the_cells_is_refused() -> None:
    engine = EngineConfig(kind="dask", partition_resolution=8, processes=False)
    with (
        pytest.raises(
            ValueError,
            match=r"engine\.partition_resolution must be coarser \(smaller\) than the cells' H3 "
            r"resolution 8 \(cells_meta\.json\).* Got 8; set it to at most 7",
        ),
        panel_tabulator(engine, CELLS, cells_meta=CELLS_META, features=CONFIG),
    ):
        pytest.fail("no cluster may start")


def test_cells_at_another_resolution_than_cells_meta_are_refused() -> None:
    with pytest.raises(ValueError, match=r"resolution\(s\) \[8\], but cells_meta\.json says 9"):
        partition_cells(
            CELLS["h3_int"].to_numpy(), cells_resolution=9, partition_resolution=6, halo=1
        )


def test_the_dask_table_equals_the_local_one(client: Client) -> None:
    local, local_meta = _build(tabulate_local)
    partitions = _partitions()
    dask = functools.partial(tabulate_partitioned, client=client, partitions=partitions)
    table, meta = _build(dask)
    pd.testing.assert_frame_equal(table, local, check_exact=True)
    assert list(table.dtypes) == list(local.dtypes)
    assert meta == local_meta
    # robbery is in one partition's cells only, bicycle theft in none: decided for the city
    assert meta.absent_types == ("bicycle_theft",)
    assert "cnt_robbery_lag1w" in table.columns
    # the ring features are the point of the halo: present, and not all missing
    assert table["nbr2_cnt_all_roll4w"].notna().sum() > len(table) // 2


def test_a_halo_short_of_the_largest_ring_would_change_only_the_ring_features(
    client: Client,
) -> None:
    local, _ = _build(tabulate_local)
    short = functools.partial(tabulate_partitioned, client=client, partitions=_partitions(1))
    table, _ = _build(short)
    differ = [c for c in local.columns if not table[c].equals(local[c])]
    assert differ and all(c.startswith("nbr2_") for c in differ)


def test_the_dask_table_equals_the_local_one_for_a_fit_point(client: Client) -> None:
    end = pd.Timestamp("2023-03-27")
    early = EVENTS[EVENTS["timestamp"] < end]
    local, local_meta = _build(tabulate_local, events=early, data_end=end)
    dask = functools.partial(tabulate_partitioned, client=client, partitions=_partitions())
    table, meta = _build(dask, events=early, data_end=end)
    pd.testing.assert_frame_equal(table, local, check_exact=True)
    assert meta == local_meta


def test_a_type_in_no_partition_is_refused_as_locally(client: Client) -> None:
    only_drugs = EVENTS.assign(crime_type=pd.Categorical(["drugs"] * len(EVENTS)))
    dask = functools.partial(tabulate_partitioned, client=client, partitions=_partitions())
    for tabulate in (tabulate_local, dask):
        with pytest.raises(ValueError, match=r"None of the configured features\.target_types"):
            _build(tabulate, events=only_drugs)


def test_the_dask_table_equals_the_local_one_with_parents_and_places(
    client: Client, tmp_path: Path
) -> None:
    """Parent features (at and finer than the partition resolution) and place features are the
    same bytes by partitions as in one process."""
    ids = CELLS["h3_int"].to_numpy()
    rng = np.random.default_rng(4)
    lat, lon = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in rng.choice(ids, 40)]).T
    path = tmp_path / "places.csv"
    pd.DataFrame(
        {"kind": rng.choice(["shop", "station"], 40), "lon": lon, "lat": lat,
         "opened": rng.choice(["", "2023-02-01", "2023-03-06"], 40), "closed": ""}
    ).to_csv(path, index=False)  # fmt: skip
    config = CONFIG.model_copy(
        update={
            "parent_resolutions": (7, PARTITION_RESOLUTION),
            "places": PlacesConfig(path=str(path), radius_rings=(0, 2)),
        }
    )
    tables = [
        build_panel(
            CELLS, EVENTS, cells_meta=CELLS_META, features=config,
            covariates=CovariatesConfig(static=("residents",)), source="synthetic",
            time_resolution="sub_day", tabulate=tabulate,
        )[0]
        for tabulate in (
            tabulate_local,
            functools.partial(tabulate_partitioned, client=client, partitions=_partitions()),
        )
    ]  # fmt: skip
    pd.testing.assert_frame_equal(tables[1], tables[0], check_exact=True)
    assert tables[0]["par6_cnt_all_mean_hist"].notna().all()
    assert tables[0]["plc_shop_disk2"].sum() > 0


def test_a_partition_finer_than_a_parent_resolution_is_refused() -> None:
    engine = EngineConfig(kind="dask", partition_resolution=6, processes=False)
    config = CONFIG.model_copy(update={"parent_resolutions": (7, 5)})
    with (
        pytest.raises(
            ValueError,
            match=r"engine\.partition_resolution \(6\) must be at most the coarsest of "
            r"features\.parent_resolutions \[7, 5\]",
        ),
        panel_tabulator(engine, CELLS, cells_meta=CELLS_META, features=config),
    ):
        pytest.fail("no cluster may start")
