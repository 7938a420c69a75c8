"""Deterministic benchmark models, written as standard ONNX the way BNN exporters write them.

- ``tfc``: FINN's TFC, 784-64-64-64-10 binary MLP (input binarized by Sign(2x − 1));
- ``cnv``: FINN's CNV topology on 3×32×32 8-bit pixels (first layer bit-serial on uint8
  codes), six 3×3 convs 64-64-128-128-256-256 with two max-pools, FCs 512-512-10 (1.5 M
  binary weights), and ``cnv_padded``, the same with every conv zero-padded (pad 1, a third
  max-pool before the 256×4×4 flatten);
- ``vgg_small``: binarized VGG-small for CIFAR-10, 2×128, 2×256, 2×512 3×3 convs (pad 1) with
  max-pools, FC 10 (4.6 M binary weights);
- ``resnet18``: a ResNet-18-shaped network at 224×224: a float 7×7 stem and max-pool (a host
  partition), then sixteen binary 3×3 convs 64-128-256-512 with stride-2 transitions (the
  residual additions are left out: bnnc maps plain binary chains), global average pooling and
  a float 1000-way classifier on the host (11 M binary weights);
- ``bireal18``: Bi-Real Net 18 at full width on 224×224 (the same sixteen binary convs as
  ``resnet18``, each with its own real-valued shortcut: identity, or AvgPool 2×2 → real 1×1
  conv → BN at the stride-2 transitions; 11 M binary weights), and in ``VARIANTS`` the same
  network at width 0.25 on 128×128 (quick; the input side must be a multiple of 32, or the stride-2 conv and the 2×2 average pool of the last transition disagree on the size) and at widths 0.25, 0.5, 0.75, 1.5 and 2 on 224×224 (the
  growth of compile cost with the number of weights, 0.7 M to 44 M binary weights), and ``bireal18_folded``, the full-width
  model with every BN folded into its Conv as torch.onnx's default export writes it (binary
  weights ±|s| per output channel, of either sign, with a bias).

Weights are ±1 from a fixed seed; BatchNorms have random running statistics.
``python bench/models.py DIR [NAME ...]`` writes them (all by default).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, op: str) -> str:
        self.count += 1
        return f"{op}_{self.count}"

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        out = self.name(op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def bn(self, x: str, channels: int, fan_in: float) -> str:
        """A BatchNormalization with realistic running statistics for an input whose
        variance is about ``fan_in`` (a ±1 layer's sums): γ of both signs, β ≠ 0, running
        mean ~ N(0, √fan_in / 3), running variance ~ fan_in · U(0.5, 1.5)."""
        gamma = self.rng.uniform(0.5, 1.5, channels) * np.where(self.rng.random(channels) < 0.1, -1, 1)
        params = [gamma, self.rng.normal(0, 0.5, channels), self.rng.normal(0, np.sqrt(fan_in) / 3, channels),
                  self.rng.uniform(0.5, 1.5, channels) * fan_in]
        return self.op("BatchNormalization", x, *(self.const(p) for p in params))

    def bn_sign(self, x: str, channels: int, fan_in: int) -> str:
        return self.op("Sign", self.bn(x, channels, fan_in))

    def conv(self, x: str, cin: int, cout: int, k: int = 3, pad: int = 1, stride: int = 1, binary: bool = True,
             std: float = 0.1) -> str:
        w = self.rng.choice([-1.0, 1.0], (cout, cin, k, k)) if binary else self.rng.normal(0, std, (cout, cin, k, k))
        return self.op("Conv", x, self.const(w), pads=[pad] * 4, strides=[stride] * 2)

    def dense(self, x: str, fan_in: int, outputs: int, binary: bool = True, bias: bool = False) -> str:
        w = self.rng.choice([-1.0, 1.0], (outputs, fan_in)) if binary else self.rng.normal(0, 0.05, (outputs, fan_in))
        if bias:
            return self.op("Gemm", x, self.const(w), self.const(self.rng.normal(0, 0.05, outputs)), transB=1)
        return self.op("Gemm", x, self.const(w), transB=1)

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], output: str, out_shape: list[int]) -> onnx.ModelProto:
        """The graph with a symbolic batch ``N`` (bnnc compiles it for one sample and stacks
        samples; onnxruntime runs the source model on whole batches)."""
        self.nodes[-1].output[0] = "logits"
        for value_info in inputs:
            value_info.type.tensor_type.shape.dim[0].dim_param = "N"
        out_shape = ["N"] + out_shape[1:]
        graph = helper.make_graph(self.nodes, name, inputs, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="bnnc-bench")
        model.ir_version = 8
        return model


def _mlp(name: str, seed: int, width: int) -> onnx.ModelProto:
    """FINN's MLP topology on 28×28 images: ``Sign(2x − 1)``, three binary dense layers of
    ``width`` with BatchNorm + Sign, a binary dense layer of 10."""
    b = _Builder(seed)
    x = b.op("Sign", b.op("Sub", b.op("Mul", b.op("Flatten", "image"), b.const(2.0)), b.const(1.0)))
    fan_in = 784
    for _ in range(3):
        x = b.bn_sign(b.dense(x, fan_in, width), width, fan_in)
        fan_in = width
    b.dense(x, width, 10)
    return b.model(name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])], "logits", [1, 10])


def tfc() -> onnx.ModelProto:
    return _mlp("tfc", 1, 64)


def sfc() -> onnx.ModelProto:
    """FINN's SFC (784-256-256-256-10), for the device Monte Carlo bench (``bench/robustness.py``);
    not in :data:`MODELS`."""
    return _mlp("sfc", 5, 256)


def cnv(pad: int = 0, name: str = "cnv") -> onnx.ModelProto:
    """FINN's CNV; with ``pad=1`` every conv is zero-padded (``cnv_padded``: 32×32 maps until
    the first pool, a 256×4×4 flatten after a third pool)."""
    b = _Builder(2)
    x = b.op("Cast", "image", to=TensorProto.FLOAT)
    cin = 3
    pools = (1, 3, 5) if pad else (1, 3)
    for index, cout in enumerate((64, 64, 128, 128, 256, 256)):
        x = b.bn_sign(b.conv(x, cin, cout, pad=pad), cout, 9 * cin)
        if index in pools:
            x = b.op("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
        cin = cout
    x = b.op("Flatten", x)
    fan_in = 256 * 16 if pad else 256
    for width in (512, 512):
        x = b.bn_sign(b.dense(x, fan_in, width), width, fan_in)
        fan_in = width
    b.dense(x, 512, 10)
    return b.model(name, [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, 32, 32])], "logits", [1, 10])


def cnv_padded() -> onnx.ModelProto:
    return cnv(pad=1, name="cnv_padded")


def vgg_small() -> onnx.ModelProto:
    b = _Builder(3)
    x = b.op("Sign", "image")
    cin = 3
    for index, cout in enumerate((128, 128, 256, 256, 512, 512)):
        x = b.conv(x, cin, cout)
        if index % 2 == 1:
            x = b.op("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
        x = b.bn_sign(x, cout, 9 * cin)
        cin = cout
    b.dense(b.op("Flatten", x), 512 * 4 * 4, 10)
    return b.model("vgg_small", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])], "logits", [1, 10])


def resnet18() -> onnx.ModelProto:
    b = _Builder(4)
    x = b.op("Relu", b.op("BatchNormalization", b.conv("image", 3, 64, k=7, pad=3, stride=2, binary=False),
                          *(b.const(p) for p in (np.ones(64), np.zeros(64), np.zeros(64), np.ones(64)))))
    x = b.op("Sign", b.op("MaxPool", x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for block in range(4):
            stride = 2 if stage > 0 and block == 0 else 1
            x = b.bn_sign(b.conv(x, cin, cout, stride=stride), cout, 9 * cin)
            cin = cout
    x = b.op("Flatten", b.op("GlobalAveragePool", x))
    b.dense(x, 512, 1000, binary=False)
    return b.model("resnet18", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])], "logits", [1, 1000])


def bireal18(width: float = 1.0, resolution: int = 224, name: str = "bireal18") -> onnx.ModelProto:
    """Bi-Real Net 18 (Liu et al., ECCV 2018) as torch.onnx writes the deploy model of the
    authors' ``birealnet18`` (liuzechun/Bi-Real-net, pytorch_implementation/BiReal18_34):
    a float 7×7/2 stem conv (no bias) + BN + 3×3/2 max-pool (no ReLU), then 16 basic blocks of
    ONE binary 3×3 conv each, ``out = BN(BinConv(Sign(x))) + shortcut(x)``, with a real-valued
    residual stream: the shortcut is the identity, or at the three stride-2 transitions
    AvgPool 2×2/2 → real 1×1 conv (no bias) → BN; global average pool, Flatten and a float
    1000-way Gemm with bias. Channels 64×4, 128×4, 256×4, 512×4 times ``width``.

    Deploy form: the activation is a plain ``Sign`` (not the training formula
    ``(sign(x) − p) + p``) and the weights are ±1; the authors' positive per-channel scale
    α = mean|W| is folded into the following BN's running statistics (BN(α·y) with mean m and
    variance v is BN(y) with m/α and v/α²), so the binary BNs carry statistics on the scale of
    the integer sums (``_Builder.bn``)."""
    b = _Builder(5)
    stem = max(1, round(64 * width))
    x = b.op("MaxPool", b.bn(b.conv("image", 3, stem, k=7, pad=3, stride=2, binary=False), stem, 147 * 0.01),
             kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = stem
    for stage, planes in enumerate((64, 128, 256, 512)):
        cout = max(1, round(planes * width))
        for block in range(4):
            stride = 2 if stage > 0 and block == 0 else 1
            y = b.bn(b.conv(b.op("Sign", x), cin, cout, stride=stride), cout, 9 * cin)
            if stride != 1 or cin != cout:
                shortcut = b.op("AveragePool", x, kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0,
                                count_include_pad=1)  # torch.onnx writes every attribute of AvgPool2d(2, 2)
                # the residual stream has a variance of a few units; 1×1 weights ~ N(0, 1/cin)
                shortcut = b.bn(b.conv(shortcut, cin, cout, k=1, pad=0, binary=False, std=float(np.sqrt(1 / cin))),
                                cout, 4.0)
            else:
                shortcut = x
            x = b.op("Add", y, shortcut)
            cin = cout
    x = b.op("Flatten", b.op("GlobalAveragePool", x), axis=1)
    b.dense(x, cin, 1000, binary=False, bias=True)
    return b.model(name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, resolution, resolution])],
                   "logits", [1, 1000])


def fold_batchnorm(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """``model`` with every Conv → BatchNormalization pair (the Conv read only by the BN) folded
    into one Conv with a bias, in float32, as torch.onnx's default export writes an eval-mode
    model (the TorchScript exporter's Conv-BN fusion and the dynamo exporter's optimizer both do):
    W' = W · γ/√(var + ε), b' = β − mean · γ/√(var + ε). A ±1 layer becomes ±|s| per output
    channel, the sign of s (γ) flipping the channel's weights, with a bias."""
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for value in node.input:
            readers[value] = readers.get(value, 0) + 1
    producer = {node.output[0]: node for node in model.graph.node}
    nodes, dropped = [], set()
    for node in model.graph.node:
        conv = producer.get(node.input[0]) if node.op_type == "BatchNormalization" else None
        if conv is None or conv.op_type != "Conv" or readers[conv.output[0]] != 1 or len(conv.input) > 2:
            nodes.append(node)
            continue
        gamma, beta, mean, var = (arrays[v] for v in node.input[1:5])
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        scale = (gamma / np.sqrt(var + np.float32(eps))).astype(np.float32)
        weight = (arrays[conv.input[1]] * scale[:, None, None, None]).astype(np.float32)
        bias = (beta - mean * scale).astype(np.float32)
        arrays[conv.input[1]] = weight
        arrays[conv.output[0] + "_bias"] = bias
        folded = helper.make_node("Conv", [conv.input[0], conv.input[1], conv.output[0] + "_bias"], [node.output[0]],
                                  name=conv.name, **{a.name: helper.get_attribute_value(a) for a in conv.attribute})
        nodes[nodes.index(conv)] = folded
        dropped.update(node.input[1:5])
    graph = helper.make_graph(nodes, name, list(model.graph.input), list(model.graph.output),
                              [numpy_helper.from_array(a, k) for k, a in arrays.items() if k not in dropped])
    folded_model = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="bnnc-bench")
    folded_model.ir_version = model.ir_version
    return folded_model


