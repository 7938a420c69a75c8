"""A deterministic zoo of small binarized-network ONNX models.

Every model is built with ``onnx.helper`` from a fixed numpy seed, so building
it twice gives byte-identical protobufs. The models imitate what real
exporters write (TorchScript and dynamo ``torch.onnx``, Brevitas QONNX, FINN,
onnxruntime QDQ) while staying small (8-64 channels, images up to 12x12).

``ZOO`` holds models bnnc must compile; ``BAD`` holds models it must refuse
with a clear error, each tagged by ``ZooModel.error``. Conventions:

* Batch dimension: fixed 1 unless the description says otherwise.
* BatchNormalization: epsilon 1e-5, per-channel gamma with some negative
  entries, mean and variance scaled to the layer's fan-in; models marked
  "gamma=0" have one channel with gamma 0 (and beta != 0, so its Sign is a
  non-zero constant).
* Input kinds: ``"real"`` float data (``ZooModel.input_zero`` is the raw value
  the input binarizer sees as exactly 0, or None when the input goes through a
  multi-level quantizer or no binarizer), ``"uint8"`` integers 0..255 (float32
  or uint8, per the graph input type), ``"pm1"`` values +-1 as float32.

Run ``python -m tests.models.zoo DIR`` to write every model as ``DIR/<name>.onnx``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["ZooModel", "ZOO", "BAD", "sample_inputs", "write_all", "TIE_CHANNELS"]

FLOAT = TensorProto.FLOAT
QONNX = "qonnx.custom_op.general"
BREVITAS = "onnx.brevitas"
FINN = "finn.custom_op.general"


@dataclass(frozen=True)
class ZooModel:
    """One zoo entry: ``build()`` returns a fresh ModelProto."""

    name: str
    description: str
    build: Callable[[], onnx.ModelProto]
    input_kind: str
    error: str | None = None
    input_zero: float | None = None


class _Net:
    """A graph under construction: nodes, initializers, fresh names and a
    seeded RNG; layer helpers draw their weights from that RNG in call order."""

    def __init__(self, seed: int, opset: int, domains: tuple[str, ...] = ()) -> None:
        self.rng = np.random.default_rng(seed)
        self.opset = opset
        self.domains = domains
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counts: dict[str, int] = {}

    def fresh(self, stem: str) -> str:
        k = self._counts.get(stem, 0)
        self._counts[stem] = k + 1
        return f"{stem}_{k}"

    def init(self, stem: str, value: np.ndarray | float | list, dtype: type = np.float32) -> str:
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", **attrs: object) -> str:
        """Append a node; returns its first output (others are unused)."""
        names = [self.fresh(f"{op_type}_out") for _ in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), names, name=self.fresh(op_type), domain=domain, **attrs)
        )
        return names[0]

    # --- weights -------------------------------------------------------------

    def pm1(self, *shape: int) -> np.ndarray:
        return self.rng.choice(np.array([-1.0, 1.0], np.float32), size=shape)

    def latent(self, *shape: int) -> np.ndarray:
        """Float 'latent' weights as a binarizer sees them (no exact zeros)."""
        w = self.rng.normal(0.0, 0.1, size=shape).astype(np.float32)
        return np.where(w == 0, np.float32(0.01), w)

    def bn_params(self, channels: int, fan_in: float, gamma_zero: bool = False, scale: float = 1.0) -> list[np.ndarray]:
        """gamma, beta, mean, var for pre-activations of standard deviation
        about ``scale * sqrt(fan_in)`` (a sum of ``fan_in`` +-scale terms; pass
        the variance as ``fan_in`` for other inputs): a quarter of the gammas negative, means
        within one standard deviation; optionally channel 1 with gamma 0 (beta
        kept away from 0)."""
        r = self.rng
        gamma = r.uniform(0.5, 1.5, channels) * np.where(r.random(channels) < 0.25, -1.0, 1.0)
        beta = r.normal(0.0, 0.5, channels)
        mean = r.uniform(-1.0, 1.0, channels) * np.sqrt(fan_in) * scale
        var = r.uniform(0.5, 1.5, channels) * fan_in * scale**2
        if gamma_zero:
            gamma[1] = 0.0
            beta[1] = 0.75 if beta[1] >= 0 else -0.75
        return [np.asarray(a, np.float32) for a in (gamma, beta, mean, var)]

    # --- layers --------------------------------------------------------------

    def bn(self, x: str, params: list[np.ndarray]) -> str:
        names = [self.init(f"bn_{k}", p) for k, p in zip(("scale", "bias", "mean", "var"), params)]
        return self.op("BatchNormalization", x, *names, epsilon=1e-5)

    def conv(
        self,
        x: str,
        w: np.ndarray | str,
        pad: int = 0,
        stride: int = 1,
        bias: np.ndarray | None = None,
        **attrs: object,
    ) -> str:
        """Conv with weights ``w`` (array -> new initializer, str -> tensor)."""
        wname = w if isinstance(w, str) else self.init("conv_w", w)
        inputs = [x, wname] + ([self.init("conv_b", bias)] if bias is not None else [])
        return self.op("Conv", *inputs, pads=[pad] * 4, strides=[stride, stride], **attrs)

    def gemm(self, x: str, w_out_in: np.ndarray | str, bias: np.ndarray | None = None) -> str:
        """Gemm(x, W^T) + bias with W of shape [out, in] (torch Linear layout)."""
        wname = w_out_in if isinstance(w_out_in, str) else self.init("fc_w", w_out_in)
        inputs = [x, wname] + ([self.init("fc_b", bias)] if bias is not None else [])
        return self.op("Gemm", *inputs, transB=1)

    def matmul(self, x: str, w_in_out: np.ndarray | str) -> str:
        wname = w_in_out if isinstance(w_in_out, str) else self.init("mm_w", w_in_out)
        return self.op("MatMul", x, wname)

    def bipolar_quant(self, x: str, domain: str) -> str:
        return self.op("BipolarQuant", x, self.init("bq_scale", 1.0), domain=domain)

    def rename_output(self, tensor: str, name: str) -> str:
        """Give the node that produces ``tensor`` the graph-output name ``name``."""
        for node in self.nodes:
            for i, out in enumerate(node.output):
                if out == tensor:
                    node.output[i] = name
        return name

    def model(
        self,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        initializers_as_inputs: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> onnx.ModelProto:
        graph_inputs = list(inputs)
        if initializers_as_inputs:  # older exporters list every initializer as an input too
            graph_inputs += [
                helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in self.initializers
            ]
        graph = helper.make_graph(self.nodes, "zoo", graph_inputs, outputs, self.initializers)
        for tensor, dtype in (annotations or {}).items():
            entry = onnx.TensorAnnotation(tensor_name=tensor)
            entry.quant_parameter_tensor_names.add(key="finn_datatype", value=dtype)
            graph.quantization_annotation.append(entry)
        opsets = [helper.make_opsetid("", self.opset)] + [helper.make_opsetid(d, 1) for d in self.domains]
        ir_version = helper.find_min_ir_version_for(opsets[:1])  # what an exporter of that opset writes
        return helper.make_model(graph, opset_imports=opsets, producer_name="bnnc-zoo", ir_version=ir_version)


def _tensor(name: str, shape: list[int | str], dtype: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _logits(net: _Net, x: str, classes: int = 10, batch: int | str = 1) -> list[onnx.ValueInfoProto]:
    net.rename_output(x, "logits")
    return [_tensor("logits", [batch, classes])]


# --- MLPs ---------------------------------------------------------------------


def _mlp_sign_w_graph() -> onnx.ModelProto:
    net = _Net(1, 13)
    h = net.op("Sign", "input")
    for fan_in, width, gamma_zero in ((64, 32, True), (32, 32, False)):
        h = net.matmul(h, net.op("Sign", net.init("w_latent", net.latent(fan_in, width))))
        h = net.op("Sign", net.bn(h, net.bn_params(width, fan_in, gamma_zero)))
    h = net.matmul(h, net.op("Sign", net.init("w_latent", net.latent(32, 10))))
    return net.model([_tensor("input", [1, 64])], _logits(net, h))


def _mlp_gemm_prebinarized() -> onnx.ModelProto:
    net = _Net(2, 11)
    h = net.op("Sign", "input")
    for fan_in, width, gamma_zero in ((48, 32, False), (32, 32, True)):
        h = net.gemm(h, net.pm1(width, fan_in), net.rng.normal(0, 0.5, width))
        h = net.op("Sign", net.bn(h, net.bn_params(width, fan_in, gamma_zero)))
    h = net.gemm(h, net.pm1(10, 32), net.rng.normal(0, 0.5, 10))
    net.op("TopK", h, net.init("k", [1], np.int64), outputs=2, axis=-1)
    net.rename_output(net.nodes[-1].output[1], "class")  # the indices; the values stay internal
    return net.model([_tensor("input", [1, 48])], [_tensor("class", [1, 1], TensorProto.INT64)])


def _mlp_matmul_add() -> onnx.ModelProto:
    net = _Net(3, 17)
    h = net.op("Sign", "input")
    for fan_in, width in ((40, 32), (32, 24)):
        h = net.op("Add", net.matmul(h, net.pm1(fan_in, width)), net.init("b", net.rng.normal(0, 0.5, width)))
        h = net.op("Sign", net.bn(h, net.bn_params(width, fan_in)))
    h = net.op("Add", net.matmul(h, net.pm1(24, 10)), net.init("b", net.rng.normal(0, 0.5, 10)))
    return net.model([_tensor("input", ["batch", 40])], _logits(net, h, batch="batch"))


def _qdq_input_mlp() -> onnx.ModelProto:
    net = _Net(13, 13)
    scale, zero = net.init("x_scale", 1 / 255), net.init("x_zero_point", 0, np.uint8)
    h = net.op("DequantizeLinear", net.op("QuantizeLinear", "input", scale, zero), scale, zero)
    # (fan-in, width, variance of the pre-activation: inputs in [0, 1] first)
    for fan_in, width, variance in ((64, 32, 64 / 3), (32, 32, 32)):
        h = net.op("Sign", net.bn(net.matmul(h, net.pm1(fan_in, width)), net.bn_params(width, variance)))
    return net.model([_tensor("input", [1, 64])], _logits(net, net.matmul(h, net.pm1(32, 10))))


def _finn_multithreshold_input() -> onnx.ModelProto:
    net = _Net(15, 11, (FINN,))
    levels = net.init("MultiThreshold_param", ((np.arange(1, 256) - 0.5) / 255)[None, :])
    h = net.op("MultiThreshold", "input", levels, domain=FINN, out_dtype="UINT8")
    annotations = {h: "UINT8"}
    for fan_in, width, bound in ((64, 32, 400), (32, 32, 6)):
        w = net.init("MatMul_param", net.pm1(fan_in, width))
        thresholds = net.init("MultiThreshold_param", net.rng.integers(-bound, bound + 1, (width, 1)))
        h = net.op(
            "MultiThreshold", net.matmul(h, w), thresholds,
            domain=FINN, out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0,
        )
        annotations.update({w: "BIPOLAR", h: "BIPOLAR"})
    w = net.init("MatMul_param", net.pm1(32, 10))
    annotations[w] = "BIPOLAR"
    h = net.op("Mul", net.matmul(h, w), net.init("Mul_param", [0.125]))
    return net.model([_tensor("input", [1, 64])], _logits(net, h), annotations=annotations)


def _float_last_layer() -> onnx.ModelProto:
    net = _Net(17, 13)
    h = net.op("Sign", "input")
    for fan_in, width, gamma_zero in ((32, 32, False), (32, 24, True)):
        h = net.op("Sign", net.bn(net.matmul(h, net.pm1(fan_in, width)), net.bn_params(width, fan_in, gamma_zero)))
    w = net.rng.normal(0, 0.3, (10, 24)).astype(np.float32)
    h = net.op("Softmax", net.gemm(h, w, net.rng.normal(0, 0.5, 10)), axis=-1)
    net.rename_output(h, "probabilities")
    return net.model([_tensor("input", [1, 32])], [_tensor("probabilities", [1, 10])])


# --- CNNs -----------------------------------------------------------------------


def _flatten_gemm(net: _Net, h: str, features: int) -> list[onnx.ValueInfoProto]:
    h = net.op("Flatten", h, axis=1)
    return _logits(net, net.gemm(h, net.pm1(10, features), net.rng.normal(0, 0.5, 10)))


def _cnn_pad0_stride1() -> onnx.ModelProto:
    net = _Net(4, 13)
    h = net.op("Sign", "input")
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 1, 3, 3)), net.bn_params(16, 9)))
    h = net.op("MaxPool", net.conv(h, net.pm1(16, 16, 3, 3)), kernel_shape=[2, 2], strides=[2, 2])
    h = net.op("Sign", net.bn(h, net.bn_params(16, 144, gamma_zero=True)))
    return net.model([_tensor("input", [1, 1, 12, 12])], _flatten_gemm(net, h, 16 * 4 * 4))


def _cnn_pad1_stride1() -> onnx.ModelProto:
    net = _Net(5, 13)
    h = net.op("Sign", net.bn(net.conv("input", net.pm1(16, 3, 3, 3), pad=1), net.bn_params(16, 27)))
    h = net.op("MaxPool", h, kernel_shape=[2, 2], strides=[2, 2])
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(32, 16, 3, 3), pad=1), net.bn_params(32, 144, gamma_zero=True)))
    return net.model([_tensor("input", [1, 3, 8, 8])], _flatten_gemm(net, h, 32 * 4 * 4), annotations={"input": "BIPOLAR"})


def _cnn_pad1_stride2() -> onnx.ModelProto:
    net = _Net(6, 13)
    h = net.op("Sign", net.bn(net.conv("input", net.pm1(16, 2, 3, 3), pad=1, stride=2), net.bn_params(16, 18)))
    h = net.conv(h, net.pm1(16, 16, 3, 3), pad=1, stride=2)
    h = net.op("Sign", net.bn(h, net.bn_params(16, 144, gamma_zero=True)))
    return net.model([_tensor("input", [1, 2, 12, 12])], _flatten_gemm(net, h, 16 * 3 * 3), annotations={"input": "BIPOLAR"})


def _cnn_kernel_1_and_5() -> onnx.ModelProto:
    net = _Net(7, 13)
    h = net.op("Sign", net.bn(net.conv("input", net.pm1(16, 4, 1, 1)), net.bn_params(16, 4)))
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 16, 5, 5), pad=2), net.bn_params(16, 400)))
    return net.model([_tensor("input", [1, 4, 10, 10])], _flatten_gemm(net, h, 16 * 10 * 10), annotations={"input": "BIPOLAR"})


# Layer-1 channels of cnn_sign_tie_reachable whose BatchNorm output is exactly
# 0.0 at a reachable integer pre-activation y (beta = 0, mean = y): the conv is
# 3x3, pad 1, over 3 input channels of +-1, so interior windows sum 27 terms
# (odd y only), edge windows 18 and corner windows 12 (even y only). Layer 2
# then sees ternary inputs (any integer in [-72, 72] is reachable); its random
# BatchNorm has no integer tie.
TIE_CHANNELS = {
    0: "mean 5: odd, reachable in interior windows only",
    1: "mean 4: even, reachable in border (edge/corner) windows only",
    2: "mean 27: reachable only where all 27 products are +1",
}


def _cnn_sign_tie(seed: int, ties: bool) -> onnx.ModelProto:
    net = _Net(seed, 13)
    params = net.bn_params(8, 27)
    if ties:
        for channel, mean in zip(TIE_CHANNELS, (5.0, 4.0, 27.0)):
            params[1][channel] = 0.0  # beta
            params[2][channel] = mean
    h = net.op("Sign", net.bn(net.conv("input", net.pm1(8, 3, 3, 3), pad=1), params))
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(8, 8, 3, 3), pad=1), net.bn_params(8, 72)))
    return net.model([_tensor("input", [1, 3, 8, 8])], _flatten_gemm(net, h, 8 * 8 * 8), annotations={"input": "BIPOLAR"})


def _cnn_folded_bn() -> onnx.ModelProto:
    net = _Net(10, 18)
    h = "input"
    for cin, cout in ((3, 16), (16, 16)):
        alpha = (net.rng.uniform(0.05, 0.5, cout) * np.where(net.rng.random(cout) < 0.25, -1, 1)).astype(np.float32)
        w = net.pm1(cout, cin, 3, 3) * alpha[:, None, None, None]
        bias = alpha * net.rng.uniform(-1.0, 1.0, cout) * np.sqrt(cin * 9)  # -bias/alpha: folded BN threshold
        h = net.op("Sign", net.conv(h, w, pad=1, bias=bias))
    return net.model([_tensor("input", [1, 3, 8, 8])], _flatten_gemm(net, h, 16 * 8 * 8), annotations={"input": "BIPOLAR"})


def _cnn_xnor_alpha() -> onnx.ModelProto:
    net = _Net(11, 20)
    h = net.op("Sign", "input")
    for cin, cout in ((3, 16), (16, 16)):
        latent = net.latent(cout, cin, 3, 3)
        alpha = np.abs(latent).mean(axis=(1, 2, 3), keepdims=True)
        w = net.op("Mul", net.op("Sign", net.init("w_latent", latent)), net.init("alpha", alpha))
        params = net.bn_params(cout, cin * 9, gamma_zero=cin == 16, scale=float(alpha.mean()))
        h = net.op("Sign", net.bn(net.conv(h, w, pad=1), params))
    return net.model([_tensor("input", [1, 3, 8, 8])], _flatten_gemm(net, h, 16 * 8 * 8))


def _uint8_input_cnn() -> onnx.ModelProto:
    net = _Net(12, 13)
    h = net.op("Div", net.op("Cast", "input", to=FLOAT), net.init("div", 255.0))
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 1, 3, 3)), net.bn_params(16, 3)))
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 16, 3, 3)), net.bn_params(16, 144)))
    return net.model([_tensor("input", [1, 1, 10, 10], TensorProto.UINT8)], _flatten_gemm(net, h, 16 * 6 * 6))


def _real_input_zeros() -> onnx.ModelProto:
    net = _Net(18, 13)
    h = net.op("Sub", net.op("Mul", "input", net.init("two", 2.0)), net.init("one", 1.0))
    h = net.op("Sign", h)
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 1, 3, 3), pad=1), net.bn_params(16, 9)))
    h = net.matmul(net.op("Flatten", h, axis=1), net.pm1(16 * 8 * 8, 10))
    return net.model([_tensor("input", [1, 1, 8, 8])], _logits(net, h))


def _residual_block() -> onnx.ModelProto:
    """Bi-Real style: the real-valued BatchNorm output of one block is added to the next
    block's BatchNorm output (an identity shortcut) before the Sign."""
    net = _Net(19, 13)
    h = net.op("Sign", "input")
    shortcut = net.bn(net.conv(h, net.pm1(8, 3, 3, 3), pad=1), net.bn_params(8, 27))
    h = net.bn(net.conv(net.op("Sign", shortcut), net.pm1(8, 8, 3, 3), pad=1), net.bn_params(8, 72))
    h = net.op("Sign", net.op("Add", h, shortcut))
    h = net.matmul(net.op("Flatten", h, axis=1), net.pm1(8 * 6 * 6, 10))
    return net.model([_tensor("input", [1, 3, 6, 6])], _logits(net, h))


