"""``Relu``, ``LeakyRelu`` and ``PRelu``: the piecewise-linear activations between binary layers."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir.dialects import bnn

from .context import Context, NotMappable, attrs
from .registry import converter


@converter("Relu", "LeakyRelu", "PRelu")
def prelu(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Relu`` (slope 0), ``LeakyRelu(alpha)`` (slope ``alpha``, default 0.01) and
    ``PRelu(x, slope)`` with a constant slope that broadcasts to ``x`` → ``bnn.prelu`` (float32;
    fuse-bn-binarize folds it into a following sign's thresholds where the slope is ≥ 0).
    Leaves a non-constant slope, a slope that broadcasts ``x`` to a larger shape and
    non-float results to the host."""
    ctx.float_output(node)
    if node.op_type == "PRelu":
        slope = ctx.require_const(node, 1, "slope").astype(np.float32)
    else:
        slope = np.float32(attrs(node).get("alpha", 0.01) if node.op_type == "LeakyRelu" else 0.0)
    x = ctx.value(node.input[0])
    if ctx.g.shapes[node.output[0]] != x.type.shape:
        raise NotMappable("its slope broadcasts the input to a larger shape")
    while slope.ndim > x.type.rank:  # leading unit axes add nothing
        slope = slope.reshape(slope.shape[1:])
    symbol = ctx.add_const(f"{node.name}.slope", slope)
    ctx.define(node, ctx.emit(bnn.PRelu, [x], [symbol], {}, ctx.loc(node)).result)
