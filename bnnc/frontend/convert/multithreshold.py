"""FINN ``MultiThreshold``: a per-channel staircase, a binarizer with one threshold."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Location, Value
from bnnc.ir.dialects import bnn

from ..standardize import FINN_DOMAINS
from .context import Context, NotMappable, attrs
from .registry import converter


@converter("MultiThreshold", domains=FINN_DOMAINS)
def multithreshold(ctx: Context, node: onnx.NodeProto) -> None:
    """FINN ``MultiThreshold(x, T; out_scale, out_bias, data_layout)`` =
    ``out_scale · #{t ∈ T[c] : x ≥ t} + out_bias`` → ``bnn.threshold`` with the thresholds
    ``[C, n]`` (channels on axis 1: rank 2 or NCHW rank 4) or ``[1, n]`` (any layout). Leaves
    per-channel thresholds on other layouts and non-constant thresholds to the host."""
    attributes = attrs(node)
    thresholds = ctx.require_const(node, 1, "thresholds").astype(np.float32)
    x = ctx.value(node.input[0])
    layout = attributes.get("data_layout", b"NCHW")
    layout = layout.decode() if isinstance(layout, bytes) else layout
    channels_on_axis1 = x.type.rank == 2 or (x.type.rank == 4 and layout == "NCHW")
    if thresholds.ndim != 2 or (thresholds.shape[0] != 1 and not channels_on_axis1):
        raise NotMappable(f"per-channel thresholds on a {layout} rank-{x.type.rank} input are not supported")
    out_scale, out_bias = float(attributes.get("out_scale", 1.0)), float(attributes.get("out_bias", 0.0))
    emit_threshold(ctx, node, x, thresholds, out_scale, out_bias, ctx.loc(node))


def emit_threshold(
    ctx: Context, node: onnx.NodeProto, x: Value, thresholds: np.ndarray, out_scale: float, out_bias: float, location: Location,
) -> None:
    """Define ``node``'s output as ``bnn.threshold`` of ``x`` (thresholds ``[C | 1, n]``)."""
    symbol = ctx.add_const(f"{node.name}.thresholds", thresholds)
    attributes = {"out_scale": out_scale, "out_bias": out_bias}
    ctx.define(node, ctx.emit(bnn.Threshold, [x], [symbol], attributes, location).result)
