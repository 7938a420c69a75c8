"""A model with two graph inputs, one without a batch axis, is golden-checked: an input given
one sample is shared by every sample, as onnxruntime sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnnc
from bnnc.errors import BnncError


def _two_input_model(path: Path, b_shape: tuple[int, ...] = (16,)) -> Path:
    weights = np.where(np.random.default_rng(0).random((16, 8)) < 0.5, -1, 1).astype(np.float32)
    nodes = [helper.make_node("Add", ["x", "b"], ["t"]), helper.make_node("Sign", ["t"], ["s"]),
             helper.make_node("MatMul", ["s", "W"], ["m"]), helper.make_node("Sign", ["m"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16]),
                                           helper.make_tensor_value_info("b", TensorProto.FLOAT, list(b_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
                              [numpy_helper.from_array(weights, "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_random_golden_check_of_a_two_input_model(tmp_path: Path) -> None:
    result = bnnc.compile(_two_input_model(tmp_path / "m.onnx")).check(16)
    assert result.exact and result.inputs == 16


def test_user_inputs_share_the_unbatched_input(tmp_path: Path) -> None:
    compilation = bnnc.compile(_two_input_model(tmp_path / "m.onnx"))
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((5, 16)).astype(np.float32), "b": rng.standard_normal(16).astype(np.float32)}
    result = compilation.check(inputs)
    assert result.exact and result.inputs == 5
    assert compilation.simulate(inputs)["y"].shape == (5, 8)


def test_different_sample_counts_are_refused_naming_each_input(tmp_path: Path) -> None:
    compilation = bnnc.compile(_two_input_model(tmp_path / "m.onnx", (1, 16)))
    with pytest.raises(BnncError, match="'x' 3, 'b' 2"):
        compilation.simulate({"x": np.zeros((3, 16), np.float32), "b": np.zeros((2, 16), np.float32)})
    assert compilation.check({"x": np.ones((3, 16), np.float32), "b": np.zeros((1, 16), np.float32)}).exact


@pytest.mark.parametrize("host", [False, True], ids=["digital", "host-partition"])
def test_a_scalar_graph_input_is_golden_checked(tmp_path: Path, host: bool) -> None:
    """A rank-0 input (e.g. a quantizer scale left as a graph input) stays a 0-d array in the
    random inputs and in per-sample runs (it was a numpy scalar onnxruntime refuses)."""
    path = _two_input_model(tmp_path / "m.onnx", b_shape=())
    if host:  # a Softmax of the sum: a host partition reads the scalar
        model = onnx.load(path)
        model.graph.node[0].CopyFrom(helper.make_node("Softmax", ["x"], ["xs"]))
        model.graph.node.insert(1, helper.make_node("Add", ["xs", "b"], ["t"]))
        onnx.save(model, path)
    compilation = bnnc.compile(path)
    assert compilation.random_inputs(3)["b"].shape == ()
    assert compilation.check(3).exact
