"""Pads with a value (Larq's ``pad_values``): ``Pad(constant, ±1)`` before a binary conv merges
into it as ``bnn.conv``'s ``pad_value`` — every tap is a ±1 input, the border ports are driven
with a constant bit, one threshold class — and is exact against onnxruntime under every
scheme; ``Pad(0)`` merges as zero padding; every other ``Pad`` stays what it was (a host
partition, or between binary layers one clear error, exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnnc
from bnnc.cli import main
from tests.models.zoo import ZOO, sample_inputs

SCHEMES = ("refcol", "xnor", "diff", "auto")
PADDED = {"cnn_pad_value": {"Conv_0": 1, "Conv_1": -1, "Conv_2": 1}, "cnn_pad_value_attributes": {"Conv_0": -1, "Conv_1": 0}}
"""The zoo models padded with values: each conv's pad_value."""


def _conv_ops(compilation: bnnc.Compilation) -> dict[str, object]:
    return {op.location.names[0]: op for op in compilation.module.function().ops if op.name == "bnn.conv"}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", sorted(PADDED))
def test_pad_value_is_exact_with_one_threshold_class(zoo_dir: Path, name: str, scheme: str) -> None:
    compilation = bnnc.compile(zoo_dir / f"{name}.onnx", scheme=scheme)
    result = compilation.check(sample_inputs(ZOO[name], 32, seed=4))
    assert result.exact and result.inputs == 32, result.summary()
    layers = {entry["name"]: entry for entry in compilation.report["layers"] if entry["target"] == "crossbar"}
    for layer, value in PADDED[name].items():
        if value:
            assert layers[layer]["threshold_classes"] == 1 and layers[layer]["readout"] == "comparator", layer
    if name == "cnn_pad_value_attributes":  # zero pads of 2 on every side of a 3×3 conv: 9 border classes
        assert layers["Conv_1"]["threshold_classes"] == 9


@pytest.mark.parametrize("name", sorted(PADDED))
def test_pads_merge_into_the_convs(zoo_dir: Path, name: str) -> None:
    convs = _conv_ops(bnnc.compile(zoo_dir / f"{name}.onnx", pipeline="canonicalize"))
    assert {layer: op.attr("pad_value") for layer, op in convs.items()} == PADDED[name]
    assert all(len(op.location.names) == 2 and op.location.names[1].startswith("Pad_") for op in convs.values())
    if name == "cnn_pad_value_attributes":
        assert convs["Conv_0"].attr("pads") == (2, 1, 0, 1) and convs["Conv_1"].attr("pads") == (2, 2, 2, 2)
    else:
        assert convs["Conv_0"].operands[0].type.domain.value == "tern"  # the Sign of the real input
        assert convs["Conv_2"].attr("pads") == (1, 0, 0, 1)


# --------------------------------------------------------------------------- Pads that do not merge


