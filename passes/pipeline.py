"""Pipeline strings: ``fuse-bn-binarize,sign-convert{scheme=refcol},tile{rows=128,cols=128}``.

A pipeline is a comma-separated list of pass names, each optionally followed by options in
braces. Option keys are the pass's dataclass fields, written with ``-`` or ``_``; values are
coerced to the field's type (int, float, bool, str, or a ``Literal`` of choices).
"""

from __future__ import annotations

import re
import typing
from dataclasses import MISSING
from typing import Any, Literal

from bnnc.ir import BnncError
from bnnc.ir.diagnostics import caret_excerpt, printable

from .base import Pass, lookup_pass, option_type, registered_passes


class PipelineError(BnncError, ValueError):
    """A malformed pipeline string, or an unknown pass or option; names the column."""

    def __init__(self, message: str, text: str, column: int):
        self.message = message
        self.text = text
        self.column = column
        super().__init__(f"pipeline:1:{column}: error: {printable(message, 1000)}\n{caret_excerpt(text, column)}")


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)|(?P<punct>[{},=])|(?P<quoted>\"(?:[^\"\\]|\\.)*\")|(?P<bare>[^\s{},=]+))")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PipelineError(f"unexpected character {text[pos]!r}", text, pos + 1)
        kind = match.lastgroup or "bare"
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


def parse_pipeline(text: str) -> list[Pass]:
    """Build the passes a pipeline string names, with their options set."""
    tokens = _tokens(text)
    passes: list[Pass] = []
    i = 0

    def expect(kinds: tuple[str, ...], what: str) -> tuple[str, str, int]:
        nonlocal i
        if i >= len(tokens):
            raise PipelineError(f"expected {what}, found end of pipeline", text, len(text) + 1)
        token = tokens[i]
        if token[0] not in kinds and token[1] not in kinds:
            raise PipelineError(f"expected {what}, found {token[1]!r}", text, token[2])
        i += 1
        return token

    while i < len(tokens):
        _, name, column = expect(("name",), "a pass name")
        cls = lookup_pass(name)
        if cls is None:
            known = ", ".join(registered_passes())
            raise PipelineError(f"unknown pass '{name}' (known passes: {known})", text, column)
        options: dict[str, tuple[str, int]] = {}
        if i < len(tokens) and tokens[i][1] == "{":
            i += 1
            while True:
                _, key, key_column = expect(("name",), "an option name")
                expect(("=",), "'='")
                kind, value, value_column = expect(("name", "bare", "quoted"), "an option value")
                if kind == "quoted":
                    value = value[1:-1].encode().decode("unicode_escape")
                options[key] = (value, key_column)
                separator = expect((",", "}"), "',' or '}'")
                if separator[1] == "}":
                    break
        passes.append(instantiate(cls, options, text))
        if i < len(tokens):
            expect((",",), "',' between passes")
            if i >= len(tokens):
                raise PipelineError("expected a pass name after ','", text, len(text) + 1)
    return passes


def instantiate(cls: type[Pass], options: dict[str, tuple[str, int]], text: str = "") -> Pass:
    """Create ``cls`` with string-valued options coerced to the declared field types."""
    fields = {f.name: f for f in cls.options()}
    values: dict[str, Any] = {}
    for key, (raw, column) in options.items():
        field_name = key.replace("-", "_")
        if field_name not in fields:
            names = ", ".join(f.replace("_", "-") for f in fields) or "none"
            raise PipelineError(f"pass '{cls.name}' has no option '{key}' (options: {names})", text, column)
        try:
            values[field_name] = coerce_option(option_type(cls, fields[field_name]), raw)
        except ValueError as e:
            raise PipelineError(f"option '{key}' of pass '{cls.name}': {e}", text, column) from None
    missing = [n for n, f in fields.items() if n not in values and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise PipelineError(f"pass '{cls.name}' needs option(s) {', '.join(missing)}", text, 1)
    return cls(**values)


def coerce_option(annotation: Any, raw: str) -> Any:
    """Convert a pipeline option string to ``annotation`` (int, float, bool, str, Literal, X | None)."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}, got '{raw}'")
        return raw
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if raw in ("none", "None") and len(args) < len(typing.get_args(annotation)):
            return None
        return coerce_option(args[0], raw)
    if annotation is bool:
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got '{raw}'")
    if annotation is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got '{raw}'") from None
    if annotation is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got '{raw}'") from None
    return raw


def format_pipeline(passes: list[Pass]) -> str:
    """The pipeline string that builds ``passes`` again."""
    return ",".join(p.describe() for p in passes)
