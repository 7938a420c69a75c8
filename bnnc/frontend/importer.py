"""Recognition of a canonicalized ONNX graph into the ``bnn`` dialect: the driver.

Nodes are converted one by one in topological order by the converter registered for their
op type and domain (:mod:`bnnc.frontend.convert`), each op keeping its ONNX node name as
location. What cannot run on crossbars (``TopK``, ``Softmax``, float layers, …) is gathered
into ``host.onnx`` partitions: maximal runs of such nodes, extracted as ONNX subgraphs. A host
partition may sit anywhere: before the first binary layer (a float stem), between binary
layers (then, if it is only cheap real work, the digital periphery runs it:
:mod:`bnnc.frontend.periphery`) or after the last one (a float classifier, a TopK). A model
without any binary layer is an error that names the node keeping one from being recognized.
Exported training formulas are simplified first where that is proven exact
(:mod:`bnnc.frontend.ste`).

Integer inputs are tracked through scalar affine steps (``Cast``, ``Div 255``, ``Mul``,
``Sub``, ``DequantizeLinear``, QONNX ``Quant``): a binary layer on ``a * q + b`` computes the
exact integer sum over the codes ``q`` and applies the steps to the sum (additive steps times
the sum of the weights over the valid taps), so the first layer runs bit-serially on codes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bnnc.ir import Domain, Function, Location, Module, Return, TensorType, Value
from bnnc.ir.dialects import bnn, host

from .convert import CONVERTERS, LAYER_OPS, Context, NotMappable, Padded, Predicate, Staircase, Tensor
from .convert.clip import only_rounds_read
from .convert.context import BINARIZE
from .errors import UnsupportedModelError
from .loader import OnnxGraph
from .periphery import periphery_work
from .ste import drop_straight_through
from .standardize import CUSTOM_DOMAINS, STANDARD_DOMAINS, standardize
from .weights import split_binary

ONNX_DOMAIN = {
    TensorProto.FLOAT: Domain.F32,
    TensorProto.INT64: Domain.I64,
    TensorProto.INT32: Domain.I32,
    TensorProto.UINT8: Domain.U8,
    TensorProto.INT8: Domain.I8,
}
FINN_DOMAIN = {"UINT8": Domain.U8, "INT8": Domain.I8, "BIPOLAR": Domain.PM1, "BINARY": Domain.U8}
BINARY_RELEVANT = frozenset({
    "Conv", "Gemm", "MatMul", "Sign", "BipolarQuant", "Quant", "IntQuant", "MultiThreshold", "QuantizeLinear",
    "DequantizeLinear", "Where", "GreaterOrEqual", "Greater", "LessOrEqual", "Less", "Not",
})
"""Ops that may start the crossbar region: layers, binarizers and input quantizers. Other ops
that read a pending host partition's results join that partition."""


