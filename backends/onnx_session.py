"""The one way bnnc runs ONNX in onnxruntime as a reference: CPU, graph optimizations off (so
BatchNorm is evaluated as the operator specifies, not fused into a Conv), one thread (a fixed
float summation order)."""

from __future__ import annotations

import onnxruntime as ort


def reference_session(model: bytes, log_severity: int = 3) -> ort.InferenceSession:
    """An unoptimized single-threaded CPU session on a serialized model. ``log_severity`` 3
    keeps onnxruntime's warnings (e.g. per initializer listed as an input) quiet, 4 its
    errors too, where the caller reports failures itself."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = log_severity
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