def _qonnx_quant8_input() -> onnx.ModelProto:
    net = _Net(14, 13, (QONNX,))
    h = net.op(
        "Quant", "input", net.init("scale", 1 / 255), net.init("zeropt", 0.0), net.init("bitwidth", 8.0),
        domain=QONNX, signed=0, narrow=0, rounding_mode="ROUND",
    )
    # (in, out channels, variance of the pre-activation: inputs in [0, 1] first)
    for cin, cout, variance in ((1, 16, 3), (16, 16, 144)):
        w = net.bipolar_quant(net.init("w_latent", net.latent(cout, cin, 3, 3)), QONNX)
        h = net.bipolar_quant(net.bn(net.conv(h, w, pad=1), net.bn_params(cout, variance, cin == 16)), QONNX)
    h = net.op("Flatten", h, axis=1)
    w = net.bipolar_quant(net.init("w_latent", net.latent(10, 16 * 8 * 8)), QONNX)
    return net.model([_tensor("input", [1, 1, 8, 8])], _logits(net, net.gemm(h, w)))


def _qonnx_bipolar_cnn() -> onnx.ModelProto:
    """Brevitas (onnx.brevitas, opset 9) export style, like the qonnx zoo TFC."""
    net = _Net(16, 9, (BREVITAS,))
    h = net.op("Sub", net.op("Mul", "input", net.init("c", 2.0)), net.init("c", [1.0]))
    h = net.bipolar_quant(h, BREVITAS)
    for cin, cout, pool in ((1, 16, False), (16, 16, True)):
        h = net.conv(h, net.bipolar_quant(net.init("w_latent", net.latent(cout, cin, 3, 3)), BREVITAS))
        if pool:
            h = net.op("MaxPool", h, kernel_shape=[2, 2], strides=[2, 2])
        h = net.bipolar_quant(net.bn(h, net.bn_params(cout, 9 * cin, pool)), BREVITAS)
    batch = net.op("Unsqueeze", net.op("Gather", net.op("Shape", h), net.init("c", 0, np.int64), axis=0), axes=[0])
    h = net.op("Reshape", h, net.op("Concat", batch, net.init("c", [-1], np.int64), axis=0))
    w = net.bipolar_quant(net.init("w_latent", net.latent(10, 16 * 3 * 3)), BREVITAS)
    h = net.matmul(h, net.op("Transpose", w, perm=[1, 0]))
    # TensorNorm: (x - mean) / (var + eps) ** 0.5 * weight + bias
    std = net.op("Pow", net.init("tn_var_eps", [9.5]), net.init("c", 0.5))
    h = net.op("Div", net.op("Sub", h, net.init("tn_mean", [0.75])), std)
    h = net.op("Add", net.op("Mul", h, net.init("tn_weight", [0.6])), net.init("tn_bias", [0.1]))
    return net.model([_tensor("input", [1, 1, 10, 10])], _logits(net, h), initializers_as_inputs=True)


