"""Progress of a sweep on stderr: a bar with the ETA on a terminal (rich), one plain line per
finished job otherwise, nothing when quiet."""

from __future__ import annotations

import sys
from typing import Any

MODES = ("auto", "bar", "lines", "quiet")


def describe(config: dict[str, Any]) -> str:
    """A configuration in a few words: model, array, scheme and whatever else is set."""
    words = [config["model"], config["array"], config["scheme"]]
    words += [f"objective={config['objective']}"] if config["objective"] != "arrays" else []
    words += [f"layer_config={config['layer_config']}"] if config["layer_config"] else []
    words += [f"max_arrays={config['max_arrays']}"] if config["max_arrays"] else []
    words += [f"target_fps={config['target_fps']:g}"] if config["target_fps"] else []
    words += [f"hw={config['hw']}"] if config["hw"] else []
    words += [f"{k}={v}" for k, v in {**config["hardware"], **{f"device.{k}": v for k, v in config["device_values"].items()}}.items()]
    words += [f"chips={config['chips']}"] if config["chips"] else []
    words += [f"seed={config['seed']}"] if config["seed"] else []
    return " ".join(str(w) for w in words)


class Progress:
    """``with Progress(total, mode): progress.advance(row)`` for each finished job."""

    def __init__(self, total: int, mode: str = "auto"):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode, self.total, self.count = mode, total, 0
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.mode == "bar" and self.total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("bnnc sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.description}"),
                            console=Console(stderr=True), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def advance(self, row: dict[str, Any] | None, note: str = "") -> None:
        """One more job done: its row, or None with a ``note`` for a job that was lost."""
        self.count += 1
        status = row["status"] if row is not None else "lost"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"last: {status} {row['id'] if row else ''}")
        elif self.mode == "lines":
            what = f"{row['id']} {describe(row['config'])} ({row['seconds']:.2f} s)" if row is not None else note
            error = f": {row['error']}" if row is not None and row["error"] else ""
            print(f"bnnc: sweep: [{self.count}/{self.total}] {status} {what}{error}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
