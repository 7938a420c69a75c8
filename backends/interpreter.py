"""The reference interpreter: the executable definition of what every IR op computes.

Every compiler pass is checked against this module, so it is written to be read: one small
function per op, registered under the op's name with :func:`implements`. Each function takes
the op and its operand arrays and returns its result arrays; the driver (:func:`interpret`)
feeds it, then checks every result against the op's declared type (shape, numpy dtype of the
domain and, for ``pm1``/``tern``/``bit``, the values themselves).

Conventions shared by every op:

- a value is a numpy array in its domain's dtype (:attr:`Domain.dtype`);
- ``f32`` arithmetic is float32, in the order the op's docstring writes it, one rounding per
  ONNX operation — that is how onnxruntime evaluates the source graph, and binary outputs
  (a sign after a batchnorm) are compared with it bit-exactly;
- integer sums (``bnn.conv``, ``bnn.dense``) are exact.

A later dialect adds its semantics beside its ops::

    @implements("xbar.mvm")
    def _mvm(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
        ...
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bnnc.ir import Domain, Module, Operation, TensorType
from bnnc.ir.diagnostics import OpDiagnostic

from bnnc.ir import float32 as kernels
from .onnx_session import reference_session

OpSemantics = Callable[[Operation, list[np.ndarray]], list[np.ndarray]]
"""An op's semantics: ``(op, operand arrays) -> result arrays``."""

_IMPLEMENTATIONS: dict[str, OpSemantics] = {}


# --------------------------------------------------------------------------- errors and registry


class InterpreterError(OpDiagnostic):
    """A program the interpreter cannot run, or an op whose result breaks its declared type.
    Names the op and the ONNX node(s) it came from whenever the failure belongs to an op."""

    def __str__(self) -> str:
        if self.op_name is None:
            return self.message
        where = f"'{self.op_name}' at {self.location.describe() if self.location else 'unknown location'}"
        if self.source is not None:
            filename, line, column = self.source
            where = f"{filename}:{line}:{column}: {where}"
        return f"{where}: {self.message}"


def implements(op_name: str) -> Callable[[OpSemantics], OpSemantics]:
    """Decorator: register ``fn(op, args) -> results`` as the semantics of ``op_name``."""

    def register(fn: OpSemantics) -> OpSemantics:
        existing = _IMPLEMENTATIONS.get(op_name)
        same = existing is not None and (existing.__module__, existing.__qualname__) == (fn.__module__, fn.__qualname__)
        if existing is not None and not same:
            raise ValueError(f"op {op_name} already has interpreter semantics ({existing.__module__}.{existing.__qualname__})")
        _IMPLEMENTATIONS[op_name] = fn
        return fn

    return register


def semantics_of(op_name: str) -> OpSemantics | None:
    """The registered semantics of ``op_name``, or None."""
    return _IMPLEMENTATIONS.get(op_name)


def implemented_ops() -> list[str]:
    """The names of every op the interpreter can run, sorted."""
    return sorted(_IMPLEMENTATIONS)


# --------------------------------------------------------------------------- driver


def interpret(module: Module, inputs: Sequence[np.ndarray], function: str = "main") -> list[np.ndarray]:
    """Run ``function`` of ``module`` on one set of ``inputs`` (one array per argument, of exactly
    the declared shape; values are converted to the argument's domain dtype, and a value outside
    the domain is refused). Returns one array per returned value, in its domain's dtype."""
    try:
        func = module.function(function)
    except KeyError:
        raise InterpreterError(f"module has no function @{function}") from None
    if len(inputs) != len(func.args):
        raise InterpreterError(f"@{function} takes {len(func.args)} inputs, got {len(inputs)}")

    env: dict[int, np.ndarray] = {}
    for i, (arg, array) in enumerate(zip(func.args, inputs)):
        what = f"argument {i} (%arg{i}: {arg.type}) of @{function}"
        env[id(arg)] = _frozen(_argument(array, arg.type, what))

    for op in func.ops:
        semantics = _IMPLEMENTATIONS.get(op.name)
        if semantics is None:
            raise InterpreterError.at(op, f"no interpreter semantics for op {op.name}")
        args = []
        for index, value in enumerate(op.operands):
            if id(value) not in env:
                raise InterpreterError.at(op, f"operand {index} is used before it is defined")
            args.append(env[id(value)])
        try:
            outputs = list(semantics(op, args))
        except InterpreterError:
            raise
        except Exception as e:  # a numpy/onnxruntime failure inside an op still names the op
            raise InterpreterError.at(op, f"{type(e).__name__}: {e}") from e
        if op.name == "return":
            return [np.array(a, copy=True) for a in outputs]
        if len(outputs) != len(op.results):
            raise InterpreterError.at(op, f"semantics produced {len(outputs)} results, the op declares {len(op.results)}")
        for value, array in zip(op.results, outputs):
            _check_result(op, value.index, array, value.type)
            env[id(value)] = _frozen(array)
    raise InterpreterError(f"function @{function} does not end in 'return'")