def _larq_pad(net: _Net, x: str, pads: list[int], value: float, axes: list[int] | None = None) -> str:
    """ONNX ``Pad`` (opset >= 11: pads and constant_value as inputs; ``axes`` from opset 18)."""
    inputs = [x, net.init("pads", pads, np.int64), net.init("pad_value", value)]
    return net.op("Pad", *inputs, *([net.init("axes", axes, np.int64)] if axes else []), mode="constant")


def _cnn_pad_value() -> onnx.ModelProto:
    """Larq QuickNet style: every binary conv is unpadded and reads its input padded with +1
    (larq's pad_values=1.0) or -1; the first pad is of the ternary Sign of the real input."""
    net = _Net(28, 18)
    h = _larq_pad(net, net.op("Sign", "input"), [1, 1, 1, 1], 1.0, axes=[2, 3])
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 3, 3, 3)), net.bn_params(16, 27)))
    h = net.bn(net.conv(_larq_pad(net, h, [0, 0, 1, 1, 0, 0, 1, 1], -1.0), net.pm1(16, 16, 3, 3)), net.bn_params(16, 144))
    h = net.op("Sign", net.op("Add", net.op("Sign", h), net.init("ste_shift", 0.1)))  # larq ste_sign: 0 -> +1
    h = net.conv(_larq_pad(net, h, [0, 0, 1, 0, 0, 0, 0, 1], 1.0), net.pm1(16, 16, 3, 3), stride=2)
    h = net.op("Sign", net.bn(h, net.bn_params(16, 144, gamma_zero=True)))
    return net.model([_tensor("input", [1, 3, 8, 8])], _flatten_gemm(net, h, 16 * 4 * 4))


