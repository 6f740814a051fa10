"""What ``publish`` did with its forecast, and where the latest publication lives.

- ``reports/publication.json`` (:class:`PublicationRecord`): written by every ``publish`` run,
  a DVC metric, so ``dvc exp show`` shows each experiment's outcome (``status``: published,
  candidate or blocked) beside its params and backtest metrics.
- ``data/published/latest.json`` (:class:`LatestPublication`): the folder of the publication
  planners read now, rewritten atomically after each publication (:mod:`beatwise.publications`).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from beatwise.artefacts._base import Artefact
from beatwise.artefacts.manifest import AuditStatus
from beatwise.period import Period
from beatwise.runs import RunKind

#: published: copied into the published area; candidate: a forecast was written but not published
#: (an experiment, a run by hand, or params that differ from the last commit); blocked: no forecast
PublicationStatus = Literal["published", "candidate", "blocked"]
#: a publication's folder: its forecast period, with ``.<n>`` for the n-th publication of it
FOLDER_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[0-9]+)?$"


class PublicationRecord(Artefact):
    """``reports/publication.json``: what one ``publish`` run did with its forecast."""

    status: PublicationStatus
    #: the kind of run (:mod:`beatwise.runs`), which decides whether a forecast may be published
    run: RunKind
    #: what blocked the forecast, comma-separated (one text, so ``dvc exp show`` shows it): gate
    #: ids (``G3, G4``), or the documents that are not what the audit stage wrote
    #: (``audit.json``); empty unless ``status`` is blocked
    blocked_by: str = ""
    period: Period | None = None
    #: first day of the forecast period (None when blocked before the panel was read)
    forecast_period: dt.date | None = None
    n_cells: int = Field(default=0, ge=0)
    n_flagged: int = Field(default=0, ge=0)
    audit_status: AuditStatus | None = None
    #: the publication's folder in the published area, when ``status`` is published
    folder: str | None = Field(default=None, pattern=FOLDER_PATTERN)


class LatestPublication(Artefact):
    """``data/published/latest.json``: the publication planners read now."""

    #: the folder beside this file (``2024-12-30``, or ``2024-12-30.2`` for a second publication
    #: of that week)
    folder: str = Field(pattern=FOLDER_PATTERN)
    period: Period
    forecast_period: dt.date
    #: sha256 of the folder's ``manifest.json``, which names every other file's sha256
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: when the pointer moved to this folder (UTC)
    published_at: dt.datetime
