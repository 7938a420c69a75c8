"""What the binary layers (``Conv``, ``Gemm``, ``MatMul``) share: reading the layer input as
integer or ±1 codes, splitting the weights into ±1 signs and a per-channel α, and applying
the input's affine steps and α to the exact integer sum."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from bnnc.ir import Value
from bnnc.ir.dialects import bnn

from ..weights import BinaryWeights, distinct_values, split_binary
from .context import ELEMENTWISE, Affine, Context, NotMappable


def layer_input(ctx: Context, node: onnx.NodeProto) -> Affine:
    """The layer's input (input 0) as codes the arrays can read, with its affine steps."""
    tensor = ctx.tensor(node.input[0])
    if isinstance(tensor, Value) and tensor.type.domain in bnn.ARRAY_INPUT:
        return Affine(tensor, ())
    if isinstance(tensor, Affine):
        if tensor.codes.type.domain not in bnn.ARRAY_INPUT:
            raise NotMappable("its input is not binarized or integer-valued")
        return tensor
    raise NotMappable(
        "its input is real-valued (neither binarized nor integer codes)",
        "binarize the input (Sign/BipolarQuant/MultiThreshold) or quantize it to <= 8-bit integers",
    )


def binary_weights(weight: np.ndarray) -> BinaryWeights:
    """``weight`` (output channels on axis 0) as ±1 (or 0) signs and one α per output channel."""
    split = split_binary(weight)
    if split is None:
        raise NotMappable(
            f"its weights are not binary: {distinct_values(weight)} distinct values "
            "(expected ±1, or ±α with one α per output channel, exact zeros allowed)",
            "binarize the weights (Sign or BipolarQuant on the weight) before export",
        )
    return split


def finish_layer(
    ctx: Context, node: onnx.NodeProto, total: Value, x: Affine, tap_sums: Callable[[], np.ndarray],
    w: BinaryWeights, channel_shape: tuple[int, ...],
) -> Value:
    """Apply the input's affine steps, the per-channel α and return the float result (or the
    integer sum when there is nothing to apply). ``tap_sums`` gives the sum of the weights over
    the valid taps of each output position, for additive steps."""
    location = ctx.loc(node)
    value = total
    sums: np.ndarray | None = None
    for kind, constant, const_first, _ in x.steps:
        if kind in ("mul", "div") and not (kind == "div" and const_first):
            symbol = ctx.add_const(f"{node.name}.in_{kind}", np.float32(constant))
            value = ctx.emit(ELEMENTWISE[kind.capitalize()], [value], [symbol], {}, location).result
            continue
        if kind == "div":
            raise NotMappable("its input is c / codes, which is not affine")
        if sums is None:
            sums = tap_sums()
        # sum(w * (y + c)) = sum(w * y) + c * sum(w); likewise y - c and c - y
        symbol = ctx.add_const(f"{node.name}.in_{kind}", np.float32(constant) * sums)
        value = ctx.emit(ELEMENTWISE[kind.capitalize()], [value], [symbol], {"const_first": const_first}, location).result
    if not w.unit:
        symbol = ctx.add_const(f"{node.name}.alpha", w.alpha.reshape(channel_shape))
        value = ctx.emit(bnn.Mul, [value], [symbol], {}, location).result
    return value
