"""The published BNN architectures of tests/models/arch (Bi-Real Net, ReActNet, XNOR-Net,
BinaryDenseNet, MeliusNet, QuickNet, Real-to-Binary, DoReFa-Net, BinaryResNetE18): every fixture
compiles under every scheme, is bit-exact against onnxruntime on the source model, and keeps
its binary layers on crossbars; plus focused models for each construct between binary layers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnnc
from bnnc.frontend import import_onnx
from bnnc.frontend.errors import UnsupportedModelError
from bnnc.frontend.loader import load_model
from bnnc.frontend.periphery import periphery_work
from bnnc.frontend.ste import straight_through_signs
from bnnc.frontend.weights import split_binary
from bnnc.ir import Domain
from tests.models.builders import single_io_model

ARCH = Path(__file__).parent / "models" / "arch"
MANIFEST = json.loads((ARCH / "MANIFEST.json").read_text())["fixtures"]
SCHEMES = ("refcol", "xnor", "diff", "auto")

def _binary_tensors(entry: dict) -> int:
    """How many weight tensors of the fixture are binary (±1 or ±α, with or without zeros)."""
    return sum(count for kind, count in entry["weight_kinds"].items() if not kind.endswith("real"))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_architecture_is_exact_under_every_scheme_with_its_binary_layers_on_crossbars(name: str) -> None:
    entry = MANIFEST[name]
    expected = _binary_tensors(entry)
    has_zero_weights = any("zeros" in kind for kind in entry["weight_kinds"])
    for index, scheme in enumerate(SCHEMES):
        compilation = bnnc.compile(ARCH / name, scheme=scheme)
        assert compilation.report["totals"]["binary_layers"] == expected, scheme
        fallback = [r for r in compilation.remarks if "which refcol cannot map" in r]
        assert bool(fallback) == (scheme == "refcol" and has_zero_weights), compilation.remarks
        result = compilation.check(compilation.random_inputs(16, seed=index))
        assert result.exact, f"{scheme}: {result.summary()}"


def _periphery(path: Path) -> list:
    module, _ = import_onnx(path)
    return [op for op in module.function("main").ops if op.name == "host.onnx" and op.attr("periphery")]


def test_average_pool_shortcut_between_binary_layers_is_periphery() -> None:
    name = "binary_resnet_e_deploy_ts13.onnx"
    (block,) = _periphery(ARCH / name)
    assert "AveragePool" in " ".join(block.location.names)
    fp_add, fp_mul, int_add, compare = block.attr("work")
    assert fp_add > 0 and fp_mul > 0 and int_add == 0


def test_the_stem_and_the_classifier_stay_plain_host_work() -> None:
    module, _ = import_onnx(ARCH / "xnor_lenet_deploy_ts13.onnx")
    hosts = [op for op in module.function("main").ops if op.name == "host.onnx"]
    assert not hosts[0].attr("periphery") and not hosts[-1].attr("periphery")


# ------------------------------------------------------------------ focused models


def _pm1(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


def _between_layers(middle: list[onnx.NodeProto], extra: list[onnx.TensorProto], name: str, tmp_path: Path,
                    second_input: str = "m") -> Path:
    """``x (±1) -> MatMul (±1) -> y``, then ``middle`` (reading ``y``, defining ``m``), then
    ``Sign -> MatMul (±1) -> out``."""
    rng = np.random.default_rng(len(name))
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["y"], name="MatMul_0"),
        *middle,
        helper.make_node("Sign", [second_input], ["s"], name="Sign_9"),
        helper.make_node("MatMul", ["s", "w2"], ["out"], name="MatMul_10"),
    ]
    inits = [numpy_helper.from_array(_pm1(rng, 16, 8), "w1"), numpy_helper.from_array(_pm1(rng, 8, 4), "w2"), *extra]
    path = tmp_path / f"{name}.onnx"
    onnx.save(single_io_model(nodes, inits, "x", [1, 16], "out", [1, 4]), path)
    return path


def _ops(path: Path) -> list[str]:
    module, _ = import_onnx(path)
    return [op.name for op in module.function("main").ops]


def _exact(path: Path) -> None:
    for scheme in ("xnor", "auto"):
        compilation = bnnc.compile(path, scheme=scheme)
        result = compilation.check(compilation.random_inputs(16, seed=3))
        assert result.exact, result.summary()


@pytest.mark.parametrize("op_type, attributes, slope", [("Relu", {}, None), ("LeakyRelu", {"alpha": 0.25}, None), ("PRelu", {}, "slope")])
def test_relu_family_is_bnn_prelu(tmp_path: Path, op_type: str, attributes: dict, slope: str | None) -> None:
    extra = [numpy_helper.from_array(np.linspace(-0.5, 0.5, 8, dtype=np.float32).reshape(1, 8), "slope")] if slope else []
    shifted = helper.make_node("Add", ["y", "shift"], ["z"], name="Add_1")
    act = helper.make_node(op_type, ["z", *([slope] if slope else [])], ["m"], name=f"{op_type}_2", **attributes)
    extra.append(numpy_helper.from_array(np.float32(-0.5), "shift"))
    path = _between_layers([shifted, act], extra, op_type, tmp_path)
    assert "bnn.prelu" in _ops(path) and "host.onnx" not in _ops(path)
    _exact(path)


@pytest.mark.parametrize("op_type, bnn_op", [("Mul", "bnn.mul_tensors"), ("Sub", "bnn.sub_tensors")])
def test_two_runtime_tensors_map_to_tensor_ops(tmp_path: Path, op_type: str, bnn_op: str) -> None:
    middle = [
        helper.make_node("Add", ["y", "shift"], ["a"], name="Add_1"),
        helper.make_node(op_type, ["y", "a"], ["m"], name=f"{op_type}_2"),
    ]
    path = _between_layers(middle, [numpy_helper.from_array(np.float32(0.5), "shift")], op_type, tmp_path)
    ops = _ops(path)
    assert bnn_op in ops and "host.onnx" not in ops
    _exact(path)


def test_a_data_dependent_scale_is_a_periphery_partition(tmp_path: Path) -> None:
    """``y · mean_c(y)`` (XNOR-Net's input scale): the Mul reads the host's mean, so both join
    one partition, which the digital periphery runs: 7 adds and 1 multiplication for the mean
    over 8 values, 8 multiplications for the scale."""
    middle = [
        helper.make_node("ReduceMean", ["y"], ["mean"], name="ReduceMean_1", axes=[1], keepdims=1),
        helper.make_node("Mul", ["y", "mean"], ["m"], name="Mul_2"),
    ]
    path = _between_layers(middle, [], "scale", tmp_path)
    (host,) = _periphery(path)
    assert host.location.names == ("ReduceMean_1", "Mul_2") and host.attr("work") == (7, 9, 0, 0)
    _exact(path)


def test_concat_of_bits_and_reals_is_one_f32_concat(tmp_path: Path) -> None:
    middle = [
        helper.make_node("Sign", ["y"], ["b"], name="Sign_1"),
        helper.make_node("Concat", ["b", "y"], ["c"], name="Concat_2", axis=1),
        helper.make_node("Reshape", ["c", "shape"], ["m"], name="Reshape_3"),
    ]
    path = _between_layers(middle, [numpy_helper.from_array(np.array([1, 16], np.int64), "shape")], "concat", tmp_path)
    rng = np.random.default_rng(1)
    model = onnx.load(path)
    model.graph.initializer[1].CopyFrom(numpy_helper.from_array(_pm1(rng, 16, 4), "w2"))
    onnx.save(model, path)
    module, _ = import_onnx(path)
    (concat,) = [op for op in module.function("main").ops if op.name == "bnn.concat"]
    assert concat.result.type.domain is Domain.F32 and "bnn.convert" in _ops(path)
    _exact(path)


@pytest.mark.parametrize("chain", ["2*Cast(x>=0)-1", "1-2*Cast(x<0)", "2*Cast(Not(Cast_bool(x<0)))-1"])
def test_comparison_chains_are_binarizers(tmp_path: Path, chain: str) -> None:
    zero = numpy_helper.from_array(np.float32(0), "zero")
    one, two = numpy_helper.from_array(np.float32(1), "one"), numpy_helper.from_array(np.float32(2), "two")
    if chain == "2*Cast(x>=0)-1":
        middle = [helper.make_node("GreaterOrEqual", ["y", "zero"], ["p"], name="Ge_1"),
                  helper.make_node("Cast", ["p"], ["f"], name="Cast_2", to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["f", "two"], ["g"], name="Mul_3"),
                  helper.make_node("Sub", ["g", "one"], ["m"], name="Sub_4")]
    elif chain == "1-2*Cast(x<0)":
        middle = [helper.make_node("Less", ["y", "zero"], ["p"], name="Less_1"),
                  helper.make_node("Cast", ["p"], ["f"], name="Cast_2", to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["two", "f"], ["g"], name="Mul_3"),
                  helper.make_node("Sub", ["one", "g"], ["m"], name="Sub_4")]
    else:
        middle = [helper.make_node("Less", ["y", "zero"], ["p"], name="Less_1"),
                  helper.make_node("Cast", ["p"], ["q"], name="Cast_2", to=TensorProto.BOOL),
                  helper.make_node("Not", ["q"], ["n"], name="Not_3"),
                  helper.make_node("Cast", ["n"], ["f"], name="Cast_4", to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["f", "two"], ["g"], name="Mul_5"),
                  helper.make_node("Sub", ["g", "one"], ["m"], name="Sub_6")]
    path = _between_layers(middle, [zero, one, two], "chain", tmp_path)
    module, _ = import_onnx(path)
    (threshold,) = [op for op in module.function("main").ops if op.name == "bnn.threshold"]
    assert threshold.result.type.domain is Domain.PM1  # one binarizer, no ternary planes
    assert "host.onnx" not in _ops(path)
    _exact(path)


def test_steps_to_float_levels_stay_steps_on_the_codes(tmp_path: Path) -> None:
    """``Cast(x ≥ 0) · 3 + 1e8``: the levels would be float32, so the threshold keeps its 0/1
    codes and the steps stay pending (float32 rounds 1e8 + 3 to 1e8: both levels are 1e8)."""
    middle = [helper.make_node("GreaterOrEqual", ["y", "zero"], ["p"], name="Ge_1"),
              helper.make_node("Cast", ["p"], ["f"], name="Cast_2", to=TensorProto.FLOAT),
              helper.make_node("Mul", ["f", "three"], ["g"], name="Mul_3"),
              helper.make_node("Add", ["g", "big"], ["m"], name="Add_4")]
    extra = [numpy_helper.from_array(np.float32(v), n) for n, v in (("zero", 0), ("three", 3), ("big", 1e8))]
    path = _between_layers(middle, extra, "folded", tmp_path)
    module, _ = import_onnx(path)
    (threshold,) = [op for op in module.function("main").ops if op.name == "bnn.threshold"]
    assert threshold.attr("out_scale") == 1.0 and threshold.attr("out_bias") == 0.0
    _exact(path)


def test_a_float_depthwise_conv_between_binary_layers_is_periphery(tmp_path: Path) -> None:
    """QuickNet's blur pool: a real depthwise 3×3 conv (group = channels) between binary convs."""
    rng = np.random.default_rng(4)
    blur = np.tile(np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16, (4, 1, 1, 1))
    inits = [numpy_helper.from_array(_pm1(rng, 4, 2, 3, 3), "w1"), numpy_helper.from_array(blur, "blur"),
             numpy_helper.from_array(_pm1(rng, 3, 4, 3, 3), "w2"), numpy_helper.from_array(np.float32(0.1), "shift")]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="Conv_0", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "blur"], ["b"], name="Blur_1", group=4, pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Add", ["b", "shift"], ["a"], name="Add_2"),
        helper.make_node("Sign", ["a"], ["s"], name="Sign_3"),
        helper.make_node("Conv", ["s", "w2"], ["out"], name="Conv_4"),
    ]
    path = tmp_path / "blur.onnx"
    onnx.save(single_io_model(nodes, inits, "x", [1, 2, 8, 8], "out", [1, 3, 2, 2]), path)
    (block,) = _periphery(path)
    # 16 outputs per channel, 9 taps each; the Add of the host's result joins the partition
    assert block.location.names == ("Blur_1", "Add_2") and block.attr("work") == (4 * 16 * 9 + 64, 4 * 16 * 9, 0, 0)
    _exact(path)