def _network(variant: str, where: str) -> onnx.ModelProto:
    """A ±1 (BIPOLAR) 3×6×6 input, binary Conv → BN → Sign layers (the last ``Sign`` result is
    the output ``y``) and a ``Pad`` (opset 13 form) of the input before two layers (``where =
    "front"``) or between the first layer and two more (``"middle"``) that does not merge into
    the conv after it:
    ``reflect`` or ``edge`` mode, value 0.5 (``half``), a pad of the channel axis
    (``channel``), a negative pad (``crop``), or a Pad(+1) before a conv with its own zero
    padding (``conv_pads``), read by a MaxPool (``maxpool``) or also a graph output
    (``output``)."""
    rng = np.random.default_rng(7)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op_type: str, inputs: list[str], **attributes: object) -> str:
        name = f"{op_type}_{sum(n.op_type == op_type for n in nodes)}"
        nodes.append(helper.make_node(op_type, inputs, [f"{name}.out"], name=name, **attributes))
        return f"{name}.out"

    def layer(x: str, cin: int, pads: int) -> str:
        w = rng.choice(np.array([-1.0, 1.0], np.float32), size=(8, cin, 3, 3))
        fan_in = cin * 9
        gamma = rng.uniform(0.5, 1.5, 8) * np.where(rng.random(8) < 0.3, -1, 1)  # γ of both signs
        stats = [gamma, rng.normal(0, 0.5, 8), rng.uniform(-1, 1, 8) * np.sqrt(fan_in), rng.uniform(0.5, 1.5, 8) * fan_in]
        k = len(inits)
        bn = [const(f"bn{k}.{i}", np.asarray(a, np.float32)) for i, a in enumerate(stats)]
        return node("Sign", [node("BatchNormalization", [node("Conv", [x, const(f"w{k}", w)], pads=[pads] * 4), *bn])])

    def pad(x: str) -> str:
        pads = {"channel": [0, 1, 1, 1, 0, 0, 1, 1], "crop": [0, 0, 1, 1, 0, 0, -1, 1]}.get(variant, [0, 0, 1, 1, 0, 0, 1, 1])
        value = np.float32(0.5 if variant == "half" else 1.0)
        mode = variant if variant in ("reflect", "edge") else "constant"
        return node("Pad", [x, const("pads", np.array(pads, np.int64)), const("value", value)], mode=mode)

    def padded_layer(x: str, cin: int) -> tuple[str, list[str]]:
        p = pad(x)
        extra = [p] if variant == "output" else []
        if variant == "maxpool":
            p = node("MaxPool", [p], kernel_shape=[3, 3])
        return layer(p, cin + (variant == "channel"), 1 if variant == "conv_pads" else 0), extra

    if where == "front":
        h, outputs = padded_layer("x", 3)
        h = layer(h, 8, 1)
    else:
        h, outputs = padded_layer(layer("x", 3, 1), 8)
        h = layer(h, 8, 1)
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(nodes, "pads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])], [], inits)
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(helper.make_model(graph)).graph.value_info}
    graph.output.extend(inferred[name] for name in ["y"] + outputs)
    annotation = onnx.TensorAnnotation(tensor_name="x")
    annotation.quant_parameter_tensor_names.add(key="finn_datatype", value="BIPOLAR")
    graph.quantization_annotation.append(annotation)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


VARIANTS = {
    "reflect": "Pad in mode 'reflect'", "edge": "Pad in mode 'edge'", "half": "Pad with value 0.5",
    "channel": "only non-negative pads of the spatial axes", "crop": "only non-negative pads of the spatial axes",
    "conv_pads": "the Conv adds zero padding around that", "maxpool": "read by something other than a Conv",
    "output": "a graph output",
}
"""Each Pad that does not merge, and what the error says when it sits between binary layers."""


@pytest.mark.parametrize("where", ["front", "middle"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_other_pads_stay_host_work(tmp_path: Path, variant: str, where: str, capsys) -> None:
    """Such a Pad is host work, as any op without a crossbar mapping: a host partition (checked
    against onnxruntime), or — between binary layers, where bnnc refuses host work — one
    clear line naming the node and why (exit 2), never a crash."""
    path = tmp_path / f"{variant}_{where}.onnx"
    onnx.save(_network(variant, where), path)
    code = main([str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    if code == 2:
        assert where == "middle" and len(err.splitlines()) == 1 and "internal error" not in err, err
        assert VARIANTS[variant] in err and ("node 'Conv_1' (op Conv)" if variant == "conv_pads" else "node 'Pad_0' (op Pad)") in err, err
        assert not (tmp_path / "out").exists()
        return
    assert code == 0, err
    compilation = bnnc.compile(path)
    ops = compilation.module.function().ops
    host = [op for op in ops if op.name == "host.onnx"]
    assert host and "Pad_0" in host[0].location.names and not any(op.attr("pad_value") for op in ops if op.name == "bnn.conv")
    inputs = {"x": np.random.default_rng(2).choice(np.array([-1.0, 1.0], np.float32), size=(16, 3, 6, 6))}
    result = compilation.check(inputs)
    assert result.exact and result.inputs == 16, result.summary()
