"""The ONNX frontend end to end: every zoo model and both third-party models compile and
compute exactly what onnxruntime computes on the source model; bad models are refused with
one clear line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnnc.cli import main
import bnnc
from bnnc.program import run_program
from bnnc.frontend.reference import run_reference
from bnnc.ir import print_module
from tests.models.builders import single_io_model
from tests.models.zoo import BAD, ZOO, sample_inputs

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "models"
FINN_TFC = SHARED / "finn_tfc_w1a1" / "model.onnx"
QONNX_TFC = SHARED / "qonnx_zoo_tfc_1w1a" / "TFC_1W1A.onnx"
MNIST_INPUT = SHARED / "finn_tfc_w1a1" / "input.npy"
MNIST_EXPECTED = SHARED / "finn_tfc_w1a1" / "expected_output.npy"
needs_shared = pytest.mark.skipif(not FINN_TFC.exists(), reason=f"third-party models not found at {SHARED}")


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_is_exact_against_onnxruntime(zoo_dir: Path, name: str) -> None:
    compilation = bnnc.compile(zoo_dir / f"{name}.onnx")
    result = compilation.check(sample_inputs(ZOO[name], 24, seed=1))
    assert result.exact, result.summary()
    assert result.inputs == 24


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_exact_on_random_inputs_of_the_right_kind(zoo_dir: Path, name: str) -> None:
    compilation = bnnc.compile(zoo_dir / f"{name}.onnx")
    result = compilation.check(compilation.random_inputs(16, seed=2))
    assert result.exact, result.summary()


def test_sign_tie_model_really_produces_zeros_and_stays_exact(zoo_dir: Path) -> None:
    from bnnc.backends.interpreter import interpret

    compilation = bnnc.compile(zoo_dir / "cnn_sign_tie_reachable.onnx", pipeline="")
    function = compilation.module.function("main")
    signs = [op for op in function.ops if op.name == "bnn.sign" and op.attr("zero") == "zero"]
    assert signs, "the ONNX Sign must stay ternary"
    # expose every ternary sign and look for a 0 on the zoo's inputs
    from bnnc.ir import Return

    function.ops[-1].drop_operand_uses()
    function.ops.pop()
    function.append(Return([op.result for op in signs]))
    inputs = sample_inputs(ZOO["cnn_sign_tie_reachable"], 32, seed=3)
    arg = next(iter(inputs.values()))
    zeros = sum(int(np.count_nonzero(out == 0)) for sample in arg for out in interpret(compilation.module, [sample[None]]))
    assert zeros > 0


@needs_shared
def test_finn_tfc_gives_the_expected_classes() -> None:
    compilation = bnnc.compile(FINN_TFC)
    outputs = run_program(compilation.module, {"global_in": np.load(MNIST_INPUT)})
    assert outputs["global_out"].reshape(-1).tolist() == np.load(MNIST_EXPECTED).tolist() == [7, 2, 1, 0]
    assert compilation.check({"global_in": np.load(MNIST_INPUT)}).exact


@needs_shared
def test_qonnx_tfc_gives_the_expected_classes_and_logits() -> None:
    compilation = bnnc.compile(QONNX_TFC)
    images = np.load(MNIST_INPUT) / np.float32(255)
    ours = run_program(compilation.module, {"0": images})
    reference = run_reference(compilation.model, {"0": images})
    assert ours["74"].argmax(axis=1).tolist() == [7, 2, 1, 0]
    np.testing.assert_allclose(ours["74"], reference["74"], rtol=1e-5)
    assert compilation.check(compilation.random_inputs(16)).exact


@needs_shared
def test_cli_runs_inputs_and_saves_outputs(tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "in.npz", global_in=np.load(MNIST_INPUT))
    code = main([str(FINN_TFC), "--inputs", str(tmp_path / "in.npz"), "--save-outputs", str(tmp_path / "out.npz"), "-o", str(tmp_path / "out")])
    assert code == 0
    with np.load(tmp_path / "out.npz") as saved:
        assert saved["global_out"].reshape(-1).tolist() == [7, 2, 1, 0]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["golden"] == {"inputs": 4, "exact": True, "max_abs_err": 0.0, "sign_zero_events": 0}
    assert "bit-exact against onnxruntime on 4 inputs" in capsys.readouterr().out


@needs_shared
def test_cli_golden_check_defaults_to_16_random_inputs(tmp_path: Path) -> None:
    assert main([str(QONNX_TFC), "-o", str(tmp_path)]) == 0
    golden = json.loads((tmp_path / "report.json").read_text())["golden"]
    assert golden["inputs"] == 16 and golden["exact"] is True


@needs_shared
def test_export_standard_onnx_runs_in_onnxruntime_and_recompiles(tmp_path: Path) -> None:
    exported = tmp_path / "std.onnx"
    assert main([str(QONNX_TFC), "--export-standard-onnx", str(exported), "--no-check", "-o", str(tmp_path / "o")]) == 0
    model = onnx.load(exported)
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    compilation = bnnc.compile(exported)
    # the standard form of BipolarQuant is recognized again as a binarizer with zero -> +1
    assert any(op.name == "bnn.sign" and op.attr("zero") == "pos" for op in compilation.module.function().ops)
    assert compilation.check(compilation.random_inputs(8)).exact


def test_compiled_ir_names_onnx_nodes_as_locations(zoo_dir: Path) -> None:
    compilation = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx")
    source = print_module(compilation.source)
    assert 'loc("Conv_0")' in source and 'loc("BatchNormalization_0")' in source
    compiled = print_module(compilation.module)
    assert 'loc(fused["Conv_0", "BatchNormalization_0", "Sign_0"])' in compiled


def test_float_tail_becomes_a_host_partition(zoo_dir: Path) -> None:
    module = bnnc.compile(zoo_dir / "float_last_layer.onnx").module
    ops = module.function().ops
    tail = ops[-2]  # the op before return
    assert tail.name == "host.onnx" and set(tail.location.names) == {"Gemm_0", "Softmax_0"}
    assert any(op.name == "xbar.mvm" for op in ops[: ops.index(tail)])


def _comparison_model(after_cast: str) -> onnx.ModelProto:
    """``Sign -> MatMul (±1 weights) -> Less 0 -> Cast float``, then ``after_cast``: ``"mul"`` (a
    float tail), ``"layer"`` (``Sign`` and another binary layer) or ``"none"`` (the boolean is the output)."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("Sign", ["x"], ["s"], name="Sign_0"),
        helper.make_node("MatMul", ["s", "w"], ["y"], name="MatMul_1"),
        helper.make_node("Less", ["y", "zero"], ["less"], name="Less_2"),
        helper.make_node("Cast", ["less"], ["cast"], name="Cast_3", to=TensorProto.FLOAT),
    ]
    inits = [numpy_helper.from_array(np.where(rng.random((16, 8)) < 0.5, -1, 1).astype(np.float32), "w"), numpy_helper.from_array(np.float32(0), "zero")]
    output, shape = {"mul": ("out", [1, 8]), "layer": ("out", [1, 4]), "none": ("less", [1, 8])}[after_cast]
    if after_cast == "mul":
        nodes.append(helper.make_node("Mul", ["cast", "two"], ["out"], name="Mul_4"))
        inits.append(numpy_helper.from_array(np.float32(2), "two"))
    elif after_cast == "layer":
        nodes.append(helper.make_node("Sign", ["cast"], ["s2"], name="Sign_4"))
        nodes.append(helper.make_node("MatMul", ["s2", "w2"], ["out"], name="MatMul_5"))
        inits.append(numpy_helper.from_array(np.where(rng.random((8, 4)) < 0.5, -1, 1).astype(np.float32), "w2"))
    else:
        del nodes[-1]
    model = single_io_model(nodes, inits, "x", [1, 16], output, shape, bipolar_input=False)
    if after_cast == "none":
        model.graph.output[0].type.tensor_type.elem_type = TensorProto.BOOL
    return model


