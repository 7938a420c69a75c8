"""Rewrite QONNX/FINN binarizer and quantizer custom ops into standard ONNX.

``standardize(model)`` returns a copy of ``model`` in which every custom
quantizer node is replaced by a chain of standard ONNX nodes whose LAST node
writes the custom node's original output tensor, so onnxruntime and ONNX shape
inference accept the model and every tensor keeps its name. Nothing else in the
graph changes (initializers, value_info, ``quantization_annotation`` and the
default-domain opset stay as they are); only the opset imports of the custom
domains are dropped.

Semantics reproduced (float32 throughout, matching the qonnx reference
implementations ``qonnx.custom_op.general.{bipolar_quant,quant,multithreshold}``):

* ``BipolarQuant(x, scale)`` (domains ``onnx.brevitas``,
  ``qonnx.custom_op.general``): ``where(x >= 0, +1, -1) * scale`` (0 -> +1).
* ``Quant``/``IntQuant(x, scale, zeropt, bitwidth; signed=1, narrow=0,
  rounding_mode="ROUND")``: ``v = x / scale + zeropt``; ``q = round(clip(v,
  min, max))``; ``y = (q - zeropt) * scale`` with min/max from the bit width
  (signed: ``-2^(b-1)`` (+1 if narrow) .. ``2^(b-1) - 1``; unsigned: ``0 ..
  2^b - 1`` (-1 if narrow)). Clipping before rounding equals rounding before
  clipping because the bounds are integers. ``ROUND`` is half to even;
  ``FLOOR``, ``CEIL`` and ``ROUND_TO_ZERO`` are supported too. As in qonnx,
  a signed 1-bit Quant is bipolar: ``q = where(v >= 0, +1, -1)``. The bit
  width must be a constant.
* ``MultiThreshold(x, T; out_scale=1, out_bias=0, data_layout="NCHW")``
  (domains ``finn.custom_op.general``, ``qonnx.custom_op.general``):
  ``y = out_scale * #{t in T[c] : x >= t} + out_bias`` with ``T`` of shape
  ``[C, n]`` (row per channel) or ``[1, n]`` (one row for all channels). The
  channel axis is 1 for rank-2 and NCHW rank-4 inputs and the last axis for
  NHWC rank-4 inputs and for inputs of any other rank (qonnx reshapes those to
  ``(-1, C)``). The count is a sum of 0/1 floats, exact up to 2^24 thresholds.

Comparisons ``x >= t`` are written as ``Not(Less(x, t))`` so that opset 9 models
(Brevitas exports) need no opset change; MultiThreshold's also require ``x`` and ``t`` to be
numbers (``IsNaN``), as qonnx's ``x >= t`` does.
Any other node outside the default ONNX domain raises
:class:`~bnnc.frontend.errors.UnsupportedModelError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bnnc.frontend.errors import InvalidModelError, UnsupportedModelError
from bnnc.ir.diagnostics import plural

__all__ = ["standardize", "STANDARD_DOMAINS", "QONNX_DOMAINS", "FINN_DOMAINS", "CUSTOM_DOMAINS"]

STANDARD_DOMAINS = frozenset({"", "ai.onnx"})
QONNX_DOMAINS = frozenset({"onnx.brevitas", "qonnx.custom_op.general"})
FINN_DOMAINS = frozenset({"finn.custom_op.general", "qonnx.custom_op.general"})
CUSTOM_DOMAINS = QONNX_DOMAINS | FINN_DOMAINS
_MIN_OPSET = 9  # Where, Less on floats and Sign exist from opset 9 on


def _label(node: onnx.NodeProto) -> str:
    """A name for ``node`` in error messages: its name, else its first output."""
    return node.name or (node.output[0] if node.output else node.op_type)


@dataclass
class _Context:
    """Facts about the source model that rewriters need."""

    opset: int
    constants: dict[str, np.ndarray]
    ranks: dict[str, int]
    taken: set[str]


@dataclass
class _Emitter:
    """Collects the standard nodes and initializers replacing one custom node."""

    node: onnx.NodeProto
    ctx: _Context
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)

    def fresh(self, stem: str) -> str:
        """A tensor or node name not used anywhere in the model yet."""
        name, k = stem, 0
        while name in self.ctx.taken:
            k += 1
            name = f"{stem}_{k}"
        self.ctx.taken.add(name)
        return name

    def const(self, value: float | list[int], dtype: type = np.float32) -> str:
        """A new initializer holding ``value`` (a scalar or a 1-D list)."""
        name = self.fresh(f"{self.node.output[0]}__c")
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: object) -> str:
        """Append ``op_type(inputs)``; returns its output (``out`` if given)."""
        output = out if out is not None else self.fresh(f"{self.node.output[0]}__{op_type}")
        name = self.fresh(f"{_label(self.node)}__{op_type}")
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=name, **attrs))
        return output

    def unsqueeze(self, x: str, axis: int) -> str:
        """Insert a unit axis at ``axis`` (attribute before opset 13, input after)."""
        if self.ctx.opset >= 13:
            return self.op("Unsqueeze", x, self.const([axis], np.int64))
        return self.op("Unsqueeze", x, axes=[axis])

    def reduce_sum(self, x: str, axis: int) -> str:
        """Sum over ``axis`` without keeping it (attribute before opset 13)."""
        if self.ctx.opset >= 13:
            return self.op("ReduceSum", x, self.const([axis], np.int64), keepdims=0)
        return self.op("ReduceSum", x, axes=[axis], keepdims=0)

    def bipolar(self, x: str) -> str:
        """``where(x >= 0, +1, -1)`` as float32."""
        negative = self.op("Less", x, self.const(0.0))
        return self.op("Where", negative, self.const(-1.0), self.const(1.0))


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _require_inputs(node: onnx.NodeProto, count: int) -> None:
    if len(node.input) < count or not all(node.input[:count]) or len(node.output) < 1:
        raise InvalidModelError(
            f"{plural(count, 'input')} and one output",
            "the node does not follow its operator specification; re-export the model",
            node=_label(node), op_type=node.op_type, domain=node.domain,
        )


def _bipolar_quant(e: _Emitter) -> None:
    node = e.node
    _require_inputs(node, 2)
    e.op("Mul", e.bipolar(node.input[0]), node.input[1], out=node.output[0])


def _round_half_even_floor(e: _Emitter, v: str) -> str:
    """Half-to-even rounding from Floor, for opsets before Round (11).

    ``d = v - floor(v)`` is exact except for -1 < v < 0, where its rounding
    still decides every case correctly; ties are ``d == 0.5``, broken towards
    the even neighbour.
    """
    f = e.op("Floor", v)
    d = e.op("Sub", v, f)
    above = e.op("Greater", d, e.const(0.5))
    at_least_half = e.op("Not", e.op("Less", d, e.const(0.5)))
    half = e.op("Mul", f, e.const(0.5))
    odd = e.op("Greater", e.op("Sub", half, e.op("Floor", half)), e.const(0.25))
    up = e.op("Or", above, e.op("And", at_least_half, odd))
    return e.op("Add", f, e.op("Cast", up, to=TensorProto.FLOAT))


def _round(e: _Emitter, v: str, mode: str) -> str:
    if mode == "ROUND":
        return e.op("Round", v) if e.ctx.opset >= 11 else _round_half_even_floor(e, v)
    if mode == "FLOOR":
        return e.op("Floor", v)
    if mode == "CEIL":
        return e.op("Ceil", v)
    if mode == "ROUND_TO_ZERO":
        return e.op("Mul", e.op("Sign", v), e.op("Floor", e.op("Abs", v)))
    raise UnsupportedModelError(
        "rounding_mode ROUND, FLOOR, CEIL or ROUND_TO_ZERO",
        f"rounding mode {mode!r} is not supported; re-export with one of these",
        node=_label(e.node), op_type=e.node.op_type, domain=e.node.domain,
    )


def _int_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """The integer range of a qonnx Quant (``min_int``/``max_int`` in qonnx)."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def _constant_bitwidth(e: _Emitter) -> int:
    node = e.node
    value = e.ctx.constants.get(node.input[3])
    if value is None:
        raise UnsupportedModelError(
            "a constant bit width (initializer or Constant) as input 3",
            "fold the bit width into a constant before compiling",
            node=_label(node), op_type=node.op_type, domain=node.domain,
        )
    if value.size != 1 or float(value.flat[0]) != int(value.flat[0]) or int(value.flat[0]) < 1:
        raise InvalidModelError(
            "a bit width that is one positive integer",
            f"got {value.tolist()}; fix the exported model",
            node=_label(node), op_type=node.op_type, domain=node.domain,
        )
    return int(value.flat[0])


