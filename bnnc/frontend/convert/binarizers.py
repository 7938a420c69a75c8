"""``Sign`` and QONNX ``BipolarQuant``: the binarizers, which differ at 0."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Value
from bnnc.ir.dialects import bnn

from ..standardize import QONNX_DOMAINS
from .context import Affine, Context, Tensor, scalar
from .registry import converter


@converter("Sign")
def sign(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Sign`` (−1, 0, +1; 0 ↦ 0) → ``bnn.sign {zero = "zero"}``, a ternary result.
    Leaves a sign of something the host computes to the host."""
    ctx.define(node, ctx.emit(bnn.Sign, [ctx.value(node.input[0])], [], {"zero": "zero"}, ctx.loc(node)).result)


@converter("BipolarQuant", domains=QONNX_DOMAINS)
def bipolar_quant(ctx: Context, node: onnx.NodeProto) -> None:
    """QONNX ``BipolarQuant(x, scale) = where(x ≥ 0, +1, −1) · scale`` (0 ↦ +1) →
    ``bnn.sign {zero = "pos"}`` times the scale: a scalar scale stays an affine step for the
    next layer, a per-element one becomes ``bnn.mul``. Leaves a non-constant scale to the host."""
    scale = ctx.require_const(node, 1, "scale")
    signs = ctx.emit(bnn.Sign, [ctx.value(node.input[0])], [], {"zero": "pos"}, ctx.loc(node)).result
    ctx.define(node, _scaled(ctx, node, signs, scale))


def _scaled(ctx: Context, node: onnx.NodeProto, codes: Value, scale: np.ndarray) -> Tensor:
    s = scalar(scale)
    if s == 1.0:
        return codes
    if s is not None:
        return Affine(codes, (("mul", s, False, node.name),))
    symbol = ctx.add_const(f"{node.name}.scale", scale.astype(np.float32))
    return ctx.emit(bnn.Mul, [codes], [symbol], {}, ctx.loc(node)).result
