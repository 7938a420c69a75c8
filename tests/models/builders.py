"""Small ONNX models written in a test: a graph of nodes and initializers with one input and
one output, opset 13, the input optionally annotated as FINN's BIPOLAR (±1 values)."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def single_io_model(
    nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto], input_name: str, input_shape: list[int],
    output_name: str, output_shape: list[int], bipolar_input: bool = True, name: str = "test",
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_shape)], initializers,
    )
    if bipolar_input:
        annotation = onnx.TensorAnnotation(tensor_name=input_name)
        annotation.quant_parameter_tensor_names.add(key="finn_datatype", value="BIPOLAR")
        graph.quantization_annotation.append(annotation)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
