"""The paper's passes (fuse-bn-binarize, pool-to-bits, sign-convert) preserve exactly what the
source model computes: random binary layers with awkward BatchNorms, every mapping scheme,
checked against onnxruntime on the source model; plus the sign-zero policies and the
numerical check after each pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from bnnc.cli import main
import bnnc
from bnnc.api import default_pipeline
from bnnc.ir import print_module
from bnnc.ir.dialects import xbar
from bnnc.passes import PassContext, PassError, PassManager, register_pass
from bnnc.passes.base import Pass
from tests.models.builders import single_io_model
from tests.models.zoo import ZOO, sample_inputs

SCHEMES = ["refcol", "xnor", "diff"]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "models"
THIRD_PARTY = {
    "finn_tfc_w1a1": SHARED / "finn_tfc_w1a1" / "model.onnx",
    "qonnx_tfc_1w1a": SHARED / "qonnx_zoo_tfc_1w1a" / "TFC_1W1A.onnx",
}


# ---------------------------------------------------------------------- random single layers


@st.composite
def layers(draw):
    """A random binary conv or dense layer, BatchNorm and binarizer, as an ONNX model."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    dense = draw(st.booleans())
    cin = draw(st.integers(1, 4))
    cout = draw(st.integers(1, 6))
    if dense:
        in_shape, kernel, pad, stride = [1, draw(st.integers(1, 40))], 1, 0, 1
    else:
        kernel = draw(st.sampled_from([1, 3, 5]))
        pad = draw(st.integers(0, min(2, kernel - 1)))
        stride = draw(st.sampled_from([1, 2]))
        size = draw(st.integers(kernel, 7))
        in_shape = [1, cin, size, size]
    # BatchNorm parameters: negative, zero and tiny gamma, large |beta|, tau on reachable integers
    kinds = draw(st.lists(st.sampled_from(["normal", "negative", "zero", "tiny", "tie", "large_beta"]), min_size=cout, max_size=cout))
    fan_in = in_shape[1] if dense else cin * kernel * kernel
    gamma = rng.uniform(0.2, 2.0, cout)
    beta = rng.normal(0, 1.0, cout)
    mean = rng.normal(0, np.sqrt(fan_in), cout)
    var = rng.uniform(0.1, 2.0, cout) * fan_in
    for c, kind in enumerate(kinds):
        if kind == "negative":
            gamma[c] = -gamma[c]
        elif kind == "zero":
            gamma[c] = 0.0
        elif kind == "tiny":
            gamma[c] = rng.choice([-1, 1]) * 1e-7
        elif kind == "tie":  # BN(mean) == 0 exactly: a reachable integer mean makes Sign(0) reachable
            beta[c], mean[c] = 0.0, float(rng.integers(-fan_in, fan_in + 1))
        elif kind == "large_beta":
            beta[c] = rng.choice([-1, 1]) * 1e3
    binarizer = draw(st.sampled_from(["Sign", "Where"]))
    pool = not dense and (in_shape[2] + 2 * pad - kernel) // stride + 1 >= 2 and draw(st.booleans())
    alpha = draw(st.booleans())
    inits, nodes = [], []

    def init(name, value, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    x = "x"
    if draw(st.booleans()):  # ternary input: ONNX Sign of real values
        nodes.append(helper.make_node("Sign", ["input"], ["x"]))
        input_kind = "real"
    else:
        x, input_kind = "input", "pm1"
    signs = rng.choice([-1.0, 1.0], (cout, in_shape[1]) if dense else (cout, cin, kernel, kernel))
    # a per-channel scale folded into the weights; powers of two keep onnxruntime's float sums
    # exact (other scales get a rounding-margin warning, tested below)
    scales = 2.0 ** rng.integers(-4, 3, cout)
    weight = signs * (scales.reshape((-1,) + (1,) * (signs.ndim - 1)) if alpha else 1.0)
    if dense:
        nodes.append(helper.make_node("Gemm", [x, init("w", weight)], ["y"], transB=1))
    else:
        nodes.append(helper.make_node("Conv", [x, init("w", weight)], ["y"], pads=[pad] * 4, strides=[stride] * 2))
    y = "y"
    if pool:
        nodes.append(helper.make_node("MaxPool", [y], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]))
        y = "pooled"
    nodes.append(helper.make_node("BatchNormalization", [y, init("g", gamma), init("b", beta), init("m", mean), init("v", var)], ["bn"]))
    if binarizer == "Sign":
        nodes.append(helper.make_node("Sign", ["bn"], ["out"]))
    else:
        nodes.append(helper.make_node("GreaterOrEqual", ["bn", init("zero", 0.0)], ["ge"]))
        nodes.append(helper.make_node("Where", ["ge", init("one", 1.0), init("minus", -1.0)], ["out"]))
    if dense:
        out_shape = [1, cout]
    else:
        side = (in_shape[2] + 2 * pad - kernel) // stride + 1
        side = side // 2 if pool else side
        out_shape = [1, cout, side, side]
    model = single_io_model(nodes, inits, "input", in_shape, "out", out_shape, bipolar_input=input_kind == "pm1", name="layer")
    return model, input_kind, kinds


