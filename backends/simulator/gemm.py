"""The exact integer GEMM engines of array reads: numpy sgemm (exact below 2**24) and
onnxruntime's ``MatMulInteger`` (uint8 × int8 → int32) where a read is large and safe."""

from __future__ import annotations

import numpy as np


SGEMM_EXACT_ROWS = 1 << 24
"""float32 represents every integer below 2**24: a GEMM of 0/1 matrices over fewer rows is exact."""


INTEGER_GEMM_MACS = 1 << 30
"""A read runs on onnxruntime's ``MatMulInteger`` once its multiply-adds so far (this call's
included) reach this many; before, as numpy sgemm. Making the session costs 15–30 ms of CPU
(measured in a whole ``bnnc cnv.onnx`` run, ten sessions), about the sgemm time of 2**30
multiply-adds: a small run (a 16-input golden check) makes none, a throughput run makes
them in its first chunks."""


class IntegerGemm:
    """``x @ weights`` exactly, by the fastest engine that is exact here: onnxruntime's
    ``MatMulInteger`` (MLAS, u8 × s8 → i32: ~3.5x numpy sgemm on AVX-512 VNNI) for uint8
    ``x`` and int8 weights whose products cannot saturate MLAS' 16-bit pair sums
    (``2 · 255 · max|w| < 2**15``, conservatively), once the read has done
    :data:`INTEGER_GEMM_MACS` (or ``from_macs``, where given); else float32 sgemm while the
    bound of the results is below 2**24, float64 beyond. The ``MatMulInteger`` engine is made
    when first needed."""

    def __init__(self, weights: np.ndarray, from_macs: int | None = None):
        self.weights = weights
        self.from_macs = from_macs
        self.engine: MatMulInteger | None = None
        self.macs = 0

    def __call__(self, x: np.ndarray, bound: int) -> np.ndarray:
        """``x @ weights`` for ``x`` ``[rows, K]`` and results at most ``bound`` in magnitude."""
        rows, k = x.shape
        w = self.weights
        self.macs += rows * k * w.shape[1]
        threshold = INTEGER_GEMM_MACS if self.from_macs is None else self.from_macs
        if x.dtype == np.uint8 and self.macs >= threshold and np.abs(w).max(initial=0) <= 64:
            if self.engine is None:
                self.engine = MatMulInteger(w.astype(np.int8))
            return self.engine(np.ascontiguousarray(x))
        dtype = np.float32 if bound < SGEMM_EXACT_ROWS else np.float64
        return x.astype(dtype) @ w.astype(dtype)


class MatMulInteger:
    """``x (uint8) @ weights (int8) → int32`` by onnxruntime (one ``MatMulInteger`` node, the
    weights an initializer MLAS packs once); intra-op threads as ``OMP_NUM_THREADS`` /
    ``OPENBLAS_NUM_THREADS`` say (onnxruntime's default when neither is set)."""

    def __init__(self, weights: np.ndarray):
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        k, m = weights.shape
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["x", "w"], ["y"])], "read",
            [helper.make_tensor_value_info("x", TensorProto.UINT8, ["rows", k])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, ["rows", m])],
            initializer=[numpy_helper.from_array(weights, "w")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x})[0]


def _threads() -> int:
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0
