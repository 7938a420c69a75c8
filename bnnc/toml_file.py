"""Reading a user's TOML file (a layer configuration, a sweep file) with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bnnc.errors import BnncError


def read_toml(path: str | Path, what: str, error: type[BnncError] = BnncError) -> dict[str, Any]:
    """The TOML document at ``path``, or an ``error`` naming the file, ``what`` it is ("sweep
    file", "layer configuration") and the problem."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start}); a {what} is TOML") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: TOML syntax error: {' '.join(str(e).split())}") from None
