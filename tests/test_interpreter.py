"""The reference interpreter against onnxruntime: every bnn op equals the equivalent ONNX node(s)
run by onnxruntime with graph optimizations disabled, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from bnnc.backends import interpreter
from bnnc.backends.semantics import host, registry
from bnnc.backends.interpreter import InterpreterError, implements, interpret, interpret_batch
from bnnc.ir import Domain, Function, Location, Module, Operation, OperandDef, ResultDef, Return, TensorType, lookup_op, parse_module

D = Domain
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- helpers

_ONNX_ELEM = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.uint8): TensorProto.UINT8,
}


def onnx_model(nodes, inputs: dict[str, np.ndarray], outputs: list[str], initializers: dict[str, np.ndarray] | None = None, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, _ONNX_ELEM[a.dtype], a.shape) for n, a in inputs.items()],
        [onnx.ValueInfoProto(name=n) for n in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), n) for n, v in (initializers or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_ort(nodes, inputs: dict[str, np.ndarray], outputs: list[str], initializers=None, opset: int = 17) -> list[np.ndarray]:
    return ort_session(onnx_model(nodes, inputs, outputs, initializers, opset)).run(outputs, inputs)


def one_op_module(op_name: str, arg_types: list[TensorType], consts=(), attrs=None, result_types=None) -> Module:
    """A module whose @main applies one op (located at node 'N') to its arguments."""
    module = Module("test")
    symbols = [module.add_constant(name, np.asarray(data), domain) for name, data, domain in consts]
    func = module.add_function(Function("main", arg_types))
    cls = lookup_op(op_name)
    const_types = [module.constants[s].type for s in symbols]
    if result_types is None:
        op = cls.build(func.args, attrs, symbols, Location.of("N"), const_types)
    else:
        op = cls(func.args, result_types, attrs, symbols, Location.of("N"))
    func.append(op)
    func.append(Return(op.results))
    module.verify()
    return module


def assert_same_f32(actual: np.ndarray, expected: np.ndarray) -> None:
    """Bit-exact float32 equality (any NaN matches any NaN)."""
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    expected = np.asarray(expected, dtype=np.float32)
    nan = np.isnan(actual)
    assert np.array_equal(nan, np.isnan(expected))
    assert np.array_equal(actual.view(np.uint32)[~nan], expected.view(np.uint32)[~nan])


def random_values(rng: np.random.Generator, domain: Domain, shape) -> np.ndarray:
    if domain is D.PM1:
        return rng.choice(np.array([-1, 1], dtype=np.int8), size=shape)
    if domain is D.TERN:
        return rng.integers(-1, 2, size=shape).astype(np.int8)
    if domain is D.U8:
        return rng.integers(0, 256, size=shape).astype(np.uint8)
    if domain is D.I8:
        return rng.integers(-128, 128, size=shape).astype(np.int8)
    if domain is D.I32:
        return rng.integers(-60, 61, size=shape).astype(np.int32)
    return (rng.standard_normal(shape) * 3).astype(np.float32)


def pm1(rng: np.random.Generator, shape) -> np.ndarray:
    return random_values(rng, D.PM1, shape)


# --------------------------------------------------------------------------- conv and dense


def check_conv(x: np.ndarray, domain: Domain, w: np.ndarray, pads, strides, dilations) -> None:
    module = one_op_module(
        "bnn.conv", [TensorType(domain, x.shape)], [("w", w, D.PM1)],
        {"pads": tuple(pads), "strides": tuple(strides), "dilations": tuple(dilations)},
    )
    (got,) = interpret(module, [x])
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=list(w.shape[2:]), pads=list(pads), strides=list(strides), dilations=list(dilations))
    (want,) = run_ort([node], {"x": x.astype(np.float32)}, ["y"], {"w": w.astype(np.float32)})
    assert got.dtype == np.int32
    assert np.array_equal(want, np.round(want)), "fan-in small enough for float32 to be exact"
    assert np.array_equal(got, want.astype(np.int32))


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv_matches_onnxruntime(kernel, pad, stride, dilation):
    rng = np.random.default_rng(kernel * 100 + pad * 10 + stride * 3 + dilation)
    x, w = pm1(rng, (1, 3, 9, 9)), pm1(rng, (4, 3, kernel, kernel))
    check_conv(x, D.PM1, w, [pad] * 4, [stride] * 2, [dilation] * 2)


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    domain=st.sampled_from([D.PM1, D.TERN, D.U8, D.I8]),
    batch=st.integers(1, 2),
    cin=st.integers(1, 3),
    cout=st.integers(1, 3),
    kernel=st.tuples(st.sampled_from([1, 3, 5]), st.sampled_from([1, 3, 5])),
    size=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    pads=st.tuples(*[st.sampled_from([0, 1, 2])] * 4),
    strides=st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2])),
    dilations=st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2])),
)
def test_conv_property(seed, domain, batch, cin, cout, kernel, size, pads, strides, dilations):
    spans = [d * (k - 1) + 1 for d, k in zip(dilations, kernel)]
    size = (max(size[0], spans[0] - pads[0] - pads[2]), max(size[1], spans[1] - pads[1] - pads[3]))
    rng = np.random.default_rng(seed)
    x = random_values(rng, domain, (batch, cin) + size)
    check_conv(x, domain, pm1(rng, (cout, cin) + kernel), pads, strides, dilations)


def test_conv_padding_adds_zeros_not_minus_ones():
    # an all-(+1) input and kernel: the corner window of a pad-1 3x3 conv sees 4 real taps
    x, w = np.ones((1, 1, 3, 3), np.int8), np.ones((1, 1, 3, 3), np.int8)
    module = one_op_module("bnn.conv", [TensorType(D.PM1, x.shape)], [("w", w, D.PM1)], {"pads": (1, 1, 1, 1)})
    (got,) = interpret(module, [x])
    assert got[0, 0].tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]


@pytest.mark.parametrize("domain", [D.PM1, D.TERN, D.U8, D.I8])
def test_dense_matches_matmul_and_gemm(domain):
    rng = np.random.default_rng(7)
    x, w = random_values(rng, domain, (3, 40)), pm1(rng, (5, 40))
    module = one_op_module("bnn.dense", [TensorType(domain, x.shape)], [("w", w, D.PM1)])
    (got,) = interpret(module, [x])
    xf, wf = x.astype(np.float32), w.astype(np.float32)
    (matmul,) = run_ort([helper.make_node("MatMul", ["x", "wt"], ["y"])], {"x": xf}, ["y"], {"wt": wf.T.copy()})
    (gemm,) = run_ort([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], {"x": xf}, ["y"], {"w": wf})
    assert got.dtype == np.int32
    assert np.array_equal(got, matmul.astype(np.int32))
    assert np.array_equal(got, gemm.astype(np.int32))


# --------------------------------------------------------------------------- batchnorm


def check_batchnorm(x: np.ndarray, domain: Domain, params: dict[str, np.ndarray], epsilon: float) -> None:
    consts = [(n, params[n], D.F32) for n in ("scale", "bias", "mean", "var")]
    module = one_op_module("bnn.batchnorm", [TensorType(domain, x.shape)], consts, {"epsilon": epsilon})
    (got,) = interpret(module, [x])
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=epsilon)
    (want,) = run_ort([node], {"x": x.astype(np.float32)}, ["y"], params)
    assert_same_f32(got, want)


_SCALES = [1.0, -1.0, 0.0, -0.0, 0.731, -2.5e-3, 3.3e4, 1e-30]
_VARS = [1.0, 0.0, 1e-12, 1e-40, 3.7e-6, 0.25, 1e4]


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    from_integers=st.booleans(),
    rank=st.sampled_from([2, 4]),
    channels=st.integers(1, 5),
    scales=st.lists(st.sampled_from(_SCALES) | st.floats(-10, 10, width=32), min_size=5, max_size=5),
    variances=st.lists(st.sampled_from(_VARS) | st.floats(0, 100, width=32), min_size=5, max_size=5),
    epsilon=st.sampled_from([1e-5, 1e-3, 1e-6, 0.1, 2e-5]),
)
def test_batchnorm_matches_onnxruntime(seed, from_integers, rank, channels, scales, variances, epsilon):
    rng = np.random.default_rng(seed)
    shape = (2, channels) + ((3, 4) if rank == 4 else ())
    domain = D.I32 if from_integers else D.F32
    x = random_values(rng, domain, shape)
    params = {
        "scale": np.array(scales[:channels], np.float32),
        "bias": (rng.standard_normal(channels) * 2).astype(np.float32),
        "mean": (rng.integers(-20, 21, channels) + rng.choice([0.0, 0.5, 0.3], channels)).astype(np.float32),
        "var": np.array(variances[:channels], np.float32),
    }
    check_batchnorm(x, domain, params, epsilon)


def test_batchnorm_from_small_integers_every_reachable_value():
    # every integer sum of a 27-tap ±1 layer, through assorted channels
    x = np.arange(-27, 28, dtype=np.int32).reshape(1, 1, -1).repeat(4, axis=1)
    params = {
        "scale": np.array([0.37, -1.2, 0.0, 5e-4], np.float32),
        "bias": np.array([0.1, -0.3, 0.2, 1e-7], np.float32),
        "mean": np.array([1.5, -3.0, 0.0, 2.0], np.float32),
        "var": np.array([0.9, 1e-9, 2.0, 1e-30], np.float32),
    }
    check_batchnorm(x, D.I32, params, 1e-5)


def test_conv_batchnorm_sign_chain_matches_onnxruntime():
    """The usual hidden layer, ties included: where x*s == mean*s the batchnorm gives exactly 0
    and ONNX Sign gives 0."""
    rng = np.random.default_rng(3)
    x, w = pm1(rng, (1, 2, 6, 6)), pm1(rng, (3, 2, 3, 3))
    params = {
        "scale": np.array([0.8, -1.3, 2.0], np.float32),
        "bias": np.array([0.0, 0.0, 0.25], np.float32),
        "mean": np.array([2.0, -4.0, 0.5], np.float32),
        "var": np.array([1.0, 0.3, 1e-6], np.float32),
    }
    module = Module("chain")
    syms = [module.add_constant("w", w, D.PM1)] + [module.add_constant(n, params[n], D.F32) for n in ("scale", "bias", "mean", "var")]
    func = module.add_function(Function("main", [TensorType(D.PM1, x.shape)]))
    ctypes = [module.constants[s].type for s in syms]
    conv = func.append(lookup_op("bnn.conv").build(func.args, {"pads": (1, 1, 1, 1)}, syms[:1], Location.of("Conv_0"), ctypes[:1]))
    bn = func.append(lookup_op("bnn.batchnorm").build(conv.results, {}, syms[1:], Location.of("BN_1"), ctypes[1:]))
    sign = func.append(lookup_op("bnn.sign").build(bn.results, {}, (), Location.of("Sign_2")))
    func.append(Return(sign.results))
    module.verify()
    (got,) = interpret(module, [x])
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["b"]),
        helper.make_node("Sign", ["b"], ["y"]),
    ]
    (want,) = run_ort(nodes, {"x": x.astype(np.float32)}, ["y"], {"w": w.astype(np.float32), **params})
    assert got.dtype == np.int8
    assert np.array_equal(got, want.astype(np.int8))
    assert (got == 0).any(), "the test should exercise exact zeros"


# --------------------------------------------------------------------------- maxpool


@pytest.mark.parametrize("domain", [D.F32, D.PM1, D.U8, D.I8, D.I32])
@pytest.mark.parametrize("kernel,strides,pads,dilations", [
    ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1)),
    ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((3, 2), (2, 1), (1, 0, 2, 1), (1, 1)),
    ((2, 2), (1, 2), (1, 1, 0, 0), (2, 1)),
])
def test_maxpool_matches_onnxruntime(domain, kernel, strides, pads, dilations):
    rng = np.random.default_rng(11)
    x = random_values(rng, domain, (2, 3, 7, 6))
    if domain in (D.F32, D.I32):
        x = -np.abs(x) - 1  # all negative: a zero pad would win
    attrs = {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dilations}
    module = one_op_module("bnn.maxpool", [TensorType(domain, x.shape)], (), attrs)
    (got,) = interpret(module, [x])
    feed = x.astype(np.float32) if domain is D.I32 else x  # onnxruntime's MaxPool has no int32 kernel
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=list(kernel), strides=list(strides), pads=list(pads), dilations=list(dilations))
    (want,) = run_ort([node], {"x": feed}, ["y"])
    assert got.dtype == domain.dtype
    assert np.array_equal(got, want.astype(domain.dtype))


def test_maxpool_refuses_a_window_entirely_in_padding():
    module = one_op_module("bnn.maxpool", [TensorType(D.F32, (1, 1, 2, 2))], (), {"kernel": (2, 2), "pads": (2, 0, 0, 0)})
    with pytest.raises(InterpreterError, match="entirely in the padding"):
        interpret(module, [np.zeros((1, 1, 2, 2), np.float32)])


# --------------------------------------------------------------------------- sign


_SIGN_EDGE = np.array([0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 3.4e38, -3.4e38, np.inf, -np.inf, 0.5, -7.0], np.float32)


def test_sign_matches_onnxruntime_with_exact_zeros():
    x = np.concatenate([_SIGN_EDGE, np.random.default_rng(1).standard_normal(12).astype(np.float32)]).reshape(2, 12)
    module = one_op_module("bnn.sign", [TensorType(D.F32, x.shape)], (), {"zero": "zero"})
    (got,) = interpret(module, [x])
    (want,) = run_ort([helper.make_node("Sign", ["x"], ["y"])], {"x": x}, ["y"])
    assert got.dtype == np.int8
    assert np.array_equal(got, want.astype(np.int8))
    assert got[0, 1] == 0, "-0.0 is zero"


def test_sign_of_integers_matches_onnxruntime():
    x = np.arange(-5, 5, dtype=np.int32).reshape(2, 5)
    module = one_op_module("bnn.sign", [TensorType(D.I32, x.shape)], ())
    (got,) = interpret(module, [x])
    (want,) = run_ort([helper.make_node("Sign", ["x"], ["y"])], {"x": x}, ["y"])
    assert np.array_equal(got, want.astype(np.int8))


@pytest.mark.parametrize("zero,compare", [("pos", "GreaterOrEqual"), ("neg", "Greater")])
def test_sign_pos_neg_match_where(zero, compare):
    x = np.concatenate([_SIGN_EDGE, np.arange(-6, 6, dtype=np.float32)]).reshape(4, 6)
    module = one_op_module("bnn.sign", [TensorType(D.F32, x.shape)], (), {"zero": zero})
    (got,) = interpret(module, [x])
    nodes = [helper.make_node(compare, ["x", "zero"], ["c"]), helper.make_node("Where", ["c", "one", "minus"], ["y"])]
    consts = {"zero": np.float32(0), "one": np.float32(1), "minus": np.float32(-1)}
    (want,) = run_ort(nodes, {"x": x}, ["y"], consts)
    assert got.dtype == np.int8 and set(np.unique(got)) <= {-1, 1}
    assert np.array_equal(got, want.astype(np.int8))


def test_sign_refuses_nan():
    module = one_op_module("bnn.sign", [TensorType(D.F32, (2,))], ())
    with pytest.raises(InterpreterError, match="NaN"):
        interpret(module, [np.array([1.0, np.nan], np.float32)])


# --------------------------------------------------------------------------- elementwise


_ONNX_BINARY = {"bnn.add": "Add", "bnn.sub": "Sub", "bnn.mul": "Mul", "bnn.div": "Div"}


@pytest.mark.parametrize("op_name", sorted(_ONNX_BINARY))
@pytest.mark.parametrize("const_shape", [(), (1,), (5,), (3, 1, 1), (1, 3, 1, 1), (2, 3, 4, 5)])
@pytest.mark.parametrize("const_first", [False, True])
@pytest.mark.parametrize("domain", [D.F32, D.I32, D.PM1])
def test_elementwise_matches_onnxruntime(op_name, const_shape, const_first, domain):
    rng = np.random.default_rng(5)
    x = random_values(rng, domain, (2, 3, 4, 5))
    c = (rng.standard_normal(const_shape) * 1.7 + 0.3).astype(np.float32)
    module = one_op_module(op_name, [TensorType(domain, x.shape)], [("c", c, D.F32)], {"const_first": const_first})
    (got,) = interpret(module, [x])
    operands = ["c", "xf"] if const_first else ["xf", "c"]
    nodes = [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT), helper.make_node(_ONNX_BINARY[op_name], operands, ["y"])]
    (want,) = run_ort(nodes, {"x": x}, ["y"], {"c": c})
    assert_same_f32(got, want)


def test_division_by_zero_is_ieee():
    module = one_op_module("bnn.div", [TensorType(D.F32, (4,))], [("c", np.float32(0), D.F32)])
    (got,) = interpret(module, [np.array([1, -1, 0, -0.0], np.float32)])
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2:]).all()


# --------------------------------------------------------------------------- quantization


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
def test_input_quant_matches_quantize_linear(signed, per_channel):
    rng = np.random.default_rng(9)
    channels = 3
    scale = np.array([0.05, 0.013, 1 / 255], np.float32) if per_channel else np.float32(0.013)
    zp = np.array([3, -7, 0] if signed else [128, 0, 17], np.int8 if signed else np.uint8)
    zp = zp if per_channel else zp[1]
    s = scale.reshape(1, -1, 1, 1) if per_channel else scale
    x = (rng.standard_normal((2, channels, 16, 16)) * 80 * s).astype(np.float32)
    # near-ties (k + 1/2) * s, where x / s and x * (1 / s) round differently about once in six
    x[:, :, :8] = ((rng.integers(-150, 150, (2, channels, 8, 16)) + 0.5) * s).astype(np.float32)
    x[1, :, 8, :2] = [1e6, -1e6]  # saturation
    bshape = (1, channels, 1, 1) if per_channel else ()
    consts = [("scale", scale.reshape(bshape), D.F32), ("zp", zp.astype(np.float32).reshape(bshape), D.F32)]
    module = one_op_module("bnn.input_quant", [TensorType(D.F32, x.shape)], consts, {"signed": signed, "zp_after_round": True})
    (got,) = interpret(module, [x])
    node = helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["y"], axis=1)
    (want,) = run_ort([node], {"x": x}, ["y"], {"scale": scale, "zp": zp})
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)


def _quant(x, rounding="half_even", zp_after_round=False, signed=False, narrow=False, bits=8, scale=1.0, zp=0.0):
    consts = [("scale", np.float32(scale), D.F32), ("zp", np.float32(zp), D.F32)]
    attrs = {"rounding": rounding, "zp_after_round": zp_after_round, "signed": signed, "narrow": narrow, "bits": bits}
    x = np.asarray(x, np.float32)
    module = one_op_module("bnn.input_quant", [TensorType(D.F32, x.shape)], consts, attrs)
    return interpret(module, [x])[0].tolist()


def test_input_quant_rounding_modes_and_ranges():
    x = [-1.5, -0.5, 0.5, 1.5, 2.5, 2.7]
    assert _quant(x, signed=True) == [-2, 0, 0, 2, 2, 3]
    assert _quant(x, "floor", signed=True) == [-2, -1, 0, 1, 2, 2]
    assert _quant(x, "ceil", signed=True) == [-1, 0, 1, 2, 3, 3]
    assert _quant(x, "trunc", signed=True) == [-1, 0, 0, 1, 2, 2]
    assert _quant([-300, 300], signed=True) == [-128, 127]
    assert _quant([-300, 300], signed=True, narrow=True) == [-127, 127]
    assert _quant([-300, 300], signed=False, narrow=True) == [0, 254]
    assert _quant([-9, 9], signed=True, bits=4) == [-8, 7]
    assert _quant([-9, 9, 0.49], bits=1) == [0, 1, 0]


def test_input_quant_zero_point_order():
    # QONNX rounds x/s + zp, ONNX adds the zero point to round(x/s)
    assert _quant([2.0], zp=0.5) == [2]  # rint(2.5) = 2: QONNX allows a fractional zero point
    with pytest.raises(InterpreterError, match="integer zero point"):
        _quant([2.0], zp=0.5, zp_after_round=True)  # rint(2.0) + 0.5 is no code
    assert _quant([0.5], zp=2.0) == [2]  # rint(2.5) = 2
    assert _quant([0.5], zp=2.0, zp_after_round=True) == [2]  # rint(0.5) + 2 = 2
    assert _quant([1.5], zp=1.0) == [2]  # rint(2.5) = 2
    assert _quant([1.5], zp=1.0, zp_after_round=True) == [3]  # rint(1.5) + 1 = 3
    assert _quant([3.0], scale=2.0, zp=-1.0, signed=True) == [0]  # rint(0.5) = 0
    assert _quant([3.0], scale=2.0, zp=-1.0, signed=True, zp_after_round=True) == [1]  # rint(1.5) - 1 = 1


# --------------------------------------------------------------------------- data movement


@pytest.mark.parametrize("domain", [D.F32, D.PM1, D.I32])
def test_reshape_and_transpose_match_onnxruntime(domain):
    x = random_values(np.random.default_rng(2), domain, (2, 3, 4))
    reshape = one_op_module("bnn.reshape", [TensorType(domain, x.shape)], (), {"shape": (6, 1, 4)})
    transpose = one_op_module("bnn.transpose", [TensorType(domain, x.shape)], (), {"perm": (2, 0, 1)})
    (r,) = interpret(reshape, [x])
    (t,) = interpret(transpose, [x])
    (want_r,) = run_ort([helper.make_node("Reshape", ["x", "s"], ["y"])], {"x": x}, ["y"], {"s": np.array([6, 1, 4], np.int64)})
    (want_t,) = run_ort([helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1])], {"x": x}, ["y"])
    assert r.dtype == t.dtype == domain.dtype
    assert np.array_equal(r, want_r) and np.array_equal(t, want_t)


def test_convert_keeps_values_and_refuses_the_unrepresentable():
    def run(src: Domain, dst: Domain, values):
        x = np.asarray(values, src.dtype)
        module = one_op_module("bnn.convert", [TensorType(src, x.shape)], (), result_types=[TensorType(dst, x.shape)])
        return interpret(module, [x])[0]

    out = run(D.PM1, D.F32, [-1, 1])
    assert out.dtype == np.float32 and out.tolist() == [-1.0, 1.0]
    assert run(D.F32, D.PM1, [-1.0, 1.0, -0.0 - 1]).tolist() == [-1, 1, -1]
    assert run(D.I32, D.U8, [0, 255]).tolist() == [0, 255]
    assert run(D.F32, D.F32, [np.nan, np.inf]).dtype == np.float32
    for src, dst, values in [
        (D.F32, D.I8, [0.5]),
        (D.F32, D.I32, [np.nan]),
        (D.F32, D.I32, [np.inf]),
        (D.I32, D.U8, [256]),
        (D.I32, D.U8, [-1]),
        (D.TERN, D.PM1, [0]),
        (D.I32, D.F32, [2**24 + 1]),
    ]:
        with pytest.raises(InterpreterError, match=r"'bnn.convert' at node 'N'.*not in domain"):
            run(src, dst, values)


# --------------------------------------------------------------------------- threshold


def _threshold(x: np.ndarray, domain: Domain, t: np.ndarray, t_domain: Domain, **attrs) -> np.ndarray:
    module = one_op_module("bnn.threshold", [TensorType(domain, x.shape)], [("t", t, t_domain)], attrs)
    return interpret(module, [x])[0]


def test_threshold_binarizer_per_channel():
    x = np.arange(-3, 3, dtype=np.int32).reshape(1, 1, 6).repeat(2, axis=1)
    got = _threshold(x, D.I32, np.array([[0], [-2]], np.int32), D.I32, out_scale=2.0, out_bias=-1.0)
    assert got.dtype == np.int8
    assert got.tolist() == [[[-1, -1, -1, 1, 1, 1], [-1, 1, 1, 1, 1, 1]]]


def test_threshold_multilevel_and_one_row_for_all():
    x = np.array([[0.5, 1.0, 1.5, 2.0, 9.0], [-1.0, 0.9, 1.0, 3.0, -0.0]], np.float32).reshape(2, 1, 5).repeat(2, axis=1)
    got = _threshold(x, D.F32, np.array([[1.0, 2.0, 3.0]], np.float32), D.F32)
    assert got.dtype == np.uint8
    assert got[:, 0].tolist() == got[:, 1].tolist() == [[0, 1, 1, 2, 3], [0, 0, 1, 3, 0]]
    real = _threshold(x, D.F32, np.array([[1.0, 2.0, 3.0]], np.float32), D.F32, out_scale=0.5, out_bias=-0.75)
    assert real.dtype == np.float32 and real[0, 0].tolist() == [-0.75, -0.25, -0.25, 0.25, 0.75]
    signed = _threshold(x, D.F32, np.array([[1.0, 2.0, 3.0]], np.float32), D.F32, out_bias=-1.0)
    assert signed.dtype == np.int8 and signed[0, 0].tolist() == [-1, 0, 0, 1, 2]


def test_threshold_without_channel_axis():
    x = np.array([-2, 0, 3], np.int32)
    assert _threshold(x, D.I32, np.array([[0, 2]], np.int32), D.I32).tolist() == [0, 1, 2]


def test_threshold_compares_integer_with_float_exactly():
    # 16777219 rounds to 16777220 in float32; the exact comparison says it is below
    x = np.array([[16777219, 16777220]], np.int32)
    got = _threshold(x, D.I32, np.array([[16777220.0]], np.float32), D.F32, out_scale=2.0, out_bias=-1.0)
    assert got.tolist() == [[-1, 1]]
    # integer against integer thresholds: exact too
    got = _threshold(x, D.I32, np.array([[16777220]], np.int32), D.I32, out_scale=2.0, out_bias=-1.0)
    assert got.tolist() == [[-1, 1]]


# --------------------------------------------------------------------------- host


def _topk_model() -> bytes:
    nodes = [helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=-1)]
    x = np.zeros((1, 10), np.float32)
    return onnx_model(nodes, {"x": x}, ["values", "indices"], {"k": np.array([3], np.int64)}).SerializeToString()


def _topk_module() -> Module:
    module = Module("host")
    sym = module.add_constant("topk", np.frombuffer(_topk_model(), dtype=np.uint8), D.U8)
    func = module.add_function(Function("main", [TensorType(D.PM1, (1, 10))]))
    op = func.append(lookup_op("host.onnx")(
        func.args, [TensorType(D.F32, (1, 3)), TensorType(D.I64, (1, 3))], {}, [sym], Location.of("TopK_9")))
    func.append(Return(op.results))
    module.verify()
    return module


def test_host_onnx_runs_topk_and_caches_the_session():
    module = _topk_module()
    x = np.array([[1, -1, 1, 1, -1, -1, -1, 1, -1, -1]], np.int8)
    values, indices = interpret(module, [x])
    want_v, want_i = ort_session(onnx.load_from_string(_topk_model())).run(None, {"x": x.astype(np.float32)})
    assert values.dtype == np.float32 and indices.dtype == np.int64
    assert np.array_equal(values, want_v) and np.array_equal(indices, want_i)
    op = module.function().ops[0]
    first = host.session_for(op)
    interpret(module, [-x])
    assert host.session_for(op) is first


def test_host_onnx_refuses_an_inexact_feed():
    module = Module("host")
    sym = module.add_constant("m", np.frombuffer(onnx_model(
        [helper.make_node("Identity", ["x"], ["y"])], {"x": np.zeros(2, np.int8)}, ["y"]).SerializeToString(), np.uint8), D.U8)
    func = module.add_function(Function("main", [TensorType(D.F32, (2,))]))
    op = func.append(lookup_op("host.onnx")(func.args, [TensorType(D.I8, (2,))], {}, [sym], Location.of("Id")))
    func.append(Return(op.results))
    assert interpret(module, [np.array([3.0, -2.0])])[0].tolist() == [3, -2]
    with pytest.raises(InterpreterError, match=r"'host.onnx' at node 'Id'.*operand 0"):
        interpret(module, [np.array([0.5, 1.0])])


# --------------------------------------------------------------------------- driver


def test_interpret_batch_stacks_samples():
    module = _topk_module()
    xs = np.where(np.random.default_rng(4).standard_normal((5, 1, 10)) > 0, 1, -1).astype(np.int8)
    values, indices = interpret_batch(module, [xs])
    assert values.shape == (5, 1, 3) and indices.shape == (5, 1, 3)
    for s in range(5):
        v, i = interpret(module, [xs[s]])
        assert np.array_equal(values[s], v) and np.array_equal(indices[s], i)
    empty = interpret_batch(module, [xs[:0]])
    assert [e.shape for e in empty] == [(0, 1, 3), (0, 1, 3)]
    with pytest.raises(InterpreterError, match="samples"):
        interpret_batch(_two_input_module(), [np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32)])


def _two_input_module() -> Module:
    return parse_module("""
