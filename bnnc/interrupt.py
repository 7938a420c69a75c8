"""The one line and exit code of a run the user interrupted (Ctrl-C); standard library only,
so that :mod:`bnnc.entry` can report an interrupt before anything heavy is imported."""

from __future__ import annotations

import os
import sys

INTERRUPTED_EXIT_CODE = 130
MESSAGE = "bnnc: interrupted\n"


def interrupted() -> int:
    """Print the one line of an interrupted run on stderr; returns its exit code (130)."""
    sys.stderr.write(MESSAGE)
    sys.stderr.flush()
    return INTERRUPTED_EXIT_CODE


def exit_at_once(signum: int, frame: object) -> None:
    """A SIGINT handler for moments with nothing to clean up (imports): write the line with
    one system call (safe whatever the interrupted code was writing) and leave at once, so
    that no KeyboardInterrupt is raised inside a C extension's initialization (which aborts
    the process)."""
    os.write(2, MESSAGE.encode())
    os._exit(INTERRUPTED_EXIT_CODE)
