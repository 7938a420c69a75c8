"""``Cast``."""

from __future__ import annotations

from dataclasses import replace

import onnx
from onnx import TensorProto

from .comparisons import emit_predicate
from .context import Context, NotMappable, Predicate, attrs
from .registry import converter


@converter("Cast")
def cast(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Cast`` to float32 of any converted tensor → no op: every bnn value (and every
    pending affine step on codes) converts to float32 exactly, so the output is the input. A
    cast of a pending comparison is ``p ? 1 : 0`` (:func:`~.comparisons.emit_predicate`; an
    exporter's straight-through sign ``2 · Cast(x ≥ 0) − 1`` then folds its affine steps into
    the threshold); a cast of one to bool is the same comparison. Leaves casts to other types to
    the host."""
    to = attrs(node).get("to")
    tensor = ctx.tensor(node.input[0])
    if to == TensorProto.BOOL and isinstance(tensor, Predicate):
        ctx.define(node, replace(tensor, nodes=tensor.nodes + (node,)))
        return
    if to != TensorProto.FLOAT:
        raise NotMappable(f"Cast to {TensorProto.DataType.Name(to)} is not supported")
    if isinstance(tensor, Predicate):
        emit_predicate(ctx, node, tensor, 1.0, 0.0)
        return
    ctx.define(node, tensor)  # every bnn value converts to float32 exactly
