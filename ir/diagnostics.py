"""Errors the IR layer reports: parse errors with a position, verifier errors with a location."""

from __future__ import annotations

import re

from .location import Location

# C0 and C1 controls (newline, carriage return, ANSI escape, ...), DEL and the bidirectional
# overrides, which could split a message or restyle the terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1: ``1 array``, ``2 arrays``."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def printable(text: str, limit: int = 200) -> str:
    """``text`` (e.g. a name from a model) safe inside a one-line message: control characters
    escaped as ``\\n``, ``\\x1b``, ... and at most ``limit`` characters, an ellipsis marking a cut."""
    escaped = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


class BnncError(Exception):
    """An error in the user's input (model, IR file, options, hardware file) with a one-line
    message that says what was expected and what to do; every layer raises subclasses of it
    (re-exported as ``bnnc.BnncError``). The CLI prints it and exits with :attr:`exit_code`."""

    exit_code = 2


class IRError(BnncError):
    """Base class of every error the IR layer raises on bad input."""


class ParseError(IRError):
    """A syntax or semantic error in textual IR, printed as ``file:line:col: error: message``
    followed by the offending source line and a caret under the column."""

    def __init__(self, message: str, filename: str, line: int, column: int, source_line: str = ""):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.filename}:{self.line}:{self.column}: error: {self.message}"
        if not self.source_line:
            return head
        caret = " " * (self.column - 1) + "^"
        return f"{head}\n{self.source_line}\n{caret}"


class OpDiagnostic(Exception):
    """An error about one op: the message, the op's name, the ONNX node(s) it came from and,
    for parsed IR, where it was written (file, line, column)."""

    def __init__(
        self,
        message: str,
        op_name: str | None = None,
        location: Location | None = None,
        source: tuple[str, int, int] | None = None,
    ):
        self.message = message
        self.op_name = op_name
        self.location = location
        self.source = source
        super().__init__(str(self))

    @classmethod
    def at(cls, op, message: str) -> OpDiagnostic:
        """The error ``message`` about ``op``."""
        return cls(message, op.name, op.location, op.source)


class VerifyError(IRError, OpDiagnostic):
    """An IR invariant that does not hold, naming the op and the ONNX node it came from."""

    def __str__(self) -> str:
        where = []
        if self.op_name:
            where.append(f"'{self.op_name}'")
        if self.location is not None and self.location.known:
            where.append(f"at {self.location.describe()}")
        prefix = "verification failed" + (f" for {' '.join(where)}" if where else "")
        if self.source is not None:
            filename, line, column = self.source
            prefix = f"{filename}:{line}:{column}: error: {prefix}"
        return f"{prefix}: {self.message}"