def interpret_batch(module: Module, inputs: Sequence[np.ndarray], function: str = "main") -> list[np.ndarray]:
    """:func:`interpret` over a batch: every input has an extra leading axis of samples; runs
    sample by sample and stacks each output along a new leading axis."""
    arrays = [np.asarray(x) for x in inputs]
    samples = sample_count(arrays, InterpreterError, "interpret_batch")
    if samples == 0:
        try:
            types = module.function(function).result_types
        except Exception as e:
            raise InterpreterError(str(e)) from None
        return [np.empty((0,) + t.shape, dtype=t.domain.dtype) for t in types]
    runs = [interpret(module, [a[s] for a in arrays], function) for s in range(samples)]
    return [np.stack(outs) for outs in zip(*runs)]


def sample_count(arrays: list[np.ndarray], error: type[Exception], who: str) -> int:
    """The common length of the leading sample axis of ``arrays`` (1 for no arrays)."""
    if any(a.ndim == 0 for a in arrays):
        raise error(f"{who} needs a leading sample axis on every input")
    counts = {a.shape[0] for a in arrays}
    if len(counts) > 1:
        raise error(f"inputs hold different numbers of samples: {[a.shape[0] for a in arrays]}")
    return counts.pop() if counts else 1


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view, so that no op's semantics can modify a value another op reads."""
    view = array.view()
    view.flags.writeable = False
    return view


def _argument(array: np.ndarray, declared: TensorType, what: str) -> np.ndarray:
    array = np.asarray(array)
    if tuple(array.shape) != declared.shape:
        raise InterpreterError(f"{what} has shape {tuple(array.shape)}, declared {declared.shape}")
    if array.dtype.kind not in "biuf":
        raise InterpreterError(f"{what} has dtype {array.dtype}, expected numbers")
    if declared.domain is Domain.F32:
        return array.astype(np.float32)  # a real input is rounded to float32, like an ONNX feed
    try:
        return to_domain(array, declared.domain)
    except ValueError as e:
        raise InterpreterError(f"{what}: {e}") from None


def _check_result(op: Operation, index: int, array: np.ndarray, declared: TensorType) -> None:
    if not isinstance(array, np.ndarray):
        raise InterpreterError.at(op, f"result {index} is a {type(array).__name__}, not an array")
    if tuple(array.shape) != declared.shape or array.dtype != declared.domain.dtype:
        raise InterpreterError.at(
            op,
            f"result {index} is {array.dtype}{list(array.shape)}, but its declared type {declared} "
            f"means {declared.domain.dtype}{list(declared.shape)}",
        )
    if not declared.domain.contains(array):
        raise InterpreterError.at(op, f"result {index} holds {_sample_outside(array, declared.domain)}, outside domain {declared.domain.value}")


def _sample_outside(array: np.ndarray, domain: Domain) -> str:
    flat = array.reshape(-1)
    bad = flat[~np.isin(flat, _DOMAIN_VALUES[domain])]
    return f"the value {bad[0].item()!r}" if bad.size else "values"


_DOMAIN_VALUES = {Domain.PM1: np.array([-1, 1]), Domain.TERN: np.array([-1, 0, 1]), Domain.BIT: np.array([0, 1])}
"""The domains restricted to a few values (the others are their dtype's whole range)."""