def _quant(e: _Emitter) -> None:
    node = e.node
    _require_inputs(node, 4)
    x, scale, zeropt = node.input[0], node.input[1], node.input[2]
    bits = _constant_bitwidth(e)
    signed = bool(_attr(node, "signed", 1))
    narrow = bool(_attr(node, "narrow", 0))
    mode = str(_attr(node, "rounding_mode", "ROUND")).upper()
    v = e.op("Add", e.op("Div", x, scale), zeropt)
    if bits == 1 and signed:
        q = e.bipolar(v)
    else:
        lo, hi = _int_range(bits, signed, narrow)
        q = _round(e, e.op("Max", e.op("Min", v, e.const(float(hi))), e.const(float(lo))), mode)
    e.op("Mul", e.op("Sub", q, zeropt), scale, out=node.output[0])


def _multithreshold(e: _Emitter) -> None:
    node = e.node
    _require_inputs(node, 2)
    x, thresholds = node.input[0], node.input[1]
    layout = str(_attr(node, "data_layout", "NCHW"))
    rank = e.ctx.ranks.get(x)
    if rank is None or rank < 1:
        raise UnsupportedModelError(
            "an input of known rank",
            "give the graph input a static shape (or run shape inference) before compiling",
            node=_label(node), op_type=node.op_type, domain=node.domain,
        )
    if layout not in ("NCHW", "NHWC") or (layout == "NHWC" and rank not in (2, 4)):
        raise UnsupportedModelError(
            "data_layout NCHW, or NHWC with a rank-2 or rank-4 input",
            f"got data_layout {layout!r} on a rank-{rank} input; re-export the model",
            node=_label(node), op_type=node.op_type, domain=node.domain,
        )
    if layout == "NCHW" and rank == 4:
        # channels on axis 1: thresholds [C|1, n] -> [C|1, 1, 1, n]
        thresholds = e.op("Reshape", thresholds, e.const([0, 1, 1, -1], np.int64))
    # otherwise channels are on the last axis and [C|1, n] broadcasts as is
    expanded = e.unsqueeze(x, rank)
    # x >= t, false where x or t is NaN (as in qonnx): Not(Less) alone would count NaN as reached
    numbers = e.op("And", e.op("Not", e.op("IsNaN", expanded)), e.op("Not", e.op("IsNaN", thresholds)))
    at_or_above = e.op("And", e.op("Not", e.op("Less", expanded, thresholds)), numbers)
    count = e.reduce_sum(e.op("Cast", at_or_above, to=TensorProto.FLOAT), rank)
    out_scale = float(_attr(node, "out_scale", 1.0))
    out_bias = float(_attr(node, "out_bias", 0.0))
    scaled = e.op("Mul", count, e.const(out_scale))
    e.op("Add", scaled, e.const(out_bias), out=node.output[0])


