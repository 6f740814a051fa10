"""Logging set-up, timing and the command-line entry shared by every stage (file writing lives in
``beatwise.io``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import NoReturn

#: Set to 1 to see the Python traceback behind a stage's refusal.
TRACEBACK_ENV = "BEATWISE_TRACEBACK"


def run_stage(main: Callable[[list[str] | None], int], stage: str) -> NoReturn:
    """Run a stage's ``main`` as a command and exit with its code.

    A refusal (bad params, a stage file that does not match its definition, a missing input, a
    bad value in the data: a ``ValueError`` or ``FileNotFoundError`` whose message names the key,
    file or row) is printed as that message, not as a traceback, and exits with code 2. Set
    ``BEATWISE_TRACEBACK=1`` to see the traceback.
    """
    try:
        code = main(None)
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        print(f"Stage '{stage}' stopped: {err}", file=sys.stderr)
        print(f"(set {TRACEBACK_ENV}=1 to see where)", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code)


def setup_logging(stage: str) -> logging.Logger:
    """Log to stderr with the stage name and a timestamp; returns the stage's logger."""
    logging.basicConfig(
        level=os.environ.get("BEATWISE_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {stage} %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    return logging.getLogger(f"beatwise.{stage}")


@contextlib.contextmanager
def timed(logger: logging.Logger, what: str) -> Iterator[None]:
    """Log how long a block took."""
    start = time.perf_counter()
    yield
    logger.info("%s took %.2f s", what, time.perf_counter() - start)
