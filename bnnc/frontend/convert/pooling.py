"""``MaxPool``."""

from __future__ import annotations

import onnx

from bnnc.ir.dialects import bnn
from bnnc.ir.shapes import window_output_shape

from .context import Context, NotMappable, attrs
from .registry import converter
from .window import window_pads


@converter("MaxPool")
def maxpool(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``MaxPool`` over NCHW (2-D windows, strides, dilations, explicit or ``auto_pad``
    padding) → ``bnn.maxpool``. Leaves an indices output, other ranks and a ``ceil_mode`` that
    changes the output size (or a window that does not fit the input) to the host."""
    attributes = attrs(node)
    if len(node.output) > 1 and node.output[1]:
        raise NotMappable("MaxPool with an indices output")
    x = ctx.value(node.input[0])
    if x.type.rank != 4:
        raise NotMappable("only 2-D max pooling is supported")
    kernel = tuple(attributes["kernel_shape"])
    strides = tuple(attributes.get("strides", (1, 1)))
    dilations = tuple(attributes.get("dilations", (1, 1)))
    pads = window_pads(attributes, x.type.shape[2:], kernel, strides, dilations)
    window = {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dilations}
    try:
        size = window_output_shape(*x.type.shape[2:], kernel, strides, pads, dilations)
    except ValueError as e:  # e.g. a window larger than the input, which ceil_mode may still accept
        raise NotMappable(str(e)) from None
    if x.type.shape[:2] + size != ctx.g.shapes[node.output[0]]:
        raise NotMappable("MaxPool with ceil_mode changing the output size")
    ctx.define(node, ctx.emit(bnn.MaxPool, [x], [], window, ctx.loc(node)).result)
