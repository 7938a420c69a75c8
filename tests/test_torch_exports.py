"""Real ``torch.onnx`` exports (tests/models/torch/, made by tests/models/torch_export.py with
torch 2.13.0): every fixture compiles bit-exactly against onnxruntime, on random inputs and on
inputs that put exact zeros on the input binarizer; symbolic batches compile as 1 and run
stacked samples; and the frontend rules these exports exercise (sign-preserving ``Clip``
before ``Sign``, model-local functions, type-only ``CastLike`` inputs, converters that give
up half-way) hold on small hand-made variants. torch itself is not needed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnnc
from bnnc.api import Compilation
from bnnc.program import run_program
from bnnc.frontend import import_onnx
from bnnc.frontend.loader import read_model
from bnnc.frontend.reference import run_reference
from bnnc.ir.dialects import bnn, host

FIXTURES = Path(__file__).parent / "models" / "torch"
MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())["fixtures"]
FILES = sorted(p.name for p in FIXTURES.glob("*.onnx"))

# What bnnc makes of each model, whichever exporter wrote it: (binary layers on crossbars,
# host partitions). The pixel stem's first convolution reads x*255 as real values, so it runs
# on the host; the float classifier after the last binary layer does too.
EXPECTED_LAYERS = {
    "mlp_binarynet": (3, 0),
    "cnn_binarynet": (4, 0),
    "cnn_pool_after_sign": (3, 1),
    "cnn_prebinarized": (3, 0),
    "cnn_xnor": (3, 0),
    "cnn_pixel_stem": (2, 1),
    "cnn_uint8_input": (3, 0),
    "cnn_where_sign": (3, 0),
}


def _compile(name: str) -> Compilation:
    return bnnc.compile(FIXTURES / name)


def _layers(path: Path) -> tuple[int, int]:
    """(binary layers, host partitions) as the frontend recognized them, before any pass
    lowers the layers further."""
    module, _ = import_onnx(path)
    ops = module.function("main").ops
    return sum(isinstance(op, (bnn.Conv, bnn.Dense)) for op in ops), sum(isinstance(op, host.OnnxSubgraph) for op in ops)


def tie_inputs(compilation: Compilation, input_zero: float | None, count: int, seed: int) -> dict[str, np.ndarray]:
    """Samples in which about a third of the values sit exactly on the input binarizer's zero
    (pixel 0.5 for ``Sign(2x - 1)``, 0 for ``Sign(x)``), the rest on a grid in [0, 1] or
    normal; integer inputs get their extremes 0 and 255 besides random codes."""
    rng = np.random.default_rng(seed)
    samples = compilation.random_inputs(count, seed)
    for name, value in samples.items():
        if value.dtype == np.uint8:
            value[rng.random(value.shape) < 0.2] = 0
            value[rng.random(value.shape) < 0.2] = 255
            continue
        grid = (rng.integers(0, 9, value.shape) / 8.0).astype(value.dtype)
        value[...] = np.where(rng.random(value.shape) < 0.5, grid, value)
        if input_zero is not None:
            value[rng.random(value.shape) < 0.35] = input_zero
    return samples


# ------------------------------------------------------------------ the fixture set


def test_manifest_describes_every_fixture() -> None:
    assert FILES and sorted(MANIFEST) == FILES
    for name in FILES:
        data = (FIXTURES / name).read_bytes()
        entry = MANIFEST[name]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} changed; rerun tests/models/torch_export.py"
        assert len(data) < 200_000
        model = onnx.load_model_from_string(data)
        assert all(t.data_location != TensorProto.EXTERNAL for t in model.graph.initializer)
        assert entry["model"] in EXPECTED_LAYERS


def test_fixtures_cover_what_the_exporters_write() -> None:
    entries = MANIFEST.values()
    ts = [e for e in entries if e["exporter"].startswith("TorchScript")]
    dynamo = [e for e in entries if e["exporter"].startswith("dynamo")]
    assert {e["opset"] for e in ts} == {13, 17}
    assert min(e["opset"] for e in dynamo) >= 18 and {18, 20} <= {e["opset"] for e in dynamo}
    # both exporters for every model
    for model in EXPECTED_LAYERS:
        kinds = {e["exporter"].split()[0] for e in entries if e["model"] == model}
        assert kinds == {"TorchScript", "dynamo"}, model
    everything = lambda e: {**e["ops"], **e["function_ops"]}  # noqa: E731
    seen = set().union(*(everything(e) for e in entries))
    assert {"Clip", "CastLike", "Expand", "ReduceMean", "Abs", "GreaterOrEqual", "Where", "Cast", "Flatten",
            "Reshape", "Gemm", "MatMul", "Transpose", "MaxPool", "BatchNormalization"} <= seen
    assert any(e["functions"] for e in entries)
    assert any(e["initializers_as_inputs"] for e in entries)
    assert any(e["input"]["dtype"] == "uint8" for e in entries)
    symbolic = [e for e in entries if isinstance(e["input"]["shape"][0], str)]
    assert {e["exporter"].split()[0] for e in symbolic} == {"TorchScript", "dynamo"}


def _signs_of_initializers(name: str) -> list[str]:
    model = onnx.load(FIXTURES / name)
    inits = {t.name for t in model.graph.initializer}
    return [n.input[0] for n in model.graph.node if n.op_type == "Sign" and n.input[0] in inits]


def test_dynamo_folds_small_sign_of_weights_only() -> None:
    """The optimizing dynamo exporter folds Sign(W) for weights of at most 8192 elements
    (onnxscript's constant-folding input limit); the TorchScript exporter folds none."""
    assert _signs_of_initializers("mlp_binarynet_dynamo.onnx") == ["fc1.weight"]  # 64 x 144
    assert len(_signs_of_initializers("mlp_binarynet_ts13.onnx")) == 3
    assert _signs_of_initializers("cnn_binarynet_dynamo_noopt.onnx")  # optimize=False folds nothing


def test_dynamo_folds_batchnorm_into_layers() -> None:
    """What the optimizing dynamo exporter writes: no Sign on an initializer (folded into ±1
    constants), and BatchNorm right after a Conv folded into ±α weights with a bias."""
    entry = "cnn_pool_after_sign_dynamo18.onnx"
    model = onnx.load(FIXTURES / entry)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert not any(n.op_type == "Sign" and n.input[0] in inits for n in model.graph.node)
    assert "BatchNormalization" not in MANIFEST[entry]["ops"]
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    weight = inits[conv.input[1]].reshape(inits[conv.input[1]].shape[0], -1)
    magnitudes = {tuple(np.unique(np.abs(row))) for row in weight}
    assert all(len(m) == 1 for m in magnitudes) and len(magnitudes) > 1  # one α per output channel
    assert (inits[conv.input[1]] == 0).all(axis=(1, 2, 3)).any()  # the γ = 0 channel


# ------------------------------------------------------------------ every fixture compiles exactly


@pytest.mark.parametrize("name", FILES)
def test_fixture_compiles_bit_exact(name: str) -> None:
    entry = MANIFEST[name]
    assert _layers(FIXTURES / name) == EXPECTED_LAYERS[entry["model"]]
    compilation = _compile(name)
    result = compilation.check(compilation.random_inputs(16, seed=0))
    assert result.exact, result.summary()
    ties = tie_inputs(compilation, entry["input_zero"], 16, seed=1)
    if entry["input_zero"] is not None:
        (value,) = ties.values()
        assert (value == np.float32(entry["input_zero"])).reshape(16, -1).any(axis=1).all()
    result = compilation.check(ties)
    assert result.exact, result.summary()


def test_input_ties_reach_the_arrays_as_ternary_values() -> None:
    """A pixel of exactly 0.5 makes Sign(2x - 1) output 0: the first layer reads ternary
    values, and the golden check above then covers Sign(0) = 0 on real data."""
    module, _ = import_onnx(FIXTURES / "cnn_binarynet_ts17.onnx")
    first = next(op for op in module.function("main").ops if isinstance(op, bnn.Conv))
    assert first.operands[0].type.domain.value == "tern"


@pytest.mark.parametrize("name", [n for n in FILES if isinstance(MANIFEST[n]["input"]["shape"][0], str)])
def test_symbolic_batch_compiles_as_one_and_stacks_samples(name: str) -> None:
    entry = MANIFEST[name]
    assert not onnx.load(FIXTURES / name).graph.input[0].type.tensor_type.shape.dim[0].HasField("dim_value")
    compilation = _compile(name)
    (arg,) = compilation.module.function("main").args
    assert arg.type.shape == (1, *entry["input"]["shape"][1:])
    inputs = tie_inputs(compilation, entry["input_zero"], 5, seed=2)
    outputs = run_program(compilation.module, inputs)
    assert outputs["logits"].shape == (5, 10)
    np.testing.assert_allclose(outputs["logits"], run_reference(compilation.model, inputs)["logits"], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ Clip (nn.Hardtanh) before Sign


def _with_first_clip_bounds(tmp_path: Path, lo: float, hi: float) -> tuple[Path, str]:
    model = onnx.load(FIXTURES / "cnn_binarynet_ts17.onnx")
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    producers = {o: n for n in model.graph.node for o in n.output}
    for index, bound in ((1, lo), (2, hi)):
        constant = producers[clip.input[index]]
        constant.attribute[0].t.CopyFrom(numpy_helper.from_array(np.array(bound, np.float32)))
    path = tmp_path / "clipped.onnx"
    onnx.save(model, path)
    return path, clip.name


def test_sign_preserving_clip_is_dropped_before_sign(tmp_path: Path) -> None:
    path, _ = _with_first_clip_bounds(tmp_path, -0.25, 3.0)
    assert _layers(path) == (4, 0)
    compilation = bnnc.compile(path)
    result = compilation.check(tie_inputs(compilation, 0.5, 8, seed=3))
    assert result.exact, result.summary()


def _host_nodes(compilation: bnnc.Compilation) -> set[str]:
    return {name for op in compilation.module.function().ops if op.name == "host.onnx" for name in op.location.names}


def test_clip_that_changes_signs_between_layers_runs_on_the_host(tmp_path: Path) -> None:
    path, clip = _with_first_clip_bounds(tmp_path, 0.0, 1.0)  # ReLU6-like: Sign gives {0, 1}
    compilation = bnnc.compile(path)
    assert clip in _host_nodes(compilation)
    assert compilation.check(compilation.random_inputs(8)).exact


def test_clip_whose_values_are_also_read_is_kept(tmp_path: Path) -> None:
    model = onnx.load(FIXTURES / "mlp_binarynet_ts13.onnx")
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    model.graph.output.append(helper.make_tensor_value_info(clip.output[0], TensorProto.FLOAT, [1, 64]))
    onnx.save(model, tmp_path / "clip_output.onnx")
    compilation = bnnc.compile(tmp_path / "clip_output.onnx")
    assert clip.name in _host_nodes(compilation)
    assert compilation.check(compilation.random_inputs(8)).exact


# ------------------------------------------------------------------ model-local functions


def test_module_functions_are_inlined_and_named_after_the_call() -> None:
    name = "cnn_binarynet_ts17_functions.onnx"
    assert MANIFEST[name]["functions"]
    model = read_model(FIXTURES / name)
    assert not model.functions
    assert {o.domain for o in model.opset_import} == {""}
    (call,) = onnx.load(FIXTURES / name).graph.node
    assert all(n.name.startswith(f"{call.name}/") for n in model.graph.node)
    assert len({n.name for n in model.graph.node}) == len(model.graph.node)


def _binary_net_with_local_function(body_op: str) -> onnx.ModelProto:
    """x -> Sign -> Conv(±1) -> BatchNorm -> act (a model-local function around ``body_op``)
    -> Sign -> Conv(±1) -> y."""
    rng = np.random.default_rng(5)
    inits = [
        numpy_helper.from_array(rng.choice([-1.0, 1.0], (4, 2, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.choice([-1.0, 1.0], (3, 4, 3, 3)).astype(np.float32), "w2"),
        *(numpy_helper.from_array(a.astype(np.float32), n) for n, a in
          (("g", rng.uniform(0.5, 1.5, 4)), ("b", rng.uniform(-0.5, 0.5, 4)), ("m", rng.uniform(-2, 2, 4)), ("v", rng.uniform(5, 20, 4)))),
    ]
    function = helper.make_function(
        "my.layers", "Act", ["x"], ["y"], [helper.make_node(body_op, ["x"], ["y"], name="inner")],
        [helper.make_opsetid("", 17)],
    )
    nodes = [
        helper.make_node("Sign", ["x"], ["s0"], name="sign0"),
        helper.make_node("Conv", ["s0", "w1"], ["c1"], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["n1"], name="bn1"),
        helper.make_node("Act", ["n1"], ["a1"], name="act1", domain="my.layers"),
        helper.make_node("Sign", ["a1"], ["s1"], name="sign1"),
        helper.make_node("Conv", ["s1", "w2"], ["y"], name="conv2"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])], inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.layers", 1)], functions=[function], ir_version=8
    )


def test_local_function_that_maps_compiles(tmp_path: Path) -> None:
    onnx.save(_binary_net_with_local_function("Identity"), tmp_path / "identity_fn.onnx")
    assert _layers(tmp_path / "identity_fn.onnx") == (2, 0)
    compilation = bnnc.compile(tmp_path / "identity_fn.onnx")
    assert compilation.check(compilation.random_inputs(8)).exact


def test_host_work_inside_a_local_function_is_named_after_the_call(tmp_path: Path) -> None:
    onnx.save(_binary_net_with_local_function("Cos"), tmp_path / "cos_fn.onnx")
    compilation = bnnc.compile(tmp_path / "cos_fn.onnx")
    assert "act1/Cos" in _host_nodes(compilation)
    assert compilation.check(compilation.random_inputs(8)).exact


# ------------------------------------------------------------------ converters that give up half-way


def test_conv_with_a_runtime_bias_goes_to_the_host_without_a_dead_layer(tmp_path: Path) -> None:
    """A Conv whose bias depends on the input is not a crossbar layer; the bnn.conv the
    converter had emitted before finding that out must not stay behind (it would count as a
    binary layer and hide the host partition from the between-layers check)."""
    rng = np.random.default_rng(6)
    inits = [
        numpy_helper.from_array(rng.choice([-1.0, 1.0], (4, 2, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.choice([-1.0, 1.0], (3, 4, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([4], np.int64), "four"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], keepdims=0, name="mean"),
        helper.make_node("Expand", ["mean", "four"], ["bias"], name="bias"),
        helper.make_node("Sign", ["x"], ["s0"], name="sign0"),
        helper.make_node("Conv", ["s0", "w1", "bias"], ["c1"], name="conv1"),
        helper.make_node("Sign", ["c1"], ["s1"], name="sign1"),
        helper.make_node("Conv", ["s1", "w2"], ["y"], name="conv2"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])], inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), tmp_path / "bias.onnx")
    module, _ = import_onnx(tmp_path / "bias.onnx")
    ops = module.function("main").ops
    assert [op.location.names[0] for op in ops if isinstance(op, bnn.Conv)] == ["conv2"]
    partitions = [op for op in ops if isinstance(op, host.OnnxSubgraph)]
    assert any("conv1" in op.location.names for op in partitions)
    compilation = bnnc.compile(tmp_path / "bias.onnx")
    assert compilation.check(compilation.random_inputs(8)).exact


def test_castlike_reads_only_the_type_of_its_second_input() -> None:
    """The unoptimized dynamo export gives every Conv a zero bias Expand(CastLike(0, x)): it
    is a constant, so the convolutions stay binary layers."""
    name = "cnn_binarynet_dynamo_noopt.onnx"
    assert MANIFEST[name]["ops"]["CastLike"] > 0
    module, graph = import_onnx(FIXTURES / name)
    convs = [n for n in graph.nodes if n.op_type == "Conv"]
    assert convs and all(graph.resolve(n.input[2]) in graph.constants for n in convs)
    assert not [op for op in module.function("main").ops if isinstance(op, host.OnnxSubgraph)]
