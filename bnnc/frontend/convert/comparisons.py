"""Comparisons with a constant, ``Not`` and ``Where``: binarizers written as
``Where(x >= t, a, b)`` (torch exports of ``torch.where``, Brevitas' binary sign).

A comparison is not converted on its own (no IR value is boolean): it defines a
:class:`~bnnc.frontend.convert.context.Predicate` that ``Not`` may negate and ``Where`` turns
into a sign or a threshold."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Domain, TensorType
from bnnc.ir.dialects import bnn

from .context import Context, NotMappable, Predicate, scalar
from .multithreshold import emit_threshold
from .registry import converter

MIRRORED = {"Greater": "Less", "Less": "Greater", "GreaterOrEqual": "LessOrEqual", "LessOrEqual": "GreaterOrEqual"}
"""The comparison with its operands swapped."""


@converter("GreaterOrEqual", "Greater", "LessOrEqual", "Less")
def compare(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Greater``, ``GreaterOrEqual``, ``Less``, ``LessOrEqual`` of a runtime tensor and a
    constant (either side) → a pending predicate ``x ≥ t`` / ``x > t``, negated for ``<`` and
    ``≤``; no op is emitted until a ``Where`` consumes it (a host partition that reads it
    computes it itself). Leaves comparisons of two runtime tensors (or two constants) and
    constants that broadcast ``x`` to a larger shape to the host."""
    a, b = ctx.const(node.input[0]), ctx.const(node.input[1])
    if (a is None) == (b is None):
        raise NotMappable("it compares two runtime tensors (or two constants)")
    op = node.op_type
    if a is not None:  # constant on the left: mirror the comparison
        op = MIRRORED[op]
        x, t = node.input[1], a
    else:
        x, t = node.input[0], b
    ctx.tensor(x)
    if ctx.g.shapes[node.output[0]] != ctx.g.shapes[ctx.g.resolve(x)]:
        raise NotMappable("the comparison constant broadcasts the compared tensor to a larger shape")
    # x >= t, x > t, and their negations: x < t == not(x >= t), x <= t == not(x > t)
    strict = op in ("Greater", "LessOrEqual")
    negated = op in ("Less", "LessOrEqual")
    ctx.define(node, Predicate(x, np.asarray(t), strict, negated, (node,)))


@converter("Not")
def not_(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Not`` of a pending predicate → the negated predicate. Leaves ``Not`` of any other
    boolean tensor to the host."""
    p = ctx.tensor(node.input[0])
    if not isinstance(p, Predicate):
        raise NotMappable("'Not' of a tensor that is not a comparison")
    ctx.define(node, Predicate(p.x, p.threshold, p.strict, not p.negated, p.nodes + (node,)))


@converter("Where")
def where(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Where(p, a, b)`` on a pending predicate with scalar constants ``a``, ``b`` and a
    float32 result → :func:`emit_predicate`. Leaves other conditions, non-scalar
    values, values that broadcast the result to a larger shape, thresholds that vary within a
    channel and integer thresholds beyond int32 to the host."""
    p = ctx.tensor(node.input[0])
    if not isinstance(p, Predicate):
        raise NotMappable("'Where' on a condition that is not a comparison with a constant")
    hi, lo = ctx.const(node.input[1]), ctx.const(node.input[2])
    a, b = (scalar(hi) if hi is not None else None), (scalar(lo) if lo is not None else None)
    if a is None or b is None:
        raise NotMappable("'Where' chooses between values that are not two scalar constants")
    emit_predicate(ctx, node, p, a, b)


def emit_predicate(ctx: Context, node: onnx.NodeProto, p: Predicate, a: float, b: float) -> None:
    """Define ``node``'s float32 output as ``p ? a : b``: ``x ≥ 0 ? +1 : −1`` → ``bnn.sign {zero =
    "pos"}`` (``x > 0``: ``zero = "neg"``); otherwise → ``bnn.threshold`` with one threshold per
    channel (``x > t`` as ``x ≥ nextafter(t)`` on floats; ``x ≥ ⌈t⌉`` and ``x > t`` as
    ``x ≥ ⌊t⌋ + 1`` on integers), ``out_scale = a − b``, ``out_bias = b``."""
    if p.negated:
        a, b = b, a
    ctx.float_output(node)
    x = ctx.value(p.x)
    if ctx.g.shapes[node.output[0]] != x.type.shape:
        raise NotMappable("'Where' broadcasts its condition to a larger shape")
    if x.type.domain is Domain.F32:
        threshold = p.threshold.astype(np.float32)
        if p.strict:  # x > t  <=>  x >= next representable value above t
            threshold = np.nextafter(threshold, np.inf).astype(np.float32)
    else:  # on integers, x >= t <=> x >= ceil(t) and x > t <=> x >= floor(t) + 1
        if not (np.abs(p.threshold) < 2**31 - 1).all():
            raise NotMappable("the comparison constant is not a finite number in the int32 range")
        threshold = np.floor(p.threshold) + 1 if p.strict else np.ceil(p.threshold)
    location = ctx.loc(*p.nodes, node)
    if p.threshold.size and scalar(p.threshold) == 0.0 and (a, b) == (1.0, -1.0):
        # x >= 0 -> +1 (BipolarQuant, Brevitas), x > 0 -> +1 (zero goes to -1)
        zero = "neg" if p.strict else "pos"
        ctx.define(node, ctx.emit(bnn.Sign, [x], [], {"zero": zero}, location).result)
        return
    rows = _threshold_rows(threshold, x.type)
    emit_threshold(ctx, node, x, rows, a - b, b, location)


def _threshold_rows(threshold: np.ndarray, x: TensorType) -> np.ndarray:
    """A broadcast comparison constant as ``[C, 1]`` per-channel (axis 1) or ``[1, 1]`` rows."""
    t = scalar(threshold)
    dtype = np.float32 if x.domain is Domain.F32 else np.int32
    if t is not None:
        return np.array([[t]], dtype)
    channels = x.shape[1] if x.rank >= 2 else 0
    squeezed = np.asarray(threshold)
    full = np.broadcast_to(squeezed, x.shape) if squeezed.ndim <= x.rank else None
    if full is None or channels == 0:
        raise NotMappable("the comparison constant is not per channel")
    per_channel = np.moveaxis(full, 1, 0).reshape(channels, -1)
    if not (per_channel == per_channel[:, :1]).all():
        raise NotMappable("the comparison constant varies within a channel")
    return per_channel[:, :1].astype(dtype)
