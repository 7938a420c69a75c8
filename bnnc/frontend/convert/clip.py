"""``Clip`` before a binarizer (``nn.Hardtanh`` in BinaryNet), which the binarizer makes moot."""

from __future__ import annotations

import numpy as np
import onnx

from .context import Context, NotMappable, attrs
from .registry import converter

SIGN_TRANSPARENT = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Clip"}
"""Ops through which a sign-preserving ``Clip`` may reach a ``Sign``."""


@converter("Clip")
def clip(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Clip(x, lo, hi)`` with constant ``lo < 0 < hi`` (``nn.Hardtanh`` before a
    binarizer, as in BinaryNet) keeps the sign of every value, and it commutes with max pooling
    and shape ops. Where its result only ever reaches ``Sign`` nodes, it is dropped (no op):
    ``Sign(Clip(x))`` equals ``Sign(x)``, zeros included. Leaves every other clip to the host."""
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
    if not lo < 0.0 < hi:
        raise NotMappable(f"Clip to [{lo:g}, {hi:g}] changes signs (only a clip with min < 0 < max is dropped before Sign)")
    if not _only_signs_read(ctx, node.output[0]):
        raise NotMappable("its clipped values are used other than by Sign")
    ctx.define(node, ctx.tensor(node.input[0]))


def _only_signs_read(ctx: Context, name: str) -> bool:
    """Whether every use of tensor ``name`` ends in a ``Sign``, passing only through ops that
    preserve the sign of each value and commute with a sign-preserving clip (max pooling,
    shape ops, further sign-preserving clips); graph outputs do not qualify."""
    graph_outputs = {ctx.g.resolve(o) for o in ctx.g.outputs}
    stack, seen = [name], set()
    while stack:
        tensor = stack.pop()
        if tensor in seen:
            continue
        seen.add(tensor)
        if tensor in graph_outputs:
            return False
        for consumer in ctx.consumers.get(tensor, []):
            if consumer.domain not in ("", "ai.onnx"):
                return False
            if consumer.op_type == "Sign":
                continue
            if consumer.op_type not in SIGN_TRANSPARENT or ctx.g.resolve(consumer.input[0]) != tensor:
                return False
            if consumer.op_type == "MaxPool" and len(consumer.output) > 1 and consumer.output[1]:
                return False
            stack.append(consumer.output[0])
    return True