def _cnn_pad_value_attributes() -> onnx.ModelProto:
    """Opset 10 (Pad's pads and value as attributes), +-1 input padded with -1 unevenly; a
    zero Pad before a conv with its own zero padding (the pads add up)."""
    net = _Net(29, 10)
    h = net.op("Pad", "input", mode="constant", pads=[0, 0, 2, 1, 0, 0, 0, 1], value=-1.0)
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 2, 3, 3)), net.bn_params(16, 18)))
    h = net.op("Pad", h, mode="constant", pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.0)
    h = net.op("Sign", net.bn(net.conv(h, net.pm1(16, 16, 3, 3), pad=1, stride=2), net.bn_params(16, 144)))
    return net.model([_tensor("input", [1, 2, 8, 8])], _flatten_gemm(net, h, 16 * 5 * 5), annotations={"input": "BIPOLAR"})


# --- models with host work between binary layers ---------------------------------


def _not_binary_weights_middle() -> onnx.ModelProto:
    net = _Net(21, 13)
    h = net.op("Sign", net.bn(net.matmul(net.op("Sign", "input"), net.pm1(32, 32)), net.bn_params(32, 32)))
    five = net.rng.choice(np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32), size=(32, 32))
    h = net.op("Sign", net.bn(net.matmul(h, five), net.bn_params(32, 32)))
    return net.model([_tensor("input", [1, 32])], _logits(net, net.matmul(h, net.pm1(32, 10))))


