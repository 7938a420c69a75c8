"""``Clip`` before a binarizer (``nn.Hardtanh`` in BinaryNet), which the binarizer makes moot."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from .context import Context, NotMappable, Staircase, attrs
from .registry import converter

SIGN_TRANSPARENT = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Clip"}
"""Ops through which a sign-preserving ``Clip`` may reach a ``Sign``."""


@converter("Clip")
def clip(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Clip(x, lo, hi)`` with constant ``lo < 0 < hi`` (``nn.Hardtanh`` before a
    binarizer, as in BinaryNet) keeps the sign of every value, and it commutes with max pooling
    and shape ops. Where its result only ever reaches ``Sign`` nodes, it is dropped (no op):
    ``Sign(Clip(x))`` equals ``Sign(x)``, zeros included. A clip to finite bounds whose result
    only reaches ``Round`` through order-keeping scalar steps is a pending
    :class:`~.context.Staircase` (DoReFa's k-bit activation). Leaves every other clip to the host."""
    attributes = attrs(node)
    bounds = []
    for index, name, default in ((1, "min", -np.inf), (2, "max", np.inf)):
        if len(node.input) > index and node.input[index]:
            value = ctx.const(node.input[index])
            if value is None or value.size != 1:
                raise NotMappable(f"its {name} bound is not a constant scalar")
            bounds.append(float(value.reshape(-1)[0]))
        else:
            bounds.append(float(attributes.get(name, default)))
    lo, hi = bounds
    if np.isfinite(lo) and np.isfinite(hi) and lo < hi and only_rounds_read(ctx, node.output[0]):
        ctx.value(node.input[0])
        ctx.define(node, Staircase(ctx.g.resolve(node.input[0]), (node,)))
        return
    if not lo < 0.0 < hi:
        raise NotMappable(f"Clip to [{lo:g}, {hi:g}] changes signs (only a clip with min < 0 < max is dropped before Sign)")
    if not _only_signs_read(ctx, node.output[0]):
        raise NotMappable("its clipped values are used other than by Sign")
    ctx.define(node, ctx.tensor(node.input[0]))


def _uses_end_in(ctx: Context, name: str, end: str, passes: Callable[[onnx.NodeProto, str], bool]) -> bool:
    """Whether every use of tensor ``name`` ends in an ``end`` node, passing only through
    standard-domain nodes that read the tensor where ``passes(node, tensor)`` holds; a graph
    output, or a tensor nothing reads, does not qualify."""
    graph_outputs = {ctx.g.resolve(o) for o in ctx.g.outputs}
    stack, seen = [name], set()
    while stack:
        tensor = stack.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        consumers = ctx.consumers.get(tensor, [])
        if tensor in graph_outputs or not consumers:
            return False
        for consumer in consumers:
            if consumer.domain not in ("", "ai.onnx"):
                return False
            if consumer.op_type == end:
                continue
            if not passes(consumer, tensor):
                return False
            stack.append(consumer.output[0])
    return True


def _only_signs_read(ctx: Context, name: str) -> bool:
    """Whether every use of tensor ``name`` ends in a ``Sign``, passing only through ops that
    preserve the sign of each value and commute with a sign-preserving clip (max pooling,
    shape ops, further sign-preserving clips)."""

    def passes(node: onnx.NodeProto, tensor: str) -> bool:
        if node.op_type not in SIGN_TRANSPARENT or ctx.g.resolve(node.input[0]) != tensor:
            return False
        return not (node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1])

    return _uses_end_in(ctx, name, "Sign", passes)


ORDER_KEEPING = {"Add", "Sub", "Mul", "Div"}


def only_rounds_read(ctx: Context, name: str) -> bool:
    """Whether every use of tensor ``name`` ends in a ``Round``, passing only through scalar
    steps that keep the order (``+ c``, ``x − c``, ``· c`` and ``x / c`` with ``c > 0``)."""
    return _uses_end_in(ctx, name, "Round", lambda node, tensor: node.op_type in ORDER_KEEPING
                        and order_keeping_step(ctx, node, tensor) is not None)


def order_keeping_step(ctx: Context, node: onnx.NodeProto, tensor: str) -> float | None:
    """The scalar constant of ``node`` (``Add``/``Sub``/``Mul``/``Div`` of ``tensor``) where the
    step keeps the order of ``tensor``'s values, else None."""
    names = [ctx.g.resolve(i) for i in node.input]
    if tensor not in names or names.count(tensor) != 1:
        return None
    other = ctx.const(node.input[1 - names.index(tensor)])
    if other is None or other.size != 1:
        return None
    c = float(other.reshape(-1)[0])
    tensor_first = names.index(tensor) == 0
    if node.op_type in ("Sub", "Div") and not tensor_first:
        return None
    if node.op_type in ("Mul", "Div") and not c > 0:
        return None
    return c if np.isfinite(c) else None
