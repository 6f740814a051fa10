"""The progress bars' policy (``beatwise.progress``): stderr only, a terminal only, and off with
``BEATWISE_PROGRESS=0``."""

from __future__ import annotations

import io
import sys

import pytest

from beatwise.progress import PROGRESS_ENV, progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_bar_shows_on_a_terminal_with_its_description_and_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    stream = Terminal()
    with progress(range(3), desc="backtest refits", unit="refit", stream=stream) as bar:
        assert not bar.disable
        assert list(bar) == [0, 1, 2]
    assert "backtest refits" in stream.getvalue() and "3/3" in stream.getvalue()
    assert "refit/s" in stream.getvalue()


def test_no_bar_on_a_stream_that_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    stream = io.StringIO()
    with progress(range(3), desc="backtest refits", unit="refit", stream=stream) as bar:
        assert bar.disable
        assert list(bar) == [0, 1, 2]  # the loop runs all the same
    assert stream.getvalue() == ""


@pytest.mark.parametrize(("value", "shown"), [("0", False), ("1", True), ("", True)])
def test_beatwise_progress_0_turns_the_bar_off_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, value: str, shown: bool
) -> None:
    monkeypatch.setenv(PROGRESS_ENV, value)
    stream = Terminal()
    with progress(desc="feedback loop weeks", unit="week", total=2, stream=stream) as bar:
        bar.update()
        bar.update()
    assert bool(stream.getvalue()) is shown


def test_bars_go_to_stderr_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    list(progress(range(2), desc="audit canaries", unit="canary"))
    assert "audit canaries" in stderr.getvalue()
    assert capsys.readouterr().out == ""
