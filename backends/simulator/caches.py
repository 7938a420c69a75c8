"""What the simulator derives from an op's constants (float32 cells, GEMM weights, fusion
plans, thresholds per window position), computed once per op and kept while the op's constant
operands refer to the same symbols and data versions (:attr:`bnnc.ir.Constant.version`) —
never keyed by ``id()``, which Python gives again to a new array once the old one is freed;
and what it derives from the IR's structure (execution plans), kept until an IR is edited."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from bnnc.ir import Operation, edit_count

from ..semantics.bnn import spatial_classes


ConstantKey = tuple[str, int]
"""A constant's symbol and its data's version (:attr:`bnnc.ir.Constant.version`)."""

Stamp = tuple[ConstantKey, ...]
"""The keys of an op's constant operands, in order."""

_PREPARED: weakref.WeakKeyDictionary[Operation, dict[Hashable, tuple[Stamp, Any]]] = weakref.WeakKeyDictionary()


_STRUCTURAL: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[int, Any]]] = weakref.WeakKeyDictionary()


def structural(owner: Any, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()`` — derived from the structure of the IR ``owner`` belongs to (ops, operands,
    uses, attributes, types), not from constants' data — computed once per owner and ``key``
    and kept until any IR is edited (:func:`~bnnc.ir.edit_count`)."""
    edits = edit_count()
    per_owner = _STRUCTURAL.setdefault(owner, {})
    cached = per_owner.get(key)
    if cached is not None and cached[0] == edits:
        return cached[1]
    value = build()
    per_owner[key] = (edits, value)
    return value


def prepared(op: Operation, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()`` — derived from ``op``'s constants (and what ``key`` names) — computed once
    per op and kept while its constant operands refer to the same symbols and versions."""
    stamp = tuple((symbol, op.module.constant(symbol).version) for symbol in op.consts)
    per_op = _PREPARED.setdefault(op, {})
    cached = per_op.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    value = build()
    per_op[key] = (stamp, value)
    return value


def thresholds_per_position(op: Operation, table: str) -> np.ndarray:
    """``T[:, classes[s]]`` (int64): each output column's thresholds ``[M, P, L]`` (or offsets
    ``[M, P]`` for a readout) at every window position."""

    def build() -> np.ndarray:
        t = op.const_array(table).astype(np.int64)
        return np.ascontiguousarray(t[:, spatial_classes(op.const_array("classes"))])

    return prepared(op, table, build)
