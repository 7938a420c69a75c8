"""Running a compiled program on ONNX-named inputs: samples stacked along the batch axis,
inputs cast to the ONNX input dtypes, random inputs of the right kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from bnnc.backends.simulator import simulate
from bnnc.ir import BnncError, Module
from bnnc.ir.parser import NPZ_ERRORS, read_npz

from .samples import random_arguments


def _sample_count(declared: tuple[int, ...], array: np.ndarray, name: str) -> int:
    if tuple(array.shape) == declared:
        return 1
    if declared and declared[0] == 1 and array.ndim == len(declared) and tuple(array.shape[1:]) == declared[1:]:
        return int(array.shape[0])
    raise BnncError(
        f"input '{name}' has shape {tuple(array.shape)}; expected {declared} "
        f"(or samples stacked along the first axis: Nx{'x'.join(map(str, declared[1:]))})"
    )


def run_program(
    module: Module, inputs: Mapping[str, np.ndarray], runner: Callable = simulate, outputs: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Run the compiled program on ONNX-named inputs (samples may be stacked along the first
    axis where the model's batch is 1; an input given one sample is shared by all); outputs keyed by ONNX output name (or ``outputs``),
    stacked likewise, in the dtype ONNX declares for them. ``runner`` is the fast simulator by
    default; the reference interpreter (``interpret_batch``) computes the same numbers."""
    function = module.function("main")
    names = list(function.attributes["inputs"])
    missing = [n for n in names if n not in inputs]
    if missing:
        raise BnncError(f"no input array for {', '.join(missing)} (the model's inputs are {', '.join(names)})")
    counts = {n: _sample_count(arg.type.shape, np.asarray(inputs[n]), n) for n, arg in zip(names, function.args)}
    distinct = set(counts.values()) - {1} or set(counts.values())
    if len(distinct) != 1:
        raise BnncError("inputs carry different numbers of samples: "
                        + ", ".join(f"'{n}' {c}" for n, c in counts.items()) + "; give each the same number, or 1 to share it")
    count = distinct.pop()
    if count < 1:
        raise BnncError("the inputs hold no samples")
    # An input with one sample (e.g. one without a batch axis) is shared by every sample, as
    # onnxruntime sees it when the batched inputs are run one sample at a time.
    stacked = [np.broadcast_to(np.asarray(inputs[n]).reshape((counts[n],) + arg.type.shape), (count,) + arg.type.shape)
               for n, arg in zip(names, function.args)]
    results = runner(module, stacked)
    named = {}
    for name, value, result in zip(outputs or function.attributes["outputs"], function.return_op.operands, results):
        shape = value.type.shape
        named[name] = result.reshape((count * shape[0],) + shape[1:]) if shape and shape[0] == 1 else result
    return named


def onnx_inputs_to_domain(module: Module, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cast user inputs to the ONNX input dtypes (npz files often hold float64). Nothing is
    rounded, wrapped or clipped silently: an input that is not numeric, a float with
    non-integer values for an integer input, or a value outside the input type's range is an
    error; an input the model does not have is one too."""
    names = onnx_dtypes(module)
    unknown = [name for name in inputs if name not in names]
    if unknown:
        raise BnncError(f"no model input named {', '.join(repr(n) for n in unknown)} (the model's inputs are {', '.join(names)})")
    cast = {}
    for name, dtype in names.items():
        if name not in inputs:
            continue
        array = np.asarray(inputs[name])
        if array.dtype.kind not in "biuf":
            raise BnncError(f"input '{name}' holds {array.dtype} values; the model takes {dtype}")
        if array.dtype.kind == "f" and np.isnan(array).any():
            raise BnncError(f"input '{name}' holds NaN values, which no binarizer can decide; give finite values")
        if dtype.kind in "iu":
            if array.dtype.kind == "f" and not (np.isfinite(array).all() and np.array_equal(array, np.round(array))):
                raise BnncError(f"input '{name}' holds non-integer values but the model takes {dtype}")
            info = np.iinfo(dtype)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise BnncError(f"input '{name}' holds values in [{array.min()}, {array.max()}], outside {dtype}'s "
                                f"[{info.min}, {info.max}]")
        cast[name] = array.astype(dtype)
    return cast


def onnx_dtypes(module: Module) -> dict[str, np.dtype]:
    """The ONNX input dtypes the program's arguments stand for (the function attribute
    ``input_dtypes`` the importer records; the argument domains' dtypes where it is absent)."""
    function = module.function("main")
    names = list(function.attributes["inputs"])
    recorded = function.attributes.get("input_dtypes")
    if recorded is not None:
        return {n: np.dtype(d) for n, d in zip(names, recorded)}
    return {n: np.dtype(arg.type.domain.dtype) for n, arg in zip(names, function.args)}


def random_inputs(module: Module, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` random samples per ONNX input (stacked along the batch axis), of the kind the
    program reads (see :func:`bnnc.samples.random_arguments`), in the ONNX input dtypes."""
    function = module.function("main")
    samples = {}
    for (name, dtype), arg, data in zip(onnx_dtypes(module).items(), function.args, random_arguments(function, count, seed)):
        shape = arg.type.shape
        stacked = data.reshape((count * shape[0],) + shape[1:]) if shape and shape[0] == 1 else data[0, ...]
        samples[name] = stacked.astype(dtype)
    return samples


def read_inputs(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of the inputs file ``path`` (an .npz keyed by ONNX input names), or a
    :class:`BnncError` naming the file."""
    try:
        return read_npz(Path(path))
    except NPZ_ERRORS as e:
        raise BnncError(f"{path}: cannot read input arrays ({e}); expected an .npz written by numpy.savez") from None
