"""Op attributes: declared, typed compile-time parameters of an op.

Values are plain Python objects: ``int``, ``float``, ``bool``, ``str`` and tuples of ints or
floats. Each op class declares its attributes with :class:`AttrDef`; the declaration checks and
coerces values (an ``int`` is accepted where a float is declared) and supplies defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AttrValue = int | float | bool | str | tuple


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Marks an attribute that has no default value."""


@dataclass(frozen=True)
class AttrDef:
    """An attribute declaration.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``ints``, ``floats``; ``choices``
    restricts a ``str`` attribute to an enumeration; ``length`` fixes the length of a list.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    length: int | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _COERCE:
            raise ValueError(f"unknown attribute kind {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value: Any) -> AttrValue:
        """Return ``value`` converted to this attribute's kind, or raise ``ValueError``."""
        coerced = _COERCE[self.kind](value)
        if self.choices and coerced not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, got {coerced!r}")
        if self.length is not None and len(coerced) != self.length:
            raise ValueError(f"must have {self.length} elements, got {len(coerced)}")
        return coerced


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | _np_integer()):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | _np_number()):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _ints(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of integers, got {value!r}")
    return tuple(_int(v) for v in value)


def _floats(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of numbers, got {value!r}")
    return tuple(_float(v) for v in value)


def _np_integer() -> type:
    import numpy as np

    return np.integer


def _np_number() -> type:
    import numpy as np

    return np.number


_COERCE = {"int": _int, "float": _float, "bool": _bool, "str": _str, "ints": _ints, "floats": _floats}
