"""``BatchNormalization`` (inference)."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir.dialects import bnn

from .context import Context, NotMappable, attrs
from .registry import converter


@converter("BatchNormalization")
def batchnorm(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``BatchNormalization`` in inference mode, ``(x − mean) / sqrt(var + epsilon) · scale
    + B`` per channel (axis 1), with constant parameters → ``bnn.batchnorm`` (float32; the
    fusion pass later folds it with a following binarizer into comparator thresholds).
    Leaves training mode and non-constant parameters to the host."""
    attributes = attrs(node)
    if attributes.get("training_mode", 0):
        raise NotMappable("BatchNormalization in training mode")
    params = [ctx.require_const(node, i, what).astype(np.float32) for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))]
    x = ctx.value(node.input[0])
    consts = [ctx.add_const(f"{node.name}.{n}", p) for n, p in zip(("scale", "bias", "mean", "var"), params)]
    op = ctx.emit(bnn.BatchNorm, [x], consts, {"epsilon": float(np.float32(attributes.get("epsilon", 1e-5)))}, ctx.loc(node))
    ctx.define(node, op.result)
