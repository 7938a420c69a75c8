"""Recognition of a canonicalized ONNX graph into the ``bnn`` dialect.

Nodes are converted one by one in topological order, each op keeping its ONNX node name as
location. What cannot run on crossbars (``TopK``, ``Softmax``, float layers, …) is gathered
into ``host.onnx`` partitions: maximal runs of such nodes, extracted as ONNX subgraphs. A host
partition may precede the first binary layer (a float stem) or follow the last one (a float
classifier, a TopK); one between binary layers is an error, as is a model without any
binary layer.

Integer inputs are tracked through scalar affine steps (``Cast``, ``Div 255``, ``Mul``,
``Sub``, ``DequantizeLinear``, QONNX ``Quant``): a binary layer on ``a * q + b`` computes the
exact integer sum over the codes ``q`` and applies the steps to the sum (additive steps times
the sum of the weights over the valid taps), so the first layer runs bit-serially on codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bnnc.ir import Domain, Function, Location, Module, Operation, Return, TensorType, Value
from bnnc.ir.dialects import bnn, host
from bnnc.ir.shapes import conv_output_size

from .errors import UnsupportedModelError
from .loader import OnnxGraph
from .standardize import CUSTOM_DOMAINS, standardize
from .weights import BinaryWeights, distinct_values, split_binary

ONNX_DOMAIN = {
    TensorProto.FLOAT: Domain.F32,
    TensorProto.INT64: Domain.I64,
    TensorProto.INT32: Domain.I32,
    TensorProto.UINT8: Domain.U8,
    TensorProto.INT8: Domain.I8,
}
FINN_DOMAIN = {"UINT8": Domain.U8, "INT8": Domain.I8, "BIPOLAR": Domain.PM1, "BINARY": Domain.U8}
ELEMENTWISE = {"Add": bnn.Add, "Sub": bnn.Sub, "Mul": bnn.Mul, "Div": bnn.Div}
ROUNDING = {"ROUND": "half_even", "FLOOR": "floor", "CEIL": "ceil", "ROUND_TO_ZERO": "trunc"}
LAYER_OPS = (bnn.Conv, bnn.Dense)
BINARY_RELEVANT = frozenset({
    "Conv", "Gemm", "MatMul", "Sign", "BipolarQuant", "Quant", "IntQuant", "MultiThreshold", "QuantizeLinear",
    "DequantizeLinear", "Where", "GreaterOrEqual", "Greater", "LessOrEqual", "Less", "Not",
})
"""Ops that may start the crossbar region: layers, binarizers and input quantizers. Other ops
that read a pending host partition's results join that partition."""
SIGN_TRANSPARENT = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Clip"}
"""Ops through which a sign-preserving ``Clip`` may reach a ``Sign`` (see ``Importer._clip``)."""


class NotMappable(Exception):
    """A node that does not map onto crossbars; it goes to a host partition, or — between
    binary layers — is reported with ``reason`` and ``fix``."""

    def __init__(self, reason: str, fix: str = "keep such ops before the first or after the last binary layer"):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class Affine:
    """A tensor equal to ``steps`` applied in order to integer or ±1 ``codes``; each step is
    ``(kind, constant, const_first, node)`` with a scalar float32 constant, ``kind`` one of
    add/sub/mul/div, and the ONNX node it stems from."""

    codes: Value
    steps: tuple[tuple[str, float, bool, str], ...]

    def then(self, kind: str, constant: float, const_first: bool, node: str) -> Affine:
        return Affine(self.codes, self.steps + ((kind, constant, const_first, node),))


@dataclass(frozen=True)
class Predicate:
    """A boolean tensor ``x >= t`` (``strict``: ``x > t``), possibly negated, awaiting a ``Where``."""

    x: str
    threshold: np.ndarray
    strict: bool
    negated: bool
    nodes: tuple[str, ...]


Tensor = Value | Affine | Predicate


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _scalar(array: np.ndarray) -> float | None:
    flat = np.asarray(array).reshape(-1)
    return float(flat[0]) if flat.size and (flat == flat[0]).all() else None


