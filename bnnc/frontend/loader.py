"""Loading an ONNX model and canonicalizing it for recognition.

:func:`load_model` reads the file (clear errors for anything that is not a usable ONNX
model), separates real graph inputs from initializers listed as inputs (old opsets), applies
``--input-shape`` overrides and requires static shapes. It then runs the standardized model
(custom quantizers rewritten into standard ONNX) once in onnxruntime on zeros with every
intermediate tensor exposed: that gives the static shape and element type of every tensor,
and the value of every tensor that does not depend on the graph inputs — constant folding of
``Constant`` nodes, ``Shape``/``Gather``/``Unsqueeze``/``Concat`` chains, ``Sign``,
``Transpose`` or ``BipolarQuant`` of an initializer — with the operators' own semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
from google.protobuf.message import Message
from onnx import helper, numpy_helper

from bnnc.backends.onnx_session import reference_session

from .bounds import check_evaluated_sizes, check_tensor_sizes, limit_bytes, prune_to_outputs
from .errors import InvalidModelError, UnsupportedModelError
from .standardize import standardize
from .strings import require_utf8

MIN_OPSET = 9
SHAPE_ONLY_OPS = {"Shape", "Size"}
"""Ops whose output depends only on the (static) shape of their input."""
TYPE_ONLY_INPUTS = {"CastLike": {1}}
"""Inputs of which an op reads only the element type (the dynamo exporter writes
``CastLike(0, x)`` to give a zero bias the type of the activation ``x``)."""
PASS_THROUGH_OPS = {"Identity", "Dropout"}
"""Ops that forward their first input unchanged at inference (a ``Dropout`` whose mask is
read stays a node)."""


@dataclass
class OnnxGraph:
    """A loaded, canonicalized source model.

    ``nodes`` are the nodes left to recognize, in topological order (constant-producing and
    pass-through nodes removed); ``constants`` hold every constant tensor's value;
    ``aliases`` map a pass-through output to the tensor it forwards; ``shapes`` and
    ``elem_types`` describe every tensor; ``datatypes`` are FINN ``finn_datatype``
    annotations."""

    path: str
    model: onnx.ModelProto
    standard: onnx.ModelProto
    inputs: list[str]
    outputs: list[str]
    nodes: list[onnx.NodeProto]
    constants: dict[str, np.ndarray]
    aliases: dict[str, str]
    shapes: dict[str, tuple[int, ...]]
    elem_types: dict[str, int]
    datatypes: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        """Follow pass-through aliases to the tensor that really holds the data."""
        while name in self.aliases:
            name = self.aliases[name]
        return name

    @property
    def opset(self) -> int:
        return default_opset(self.model)


def default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 1


def parse_input_shapes(specs: list[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``NAME=1x3x32x32`` specifications."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, _, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1 or max(shape) >= 2**63:
            raise InvalidModelError(
                f"--input-shape NAME=D0xD1x... with positive dimensions (below 2^63), got '{spec}'",
                "write e.g. --input-shape input=1x3x32x32",
            )
        shapes[name] = shape
    return shapes


def read_model(path: str | Path) -> onnx.ModelProto:
    """Read and parse an ONNX file (external data included)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidModelError("a readable ONNX file", f"check the path ({e.strerror})", file=str(path)) from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # protobuf raises DecodeError, RuntimeWarning-ish errors, ...
        model = None
    if model is None or not model.HasField("graph") or not model.graph.node:
        kind = "is empty" if not data else "is not a valid ONNX protobuf (truncated or another format?)"
        raise InvalidModelError(
            "an ONNX model (.onnx protobuf with a graph)",
            f"the file {kind}; re-export it with torch.onnx.export, Brevitas or FINN",
            file=str(path),
        )
    require_utf8(model, str(path))
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        try:
            onnx.load_external_data_for_model(model, str(path.parent))
        except Exception as e:
            raise InvalidModelError(
                "the model's external weight files next to it", f"copy them beside the .onnx file ({e})", file=str(path)
            ) from None
    return inline_local_functions(model, str(path))


def inline_local_functions(model: onnx.ModelProto, file: str | None = None) -> onnx.ModelProto:
    """Replace calls of the model's own functions (``torch.onnx.export(...,
    export_modules_as_functions=True)`` writes one per module class, in domains named after the
    Python modules) by their bodies; the functions' domains leave the opset imports. Inlined
    nodes are named ``<call node>/<op type>`` (for nested calls, the outermost call) so that
    diagnostics point at the module."""
    if not model.functions:
        return model
    local = {f.domain for f in model.functions}
    try:
        inlined = onnx.inliner.inline_local_functions(model)
    except Exception as e:
        raise InvalidModelError(
            "model-local functions that can be inlined", f"the ONNX inliner rejects them: {_first_line(e)}", file=file
        ) from None
    _name_after_calls(model.graph, inlined.graph, {(f.domain, f.name) for f in model.functions})
    used = {n.domain for n in inlined.graph.node}
    kept = [o for o in inlined.opset_import if o.domain not in local or o.domain in used]
    del inlined.opset_import[:]
    inlined.opset_import.extend(kept)
    del inlined.functions[:]
    return inlined


