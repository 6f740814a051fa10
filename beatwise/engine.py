"""Where a stage's work runs: in this process (``local``, the default) or on a Dask cluster.

The ``engine`` params section chooses. ``local`` needs neither Dask nor a scheduler, and never
imports ``distributed``. ``dask`` runs a stage's partitioned work on the scheduler at
``engine.scheduler``, or, when that is null, on a ``LocalCluster`` started for the run in this
process and closed after it (``engine.workers`` workers of one thread each, no dashboard, bound to
127.0.0.1 only). Either way the outputs are byte for byte those of the local path: the engine
changes where the work runs, never what it computes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # imported at run time only when a run asks for Dask
    from distributed import Client

logger = logging.getLogger(__name__)

#: a scheduler address as Dask takes it: ``tcp://host:port``, ``tls://host:port`` or ``host:port``
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss)://)?[\w.\-\[\]:]+:\d+$")


class EngineConfig(BaseModel):
    """Where the partitioned stages run (``engine``). Frozen; unknown keys are an error.

    Attributes
    ----------
    kind
        ``"local"`` (default): everything in the stage's own process. ``"dask"``: the feature
        panel is built by partitions on a Dask cluster (results byte-identical to ``local``).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); its workers must have
        Beatwise installed with the pinned dependencies. None (default) with ``dask``: start a
        ``LocalCluster`` for the run. Must be None with ``local``.
    workers
        Workers of the ``LocalCluster`` started when ``scheduler`` is None (one thread each).
    processes
        True (default): the ``LocalCluster``'s workers are processes (parallel numpy work);
        False: threads of the stage's own process (quicker to start, for small data and tests).
    partition_resolution
        The H3 resolution of the parent cells the study cells are grouped by: one partition per
        parent, with a halo of neighbouring study cells so that the ring features are exact. Must
        be coarser (smaller) than the cells' resolution (``cells_meta.json``), checked when a
        ``dask`` run starts.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    workers: int = Field(default=2, ge=1, le=256)
    processes: bool = True
    partition_resolution: int = Field(default=5, ge=0, le=14)

    @model_validator(mode="after")
    def _scheduler(self) -> EngineConfig:
        if self.scheduler is None:
            return self
        if self.kind == "local":
            raise ValueError(
                f"scheduler is set ({self.scheduler!r}) but kind is 'local', which would ignore "
                "it; set kind: dask to run on that scheduler, or scheduler: null."
            )
        if not _ADDRESS.match(self.scheduler):
            raise ValueError(
                "scheduler must be a Dask scheduler address such as 'tcp://10.0.0.5:8786' or "
                f"'10.0.0.5:8786'. Got {self.scheduler!r}."
            )
        return self


@contextlib.contextmanager
def dask_client(config: EngineConfig) -> Iterator[Client]:
    """A Dask client on ``config.scheduler``, or on a ``LocalCluster`` started for the block.

    The ``LocalCluster`` listens on 127.0.0.1 only, over TCP (no address lookup, so it starts
    offline), with no dashboard; it is closed when the block ends. Refuses ``kind: local``, and
    a scheduler that cannot be reached (an ``OSError`` naming ``engine.scheduler``).
    """
    if config.kind != "dask":
        raise ValueError(f"dask_client needs engine.kind 'dask'. Got {config.kind!r}.")
    from distributed import Client, LocalCluster

    if config.scheduler is not None:
        try:
            client = Client(config.scheduler)
        except (OSError, TimeoutError) as exc:
            raise OSError(
                f"Could not reach the Dask scheduler at engine.scheduler={config.scheduler!r}: "
                f"{exc}"
            ) from exc
        with client:
            logger.info("dask: scheduler %s", config.scheduler)
            yield client
        return
    with (
        LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,
            processes=config.processes,
            host="127.0.0.1",
            protocol="tcp",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info(
            "dask: a LocalCluster of %d %s for this run",
            config.workers,
            "worker processes" if config.processes else "worker threads",
        )
        yield client
