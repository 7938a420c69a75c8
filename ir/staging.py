"""The hidden siblings an output directory swap leaves only when its run is killed
(``.NAME.XXXXXXXX.new`` while writing, the old directory as ``.new`` or ``.old`` after the
swap; see :func:`bnnc.ir.atomic.replace_directory_atomically`).

A run holds an exclusive ``flock`` on each sibling it creates for as long as it lives; the
kernel drops the lock when the process dies, however it dies. The next run into the same
directory removes every sibling of that exact name pattern whose lock it can take and that
has not changed for :data:`STALE_SECONDS` (a live run locks its staging directory a moment
after creating it): what a killed run left behind, never a live run's staging nor a user's
own files."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from pathlib import Path

STALE_SECONDS = 2.0


def _pattern(target: Path) -> re.Pattern[str]:
    # tempfile.mkdtemp's names: 8 characters of [a-z0-9_] between the prefix and the suffix
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.(new|old)")


def hold(directory: Path) -> int:
    """Take the lock on ``directory`` (blocking); returns the descriptor, to close when done."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_stale_siblings(target: Path) -> list[Path]:
    """Remove the hidden siblings of ``target`` that killed runs left; returns them."""
    pattern = _pattern(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not pattern.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False) or \
                    time.time() - entry.stat(follow_symlinks=False).st_mtime < STALE_SECONDS:
                continue
        except OSError:  # gone meanwhile
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live run holds it
            continue
        else:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed
