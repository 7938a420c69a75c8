"""``Gemm`` and ``MatMul``: binary fully connected layers."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir.dialects import bnn

from .context import Context, NotMappable, attrs
from .layer import binary_weights, finish_layer, layer_input
from .registry import converter


@converter("Gemm")
def gemm(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Gemm`` ``alpha · A · B' + beta · C`` (``transA = 0``, ``B'`` = ``B`` or ``Bᵀ`` by
    ``transB``) with a constant ±1 (or ±α per output feature) ``B`` on ``[N, K]`` binarized or
    integer codes → ``bnn.dense``, the input's affine steps applied to the sum, ``bnn.mul`` by
    α and by ``alpha``, ``bnn.add`` of ``beta · C``. Leaves ``transA = 1``, non-constant or
    non-binary weights, a non-constant bias and real-valued inputs to the host."""
    attributes = attrs(node)
    if attributes.get("transA", 0):
        raise NotMappable("transA=1 is not supported")
    b = ctx.require_const(node, 1, "weight")
    weight = b if attributes.get("transB", 0) else b.T
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = ctx.require_const(node, 2, "bias").astype(np.float32) * np.float32(attributes.get("beta", 1.0))
    _dense(ctx, node, weight, bias, float(attributes.get("alpha", 1.0)))


@converter("MatMul")
def matmul(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``MatMul`` ``A · B`` with a constant rank-2 ±1 (or ±α per column) ``B`` ``[K, M]`` on
    ``[N, K]`` binarized or integer codes → ``bnn.dense`` with the input's affine steps and α
    applied to the sum. Leaves other ranks, non-constant or non-binary weights and
    real-valued inputs to the host."""
    b = ctx.require_const(node, 1, "weight")
    if b.ndim != 2:
        raise NotMappable(f"its weight has rank {b.ndim}, expected [K, M]")
    _dense(ctx, node, b.T, None)


def _dense(ctx: Context, node: onnx.NodeProto, weight_mk: np.ndarray, bias: np.ndarray | None, alpha: float = 1.0) -> None:
    """``bnn.dense`` of the ``[M, K]`` weights on input 0, then the input's steps, α, ``alpha`` and ``bias``."""
    shape = ctx.g.shapes[ctx.g.resolve(node.input[0])]
    if len(shape) != 2:
        raise NotMappable(f"its input has rank {len(shape)}, expected [N, K]")
    x = layer_input(ctx, node)
    w = binary_weights(weight_mk)
    symbol = ctx.add_const(f"{node.name}.weight", w.signs, w.domain)
    total = ctx.emit(bnn.Dense, [x.codes], [symbol], {}, ctx.loc(node)).result
    value = finish_layer(ctx, node, total, x, lambda: w.signs.sum(axis=1, dtype=np.int64).astype(np.float32)[None, :], w, (1, -1))
    if alpha != 1.0:
        value = ctx.emit(bnn.Mul, [value], [ctx.add_const(f"{node.name}.gemm_alpha", np.float32(alpha))], {}, ctx.loc(node)).result
    if bias is not None:
        value = ctx.emit(bnn.Add, [value], [ctx.add_const(f"{node.name}.bias", bias.astype(np.float32))], {}, ctx.loc(node)).result
    ctx.define(node, value)
