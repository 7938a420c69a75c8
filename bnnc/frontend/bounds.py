"""Bounded work at load: only what the graph outputs need is evaluated, and no tensor larger
than a limit is ever computed.

A model's size says nothing about the work it asks for: a 1 KB model may hold a
``ConstantOfShape`` of 2 GiB. :func:`prune_to_outputs` drops the nodes no graph output
depends on (onnxruntime would compute them all, in the loader and in the golden reference);
:func:`check_tensor_sizes` refuses, before anything runs, a graph input or node output whose
statically known size exceeds the limit, naming the node and the size, and is called again on
the evaluated tensors for sizes only evaluation could tell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx
from onnx import helper

from bnnc.ir import BnncError

from .errors import UnsupportedModelError

DEFAULT_MAX_TENSOR_MB = 1024
"""The default limit on one tensor, in MiB: onnxruntime's own limit for folding a constant
(``constant_folding.cc``: 1 GiB); ``--max-tensor-mb`` / ``max_tensor_mb`` raise it."""


def _graph_reads(node: onnx.NodeProto) -> Iterable[str]:
    """The tensor names ``node`` reads, including those its subgraphs (``If``/``Loop``/``Scan``
    bodies) read from the outer scope, and the names a subgraph outputs (which may be outer
    tensors); an over-approximation: names defined inside the subgraphs are included too."""
    yield from (name for name in node.input if name)
    for attribute in node.attribute:
        for sub in ([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)):
            for inner in sub.node:
                yield from _graph_reads(inner)
            yield from (o.name for o in sub.output)


def prune_to_outputs(model: onnx.ModelProto) -> int:
    """Remove, in place, every node of the main graph that no graph output depends on; the
    order of the others is kept. Returns the number of nodes removed."""
    graph = model.graph
    producer = {name: node for node in graph.node for name in node.output if name}
    needed: set[int] = set()
    pending = [o.name for o in graph.output]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            pending.extend(_graph_reads(node))
    dead = [i for i, node in enumerate(graph.node) if id(node) not in needed]
    for i in reversed(dead):
        del graph.node[i]
    return len(dead)


def limit_bytes(max_tensor_mb: float | None) -> int:
    """The limit in bytes for ``max_tensor_mb`` MiB (None: the default); a limit that is not a
    positive finite number is refused."""
    value = DEFAULT_MAX_TENSOR_MB if max_tensor_mb is None else max_tensor_mb
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
        raise BnncError(f"--max-tensor-mb (max_tensor_mb) takes a positive number of MiB, e.g. 4096; got {max_tensor_mb!r}")
    return int(value * 2**20)


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def refuse_tensor(name: str, size: int, limit: int, *, shape: tuple[int, ...], dtype: str,
                  node: onnx.NodeProto | None, file: str | None) -> UnsupportedModelError:
    """The error for tensor ``name`` of ``size`` bytes over ``limit``."""
    what = f"output '{name}'" if node is not None else f"graph input '{name}'"
    return UnsupportedModelError(
        f"tensors of at most {_megabytes(limit)}, but {what} is {dtype}{list(shape)}, {_megabytes(size)}",
        f"if the model really needs it, raise the limit with --max-tensor-mb {int(np.ceil(size / 2**20))} "
        "(Python: max_tensor_mb=...)",
        file=file, node=node.name if node is not None else None, op_type=node.op_type if node is not None else None,
    )


def _static_size(value_info: onnx.ValueInfoProto) -> tuple[tuple[int, ...], int, str] | None:
    """(shape, bytes, dtype name) of a tensor whose shape is fully known, else None."""
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
        return None
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    except (KeyError, TypeError, ValueError):
        return None
    shape = tuple(int(d.dim_value) for d in dims)
    return shape, int(np.prod(shape, dtype=object)) * dtype.itemsize, dtype.name


def check_tensor_sizes(inferred: onnx.ModelProto, limit: int, file: str | None) -> None:
    """Refuse the first graph input or node output of ``inferred`` (a shape-inferred model)
    whose statically known size exceeds ``limit`` bytes."""
    graph = inferred.graph
    producer = {name: node for node in graph.node for name in node.output if name}
    for value_info in [*graph.input, *graph.value_info, *graph.output]:
        known = _static_size(value_info)
        if known is not None and known[1] > limit:
            shape, size, dtype = known
            raise refuse_tensor(value_info.name, size, limit, shape=shape, dtype=dtype,
                                node=producer.get(value_info.name), file=file)


def check_evaluated_sizes(values: Mapping[str, np.ndarray], graph: onnx.GraphProto, limit: int, file: str | None) -> None:
    """Refuse an evaluated tensor over ``limit`` bytes (sizes shape inference could not tell)."""
    producer = {name: node for node in graph.node for name in node.output if name}
    for name, array in values.items():
        if array.nbytes > limit and name in producer:
            raise refuse_tensor(name, array.nbytes, limit, shape=array.shape, dtype=array.dtype.name,
                                node=producer[name], file=file)
