"""Bounded work at load: nodes no graph output needs are never evaluated (here or in the
golden reference), and a tensor over the size limit is refused naming its node and size
(``--max-tensor-mb`` / ``max_tensor_mb`` raise the limit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnnc
from bnnc.cli import main
from bnnc.frontend.bounds import prune_to_outputs


def _model(path: Path, elements: int, *, used: bool, computed_shape: bool = False) -> Path:
    """Sign -> binary MatMul, beside a float ConstantOfShape of ``elements`` ones: unused, or
    summed into the output. With ``computed_shape`` its shape is Abs(initializer), which
    shape inference cannot see through (only evaluation tells the size)."""
    weights = numpy_helper.from_array(np.array([[1, -1], [-1, 1], [1, 1], [-1, -1]], np.float32), "w")
    shape = numpy_helper.from_array(np.array([elements], np.int64), "shape")
    nodes = [helper.make_node("Sign", ["x"], ["a"], name="sign"), helper.make_node("MatMul", ["a", "w"], ["y0"], name="mm")]
    if computed_shape:
        nodes.append(helper.make_node("Abs", ["shape"], ["shape_abs"], name="abs"))
    nodes.append(helper.make_node("ConstantOfShape", ["shape_abs" if computed_shape else "shape"], ["big"], name="huge",
                                  value=numpy_helper.from_array(np.array([1.0], np.float32))))
    if used:
        nodes += [helper.make_node("ReduceMax", ["big"], ["m"], name="rmax", keepdims=0),
                  helper.make_node("Mul", ["y0", "m"], ["y"], name="scale")]
    else:
        nodes.append(helper.make_node("Identity", ["y0"], ["y"], name="id"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [weights, shape])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_an_unused_2_gib_constant_is_never_allocated(tmp_path: Path) -> None:
    model = _model(tmp_path / "m.onnx", 2**29, used=False)
    assert model.stat().st_size < 2000
    process = subprocess.Popen([sys.executable, "-m", "bnnc", str(model), "--golden-inputs", "2", "-o", str(tmp_path / "out")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read()
    assert usage.ru_maxrss < 1024 * 1024, f"peak RSS {usage.ru_maxrss} KiB: the unused 2 GiB tensor was computed"


def test_pruning_keeps_what_subgraphs_read_from_the_outer_scope() -> None:
    then = helper.make_graph([helper.make_node("Identity", ["outer"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1])])
    other = helper.make_graph([], "else", [], [helper.make_tensor_value_info("direct", TensorProto.FLOAT, [1])])
    nodes = [helper.make_node("Neg", ["x"], ["outer"], name="outer"), helper.make_node("Abs", ["x"], ["direct"], name="direct"),
             helper.make_node("Relu", ["x"], ["dead"], name="dead"),
             helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
                                           helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    assert prune_to_outputs(model) == 1
    assert [n.name for n in model.graph.node] == ["outer", "direct", "if"]


@pytest.mark.parametrize("computed_shape", [False, True], ids=["inferred-size", "evaluated-size"])
def test_a_tensor_over_the_limit_is_refused_naming_node_and_size(tmp_path: Path, capsys, computed_shape: bool) -> None:
    model = _model(tmp_path / "m.onnx", 2**20, used=True, computed_shape=computed_shape)  # 4 MiB of float32
    assert main([str(model), "--max-tensor-mb", "1", "--golden-inputs", "2", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'huge' (op ConstantOfShape)" in err
    assert "float32[1048576], 4.0 MiB" in err and "--max-tensor-mb 4" in err
    assert not (tmp_path / "out").exists()
    assert main([str(model), "--max-tensor-mb", "4", "--golden-inputs", "2", "-o", str(tmp_path / "out")]) == 0


def test_the_python_api_takes_the_limit(tmp_path: Path) -> None:
    model = _model(tmp_path / "m.onnx", 2**20, used=True)
    with pytest.raises(bnnc.BnncError, match=r"output 'big' is float32\[1048576\]"):
        bnnc.compile(model, max_tensor_mb=0.5)
    assert bnnc.compile(model, max_tensor_mb=8).check(2).exact
    for bad in (0, -1, float("nan"), "8"):
        with pytest.raises(bnnc.BnncError, match="takes a positive number of MiB"):
            bnnc.compile(model, max_tensor_mb=bad)