def _inputs(model: onnx.ModelProto, kind: str, rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    shape[0] = count
    if kind == "pm1":
        return {"input": rng.choice([-1.0, 1.0], shape).astype(np.float32)}
    return {"input": rng.choice([-1.0, 0.0, 0.5, 1.0], shape).astype(np.float32)}


@pytest.mark.parametrize("scheme", SCHEMES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=layers(), seed=st.integers(0, 1000))
def test_random_layer_is_exact_against_onnxruntime(tmp_path: Path, scheme: str, case, seed: int) -> None:
    model, kind, _ = case
    path = tmp_path / "layer.onnx"
    onnx.save(model, path)
    compilation = bnnc.compile(path, pipeline=default_pipeline(scheme=scheme))
    names = {op.name for op in compilation.module.function().ops}
    assert "bnn.batchnorm" not in names and "bnn.conv" not in names and "bnn.dense" not in names
    result = compilation.check(_inputs(model, kind, np.random.default_rng(seed), 24))
    assert result.exact, result.summary()


# ---------------------------------------------------------------------- zoo and third-party models


@pytest.mark.parametrize("scheme", SCHEMES + ["auto"])
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_is_exact_under_every_scheme(zoo_dir: Path, name: str, scheme: str) -> None:
    compilation = bnnc.compile(zoo_dir / f"{name}.onnx", pipeline=default_pipeline(scheme=scheme))
    function = compilation.module.function()
    assert not any(op.name in ("bnn.conv", "bnn.dense") for op in function.ops)
    for op in function.ops:  # a BatchNorm stays digital only to feed a real-valued shortcut, a multi-bit quantizer or the host
        if op.name == "bnn.batchnorm":
            assert any(use.op.name in ("bnn.add_tensors", "bnn.input_quant", "host.onnx") for use in op.result.uses), f"{op.location} not fused"
    for inputs in (sample_inputs(ZOO[name], 16, seed=5), compilation.random_inputs(16, seed=6)):
        result = compilation.check(inputs)
        assert result.exact, result.summary()


@pytest.mark.skipif(not SHARED.exists(), reason=f"third-party models not found at {SHARED}")
@pytest.mark.parametrize("scheme", SCHEMES + ["auto"])
@pytest.mark.parametrize("name", sorted(THIRD_PARTY))
def test_third_party_model_is_exact_under_every_scheme(name: str, scheme: str) -> None:
    compilation = bnnc.compile(THIRD_PARTY[name], pipeline=default_pipeline(scheme=scheme))
    images = np.load(SHARED / "finn_tfc_w1a1" / "input.npy")
    inputs = {compilation.inputs[0]: images if name.startswith("finn") else images / np.float32(255)}
    for batch in (inputs, compilation.random_inputs(16, seed=7)):
        result = compilation.check(batch)
        assert result.exact, result.summary()
    # every binarizer after a layer became a comparator; only the input binarizer stays digital
    function = compilation.module.function()
    assert not any(op.name in ("bnn.batchnorm", "bnn.conv", "bnn.dense") for op in function.ops)
    assert sum(op.name == "xbar.compare" for op in function.ops) == 3
    assert sum(op.name == "xbar.readout" for op in function.ops) == 1


def test_layers_feed_each_other_bits_without_conversion(zoo_dir: Path) -> None:
    """The comparator bits of one layer are the next layer's ports: no decode/planes between."""
    function = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx").module.function()
    for op in function.ops:
        if isinstance(op, xbar.Planes):
            assert op.operands[0].producer is None or op.operands[0].producer.name not in ("xbar.decode",)
    mvm_inputs = [op.operands[0].producer for op in function.ops if isinstance(op, xbar.Mvm)]
    windows = [op for op in mvm_inputs if isinstance(op, xbar.Window)]
    fed_by_compare = [w for w in windows if w.operands[0].producer.name in ("xbar.compare", "xbar.pool_bits", "bnn.reshape")]
    assert len(fed_by_compare) == len(windows) - 1  # all but the first layer read comparator bits


# ---------------------------------------------------------------------- Sign(0) policies


def test_reachable_ties_get_a_second_comparator_and_stay_exact(zoo_dir: Path, tmp_path: Path) -> None:
    assert main([str(zoo_dir / "cnn_sign_tie_reachable.onnx"), "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    layer = next(entry for entry in report["layers"] if entry["name"] == "Conv_0")
    assert layer["sign_zero_ties"] is True and layer["comparator_levels"] == 2
    assert set(layer["tie_channels"]) == {0, 1, 2}
    assert report["golden"]["exact"] is True and report["golden"]["sign_zero_events"] == 0
    other = next(entry for entry in report["layers"] if entry["name"] == "Conv_1")
    assert other["sign_zero_ties"] is False and other["comparator_levels"] == 1


@pytest.mark.parametrize("policy", ["pos", "neg"])
def test_cheaper_sign_zero_policies_count_their_events(zoo_dir: Path, policy: str) -> None:
    compilation = bnnc.compile(zoo_dir / "cnn_sign_tie_reachable.onnx", pipeline=default_pipeline(sign_zero=policy))
    compare = next(op for op in compilation.module.function().ops if op.name == "xbar.compare")
    assert compare.const_type("thresholds").shape[2] == 1  # one comparator level
    inputs = sample_inputs(ZOO["cnn_sign_tie_reachable"], 64, seed=11)
    result = compilation.check(inputs)
    assert result.sign_zero_events > 0
    assert result.exact == (result.sign_zero_events == 0) or not result.exact


def test_sign_zero_error_policy_names_layer_and_channel(zoo_dir: Path, capsys) -> None:
    code = main([str(zoo_dir / "cnn_sign_tie_reachable.onnx"), "--sign-zero", "error", "-o", str(zoo_dir / "err.out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "layer Conv_0 channel 0" in err and "--sign-zero=exact" in err


def test_float_scaled_weights_near_a_tie_are_warned_about(tmp_path: Path) -> None:
    """An exporter folded α = 0.648 into ±1 weights and BatchNorm puts τ on a reachable
    integer: onnxruntime's float sum of ±α terms decides the sign there, so bnnc warns,
    naming layer and channel."""
    inits = [
        numpy_helper.from_array((np.random.default_rng(0).choice([-1.0, 1.0], (3, 4, 3, 3)) * 0.64796066).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([0.8, 0.5, 1.1], np.float32), "g"),
        numpy_helper.from_array(np.array([-1.0, 1.4, 0.0], np.float32), "b"),
        numpy_helper.from_array(np.array([2.1, 3.4, 0.0], np.float32), "m"),
        numpy_helper.from_array(np.array([10.8, 61.2, 152.7], np.float32), "v"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["y"]),
        helper.make_node("BatchNormalization", ["y", "g", "b", "m", "v"], ["bn"]),
        helper.make_node("Sign", ["bn"], ["out"]),
    ]
    path = tmp_path / "alpha.onnx"
    onnx.save(single_io_model(nodes, inits, "input", [1, 4, 5, 5], "out", [1, 3, 3, 3]), path)
    compilation = bnnc.compile(path)
    layers = {layer["name"]: layer for layer in compilation.report["layers"]}
    assert layers["Conv_0"]["float_margin_channels"] == [2]
    assert any("warning: layer Conv_0" in r and "[2]" in r for r in compilation.remarks)


def test_tuning_flags_conflict_with_an_explicit_pipeline(zoo_dir: Path, capsys) -> None:
    assert main([str(zoo_dir / "mlp_matmul_add.onnx"), "-p", "canonicalize", "--scheme", "xnor"]) == 2
    assert "--scheme" in capsys.readouterr().err


# ---------------------------------------------------------------------- numerical check


@register_pass
class _CorruptThresholds(Pass):
    """Test pass: shift every comparator threshold by one (a wrong pass)."""

    name = "test-corrupt-thresholds"

    def run(self, module, context) -> None:
        for op in module.function().ops:
            if op.name == "xbar.compare":
                symbol = op.const("thresholds")
                module.constants[symbol].data = module.constants[symbol].data + 1


def test_numerical_check_catches_a_wrong_pass(zoo_dir: Path) -> None:
    from bnnc.frontend import import_onnx
    from bnnc.numeric_check import numeric_checker

    module, _ = import_onnx(zoo_dir / "mlp_matmul_add.onnx")
    pipeline = default_pipeline() + ",test-corrupt-thresholds"
    manager = PassManager.from_pipeline(pipeline, numeric_check=numeric_checker(32))
    with pytest.raises(PassError, match=r"in pass test-corrupt-thresholds \(after passes .*dce\): numerical check"):
        manager.run(module, PassContext())


def test_numerical_check_passes_the_default_pipeline_from_the_cli(zoo_dir: Path) -> None:
    assert main([str(zoo_dir / "qonnx_quant8_input.onnx"), "--verify-each-numerically", "8", "-o", str(zoo_dir / "n.out")]) == 0


def test_after_the_default_pipeline_no_batchnorm_or_sign_remains_on_a_crossbar_path(zoo_dir: Path) -> None:
    text = print_module(bnnc.compile(zoo_dir / "finn_multithreshold_input.onnx").module)
    assert "bnn.batchnorm" not in text and "bnn.dense" not in text
    assert text.count("xbar.compare") == 2 and text.count("xbar.readout") == 1


def test_a_falling_where_binarizer_is_binary_and_fuses(tmp_path: Path) -> None:
    """``Where(BN(y) < 0.25, +1, -1)``: +1 below a threshold is still a ±1 binarizer."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.choice([-1.0, 1.0], (4, 6)).astype(np.float32), "w")] + [
        numpy_helper.from_array(np.asarray(v, np.float32), n)
        for n, v in (("g", [1.0, -0.5, 2.0, 0.7]), ("b", [0.1, 0.0, -0.3, 0.2]), ("m", [0.0, 1.0, -1.0, 2.0]),
                     ("v", [1.0, 2.0, 3.0, 4.0]), ("t", 0.25), ("one", 1.0), ("minus", -1.0))
    ]
    nodes = [helper.make_node("Gemm", ["input", "w"], ["y"], transB=1),
             helper.make_node("BatchNormalization", ["y", "g", "b", "m", "v"], ["bn"]),
             helper.make_node("Less", ["bn", "t"], ["lt"]),
             helper.make_node("Where", ["lt", "one", "minus"], ["out"])]
    path = tmp_path / "falling.onnx"
    onnx.save(single_io_model(nodes, inits, "input", [1, 6], "out", [1, 4]), path)
    compilation = bnnc.compile(path)
    names = [op.name for op in compilation.module.function().ops]
    assert "xbar.compare" in names and "bnn.threshold" not in names and "bnn.batchnorm" not in names
    assert compilation.check(_inputs(onnx.load(path), "pm1", np.random.default_rng(0), 64)).exact