def load_model(path: str | Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None,
               max_tensor_mb: float | None = None) -> OnnxGraph:
    """Load, validate and canonicalize the model at ``path`` (see the module docstring); nodes
    no graph output needs are dropped, and a tensor over ``max_tensor_mb`` MiB (default
    :data:`~bnnc.frontend.bounds.DEFAULT_MAX_TENSOR_MB`) is refused (:mod:`.bounds`)."""
    path = Path(path)
    file = str(path)
    limit = limit_bytes(max_tensor_mb)
    model = read_model(path)
    try:
        return _canonicalize(model, file, dict(input_shapes or {}), limit)
    except (InvalidModelError, UnsupportedModelError) as e:
        e.file = e.file or file
        raise


def _name_after_calls(original: onnx.GraphProto, inlined: onnx.GraphProto, functions: set[tuple[str, str]]) -> None:
    """Rename the nodes that replaced each function call after the call node. The inliner
    writes a call's body in place of the call, ending with the nodes that produce the call's
    outputs; where the inlined graph does not line up like that, names stay as they are."""
    nodes, j, renames = list(inlined.node), 0, {}
    for node in original.node:
        if (node.domain, node.op_type) not in functions:
            if j >= len(nodes) or list(nodes[j].output) != list(node.output):
                return
            j += 1
            continue
        pending = {o for o in node.output if o}
        start = j
        while pending and j < len(nodes):
            pending -= set(nodes[j].output)
            j += 1
        if pending:
            return
        for body in nodes[start:j]:
            renames[id(body)] = f"{node.name or node.op_type}/{body.op_type}"
    used = {n.name for n in nodes if id(n) not in renames}
    for body in nodes:
        if id(body) in renames:
            name, k = renames[id(body)], 0
            while name in used:
                k += 1
                name = f"{renames[id(body)]}_{k}"
            used.add(name)
            body.name = name


def _canonicalize(model: onnx.ModelProto, file: str, input_shapes: dict[str, tuple[int, ...]], limit: int) -> OnnxGraph:
    graph = model.graph
    opset = default_opset(model)
    if opset < MIN_OPSET:
        raise UnsupportedModelError(
            f"default-domain opset >= {MIN_OPSET} (found {opset})", "re-export the model with a newer opset", file=file
        )
    _name_nodes(graph)
    prune_to_outputs(model)
    initializers = _read_initializers(graph, file)
    initializer_names = set(initializers)
    inputs = [i for i in graph.input if i.name not in initializer_names]
    unknown = set(input_shapes) - {i.name for i in inputs}
    if unknown:
        raise InvalidModelError(
            f"--input-shape for a graph input ({', '.join(i.name for i in inputs)})",
            f"there is no input named {', '.join(sorted(unknown))}",
            file=file,
        )
    for value_info in inputs:
        _set_static_shape(value_info, input_shapes.get(value_info.name), file)
    del graph.input[:]
    graph.input.extend(inputs)

    _check(_weightless(model, initializers)[0], file)
    try:
        standard = standardize(model)
    except onnx.shape_inference.InferenceError as e:
        raise InvalidModelError("a model that passes ONNX shape inference", f"fix the model ({_first_line(e)})", file=file) from None
    skeleton, weights = _weightless(standard, initializers)
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, strict_mode=True)
    except Exception as e:
        raise InvalidModelError("a model that passes ONNX shape inference", f"fix the model ({_first_line(e)})", file=file) from None
    check_tensor_sizes(inferred, limit, file)
    elem_types = _elem_types(inferred)
    values = _evaluate_everything(skeleton, weights, elem_types, file)
    check_evaluated_sizes(values, standard.graph, limit, file)
    shapes = {name: tuple(int(d) for d in array.shape) for name, array in values.items()}

    runtime = _runtime_tensors(graph)
    constants = {name: values[name] for name in values if name not in runtime}
    constants.update(initializers)
    read = {name for node in graph.node for name in node.input if name} | {o.name for o in graph.output}
    aliases = {}
    nodes = []
    for node in graph.node:
        forwards = node.op_type in PASS_THROUGH_OPS and node.domain in ("", "ai.onnx") and not read & set(node.output[1:])
        if forwards and node.output[0] in runtime:
            aliases[node.output[0]] = node.input[0]
        elif any(o in runtime for o in node.output if o):
            nodes.append(node)
    for value_info in graph.output:
        if value_info.name not in runtime:
            raise UnsupportedModelError(
                "graph outputs that depend on the graph inputs",
                f"output '{value_info.name}' is a constant; remove it from the graph outputs",
                file=file,
            )
    datatypes = {
        a.tensor_name: kv.value
        for a in graph.quantization_annotation
        for kv in a.quant_parameter_tensor_names
        if kv.key == "finn_datatype"
    }
    return OnnxGraph(
        path=file,
        model=model,
        standard=standard,
        inputs=[i.name for i in inputs],
        outputs=[o.name for o in graph.output],
        nodes=nodes,
        constants=constants,
        aliases=aliases,
        shapes=shapes,
        elem_types=elem_types,
        datatypes=datatypes,
    )


