"""Generate ``bnn_cnn.onnx``: the bundled example model of the README.

A small binarized CNN for 28×28 grey images, written the way ``torch.onnx.export`` writes a
BNN trained with ``torch.sign``: input preprocessing ``2x − 1`` and ``Sign``, convolutions
whose weights are ``Sign(W)`` of float latent weights, BatchNorm, ``Sign`` activations,
max-pooling, and a final binary layer producing float logits. Weights are random (seeded):
the model exists to exercise the compiler, not to classify digits.

    python examples/make_example.py            # writes examples/bnn_cnn.onnx
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def build(seed: int = 2021) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def batchnorm(x: str, channels: int, fan_in: int, name: str) -> str:
        params = [
            rng.uniform(0.5, 1.5, channels) * rng.choice([-1, 1], channels, p=[0.1, 0.9]),
            rng.normal(0, 0.5, channels),
            rng.normal(0, np.sqrt(fan_in) / 4, channels),
            rng.uniform(0.5, 1.5, channels) * fan_in,
        ]
        names = [const(f"{name}.{p}", v) for p, v in zip(("scale", "bias", "mean", "var"), params)]
        return node("BatchNormalization", [x, *names], name, epsilon=1e-5)

    def binary_weight(shape: tuple[int, ...], name: str) -> str:
        return node("Sign", [const(f"{name}.latent", rng.normal(0, 1, shape))], f"{name}.sign")

    x = node("Mul", ["image", const("two", 2.0)], "Mul_0")
    x = node("Sub", [x, const("one", 1.0)], "Sub_0")
    x = node("Sign", [x], "Sign_0")
    channels = 1
    for i, width in enumerate((16, 32)):
        w = binary_weight((width, channels, 3, 3), f"conv{i}")
        x = node("Conv", [x, w], f"Conv_{i}", pads=[1, 1, 1, 1])
        x = node("MaxPool", [x], f"MaxPool_{i}", kernel_shape=[2, 2], strides=[2, 2])
        x = node("Sign", [batchnorm(x, width, 9 * channels, f"BatchNormalization_{i}")], f"Sign_{i + 1}")
        channels = width
    x = node("Flatten", [x], "Flatten_0")
    x = node("Gemm", [x, binary_weight((64, 32 * 7 * 7), "fc0")], "Gemm_0", transB=1)
    x = node("Sign", [batchnorm(x, 64, 32 * 7 * 7, "BatchNormalization_2")], "Sign_3")
    x = node("Gemm", [x, binary_weight((10, 64), "fc1")], "Gemm_1", transB=1)
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        nodes,
        "bnn_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bnnc-example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    target = Path(__file__).with_name("bnn_cnn.onnx")
    onnx.save(build(), target)
    print(f"wrote {target}")
