"""``Add``, ``Sub``, ``Mul``, ``Div``: affine steps on codes, float arithmetic, residual adds."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Domain, Location, Value
from bnnc.ir.dialects import bnn
from bnnc.ir.dialects.bnn import threshold_result_domain

from .clip import order_keeping_step
from .context import ELEMENTWISE, Affine, Context, NotMappable, Staircase, scalar
from .registry import converter

TENSOR_OPS = {"Add": bnn.AddTensors, "Sub": bnn.SubTensors, "Mul": bnn.MulTensors}
"""The bnn op of each ONNX elementwise op on two runtime tensors."""
STEP = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


@converter(*ELEMENTWISE)
def elementwise(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Add``/``Sub``/``Mul``/``Div`` with a float32 result. Of two runtime tensors: only
    ``Add`` (a residual shortcut) → ``bnn.add_tensors``. With one constant operand (either
    side): a scalar step on integer or ±1 codes that keeps the shape stays a pending affine
    step (applied to the next binary layer's integer sum; ``c / codes`` is not affine);
    otherwise → ``bnn.add``/``bnn.sub``/``bnn.mul``/``bnn.div`` with the constant,
    ``const_first`` when it is the left operand. Leaves non-float results and ``Sub``/``Mul``/
    ``Div`` of two runtime tensors to the host."""
    ctx.float_output(node)
    a, b = ctx.const(node.input[0]), ctx.const(node.input[1])
    if a is None and b is None and node.op_type in TENSOR_OPS:
        lhs, rhs = ctx.value(node.input[0]), ctx.value(node.input[1])
        ctx.define(node, ctx.emit(TENSOR_OPS[node.op_type], [lhs, rhs], [], {}, ctx.loc(node)).result)
        return
    if (a is None) == (b is None):
        raise NotMappable(f"{node.op_type} of two runtime tensors")
    const_first = a is not None
    x_name, c = (node.input[1], a) if const_first else (node.input[0], b)
    kind = node.op_type.lower()
    tensor = ctx.tensor(x_name)
    if isinstance(tensor, Staircase):
        if order_keeping_step(ctx, node, ctx.g.resolve(x_name)) is None:
            raise NotMappable(f"{node.op_type} of a clipped value that does not keep its order")
        ctx.define(node, Staircase(tensor.x, tensor.nodes + (node,)))
        return
    s = scalar(c)
    same_shape = ctx.g.shapes[node.output[0]] == ctx.g.shapes[ctx.g.resolve(x_name)]
    if s is not None and same_shape and isinstance(tensor, (Value, Affine)) and _fold_into_threshold(ctx, node, tensor, kind, s, const_first):
        return
    # codes, or the levels of a threshold (a later step may fold them into codes)
    codes_tensor = isinstance(tensor, Affine) or (
        isinstance(tensor, Value) and (tensor.type.domain in bnn.ARRAY_INPUT or isinstance(tensor.producer, bnn.Threshold))
    )
    affine = not (kind == "div" and const_first)  # c / codes is not affine: materialize below
    if codes_tensor and affine and s is not None and same_shape:
        base = tensor if isinstance(tensor, Affine) else Affine(tensor, ())
        ctx.define(node, base.then(kind, s, const_first, node.name))
        return
    x = ctx.value(x_name)
    symbol = ctx.add_const(f"{node.name}.const", np.asarray(c, np.float32))
    ctx.define(node, ctx.emit(ELEMENTWISE[node.op_type], [x], [symbol], {"const_first": const_first}, ctx.loc(node)).result)


def _fold_into_threshold(
    ctx: Context, node: onnx.NodeProto, tensor: Value | Affine, kind: str, c: float, const_first: bool,
) -> bool:
    """Where ``tensor`` is the result of a ``bnn.threshold`` (possibly with pending affine
    steps) and the float32 steps, this one ``x ∘ c`` included, map its levels exactly onto
    affine levels that are ±1 or integer codes (not float32): define ``node``'s output as a new
    threshold with those ``out_scale``/``out_bias`` and return True (the old one is left to the
    importer's dead-op sweep); else change nothing and return False."""
    codes, steps = (tensor.codes, tensor.steps) if isinstance(tensor, Affine) else (tensor, ())
    op = codes.producer
    if not isinstance(op, bnn.Threshold):
        return False
    levels = np.arange(op.const_type("thresholds").shape[1] + 1, dtype=np.float32)
    values = np.float32(op.attr("out_scale")) * levels + np.float32(op.attr("out_bias"))
    with np.errstate(all="ignore"):
        for k, constant, first, _ in (*steps, (kind, c, const_first, node.name)):
            values = (STEP[k](np.float32(constant), values) if first else STEP[k](values, np.float32(constant))).astype(np.float32)
        new_scale, new_bias = np.float32(values[1] - values[0]), values[0]
        exact = np.isfinite(values).all() and np.array_equal(new_scale * levels + new_bias, values)
    if not exact or threshold_result_domain(len(levels) - 1, float(new_scale), float(new_bias)) is Domain.F32:
        return False
    attributes = {"out_scale": float(new_scale), "out_bias": float(new_bias)}
    location = Location.fuse(op.location, *(Location.of(n) for *_, n in steps), ctx.loc(node))
    ctx.define(node, ctx.emit(bnn.Threshold, list(op.operands), list(op.consts), attributes, location).result)
    return True
