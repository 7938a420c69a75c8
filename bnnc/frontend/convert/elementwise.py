"""``Add``, ``Sub``, ``Mul``, ``Div``: affine steps on codes, float arithmetic, residual adds."""

from __future__ import annotations

import numpy as np
import onnx

from bnnc.ir import Value
from bnnc.ir.dialects import bnn

from .context import ELEMENTWISE, Affine, Context, NotMappable, scalar
from .registry import converter


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
    if a is None and b is None and node.op_type == "Add":  # a residual shortcut
        lhs, rhs = ctx.value(node.input[0]), ctx.value(node.input[1])
        ctx.define(node, ctx.emit(bnn.AddTensors, [lhs, rhs], [], {}, ctx.loc(node)).result)
        return
    if (a is None) == (b is None):
        raise NotMappable(f"{node.op_type} of two runtime tensors")
    const_first = a is not None
    x_name, c = (node.input[1], a) if const_first else (node.input[0], b)
    kind = node.op_type.lower()
    tensor = ctx.tensor(x_name)
    s = scalar(c)
    codes_tensor = isinstance(tensor, Affine) or (isinstance(tensor, Value) and tensor.type.domain in bnn.ARRAY_INPUT)
    affine = not (kind == "div" and const_first)  # c / codes is not affine: materialize below
    if codes_tensor and affine and s is not None and ctx.g.shapes[node.output[0]] == ctx.g.shapes[ctx.g.resolve(x_name)]:
        base = tensor if isinstance(tensor, Affine) else Affine(tensor, ())
        ctx.define(node, base.then(kind, s, const_first, node.name))
        return
    x = ctx.value(x_name)
    symbol = ctx.add_const(f"{node.name}.const", np.asarray(c, np.float32))
    ctx.define(node, ctx.emit(ELEMENTWISE[node.op_type], [x], [symbol], {"const_first": const_first}, ctx.loc(node)).result)