module {
  func @main(%arg0: f32<3>, %arg1: f32<3>) -> (f32<3>, f32<3>) {
    return %arg1, %arg0 : f32<3>, f32<3>
  }
}
""")


def test_outputs_are_fresh_arrays_in_domain_dtypes():
    x = np.array([1.0, 2.0, 3.0])
    a, b = interpret(_two_input_module(), [x, x])
    assert a.dtype == np.float32 and a.flags.writeable
    a[0] = 7
    assert x[0] == 1.0 and b[0] == 1.0


@pytest.mark.parametrize("domain,values,bad", [
    (D.I8, [0.5, 1.0], "0.5"),
    (D.I8, [200, 1], "200"),
    (D.U8, [-1, 3], "-1"),
    (D.U8, [np.nan, 3], "nan"),
    (D.PM1, [1, 0], "0"),
    (D.TERN, [2, 0], "2"),
    (D.I32, [1.0, 2.0**40], "1099511627776.0"),
])
def test_inputs_outside_the_domain_are_refused(domain, values, bad):
    module = one_op_module("bnn.reshape", [TensorType(domain, (2,))], (), {"shape": (1, 2)})
    with pytest.raises(InterpreterError, match=rf"argument 0 \(%arg0: {domain.value}<2>\) of @main: value {bad} is not in domain"):
        interpret(module, [np.array(values)])


def test_inputs_in_the_domain_are_converted():
    module = one_op_module("bnn.reshape", [TensorType(D.PM1, (2,))], (), {"shape": (1, 2)})
    (out,) = interpret(module, [np.array([1.0, -1.0])])
    assert out.dtype == np.int8 and out.tolist() == [[1, -1]]


def test_wrong_input_count_and_shape():
    module = one_op_module("bnn.reshape", [TensorType(D.F32, (2,))], (), {"shape": (1, 2)})
    with pytest.raises(InterpreterError, match="takes 1 input, got 2"):
        interpret(module, [np.zeros(2), np.zeros(2)])
    with pytest.raises(InterpreterError, match=r"shape \(3,\), declared \(2,\)"):
        interpret(module, [np.zeros(3)])
    with pytest.raises(InterpreterError, match="no function @other"):
        interpret(module, [np.zeros(2)], function="other")


class _Mystery(Operation):
    """An op no interpreter knows (deliberately not registered anywhere)."""

    name = "test.mystery"
    operand_defs = (OperandDef("input"),)
    result_defs = (ResultDef("output"),)


def _mystery_module(result_type: TensorType) -> Module:
    module = Module()
    func = module.add_function(Function("main", [TensorType(D.F32, (2,))]))
    op = func.append(_Mystery(func.args, [result_type], {}, [], Location.of("Weird_7")))
    func.append(Return(op.results))
    return module


def test_unknown_op_is_an_error():
    with pytest.raises(InterpreterError, match=r"'test.mystery' at node 'Weird_7': no interpreter semantics for op test.mystery"):
        interpret(_mystery_module(TensorType(D.F32, (2,))), [np.zeros(2)])


def test_implements_registers_semantics_and_results_are_checked():
    try:
        @implements("test.mystery")
        def _mystery(op, args):
            return [args[0] * 2]

        assert interpreter.semantics_of("test.mystery") is _mystery
        assert interpret(_mystery_module(TensorType(D.F32, (2,))), [np.ones(2)])[0].tolist() == [2.0, 2.0]
        with pytest.raises(InterpreterError, match=r"'test.mystery' at node 'Weird_7': result 0 is float32\[2\], but its declared type f32<3>"):
            interpret(_mystery_module(TensorType(D.F32, (3,))), [np.ones(2)])
        with pytest.raises(InterpreterError, match=r"result 0 is float32\[2\], but its declared type i32<2>"):
            interpret(_mystery_module(TensorType(D.I32, (2,))), [np.ones(2)])
        with pytest.raises(ValueError, match="already has interpreter semantics"):
            implements("test.mystery")(lambda op, args: args)
    finally:
        registry._IMPLEMENTATIONS.pop("test.mystery", None)


def test_result_values_outside_their_domain_are_caught():
    try:
        implements("test.mystery")(lambda op, args: [np.zeros(2, np.int8)])
        with pytest.raises(InterpreterError, match="holds the value 0, outside domain pm1"):
            interpret(_mystery_module(TensorType(D.PM1, (2,))), [np.ones(2)])
    finally:
        registry._IMPLEMENTATIONS.pop("test.mystery", None)


def test_declared_type_mismatch_names_op_and_source_position():
    module = parse_module("""
module {
  func @main(%arg0: f32<2x2>) -> (f32<2x2>) {
    %0 = bnn.reshape %arg0 {shape = [4]} : f32<2x2> -> f32<2x2> loc("Reshape_3")
    return %0 : f32<2x2>
  }
}
""", filename="bad.bir")
    with pytest.raises(InterpreterError, match=r"bad.bir:4:10: 'bnn.reshape' at node 'Reshape_3': result 0 is float32\[4\]"):
        interpret(module, [np.zeros((2, 2))])


def test_op_failures_are_wrapped_with_the_op():
    module = one_op_module("bnn.reshape", [TensorType(D.F32, (2,))], (), {"shape": (1, 2)})
    del module.function().ops[0].attributes["shape"]
    with pytest.raises(InterpreterError, match=r"'bnn.reshape' at node 'N': KeyError"):
        interpret(module, [np.zeros(2)])


def test_every_bnn_and_host_op_has_semantics():
    from bnnc.ir import registered_ops

    missing = [n for n in registered_ops() if n.split(".")[0] in ("bnn", "host") and interpreter.semantics_of(n) is None]
    assert missing == []
