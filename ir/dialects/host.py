"""The ``host`` dialect: what stays off the crossbar arrays."""

from __future__ import annotations

from ..attributes import AttrDef
from ..core import ConstDef, OperandDef, Operation, ResultDef, domains
from ..registry import register_op
from ..types import Domain


@register_op
class OnnxSubgraph(Operation):
    """Run a partition of the source ONNX graph on the host (onnxruntime): ``model`` is a ``u8``
    constant holding a serialized ONNX model whose graph inputs, in order, take the operands
    and whose graph outputs, in order, are the results. Used for float layers, ``TopK``,
    ``ArgMax``, ``Softmax`` and anything else no crossbar should run.

    With ``periphery`` the partition is small real-valued work between arrays (average pools,
    real 1×1 shortcut convs, reductions) that a digital block performs: onnxruntime still
    defines and computes its values (the exactness contract), and ``work`` counts its operations
    per inference by unit (``fp_add``, ``fp_mul``, ``int_add``, ``compare``) for the cost model."""

    name = "host.onnx"
    operand_defs = (OperandDef("inputs", variadic=True),)
    const_defs = (ConstDef("model", domains(Domain.U8)),)
    result_defs = (ResultDef("outputs", variadic=True),)
    attr_defs = (
        AttrDef("periphery", "bool", False, doc="the digital periphery between arrays runs it"),
        AttrDef("work", "ints", (0, 0, 0, 0), length=4, doc="operations per inference: fp_add, fp_mul, int_add, compare"),
    )