_REWRITERS: dict[tuple[str, str], Callable[[_Emitter], None]] = {
    **{(d, "BipolarQuant"): _bipolar_quant for d in QONNX_DOMAINS},
    **{(d, "Quant"): _quant for d in QONNX_DOMAINS},
    **{(d, "IntQuant"): _quant for d in QONNX_DOMAINS},
    **{(d, "MultiThreshold"): _multithreshold for d in FINN_DOMAINS},
}


def _default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in STANDARD_DOMAINS:
            return entry.version
    raise InvalidModelError(
        "an opset import for the default ONNX domain",
        "the model does not declare its ONNX opset; re-export it",
    )


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Values of initializers and of ``Constant`` nodes with a ``value`` tensor."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
    return values


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    """Ranks of all tensors, from shape inference on a proxy model in which every
    custom node is an Identity (all rewritten ops preserve shape)."""
    proxy = onnx.ModelProto()
    proxy.CopyFrom(model)
    for node in proxy.graph.node:
        if node.domain not in STANDARD_DOMAINS:
            _require_inputs(node, 1)
            keep_input = node.input[0]
            keep_output = node.output[0]
            node.Clear()
            node.op_type = "Identity"
            node.input.append(keep_input)
            node.output.append(keep_output)
    kept = [o for o in proxy.opset_import if o.domain not in CUSTOM_DOMAINS]
    del proxy.opset_import[:]
    proxy.opset_import.extend(kept)
    inferred = onnx.shape_inference.infer_shapes(proxy, data_prop=True)
    graph = inferred.graph
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        tensor = info.type.tensor_type
        if tensor.HasField("shape"):
            ranks[info.name] = len(tensor.shape.dim)
    return ranks


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {t.name for t in graph.initializer}
    names.update(v.name for v in [*graph.input, *graph.output, *graph.value_info])
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        names.add(node.name)
    return names