def _quant_2bit_activation() -> onnx.ModelProto:
    net = _Net(22, 13, (QONNX,))

    def layer(x: str, fan_in: int, width: int) -> str:
        w = net.bipolar_quant(net.init("w_latent", net.latent(fan_in, width)), QONNX)
        return net.matmul(x, w)

    h = net.bn(layer(net.bipolar_quant("input", QONNX), 32, 32), net.bn_params(32, 32))
    h = net.op(
        "Quant", h, net.init("scale", 0.5), net.init("zeropt", 0.0), net.init("bitwidth", 2.0),
        domain=QONNX, signed=1, narrow=0, rounding_mode="ROUND",
    )
    h = net.bipolar_quant(net.bn(layer(h, 32, 32), net.bn_params(32, 32)), QONNX)
    return net.model([_tensor("input", [1, 32])], _logits(net, layer(h, 32, 10)))


def _unsupported_op_middle() -> onnx.ModelProto:
    net = _Net(23, 13)
    h = net.op("Sign", net.bn(net.matmul(net.op("Sign", "input"), net.pm1(32, 32)), net.bn_params(32, 32)))
    h = net.op("Sigmoid", net.bn(net.matmul(h, net.pm1(32, 32)), net.bn_params(32, 32)))
    h = net.op("Sign", net.bn(net.matmul(h, net.pm1(32, 32)), net.bn_params(32, 32)))
    return net.model([_tensor("input", [1, 32])], _logits(net, net.matmul(h, net.pm1(32, 10))))


