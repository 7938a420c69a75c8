"""The float32 arithmetic that defines the bnn dialect's float ops (onnxruntime's, step by
step), shared by the interpreter and the passes that must reproduce it exactly (threshold
derivation evaluates the same chain of ops on every reachable integer)."""

from __future__ import annotations

import numpy as np

_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def elementwise(kind: str, x: np.ndarray, constant: np.ndarray, const_first: bool) -> np.ndarray:
    """``x op c`` (or ``c op x``) in float32 with broadcasting; ``kind`` is add/sub/mul/div."""
    fn = _BINARY[kind]
    x32, c = np.asarray(x).astype(np.float32, copy=False), np.asarray(constant, np.float32)
    with np.errstate(all="ignore"):
        y = fn(c, x32) if const_first else fn(x32, c)
    return np.asarray(y, dtype=np.float32)


def prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """ONNX ``PRelu`` in float32: ``x`` where ``x >= 0``, ``slope * x`` where ``x < 0``."""
    x32, a = np.asarray(x).astype(np.float32), np.asarray(slope, np.float32)
    with np.errstate(all="ignore"):
        return np.asarray(np.where(x32 < 0, x32 * a, x32), dtype=np.float32)


def batchnorm_affine(scale, bias, mean, var, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime's per-channel factors, all float32: ``s = scale * (1 / sqrt(var + eps))``,
    ``b = bias - mean * s``."""
    with np.errstate(all="ignore"):
        inv = np.float32(1) / np.sqrt(np.asarray(var, np.float32) + np.float32(epsilon))
        s = np.asarray(scale, np.float32) * inv
        b = np.asarray(bias, np.float32) - np.asarray(mean, np.float32) * s
    return s.astype(np.float32), b.astype(np.float32)


def batchnorm(x: np.ndarray, s: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x * s + b`` in float32 (``s``, ``b`` already broadcast to ``x``)."""
    with np.errstate(all="ignore"):
        return (np.asarray(x).astype(np.float32) * s + b).astype(np.float32)


def compare_dtype(a: np.dtype, b: np.dtype) -> type:
    """The dtype in which ``a >= b`` is exact: float32 for two floats, int64 for two integers,
    float64 for an integer against a float."""
    a_float, b_float = a.kind == "f", b.kind == "f"
    if a_float and b_float:
        return np.float32
    if a_float or b_float:
        return np.float64
    return np.int64
