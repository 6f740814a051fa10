"""Progress bars for the loops a user waits on (backtest refits, ETAS fits, feedback weeks,
audit canaries): one policy for all of them.

A bar goes to stderr, never stdout (stage outputs and ``beatwise`` commands' printed results stay
clean), and only to a terminal: tqdm's ``disable=None`` turns it off when the stream is not one
(``dvc repro`` piped to a file, CI logs). ``BEATWISE_PROGRESS=0`` turns every bar off in a
terminal too. A bar never changes what the loop computes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from multiprocessing.context import BaseContext
from typing import IO, Any, Final, TypeVar

from tqdm import tqdm

#: the environment variable that turns every bar off when set to "0"
PROGRESS_ENV: Final[str] = "BEATWISE_PROGRESS"

T = TypeVar("T")


def progress_disabled() -> bool | None:
    """tqdm's ``disable``: True when ``BEATWISE_PROGRESS=0``, else None (tqdm then shows a bar
    only if its stream is a terminal)."""
    return True if os.environ.get(PROGRESS_ENV, "").strip() == "0" else None


def progress(
    iterable: Iterable[T] | None = None,
    *,
    desc: str,
    unit: str,
    total: int | None = None,
    stream: IO[str] | None = None,
    **options: Any,
) -> tqdm[T]:
    """A tqdm bar over ``iterable`` (or one updated by hand, with ``total``) on ``stream``
    (default stderr), under the module's policy.

    ``desc`` says what is counted in the stage's words ("backtest refits"), ``unit`` one of them
    ("refit"); ``options`` go to tqdm (``position``, ``leave``).
    """
    file = sys.stderr if stream is None else stream
    return tqdm(
        iterable,
        desc=desc,
        unit=unit,
        total=total,
        file=file,
        disable=progress_disabled(),
        dynamic_ncols=True,
        **options,
    )


def progress_workers(context: BaseContext) -> dict[str, Any]:
    """Keywords for a ``ProcessPoolExecutor`` of ``context`` whose workers show bars: tqdm's
    write lock, shared, so that bars on their own lines (``position``) do not write over each
    other. The lock comes from ``context`` (a spawned worker cannot take a forked lock)."""
    lock = context.RLock()
    tqdm.set_lock(lock)
    return {"initializer": tqdm.set_lock, "initargs": (lock,)}