def _grouped_conv() -> onnx.ModelProto:
    """A binary conv with group=2 and a depthwise binary conv (group = channels) after it."""
    net = _Net(24, 13)
    h = net.conv(net.op("Sign", "input"), net.pm1(16, 2, 3, 3), pad=1, group=2)
    h = net.op("Sign", net.bn(h, net.bn_params(16, 18)))
    h = net.conv(h, net.pm1(16, 1, 3, 3), pad=1, group=16)
    h = net.op("Sign", net.bn(h, net.bn_params(16, 9)))
    return net.model([_tensor("input", [1, 4, 8, 8])], _flatten_gemm(net, h, 16 * 8 * 8))


# --- models bnnc must refuse ------------------------------------------------------


def _dynamic_shape() -> onnx.ModelProto:
    net = _Net(25, 13)
    h = net.op("Sign", net.bn(net.conv("input", net.pm1(8, 1, 3, 3), pad=1), net.bn_params(8, 9)))
    batch = net.op("Gather", net.op("Shape", h), net.init("c", 0, np.int64), axis=0)
    batch = net.op("Unsqueeze", batch, net.init("axes", [0], np.int64))
    h = net.op("Reshape", h, net.op("Concat", batch, net.init("c", [-1], np.int64), axis=0))
    h = net.gemm(h, net.pm1(10, 8 * 8 * 8), net.rng.normal(0, 0.5, 10))
    return net.model([_tensor("input", ["N", 1, "H", "W"])], _logits(net, h, batch="N"))


def _unknown_custom_domain() -> onnx.ModelProto:
    net = _Net(26, 13, ("com.example",))
    h = net.bn(net.matmul("input", net.pm1(32, 32)), net.bn_params(32, 32))
    h = net.op("FancySign", h, domain="com.example")
    return net.model([_tensor("input", [1, 32])], _logits(net, net.matmul(h, net.pm1(32, 10))))


def _no_binary_layer() -> onnx.ModelProto:
    net = _Net(27, 13)
    h = "input"
    for fan_in, width in ((32, 32), (32, 10)):
        w = net.rng.normal(0, 0.3, (fan_in, width))
        h = net.op("Add", net.matmul(h, w.astype(np.float32)), net.init("b", net.rng.normal(0, 0.1, width)))
        if width != 10:
            h = net.op("Relu", h)
    return net.model([_tensor("input", [1, 32])], _logits(net, h))


def _entries(*models: ZooModel) -> dict[str, ZooModel]:
    return {m.name: m for m in models}


