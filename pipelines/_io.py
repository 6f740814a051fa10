"""Logging set-up and timing shared by every stage (file writing lives in ``beatwise.io``)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator


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