def to_domain(array: np.ndarray, domain: Domain) -> np.ndarray:
    """``array`` converted to ``domain``'s dtype keeping every value exactly; raises
    ``ValueError`` naming a value that the domain cannot represent (0.5 for an integer domain,
    300 for ``u8``, 0 for ``pm1``, 2**24 + 1 for ``f32``). NaN and infinities convert only to
    ``f32``."""
    array = np.asarray(array)
    converted, exact = _exact_cast(array, domain.dtype)
    allowed = _DOMAIN_VALUES.get(domain)
    if allowed is not None:
        exact &= np.isin(converted, allowed)
    if not exact.all():
        bad = array.reshape(-1)[~exact.reshape(-1)][0].item()
        raise ValueError(f"value {bad!r} is not in domain {domain.value}")
    return converted


def _exact_cast(array: np.ndarray, dtype: np.dtype | type) -> tuple[np.ndarray, np.ndarray]:
    """``array.astype(dtype)`` and a mask of the elements it kept exactly (a round trip back
    to the source dtype gives them back; NaN survives only between float types)."""
    with np.errstate(invalid="ignore", over="ignore"):
        converted = array.astype(dtype)
        back = converted.astype(array.dtype)
    exact = back == array
    if array.dtype.kind == "f":
        if converted.dtype.kind == "f":
            exact |= np.isnan(array) & np.isnan(back)
        else:
            exact &= np.isfinite(array)
    return converted, exact


def _result_domain(op: Operation, index: int = 0) -> Domain:
    return op.results[index].type.domain


# --------------------------------------------------------------------------- window helpers


def _windows(x: np.ndarray, kernel: tuple[int, int], op: Operation, pad_value) -> np.ndarray:
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


# --------------------------------------------------------------------------- bnn: binary layers


