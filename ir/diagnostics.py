"""Errors the IR layer reports: parse errors with a position, verifier errors with a location."""

from __future__ import annotations

import re

from .location import Location

# C0 and C1 controls (newline, carriage return, ANSI escape, ...), DEL, the line and paragraph
# separators, the bidirectional overrides and marks and the invisible format characters (zero
# width spaces and joiners, the byte-order mark), which could split a message, restyle the
# terminal or hide text.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1: ``1 array``, ``2 arrays``."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def printable(text: str | bytes, limit: int = 200) -> str:
    """``text`` (e.g. a name from a model) safe inside a one-line message: control characters
    escaped as ``\\n``, ``\\x1b``, ... and at most ``limit`` characters, an ellipsis marking a cut.
    Bytes (protobuf hands over a string field that is not UTF-8 as bytes) show invalid bytes
    as ``\\xb3``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    escaped = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def caret_excerpt(source_line: str, column: int, width: int = 160) -> str:
    """Two lines: ``source_line`` escaped like :func:`printable` (cut to about ``width``
    characters around the 1-based ``column``, an ellipsis marking each cut), and a caret under
    the character at ``column`` as it is shown."""
    shown = [_UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), c) for c in source_line]
    index = min(max(column - 1, 0), len(shown))
    at = sum(len(piece) for piece in shown[:index])
    text = "".join(shown)
    start = max(0, min(at - width // 2, len(text) - width))
    end = start + width
    head, tail = ("…" if start > 0 else ""), ("…" if end < len(text) else "")
    return f"{head}{text[start:end]}{tail}\n{' ' * (len(head) + at - start)}^"


class BnncError(Exception):
    """An error in the user's input (model, IR file, options, hardware file) with a one-line
    message that says what was expected and what to do; every layer raises subclasses of it
    (re-exported as ``bnnc.BnncError``). The CLI prints it and exits with :attr:`exit_code`."""

    exit_code = 2


class IRError(BnncError):
    """Base class of every error the IR layer raises on bad input."""


class ParseError(IRError):
    """A syntax or semantic error in textual IR, printed as ``file:line:col: error: message``
    followed by the offending source line (escaped, a long one cut around the column) and a
    caret under the column."""

    def __init__(self, message: str, filename: str, line: int, column: int, source_line: str = ""):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.filename}:{self.line}:{self.column}: error: {printable(self.message, 1000)}"
        if not self.source_line:
            return head
        return f"{head}\n{caret_excerpt(self.source_line, self.column)}"


class OpDiagnostic(Exception):
    """An error about one op: the message, the op's name, the ONNX node(s) it came from and,
    for parsed IR, where it was written (file, line, column), else the model file its module
    was compiled from (``model``, the module's ``source`` attribute)."""

    def __init__(
        self,
        message: str,
        op_name: str | None = None,
        location: Location | None = None,
        source: tuple[str, int, int] | None = None,
        model: str | None = None,
    ):
        self.message = message
        self.op_name = op_name
        self.location = location
        self.source = source
        self.model = model
        super().__init__(str(self))

    @classmethod
    def at(cls, op, message: str) -> OpDiagnostic:
        """The error ``message`` about ``op``."""
        function = op.parent
        module = function.parent if function is not None else None
        model = module.attributes.get("source") if module is not None and op.source is None else None
        return cls(message, op.name, op.location, op.source, model if isinstance(model, str) else None)

    def where(self, text: str) -> str:
        """``text`` prefixed with the model file, for an op of a compiled (not parsed) module."""
        return f"{self.model}: {text}" if self.model and self.source is None else text


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
        return self.where(f"{prefix}: {self.message}")