def test_a_host_partition_between_binary_layers_is_not_a_refusal(tmp_path: Path) -> None:
    middle = [helper.make_node("Sigmoid", ["y"], ["sig"], name="Sigmoid_1"),
              helper.make_node("Sub", ["sig", "half"], ["m"], name="Sub_2")]
    path = _between_layers(middle, [numpy_helper.from_array(np.float32(0.5), "half")], "sigmoid", tmp_path)
    module, _ = import_onnx(path)
    ops = module.function("main").ops
    (host,) = [op for op in ops if op.name == "host.onnx"]
    assert not host.attr("periphery")  # Sigmoid is not periphery work
    assert sum(op.name == "bnn.dense" for op in ops) == 2
    _exact(path)


def test_no_binary_layer_names_the_node_that_stops_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Sign", ["x"], ["s"], name="Sign_0"),
        helper.make_node("Round", ["s"], ["r"], name="Round_1"),
        helper.make_node("MatMul", ["r", "w"], ["out"], name="MatMul_2"),
    ]
    path = tmp_path / "round.onnx"
    onnx.save(single_io_model(nodes, [numpy_helper.from_array(_pm1(rng, 16, 4), "w")], "x", [1, 16], "out", [1, 4], bipolar_input=False), path)
    with pytest.raises(UnsupportedModelError, match=r"node 'Round_1' \(op Round\): Round of a value that is not a clipped real value"):
        bnnc.compile(path)