def _check_subgraphs(graph: onnx.GraphProto) -> None:
    """Refuse non-standard nodes inside control-flow bodies (not rewritten)."""
    for node in graph.node:
        for a in node.attribute:
            for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                for inner in sub.node:
                    if inner.domain not in STANDARD_DOMAINS:
                        raise UnsupportedModelError(
                            "only standard ONNX ops inside control-flow subgraphs",
                            "move the quantizer out of the If/Loop/Scan body",
                            node=_label(inner), op_type=inner.op_type, domain=inner.domain,
                        )
                _check_subgraphs(sub)


def standardize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy of ``model`` with QONNX/FINN custom ops as standard ONNX (``model``
    itself where it has no custom op and imports no custom domain: a copy would only double
    the weights held; callers do not modify the result).

    Output tensor names of rewritten nodes are preserved; the new intermediate
    tensors and initializers get fresh names derived from them. Raises
    ``UnsupportedModelError`` for any other non-standard node, for custom ops
    in an opset older than 9, and for custom ops whose parameters bnnc needs
    but cannot determine (a non-constant bit width, an input of unknown rank).
    """
    _check_subgraphs(model.graph)
    if all(n.domain in STANDARD_DOMAINS for n in model.graph.node) and not any(o.domain in CUSTOM_DOMAINS for o in model.opset_import):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    custom = [n for n in graph.node if n.domain not in STANDARD_DOMAINS]
    for node in custom:
        if (node.domain, node.op_type) not in _REWRITERS:
            raise UnsupportedModelError(
                "a standard ONNX op or a known quantizer (QONNX BipolarQuant/Quant, FINN MultiThreshold)",
                "replace this node by standard ONNX ops or re-export the model without it",
                node=_label(node), op_type=node.op_type, domain=node.domain,
            )
    if custom:
        opset = _default_opset(out)
        if opset < _MIN_OPSET:
            first = custom[0]
            raise UnsupportedModelError(
                f"default ONNX opset >= {_MIN_OPSET} in a model with custom quantizers (found {opset})",
                f"re-export the model with opset {_MIN_OPSET} or newer",
                node=_label(first), op_type=first.op_type, domain=first.domain,
            )
        needs_ranks = any(n.op_type == "MultiThreshold" for n in custom)
        ctx = _Context(opset, _constants(graph), _ranks(model) if needs_ranks else {}, _all_names(graph))
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            if node.domain in STANDARD_DOMAINS:
                kept_node = onnx.NodeProto()
                kept_node.CopyFrom(node)  # survives clearing graph.node below
                nodes.append(kept_node)
                continue
            emitter = _Emitter(node, ctx)
            _REWRITERS[(node.domain, node.op_type)](emitter)
            nodes.extend(emitter.nodes)
            graph.initializer.extend(emitter.initializers)
            if out.ir_version < 4:  # IR 3 requires every initializer to be a graph input
                graph.input.extend(
                    helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                    for t in emitter.initializers
                )
        del graph.node[:]
        graph.node.extend(nodes)
    kept = [o for o in out.opset_import if o.domain not in CUSTOM_DOMAINS]
    del out.opset_import[:]
    out.opset_import.extend(kept)
    return out