def bireal18_folded() -> onnx.ModelProto:
    """``bireal18`` as torch.onnx's default export writes it: every BN folded into its Conv."""
    return fold_batchnorm(bireal18(), "bireal18_folded")


def _bireal18_variant(width: float, resolution: int) -> Callable[[], onnx.ModelProto]:
    name = f"bireal18_w{width:g}" + ("" if resolution == 224 else f"_{resolution}")
    build = lambda: bireal18(width, resolution, name)  # noqa: E731
    build.__name__ = name
    return build


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {"tfc": tfc, "cnv": cnv, "cnv_padded": cnv_padded, "vgg_small": vgg_small,
                                                    "resnet18": resnet18, "bireal18": bireal18}
# Smaller Bi-Real Nets for a quick run and for the growth of compile cost with the number of
# weights at a fixed 224×224 input (binary weights scale with width²).
VARIANTS: dict[str, Callable[[], onnx.ModelProto]] = {
    f.__name__: f for f in (_bireal18_variant(0.25, 128), _bireal18_variant(0.25, 224), _bireal18_variant(0.5, 224),
                            _bireal18_variant(0.75, 224), _bireal18_variant(1.5, 224), _bireal18_variant(2, 224),
                            bireal18_folded)}


def binary_weights(model: onnx.ModelProto) -> int:
    """Weights of Conv/Gemm layers whose initializer holds only ±α, one α per output channel
    (±1, or a BN folded into them)."""
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and node.input[1] in arrays:
            w = arrays[node.input[1]]
            rows = np.abs(w.reshape(w.shape[0], -1) if node.op_type == "Conv" or not any(
                a.name == "transB" and a.i == 0 for a in node.attribute) else w.T)
            total += w.size if (rows == rows[:, :1]).all() and (rows[:, 0] > 0).all() else 0
    return total


def write_all(directory: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the named models (default: ``MODELS`` and ``VARIANTS``) into ``directory``."""
    builders = {**MODELS, **VARIANTS}
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names if names is not None else list(builders):
        paths[name] = directory / f"{name}.onnx"
        onnx.save(builders[name](), paths[name])
    return paths


if __name__ == "__main__":
    for name, path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/models"), sys.argv[2:] or None).items():
        print(f"{name}: {path} ({binary_weights(onnx.load(path)) / 1e6:.2f} M binary weights)")
