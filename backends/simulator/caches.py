"""What the simulator derives from an op's constants (float32 cells, GEMM weights, fusion
plans, thresholds per window position), computed once per op and kept while the op's constant
operands refer to the same symbols and data versions (:attr:`bnnc.ir.Constant.version`) —
never keyed by ``id()``, which Python gives again to a new array once the old one is freed
(and looked up again only after some constant changed, :func:`bnnc.ir.constant_edit_count`);
and what it derives from the IR's structure (execution plans), kept until an IR is edited."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

from bnnc.ir import Operation, constant_edit_count, edit_count

from ..semantics.bnn import spatial_classes


ConstantKey = tuple[str, int]
"""A constant's symbol and its data's version (:attr:`bnnc.ir.Constant.version`)."""

Stamp = tuple[ConstantKey, ...]
"""The keys of an op's constant operands (and of the other constants a value derives from), in order."""

_PREPARED: weakref.WeakKeyDictionary[Operation, dict[Hashable, tuple[int, Stamp, Any]]] = weakref.WeakKeyDictionary()
"""Per op and key: the :func:`~bnnc.ir.constant_edit_count` at which the stamp was last
confirmed, the stamp, and the derived value."""


_STRUCTURAL: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[int, Any]]] = weakref.WeakKeyDictionary()


def _entries(table: weakref.WeakKeyDictionary, owner: Any) -> dict:
    """``owner``'s entries in ``table`` (made empty on first use)."""
    entries = table.get(owner)
    if entries is None:
        entries = table[owner] = {}
    return entries


def structural(owner: Any, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()`` — derived from the structure of the IR ``owner`` belongs to (ops, operands,
    uses, attributes, types), not from constants' data — computed once per owner and ``key``
    and kept until any IR is edited (:func:`~bnnc.ir.edit_count`)."""
    edits = edit_count()
    per_owner = _entries(_STRUCTURAL, owner)
    cached = per_owner.get(key)
    if cached is not None and cached[0] == edits:
        return cached[1]
    value = build()
    per_owner[key] = (edits, value)
    return value


def prepared(op: Operation, key: Hashable, build: Callable[[], Any],
             also: Callable[[], Iterable[str]] = tuple) -> Any:
    """``build()`` — derived from ``op``'s constants, the constants of ``op``'s module that
    ``also()`` names, and what ``key`` names — computed once per op and key and kept while
    those symbols refer to the same versions (looked up only when some constant changed since
    they were last, :func:`~bnnc.ir.constant_edit_count`)."""
    edits = constant_edit_count()
    per_op = _entries(_PREPARED, op)
    cached = per_op.get(key)
    if cached is not None and cached[0] == edits:
        return cached[2]
    module = op.module
    stamp = tuple((symbol, module.constant(symbol).version) for symbol in (*op.consts, *also()))
    value = cached[2] if cached is not None and cached[1] == stamp else build()
    per_op[key] = (edits, stamp, value)
    return value


def thresholds_per_position(op: Operation, table: str) -> np.ndarray:
    """``T[:, classes[s]]`` (int64): each output column's thresholds ``[M, P, L]`` (or offsets
    ``[M, P]`` for a readout) at every window position."""

    def build() -> np.ndarray:
        t = op.const_array(table).astype(np.int64)
        return np.ascontiguousarray(t[:, spatial_classes(op.const_array("classes"))])

    return prepared(op, table, build)
