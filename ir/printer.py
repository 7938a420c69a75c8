"""The deterministic textual form of the IR.

Function arguments print as ``%arg0, %arg1, …`` and op results as ``%0, %1, …`` in order of
definition; attributes equal to their declared default are left out; constants with at most
``inline_limit`` elements print inline as ``dense<[…]>``, larger ones as a bare declaration
whose data lives in the ``.npz`` beside the text. Floats print as the shortest decimal that
reads back to the same value, so ``parse(print(m))`` prints identically.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

from .attributes import AttrValue
from .core import Constant, Function, Module, Operation, Return, Value
from .types import Domain

DEFAULT_INLINE_LIMIT = 16
"""Constants with at most this many elements print inline."""

_BARE_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*\Z")


def quote(text: str) -> str:
    """A double-quoted string literal (JSON escapes)."""
    return json.dumps(text)


def symbol(name: str) -> str:
    """``@name``, quoted when the name is not a plain identifier (ONNX names often are not)."""
    return "@" + (name if _BARE_SYMBOL.match(name) else quote(name))


def format_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


def format_attr(value: AttrValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format_float(float(value))
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    raise TypeError(f"cannot print attribute value {value!r}")


def format_attr_dict(attributes: dict[str, AttrValue]) -> str:
    return "{" + ", ".join(f"{k} = {format_attr(v)}" for k, v in attributes.items()) + "}"


def format_dense(constant: Constant) -> str:
    flat = constant.data.reshape(-1)
    if constant.type.domain is Domain.F32:
        items = (format_float(float(v)) for v in flat)
    else:
        items = (str(int(v)) for v in flat.tolist())
    return "dense<[" + ", ".join(items) + "]>"


class _Namer:
    def __init__(self, function: Function):
        self.names: dict[int, str] = {id(a): f"%arg{i}" for i, a in enumerate(function.args)}
        self.counter = 0

    def define(self, value: Value) -> str:
        name = f"%{self.counter}"
        self.counter += 1
        self.names[id(value)] = name
        return name

    def __getitem__(self, value: Value) -> str:
        return self.names.get(id(value), "%<undefined>")


def _type_group(types: list) -> str:
    if len(types) == 1:
        return str(types[0])
    return "(" + ", ".join(map(str, types)) + ")"


def format_op(op: Operation, namer: _Namer) -> str:
    if isinstance(op, Return):
        text = "return"
        if op.operands:
            text += " " + ", ".join(namer[v] for v in op.operands)
            text += " : " + ", ".join(str(v.type) for v in op.operands)
    else:
        operands = [namer[v] for v in op.operands] + [symbol(s) for s in op.consts]
        results = [namer.define(r) for r in op.results]
        text = (", ".join(results) + " = " if results else "") + op.name
        if operands:
            text += " " + ", ".join(operands)
        defaults = {a.name: a.default for a in op.attr_defs if not a.required}
        # compared as printed, so that -0.0 is not taken for a default of 0.0
        shown = {k: v for k, v in op.attributes.items() if k not in defaults or format_attr(defaults[k]) != format_attr(v)}
        if shown:
            text += " " + format_attr_dict(shown)
        text += " : " + _type_group([v.type for v in op.operands])
        text += " -> " + _type_group([v.type for v in op.results])
    if op.location.known:
        text += f" {op.location}"
    return text


def print_function(function: Function, indent: str = "  ") -> str:
    namer = _Namer(function)
    args = ", ".join(f"{namer[a]}: {a.type}" for a in function.args)
    results = ", ".join(str(v.type) for v in function.return_op.operands) if function.ops else ""
    head = f"{indent}func {symbol(function.name)}({args}) -> ({results})"
    if function.attributes:
        head += " attributes " + format_attr_dict(function.attributes)
    lines = [head + " {"]
    lines.extend(f"{indent}  {format_op(op, namer)}" for op in function.ops)
    lines.append(indent + "}")
    return "\n".join(lines)


def print_module(module: Module, inline_limit: int = DEFAULT_INLINE_LIMIT) -> str:
    """The module as text; constants larger than ``inline_limit`` elements are declared only."""
    head = "module"
    if module.name:
        head += " " + symbol(module.name)
    if module.attributes:
        head += " attributes " + format_attr_dict(module.attributes)
    lines = [head + " {"]
    for name, constant in module.constants.items():
        decl = f"  const {symbol(name)} : {constant.type}"
        if constant.type.size <= inline_limit:
            decl += " = " + format_dense(constant)
        lines.append(decl)
    for function in module.functions:
        if len(lines) > 1:
            lines.append("")
        lines.append(print_function(function))
    lines.append("}")
    return "\n".join(lines) + "\n"


def external_constants(module: Module, inline_limit: int = DEFAULT_INLINE_LIMIT) -> dict[str, np.ndarray]:
    """The constants :func:`print_module` does not print inline: what the ``.npz`` must hold."""
    return {n: c.data for n, c in module.constants.items() if c.type.size > inline_limit}


def structurally_equal(a: Module, b: Module) -> bool:
    """Equality of everything the textual form carries, constants' data included."""
    if print_module(a, inline_limit=-1) != print_module(b, inline_limit=-1):
        return False
    return all(
        np.array_equal(c.data, b.constants[s].data, equal_nan=c.type.domain is Domain.F32)
        for s, c in a.constants.items()
    )
