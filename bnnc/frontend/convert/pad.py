"""``Pad``: constant spatial padding of binarized activations, merged into the binary convs that
read it (Larq's ``pad_values``)."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Domain, Value

from .context import Context, NotMappable, Padded, attrs
from .registry import converter

FIX = "pad binarized activations on the spatial axes only, with 0, +1 or -1, right before a binary Conv"


@converter("Pad")
def pad(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Pad`` in ``constant`` mode (pads and value as attributes before opset 11, as the
    inputs ``pads``, ``constant_value`` and, from opset 18, ``axes`` after) of a ±1 or ternary
    NCHW tensor, on the spatial axes only, with the value 0 or ±1, read only by ``Conv`` nodes
    as their input → a :class:`~.context.Padded` tensor: each conv takes the pads as its own.
    Leaves every other ``Pad`` (reflect, edge or wrap mode, another value, pads on the batch or
    channel axis, negative pads, a padded tensor that something else reads) to the host."""
    attributes = attrs(node)
    mode = attributes.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise NotMappable(f"Pad in mode '{mode}' has no crossbar mapping", FIX)
    x = ctx.tensor(node.input[0])
    if not (isinstance(x, Value) and x.type.domain in (Domain.PM1, Domain.TERN) and x.type.rank == 4):
        raise NotMappable("it pads something other than binarized NCHW activations")
    begin, end, value = _pads_and_value(ctx, node, attributes, x.type.rank)
    if begin[:2] != [0, 0] or end[:2] != [0, 0] or min(begin + end) < 0:
        raise NotMappable(f"Pad with pads {begin + end}: only non-negative pads of the spatial axes map onto a conv", FIX)
    if value not in (-1.0, 0.0, 1.0):
        raise NotMappable(f"Pad with value {value} of ±1 values: only 0 or ±1 map onto a binary conv", FIX)
    output = node.output[0]
    readers = [(r, [ctx.g.resolve(i) for i in r.input]) for r in ctx.consumers.get(output, [])]
    if output in {ctx.g.resolve(o) for o in ctx.g.outputs} or any(
        r.op_type != "Conv" or inputs.count(output) != 1 or inputs[0] != output for r, inputs in readers
    ):
        raise NotMappable("the padded tensor is a graph output or read by something other than a Conv (as its input)", FIX)
    ctx.define(node, Padded(x, (begin[2], begin[3], end[2], end[3]), int(value), node))


def _pads_and_value(ctx: Context, node: onnx.NodeProto, attributes: dict, rank: int) -> tuple[list[int], list[int], float]:
    """Per axis the pads at the beginning and at the end, and the pad value."""
    if "pads" in attributes:  # opset < 11
        pads, value = np.asarray(attributes["pads"]), float(attributes.get("value", 0.0))
        axes = list(range(rank))
    else:
        pads = ctx.require_const(node, 1, "pads")
        given = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(())
        axes_given = ctx.const(node.input[3]) if len(node.input) > 3 and node.input[3] else np.arange(rank)
        if given is None or axes_given is None:
            raise NotMappable("its constant value or axes are not constants")
        value = float(np.asarray(given).reshape(-1)[0])
        axes = [int(a) % rank for a in np.asarray(axes_given).reshape(-1)]
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise NotMappable(f"Pad with {len(pads)} pads for {len(axes)} axes")
    begin, end = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        begin[axis], end[axis] = pads[i], pads[i + len(axes)]
    return begin, end, value
