"""A benchmark's own section of ``bench/RESULTS.md``: the text between its two markers."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, begin: str, end: str, section: str) -> None:
    """Replace the text from ``begin`` to ``end`` in ``path`` by ``section`` (which starts with
    ``begin`` and ends with ``end``), or append ``section`` if the markers are not there."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
