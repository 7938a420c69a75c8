"""Progress of a command-line run, phase by phase, on stderr.

On a terminal a rich progress display (a bar where a phase knows its steps, e.g. the passes;
a spinner otherwise, each with its elapsed time); elsewhere one plain line per finished phase
that took :data:`PLAIN_MIN_SECONDS` or more (``bnnc: golden check done in 41.3 s``): the log
of a long run, while a quick run that fails still says one line, its error; nothing when
quiet. A phase that fails prints nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Literal, TextIO, TypeVar

from bnnc.ir.diagnostics import plural

T = TypeVar("T")
PLAIN_MIN_SECONDS = 1.0
"""Plain lines are for the phases worth waiting for (a ResNet-18-sized golden check takes a
minute); the rest of a run, a fraction of a second, goes unsaid."""
Mode = Literal["rich", "plain", "off"]


def clock() -> float:
    """Seconds, for the phases' durations."""
    return time.perf_counter()


class Progress:
    """One phase at a time: :meth:`start` ends the current phase and begins the next."""

    def __init__(self, mode: Mode, stream: TextIO | None = None):
        self.mode = mode
        self.stream = stream if stream is not None else sys.stderr
        self._phase: str | None = None
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._display = None
        self._task = None

    @classmethod
    def for_run(cls, quiet: bool, stream: TextIO | None = None) -> Progress:
        """Silent when ``quiet``; rich on a terminal; plain lines otherwise."""
        stream = stream if stream is not None else sys.stderr
        return cls("off" if quiet else "rich" if stream.isatty() else "plain", stream)

    def start(self, phase: str, total: int | None = None) -> None:
        """End the current phase (if any) and begin ``phase`` of ``total`` steps (None: unknown)."""
        self.finish()
        self._phase, self._total, self._done, self._started = phase, total, 0, clock()
        if self.mode == "rich":
            if self._display is None:
                self._display = _rich_display(self.stream)
                self._display.start()
            self._task = self._display.add_task(phase, total=total)

    def advance(self, detail: str = "") -> None:
        """One step of the current phase done (``detail``: what comes next)."""
        self._done += 1
        if self._display is not None and self._task is not None:
            description = f"{self._phase}: {detail}" if detail else self._phase
            self._display.update(self._task, advance=1, description=description)

    def finish(self) -> None:
        """End the current phase: its plain line, or its bar completed."""
        if self._phase is None:
            return
        seconds = clock() - self._started
        if self.mode == "plain" and seconds >= PLAIN_MIN_SECONDS:
            steps = f" ({self._done} of {plural(self._total, 'step')})" if self._total else ""
            print(f"bnnc: {self._phase}{steps} done in {seconds:.2f} s", file=self.stream, flush=True)
        elif self._display is not None and self._task is not None:
            total = self._total or 1
            self._display.update(self._task, total=total, completed=total, description=self._phase)
            self._display.stop_task(self._task)
        self._phase = self._task = None

    def run(self, phase: str, work: Callable[[], T]) -> T:
        """``work()`` as one phase."""
        self.start(phase)
        result = work()
        self.finish()
        return result

    def close(self) -> None:
        """Stop the display (the current phase, if any, is dropped: it did not finish)."""
        self._phase = self._task = None
        if self._display is not None:
            self._display.stop()
            self._display = None


def _rich_display(stream: TextIO):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return RichProgress(SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=Console(file=stream), transient=False)
