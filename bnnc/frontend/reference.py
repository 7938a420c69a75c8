"""The golden reference: onnxruntime on the standardized model, unoptimized.

The reference follows the ONNX operator specifications as onnxruntime's CPU
kernels implement them: graph optimizations are disabled
(``ORT_DISABLE_ALL``), because the default level fuses BatchNormalization into
Conv/Gemm and moves float results by ~1e-5; one intra-op thread keeps float
reductions in a fixed order. QONNX/FINN custom ops are first rewritten by
:func:`bnnc.frontend.standardize.standardize`.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from bnnc.backends.onnx_session import reference_session as onnx_reference_session
from bnnc.frontend.standardize import standardize

__all__ = ["reference_session", "run_session", "run_reference"]


def reference_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """An onnxruntime CPU session on ``standardize(model)`` with graph
    optimizations disabled and a single intra-op thread."""
    return onnx_reference_session(standardize(model).SerializeToString())


def _batched_inputs(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> tuple[set[str], int]:
    """The given inputs whose graph input has a fixed first dimension of 1 but
    which carry more samples along axis 0, and their common sample count
    (0 when there are none, so one run suffices)."""
    names = {
        arg.name
        for arg in session.get_inputs()
        if arg.shape and arg.shape[0] == 1 and arg.name in inputs
        and inputs[arg.name].ndim == len(arg.shape) and inputs[arg.name].shape[0] > 1
    }
    counts = {inputs[name].shape[0] for name in names}
    if len(counts) > 1:
        raise ValueError(f"inputs with a fixed batch of 1 carry different sample counts {sorted(counts)}")
    return names, (counts.pop() if counts else 0)


def run_session(session: ort.InferenceSession, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``session`` on ``inputs``; outputs keyed by ONNX output name.

    Where a graph input's first dimension is the fixed value 1 and the given
    array has more samples along axis 0, the model runs once per sample (those
    inputs sliced to ``[i:i+1]``, all others passed whole) and each output is
    concatenated along axis 0 (0-d outputs are stacked instead).
    """
    names = [o.name for o in session.get_outputs()]
    batched, count = _batched_inputs(session, inputs)
    if count == 0:
        return dict(zip(names, session.run(names, inputs)))
    runs = [
        session.run(names, {k: (v[i : i + 1] if k in batched else v) for k, v in inputs.items()})
        for i in range(count)
    ]
    return {
        name: np.concatenate(parts) if parts[0].ndim else np.stack(parts)
        for name, parts in zip(names, zip(*runs))
    }


def run_reference(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``model`` in the reference session (see :func:`run_session`)."""
    return run_session(reference_session(model), inputs)
