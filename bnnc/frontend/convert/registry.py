"""The converter registry: one function per ONNX op type (and domain), as onnx2torch's
``add_converter`` and onnx-mlir's per-op lowerings are keyed.

A converter is called with the :class:`~bnnc.frontend.convert.context.Context` and the node.
It defines the node's output in ``ctx.tensors`` (emitting ``bnn`` ops as needed), or raises
:class:`~bnnc.frontend.convert.context.NotMappable` to leave the node to a host partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import onnx

from ..standardize import STANDARD_DOMAINS
from .context import Context

Converter = Callable[[Context, onnx.NodeProto], None]

CONVERTERS: dict[tuple[str, str], Converter] = {}
"""The converter of each ``(domain, op_type)``."""


def converter(*op_types: str, domains: Iterable[str] = STANDARD_DOMAINS) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of ``op_types`` in ``domains`` (by
    default the standard ONNX domain, under both of its names)."""
    domains = tuple(domains)

    def register(function: Converter) -> Converter:
        for domain in domains:
            for op_type in op_types:
                if (domain, op_type) in CONVERTERS:
                    raise ValueError(f"two converters for op {op_type} of domain '{domain}'")
                CONVERTERS[(domain, op_type)] = function
        return function

    return register
