"""Which host partitions the digital periphery between arrays runs, and their work.

A host partition that sits between binary layers and consists only of cheap real-valued ops
(average pools, reductions, padding, concatenation, elementwise arithmetic, BatchNorm,
ReLU/PReLU, clips, comparisons, shape ops and small or 1×1 or depthwise real convolutions) is
marked ``periphery``: a digital block performs it, while onnxruntime still defines its values.
Anything else (a large real conv, Softmax, TopK, a float Gemm) stays plain host work.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper

SMALL_CONV_WEIGHTS = 64 * 64 * 9
"""The most weights a real convolution may have to count as periphery work (a 3×3 conv of
64 to 64 channels); 1×1 and depthwise convolutions qualify at any size."""

WIRING = frozenset({
    "Pad", "Concat", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity",
    "Cast", "Not", "Neg", "Abs", "Split", "Slice",
})
"""Ops that only move, select or relabel values (a sign flip or clear): no arithmetic."""
PER_OUTPUT = {
    "Add": (1, 0, 0), "Sub": (1, 0, 0), "Mul": (0, 1, 0), "Div": (0, 1, 0),
    "BatchNormalization": (1, 1, 0), "Relu": (0, 0, 1), "PRelu": (0, 1, 1), "LeakyRelu": (0, 1, 1),
    "Clip": (0, 0, 2), "Sign": (0, 0, 2), "Where": (0, 0, 0),
    "Less": (0, 0, 1), "LessOrEqual": (0, 0, 1), "Greater": (0, 0, 1), "GreaterOrEqual": (0, 0, 1),
}
"""``(fp_add, fp_mul, compare)`` per output element (BatchNorm as one scale and one shift;
``Sign`` as two comparisons, with 0)."""


def periphery_work(
    nodes: list[onnx.NodeProto], shapes: Mapping[str, tuple[int, ...]], constants: Mapping[str, np.ndarray],
) -> tuple[int, int, int, int] | None:
    """The operations per inference ``(fp_add, fp_mul, int_add, compare)`` of ``nodes`` (names
    resolved) as a digital block performs them, or None when some node is not periphery work.

    Rules, per output element of each node: elementwise and activation ops by
    :data:`PER_OUTPUT`; a k×k ``AveragePool`` k²−1 adds and one multiplication, a ``MaxPool``
    k²−1 comparisons; ``GlobalAveragePool`` and ``ReduceMean`` over n values n−1 adds and one
    multiplication; a real ``Conv`` one multiplication and one addition per multiply-accumulate
    (its fan-in ``C/group · kh · kw``), where it is 1×1, depthwise or has at most
    :data:`SMALL_CONV_WEIGHTS` weights; ops in :data:`WIRING` nothing. All work is float32, so
    ``int_add`` is 0."""
    fp_add = fp_mul = compare = 0
    for node in nodes:
        if node.domain not in ("", "ai.onnx"):
            return None
        out = int(np.prod(shapes[node.output[0]])) if node.output and node.output[0] in shapes else None
        if node.op_type in WIRING:
            continue
        if out is None:
            return None
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type in PER_OUTPUT:
            a, m, c = PER_OUTPUT[node.op_type]
            fp_add, fp_mul, compare = fp_add + a * out, fp_mul + m * out, compare + c * out
        elif node.op_type in ("AveragePool", "MaxPool"):
            taps = int(np.prod(attributes["kernel_shape"]))
            if node.op_type == "MaxPool":
                compare += (taps - 1) * out
            else:
                fp_add, fp_mul = fp_add + (taps - 1) * out, fp_mul + out
        elif node.op_type in ("GlobalAveragePool", "ReduceMean"):
            n = int(np.prod(shapes[node.input[0]])) // max(out, 1)
            fp_add, fp_mul = fp_add + (n - 1) * out, fp_mul + out
        elif node.op_type == "Conv":
            weight = constants.get(node.input[1])
            if weight is None:
                return None
            group = int(attributes.get("group", 1))
            pointwise = int(np.prod(weight.shape[2:])) == 1
            depthwise = group > 1 and weight.shape[1] == 1
            if not (pointwise or depthwise or weight.size <= SMALL_CONV_WEIGHTS):
                return None
            macs = out * int(np.prod(weight.shape[1:]))
            fp_add, fp_mul = fp_add + macs, fp_mul + macs
        else:
            return None
    return fp_add, fp_mul, 0, compare
