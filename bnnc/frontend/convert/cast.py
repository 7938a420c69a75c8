"""``Cast``."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from .context import Context, NotMappable, Predicate, attrs
from .registry import converter


@converter("Cast")
def cast(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Cast`` to float32 of any converted tensor → no op: every bnn value (and every
    pending affine step on codes) converts to float32 exactly, so the output is the input.
    Leaves casts to other types and casts of a boolean comparison to the host."""
    to = attrs(node).get("to")
    tensor = ctx.tensor(node.input[0])
    if to != TensorProto.FLOAT:
        raise NotMappable(f"Cast to {TensorProto.DataType.Name(to)} is not supported")
    if isinstance(tensor, Predicate):
        raise NotMappable("Cast of a boolean comparison")
    ctx.define(node, tensor)  # every bnn value converts to float32 exactly
