"""The registry of reference semantics: one function per op, registered by op class (or op name)
with :func:`implements`, and :class:`InterpreterError`, the error semantics raise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bnnc.ir import Operation
from bnnc.ir.diagnostics import BnncError, OpDiagnostic

OpSemantics = Callable[[Operation, list[np.ndarray]], list[np.ndarray]]
"""An op's semantics: ``(op, operand arrays) -> result arrays``."""

_IMPLEMENTATIONS: dict[str, OpSemantics] = {}


class InterpreterError(BnncError, OpDiagnostic):
    """A program the interpreter cannot run (e.g. a sign of NaN that a model's constants
    produce), or an op whose result breaks its declared type. Names the op and the ONNX
    node(s) it came from whenever the failure belongs to an op."""

    def __str__(self) -> str:
        if self.op_name is None:
            return self.message
        where = f"'{self.op_name}' at {self.location.describe() if self.location else 'unknown location'}"
        if self.source is not None:
            filename, line, column = self.source
            where = f"{filename}:{line}:{column}: {where}"
        return self.where(f"{where}: {self.message}")


def _name_of(op: type[Operation] | str) -> str:
    return op if isinstance(op, str) else op.name


def implements(op: type[Operation] | str) -> Callable[[OpSemantics], OpSemantics]:
    """Decorator: register ``fn(op, args) -> results`` as the semantics of the op class ``op``
    (or of the op named ``op``). Registering a second function for one op is an error;
    registering the same function again (a module reloaded) is not."""
    op_name = _name_of(op)

    def register(fn: OpSemantics) -> OpSemantics:
        existing = _IMPLEMENTATIONS.get(op_name)
        same = existing is not None and (existing.__module__, existing.__qualname__) == (fn.__module__, fn.__qualname__)
        if existing is not None and not same:
            raise ValueError(f"op {op_name} already has interpreter semantics ({existing.__module__}.{existing.__qualname__})")
        _IMPLEMENTATIONS[op_name] = fn
        return fn

    return register


def semantics_of(op: type[Operation] | str) -> OpSemantics | None:
    """The registered semantics of the op class ``op`` (or of the op named ``op``), or None."""
    return _IMPLEMENTATIONS.get(_name_of(op))


def implemented_ops() -> list[str]:
    """The names of every op that has semantics, sorted."""
    return sorted(_IMPLEMENTATIONS)
