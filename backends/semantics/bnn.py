"""Reference semantics of the ``bnn`` dialect (ONNX semantics on ±1 networks), and the window
and border-class helpers the lower dialects share (:func:`windows`, :func:`spatial_classes`).

``f32`` arithmetic is float32 in onnxruntime's order (:mod:`bnnc.ir.float32`); integer sums are
exact.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnnc.ir import Domain, Operation
from bnnc.ir import float32 as kernels
from bnnc.ir.dialects import bnn as dialect

from .core import converted
from .registry import InterpreterError, implements


def _result_domain(op: Operation, index: int = 0) -> Domain:
    return op.results[index].type.domain


# --------------------------------------------------------------------------- windows and border classes


def windows(x: np.ndarray, kernel: tuple[int, int], op: Operation, pad_value) -> np.ndarray:
    """The sliding windows of an NCHW tensor as ``[N, C, OH, OW, kh, kw]`` (a view where
    possible): ``pad_value`` fills the ONNX pads ``[top, left, bottom, right]``, then windows
    of ``kernel`` taps spaced by the dilations are taken every stride (floor mode)."""
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = op.attr("strides"), op.attr("pads"), op.attr("dilations")
    kh, kw = kernel
    padded = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=pad_value)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if padded.shape[2] < span_h or padded.shape[3] < span_w:
        raise InterpreterError.at(op, f"window {kh}x{kw} (dilated {span_h}x{span_w}) does not fit the padded input {padded.shape[2:]}")
    view = sliding_window_view(padded, (span_h, span_w), axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def spatial_classes(classes: np.ndarray) -> np.ndarray:
    """The class id of every spatial position, flattened row-major (one id for rank 0)."""
    return np.asarray(classes).reshape(-1)


# --------------------------------------------------------------------------- binary layers


@implements(dialect.Conv)
def _conv(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Exact integer cross-correlation, the pads holding ``pad_value``: im2col, then one float64
    GEMM (every partial sum is an integer below 2**53, so the BLAS result is exact in any order)."""
    (x,) = args
    w = op.const_array("weight")
    cols = windows(x.astype(np.float64), (w.shape[2], w.shape[3]), op, float(op.attr("pad_value")))  # [N, C, OH, OW, kh, kw]
    sums = np.tensordot(cols, w.astype(np.float64), axes=([1, 4, 5], [1, 2, 3]))  # [N, OH, OW, Cout]
    return [_exact_i32(op, sums.transpose(0, 3, 1, 2))]