# ------------------------------------------------------------------ weights and periphery rules


def test_weights_within_float32_rounding_of_alpha_are_binary() -> None:
    alpha = np.array([0.37, 1.5], np.float32)
    signs = _pm1(np.random.default_rng(0), 2, 9)
    w = alpha[:, None] * signs
    w[0, 3] = np.nextafter(w[0, 3], np.float32(0))  # a last-place rounding of α·sign(W)
    split = split_binary(w)
    assert split is not None and (split.signs == signs).all() and np.array_equal(split.alpha, alpha)
    w[1, 4] *= np.float32(1 - 1e-4)  # a real spread
    assert split_binary(w) is None


def test_exact_zeros_among_binary_weights_are_ternary() -> None:
    w = np.array([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], np.float32)
    split = split_binary(w)
    assert split is not None and split.domain is Domain.TERN
    assert split.signs.tolist() == [[1, -1, 0], [0, 0, 0]] and split.alpha.tolist() == [0.5, 1.0]


def test_periphery_work_counts_each_rule() -> None:
    shapes = {"x": (1, 4, 8, 8), "p": (1, 4, 4, 4), "c": (1, 8, 4, 4), "g": (1, 8, 1, 1), "big": (1, 64, 4, 4)}
    constants = {"w": np.zeros((8, 4, 1, 1), np.float32), "wl": np.zeros((64, 64, 3, 3), np.float32)}
    pool = helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2])
    conv = helper.make_node("Conv", ["p", "w"], ["c"])
    gap = helper.make_node("GlobalAveragePool", ["c"], ["g"])
    assert periphery_work([pool], shapes, constants) == (3 * 64, 64, 0, 0)
    assert periphery_work([conv], shapes, constants) == (128 * 4, 128 * 4, 0, 0)
    assert periphery_work([gap], shapes, constants) == (8 * 15, 8, 0, 0)
    assert periphery_work([helper.make_node("Softmax", ["c"], ["s"])], shapes, constants) is None
    large = helper.make_node("Conv", ["p", "wl"], ["big"], pads=[1, 1, 1, 1])
    shapes["p"] = (1, 64, 4, 4)
    assert periphery_work([large], shapes, constants) is not None  # 64·64·9 weights: still small
    constants["wl"] = np.zeros((65, 64, 3, 3), np.float32)
    assert periphery_work([large], shapes, constants) is None


