"""What every converter works with: the tensors converted so far, the module and function under
construction, and the ways a converter reads ONNX inputs, emits IR ops and gives up.

A converter gives up with :class:`NotMappable`; the driver (:mod:`bnnc.frontend.importer`) then
undoes what it emitted and hands the node to a host partition. Besides IR values, the tensor
table holds deferred forms that no IR value represents: :class:`Affine` (integer or ±1 codes
with scalar affine steps still to apply, so the next binary layer can apply them to its
integer sum), :class:`Predicate` (a boolean comparison with a constant, awaiting a ``Where``),
:class:`Padded` (a ±1 tensor padded with a constant, awaiting the binary convs that read it)
and :class:`Staircase` (a clipped real value awaiting a ``Round``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from bnnc.ir import Domain, Function, Location, Module, Operation, Value
from bnnc.ir.dialects import bnn

from ..loader import OnnxGraph

ELEMENTWISE = {"Add": bnn.Add, "Sub": bnn.Sub, "Mul": bnn.Mul, "Div": bnn.Div}
"""The bnn op of each ONNX elementwise op with a constant operand (and of each affine step,
by its capitalized kind)."""
LAYER_OPS = (bnn.Conv, bnn.Dense)


BINARIZE = "binarize weights and activations before export"
"""What to do about a node that keeps a model from having any binary layer, unless its
converter says better."""


class NotMappable(Exception):
    """A node that does not map onto crossbars; it goes to a host partition. Where it is what
    keeps a model from having any binary layer, the refusal names it with ``reason`` and
    ``fix``."""

    def __init__(self, reason: str, fix: str = BINARIZE):
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
    """A boolean tensor ``x >= t`` (``strict``: ``x > t``), possibly negated, awaiting a ``Where``;
    ``nodes`` are the comparison and ``Not`` nodes that compute it, in order (a host partition
    that reads it recomputes it from ``x`` with them)."""

    x: str
    threshold: np.ndarray
    strict: bool
    negated: bool
    nodes: tuple[onnx.NodeProto, ...]


@dataclass(frozen=True)
class Padded:
    """The ±1 (or ternary) tensor ``x`` padded on its spatial axes by ``pads`` (``[top, left,
    bottom, right]``) with the constant ``value`` (0 or ±1), read only by ``Conv`` nodes: each
    takes the pads as its own (``bnn.conv``'s ``pad_value``). ``node`` is the ``Pad`` (a host
    partition that reads the tensor runs it)."""

    x: Value
    pads: tuple[int, int, int, int]
    value: int
    node: onnx.NodeProto



@dataclass(frozen=True)
class Staircase:
    """A float32 tensor computed from ``x`` by ``nodes``: a ``Clip`` to finite bounds, then
    scalar steps that keep the order (``+ c``, ``− c``, ``· c`` and ``/ c`` with ``c > 0``),
    awaiting the ``Round`` that makes it integer levels — a non-decreasing staircase of ``x``
    (DoReFa's ``round(clip(x, 0, 1) · 3)``). A host partition that reads it recomputes it from
    ``x`` with ``nodes``."""

    x: str
    nodes: tuple[onnx.NodeProto, ...]



Tensor = Value | Affine | Predicate | Padded | Staircase


def attrs(node: onnx.NodeProto) -> dict:
    """The node's attributes by name, as Python values."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def scalar(array: np.ndarray) -> float | None:
    """The one value of a constant whose elements are all equal, else None."""
    flat = np.asarray(array).reshape(-1)
    return float(flat[0]) if flat.size and (flat == flat[0]).all() else None


class Context:
    """The state converters share: the graph ``g``, the ``module`` and its ``function`` being
    built, the ``tensors`` converted so far (by ONNX tensor name) and the ``consumers`` of each
    tensor."""

    def __init__(self, graph: OnnxGraph, module: Module, function: Function, consumers: dict[str, list[onnx.NodeProto]]):
        self.g = graph
        self.module = module
        self.function = function
        self.consumers = consumers
        self.tensors: dict[str, Tensor] = {}

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
        if isinstance(tensor, Staircase):
            raise NotMappable("it reads a clipped real value, which only 'Round' maps")
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

    def define(self, node: onnx.NodeProto, tensor: Tensor) -> None:
        self.tensors[node.output[0]] = tensor

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