@pytest.mark.parametrize("after_cast", ["mul", "layer"])
def test_a_comparison_cast_to_float_is_a_threshold(tmp_path: Path, after_cast: str) -> None:
    """``Cast(y < 0)`` is ``bnn.threshold`` with levels 0 and 1; ``· 2`` folds into its
    ``out_scale``; a ``Sign`` and a binary layer may follow."""
    path = tmp_path / f"less_cast_{after_cast}.onnx"
    onnx.save(_comparison_model(after_cast), path)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 0  # the golden check passed
    module, _ = bnnc.frontend.import_onnx(path)
    names = [op.name for op in module.function("main").ops]
    assert "host.onnx" not in names and "bnn.threshold" in names
    assert names.count("bnn.dense") == (2 if after_cast == "layer" else 1)


@pytest.mark.parametrize(
    "after_cast, fragments",
    [
        ("none", ["node 'Less_2' (op Less)", "output 'less' is the boolean result", "cast it to float32"]),
    ],
)
def test_a_comparison_that_cannot_be_compiled_is_refused_with_one_clear_line(tmp_path: Path, after_cast: str, fragments: list[str], capsys) -> None:
    path = tmp_path / f"less_{after_cast}.onnx"
    onnx.save(_comparison_model(after_cast), path)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "internal error" not in err, err
    for fragment in fragments:
        assert fragment in err
    assert not (tmp_path / "out").exists()


