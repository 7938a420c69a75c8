"""The batched simulator against its definition — the reference interpreter, bit for bit — and
against onnxruntime on the source models, for every zoo model and both third-party models, every
mapping scheme and array sizes 32–256; then the analog device model: ideal devices reproduce the
integer path exactly, and the conductance and comparator-offset hooks really reach the
arrays and comparators."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnnc.backends.simulator import deferred, gemm, host, windows
from bnnc.backends.interpreter import implemented_ops, interpret_batch, semantics_of
from bnnc.backends.simulator import DeviceModel, SimulatorError, simulate, simulated_ops
import bnnc
from bnnc.api import Compilation, default_pipeline
from bnnc.ir import (Domain, Function, Location, Module, Operation, OperandDef, ResultDef, Return, TensorType, clone_module,
                     lookup_op)
from bnnc.ir.dialects import xbar
from bnnc.passes import PassContext, PassManager
from bnnc.samples import random_arguments
from tests.models.zoo import ZOO, sample_inputs

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "models"
THIRD_PARTY = {
    "finn_tfc": SHARED / "finn_tfc_w1a1" / "model.onnx",
    "qonnx_tfc": SHARED / "qonnx_zoo_tfc_1w1a" / "TFC_1W1A.onnx",
}
MNIST = SHARED / "finn_tfc_w1a1" / "input.npy"
SCHEMES = ("refcol", "xnor", "diff")
SIZES = (32, 64, 128, 256)
SAMPLES = 8
MODELS = sorted(ZOO) + [
    pytest.param(name, marks=pytest.mark.skipif(not path.exists(), reason=f"third-party model not found at {path}"))
    for name, path in THIRD_PARTY.items()
]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module", autouse=True)
def _forget_compilations():
    yield
    compiled.cache_clear()


def model_path(zoo_dir: Path, name: str) -> Path:
    return THIRD_PARTY.get(name) or zoo_dir / f"{name}.onnx"


UNTILED = "canonicalize,fuse-bn-binarize,canonicalize,pool-to-bits,sign-convert{{scheme={scheme}}},canonicalize,dce"
"""The default pipeline without ``tile``: each layer's whole pattern is one array."""


def pipeline(scheme: str, rows: int | None) -> str:
    """The default pipeline for ``scheme`` and ``rows × rows`` arrays, tiled (untiled for
    ``rows=None``)."""
    if rows is None:
        return UNTILED.format(scheme=scheme)
    tiled = default_pipeline(scheme=scheme, rows=rows, cols=rows)
    return tiled if "tile{" in tiled else tiled + f",tile{{rows={rows},cols={rows}}}"


@lru_cache(maxsize=None)
def compiled(path: Path, scheme: str, rows: int | None) -> Compilation:
    """The model at ``path`` compiled by :func:`pipeline`; shared by the tests."""
    return bnnc.compile(path, pipeline=pipeline(scheme, rows))


def onnx_inputs(name: str, compilation: Compilation) -> dict[str, np.ndarray]:
    """The model's own kind of inputs: the zoo's samples (exact zeros at the input binarizer
    included), MNIST digits and random pixels for the third-party models."""
    if name in ZOO:
        return sample_inputs(ZOO[name], SAMPLES, seed=11)
    inputs = compilation.random_inputs(SAMPLES, seed=11)
    key = next(iter(inputs))
    digits = np.load(MNIST).astype(inputs[key].dtype)
    if name == "qonnx_tfc":
        digits = digits / np.float32(255)
    inputs[key][: len(digits)] = digits.reshape((len(digits),) + inputs[key].shape[1:])
    return inputs


def program_arguments(compilation: Compilation, seed: int = 3) -> list[np.ndarray]:
    """Random arguments of every argument's domain (real ones with exact zeros and ties)."""
    return random_arguments(compilation.module.function("main"), SAMPLES, seed=seed)


