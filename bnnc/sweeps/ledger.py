"""The sweep directory's record: ``results.jsonl`` (one JSON row per finished job, appended by
the sweep's parent process only, one ``write`` per line and fsynced), the lock that keeps two
sweeps out of one directory, and ``results.csv``.

A job is finished when its row is in ``results.jsonl`` and its folder ``jobs/<id>/`` exists.
A kill can cut only the line being appended: :meth:`Ledger.open` drops such a partial last
line before appending, so the file stays one row per line. Where a job has several rows (its
folder was deleted and it ran again), the last one counts.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bnnc.errors import BnncError

RESULTS = "results.jsonl"
LOCK = ".sweep.lock"


def check_sweep_directory(directory: Path) -> None:
    """Refuse, before any job, a ``-o`` that is a file or a non-empty folder of something else."""
    if directory.exists() and not directory.is_dir():
        raise BnncError(f"{directory}: exists and is not a directory; choose another -o")
    if directory.is_dir() and any(directory.iterdir()) and not any((directory / name).exists() for name in (RESULTS, "jobs")):
        raise BnncError(f"{directory}: exists and is not a sweep directory (no {RESULTS} or jobs/); "
                        "choose another -o or empty it")


class Ledger:
    """``DIR/results.jsonl`` of one running sweep, which holds ``DIR``'s lock while open."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / RESULTS
        self._lock: int | None = None
        self._fd: int | None = None

    def open(self) -> Ledger:
        """Take the directory's lock (another sweep holding it is an error) and make the file
        end with a whole line."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise BnncError(f"{self.directory}: cannot create the sweep directory ({e.strerror or e})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise BnncError(f"{self.directory}: another sweep is writing to this directory; wait for it or choose another -o") from None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        size = os.fstat(self._fd).st_size
        if size:
            data = os.pread(self._fd, size, 0)
            if not data.endswith(b"\n"):
                os.ftruncate(self._fd, data.rfind(b"\n") + 1)
        return self

    def close(self) -> None:
        for fd in (self._fd, self._lock):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock = None

    def __enter__(self) -> Ledger:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self) -> dict[str, dict[str, Any]]:
        """The rows by job id (the last row of an id wins)."""
        return read_rows(self.path)

    def finished(self, ids: Iterable[str]) -> set[str]:
        """Of ``ids``, the jobs that are finished (a row and a folder)."""
        rows = self.rows()
        return {i for i in ids if i in rows and (self.directory / "jobs" / i).is_dir()}

    def append(self, row: dict[str, Any]) -> None:
        """Add ``row`` as one line, in one write, fsynced."""
        assert self._fd is not None, "the ledger is not open"
        os.write(self._fd, (json.dumps(row, sort_keys=True, allow_nan=False) + "\n").encode())
        os.fsync(self._fd)


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of a ``results.jsonl`` by id (a partial last line is ignored)."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return rows
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines[:-1], 1):  # the last item is empty or a partial line
        try:
            row = json.loads(line)
            rows[row["id"]] = row
        except (ValueError, TypeError, KeyError):
            raise BnncError(f"{path}:{number}: not a result row of bnnc sweep; remove the line or choose another -o") from None
    return rows


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as one level of dotted columns (``config.array``, ``totals.energy_nj``,
    ``config.hardware.adc.power_6bit_mw``); lists as JSON text."""
    out: dict[str, Any] = {}
    _flat("", row, out)
    return out


def csv_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    """``results.csv``: one line per row, the union of the rows' columns in first-seen order."""
    flat = [flat_row(r) for r in rows]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue().encode()