@implements("bnn.conv")
def _conv(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Exact integer cross-correlation with zero padding: im2col, then one float64 GEMM (every
    partial sum is an integer below 2**53, so the BLAS result is exact in any order)."""
    (x,) = args
    w = op.const_array("weight")
    cols = _windows(x.astype(np.float64), (w.shape[2], w.shape[3]), op, 0.0)  # [N, C, OH, OW, kh, kw]
    sums = np.tensordot(cols, w.astype(np.float64), axes=([1, 4, 5], [1, 2, 3]))  # [N, OH, OW, Cout]
    return [_exact_i32(op, sums.transpose(0, 3, 1, 2))]


@implements("bnn.dense")
def _dense(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``y[n, m] = sum_k x[n, k] * W[m, k]``, exact (float64 GEMM on integers)."""
    (x,) = args
    w = op.const_array("weight")
    return [_exact_i32(op, x.astype(np.float64) @ w.astype(np.float64).T)]


def _exact_i32(op: Operation, sums: np.ndarray) -> np.ndarray:
    if sums.size and np.abs(sums).max() > np.iinfo(np.int32).max:
        raise InterpreterError.at(op, "an integer sum overflows i32")
    return np.ascontiguousarray(sums).astype(np.int32)


@implements("bnn.threshold")
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
    return [_converted(op, count.astype(np.int64) * int(scale) + int(bias), domain)]


@implements("bnn.sign")
def _sign(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """+1 above zero, -1 below; at zero (``-0.0`` included) 0, +1 or -1 per ``zero``."""
    (x,) = args
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise InterpreterError.at(op, "sign of NaN")
    at_zero = {"zero": 0, "pos": 1, "neg": -1}[op.attr("zero")]
    y = np.where(x > 0, 1, np.where(x < 0, -1, at_zero))
    return [y.astype(_result_domain(op).dtype)]


# --------------------------------------------------------------------------- bnn: float32 ops


@implements("bnn.batchnorm")
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


for _kind in ("add", "sub", "mul", "div"):
    implements(f"bnn.{_kind}")(_elementwise)


@implements("bnn.add_tensors")
def _add_tensors(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``a + b`` in float32 with broadcasting."""
    lhs, rhs = args
    return [kernels.elementwise("add", lhs, rhs, False)]


@implements("bnn.maxpool")
def _maxpool(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Maximum over each window; pads hold -inf (or the dtype's minimum), so they never win.
    A window lying wholly in the padding has no maximum and is refused."""
    (x,) = args
    kernel = tuple(op.attr("kernel"))
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    valid = _windows(np.ones((1, 1) + x.shape[2:], dtype=bool), kernel, op, False)
    if not valid.any(axis=(-2, -1)).all():
        raise InterpreterError.at(op, "a pooling window lies entirely in the padding")
    return [_windows(x, kernel, op, lowest).max(axis=(-2, -1)).astype(x.dtype)]


def spatial_classes(classes: np.ndarray) -> np.ndarray:
    """The class id of every spatial position, flattened row-major (one id for rank 0)."""
    return np.asarray(classes).reshape(-1)


@implements("bnn.compare")
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


@implements("bnn.pool")
def _pool(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Per channel the maximum (direction +1) or minimum (−1) over each window's valid
    positions; pads never win."""
    (x,) = args
    direction = op.const_array("direction").astype(np.int64)
    kernel = tuple(op.attr("kernel"))
    high = np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).max
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    maxima = _windows(x, kernel, op, low).max(axis=(-2, -1))
    minima = _windows(x, kernel, op, high).min(axis=(-2, -1))
    chosen = np.where(direction.reshape(1, -1, 1, 1) > 0, maxima, minima)
    return [chosen.astype(x.dtype)]


@implements("bnn.input_quant")
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


# --------------------------------------------------------------------------- bnn: data movement


@implements("bnn.reshape")
def _reshape(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [args[0].reshape(tuple(op.attr("shape")))]


@implements("bnn.transpose")
def _transpose(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(args[0], tuple(op.attr("perm")))]


@implements("bnn.convert")
def _convert(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Same values in another domain; a value the target cannot hold exactly is an error."""
    return [_converted(op, args[0], _result_domain(op))]


def _converted(op: Operation, array: np.ndarray, domain: Domain) -> np.ndarray:
    try:
        return to_domain(array, domain)
    except ValueError as e:
        raise InterpreterError.at(op, str(e)) from None


# --------------------------------------------------------------------------- host


_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}

_SESSIONS: weakref.WeakKeyDictionary[Module, dict[str, tuple[int, object]]] = weakref.WeakKeyDictionary()


def _session_for(op: Operation):
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


@implements("host.onnx")
def _host_onnx(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Run the ONNX model in constant ``model`` with onnxruntime (no graph optimizations, one
    thread): operands feed the graph inputs in order, graph outputs become the results."""
    session = _session_for(op)
    graph_inputs, graph_outputs = session.get_inputs(), session.get_outputs()
    if len(graph_inputs) != len(args) or len(graph_outputs) != len(op.results):
        raise InterpreterError.at(
            op,
            f"the model has {len(graph_inputs)} inputs and {len(graph_outputs)} outputs, "
            f"the op {len(args)} operands and {len(op.results)} results",
        )
    feeds = {}
    for i, (spec, array) in enumerate(zip(graph_inputs, args)):
        dtype = _ONNX_TYPES.get(spec.type)
        if dtype is None:
            raise InterpreterError.at(op, f"model input '{spec.name}' has unsupported type {spec.type}")
        converted, exact = _exact_cast(array, dtype)
        if not exact.all():
            raise InterpreterError.at(op, f"operand {i} does not convert exactly to {spec.type} for model input '{spec.name}'")
        feeds[spec.name] = converted
    outputs = session.run(None, feeds)
    return [_converted(op, np.asarray(out), r.type.domain) for out, r in zip(outputs, op.results)]


# --------------------------------------------------------------------------- return


@implements("return")
def _return(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """The function's results."""
    return list(args)


from . import xbar_semantics  # noqa: E402,F401  (registers the xbar dialect's semantics)

__all__ = ["InterpreterError", "interpret", "interpret_batch", "implements", "implemented_ops", "semantics_of", "to_domain"]
