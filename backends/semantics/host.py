"""Reference semantics of the ``host`` dialect: a partition of the source ONNX graph run by
onnxruntime (no graph optimizations, one thread), its session made once per model constant."""

from __future__ import annotations

import weakref

import numpy as np

from bnnc.ir import Module, Operation
from bnnc.ir.diagnostics import plural
from bnnc.ir.dialects import host as dialect

from ..onnx_session import reference_session
from .core import converted, exact_cast
from .registry import InterpreterError, implements

ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}
"""The numpy dtype of every onnxruntime tensor type a partition's inputs may have."""

_SESSIONS: weakref.WeakKeyDictionary[Module, dict[str, tuple[int, object]]] = weakref.WeakKeyDictionary()


def session_for(op: Operation):
    """The onnxruntime session of ``op``'s model constant, created once per module, symbol and
    version of the constant's data (:attr:`bnnc.ir.Constant.version`)."""
    module, symbol = op.module, op.const("model")
    constant = module.constant(symbol)
    per_module = _SESSIONS.setdefault(module, {})
    cached = per_module.get(symbol)
    if cached is not None and cached[0] == constant.version:
        return cached[1]
    session = reference_session(constant.data.tobytes())
    per_module[symbol] = (constant.version, session)
    return session


@implements(dialect.OnnxSubgraph)
def _host_onnx(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Run the ONNX model in constant ``model`` with onnxruntime (no graph optimizations, one
    thread): operands feed the graph inputs in order, graph outputs become the results."""
    session = session_for(op)
    graph_inputs, graph_outputs = session.get_inputs(), session.get_outputs()
    if len(graph_inputs) != len(args) or len(graph_outputs) != len(op.results):
        raise InterpreterError.at(
            op,
            f"the model has {plural(len(graph_inputs), 'input')} and {plural(len(graph_outputs), 'output')}, "
            f"the op {len(args)} operands and {len(op.results)} results",
        )
    feeds = {}
    for i, (spec, array) in enumerate(zip(graph_inputs, args)):
        dtype = ONNX_TYPES.get(spec.type)
        if dtype is None:
            raise InterpreterError.at(op, f"model input '{spec.name}' has unsupported type {spec.type}")
        cast, exact = exact_cast(array, dtype)
        if not exact.all():
            raise InterpreterError.at(op, f"operand {i} does not convert exactly to {spec.type} for model input '{spec.name}'")
        feeds[spec.name] = cast
    outputs = session.run(None, feeds)
    return [converted(op, np.asarray(out), r.type.domain) for out, r in zip(outputs, op.results)]