class Importer:
    """Builds a :class:`Module` with one function ``@main`` from an :class:`OnnxGraph`."""

    def __init__(self, graph: OnnxGraph):
        drop_straight_through(graph)
        self.g = graph
        module = Module(
            Path(graph.path).stem,
            {"source": graph.path, "producer": f"{graph.model.producer_name} {graph.model.producer_version}".strip(), "opset": graph.opset},
        )
        self.pending: list[tuple[onnx.NodeProto, NotMappable]] = []
        self.host_nodes: dict[int, list[onnx.NodeProto]] = {}
        self.reasons: dict[str, tuple[onnx.NodeProto, NotMappable]] = {}
        """Why each node that went to a host partition did, by output tensor name."""
        arg_types = [TensorType(self._input_domain(name), self.g.shapes[name]) for name in graph.inputs]
        function = Function("main", arg_types, {"inputs": tuple(graph.inputs), "outputs": tuple(graph.outputs)})
        module.add_function(function)
        self.ctx = Context(graph, module, function, self._consumers())
        for name, arg in zip(graph.inputs, function.args):
            self.ctx.tensors[name] = arg

    # ------------------------------------------------------------------ driver

    def run(self) -> Module:
        for node in self.g.nodes:
            inputs = {self.g.resolve(n) for n in node.input if n}
            pending_outputs = {o for n, _ in self.pending for o in n.output}
            if self.pending and inputs & pending_outputs:
                if not self._may_leave_the_host(node, pending_outputs):
                    # float work on host results stays on the host: one partition, not many
                    self.pending.append((node, NotMappable(f"op {node.op_type} works on host results")))
                    continue
                self._flush()
            mark, tensors = len(self.ctx.function.ops), dict(self.ctx.tensors)
            try:
                self._convert(node)
            except NotMappable as reason:
                self._rollback(mark, tensors)
                self.pending.append((node, reason))
        self._flush()
        self._return()
        self._drop_dead_ops()
        self._check_binary_region()
        self._mark_periphery()
        self.ctx.module.remove_unused_constants()
        return self.ctx.module

    def _may_leave_the_host(self, node: onnx.NodeProto, pending_outputs: set[str]) -> bool:
        """Whether ``node``, which reads results of the pending host partition, may start the
        crossbar region: one of :data:`BINARY_RELEVANT` or a ``Clip`` that starts a k-bit
        activation (:func:`~bnnc.frontend.convert.clip.only_rounds_read`), but not a Conv/Gemm/MatMul whose weights
        are visibly not binary, nor a ``Where`` or ``Not`` of a host boolean (their condition
        maps only as a comparison converted here, and no boolean crosses from the host)."""
        if node.op_type == "Clip":  # the start of a k-bit activation
            return only_rounds_read(self.ctx, node.output[0])
        if node.op_type not in BINARY_RELEVANT:
            return False
        if node.op_type in ("Where", "Not"):
            return self.g.resolve(node.input[0]) not in pending_outputs
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            return True
        weight = self.ctx.const(node.input[1]) if len(node.input) > 1 else None
        return weight is not None and split_binary(weight if node.op_type != "MatMul" else weight.T) is not None

    def _rollback(self, mark: int, tensors: dict[str, Tensor]) -> None:
        """Undo a converter that gave up half-way: erase the ops it appended (a Conv whose bias
        turns out not to be constant has already emitted its ``bnn.conv``) and forget the tensors
        it defined or materialized, so no dead layer is left to hide a host partition."""
        for op in reversed(self.ctx.function.ops[mark:]):
            self.ctx.function.erase(op)
        self.ctx.tensors = tensors

    def _convert(self, node: onnx.NodeProto) -> None:
        if node.domain not in (*STANDARD_DOMAINS, *CUSTOM_DOMAINS):
            raise NotMappable(f"op {node.op_type} of domain {node.domain} has no crossbar mapping")
        converter = CONVERTERS.get((node.domain, node.op_type))
        if converter is None:
            raise NotMappable(f"op {node.op_type} has no crossbar mapping")
        converter(self.ctx, node)

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

    # ------------------------------------------------------------------ host partitions

    def _flush(self) -> None:
        """Emit the pending host nodes as one ``host.onnx`` op (none where no graph output and no
        later node reads their results)."""
        if not self.pending:
            return
        pending = [n for n, _ in self.pending]
        first = pending[0]
        self.reasons.update((o, entry) for entry in self.pending for o in entry[0].output if o)
        self.pending = []
        nodes = self._deferred_nodes_read(pending) + pending
        computed = {o for n in nodes for o in n.output if o}
        member = {id(n) for n in nodes}
        inputs: list[str] = []
        initializers: dict[str, np.ndarray] = {}
        for n in nodes:
            for name in n.input:
                if not name:
                    continue
                real = self.g.resolve(name)
                if real in computed:
                    continue
                constant = self.g.constants.get(real)
                if constant is not None:
                    initializers[name] = constant
                elif real not in inputs:
                    inputs.append(real)
        graph_outputs = {self.g.resolve(o) for o in self.g.outputs}
        outputs = [  # the deferred tensors are read as such, not from the host
            o for n in pending for o in n.output
            if o and (o in graph_outputs or any(id(c) not in member for c in self.ctx.consumers.get(o, [])))
        ]
        if not outputs:  # dead nodes: nothing reads what they compute
            return
        operands = [self.ctx.value(name) for name in inputs]
        sub = self._partition_model(nodes, inputs, outputs, initializers)
        result_types = [TensorType(self._boundary_domain(o, first), self.g.shapes[o]) for o in outputs]
        symbol = self.ctx.module.add_constant(f"host.{first.name}", np.frombuffer(sub.SerializeToString(), np.uint8), Domain.U8)
        op = host.OnnxSubgraph(operands, result_types, {}, [symbol], self.ctx.loc(*nodes))
        self.ctx.function.append(op)
        self.host_nodes[id(op)] = nodes
        for name, value in zip(outputs, op.results):
            self.ctx.tensors[name] = value

    def _deferred_nodes_read(self, pending: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        """The nodes behind the deferred tensors that ``pending`` nodes read: the comparison and
        ``Not`` nodes of a predicate (e.g. a ``Cast`` of ``x < t``: no IR value is boolean), the
        ``Pad`` of a padded tensor (a Conv that stays on the host), the clip and steps of a
        staircase (a ``Round`` that stays on the host). No IR value holds these tensors, so the
        partition takes the nodes too and computes them from their inputs."""
        nodes: list[onnx.NodeProto] = []
        for n in pending:
            for name in n.input:
                tensor = self.ctx.tensors.get(self.g.resolve(name)) if name else None
                behind = (
                    tensor.nodes if isinstance(tensor, (Predicate, Staircase)) else (tensor.node,) if isinstance(tensor, Padded) else ()
                )
                nodes.extend(p for p in behind if all(p is not q for q in nodes))
        return nodes

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
        renamed = self._resolved(nodes, keep=set(initializers))

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
            predicate = self.ctx.tensors.get(real)
            if isinstance(predicate, Predicate):
                node = predicate.nodes[-1]
                raise UnsupportedModelError(
                    f"graph outputs of type float32 or integer, but output '{name}' is the boolean result of this comparison",
                    "cast it to float32 (Cast or Where) before the output, or remove it from the graph outputs",
                    node=node.name, op_type=node.op_type,
                )
            value = self.ctx.value(real)
            want = ONNX_DOMAIN.get(self.g.elem_types.get(real))
            if want is not None and want is not value.type.domain:
                value = self._convert_to(value, want, name)
            values.append(value)
        self.ctx.function.append(Return(values))

    def _convert_to(self, value: Value, domain: Domain, name: str) -> Value:
        op = bnn.Convert([value], [value.type.with_domain(domain)], {}, [], Location.of(name))
        self.ctx.function.append(op)
        return op.result

    def _drop_dead_ops(self) -> None:
        """Erase ops whose results nothing reads (a threshold that a later step folded into a
        new one, the polynomial of a proven straight-through sign): recognition has no side
        effects, so they compute nothing the program returns."""
        for op in reversed(list(self.ctx.function.ops)):
            if not isinstance(op, Return) and op.results and not any(r.uses for r in op.results):
                self.ctx.function.erase(op)

    def _check_binary_region(self) -> None:
        ops = self.ctx.function.ops
        layers = [op for op in ops if isinstance(op, LAYER_OPS)]
        if not layers:
            blocking = self._blocking_node()
            hint = f" (e.g. node '{blocking[0].name}' (op {blocking[0].op_type}): {blocking[1].reason})" if blocking else ""
            fix = blocking[1].fix if blocking else BINARIZE
            raise UnsupportedModelError(
                "at least one binary layer: a Conv, Gemm or MatMul with ±1 weights (or ±α per output channel) "
                "on binarized or integer inputs",
                f"this model has none{hint}; {fix}",
            )

    def _blocking_node(self) -> tuple[onnx.NodeProto, NotMappable] | None:
        """The node that stops the first would-be binary layer (a Conv/Gemm/MatMul with binary
        weights, left to the host) from being recognized: walking back from that layer's input
        over host nodes that only read host results or real values, the first one refused for
        a reason of its own or of an op no converter knows (e.g. a ``Pad`` or a ``Round`` before
        a binary conv); the first host node when no layer has binary weights."""
        nodes = list({id(n): (n, r) for n, r in self.reasons.values()}.values())
        inherited = ("works on host results", "its input is real-valued")
        for node, reason in nodes:
            if not self._may_leave_the_host(node, set()) or node.op_type not in ("Conv", "Gemm", "MatMul"):
                continue
            entry = (node, reason)
            while any(text in entry[1].reason for text in inherited):
                producer = next((self.reasons[self.g.resolve(i)] for i in entry[0].input if i and self.g.resolve(i) in self.reasons), None)
                if producer is None:
                    break
                entry = producer
                if (entry[0].domain, entry[0].op_type) not in CONVERTERS:
                    return entry[0], NotMappable(f"op {entry[0].op_type} has no crossbar mapping")
            return entry
        return nodes[0] if nodes else None

    def _mark_periphery(self) -> None:
        """Mark each host partition that reads results of a binary layer and feeds one, and
        consists of periphery work only (:func:`~bnnc.frontend.periphery.periphery_work`), as
        ``periphery`` with its operation counts."""
        ops = self.ctx.function.ops
        downstream: set[int] = set()
        for op in ops:
            if isinstance(op, LAYER_OPS) or any(id(v.producer) in downstream for v in op.operands if v.producer):
                downstream.add(id(op))
        upstream: set[int] = set()
        for op in reversed(ops):
            if isinstance(op, LAYER_OPS) or any(id(u.op) in upstream for r in op.results for u in r.uses):
                upstream.add(id(op))
        for op in ops:
            if not isinstance(op, host.OnnxSubgraph):
                continue
            between = any(id(v.producer) in downstream for v in op.operands if v.producer) and any(
                id(u.op) in upstream for r in op.results for u in r.uses
            )
            work = periphery_work(self._resolved(self.host_nodes[id(op)]), self.g.shapes, self.g.constants) if between else None
            if work is not None:
                op.attributes["periphery"] = True
                op.attributes["work"] = work

    def _resolved(self, nodes: list[onnx.NodeProto], keep: set[str] | frozenset[str] = frozenset()) -> list[onnx.NodeProto]:
        """Copies of ``nodes`` whose inputs name the tensors that really hold the data (pass-through
        aliases followed), except the names in ``keep``."""
        copies = []
        for n in nodes:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            for i, name in enumerate(copy.input):
                if name and name not in keep:
                    copy.input[i] = self.g.resolve(name)
            copies.append(copy)
        return copies


def import_model(graph: OnnxGraph) -> Module:
    """Recognize ``graph`` into a verified bnn-dialect module."""
    module = Importer(graph).run()
    module.verify()
    return module
