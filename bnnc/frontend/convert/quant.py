"""QONNX ``Quant`` and ``IntQuant``: binarizers at one bit, integer input codes up to 8 bits."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir.dialects import bnn

from ..standardize import QONNX_DOMAINS
from .context import Affine, Context, NotMappable, Tensor, attrs, scalar
from .registry import converter

ROUNDING = {"ROUND": "half_even", "FLOOR": "floor", "CEIL": "ceil", "ROUND_TO_ZERO": "trunc"}
"""``bnn.input_quant`` rounding of each QONNX ``rounding_mode``."""


@converter("Quant", "IntQuant", domains=QONNX_DOMAINS)
def quant(ctx: Context, node: onnx.NodeProto) -> None:
    """QONNX ``Quant(x, scale, zeropt, bitwidth; signed, narrow, rounding_mode)`` =
    ``(clip(round(x / scale + zeropt)) − zeropt) · scale``. A signed 1-bit Quant is bipolar →
    ``bnn.div`` by the scale, ``bnn.add`` of the zero point, ``bnn.sign {zero = "pos"}``;
    otherwise → ``bnn.input_quant`` (integer codes). Then ``− zeropt`` and ``· scale``: affine
    steps when both are scalars, ``bnn.sub`` and ``bnn.mul`` otherwise. Multi-bit codes between
    binary layers (DoReFa's k-bit activations) feed the next layer bit-serially, as the network
    input does. Leaves to the host non-constant parameters, more than 8 bits and unknown
    rounding modes."""
    attributes = attrs(node)
    scale = ctx.require_const(node, 1, "scale").astype(np.float32)
    zero = ctx.require_const(node, 2, "zero point").astype(np.float32)
    bits = int(ctx.require_const(node, 3, "bit width").reshape(-1)[0])
    signed, narrow = bool(attributes.get("signed", 1)), bool(attributes.get("narrow", 0))
    x = ctx.value(node.input[0])
    if bits > 8:
        raise NotMappable(f"it quantizes to {bits}-bit codes; crossbars take codes of at most 8 bits", "quantize to at most 8 bits")
    location = ctx.loc(node)
    s, z = scalar(scale), scalar(zero)
    if bits == 1 and signed:
        v = ctx.emit(bnn.Div, [x], [ctx.add_const(f"{node.name}.scale", scale)], {}, location).result
        if z != 0.0:
            v = ctx.emit(bnn.Add, [v], [ctx.add_const(f"{node.name}.zero_point", zero)], {}, location).result
        codes = ctx.emit(bnn.Sign, [v], [], {"zero": "pos"}, location).result
    else:
        mode = attributes.get("rounding_mode", "ROUND")
        rounding = mode.decode() if isinstance(mode, bytes) else mode
        if rounding.upper() not in ROUNDING:
            raise NotMappable(f"rounding_mode {rounding} is not supported")
        q_attrs = {"bits": bits, "signed": signed, "narrow": narrow, "rounding": ROUNDING[rounding.upper()]}
        consts = [ctx.add_const(f"{node.name}.scale", scale), ctx.add_const(f"{node.name}.zero_point", zero)]
        codes = ctx.emit(bnn.InputQuant, [x], consts, q_attrs, location).result
    if s is None or z is None:
        value: Tensor = codes
        if z is None or z != 0.0:
            value = ctx.emit(bnn.Sub, [value], [ctx.add_const(f"{node.name}.zero_point", zero)], {}, location).result
        value = ctx.emit(bnn.Mul, [value], [ctx.add_const(f"{node.name}.scale", scale)], {}, location).result
        ctx.define(node, value)
        return
    steps: tuple = ()
    if z != 0.0:
        steps += (("sub", z, False, node.name),)
    if s != 1.0:
        steps += (("mul", s, False, node.name),)
    ctx.define(node, Affine(codes, steps) if steps else codes)