ZOO: dict[str, ZooModel] = _entries(
    ZooModel(
        "mlp_sign_w_graph",
        "TorchScript style (opset 13): Sign on real input, MatMul with Sign(latent W) in the graph, "
        "2-D BN (gamma=0 in layer 1), Sign; 64-32-32-10 logits",
        _mlp_sign_w_graph, "real", input_zero=0.0,
    ),
    ZooModel(
        "mlp_gemm_prebinarized",
        "opset 11, +-1 input: Gemm(transB=1) with +-1 initializers and float bias, BN (gamma=0 in layer 2), "
        "Sign; 48-32-32-10, then TopK(k=1) indices as the only output 'class'",
        _mlp_gemm_prebinarized, "pm1",
    ),
    ZooModel(
        "mlp_matmul_add",
        "opset 17, symbolic batch 'batch' (no shape-dependent ops): Sign on real input, MatMul(+-1) + Add "
        "bias, BN, Sign; 40-32-24-10 logits",
        _mlp_matmul_add, "real", input_zero=0.0,
    ),
    ZooModel(
        "cnn_pad0_stride1",
        "opset 13, 1x12x12 real input through Sign: Conv3x3 p0 -> BN -> Sign; Conv3x3 p0 -> MaxPool2 -> BN "
        "(gamma=0) -> Sign (MaxPool before BN); Flatten, Gemm logits",
        _cnn_pad0_stride1, "real", input_zero=0.0,
    ),
    ZooModel(
        "cnn_pad1_stride1",
        "opset 13, 3x8x8 +-1 input: Conv3x3 p1 -> BN -> Sign -> MaxPool2 (after Sign); Conv3x3 p1 -> BN "
        "(gamma=0) -> Sign; Flatten, Gemm logits",
        _cnn_pad1_stride1, "pm1",
    ),
    ZooModel(
        "cnn_pad1_stride2",
        "opset 13, 2x12x12 +-1 input: two Conv3x3 p1 s2 -> BN -> Sign blocks (12 -> 6 -> 3, gamma=0 in the "
        "second); Flatten, Gemm logits",
        _cnn_pad1_stride2, "pm1",
    ),
    ZooModel(
        "cnn_kernel_1_and_5",
        "opset 13, 4x10x10 +-1 input: Conv1x1 -> BN -> Sign; Conv5x5 p2 -> BN -> Sign; Flatten, Gemm logits",
        _cnn_kernel_1_and_5, "pm1",
    ),
    ZooModel(
        "cnn_sign_tie_reachable",
        "opset 13, 3x8x8 +-1 input: Conv3x3 p1 -> BN -> Sign where BN is exactly 0.0 at a reachable integer "
        "in channels 0 (mean 5, interior windows), 1 (mean 4, border windows only) and 2 (mean 27, full "
        "fan-in), see TIE_CHANNELS; a second Conv block; Flatten, Gemm logits",
        lambda: _cnn_sign_tie(8, ties=True), "pm1",
    ),
    ZooModel(
        "cnn_sign_tie_unreachable",
        "the network of cnn_sign_tie_reachable with random BN parameters: no integer maps exactly to 0.0",
        lambda: _cnn_sign_tie(9, ties=False), "pm1",
    ),
    ZooModel(
        "cnn_folded_bn",
        "torch dynamo style (opset 18), 3x8x8 +-1 input: BN folded into Conv, weights +-alpha_c per output "
        "channel (some alpha_c < 0) plus a Conv bias, then Sign; 2 blocks; Flatten, Gemm logits",
        _cnn_folded_bn, "pm1",
    ),
    ZooModel(
        "cnn_xnor_alpha",
        "XNOR-Net style (opset 20): Sign on real input, Conv(x, Mul(Sign(W_latent), alpha[C,1,1,1])) with "
        "alpha = mean|W| > 0, BN (gamma=0 in block 2), Sign; Flatten, Gemm logits",
        _cnn_xnor_alpha, "real", input_zero=0.0,
    ),
    ZooModel(
        "uint8_input_cnn",
        "opset 13, UINT8 graph input 1x10x10 -> Cast -> Div 255 -> Conv3x3(+-1) -> BN -> Sign (integer first "
        "layer); Conv -> BN -> Sign; Flatten, Gemm logits",
        _uint8_input_cnn, "uint8",
    ),
    ZooModel(
        "qdq_input_mlp",
        "opset 13, float input in [0, 1] -> QuantizeLinear(1/255, uint8) -> DequantizeLinear -> MatMul(+-1) "
        "-> BN -> Sign; 64-32-32-10 logits",
        _qdq_input_mlp, "real",
    ),
    ZooModel(
        "qonnx_quant8_input",
        "QONNX (qonnx.custom_op.general, opset 13): 8-bit unsigned Quant (scale 1/255) on the 1x8x8 input, "
        "Conv with BipolarQuant(latent W), BN, BipolarQuant activations (gamma=0 in block 2); Flatten, Gemm "
        "with BipolarQuant weights",
        _qonnx_quant8_input, "real",
    ),
    ZooModel(
        "finn_multithreshold_input",
        "FINN (finn.custom_op.general, opset 11, finn_datatype annotations): MultiThreshold with 255 "
        "thresholds as UINT8 input quantizer, MatMul(+-1), per-channel integer bipolar MultiThresholds "
        "(out_scale 2, out_bias -1); 64-32-32-10, Mul by a scale",
        _finn_multithreshold_input, "real",
    ),
    ZooModel(
        "qonnx_bipolar_cnn",
        "Brevitas style (onnx.brevitas, opset 9, initializers also listed as inputs): 2x-1 and BipolarQuant "
        "on the input (0 -> +1), Conv with BipolarQuant(latent W), MaxPool, BN, BipolarQuant; "
        "Shape/Gather/Unsqueeze/Concat Reshape; MatMul with Transpose(BipolarQuant(W)); TensorNorm "
        "Sub/Pow/Div/Mul/Add",
        _qonnx_bipolar_cnn, "real", input_zero=0.5,
    ),
    ZooModel(
        "float_last_layer",
        "opset 13, +-1 input: two MatMul(+-1) -> BN -> Sign layers (gamma=0 in layer 2), then Gemm with "
        "float weights and Softmax (output 'probabilities')",
        _float_last_layer, "pm1",
    ),
    ZooModel(
        "real_input_zeros",
        "opset 13, input in [0, 1] -> 2x-1 -> ONNX Sign (pixel 0.5 -> 0: ternary input) -> Conv3x3 p1 -> BN "
        "-> Sign; Flatten, MatMul(+-1) logits",
        _real_input_zeros, "real", input_zero=0.5,
    ),
    ZooModel(
        "residual_block",
        "opset 13, Sign input -> Conv3x3 -> BN (shortcut) -> Sign -> Conv3x3 -> BN -> Add(shortcut) -> Sign; "
        "Flatten, MatMul(+-1) logits: a real-valued identity shortcut between binary layers",
        _residual_block, "real",
    ),
    ZooModel(
        "cnn_pad_value",
        "Larq QuickNet style (opset 18), 3x8x8 real input: Sign (ternary) -> Pad(+1, axes=[2, 3]) -> "
        "Conv3x3 p0 -> BN -> Sign -> Pad(-1) -> Conv3x3 p0 -> BN -> Sign(Sign(x) + 0.1) -> Pad(+1, top "
        "and right only) -> Conv3x3 p0 s2 -> BN (gamma=0) -> Sign; Flatten, Gemm logits",
        _cnn_pad_value, "real", input_zero=0.0,
    ),
    ZooModel(
        "cnn_pad_value_attributes",
        "opset 10, 2x8x8 +-1 input: Pad(-1, pads and value as attributes, uneven) -> Conv3x3 p0 -> BN -> "
        "Sign -> Pad(0) -> Conv3x3 p1 s2 -> BN -> Sign; Flatten, Gemm logits",
        _cnn_pad_value_attributes, "pm1",
    ),
    ZooModel(
        "not_binary_weights_middle", "MLP whose middle MatMul has 5 distinct weight values: a float layer on the host between binary layers",
        _not_binary_weights_middle, "pm1",
    ),
    ZooModel(
        "quant_2bit_activation", "QONNX MLP with a signed 2-bit Quant activation between binary layers",
        _quant_2bit_activation, "pm1",
    ),
    ZooModel(
        "unsupported_op_middle", "MLP with a Sigmoid between two binary layers: a host partition",
        _unsupported_op_middle, "pm1",
    ),
    ZooModel("grouped_conv", "binary Conv with group=2, then a depthwise binary Conv: block-diagonal weights",
             _grouped_conv, "real"),
)

