"""Fuzzing the loader with mutated models: it either compiles a model or refuses it with a
FrontendError — never an unhandled exception."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnc.frontend import FrontendError, import_onnx
from tests.fuzz_cases import swap_nodes
from tests.models.zoo import ZOO

SEEDS = ["cnn_pad1_stride1", "qonnx_bipolar_cnn", "finn_multithreshold_input", "mlp_gemm_prebinarized", "cnn_pad_value", "cnn_pad_value_attributes"]
OP_TYPES = ["Conv", "Relu", "Sign", "MatMul", "Gemm", "MaxPool", "Add", "Flatten", "Reshape", "Where", "Pad", "TopK", "NoSuchOp", ""]


def _compile_or_refuse(model: onnx.ModelProto | bytes, path: Path) -> None:
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    try:
        import_onnx(path)
    except FrontendError as e:
        assert str(e).count("\n") == 0, "a refusal is one line"


def _mutate(model: onnx.ModelProto, data) -> onnx.ModelProto:
    graph = model.graph
    kind = data.draw(st.sampled_from(["op_type", "drop_input", "rename_input", "attribute", "init_dims", "input_dim", "drop_init", "swap_nodes"]))
    node = graph.node[data.draw(st.integers(0, len(graph.node) - 1))]
    if kind == "op_type":
        node.op_type = data.draw(st.sampled_from(OP_TYPES))
    elif kind == "drop_input" and node.input:
        del node.input[data.draw(st.integers(0, len(node.input) - 1))]
    elif kind == "rename_input" and node.input:
        node.input[data.draw(st.integers(0, len(node.input) - 1))] = data.draw(st.sampled_from(["", "missing", graph.node[0].output[0]]))
    elif kind == "attribute" and node.attribute:
        attribute = node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
        if attribute.ints:
            attribute.ints[0] = data.draw(st.integers(-3, 9))
        elif attribute.type == onnx.AttributeProto.INT:
            attribute.i = data.draw(st.integers(-3, 9))
        elif attribute.type == onnx.AttributeProto.FLOAT:
            attribute.f = data.draw(st.floats(allow_nan=True))
    elif kind == "init_dims" and graph.initializer:
        init = graph.initializer[data.draw(st.integers(0, len(graph.initializer) - 1))]
        if init.dims:
            init.dims[0] = data.draw(st.integers(0, 5))
    elif kind == "input_dim":
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[data.draw(st.integers(0, len(dims) - 1))].dim_value = data.draw(st.integers(-1, 3))
    elif kind == "drop_init" and graph.initializer:
        del graph.initializer[data.draw(st.integers(0, len(graph.initializer) - 1))]
    elif kind == "swap_nodes" and len(graph.node) > 1:
        swap_nodes(graph, data.draw(st.integers(0, len(graph.node) - 2)))
    return model


@pytest.mark.parametrize("seed", SEEDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_models_compile_or_are_refused(tmp_path: Path, seed: str, data) -> None:
    model = ZOO[seed].build()
    for _ in range(data.draw(st.integers(1, 3))):
        model = _mutate(model, data)
    _compile_or_refuse(model, tmp_path / "mutant.onnx")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_bytes_compile_or_are_refused(tmp_path: Path, data) -> None:
    raw = bytearray(ZOO["cnn_pad1_stride1"].build().SerializeToString())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    _compile_or_refuse(bytes(raw[:cut]), tmp_path / "corrupt.onnx")
