"""``Add``, ``Sub``, ``Mul``, ``Div``: affine steps on codes, float arithmetic, residual adds."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Location, Value
from bnnc.ir.dialects import bnn

from .context import ELEMENTWISE, Affine, Context, NotMappable, scalar
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
    s = scalar(c)
    same_shape = ctx.g.shapes[node.output[0]] == ctx.g.shapes[ctx.g.resolve(x_name)]
    if s is not None and same_shape and isinstance(tensor, Value) and _fold_into_threshold(ctx, node, x_name, tensor, kind, s, const_first):
        return
    codes_tensor = isinstance(tensor, Affine) or (isinstance(tensor, Value) and tensor.type.domain in bnn.ARRAY_INPUT)
    affine = not (kind == "div" and const_first)  # c / codes is not affine: materialize below
    if codes_tensor and affine and s is not None and same_shape:
        base = tensor if isinstance(tensor, Affine) else Affine(tensor, ())
        ctx.define(node, base.then(kind, s, const_first, node.name))
        return
    x = ctx.value(x_name)
    symbol = ctx.add_const(f"{node.name}.const", np.asarray(c, np.float32))
    ctx.define(node, ctx.emit(ELEMENTWISE[node.op_type], [x], [symbol], {"const_first": const_first}, ctx.loc(node)).result)


def _fold_into_threshold(
    ctx: Context, node: onnx.NodeProto, x_name: str, x: Value, kind: str, c: float, const_first: bool,
) -> bool:
    """Replace the ``bnn.threshold`` that alone computes ``x`` (no other reader of the ONNX
    tensor, no graph output) by one whose ``out_scale``/``out_bias`` include the step
    ``x ∘ c``, and define ``node``'s output as its result, where the float32 step gives the
    new affine levels exactly at every count; else change nothing and return False."""
    op = x.producer
    name = ctx.g.resolve(x_name)
    if not isinstance(op, bnn.Threshold) or len(x.uses) != 0 or len(ctx.consumers.get(name, [])) != 1:
        return False
    if name in {ctx.g.resolve(o) for o in ctx.g.outputs}:
        return False
    levels = np.arange(op.const_type("thresholds").shape[1] + 1, dtype=np.float32)
    scale, bias = np.float32(op.attr("out_scale")), np.float32(op.attr("out_bias"))
    before = scale * levels + bias
    with np.errstate(all="ignore"):
        after = (STEP[kind](np.float32(c), before) if const_first else STEP[kind](before, np.float32(c))).astype(np.float32)
        new_scale, new_bias = np.float32(after[1] - after[0]), after[0]
        exact = np.isfinite(after).all() and np.array_equal(new_scale * levels + new_bias, after)
    if not exact:
        return False
    attributes = {"out_scale": float(new_scale), "out_bias": float(new_bias)}
    folded = ctx.emit(bnn.Threshold, list(op.operands), list(op.consts), attributes, Location.fuse(op.location, ctx.loc(node)))
    ctx.function.erase(op)
    ctx.define(node, folded.result)
    return True