BAD: dict[str, ZooModel] = _entries(
    ZooModel(
        "dynamic_shape",
        "symbolic batch 'N' and image size 'H'x'W', and a Reshape whose shape is computed from them "
        "(Shape/Gather/Unsqueeze/Concat)",
        _dynamic_shape, "pm1", error="dynamic-shape",
    ),
    ZooModel(
        "unknown_custom_domain", "a node FancySign in domain com.example",
        _unknown_custom_domain, "pm1", error="unknown-domain",
    ),
    ZooModel(
        "no_binary_layer", "a float-only MLP (MatMul, Add, Relu)",
        _no_binary_layer, "real", error="no-binary-layer",
    ),
)


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are not initializers (the ones a caller must feed)."""
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def sample_inputs(model: ZooModel, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` samples per graph input, stacked on axis 0, of the model's input kind.

    "real" values lie within 0.5 of ``input_zero`` (or in [0, 1] when it is
    None); when ``input_zero`` is set, about one value in eight and at least
    one per sample equals it exactly, so the input binarizer meets exact zeros.
    """
    rng = np.random.default_rng(seed)
    inputs = {}
    for arg in _graph_inputs(model.build()):
        tensor = arg.type.tensor_type
        # symbolic sizes (only the dynamic-shape model has them) stand for 8
        shape = (n, *(d.dim_value or 8 for d in tensor.shape.dim[1:]))
        dtype = np.uint8 if tensor.elem_type == TensorProto.UINT8 else np.float32
        if model.input_kind == "pm1":
            value = rng.choice(np.array([-1.0, 1.0]), size=shape)
        elif model.input_kind == "uint8":
            value = rng.integers(0, 256, size=shape)
        elif model.input_kind == "real":
            center = 0.5 if model.input_zero is None else model.input_zero
            value = center + rng.uniform(-0.5, 0.5, size=shape).astype(np.float32)
            if model.input_zero is not None:
                hit = rng.random(shape) < 0.125
                hit.reshape(n, -1)[np.arange(n), rng.integers(0, hit[0].size, n)] = True
                value[hit] = model.input_zero
        else:
            raise ValueError(f"{model.name}: unknown input kind {model.input_kind!r}")
        inputs[arg.name] = value.astype(dtype)
    return inputs


def write_all(directory: str | Path) -> None:
    """Write every ZOO and BAD model as ``<directory>/<name>.onnx``."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in [*ZOO.values(), *BAD.values()]:
        onnx.save(entry.build(), path / f"{entry.name}.onnx")


if __name__ == "__main__":
    write_all(sys.argv[1] if len(sys.argv) > 1 else "zoo_models")
