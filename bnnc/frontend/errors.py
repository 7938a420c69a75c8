"""Errors the ONNX frontend raises for models it cannot accept.

Every error renders as ONE line naming the file, the node, its op type and
domain, what was expected and what the user can do, for example::

    model.onnx: node 'Foo_3' (op XYZ, domain my.domain): expected a standard ONNX op or a known binarizer; re-export ...

Fields are plain attributes so that a caller that learns the file name later
(the loader) can fill in ``file`` before the message is shown.
"""

from __future__ import annotations

from bnnc.ir import BnncError
from bnnc.ir.diagnostics import printable

__all__ = ["FrontendError", "UnsupportedModelError", "InvalidModelError"]


class FrontendError(BnncError):
    """A model the frontend refuses, with a one-line, actionable message (the
    CLI reports it like every :class:`~bnnc.errors.BnncError`: exit code 2).

    ``node`` is the ONNX node name (or another label identifying it), ``op_type``
    and ``domain`` its operator; any of ``file``/``node``/``op_type``/``domain``
    may be unknown (``None``). ``expected`` says what bnnc needed to find and
    ``fix`` what the user can do about it.
    """

    def __init__(
        self,
        expected: str,
        fix: str,
        *,
        file: str | None = None,
        node: str | None = None,
        op_type: str | None = None,
        domain: str | None = None,
    ) -> None:
        super().__init__(expected, fix)
        self.file = file
        self.node = node
        self.op_type = op_type
        self.domain = domain
        self.expected = expected
        self.fix = fix

    def __str__(self) -> str:
        """One line: the model's own strings (node name, op type, domain, and any name in
        ``expected`` or ``fix``) with control characters escaped, names capped at 80 characters."""
        where = f"node '{printable(self.node, 80)}'" if self.node is not None else "model"
        details = []
        if self.op_type:
            details.append(f"op {printable(self.op_type, 80)}")
        if self.domain:
            details.append(f"domain {printable(self.domain, 80)}")
        if details:
            where += f" ({', '.join(details)})"
        prefix = f"{self.file}: " if self.file else ""
        return printable(f"{prefix}{where}: expected {self.expected}; {self.fix}", 2000)


class UnsupportedModelError(FrontendError):
    """A valid ONNX model that uses something bnnc cannot compile."""


class InvalidModelError(FrontendError):
    """A model that is malformed or inconsistent (not valid ONNX, or a custom op
    used against its own specification)."""
