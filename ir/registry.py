"""The op registry: maps textual op names (``bnn.conv``) to op classes.

Adding an op to a dialect is a class with declarations and ``@register_op``::

    @register_op
    class Negate(Operation):
        \"\"\"``y = -x`` elementwise.\"\"\"
        name = "bnn.negate"
        operand_defs = (OperandDef("input"),)
        result_defs = (ResultDef("output"),)
"""

from __future__ import annotations

from .core import Operation, Return

_OPS: dict[str, type[Operation]] = {Return.name: Return}


def register_op(cls: type[Operation]) -> type[Operation]:
    """Class decorator: make ``cls`` known to the parser and the tools under ``cls.name``."""
    if not cls.name or "." not in cls.name:
        raise ValueError(f"op class {cls.__name__} needs a name of the form 'dialect.op'")
    existing = _OPS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"op name {cls.name} is already registered by {existing.__qualname__}")
    _OPS[cls.name] = cls
    return cls


def lookup_op(name: str) -> type[Operation] | None:
    return _OPS.get(name)


def registered_ops() -> dict[str, type[Operation]]:
    """Every registered op, by name (a copy)."""
    return dict(_OPS)
