"""``Conv``: a binary 2-D convolution."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir.dialects import bnn
from bnnc.ir.shapes import window_output_shape

from ..errors import UnsupportedModelError
from ..weights import BinaryWeights
from .context import Affine, Context, NotMappable, Padded, attrs
from .layer import binary_weights, finish_layer, layer_input
from .registry import converter
from .window import window_pads


@converter("Conv")
def conv(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Conv`` (NCHW, ``group = 1``, any strides, dilations and zero padding, explicit or
    ``auto_pad``) with constant ±1 (or ±α per output channel) weights on binarized or integer
    codes → ``bnn.conv`` on the codes, then the input's affine steps applied to the integer
    sum, ``bnn.mul`` by α and ``bnn.add`` of a constant bias. A constant ``Pad`` of its input
    (:class:`~.context.Padded`) becomes part of the conv: zero pads add to the conv's own, ±1
    pads give ``pad_value = ±1`` (where the conv adds no zero padding of its own). A grouped or
    depthwise binary conv becomes one conv with block-diagonal weights (:func:`block_diagonal`).
    Refuses (as a model error) non-2-D convolutions; leaves to the host (float layers,
    a depthwise blur pool among them) real-valued inputs,
    ±1 pads padded again with zeros, non-binary or non-constant weights and a non-constant
    bias."""
    attributes = attrs(node)
    weight = ctx.require_const(node, 1, "weight")
    shape = ctx.g.shapes[ctx.g.resolve(node.input[0])]
    padded = ctx.tensor(node.input[0])
    x = Affine(padded.x, ()) if isinstance(padded, Padded) else layer_input(ctx, node)
    w = binary_weights(weight)
    if len(shape) != 4:
        raise UnsupportedModelError(
            "2-D convolutions (NCHW input)", f"this Conv has a rank-{len(shape)} input; reshape to NCHW",
            node=node.name, op_type=node.op_type,
        )
    group = attributes.get("group", 1)
    if group != 1:
        w = block_diagonal(w, group, shape[1])
    kh, kw = weight.shape[2], weight.shape[3]
    strides = tuple(attributes.get("strides", (1, 1)))
    dilations = tuple(attributes.get("dilations", (1, 1)))
    pads = window_pads(attributes, shape[2:], (kh, kw), strides, dilations)
    window = {"strides": strides, "pads": pads, "dilations": dilations}
    location = ctx.loc(node)
    if isinstance(padded, Padded):
        if padded.value and any(pads):
            raise NotMappable(f"its input is padded with {padded.value} and the Conv adds zero padding around that",
                              "put all of the padding into the Pad and leave the Conv unpadded")
        window.update(pads=tuple(a + b for a, b in zip(padded.pads, pads)), pad_value=padded.value)
        location = ctx.loc(node, padded.node)
    symbol = ctx.add_const(f"{node.name}.weight", w.signs, w.domain)
    total = ctx.emit(bnn.Conv, [x.codes], [symbol], window, location).result

    def tap_sums() -> np.ndarray:
        ones = np.ones((1,) + x.codes.type.shape[1:], np.float64)
        return _conv_float(ones, w.signs.astype(np.float64), window).astype(np.float32)

    value = finish_layer(ctx, node, total, x, tap_sums, w, (1, -1, 1, 1))
    if len(node.input) > 2 and node.input[2]:
        bias = ctx.require_const(node, 2, "bias").astype(np.float32).reshape(1, -1, 1, 1)
        value = ctx.emit(bnn.Add, [value], [ctx.add_const(f"{node.name}.bias", bias)], {}, ctx.loc(node)).result
    ctx.define(node, value)


def block_diagonal(w: BinaryWeights, group: int, channels: int) -> BinaryWeights:
    """A grouped (or depthwise) binary conv's weights ``[Cout, Cin / group, kh, kw]`` as one
    ungrouped conv's ``[Cout, Cin, kh, kw]``: output channel ``o`` of group ``g`` keeps its
    weights on input channels ``g·Cin/group … (g+1)·Cin/group − 1`` and has weight 0 on every
    other input channel (block-diagonal tiles; xnor and diff map the zeros as cells off)."""
    cout, per_group = w.signs.shape[:2]
    outs = cout // group
    full = np.zeros((cout, channels) + w.signs.shape[2:], np.int8)
    for g in range(group):
        full[g * outs : (g + 1) * outs, g * per_group : (g + 1) * per_group] = w.signs[g * outs : (g + 1) * outs]
    return BinaryWeights(full, w.alpha)


def _conv_float(x: np.ndarray, w: np.ndarray, window: dict) -> np.ndarray:
    """Float64 NCHW convolution with zero padding (for constant tap-count maps)."""
    (pt, pl, pb, pr), (sh, sw), (dh, dw) = window["pads"], window["strides"], window["dilations"]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cout, cin, kh, kw = w.shape
    oh, ow = window_output_shape(x.shape[2], x.shape[3], (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw))
    out = np.zeros((x.shape[0], cout, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out
