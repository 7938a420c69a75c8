"""The ``host`` dialect: what stays off the crossbar arrays."""

from __future__ import annotations

from ..core import ConstDef, OperandDef, Operation, ResultDef, domains
from ..registry import register_op
from ..types import Domain


@register_op
class OnnxSubgraph(Operation):
    """Run a partition of the source ONNX graph on the host (onnxruntime): ``model`` is a ``u8``
    constant holding a serialized ONNX model whose graph inputs, in order, take the operands
    and whose graph outputs, in order, are the results. Used for float layers, ``TopK``,
    ``ArgMax``, ``Softmax`` and anything else no crossbar should run."""

    name = "host.onnx"
    operand_defs = (OperandDef("inputs", variadic=True),)
    const_defs = (ConstDef("model", domains(Domain.U8)),)
    result_defs = (ResultDef("outputs", variadic=True),)
