"""``Concat``: dense-block feature stacking and ReActNet's doubled downsampling channels."""

from __future__ import annotations

import onnx

from bnnc.ir import Domain, Value
from bnnc.ir.dialects import bnn

from .context import Context, NotMappable, attrs
from .registry import converter

BINARY = frozenset({Domain.PM1, Domain.TERN})


@converter("Concat")
def concat(ctx: Context, node: onnx.NodeProto) -> None:
    """ONNX ``Concat(axis)`` of runtime tensors → ``bnn.concat`` in one domain: the operands'
    domain where they share it; ``tern`` for ±1 with ternary operands; ``f32`` for any other
    mix (each operand unified with ``bnn.convert``, which keeps every value). Along channels,
    a concat of bits is wiring after the passes. Leaves constant operands (and constants only)
    to the host."""
    if any(ctx.const(name) is not None for name in node.input if name):
        raise NotMappable("Concat with a constant operand")
    values = [ctx.value(name) for name in node.input if name]
    rank = values[0].type.rank
    axis = attrs(node)["axis"] % rank
    domains = {v.type.domain for v in values}
    if len(domains) == 1:
        target = domains.pop()
    elif domains <= BINARY:
        target = Domain.TERN
    else:
        target = Domain.F32
    unified = [v if v.type.domain is target else _convert(ctx, node, v, target) for v in values]
    ctx.define(node, ctx.emit(bnn.Concat, unified, [], {"axis": axis}, ctx.loc(node)).result)


def _convert(ctx: Context, node: onnx.NodeProto, value: Value, domain: Domain) -> Value:
    op = bnn.Convert([value], [value.type.with_domain(domain)], {}, [], ctx.loc(node))
    ctx.function.append(op)
    return op.result
