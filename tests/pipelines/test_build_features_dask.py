"""Stage build_features on Dask (``engine.kind: dask``): the same files byte for byte as the
local path, the full panel and the refresh's fit set alike; bad engine params refused with the
key; and the local path never imports Dask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dask
import pytest
from partition_city import PARTITION_RESOLUTION, write_stage_inputs

from beatwise.params import ParamsError
from pipelines import build_features

ROOT = Path(__file__).resolve().parents[2]
#: every file the stage writes
OUTPUTS = (
    "features.parquet",
    "panel_meta.json",
    "fit/features.parquet",
    "fit/panel_meta.json",
    "fit/event_cells.parquet",
    "fit/data_quality.json",
)
#: a fit point before the newest week, so the fit set is a second build through the engine
REFIT_EVERY = 8


def _run(folder: Path, engine: dict[str, object]) -> dict[str, bytes]:
    args = write_stage_inputs(folder, engine=engine, refit_every=REFIT_EVERY)
    assert build_features.main(args) == 0
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _run(tmp_path_factory.mktemp("local"), {"kind": "local"})


def test_the_local_run_builds_a_fit_set_of_its_own(local: dict[str, bytes]) -> None:
    meta = json.loads(local["panel_meta.json"])
    assert meta["fit_through"] < meta["last_complete_period"]  # two builds through the engine
    assert local["fit/features.parquet"] != local["features.parquet"]


def test_dask_in_threads_writes_the_local_files_byte_for_byte(
    tmp_path: Path, local: dict[str, bytes]
) -> None:
    engine = {"kind": "dask", "processes": False, "partition_resolution": PARTITION_RESOLUTION}
    written = _run(tmp_path, engine)
    for name in OUTPUTS:
        assert written[name] == local[name], name


def test_dask_in_worker_processes_writes_the_local_files_byte_for_byte(
    tmp_path: Path, local: dict[str, bytes]
) -> None:
    engine = {"kind": "dask", "workers": 2, "partition_resolution": PARTITION_RESOLUTION}
    started = time.perf_counter()
    written = _run(tmp_path, engine)
    assert time.perf_counter() - started < 60  # spawning two workers takes a few seconds
    for name in OUTPUTS:
        assert written[name] == local[name], name


def test_a_partition_resolution_not_coarser_than_the_cells_is_refused(tmp_path: Path) -> None:
    args = write_stage_inputs(tmp_path, engine={"kind": "dask", "partition_resolution": 8})
    with pytest.raises(
        ValueError,
        match=r"engine\.partition_resolution must be coarser \(smaller\) than the cells' H3 "
        r"resolution 8 \(cells_meta\.json\)",
    ):
        build_features.main(args)
    assert not (tmp_path / "features.parquet").exists()


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        (
            {"scheduler": "tcp://10.0.0.5:8786"},
            r"The 'engine' parameter of stage 'build_features' is refused: scheduler is set "
            r"\('tcp://10\.0\.0\.5:8786'\) but kind is 'local', which would ignore it",
        ),
        (
            {"kind": "dask", "scheduler": "my cluster"},
            r"scheduler must be a Dask scheduler address such as 'tcp://10\.0\.0\.5:8786'",
        ),
        (
            {"kind": "spark"},
            r"The 'engine\.kind' parameter of stage 'build_features' must be one of "
            r"'local' or 'dask'\. Got 'spark'\.",
        ),
        (
            {"kind": "dask", "worker": 4},
            r"The 'engine\.worker' parameter .* not a known key\. Did you mean 'workers'\?",
        ),
        (
            {"partition_resolution": 15},
            r"The 'engine\.partition_resolution' parameter .* must be <= 14\. Got 15\.",
        ),
    ],
)
def test_bad_engine_params_are_refused_naming_the_key(
    tmp_path: Path, engine: dict[str, object], message: str
) -> None:
    args = write_stage_inputs(tmp_path, engine=engine)
    with pytest.raises(ParamsError, match=message):
        build_features.main(args)


def test_an_unreachable_scheduler_is_refused_naming_it(tmp_path: Path) -> None:
    engine = {"kind": "dask", "scheduler": "tcp://127.0.0.1:9", "partition_resolution": 6}
    args = write_stage_inputs(tmp_path, engine=engine)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            OSError, match=r"Could not reach the Dask scheduler at engine\.scheduler='tcp://"
        ),
    ):
        build_features.main(args)
    assert not (tmp_path / "features.parquet").exists()


def test_the_local_path_never_imports_dask(tmp_path: Path) -> None:
    args = write_stage_inputs(tmp_path, engine={"kind": "local"})
    script = (
        "import sys\n"
        "from pipelines import build_features\n"
        f"assert build_features.main({args!r}) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (tmp_path / "features.parquet").exists()