@implements(dialect.Dense)
def _dense(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``y[n, m] = sum_k x[n, k] * W[m, k]``, exact (float64 GEMM on integers)."""
    (x,) = args
    w = op.const_array("weight")
    return [_exact_i32(op, x.astype(np.float64) @ w.astype(np.float64).T)]


def _exact_i32(op: Operation, sums: np.ndarray) -> np.ndarray:
    if sums.size and np.abs(sums).max() > np.iinfo(np.int32).max:
        raise InterpreterError.at(op, "an integer sum overflows i32")
    return np.ascontiguousarray(sums).astype(np.int32)


@implements(dialect.Threshold)
def _threshold(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``out_scale * #{t in T[row] : x >= t} + out_bias``, one row of ``T`` per channel (axis 1)
    or one row for all. Integers compare with integers exactly, floats with floats in float32,
    an integer with a float in float64 (exact for both)."""
    (x,) = args
    t = op.const_array("thresholds")
    rows, levels = t.shape
    if x.ndim >= 2:
        t = t.reshape((1, rows) + (1,) * (x.ndim - 2) + (levels,))
    else:  # no channel axis: one row for all
        t = t.reshape(levels)
    common = kernels.compare_dtype(x.dtype, t.dtype)
    count = (x.astype(common)[..., None] >= t.astype(common)).sum(axis=-1)
    scale, bias = op.attr("out_scale"), op.attr("out_bias")
    domain = _result_domain(op)
    if domain is Domain.F32:
        return [np.float32(scale) * count.astype(np.float32) + np.float32(bias)]
    if not (float(scale).is_integer() and float(bias).is_integer()):
        raise InterpreterError.at(op, f"out_scale {scale} and out_bias {bias} do not give integers for domain {domain.value}")
    return [converted(op, count.astype(np.int64) * int(scale) + int(bias), domain)]


@implements(dialect.Sign)
def _sign(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """+1 above zero, -1 below; at zero (``-0.0`` included) 0, +1 or -1 per ``zero``."""
    positive, negative = sign_masks(op, args[0])
    dtype = _result_domain(op).dtype
    return [positive.astype(dtype) - negative.astype(dtype)]


def sign_masks(op: Operation, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ``bnn.sign`` op ``op`` gives +1 and where it gives −1 on ``x`` (elsewhere 0): above
    and below zero, and at zero (``-0.0`` included) as ``zero`` says; NaN is refused."""
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise InterpreterError.at(op, "sign of NaN")
    zero = op.attr("zero")
    return (x >= 0 if zero == "pos" else x > 0), (x <= 0 if zero == "neg" else x < 0)


# --------------------------------------------------------------------------- float32 ops


@implements(dialect.BatchNorm)
def _batchnorm(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's order, all float32: ``inv = 1 / sqrt(var + eps)``, ``s = scale * inv``,
    ``b = bias - mean * s``, ``y = x * s + b`` (broadcast along axis 1)."""
    (x,) = args
    s, b = kernels.batchnorm_affine(*(op.const_array(n) for n in ("scale", "bias", "mean", "var")), op.attr("epsilon"))
    channel = (1, -1) + (1,) * (x.ndim - 2)
    return [kernels.batchnorm(x, s.reshape(channel), b.reshape(channel))]


def _elementwise(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``x op c``, or ``c op x`` when ``const_first``, in float32 with broadcasting."""
    kind = op.name.split(".")[1]
    return [kernels.elementwise(kind, args[0], op.const_array("constant"), op.attr("const_first"))]


for _op in (dialect.Add, dialect.Sub, dialect.Mul, dialect.Div):
    implements(_op)(_elementwise)


@implements(dialect.AddTensors)
@implements(dialect.SubTensors)
@implements(dialect.MulTensors)
def _elementwise_tensors(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``a op b`` in float32 with broadcasting."""
    lhs, rhs = args
    return [kernels.elementwise(op.kind, lhs, rhs, False)]


@implements(dialect.PRelu)
def _prelu(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``x`` where ``x >= 0``, ``slope * x`` below, in float32."""
    return [kernels.prelu(args[0], op.const_array("slope"))]


@implements(dialect.Concat)
def _concat(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate(args, axis=op.attr("axis"))]


@implements(dialect.MaxPool)
def _maxpool(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Maximum over each window; pads hold -inf (or the dtype's minimum), so they never win.
    A window lying wholly in the padding has no maximum and is refused."""
    (x,) = args
    kernel = tuple(op.attr("kernel"))
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    valid = windows(np.ones((1, 1) + x.shape[2:], dtype=bool), kernel, op, False)
    if not valid.any(axis=(-2, -1)).all():
        raise InterpreterError.at(op, "a pooling window lies entirely in the padding")
    return [windows(x, kernel, op, lowest).max(axis=(-2, -1)).astype(x.dtype)]


@implements(dialect.Compare)
def _compare(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``[y >= T0]`` as ±1 (one level) or ``[y >= T0] + [y >= T1] - 1`` (two levels), with the
    thresholds of each position's class; exact integer comparison."""
    (y,) = args
    t = op.const_array("thresholds").astype(np.int64)  # [C, K, L]
    k = spatial_classes(op.const_array("classes"))
    flat = y.reshape(y.shape[0], y.shape[1], -1).astype(np.int64)  # [N, C, S]
    per_position = t[:, k, :]  # [C, S, L]
    hits = (flat[..., None] >= per_position[None]).sum(axis=-1)  # [N, C, S]
    levels = t.shape[2]
    out = 2 * hits - 1 if levels == 1 else hits - 1
    return [out.reshape(y.shape).astype(_result_domain(op).dtype)]


@implements(dialect.Pool)
def _pool(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Per channel the maximum (direction +1) or minimum (−1) over each window's valid
    positions; pads never win."""
    (x,) = args
    direction = op.const_array("direction").astype(np.int64)
    kernel = tuple(op.attr("kernel"))
    high = np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).max
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    maxima = windows(x, kernel, op, low).max(axis=(-2, -1))
    minima = windows(x, kernel, op, high).min(axis=(-2, -1))
    chosen = np.where(direction.reshape(1, -1, 1, 1) > 0, maxima, minima)
    return [chosen.astype(x.dtype)]


@implements(dialect.InputQuant)
def _input_quant(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """float32: ``round(clip(x / scale + zp, lo, hi))`` (QONNX), or with ``zp_after_round``
    ``clip(round(x / scale) + zp, lo, hi)`` (ONNX ``QuantizeLinear``)."""
    (x,) = args
    if np.isnan(x).any():
        raise InterpreterError.at(op, "cannot quantize NaN")
    scale, zp = op.const_array("scale"), op.const_array("zero_point")
    if op.attr("zp_after_round") and not np.array_equal(zp, np.round(zp)):
        raise InterpreterError.at(op, "zp_after_round (ONNX order) needs an integer zero point")
    lo, hi = op.code_range()
    rnd = {"half_even": np.rint, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}[op.attr("rounding")]
    with np.errstate(all="ignore"):
        if op.attr("zp_after_round"):
            q = np.clip(rnd(x / scale) + zp, np.float32(lo), np.float32(hi))
        else:
            q = rnd(np.clip(x / scale + zp, np.float32(lo), np.float32(hi)))
    if np.isnan(q).any():
        raise InterpreterError.at(op, "quantization produced NaN (a zero scale?)")
    return [q.astype(_result_domain(op).dtype)]


# --------------------------------------------------------------------------- data movement


@implements(dialect.Reshape)
def _reshape(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [args[0].reshape(tuple(op.attr("shape")))]


@implements(dialect.Transpose)
def _transpose(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(args[0], tuple(op.attr("perm")))]


@implements(dialect.Convert)
def _convert(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Same values in another domain; a value the target cannot hold exactly is an error."""
    return [converted(op, args[0], _result_domain(op))]