def _check(skeleton: onnx.ModelProto, file: str) -> None:
    """Run the ONNX checker on the model's :func:`_weightless` skeleton (whose large
    initializers :func:`_read_initializers` has checked); custom domains that the model uses
    without importing them (as FINN and Brevitas exports do) are imported in it."""
    if not skeleton.graph.output:
        raise InvalidModelError("a graph with at least one output", "this graph declares none; export it with its outputs",
                                file=file)
    missing = {n.domain for n in skeleton.graph.node} - {"", "ai.onnx"} - {o.domain for o in skeleton.opset_import}
    skeleton.opset_import.extend(helper.make_opsetid(domain, 1) for domain in sorted(missing))
    try:
        onnx.checker.check_model(skeleton)
    except Exception as e:
        raise InvalidModelError("a valid ONNX model", f"the ONNX checker rejects it: {_first_line(e)}", file=file) from None


WEIGHTLESS_MIN_ELEMENTS = 1024
"""Initializers of at least this many elements leave the :func:`_weightless` skeleton: shape
inference reads the values only of small integer tensors (shapes, axes, pads)."""

_FEEDABLE = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BOOL,
             onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT16, onnx.TensorProto.UINT16,
             onnx.TensorProto.INT32, onnx.TensorProto.INT64}
"""Element types onnxruntime takes as numpy inputs."""


def _weightless(model: onnx.ModelProto, arrays: Mapping[str, np.ndarray]) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """``model`` without its large numeric initializers that ``arrays`` holds — each becomes a
    graph input of its type and shape — and their values (``arrays``' own, not copies). The
    checker, shape inference and the onnxruntime evaluation run on it with the weights fed as
    inputs, so that the loader holds one decoded copy of the weights beside the model instead
    of serializing and copying the whole model for each (it held about eight float copies)."""
    skeleton = onnx.ModelProto()
    for descriptor, value in model.ListFields():
        if descriptor.name != "graph":
            _copy_field(skeleton, descriptor, value)
    source, graph = model.graph, skeleton.graph
    for descriptor, value in source.ListFields():
        if descriptor.name != "initializer":
            _copy_field(graph, descriptor, value)
    weights = {}
    for tensor in source.initializer:
        if tensor.name in arrays and tensor.data_type in _FEEDABLE and int(np.prod(tensor.dims)) >= WEIGHTLESS_MIN_ELEMENTS:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
            weights[tensor.name] = arrays[tensor.name]
        else:
            graph.initializer.append(tensor)
    return skeleton, weights


def _copy_field(message, descriptor, value) -> None:
    """Set field ``descriptor`` of protobuf ``message`` to (a copy of) ``value``."""
    if isinstance(value, (str, bytes, int, float)):
        setattr(message, descriptor.name, value)
    elif isinstance(value, Message):
        getattr(message, descriptor.name).CopyFrom(value)
    else:  # a repeated field
        getattr(message, descriptor.name).extend(value)


def _read_initializers(graph: onnx.GraphProto, file: str) -> dict[str, np.ndarray]:
    arrays = {}
    for init in graph.initializer:
        try:
            arrays[init.name] = numpy_helper.to_array(init)
        except Exception as e:
            raise InvalidModelError(
                f"initializer '{init.name}' to hold data matching its shape {list(init.dims)}",
                f"the file is corrupt or was written incorrectly ({_first_line(e)})",
                file=file,
            ) from None
    return arrays


def _name_nodes(graph: onnx.GraphProto) -> None:
    """Give unnamed nodes a stable name (``OpType_index``) so diagnostics can name them."""
    used = {n.name for n in graph.node if n.name}
    for index, node in enumerate(graph.node):
        if not node.name:
            candidate = f"{node.op_type}_{index}"
            while candidate in used:
                candidate += "_"
            node.name = candidate
            used.add(candidate)


