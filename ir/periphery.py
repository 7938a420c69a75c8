"""The digital periphery: the work of every op of a mapped program that runs neither on the
arrays nor on the host — BatchNorm, residual adds, scalings, binarizers on real values,
pooling of real values — counted per inference by functional unit, and grouped into the
*digital block* behind the crossbar layer whose results it works on.

Units: ``fp_add`` and ``fp_mul`` (float32, as onnxruntime computes these ops: the exactness
contract), ``int_add`` (32-bit integer add), ``compare`` (32-bit compare or max). Wiring
(reshapes, transposes, domain conversions, bit-plane encoding and decoding, slices and
concatenations of bits) costs nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import Function, Operation, Return, Value
from .diagnostics import BnncError
from .dialects import bnn, host, xbar
from .types import Domain

UNITS = ("fp_add", "fp_mul", "int_add", "compare")

WIRING = (bnn.Reshape, bnn.Transpose, bnn.Convert, bnn.Concat, xbar.Planes, xbar.Decode, xbar.Slice, xbar.Concat, Return)
"""Ops that only route values: no digital work."""

ON_ARRAYS = (xbar.Window, xbar.Mvm, xbar.Adc, xbar.Accumulate, xbar.Compare, xbar.Readout, xbar.PoolBits)
"""Ops a crossbar layer's cost already covers (line buffer, reads, ADCs, accumulation, sensing,
bit pooling)."""


def _elements(value: Value) -> int:
    return math.prod(value.type.shape)


def _real(op: Operation) -> bool:
    return any(v.type.domain is Domain.F32 for v in [*op.operands, op.result])


def _adds(op: Operation, count: int) -> dict[str, int]:
    return {"fp_add" if _real(op) else "int_add": count}


def _window_taps(op: Operation) -> int:
    kh, kw = op.attr("kernel")
    return kh * kw


def _binary_macs(op: Operation) -> int:
    w = op.const_type("weight").shape
    return _elements(op.result) * math.prod(w[1:])


WORK: dict[type[Operation], Callable[[Operation], dict[str, int]]] = {
    bnn.Conv: lambda op: {"int_add": _binary_macs(op)},
    bnn.Dense: lambda op: {"int_add": _binary_macs(op)},
    bnn.BatchNorm: lambda op: {"fp_mul": _elements(op.result), "fp_add": _elements(op.result)},
    bnn.Add: lambda op: _adds(op, _elements(op.result)),
    bnn.Sub: lambda op: _adds(op, _elements(op.result)),
    bnn.Mul: lambda op: {"fp_mul" if _real(op) else "int_add": _elements(op.result)},
    bnn.Div: lambda op: {"fp_mul": _elements(op.result)},
    bnn.AddTensors: lambda op: _adds(op, _elements(op.result)),
    bnn.SubTensors: lambda op: _adds(op, _elements(op.result)),
    bnn.MulTensors: lambda op: {"fp_mul": _elements(op.result)},
    bnn.PRelu: lambda op: {"compare": _elements(op.result), "fp_mul": _elements(op.result)},
    bnn.Sign: lambda op: {"compare": _elements(op.result) * (1 if op.result.type.domain is Domain.PM1 else 2)},
    bnn.Threshold: lambda op: {"compare": _elements(op.result) * op.const_type("thresholds").shape[1]},
    bnn.Compare: lambda op: {"compare": _elements(op.result) * op.const_type("thresholds").shape[2]},
    bnn.MaxPool: lambda op: {"compare": _elements(op.result) * (_window_taps(op) - 1)},
    bnn.Pool: lambda op: {"compare": _elements(op.result) * (_window_taps(op) - 1)},
    bnn.InputQuant: lambda op: {"fp_mul": _elements(op.result), "fp_add": _elements(op.result), "compare": 2 * _elements(op.result)},
}
"""Per-inference work of each digital op, by unit (a division counts as a multiplication by
the reciprocal's cost; a ternary sign as two compares; a k×k pool as k² − 1 compares; a binary
layer a pipeline left unmapped, one integer add per ±1 product)."""


def op_work(op: Operation) -> dict[str, int]:
    """The operations one digital op (or periphery host partition) performs per inference."""
    if isinstance(op, host.OnnxSubgraph):
        return dict(zip(UNITS, op.attr("work")))
    return WORK[type(op)](op)


def is_digital(op: Operation) -> bool:
    """Whether ``op`` is work of the digital periphery (not wiring, arrays or host)."""
    if isinstance(op, host.OnnxSubgraph):
        return bool(op.attr("periphery"))
    return not isinstance(op, WIRING + ON_ARRAYS)


@dataclass
class DigitalBlock:
    """The digital ops working on one crossbar layer's results (``after``; ``None`` for work on
    the network input before the first layer), in program order."""

    after: str | None
    ops: list[Operation] = field(default_factory=list)

    @property
    def name(self) -> str:
        names: list[str] = []
        for op in self.ops:
            names.extend(n for n in op.location.names if n not in names)
        return ", ".join(names) or "digital"

    def work(self) -> dict[str, int]:
        """Operations per inference by unit."""
        total = dict.fromkeys(UNITS, 0)
        for op in self.ops:
            for unit, count in op_work(op).items():
                total[unit] += count
        return total

    @property
    def positions(self) -> int:
        """Spatial positions of the block's widest result (the work is spread over them)."""
        return max((math.prod(r.type.shape[2:]) for op in self.ops for r in op.results), default=1)


def digital_blocks(function: Function, sensing_owner: dict[int, str]) -> list[DigitalBlock]:
    """The digital blocks of ``function``: each digital op joins the block of the latest
    crossbar layer whose sensing results reach it (``sensing_owner`` maps ``id`` of sensing ops
    to their layer); ops on the network input alone form the block ``after=None``. Raises
    :class:`BnncError` for an op that is neither wiring, nor on the arrays, nor host, nor known
    digital work."""
    order = {id(op): i for i, op in enumerate(function.ops)}
    owner_of: dict[int, tuple[int, str] | None] = {}
    blocks: dict[str | None, DigitalBlock] = {}
    for op in function.ops:
        sources = [owner_of.get(id(v.producer)) for v in op.operands if v.producer is not None]
        if id(op) in sensing_owner:
            owner_of[id(op)] = (order[id(op)], sensing_owner[id(op)])
            continue
        known = [s for s in sources if s is not None]
        owner_of[id(op)] = max(known) if known else None
        if not is_digital(op):
            continue
        if type(op) not in WORK and not isinstance(op, host.OnnxSubgraph):
            raise BnncError(f"{op.name} at {op.location.describe()} has no digital periphery model: the report cannot cost it")
        after = owner_of[id(op)][1] if owner_of[id(op)] is not None else None
        blocks.setdefault(after, DigitalBlock(after)).ops.append(op)
    return list(blocks.values())