def assert_identical(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    """Same dtypes, shapes and bytes (float32 bit for bit: signed zeros and NaNs included)."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        assert np.ascontiguousarray(g).tobytes() == np.ascontiguousarray(e).tobytes()


def analog_comparators(module: Module) -> list[Operation]:
    """Comparators that sense one array read directly (current-domain comparisons)."""
    ops = module.function("main").ops
    return [op for op in ops if op.name == "xbar.compare" and op.operands[0].producer.name == "xbar.mvm"
            and op.operands[0].type.shape[0] == 1]


# --------------------------------------------------------------------------- against the interpreter and onnxruntime


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", MODELS)
def test_simulator_equals_interpreter_and_onnxruntime(zoo_dir: Path, name: str, scheme: str) -> None:
    for rows in SIZES + (None,):
        compilation = compiled(model_path(zoo_dir, name), scheme, rows)
        arguments = program_arguments(compilation)
        assert_identical(simulate(compilation.module, arguments), interpret_batch(compilation.module, arguments))
        golden = compilation.check(onnx_inputs(name, compilation))
        assert golden.exact and golden.inputs == SAMPLES, f"{rows}x{rows}: {golden.summary()}"


@pytest.mark.parametrize("name", MODELS)
def test_simulator_runs_bnn_level_programs(zoo_dir: Path, name: str) -> None:
    """Before the crossbar mapping: conv, dense, batchnorm, threshold, maxpool, compare, pool."""
    for pipeline in ("", "canonicalize,fuse-bn-binarize,canonicalize"):
        module = bnnc.compile(model_path(zoo_dir, name), pipeline=pipeline).module
        arguments = random_arguments(module.function("main"), SAMPLES, seed=5)
        assert_identical(simulate(module, arguments), interpret_batch(module, arguments))


def test_simulator_runs_every_op_the_interpreter_runs() -> None:
    assert {n for n in implemented_ops() if not n.startswith("test.")} <= set(simulated_ops())


def test_chunks_and_a_single_sample_give_the_same_results(zoo_dir: Path) -> None:
    compilation = compiled(zoo_dir / "cnn_pad1_stride1.onnx", "xnor", 32)
    arguments = program_arguments(compilation, seed=8)
    whole = simulate(compilation.module, arguments)
    assert_identical(simulate(compilation.module, arguments, chunk=3), whole)
    for s in (0, SAMPLES - 1):
        assert_identical(simulate(compilation.module, [a[s : s + 1] for a in arguments]), [w[s : s + 1] for w in whole])


@pytest.mark.parametrize("name,scheme,rows", [("cnn_pad1_stride1", "xnor", 32), ("qonnx_quant8_input", "refcol", 64),
                                               ("real_input_zeros", "diff", 32), ("uint8_input_cnn", "xnor", None)])
def test_deferred_values_resolve_to_the_interpreters(zoo_dir: Path, name: str, scheme: str, rows: int | None) -> None:
    """Counts that the fused sensing never materializes (array reads, ADCs, accumulations) are
    exact too when the program returns them."""
    module = clone_module(compiled(zoo_dir / f"{name}.onnx", scheme, rows).module)
    function = module.function("main")
    exposed = [op.result for op in function.ops if op.name in ("xbar.mvm", "xbar.adc", "xbar.accumulate")]
    results = list(function.return_op.operands)
    function.ops[-1].drop_operand_uses()
    function.ops.pop()
    function.append(Return(results + exposed))
    arguments = random_arguments(function, SAMPLES, seed=9)
    assert_identical(simulate(module, arguments), interpret_batch(module, arguments))


def test_port_matrix_resolves_to_the_windows_bits(zoo_dir: Path) -> None:
    module = compiled(zoo_dir / "cnn_pad1_stride1.onnx", "xnor", 32).module
    window = next(op for op in module.function("main").ops if op.name == "xbar.window" and op.attr("complement"))
    planes = np.random.default_rng(4).integers(0, 2, (3,) + window.operands[0].type.shape).astype(np.uint8)
    valid = windows.valid_ports(window, *planes.shape[3:])
    ports = deferred.PortMatrix(planes[:, :, 0], window, valid, 0, window.result.type.shape[2])
    expected = np.stack([semantics_of("xbar.window")(window, [p])[0] for p in planes])
    assert ports.shape == expected.shape and np.array_equal(ports.resolve(), expected)
    assert np.array_equal(ports.narrowed(5, 20).resolve(), expected[..., 5:25])


def _signed_input_module(scheme: str, rows: int | None) -> Module:
    """An i8 image (two's complement, eight planes) through a padded conv into comparators
    and a second conv read out, mapped by ``sign-convert`` (and ``tile``): the one encoding
    no zoo model has."""
    rng = np.random.default_rng(13)
    module = Module("signed")
    symbols = [module.add_constant(name, data, domain) for name, data, domain in (
        ("w0", rng.choice([-1, 1], (5, 3, 3, 3)), Domain.PM1),
        ("w1", rng.choice([-1, 1], (4, 3, 3, 3)), Domain.PM1),
        ("t", rng.integers(-300, 300, (5, 1, 1)), Domain.I32),
        ("classes", np.zeros((6, 6)), Domain.I32),
    )]
    types = [module.constants[s].type for s in symbols]
    func = module.add_function(Function("main", [TensorType(Domain.I8, (1, 3, 6, 6))]))
    conv = lookup_op("bnn.conv")
    pads = {"pads": (1, 1, 1, 1)}
    y0 = func.append(conv.build(func.args, pads, symbols[:1], Location.of("Conv_0"), types[:1]))
    y1 = func.append(conv.build(func.args, pads, symbols[1:2], Location.of("Conv_1"), types[1:2]))
    bits = func.append(lookup_op("bnn.compare").build(y0.results, {}, symbols[2:], Location.of("Sign_0"), types[2:]))
    func.append(Return([bits.result, y1.result]))
    tile = f",tile{{rows={rows},cols={rows}}}" if rows else ""
    PassManager.from_pipeline(f"sign-convert{{scheme={scheme},rows={rows or 128},cols={rows or 128}}}{tile},dce").run(module, PassContext())
    module.verify()
    return module


@pytest.mark.parametrize("engine_threshold", [gemm.INTEGER_GEMM_MACS, 0], ids=["default", "integer-gemm-always"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_encoding_and_both_gemm_engines(zoo_dir: Path, scheme: str, engine_threshold: int, monkeypatch) -> None:
    """onnxruntime's integer GEMM (used for large reads) is exact on every input encoding:
    offset, ternary, unsigned and two's complement planes."""
    monkeypatch.setattr(gemm, "INTEGER_GEMM_MACS", engine_threshold)
    calls = []
    engine = gemm.MatMulInteger.__call__
    monkeypatch.setattr(gemm.MatMulInteger, "__call__", lambda self, x: calls.append(x.shape) or engine(self, x))
    modules = [_signed_input_module(scheme, rows) for rows in (16, None)]
    modules += [compiled(zoo_dir / f"{name}.onnx", scheme, rows).module
                for name in ("real_input_zeros", "uint8_input_cnn", "cnn_kernel_1_and_5") for rows in (32, None)]
    encodings = {op.attr("encoding") for m in modules for op in m.function("main").ops if op.name == "xbar.compare"}
    assert encodings == {"offset", "ternary", "unsigned", "twos"}
    for module in modules:
        arguments = random_arguments(module.function("main"), SAMPLES, seed=17)
        assert_identical(simulate(module, arguments), interpret_batch(module, arguments))
    assert calls or engine_threshold


def _pad_value_module(domain: Domain, pad_value: int) -> Module:
    """A ±1 or ternary image through two convs padded with ``pad_value`` (a Larq ``Pad``
    merged into them): one into comparators, one strided and unevenly padded, read out."""
    rng = np.random.default_rng(31)
    module = Module("pad_value")
    symbols = [module.add_constant(name, data, dtype) for name, data, dtype in (
        ("w0", rng.choice([-1, 1], (5, 3, 3, 3)), Domain.PM1),
        ("w1", rng.choice([-1, 1], (4, 3, 3, 3)), Domain.PM1),
        ("t", rng.integers(-6, 7, (5, 1, 1)), Domain.I32),
        ("classes", np.zeros((5, 6)), Domain.I32),
    )]
    types = [module.constants[s].type for s in symbols]
    func = module.add_function(Function("main", [TensorType(domain, (1, 3, 5, 6))]))
    conv = lookup_op("bnn.conv")
    pads = {"pads": (1, 1, 1, 1), "pad_value": pad_value}
    y0 = func.append(conv.build(func.args, pads, symbols[:1], Location.of("Conv_0"), types[:1]))
    uneven = {"pads": (2, 0, 1, 2), "strides": (2, 1), "pad_value": pad_value}
    y1 = func.append(conv.build(func.args, uneven, symbols[1:2], Location.of("Conv_1"), types[1:2]))
    bits = func.append(lookup_op("bnn.compare").build(y0.results, {}, symbols[2:], Location.of("Sign_0"), types[2:]))
    func.append(Return([bits.result, y1.result]))
    module.verify()
    return module


@pytest.mark.parametrize("engine_threshold", [gemm.INTEGER_GEMM_MACS, 0], ids=["default", "integer-gemm-always"])
@pytest.mark.parametrize("domain", [Domain.PM1, Domain.TERN], ids=["offset", "ternary"])
@pytest.mark.parametrize("pad_value", [1, -1])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_constant_pad_bits(scheme: str, pad_value: int, domain: Domain, engine_threshold: int, monkeypatch) -> None:
    """Convs padded with ±1, mapped (tiled and untiled): one threshold class per layer, and the
    interpreter, the simulator's fused GEMM (both engines) and its ideal analog path all give
    the source program's results."""
    monkeypatch.setattr(gemm, "INTEGER_GEMM_MACS", engine_threshold)
    source = _pad_value_module(domain, pad_value)
    arguments = random_arguments(source.function("main"), SAMPLES, seed=5)
    expected = interpret_batch(source, arguments)
    for rows in (16, None):
        module = clone_module(source)
        tile = f",tile{{rows={rows},cols={rows}}}" if rows else ""
        PassManager.from_pipeline(f"sign-convert{{scheme={scheme}}}{tile},dce").run(module, PassContext())
        module.verify()
        ops = module.function("main").ops
        assert {op.attr("pad_bits") for op in ops if op.name == "xbar.window"} == {xbar.PAD_BITS[domain, pad_value]}
        assert all(op.const_type(op.const_defs[0].name).shape[1] == 1 for op in ops if op.name in ("xbar.compare", "xbar.readout"))
        assert_identical(interpret_batch(module, arguments), expected)
        assert_identical(simulate(module, arguments), expected)
        assert_identical(simulate(module, arguments, device=DeviceModel()), expected)


def test_port_matrix_with_constant_pad_bits_resolves_to_the_windows_bits() -> None:
    module = clone_module(_pad_value_module(Domain.TERN, -1))
    PassManager.from_pipeline("sign-convert{scheme=xnor},dce").run(module, PassContext())
    window = next(op for op in module.function("main").ops if op.name == "xbar.window")
    planes = np.random.default_rng(6).integers(0, 2, (3,) + window.operands[0].type.shape).astype(np.uint8)
    valid = windows.valid_ports(window, *planes.shape[3:])
    ports = deferred.PortMatrix(planes[:, :, 0], window, valid, 0, window.result.type.shape[2])
    expected = np.stack([semantics_of("xbar.window")(window, [p])[0] for p in planes])
    assert valid.all() and np.array_equal(ports.resolve(), expected)
    plane_sum, shift = ports.plane_sum([1, -1])
    assert np.array_equal(plane_sum.astype(np.int16) + shift, expected[:, 0, :, :27].astype(np.int16) - expected[:, 1, :, :27])


# --------------------------------------------------------------------------- contract and errors


def test_empty_batches_and_fresh_outputs(zoo_dir: Path) -> None:
    compilation = compiled(zoo_dir / "mlp_gemm_prebinarized.onnx", "refcol", 64)
    arguments = program_arguments(compilation)
    empty = simulate(compilation.module, [a[:0] for a in arguments])
    declared = compilation.module.function("main").result_types
    assert [(e.shape, e.dtype) for e in empty] == [((0,) + t.shape, t.domain.dtype) for t in declared]
    outputs = simulate(compilation.module, arguments)
    assert all(o.flags.writeable and o.flags.c_contiguous for o in outputs)


def test_bad_inputs_are_refused(zoo_dir: Path) -> None:
    module = compiled(zoo_dir / "cnn_pad1_stride1.onnx", "refcol", 64).module
    (arg,) = module.function("main").args
    good = np.ones((2,) + arg.type.shape, np.int8)
    with pytest.raises(SimulatorError, match="takes 1 input, got 2"):
        simulate(module, [good, good])
    with pytest.raises(SimulatorError, match="per sample, declared"):
        simulate(module, [good[:, 0]])
    with pytest.raises(SimulatorError, match="value 0 is not in domain pm1"):
        simulate(module, [np.zeros_like(good)])
    with pytest.raises(SimulatorError, match="no function @other"):
        simulate(module, [good], function="other")


class _Unknown(Operation):
    """An op without simulator kernel (deliberately not registered)."""

    name = "test.unknown_to_simulator"
    operand_defs = (OperandDef("input"),)
    result_defs = (ResultDef("output"),)


def test_an_op_without_kernel_is_named_with_its_location() -> None:
    module = Module()
    func = module.add_function(Function("main", [TensorType(Domain.F32, (2,))]))
    op = func.append(_Unknown(func.args, [TensorType(Domain.F32, (2,))], {}, [], Location.of("Odd_3")))
    func.append(Return(op.results))
    with pytest.raises(SimulatorError, match=r"'test.unknown_to_simulator' at node 'Odd_3': no simulator kernel"):
        simulate(module, [np.zeros((1, 2))])


def test_an_adc_overflow_names_the_op() -> None:
    module = Module()
    func = module.add_function(Function("main", [TensorType(Domain.I32, (1, 1, 2))]))
    adc = func.append(lookup_op("xbar.adc").build(func.args, {"bits": 2}, [], Location.of("Conv_5")))
    func.append(Return(adc.results))
    assert simulate(module, [np.array([[[[0, 3]]]])])[0].tolist() == [[[[0, 3]]]]
    with pytest.raises(SimulatorError, match=r"'xbar.adc' at node 'Conv_5': a column count of 4 does not fit a 2-bit ADC"):
        simulate(module, [np.array([[[[0, 4]]]])])


# --------------------------------------------------------------------------- host partitions


def _host_module(nodes: list, initializers: dict[str, np.ndarray], in_shape: tuple[int, ...],
                 out_shape: tuple[int, ...]) -> Module:
    """@main: one host.onnx op running the graph ``nodes`` from ``x`` to ``y``."""
    graph = helper.make_graph(
        nodes, "host",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(v, k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    module = Module("host")
    symbol = module.add_constant("model", np.frombuffer(model.SerializeToString(), np.uint8), Domain.U8)
    func = module.add_function(Function("main", [TensorType(Domain.F32, in_shape)]))
    result = TensorType(Domain.F32, out_shape)
    op = func.append(lookup_op("host.onnx")(func.args, [result], {}, [symbol], Location.of("Tail_1")))
    func.append(Return(op.results))
    module.verify()
    return module


def _partition(module: Module):
    return next(iter(host._HOSTS[module].values()))


def test_host_partition_runs_once_per_batch_when_its_batch_axis_can_be_symbolic() -> None:
    w = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Softmax", ["h"], ["y"], axis=-1)]
    module = _host_module(nodes, {"w": w}, (1, 6), (1, 4))
    x = np.random.default_rng(1).standard_normal((16, 1, 6)).astype(np.float32)
    assert_identical(simulate(module, [x]), interpret_batch(module, [x]))
    assert _partition(module).usable and 16 in _partition(module).verified


def test_host_partition_with_a_fixed_batch_runs_per_sample() -> None:
    shape = np.array([1, 6], np.int64)  # a constant Reshape target pins the batch to 1
    module = _host_module([helper.make_node("Reshape", ["x", "s"], ["y"])], {"s": shape}, (1, 2, 3), (1, 6))
    x = np.random.default_rng(2).standard_normal((5, 1, 2, 3)).astype(np.float32)
    assert_identical(simulate(module, [x]), interpret_batch(module, [x]))
    assert _partition(module).usable is False


def test_host_partition_falls_back_when_a_batched_run_differs(monkeypatch) -> None:
    module = _host_module([helper.make_node("Relu", ["x"], ["y"])], {}, (1, 3), (1, 3))
    x = np.random.default_rng(3).standard_normal((6, 1, 3)).astype(np.float32)
    real = host._HostPartition._batched

    def off_by_one_ulp(self, op, args, samples):
        return [np.nextafter(o, np.float32(np.inf)) for o in real(self, op, args, samples)]

    monkeypatch.setattr(host._HostPartition, "_batched", off_by_one_ulp)
    assert_identical(simulate(module, [x]), interpret_batch(module, [x]))
    assert _partition(module).usable is False


# --------------------------------------------------------------------------- the analog device model


DEVICE_MODELS = ("cnn_pad1_stride1", "real_input_zeros", "qonnx_quant8_input", "uint8_input_cnn",
                 "cnn_sign_tie_reachable", "float_last_layer")
"""Offset, ternary and 8-bit inputs, ternary comparators, a host tail."""
DEVICE_CASES = [(name, scheme, rows) for name in DEVICE_MODELS for scheme in SCHEMES for rows in (32, 256, None)]


@pytest.mark.parametrize("name,scheme,rows", DEVICE_CASES)
def test_ideal_device_model_equals_the_integer_path(zoo_dir: Path, name: str, scheme: str, rows: int | None) -> None:
    """Small arrays (ADCs everywhere), large ones and untiled programs (analog comparators)."""
    compilation = compiled(model_path(zoo_dir, name), scheme, rows)
    arguments = program_arguments(compilation, seed=21)
    ideal = simulate(compilation.module, arguments, device=DeviceModel())
    assert_identical(ideal, simulate(compilation.module, arguments))


REAL_MODELS = [n for n in MODELS if not isinstance(n, str) or n in ("cnn_kernel_1_and_5", "qonnx_bipolar_cnn")]
"""The third-party models and two zoo models in other exporters' styles."""


@pytest.mark.parametrize("name", REAL_MODELS)
def test_ideal_device_model_equals_the_integer_path_on_real_models(zoo_dir: Path, name: str) -> None:
    for scheme in SCHEMES:
        compilation = compiled(model_path(zoo_dir, name), scheme, 128)
        arguments = program_arguments(compilation, seed=22)
        ideal = simulate(compilation.module, arguments, device=DeviceModel())
        assert_identical(ideal, simulate(compilation.module, arguments))


def test_the_device_tests_exercise_analog_comparators(zoo_dir: Path) -> None:
    for scheme in SCHEMES:
        assert analog_comparators(compiled(zoo_dir / "cnn_pad1_stride1.onnx", scheme, 256).module)
        assert analog_comparators(compiled(zoo_dir / "cnn_pad1_stride1.onnx", scheme, None).module)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_comparator_offsets_act_in_current_units(zoo_dir: Path, scheme: str) -> None:
    compilation = compiled(zoo_dir / "cnn_pad1_stride1.onnx", scheme, 256)
    module, arguments = compilation.module, program_arguments(compilation, seed=23)
    ideal = simulate(module, arguments)
    device = DeviceModel()
    unit = device.v_read * device.delta_g / (2 if scheme == "refcol" else 1)  # one step of the raw value
    seen: list[str] = []

    def offsets(scale: float):
        def hook(op: Operation) -> np.ndarray:
            seen.append(op.name)
            columns = op.const_type("thresholds").shape[0]
            return np.random.default_rng(len(seen)).choice([-scale, scale], columns)
        return DeviceModel(comparator_offset=hook)

    # thresholds sit half a step below the integer ones: offsets within ±0.45 steps change nothing
    assert_identical(simulate(module, arguments, device=offsets(0.45 * unit)), ideal)
    assert set(seen) == {"xbar.compare"} and len(seen) == len(analog_comparators(module))
    # a comparator offset of a milliampere decides every analog comparison on its own
    milliampere = DeviceModel(comparator_offset=lambda op: np.full(op.const_type("thresholds").shape[0], 1e-3))
    shifted = simulate(module, arguments, device=milliampere)
    assert any(not np.array_equal(s, i) for s, i in zip(shifted, ideal))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_conductance_hook_sees_each_array_and_perturbs_its_reads(zoo_dir: Path, scheme: str) -> None:
    compilation = compiled(zoo_dir / "cnn_pad1_stride1.onnx", scheme, 32)
    module, arguments = compilation.module, program_arguments(compilation, seed=24)
    ideal = simulate(module, arguments)
    device = DeviceModel()
    arrays: list[tuple[Operation, np.ndarray]] = []

    def record(op: Operation, cells: np.ndarray) -> np.ndarray:
        arrays.append((op, cells))
        return cells

    assert_identical(simulate(module, arguments, device=DeviceModel(conductance=record)), ideal)
    mvms = [op for op in module.function("main").ops if op.name == "xbar.mvm"]
    assert [op for op, _ in arrays] == mvms  # once per array per call, in program order
    for op, cells in arrays:
        bits = op.const_array("conductance").astype(bool)
        expected = np.where(bits, device.g_on, device.g_off)
        if scheme == "refcol":  # the reference column's cells are mid-conductance
            expected[:, -1] = np.where(bits[:, -1], device.g_mid, device.g_off)
        assert np.array_equal(cells, expected)

    rng = np.random.default_rng(0)
    tiny = DeviceModel(conductance=lambda op, g: g * (1 + 1e-4 * rng.standard_normal(g.shape)))
    assert_identical(simulate(module, arguments, device=tiny), ideal)
    noisy = DeviceModel(conductance=lambda op, g: g * rng.lognormal(0.0, 0.6, g.shape))
    assert any(not np.array_equal(n, i) for n, i in zip(simulate(module, arguments, device=noisy), ideal))


def test_adc_converts_currents_and_saturates_on_stuck_on_cells() -> None:
    module = Module()
    cells = module.add_constant("cells", np.array([[1, 0], [1, 1], [0, 0], [1, 0]]), Domain.BIT)
    func = module.add_function(Function("main", [TensorType(Domain.BIT, (1, 1, 4))]))
    cell_type = module.constants[cells].type
    mvm = func.append(lookup_op("xbar.mvm").build(func.args, {}, [cells], Location.of("Gemm_0"), [cell_type]))
    adc = func.append(lookup_op("xbar.adc").build(mvm.results, {"bits": 3}, [], Location.of("Gemm_0")))
    func.append(Return(adc.results))
    ports = np.array([[[[1, 1, 0, 1]]], [[[0, 1, 1, 0]]]])
    assert simulate(module, [ports])[0].tolist() == [[[[3, 1]]], [[[1, 1]]]]
    assert simulate(module, [ports], device=DeviceModel())[0].tolist() == [[[[3, 1]]], [[[1, 1]]]]
    stuck = DeviceModel(conductance=lambda op, g: np.full_like(g, 3 * DeviceModel().g_on))
    # (3 rows · 3 g_on − 3 g_off) / ΔG ≈ 9.1 → 9, beyond 3 bits: saturates at 7; 2 rows → 6
    assert simulate(module, [ports], device=stuck)[0].tolist() == [[[[7, 7]]], [[[6, 6]]]]


def test_device_model_defaults() -> None:
    device = DeviceModel()
    assert device.g_on == pytest.approx(1e-4) and device.g_off == pytest.approx(1e-6) and device.v_read == 0.15
    assert device.g_mid - device.g_off == pytest.approx(device.delta_g / 2)
    assert device.column_steps(3, True).tolist() == pytest.approx([device.delta_g, device.delta_g, device.delta_g / 2])