# ------------------------------------------------------------------ Bi-Real's straight-through sign


def _bireal_model(tmp_path: Path, polynomial: str) -> Path:
    """``MatMul (±1) -> y -> (Sign(y) − p(y)) + p(y) -> MatMul (±1)``: ``"bireal"`` is Bi-Real's
    p (−1 below −1, x² + 2x below 0, −x² + 2x below 1, else 1, written as the authors' code
    exports it); ``"opposite"`` is p(x) = −2.5·2⁻²³ (the wrong sign: (1 − p) + p rounds to
    1 − 2⁻²⁴)."""
    c = {n: numpy_helper.from_array(np.float32(v), n) for n, v in
         (("m1", -1.0), ("zero", 0.0), ("one", 1.0), ("two", 2.0), ("tiny", -2.5 * 2.0**-23))}
    if polynomial == "bireal":
        p_nodes = [
            helper.make_node("Less", ["y", "m1"], ["lt0"]), helper.make_node("Less", ["y", "zero"], ["lt1"]),
            helper.make_node("Less", ["y", "one"], ["lt2"]),
            helper.make_node("Cast", ["lt0"], ["c0"], to=TensorProto.FLOAT), helper.make_node("Cast", ["lt1"], ["c1"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["lt2"], ["c2"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["c0", "m1"], ["out1"]),
            helper.make_node("Mul", ["y", "y"], ["sq"]), helper.make_node("Mul", ["y", "two"], ["twice"]),
            helper.make_node("Add", ["sq", "twice"], ["up"]), helper.make_node("Sub", ["one", "c0"], ["n0"]),
            helper.make_node("Mul", ["up", "n0"], ["t0"]), helper.make_node("Add", ["out1", "t0"], ["out2"]),
            helper.make_node("Mul", ["out2", "c1"], ["t1"]), helper.make_node("Neg", ["y"], ["ny"]),
            helper.make_node("Mul", ["ny", "y"], ["nsq"]), helper.make_node("Add", ["nsq", "twice"], ["down"]),
            helper.make_node("Sub", ["one", "c1"], ["n1"]), helper.make_node("Mul", ["down", "n1"], ["t2"]),
            helper.make_node("Add", ["t1", "t2"], ["out3"]), helper.make_node("Mul", ["out3", "c2"], ["t3"]),
            helper.make_node("Sub", ["one", "c2"], ["n2"]), helper.make_node("Add", ["t3", "n2"], ["p"]),
        ]
    else:
        p_nodes = [helper.make_node("Less", ["y", "zero"], ["lt"]), helper.make_node("Cast", ["lt"], ["cl"], to=TensorProto.FLOAT),
                   helper.make_node("Mul", ["cl", "zero"], ["z"]), helper.make_node("Add", ["z", "tiny"], ["p"])]
    middle = [helper.make_node("Sign", ["y"], ["sy"], name="Sign_1"), *p_nodes,
              helper.make_node("Sub", ["sy", "p"], ["d"], name="Sub_ste"), helper.make_node("Add", ["d", "p"], ["m"], name="Add_ste")]
    for i, node in enumerate(middle):
        node.name = node.name or f"{node.op_type}_p{i}"
    return _between_layers(middle, list(c.values()), polynomial, tmp_path, second_input="m")


def test_bireal_straight_through_sign_is_proven_a_sign(tmp_path: Path) -> None:
    path = _bireal_model(tmp_path, "bireal")
    assert straight_through_signs(load_model(path)) == {"m": "sy"}
    ops = _ops(path)
    assert "host.onnx" not in ops and ops.count("bnn.dense") == 2
    _exact(path)


def test_a_straight_through_sign_of_the_wrong_range_is_not_proven(tmp_path: Path) -> None:
    path = _bireal_model(tmp_path, "opposite")
    assert straight_through_signs(load_model(path)) == {}
    ones = {"x": np.ones((1, 16), np.float32)}
    assert bnnc.compile(path).check(ones).exact  # the formula stays as written


# ------------------------------------------------------------------ k-bit activations


def test_dorefa_activation_is_a_staircase_of_thresholds(tmp_path: Path) -> None:
    """``round(clip(y, 0, 1) · 3) / 3``: three thresholds on y, 2-bit codes into the next layer
    with the ``/ 3`` applied to its integer sum."""
    middle = [helper.make_node("Mul", ["y", "eighth"], ["z"], name="Mul_1"),
              helper.make_node("Clip", ["z", "zero", "one"], ["c"], name="Clip_2"),
              helper.make_node("Mul", ["c", "three"], ["k"], name="Mul_3"),
              helper.make_node("Round", ["k"], ["r"], name="Round_4"),
              helper.make_node("Div", ["r", "three"], ["q"], name="Div_5"),
              helper.make_node("MatMul", ["q", "w3"], ["q3"], name="MatMul_6"),
              helper.make_node("Add", ["q3", "tenth"], ["m"], name="Add_7")]  # off the ties at 0
    rng = np.random.default_rng(9)
    extra = [numpy_helper.from_array(np.float32(v), n) for n, v in (("eighth", 0.125), ("zero", 0), ("one", 1), ("three", 3), ("tenth", 0.1))]
    extra.append(numpy_helper.from_array(_pm1(rng, 8, 8), "w3"))
    path = _between_layers(middle, extra, "dorefa", tmp_path)
    module, _ = import_onnx(path)
    ops = module.function("main").ops
    (threshold,) = [op for op in ops if op.name == "bnn.threshold"]
    assert threshold.result.type.domain is Domain.U8 and threshold.const_type("thresholds").shape == (1, 3)
    t = threshold.const_array("thresholds").reshape(-1)
    below, at = np.nextafter(t, np.float32(-np.inf)), t
    levels = lambda v: np.round(np.clip(v, np.float32(0), np.float32(1)) * np.float32(3))  # noqa: E731
    assert (levels(at) == [1, 2, 3]).all() and (levels(below) == [0, 1, 2]).all()
    assert sum(op.name == "bnn.dense" for op in ops) == 3 and "host.onnx" not in [op.name for op in ops]
    _exact(path)


def test_a_clip_read_other_than_by_round_is_not_a_staircase(tmp_path: Path) -> None:
    middle = [helper.make_node("Clip", ["y", "zero", "one"], ["c"], name="Clip_1"),
              helper.make_node("Add", ["c", "half"], ["m"], name="Add_2")]
    extra = [numpy_helper.from_array(np.float32(v), n) for n, v in (("zero", 0), ("one", 1), ("half", -0.5))]
    path = _between_layers(middle, extra, "clip_add", tmp_path)
    module, _ = import_onnx(path)
    hosts = [op for op in module.function("main").ops if op.name == "host.onnx"]
    assert [op.location.names for op in hosts] == [("Clip_1", "Add_2")] and hosts[0].attr("periphery")
    _exact(path)


def test_the_cli_run_is_quiet_when_host_partitions_fall_back_to_per_sample_runs(tmp_path: Path, capfd) -> None:
    """The simulator tries a host partition on the whole batch first; where onnxruntime cannot
    (a Gemm on a batch axis it was not exported for), it falls back without logging errors."""
    from bnnc.cli import main

    assert main([str(ARCH / "bireal_deploy_ts13.onnx"), "-o", str(tmp_path / "out")]) == 0
    assert "onnxruntime" not in capfd.readouterr().err