def _where_model(case: str) -> onnx.ModelProto:
    """``MatMul (±1 weights) -> Where(condition, 1, -1)`` on a ±1 input, where the condition
    is ``Less(y, t)`` with ``t`` of shape [1, 2, 1] (``"broadcast_compare"``), ``Less(y, 0)``
    with values of shape [1, 2, 1] (``"broadcast_where"``) or ``Less(y, Relu(y))``, computed
    by the host (``"host_condition"``)."""
    rng = np.random.default_rng(5)
    t = np.zeros((1, 2, 1) if case == "broadcast_compare" else (), np.float32)
    one = np.ones((1, 2, 1) if case == "broadcast_where" else (), np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="MatMul_0")]
    if case == "host_condition":
        nodes.append(helper.make_node("Relu", ["y"], ["t"], name="Relu_1"))
    nodes += [
        helper.make_node("Less", ["y", "t"], ["less"], name="Less_2"),
        helper.make_node("Where", ["less", "minus", "plus"], ["out"], name="Where_3"),
    ]
    inits = [numpy_helper.from_array(np.where(rng.random((16, 8)) < 0.5, -1, 1).astype(np.float32), "w"), numpy_helper.from_array(one, "plus"), numpy_helper.from_array(-one, "minus")]
    if case != "host_condition":
        inits.append(numpy_helper.from_array(t, "t"))
    return single_io_model(nodes, inits, "x", [1, 16], "out", [1, 8] if case == "host_condition" else [1, 2, 8])


@pytest.mark.parametrize("case", ["broadcast_compare", "broadcast_where", "host_condition"])
def test_a_where_the_arrays_cannot_take_runs_on_the_host(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.onnx"
    onnx.save(_where_model(case), path)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 0  # the golden check passed
    ops = bnnc.compile(path).module.function().ops
    assert ops[-2].name == "host.onnx" and "Where_3" in ops[-2].location.names
    assert ops[-1].operands[0].type.shape == ((1, 8) if case == "host_condition" else (1, 2, 8))


@pytest.mark.parametrize("op", ["GreaterOrEqual", "Greater", "Less", "LessOrEqual"])
def test_a_comparison_of_integers_with_a_fraction_rounds_its_threshold(tmp_path: Path, op: str) -> None:
    """``Where(Sign(x) >= t, +1, -1)`` with t = 0.5, -0.5, 1.5, -1.5: on integers, x >= t is
    x >= ceil(t) and x > t is x >= floor(t) + 1 (the same integers for these t)."""
    rng = np.random.default_rng(6)
    nodes = [
        helper.make_node("Sign", ["x"], ["s"], name="Sign_0"),
        helper.make_node(op, ["s", "t"], ["p"], name="Compare_1"),
        helper.make_node("Where", ["p", "plus", "minus"], ["b"], name="Where_2"),
        helper.make_node("MatMul", ["b", "w"], ["out"], name="MatMul_3"),
    ]
    inits = [
        numpy_helper.from_array(np.array([[0.5, -0.5, 1.5, -1.5]], np.float32), "t"), numpy_helper.from_array(np.float32(1), "plus"),
        numpy_helper.from_array(np.float32(-1), "minus"), numpy_helper.from_array(np.where(rng.random((4, 3)) < 0.5, -1, 1).astype(np.float32), "w"),
    ]
    path = tmp_path / f"{op}.onnx"
    onnx.save(single_io_model(nodes, inits, "x", [1, 4], "out", [1, 3], bipolar_input=False), path)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 0  # the golden check passed
    source = bnnc.compile(path, pipeline="").module
    threshold = next(op for op in source.function().ops if op.name == "bnn.threshold")
    assert source.constant(threshold.const("thresholds")).data.reshape(-1).tolist() == [1, 0, 2, -1]


def test_host_nodes_whose_results_nothing_reads_are_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["out"], name="MatMul_0"),
        helper.make_node("Relu", ["out"], ["unused"], name="Relu_1"),
    ]
    path = tmp_path / "dead_relu.onnx"
    onnx.save(single_io_model(nodes, [numpy_helper.from_array(np.where(rng.random((8, 4)) < 0.5, -1, 1).astype(np.float32), "w")], "x", [1, 8], "out", [1, 4]), path)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 0
    assert not any(op.name == "host.onnx" for op in bnnc.compile(path).module.function().ops)


