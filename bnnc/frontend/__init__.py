"""The ONNX frontend: load and canonicalize a model, recognize it into the ``bnn`` dialect."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bnnc.ir import Module

from .errors import FrontendError, InvalidModelError, UnsupportedModelError
from .importer import import_model
from .loader import OnnxGraph, load_model


def import_onnx(path: str | Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> tuple[Module, OnnxGraph]:
    """Load the ONNX model at ``path`` and return its bnn-dialect module and the loaded graph."""
    graph = load_model(path, input_shapes)
    try:
        return import_model(graph), graph
    except FrontendError as e:
        e.file = e.file or graph.path
        raise


__all__ = ["import_onnx", "load_model", "import_model", "OnnxGraph", "FrontendError", "InvalidModelError", "UnsupportedModelError"]
