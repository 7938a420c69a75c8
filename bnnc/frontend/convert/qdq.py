"""``QuantizeLinear`` and ``DequantizeLinear``: 8-bit input codes (onnxruntime QDQ exports)."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Domain, Value
from bnnc.ir.dialects import bnn

from .context import Affine, Context, NotMappable, attrs, scalar
from .registry import converter


@converter("QuantizeLinear")
def quantize_linear(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``QuantizeLinear`` ``saturate(round(x / scale) + zero_point)`` (half to even,
    per tensor, uint8 or int8 by the zero point's type) → ``bnn.input_quant`` with 8 bits.
    Leaves per-axis quantization, non-constant parameters and quantization downstream of a
    binary layer to the host."""
    attributes = attrs(node)
    scale = ctx.require_const(node, 1, "scale").astype(np.float32)
    zero = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
    if zero is None:
        raise NotMappable("its zero point is not a constant")
    if scale.size != 1 or attributes.get("saturate", 1) != 1:
        raise NotMappable("only per-tensor QuantizeLinear is supported")
    x = ctx.value(node.input[0])
    if ctx.downstream_of_layer(x):
        raise NotMappable("it quantizes activations between layers to 8 bits", "use binary activations between layers")
    signed = zero.dtype == np.int8
    q_attrs = {"bits": 8, "signed": bool(signed), "zp_after_round": True}
    consts = [ctx.add_const(f"{node.name}.scale", scale), ctx.add_const(f"{node.name}.zero_point", zero.astype(np.float32))]
    ctx.define(node, ctx.emit(bnn.InputQuant, [x], consts, q_attrs, ctx.loc(node)).result)


@converter("DequantizeLinear")
def dequantize_linear(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``DequantizeLinear`` ``(q − zero_point) · scale`` of 8-bit codes, per tensor → pending
    affine steps (``sub``, ``mul``) on the codes, applied to the next binary layer's integer
    sum; no op is emitted. Leaves other inputs, per-axis parameters and non-constant
    parameters to the host."""
    scale = ctx.require_const(node, 1, "scale").astype(np.float32)
    zero = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.float32)
    codes = ctx.tensor(node.input[0])
    if zero is None or not isinstance(codes, Value) or codes.type.domain not in (Domain.U8, Domain.I8):
        raise NotMappable("DequantizeLinear of something other than 8-bit codes")
    s, z = scalar(scale), scalar(zero)
    if scale.size != 1 or zero.size > 1 or s is None or z is None:
        raise NotMappable("only per-tensor DequantizeLinear is supported")
    steps: tuple = ((("sub", z, False, node.name),) if z != 0 else ()) + ((("mul", s, False, node.name),) if s != 1 else ())
    ctx.define(node, Affine(codes, steps) if steps else codes)
