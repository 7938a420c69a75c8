"""``Round`` of a clipped value: a k-bit activation (DoReFa's ``round(clip(x, 0, 1) · k) / k``)
as a staircase of thresholds on ``x``, whose integer codes feed the next binary layer
bit-serially."""

from __future__ import annotations

import numpy as np
import onnx

from .clip import order_keeping_step
from .context import Context, NotMappable, Staircase, attrs
from .multithreshold import emit_threshold
from .registry import converter

MAX_LEVELS = 256
"""The most integer levels a staircase may have (8-bit codes)."""
STEP = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


@converter("Round")
def round_(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Round`` (half to even) of a pending :class:`~.context.Staircase` ``f(x)`` →
    ``bnn.threshold`` on ``x``: ``round(f(x))`` is non-decreasing in ``x`` and takes the integer
    levels ``L0 … L1`` between its values at the clip bounds, so it is
    ``L0 + #{j : x ≥ t_j}`` with ``t_j`` the smallest float32 at which it reaches ``L0 + j``,
    found by bisection over the float32 values with the chain evaluated in float32 as
    onnxruntime does. Leaves rounding of anything else and more than :data:`MAX_LEVELS`
    levels to the host."""
    tensor = ctx.tensor(node.input[0])
    if not isinstance(tensor, Staircase):
        raise NotMappable("Round of a value that is not a clipped real value")
    ctx.float_output(node)
    x = ctx.value(tensor.x)
    clip, steps = tensor.nodes[0], tensor.nodes[1:]
    lo, hi = _bounds(ctx, clip)

    def levels(v: np.ndarray) -> np.ndarray:
        y = np.clip(v.astype(np.float32), lo, hi)
        previous = ctx.g.resolve(clip.output[0])
        with np.errstate(all="ignore"):
            for step in steps:
                c = np.float32(order_keeping_step(ctx, step, previous))
                y = STEP[step.op_type](y, c).astype(np.float32)
                previous = ctx.g.resolve(step.output[0])
        return np.round(y)

    first, last = levels(np.array([lo, hi], np.float32))
    if not (np.isfinite(first) and np.isfinite(last)) or last - first + 1 > MAX_LEVELS:
        raise NotMappable(f"the rounded values span {last - first + 1:g} levels (at most {MAX_LEVELS} map to codes)")
    thresholds = [_first_reaching(levels, lo, hi, level) for level in np.arange(first + 1, last + 1)]
    rows = np.array([thresholds], np.float32).reshape(1, -1)
    emit_threshold(ctx, node, x, rows, 1.0, float(first), ctx.loc(*tensor.nodes, node))


def _bounds(ctx: Context, clip: onnx.NodeProto) -> tuple[np.float32, np.float32]:
    attributes = attrs(clip)
    bounds = []
    for index, name in ((1, "min"), (2, "max")):
        value = ctx.const(clip.input[index]) if len(clip.input) > index and clip.input[index] else None
        bounds.append(np.float32(value.reshape(-1)[0] if value is not None else attributes[name]))
    return bounds[0], bounds[1]


def _ordinal(value: np.float32) -> int:
    bits = int(np.array([value], np.float32).view(np.int32)[0])
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF)


def _from_ordinal(ordinal: int) -> np.float32:
    bits = ordinal if ordinal >= 0 else (-ordinal) | 0x80000000
    return np.array([bits], np.uint32).view(np.float32)[0]


def _first_reaching(levels, lo: np.float32, hi: np.float32, level: float) -> np.float32:
    """The smallest float32 in ``[lo, hi]`` where the non-decreasing ``levels`` reach ``level``
    (``levels(hi)`` does)."""
    low, high = _ordinal(lo), _ordinal(hi)
    while low < high:
        middle = (low + high) // 2
        if levels(np.array([_from_ordinal(middle)], np.float32))[0] >= level:
            high = middle
        else:
            low = middle + 1
    return _from_ordinal(low)