class Importer:
    """Builds a :class:`Module` with one function ``@main`` from an :class:`OnnxGraph`."""

    def __init__(self, graph: OnnxGraph):
        self.g = graph
        self.module = Module(
            Path(graph.path).stem,
            {"source": graph.path, "producer": f"{graph.model.producer_name} {graph.model.producer_version}".strip(), "opset": graph.opset},
        )
        self.tensors: dict[str, Tensor] = {}
        self.pending: list[tuple[onnx.NodeProto, NotMappable]] = []
        self.host_reasons: dict[int, tuple[onnx.NodeProto, NotMappable]] = {}
        self.consumers = self._consumers()
        arg_types = [TensorType(self._input_domain(name), self.g.shapes[name]) for name in graph.inputs]
        self.function = Function("main", arg_types, {"inputs": tuple(graph.inputs), "outputs": tuple(graph.outputs)})
        self.module.add_function(self.function)
        for name, arg in zip(graph.inputs, self.function.args):
            self.tensors[name] = arg
        self.converters: dict[str, Callable[[onnx.NodeProto], None]] = {
            "Conv": self._conv, "Gemm": self._gemm, "MatMul": self._matmul,
            "BatchNormalization": self._batchnorm, "Sign": self._sign, "BipolarQuant": self._bipolar_quant,
            "Quant": self._quant, "IntQuant": self._quant, "MultiThreshold": self._multithreshold,
            "QuantizeLinear": self._quantize_linear, "DequantizeLinear": self._dequantize_linear,
            "Cast": self._cast, "MaxPool": self._maxpool, "Transpose": self._transpose,
            "Reshape": self._reshape, "Flatten": self._reshape, "Squeeze": self._reshape, "Unsqueeze": self._reshape,
            "GreaterOrEqual": self._compare, "Greater": self._compare, "LessOrEqual": self._compare,
            "Less": self._compare, "Not": self._not, "Where": self._where, "Clip": self._clip,
            **{op: self._elementwise for op in ELEMENTWISE},
        }

    # ------------------------------------------------------------------ driver

    def run(self) -> Module:
        for node in self.g.nodes:
            inputs = {self.g.resolve(n) for n in node.input if n}
            pending_outputs = {o for n, _ in self.pending for o in n.output}
            if self.pending and inputs & pending_outputs:
                if node.op_type not in BINARY_RELEVANT or not self._may_be_binary_layer(node):
                    # float work on host results stays on the host: one partition, not many
                    self.pending.append((node, NotMappable(f"op {node.op_type} works on host results")))
                    continue
                self._flush()
            mark, tensors = len(self.function.ops), dict(self.tensors)
            try:
                self._convert(node)
            except NotMappable as reason:
                self._rollback(mark, tensors)
                self.pending.append((node, reason))
        self._flush()
        self._return()
        self._check_binary_region()
        self.module.remove_unused_constants()
        return self.module

    def _may_be_binary_layer(self, node: onnx.NodeProto) -> bool:
        """False for a Conv/Gemm/MatMul whose weights are visibly not binary."""
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            return True
        weight = self.const(node.input[1]) if len(node.input) > 1 else None
        return weight is not None and split_binary(weight if node.op_type != "MatMul" else weight.T) is not None

    def _rollback(self, mark: int, tensors: dict[str, Tensor]) -> None:
        """Undo a converter that gave up half-way: erase the ops it appended (a Conv whose bias
        turns out not to be constant has already emitted its ``bnn.conv``) and forget the tensors
        it defined or materialized, so no dead layer is left to hide a host partition."""
        for op in reversed(self.function.ops[mark:]):
            self.function.erase(op)
        self.tensors = tensors

    def _convert(self, node: onnx.NodeProto) -> None:
        if node.domain not in ("", "ai.onnx", *CUSTOM_DOMAINS):
            raise NotMappable(f"op {node.op_type} of domain {node.domain} has no crossbar mapping")
        converter = self.converters.get(node.op_type)
        if converter is None:
            raise NotMappable(f"op {node.op_type} has no crossbar mapping")
        converter(node)

    # ------------------------------------------------------------------ helpers

    def _consumers(self) -> dict[str, list[onnx.NodeProto]]:
        consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.g.nodes:
            for name in node.input:
                if name:
                    consumers.setdefault(self.g.resolve(name), []).append(node)
        return consumers

    def _input_domain(self, name: str) -> Domain:
        elem = self.g.elem_types.get(name)
        annotated = FINN_DOMAIN.get(self.g.datatypes.get(name, ""))
        if elem == TensorProto.FLOAT and annotated is not None:
            return annotated
        if elem not in ONNX_DOMAIN:
            raise UnsupportedModelError(
                "graph inputs of type float32, uint8, int8, int32 or int64",
                f"input '{name}' has type {TensorProto.DataType.Name(elem or 0)}; cast it before export",
            )
        return ONNX_DOMAIN[elem]

    def loc(self, *nodes: onnx.NodeProto | str) -> Location:
        return Location(tuple(n if isinstance(n, str) else n.name for n in nodes))

    def const(self, name: str) -> np.ndarray | None:
        return self.g.constants.get(self.g.resolve(name))

    def require_const(self, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
        value = self.const(node.input[index]) if len(node.input) > index and node.input[index] else None
        if value is None:
            raise NotMappable(f"its {what} (input {index}) is not a constant")
        return value

    def tensor(self, name: str) -> Tensor:
        name = self.g.resolve(name)
        if name not in self.tensors:
            raise NotMappable(f"it reads '{name}', which the host computes")
        return self.tensors[name]

    def value(self, name: str) -> Value:
        """The IR value of a runtime tensor, materializing affine steps as float32 ops."""
        tensor = self.tensor(name)
        if isinstance(tensor, Predicate):
            raise NotMappable("it reads a boolean comparison result, which only 'Where' can consume")
        if isinstance(tensor, Affine):
            value = tensor.codes
            for kind, constant, const_first, node in tensor.steps:
                symbol = self.add_const(f"{node}.const", np.float32(constant))
                value = self.emit(ELEMENTWISE[kind.capitalize()], [value], [symbol], {"const_first": const_first}, Location.of(node)).result
            self.tensors[self.g.resolve(name)] = value
            return value
        return tensor

    def emit(self, cls: type[Operation], operands: list[Value], consts: list[str], attributes: dict, location: Location) -> Operation:
        const_types = [self.module.constants[c].type for c in consts]
        op = cls.build(operands, attributes, consts, location, const_types)
        self.function.append(op)
        return op

    def add_const(self, name: str, data: np.ndarray, domain: Domain = Domain.F32) -> str:
        return self.module.add_constant(name, np.asarray(data).astype(domain.dtype), domain)

    def define(self, node: onnx.NodeProto, tensor: Tensor, index: int = 0) -> None:
        self.tensors[node.output[index]] = tensor

    def float_output(self, node: onnx.NodeProto) -> None:
        if self.g.elem_types.get(node.output[0]) != TensorProto.FLOAT:
            raise NotMappable("its output is not float32")

    def downstream_of_layer(self, value: Value) -> bool:
        """Whether ``value`` is computed from the output of a binary layer."""
        stack, seen = [value], set()
        while stack:
            v = stack.pop()
            op = v.producer
            if op is None or id(op) in seen:
                continue
            seen.add(id(op))
            if isinstance(op, LAYER_OPS):
                return True
            stack.extend(op.operands)
        return False

    # ------------------------------------------------------------------ layers

    def _layer_input(self, node: onnx.NodeProto) -> Affine:
        tensor = self.tensor(node.input[0])
        if isinstance(tensor, Value) and tensor.type.domain in bnn.ARRAY_INPUT:
            return Affine(tensor, ())
        if isinstance(tensor, Affine):
            if tensor.codes.type.domain not in bnn.ARRAY_INPUT:
                raise NotMappable("its input is not binarized or integer-valued")
            return tensor
        raise NotMappable(
            "its input is real-valued (neither binarized nor integer codes)",
            "binarize the input (Sign/BipolarQuant/MultiThreshold) or quantize it to <= 8-bit integers",
        )

    def _binary_weights(self, node: onnx.NodeProto, weight: np.ndarray) -> BinaryWeights:
        split = split_binary(weight)
        if split is None:
            raise NotMappable(
                f"its weights are not binary: {distinct_values(weight)} distinct values "
                "(expected ±1, or ±α with one α per output channel)",
                "binarize the weights (Sign or BipolarQuant on the weight) before export",
            )
        return split

    def _finish_layer(self, node: onnx.NodeProto, total: Value, x: Affine, tap_sums: Callable[[], np.ndarray], w: BinaryWeights, channel_shape: tuple[int, ...]) -> Value:
        """Apply the input's affine steps, the per-channel α and return the float result (or the
        integer sum when there is nothing to apply)."""
        location = self.loc(node)
        value = total
        sums: np.ndarray | None = None
        for kind, constant, const_first, _ in x.steps:
            if kind in ("mul", "div") and not (kind == "div" and const_first):
                symbol = self.add_const(f"{node.name}.in_{kind}", np.float32(constant))
                value = self.emit(ELEMENTWISE[kind.capitalize()], [value], [symbol], {}, location).result
                continue
            if kind == "div":
                raise NotMappable("its input is c / codes, which is not affine")
            if sums is None:
                sums = tap_sums()
            # sum(w * (y + c)) = sum(w * y) + c * sum(w); likewise y - c and c - y
            symbol = self.add_const(f"{node.name}.in_{kind}", np.float32(constant) * sums)
            value = self.emit(ELEMENTWISE[kind.capitalize()], [value], [symbol], {"const_first": const_first}, location).result
        if not w.unit:
            symbol = self.add_const(f"{node.name}.alpha", w.alpha.reshape(channel_shape))
            value = self.emit(bnn.Mul, [value], [symbol], {}, location).result
        return value

    def _conv(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        weight = self.require_const(node, 1, "weight")
        shape = self.g.shapes[self.g.resolve(node.input[0])]
        if len(shape) != 4:
            raise UnsupportedModelError(
                "2-D convolutions (NCHW input)", f"this Conv has a rank-{len(shape)} input; reshape to NCHW",
                node=node.name, op_type=node.op_type,
            )
        if attrs.get("group", 1) != 1:
            raise UnsupportedModelError(
                f"group=1 convolutions (this one has group={attrs['group']})",
                "grouped/depthwise convolutions are not supported yet; use group=1",
                node=node.name, op_type=node.op_type,
            )
        x = self._layer_input(node)
        w = self._binary_weights(node, weight)
        kh, kw = weight.shape[2], weight.shape[3]
        strides = tuple(attrs.get("strides", (1, 1)))
        dilations = tuple(attrs.get("dilations", (1, 1)))
        pads = self._pads(attrs, shape[2:], (kh, kw), strides, dilations)
        window = {"strides": strides, "pads": pads, "dilations": dilations}
        symbol = self.add_const(f"{node.name}.weight", w.signs, Domain.PM1)
        total = self.emit(bnn.Conv, [x.codes], [symbol], window, self.loc(node)).result

        def tap_sums() -> np.ndarray:
            ones = np.ones((1,) + shape[1:], np.float64)
            return _conv_float(ones, w.signs.astype(np.float64), window).astype(np.float32)

        value = self._finish_layer(node, total, x, tap_sums, w, (1, -1, 1, 1))
        if len(node.input) > 2 and node.input[2]:
            bias = self.require_const(node, 2, "bias").astype(np.float32).reshape(1, -1, 1, 1)
            value = self.emit(bnn.Add, [value], [self.add_const(f"{node.name}.bias", bias)], {}, self.loc(node)).result
        self.define(node, value)

    def _pads(self, attrs: dict, size: tuple[int, ...], kernel: tuple[int, int], strides: tuple, dilations: tuple) -> tuple[int, ...]:
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("NOTSET", ""):
            return tuple(attrs.get("pads", (0, 0, 0, 0)))
        if auto_pad == "VALID":
            return (0, 0, 0, 0)
        begin, end = [], []
        for n, k, s, d in zip(size, kernel, strides, dilations):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return (begin[0], begin[1], end[0], end[1])

    def _dense(self, node: onnx.NodeProto, weight_mk: np.ndarray, bias: np.ndarray | None, alpha: float = 1.0) -> None:
        shape = self.g.shapes[self.g.resolve(node.input[0])]
        if len(shape) != 2:
            raise NotMappable(f"its input has rank {len(shape)}, expected [N, K]")
        x = self._layer_input(node)
        w = self._binary_weights(node, weight_mk)
        symbol = self.add_const(f"{node.name}.weight", w.signs, Domain.PM1)
        total = self.emit(bnn.Dense, [x.codes], [symbol], {}, self.loc(node)).result
        value = self._finish_layer(node, total, x, lambda: w.signs.sum(axis=1, dtype=np.int64).astype(np.float32)[None, :], w, (1, -1))
        if alpha != 1.0:
            value = self.emit(bnn.Mul, [value], [self.add_const(f"{node.name}.gemm_alpha", np.float32(alpha))], {}, self.loc(node)).result
        if bias is not None:
            value = self.emit(bnn.Add, [value], [self.add_const(f"{node.name}.bias", bias.astype(np.float32))], {}, self.loc(node)).result
        self.define(node, value)

    def _gemm(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        if attrs.get("transA", 0):
            raise NotMappable("transA=1 is not supported")
        b = self.require_const(node, 1, "weight")
        weight = b if attrs.get("transB", 0) else b.T
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self.require_const(node, 2, "bias").astype(np.float32) * np.float32(attrs.get("beta", 1.0))
        self._dense(node, weight, bias, float(attrs.get("alpha", 1.0)))

    def _matmul(self, node: onnx.NodeProto) -> None:
        b = self.require_const(node, 1, "weight")
        if b.ndim != 2:
            raise NotMappable(f"its weight has rank {b.ndim}, expected [K, M]")
        self._dense(node, b.T, None)

    # ------------------------------------------------------------------ binarizers

    def _sign(self, node: onnx.NodeProto) -> None:
        self.define(node, self.emit(bnn.Sign, [self.value(node.input[0])], [], {"zero": "zero"}, self.loc(node)).result)

    def _bipolar_quant(self, node: onnx.NodeProto) -> None:
        scale = self.require_const(node, 1, "scale")
        signs = self.emit(bnn.Sign, [self.value(node.input[0])], [], {"zero": "pos"}, self.loc(node)).result
        self.define(node, self._scaled(node, signs, scale))

    def _scaled(self, node: onnx.NodeProto, codes: Value, scale: np.ndarray) -> Tensor:
        s = _scalar(scale)
        if s == 1.0:
            return codes
        if s is not None:
            return Affine(codes, (("mul", s, False, node.name),))
        symbol = self.add_const(f"{node.name}.scale", scale.astype(np.float32))
        return self.emit(bnn.Mul, [codes], [symbol], {}, self.loc(node)).result

    def _quant(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        scale = self.require_const(node, 1, "scale").astype(np.float32)
        zero = self.require_const(node, 2, "zero point").astype(np.float32)
        bits = int(self.require_const(node, 3, "bit width").reshape(-1)[0])
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        x = self.value(node.input[0])
        if bits > 8 or (self.downstream_of_layer(x) and not (bits == 1 and signed)):
            raise NotMappable(
                f"it quantizes to {bits}-bit activations; crossbars take binary activations "
                "(and integer codes of at most 8 bits only at the network input)",
                "use binary (1-bit) activations between layers",
            )
        location = self.loc(node)
        s, z = _scalar(scale), _scalar(zero)
        if bits == 1 and signed:
            v = self.emit(bnn.Div, [x], [self.add_const(f"{node.name}.scale", scale)], {}, location).result
            if z != 0.0:
                v = self.emit(bnn.Add, [v], [self.add_const(f"{node.name}.zero_point", zero)], {}, location).result
            codes = self.emit(bnn.Sign, [v], [], {"zero": "pos"}, location).result
        else:
            rounding = str(attrs.get("rounding_mode", b"ROUND"), "utf8") if isinstance(attrs.get("rounding_mode"), bytes) else attrs.get("rounding_mode", "ROUND")
            if rounding.upper() not in ROUNDING:
                raise NotMappable(f"rounding_mode {rounding} is not supported")
            q_attrs = {"bits": bits, "signed": signed, "narrow": narrow, "rounding": ROUNDING[rounding.upper()]}
            consts = [self.add_const(f"{node.name}.scale", scale), self.add_const(f"{node.name}.zero_point", zero)]
            codes = self.emit(bnn.InputQuant, [x], consts, q_attrs, location).result
        if s is None or z is None:
            value: Tensor = codes
            if z is None or z != 0.0:
                value = self.emit(bnn.Sub, [value], [self.add_const(f"{node.name}.zero_point", zero)], {}, location).result
            value = self.emit(bnn.Mul, [value], [self.add_const(f"{node.name}.scale", scale)], {}, location).result
            self.define(node, value)
            return
        steps: tuple = ()
        if z != 0.0:
            steps += (("sub", z, False, node.name),)
        if s != 1.0:
            steps += (("mul", s, False, node.name),)
        self.define(node, Affine(codes, steps) if steps else codes)

    def _multithreshold(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        thresholds = self.require_const(node, 1, "thresholds").astype(np.float32)
        x = self.value(node.input[0])
        layout = attrs.get("data_layout", b"NCHW")
        layout = layout.decode() if isinstance(layout, bytes) else layout
        channels_on_axis1 = x.type.rank == 2 or (x.type.rank == 4 and layout == "NCHW")
        if thresholds.ndim != 2 or (thresholds.shape[0] != 1 and not channels_on_axis1):
            raise NotMappable(f"per-channel thresholds on a {layout} rank-{x.type.rank} input are not supported")
        out_scale, out_bias = float(attrs.get("out_scale", 1.0)), float(attrs.get("out_bias", 0.0))
        self._threshold(node, x, thresholds, out_scale, out_bias, self.loc(node))

    def _threshold(self, node: onnx.NodeProto, x: Value, thresholds: np.ndarray, out_scale: float, out_bias: float, location: Location) -> None:
        symbol = self.add_const(f"{node.name}.thresholds", thresholds)
        attrs = {"out_scale": out_scale, "out_bias": out_bias}
        self.define(node, self.emit(bnn.Threshold, [x], [symbol], attrs, location).result)

    def _compare(self, node: onnx.NodeProto) -> None:
        a, b = self.const(node.input[0]), self.const(node.input[1])
        if (a is None) == (b is None):
            raise NotMappable("it compares two runtime tensors (or two constants)")
        op = node.op_type
        if a is not None:  # constant on the left: mirror the comparison
            op = {"Greater": "Less", "Less": "Greater", "GreaterOrEqual": "LessOrEqual", "LessOrEqual": "GreaterOrEqual"}[op]
            x, t = node.input[1], a
        else:
            x, t = node.input[0], b
        self.tensor(x)
        # x >= t, x > t, and their negations: x < t == not(x >= t), x <= t == not(x > t)
        strict = op in ("Greater", "LessOrEqual")
        negated = op in ("Less", "LessOrEqual")
        self.define(node, Predicate(x, np.asarray(t), strict, negated, (node.name,)))

    def _clip(self, node: onnx.NodeProto) -> None:
        """``Clip(x, lo, hi)`` with ``lo < 0 < hi`` (``nn.Hardtanh`` before a binarizer, as in
        BinaryNet) keeps the sign of every value, and it commutes with max pooling and shape
        ops. Where its result only ever reaches ``Sign`` nodes, it is dropped: ``Sign(Clip(x))``
        equals ``Sign(x)``, zeros included."""
        attrs = _attrs(node)
        bounds = []
        for index, name, default in ((1, "min", -np.inf), (2, "max", np.inf)):
            if len(node.input) > index and node.input[index]:
                value = self.const(node.input[index])
                if value is None or value.size != 1:
                    raise NotMappable(f"its {name} bound is not a constant scalar")
                bounds.append(float(value.reshape(-1)[0]))
            else:
                bounds.append(float(attrs.get(name, default)))
        lo, hi = bounds
        if not lo < 0.0 < hi:
            raise NotMappable(f"Clip to [{lo:g}, {hi:g}] changes signs (only a clip with min < 0 < max is dropped before Sign)")
        if not self._only_signs_read(node.output[0]):
            raise NotMappable("its clipped values are used other than by Sign")
        self.define(node, self.tensor(node.input[0]))

    def _only_signs_read(self, name: str) -> bool:
        """Whether every use of tensor ``name`` ends in a ``Sign``, passing only through ops that
        preserve the sign of each value and commute with a sign-preserving clip (max pooling,
        shape ops, further sign-preserving clips); graph outputs do not qualify."""
        graph_outputs = {self.g.resolve(o) for o in self.g.outputs}
        stack, seen = [name], set()
        while stack:
            tensor = stack.pop()
            if tensor in seen:
                continue
            seen.add(tensor)
            if tensor in graph_outputs:
                return False
            for consumer in self.consumers.get(tensor, []):
                if consumer.domain not in ("", "ai.onnx"):
                    return False
                if consumer.op_type == "Sign":
                    continue
                if consumer.op_type not in SIGN_TRANSPARENT or self.g.resolve(consumer.input[0]) != tensor:
                    return False
                if consumer.op_type == "MaxPool" and len(consumer.output) > 1 and consumer.output[1]:
                    return False
                stack.append(consumer.output[0])
        return True

    def _not(self, node: onnx.NodeProto) -> None:
        p = self.tensor(node.input[0])
        if not isinstance(p, Predicate):
            raise NotMappable("'Not' of a tensor that is not a comparison")
        self.define(node, Predicate(p.x, p.threshold, p.strict, not p.negated, p.nodes + (node.name,)))

    def _where(self, node: onnx.NodeProto) -> None:
        p = self.tensor(node.input[0])
        if not isinstance(p, Predicate):
            raise NotMappable("'Where' on a condition that is not a comparison with a constant")
        hi, lo = self.const(node.input[1]), self.const(node.input[2])
        a, b = (_scalar(hi) if hi is not None else None), (_scalar(lo) if lo is not None else None)
        if a is None or b is None:
            raise NotMappable("'Where' chooses between values that are not two scalar constants")
        if p.negated:
            a, b = b, a
        self.float_output(node)
        x = self.value(p.x)
        threshold = p.threshold.astype(np.float32) if x.type.domain is Domain.F32 else p.threshold
        if p.strict:  # x > t  <=>  x >= next representable value above t
            threshold = np.nextafter(threshold, np.inf).astype(np.float32) if x.type.domain is Domain.F32 else np.floor(threshold) + 1
        location = self.loc(*p.nodes, node.name)
        if p.threshold.size and _scalar(p.threshold) == 0.0 and (a, b) == (1.0, -1.0):
            # x >= 0 -> +1 (BipolarQuant, Brevitas), x > 0 -> +1 (zero goes to -1)
            zero = "neg" if p.strict else "pos"
            self.define(node, self.emit(bnn.Sign, [x], [], {"zero": zero}, location).result)
            return
        rows = self._threshold_rows(threshold, x.type)
        self._threshold(node, x, rows, a - b, b, location)

    def _threshold_rows(self, threshold: np.ndarray, x: TensorType) -> np.ndarray:
        """A broadcast comparison constant as ``[C, 1]`` per-channel (axis 1) or ``[1, 1]`` rows."""
        t = _scalar(threshold)
        dtype = np.float32 if x.domain is Domain.F32 else np.int32
        if t is not None:
            return np.array([[t]], dtype)
        channels = x.shape[1] if x.rank >= 2 else 0
        squeezed = np.asarray(threshold)
        full = np.broadcast_to(squeezed, x.shape) if squeezed.ndim <= x.rank else None
        if full is None or channels == 0:
            raise NotMappable("the comparison constant is not per channel")
        per_channel = np.moveaxis(full, 1, 0).reshape(channels, -1)
        if not (per_channel == per_channel[:, :1]).all():
            raise NotMappable("the comparison constant varies within a channel")
        return per_channel[:, :1].astype(dtype)

    # ------------------------------------------------------------------ quantizers and casts

    def _quantize_linear(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        scale = self.require_const(node, 1, "scale").astype(np.float32)
        zero = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
        if zero is None:
            raise NotMappable("its zero point is not a constant")
        if scale.size != 1 or attrs.get("saturate", 1) != 1:
            raise NotMappable("only per-tensor QuantizeLinear is supported")
        x = self.value(node.input[0])
        if self.downstream_of_layer(x):
            raise NotMappable("it quantizes activations between layers to 8 bits", "use binary activations between layers")
        signed = zero.dtype == np.int8
        q_attrs = {"bits": 8, "signed": bool(signed), "zp_after_round": True}
        consts = [self.add_const(f"{node.name}.scale", scale), self.add_const(f"{node.name}.zero_point", zero.astype(np.float32))]
        self.define(node, self.emit(bnn.InputQuant, [x], consts, q_attrs, self.loc(node)).result)

    def _dequantize_linear(self, node: onnx.NodeProto) -> None:
        scale = self.require_const(node, 1, "scale").astype(np.float32)
        zero = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.float32)
        codes = self.tensor(node.input[0])
        if zero is None or not isinstance(codes, Value) or codes.type.domain not in (Domain.U8, Domain.I8):
            raise NotMappable("DequantizeLinear of something other than 8-bit codes")
        s, z = _scalar(scale), _scalar(zero)
        if scale.size != 1 or zero.size > 1 or s is None or z is None:
            raise NotMappable("only per-tensor DequantizeLinear is supported")
        steps: tuple = ((("sub", z, False, node.name),) if z != 0 else ()) + ((("mul", s, False, node.name),) if s != 1 else ())
        self.define(node, Affine(codes, steps) if steps else codes)

    def _cast(self, node: onnx.NodeProto) -> None:
        to = _attrs(node).get("to")
        tensor = self.tensor(node.input[0])
        if to != TensorProto.FLOAT:
            raise NotMappable(f"Cast to {TensorProto.DataType.Name(to)} is not supported")
        if isinstance(tensor, Predicate):
            raise NotMappable("Cast of a boolean comparison")
        self.define(node, tensor)  # every bnn value converts to float32 exactly

    # ------------------------------------------------------------------ float and shape ops

    def _elementwise(self, node: onnx.NodeProto) -> None:
        self.float_output(node)
        a, b = self.const(node.input[0]), self.const(node.input[1])
        if a is None and b is None and node.op_type == "Add":  # a residual shortcut
            lhs, rhs = self.value(node.input[0]), self.value(node.input[1])
            self.define(node, self.emit(bnn.AddTensors, [lhs, rhs], [], {}, self.loc(node)).result)
            return
        if (a is None) == (b is None):
            raise NotMappable(f"{node.op_type} of two runtime tensors")
        const_first = a is not None
        x_name, c = (node.input[1], a) if const_first else (node.input[0], b)
        kind = node.op_type.lower()
        tensor = self.tensor(x_name)
        scalar = _scalar(c)
        codes_tensor = isinstance(tensor, Affine) or (isinstance(tensor, Value) and tensor.type.domain in bnn.ARRAY_INPUT)
        if codes_tensor and scalar is not None and self.g.shapes[node.output[0]] == self.g.shapes[self.g.resolve(x_name)]:
            base = tensor if isinstance(tensor, Affine) else Affine(tensor, ())
            if kind == "div" and const_first:
                pass  # not affine: materialize below
            else:
                self.define(node, base.then(kind, scalar, const_first, node.name))
                return
        x = self.value(x_name)
        symbol = self.add_const(f"{node.name}.const", np.asarray(c, np.float32))
        self.define(node, self.emit(ELEMENTWISE[node.op_type], [x], [symbol], {"const_first": const_first}, self.loc(node)).result)

    def _batchnorm(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        if attrs.get("training_mode", 0):
            raise NotMappable("BatchNormalization in training mode")
        params = [self.require_const(node, i, what).astype(np.float32) for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))]
        x = self.value(node.input[0])
        consts = [self.add_const(f"{node.name}.{n}", p) for n, p in zip(("scale", "bias", "mean", "var"), params)]
        op = self.emit(bnn.BatchNorm, [x], consts, {"epsilon": float(np.float32(attrs.get("epsilon", 1e-5)))}, self.loc(node))
        self.define(node, op.result)

    def _maxpool(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        if len(node.output) > 1 and node.output[1]:
            raise NotMappable("MaxPool with an indices output")
        x = self.value(node.input[0])
        if x.type.rank != 4:
            raise NotMappable("only 2-D max pooling is supported")
        kernel = tuple(attrs["kernel_shape"])
        strides = tuple(attrs.get("strides", (1, 1)))
        dilations = tuple(attrs.get("dilations", (1, 1)))
        pads = self._pads(attrs, x.type.shape[2:], kernel, strides, dilations)
        window = {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dilations}
        expected = self.g.shapes[node.output[0]]
        got = (x.type.shape[0], x.type.shape[1]) + tuple(
            conv_output_size(n, k, s, pads[i], pads[i + 2], d) for i, (n, k, s, d) in enumerate(zip(x.type.shape[2:], kernel, strides, dilations))
        )
        if got != expected:
            raise NotMappable("MaxPool with ceil_mode changing the output size")
        self.define(node, self.emit(bnn.MaxPool, [x], [], window, self.loc(node)).result)

    def _reshape(self, node: onnx.NodeProto) -> None:
        shape = self.g.shapes[node.output[0]]
        tensor = self.tensor(node.input[0])
        if isinstance(tensor, Predicate):
            raise NotMappable("reshape of a boolean comparison")
        if isinstance(tensor, Affine):
            codes = self.emit(bnn.Reshape, [tensor.codes], [], {"shape": shape}, self.loc(node)).result
            self.define(node, Affine(codes, tensor.steps))
            return
        self.define(node, self.emit(bnn.Reshape, [tensor], [], {"shape": shape}, self.loc(node)).result)

    def _transpose(self, node: onnx.NodeProto) -> None:
        x = self.value(node.input[0])
        perm = _attrs(node).get("perm", tuple(reversed(range(x.type.rank))))
        self.define(node, self.emit(bnn.Transpose, [x], [], {"perm": tuple(perm)}, self.loc(node)).result)

    # ------------------------------------------------------------------ host partitions

    def _flush(self) -> None:
        """Emit the pending host nodes as one ``host.onnx`` op."""
        if not self.pending:
            return
        nodes = [n for n, _ in self.pending]
        first, reason = self.pending[0]
        self.pending = []
        produced = [o for n in nodes for o in n.output if o]
        produced_set = set(produced)
        member = {id(n) for n in nodes}
        inputs: list[str] = []
        initializers: dict[str, np.ndarray] = {}
        for n in nodes:
            for name in n.input:
                if not name:
                    continue
                real = self.g.resolve(name)
                if real in produced_set:
                    continue
                constant = self.g.constants.get(real)
                if constant is not None:
                    initializers[name] = constant
                elif real not in inputs:
                    inputs.append(real)
        graph_outputs = {self.g.resolve(o) for o in self.g.outputs}
        outputs = [
            o for o in produced
            if o in graph_outputs or any(id(c) not in member for c in self.consumers.get(o, []))
        ]
        operands = [self.value(name) for name in inputs]
        sub = self._partition_model(nodes, inputs, outputs, initializers)
        result_types = [TensorType(self._boundary_domain(o, first), self.g.shapes[o]) for o in outputs]
        symbol = self.module.add_constant(f"host.{first.name}", np.frombuffer(sub.SerializeToString(), np.uint8), Domain.U8)
        op = host.OnnxSubgraph(operands, result_types, {}, [symbol], self.loc(*nodes))
        self.function.append(op)
        self.host_reasons[id(op)] = (first, reason)
        for name, value in zip(outputs, op.results):
            self.tensors[name] = value

    def _boundary_domain(self, name: str, node: onnx.NodeProto) -> Domain:
        elem = self.g.elem_types.get(name)
        if elem not in ONNX_DOMAIN:
            raise UnsupportedModelError(
                "host partitions whose outputs are float32 or integer tensors",
                f"tensor '{name}' of type {TensorProto.DataType.Name(elem or 0)} crosses from the host to the arrays",
                node=node.name, op_type=node.op_type,
            )
        return ONNX_DOMAIN[elem]

    def _partition_model(self, nodes, inputs, outputs, initializers) -> onnx.ModelProto:
        renamed = []
        for n in nodes:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            for i, name in enumerate(copy.input):
                if name and name not in initializers:
                    copy.input[i] = self.g.resolve(name)
            renamed.append(copy)

        def info(name: str) -> onnx.ValueInfoProto:
            return helper.make_tensor_value_info(name, self.g.elem_types[name], list(self.g.shapes[name]))

        graph = helper.make_graph(
            renamed, "host_partition", [info(n) for n in inputs], [info(n) for n in outputs],
            [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()],
        )
        model = helper.make_model(graph, opset_imports=list(self.g.model.opset_import))
        model.ir_version = max(self.g.model.ir_version, 4)
        return standardize(model)

    # ------------------------------------------------------------------ results and checks

    def _return(self) -> None:
        values = []
        for name in self.g.outputs:
            real = self.g.resolve(name)
            value = self.value(real)
            want = ONNX_DOMAIN.get(self.g.elem_types.get(real))
            if want is not None and want is not value.type.domain:
                value = self._convert_to(value, want, name)
            values.append(value)
        self.function.append(Return(values))

    def _convert_to(self, value: Value, domain: Domain, name: str) -> Value:
        op = bnn.Convert([value], [value.type.with_domain(domain)], {}, [], Location.of(name))
        self.function.append(op)
        return op.result

    def _check_binary_region(self) -> None:
        ops = self.function.ops
        layers = [op for op in ops if isinstance(op, LAYER_OPS)]
        if not layers:
            reasons = [r for (n, r) in self.host_reasons.values()]
            hint = f" (e.g. node '{next(iter(self.host_reasons.values()))[0].name}': {reasons[0].reason})" if reasons else ""
            raise UnsupportedModelError(
                "at least one binary layer: a Conv, Gemm or MatMul with ±1 weights (or ±α per output channel) "
                "on binarized or integer inputs",
                f"this model has none{hint}; binarize weights and activations before export",
            )
        downstream: set[int] = set()
        for op in ops:
            if isinstance(op, LAYER_OPS) or any(id(v.producer) in downstream for v in op.operands if v.producer):
                downstream.add(id(op))
        upstream: set[int] = set()
        for op in reversed(ops):
            if isinstance(op, LAYER_OPS) or any(id(u.op) in upstream for r in op.results for u in r.uses):
                upstream.add(id(op))
        for op in ops:
            if isinstance(op, host.OnnxSubgraph):
                has_before = any(id(v.producer) in downstream for v in op.operands if v.producer)
                has_after = any(id(u.op) in upstream for r in op.results for u in r.uses)
                if has_before and has_after:
                    node, reason = self.host_reasons[id(op)]
                    raise UnsupportedModelError(
                        f"only crossbar-mappable ops between binary layers, but {reason.reason}",
                        reason.fix, node=node.name, op_type=node.op_type, domain=node.domain or None,
                    )


def _conv_float(x: np.ndarray, w: np.ndarray, window: dict) -> np.ndarray:
    """Float64 NCHW convolution with zero padding (for constant tap-count maps)."""
    (pt, pl, pb, pr), (sh, sw), (dh, dw) = window["pads"], window["strides"], window["dilations"]
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cout, cin, kh, kw = w.shape
    oh = conv_output_size(x.shape[2], kh, sh, pt, pb, dh)
    ow = conv_output_size(x.shape[3], kw, sw, pl, pr, dw)
    out = np.zeros((x.shape[0], cout, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def import_model(graph: OnnxGraph) -> Module:
    """Recognize ``graph`` into a verified bnn-dialect module."""
    module = Importer(graph).run()
    module.verify()
    return module
