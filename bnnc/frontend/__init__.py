"""The ONNX frontend: load and canonicalize a model, recognize it into the ``bnn`` dialect."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from onnx import helper

from bnnc.ir import Module

from .errors import FrontendError, InvalidModelError, UnsupportedModelError
from .importer import import_model
from .loader import OnnxGraph, load_model


def import_onnx(path: str | Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None,
                max_tensor_mb: float | None = None) -> tuple[Module, OnnxGraph]:
    """Load the ONNX model at ``path`` and return its bnn-dialect module (recording the ONNX
input dtypes as the function attribute ``input_dtypes``) and the loaded graph; a tensor over
``max_tensor_mb`` MiB is refused (:func:`load_model`)."""
    graph = load_model(path, input_shapes, max_tensor_mb)
    try:
        module = import_model(graph)
    except FrontendError as e:
        e.file = e.file or graph.path
        raise
    module.function("main").attributes["input_dtypes"] = tuple(
        np.dtype(helper.tensor_dtype_to_np_dtype(graph.elem_types[name])).name for name in graph.inputs)
    return module, graph


__all__ = ["import_onnx", "load_model", "import_model", "OnnxGraph", "FrontendError", "InvalidModelError", "UnsupportedModelError"]