def test_a_dropout_whose_mask_is_read_runs_on_the_host(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["y"], name="MatMul_0"),
        helper.make_node("Dropout", ["y"], ["d", "mask"], name="Dropout_1"),
        helper.make_node("Cast", ["mask"], ["keep"], name="Cast_2", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["d", "keep"], ["out"], name="Mul_3"),
    ]
    path = tmp_path / "dropout_mask.onnx"
    onnx.save(single_io_model(nodes, [numpy_helper.from_array(np.where(rng.random((8, 4)) < 0.5, -1, 1).astype(np.float32), "w")], "x", [1, 8], "out", [1, 4]), path)
    assert main([str(path), "-o", str(tmp_path / "out")]) == 0  # the golden check passed
    tail = bnnc.compile(path).module.function().ops[-2]
    assert tail.name == "host.onnx" and tail.location.names == ("Dropout_1", "Cast_2", "Mul_3")


# ------------------------------------------------------------------ bad input

BAD_FRAGMENTS = {
    "dynamic_shape": ["input 'input'", "--input-shape input=1x1xHxW"],
    "unknown_custom_domain": ["op FancySign", "domain com.example"],
    "no_binary_layer": ["at least one binary layer"],
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_model_is_refused_with_one_clear_line(zoo_dir: Path, name: str, capsys) -> None:
    path = zoo_dir / f"{name}.onnx"
    assert main([str(path), "-o", str(zoo_dir / f"{name}.out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and "Traceback" not in err
    for fragment in BAD_FRAGMENTS[name]:
        assert fragment in err
    assert not (zoo_dir / f"{name}.out").exists(), "nothing is written for a refused model"


def test_dynamic_shape_compiles_with_input_shape(zoo_dir: Path) -> None:
    assert main([str(zoo_dir / "dynamic_shape.onnx"), "--input-shape", "input=1x1x8x8", "-o", str(zoo_dir / "dyn.out")]) == 0


@pytest.mark.parametrize(
    "content, fragment",
    [(b"", "is empty"), (b"this is not a model\n", "not a valid ONNX protobuf"), (None, "not a valid ONNX protobuf")],
    ids=["empty", "text", "truncated"],
)
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes | None, fragment: str, capsys) -> None:
    path = tmp_path / "broken.onnx"
    if content is None:  # a real model cut in half
        data = ZOO["cnn_pad1_stride1"].build().SerializeToString()
        content = data[: len(data) // 2]
    path.write_bytes(content)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and fragment in err


def test_debug_shows_a_traceback(zoo_dir: Path, capsys) -> None:
    assert main([str(zoo_dir / "dynamic_shape.onnx"), "--debug", "-o", str(zoo_dir / "g.out")]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_every_converter_is_registered_once_and_documented() -> None:
    from bnnc.frontend.convert import CONVERTERS, converter

    assert {op for _, op in CONVERTERS} >= {"Conv", "Gemm", "MatMul", "BatchNormalization", "Sign", "BipolarQuant", "MultiThreshold", "Where", "MaxPool", "Reshape"}
    assert all(function.__doc__ for function in CONVERTERS.values())
    with pytest.raises(ValueError, match="two converters for op Conv"):
        converter("Conv")(lambda ctx, node: None)


@pytest.mark.parametrize("where", ["threshold", "input"])
def test_multithreshold_with_nan_agrees_with_qonnx(tmp_path, where: str) -> None:
    """qonnx's x >= t is false where x or t is NaN; the standard form the golden check runs
    counted NaN as reached (Not(Less)), so a NaN threshold, or a NaN into a MultiThreshold (a
    BatchNorm scale of inf before it gives inf * 0), compiled and then failed the golden check
    (found by fuzzing)."""
    model = ZOO["finn_multithreshold_input"].build()
    if where == "threshold":
        init = next(t for t in model.graph.initializer if t.name == "MultiThreshold_param_1")
        array = numpy_helper.to_array(init).copy()
        array[3, 0] = np.nan
        init.CopyFrom(numpy_helper.from_array(array, init.name))
    else:  # NaN wherever the first MatMul's sum is 0: x * inf - x * inf
        weights = numpy_helper.from_array(np.array(np.inf, np.float32), "inf")
        model.graph.initializer.append(weights)
        matmul = next(n for n in model.graph.node if n.op_type == "MatMul")
        out = matmul.output[0]
        matmul.output[0] = "mm_raw"
        model.graph.node.insert(list(model.graph.node).index(matmul) + 1,
                                helper.make_node("Mul", ["mm_raw", "inf"], [out], name="times_inf"))
    onnx.save(model, tmp_path / "m.onnx")
    assert bnnc.compile(tmp_path / "m.onnx").check(32).exact
