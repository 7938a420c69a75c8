"""The ``bnnc`` command's entry point (``python -m bnnc`` too): a Ctrl-C while the compiler's
modules are still being imported, while it runs or while it reports prints one line, ``bnnc:
interrupted``, and exits with 130.

While :mod:`bnnc.cli` and its dependencies (numpy, onnx, onnxruntime, ...) are imported, a
SIGINT ends the process at once (nothing has been written yet). During the run it raises
KeyboardInterrupt, which :func:`bnnc.cli.main` turns into the line and 130 after the output
writer has removed its staging directory. Once the run is over and its output flushed, SIGINT
is ignored: Python's shutdown is not interruptible work, and the run's own exit code stands.
Only the standard library and :mod:`bnnc.interrupt` are imported here. Once the modules are
imported, their objects are frozen out of the garbage collector's scans (:func:`gc.freeze`)."""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys

from bnnc.interrupt import INTERRUPTED_EXIT_CODE, exit_at_once, interrupted


def main(argv: list[str] | None = None) -> int:
    """Run the command (:func:`bnnc.cli.main`); returns the exit code — except after a Ctrl-C,
    which leaves the process at once with 130 once stdout and stderr are flushed."""
    signal.signal(signal.SIGINT, exit_at_once)
    from bnnc.cli import main as run

    # the imported modules' objects (~45 000 tracked) live until exit: out of the collections
    # that a run's many small allocations (the IR parser's tables, the passes) set off —
    # measured 0.03-0.04 CPU-s of a whole `bnnc cnv.onnx --no-figures` run
    gc.freeze()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = run(argv)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        code = interrupted()
    try:
        sys.stdout.flush()
    except OSError:  # stdout closed early (``bnnc ... | head``): the rest goes nowhere, silently
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if code == INTERRUPTED_EXIT_CODE:
        # an extension module the interrupt hit in its initialization (a lazy import during the
        # run) can abort the interpreter's teardown (seen: "PyThreadState_Get: ... the GIL is
        # released", SIGABRT, once in 40 Ctrl-Cs): the run's output is settled, so only the exit
        # handlers run (a sweep's process pool and its semaphores are released there), not the teardown
        atexit._run_exitfuncs()
        sys.stderr.flush()
        os._exit(code)
    return code