def _set_static_shape(value_info: onnx.ValueInfoProto, override: tuple[int, ...] | None, file: str) -> None:
    tensor_type = value_info.type.tensor_type
    dims = tensor_type.shape.dim
    if override is not None:
        if tensor_type.HasField("shape") and len(dims) != len(override):
            raise InvalidModelError(
                f"a shape of rank {len(dims)} for input '{value_info.name}'",
                f"--input-shape gives rank {len(override)}",
                file=file,
            )
        del dims[:]
        for d in override:
            dims.add().dim_value = d
        return
    if not tensor_type.HasField("shape"):
        raise UnsupportedModelError(
            f"a static shape for graph input '{value_info.name}' (it has none)",
            f"pass --input-shape {value_info.name}=1x3x32x32 (the real dimensions)",
            file=file,
        )
    def static(d: onnx.TensorShapeProto.Dimension) -> bool:
        return d.HasField("dim_value") and d.dim_value > 0

    if dims and not static(dims[0]) and all(static(d) for d in dims[1:]):
        dims[0].Clear()
        dims[0].dim_value = 1  # a symbolic batch: compile for one sample; runs stack samples
        return
    for i, d in enumerate(dims):
        if not static(d) and (i > 0 or len(dims) == 1):
            example = "x".join(
                str(x.dim_value) if static(x) else ("1" if j == 0 else (x.dim_param or "D")) for j, x in enumerate(dims)
            )
            raise UnsupportedModelError(
                f"static shapes, but graph input '{value_info.name}' has dynamic dimension {i} ('{d.dim_param or '?'}')",
                f"pass --input-shape {value_info.name}={example} with the real sizes",
                file=file,
            )


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    graph = model.graph
    types = {}
    for value_info in list(graph.input) + list(graph.value_info) + list(graph.output):
        if value_info.type.HasField("tensor_type"):
            types[value_info.name] = value_info.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    return types


def _evaluate_everything(skeleton: onnx.ModelProto, weights: dict[str, np.ndarray], elem_types: dict[str, int],
                         file: str) -> dict[str, np.ndarray]:
    """Run the standardized model's :func:`_weightless` skeleton, with its ``weights`` fed,
    on zeros with every node output exposed as a graph output."""
    probe = onnx.ModelProto()
    probe.CopyFrom(skeleton)
    graph = probe.graph
    existing = {o.name for o in graph.output}
    for node in graph.node:
        for name in node.output:
            if name and name not in existing:
                if name not in elem_types:
                    raise InvalidModelError(
                        "every tensor to have a known element type",
                        f"shape inference could not type '{name}' (output of node '{node.name}', {node.op_type})",
                        file=file, node=node.name, op_type=node.op_type,
                    )
                graph.output.append(helper.make_tensor_value_info(name, elem_types[name], None))
                existing.add(name)
    try:
        # log level 4: a model onnxruntime cannot run is reported once, by us, as one line
        session = reference_session(probe.SerializeToString(), log_severity=4)
        feeds = {
            i.name: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type))
            for i in graph.input
            if i.name not in {t.name for t in graph.initializer} and i.name not in weights
        }
        feeds.update(weights)
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, feeds)
    except Exception as e:
        raise InvalidModelError(
            "a model onnxruntime can run", f"onnxruntime rejected it: {_first_line(e)}", file=file
        ) from None
    values = dict(zip(names, results))
    values.update(feeds)
    for init in graph.initializer:
        values.setdefault(init.name, numpy_helper.to_array(init))
    return values


def _runtime_tensors(graph: onnx.GraphProto) -> set[str]:
    """Tensors whose value depends on the graph inputs (shape-only ops excepted)."""
    initializers = {t.name for t in graph.initializer}
    runtime = {i.name for i in graph.input if i.name not in initializers}
    for node in graph.node:
        if node.op_type in SHAPE_ONLY_OPS and node.domain in ("", "ai.onnx"):
            continue
        type_only = TYPE_ONLY_INPUTS.get(node.op_type, set()) if node.domain in ("", "ai.onnx") else set()
        reads = [name for i, name in enumerate(node.input) if name and i not in type_only]
        if any(name in runtime for name in reads) or _reads_outer_runtime(node, runtime):
            runtime.update(o for o in node.output if o)
    return runtime


def _reads_outer_runtime(node: onnx.NodeProto, runtime: set[str]) -> bool:
    """Whether a control-flow node's subgraphs read a runtime tensor of the outer graph."""
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in graphs:
            for inner in sub.node:
                if any(name in runtime for name in inner.input):
                    return True
    return False


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
