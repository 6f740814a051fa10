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

#: Set to 1 to see the Python traceback behind a stage's refusal (re-raised, exit code 1).
TRACEBACK_ENV = "BEATWISE_TRACEBACK"
#: The log level of every stage (``setup_logging``); at DEBUG a refusal logs its traceback too.
LOG_LEVEL_ENV = "BEATWISE_LOG_LEVEL"
#: What a stage's refusal is: a value it will not take (bad params, a stage file that does not
#: match its definition, a bad value in the data, a corrupt Parquet file: ``ValueError``, which
#: pyarrow's ``ArrowInvalid`` is) or a file it cannot use (missing, a folder, unreadable:
#: ``OSError``, which ``FileNotFoundError`` is).
REFUSALS: tuple[type[Exception], ...] = (ValueError, OSError)


def describe_refusal(err: Exception) -> str:
    """The one-line (or few-line) message a refusal prints: what went wrong and where.

    An operating-system error gives its reason and its file (``Is a directory: data/x.parquet``);
    pandas and pyarrow raise ``FileNotFoundError(path)`` with the bare path as the message, which
    becomes ``No such file: <path>``.
    """
    if isinstance(err, OSError) and err.strerror:
        files = [str(f) for f in (err.filename, err.filename2) if f is not None]
        return f"{err.strerror}: {' -> '.join(files)}" if files else err.strerror
    text = str(err)
    if isinstance(err, FileNotFoundError) and text and not any(c.isspace() for c in text):
        return f"No such file: {text}"
    return text


def run_stage(main: Callable[[list[str] | None], int], stage: str) -> NoReturn:
    """Run a stage's ``main`` as a command and exit with its code.

    A refusal (:data:`REFUSALS`: its message names the key, file or row) is printed as that
    message, not as a traceback, and exits with code 2. With ``BEATWISE_LOG_LEVEL=DEBUG`` the
    traceback is logged first; with ``BEATWISE_TRACEBACK=1`` the error is re-raised as Python
    would. Any other exception is a bug and keeps its traceback.
    """
    try:
        code = main(None)
    except REFUSALS as err:
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        logging.getLogger(f"beatwise.{stage}").debug("the refusal's traceback", exc_info=True)
        print(f"Stage '{stage}' stopped: {describe_refusal(err)}", file=sys.stderr)
        print(f"(set {TRACEBACK_ENV}=1 or {LOG_LEVEL_ENV}=DEBUG to see where)", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code)


def setup_logging(stage: str) -> logging.Logger:
    """Log to stderr with the stage name and a timestamp; returns the stage's logger."""
    logging.basicConfig(
        level=os.environ.get(LOG_LEVEL_ENV, "INFO"),
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
