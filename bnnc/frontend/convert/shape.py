"""``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze`` and ``Transpose``: data movement."""

from __future__ import annotations

import onnx

from bnnc.ir.dialects import bnn

from .context import Affine, Context, NotMappable, Predicate, attrs
from .registry import converter


@converter("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze`` (row-major, so all are a change
    of the static shape) → ``bnn.reshape`` to the output's inferred shape; on codes with
    pending affine steps the steps carry over to the reshaped codes. Leaves the reshape of a
    boolean comparison to the host."""
    shape = ctx.g.shapes[node.output[0]]
    tensor = ctx.tensor(node.input[0])
    if isinstance(tensor, Predicate):
        raise NotMappable("reshape of a boolean comparison")
    if isinstance(tensor, Affine):
        codes = ctx.emit(bnn.Reshape, [tensor.codes], [], {"shape": shape}, ctx.loc(node)).result
        ctx.define(node, Affine(codes, tensor.steps))
        return
    ctx.define(node, ctx.emit(bnn.Reshape, [tensor], [], {"shape": shape}, ctx.loc(node)).result)


@converter("Transpose")
def transpose(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Transpose`` (``perm``, by default reversing the axes) → ``bnn.transpose``."""
    x = ctx.value(node.input[0])
    perm = attrs(node).get("perm", tuple(reversed(range(x.type.rank))))
    ctx.define(node, ctx.emit(bnn.Transpose, [x], [], {"perm": tuple(perm)}, ctx.loc(node)).result)
