"""The compiler driver: ONNX model → bnn IR → pass pipeline, running the compiled program, and
the golden check against onnxruntime on the source model."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from bnnc.backends.interpreter import interpret_batch
from bnnc.backends.simulator import simulate
from bnnc.errors import BnncError
from bnnc.frontend import OnnxGraph, import_onnx
from bnnc.frontend.reference import run_reference
from bnnc.ir import Module, Return, clone_module
from bnnc.passes import PassContext, PassManager

from .samples import random_arguments

def default_pipeline(
    scheme: str = "auto", sign_zero: str = "exact", rows: int = 128, cols: int = 128,
    max_arrays: int = 0, target_fps: float = 0.0,
) -> str:
    """What ``bnnc model.onnx`` runs when no ``-p`` is given (``replicate`` only with a budget
    or a target)."""
    pipeline = (
        f"canonicalize,fuse-bn-binarize{{sign-zero={sign_zero}}},canonicalize,pool-to-bits,"
        f"sign-convert{{scheme={scheme},rows={rows},cols={cols}}},canonicalize,tile{{rows={rows},cols={cols}}},dce"
    )
    if max_arrays > 0 or target_fps > 0:
        options = [f"max-arrays={max_arrays}"] if max_arrays > 0 else []
        options += [f"target-fps={target_fps:g}"] if target_fps > 0 else []
        pipeline += f",replicate{{{','.join(options)}}}"
    return pipeline


DEFAULT_PIPELINE = default_pipeline()


@dataclass
class Compilation:
    """The result of compiling one model."""

    module: Module
    source: Module
    graph: OnnxGraph
    context: PassContext
    pipeline: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def sign_zero_policy(self) -> str:
        """The ``sign-zero`` option of the pipeline's fusion pass (``exact`` if absent)."""
        from bnnc.passes import parse_pipeline

        for p in parse_pipeline(self.pipeline):
            if p.name == "fuse-bn-binarize":
                return p.sign_zero
        return "exact"


def compile_model(
    path: str | Path,
    pipeline: str = DEFAULT_PIPELINE,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    manager_options: Mapping[str, object] | None = None,
    context: PassContext | None = None,
) -> Compilation:
    """Load ``path``, recognize it into the bnn dialect and run ``pipeline`` on it."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    module, graph = import_onnx(path, input_shapes)
    source = clone_module(module)
    timings["load"] = time.perf_counter() - start
    start = time.perf_counter()
    manager = PassManager.from_pipeline(pipeline, **dict(manager_options or {}))
    context = manager.run(module, context or PassContext())
    timings["passes"] = time.perf_counter() - start
    return Compilation(module, source, graph, context, pipeline, timings)


# ------------------------------------------------------------------ running the program


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
    axis where the model's batch is 1); outputs keyed by ONNX output name (or ``outputs``),
    stacked likewise, in the dtype ONNX declares for them. ``runner`` is the fast simulator by
    default; the reference interpreter (``interpret_batch``) computes the same numbers."""
    function = module.function("main")
    names = list(function.attributes["inputs"])
    missing = [n for n in names if n not in inputs]
    if missing:
        raise BnncError(f"no input array for {', '.join(missing)} (the model's inputs are {', '.join(names)})")
    counts = {_sample_count(arg.type.shape, np.asarray(inputs[n]), n) for n, arg in zip(names, function.args)}
    if len(counts) != 1:
        raise BnncError(f"inputs carry different numbers of samples: {sorted(counts)}")
    count = counts.pop()
    stacked = [np.asarray(inputs[n]).reshape((count,) + arg.type.shape) for n, arg in zip(names, function.args)]
    results = runner(module, stacked)
    named = {}
    for name, value, result in zip(outputs or function.attributes["outputs"], function.return_op.operands, results):
        shape = value.type.shape
        named[name] = result.reshape((count * shape[0],) + shape[1:]) if shape and shape[0] == 1 else result
    return named


def onnx_inputs_to_domain(module: Module, graph: OnnxGraph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cast user inputs to the ONNX input dtypes (npz files often hold float64)."""
    cast = {}
    for name in graph.inputs:
        array = np.asarray(inputs[name]) if name in inputs else None
        if array is None:
            continue
        dtype = onnx.helper.tensor_dtype_to_np_dtype(graph.elem_types[name])
        converted = array.astype(dtype)
        if not np.array_equal(converted, array, equal_nan=True) and array.dtype.kind == "f" and dtype.kind in "iu":
            raise BnncError(f"input '{name}' holds non-integer values but the model takes {dtype}")
        cast[name] = converted
    return cast


# ------------------------------------------------------------------ golden check


def random_inputs(module: Module, graph: OnnxGraph, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` random samples per ONNX input (stacked along the batch axis), of the kind the
    program reads (see :func:`bnnc.samples.random_arguments`), in the ONNX input dtypes."""
    function = module.function("main")
    samples = {}
    for name, arg, data in zip(graph.inputs, function.args, random_arguments(function, count, seed)):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(graph.elem_types[name])
        shape = arg.type.shape
        stacked = data.reshape((count * shape[0],) + shape[1:]) if shape and shape[0] == 1 else data[0]
        samples[name] = stacked.astype(dtype)
    return samples


@dataclass
class GoldenResult:
    """Outcome of comparing the compiled program with onnxruntime on the source model."""

    inputs: int
    exact: bool
    max_abs_err: float
    sign_zero_events: int
    mismatches: list[str]

    def to_json(self) -> dict:
        return {"inputs": self.inputs, "exact": self.exact, "max_abs_err": self.max_abs_err, "sign_zero_events": self.sign_zero_events}

    def summary(self) -> str:
        if self.sign_zero_events:
            events = f"; {self.sign_zero_events} Sign(0) events resolved by the --sign-zero policy"
        else:
            events = ""
        if self.exact:
            return f"bit-exact against onnxruntime on {self.inputs} inputs (float outputs within 1e-5 relative, max abs error {self.max_abs_err:.3g}){events}"
        return f"MISMATCH against onnxruntime on {self.inputs} inputs: " + "; ".join(self.mismatches) + events


FLOAT_RTOL = 1e-5


def golden_check(compilation: Compilation, inputs: Mapping[str, np.ndarray], runner: Callable = simulate) -> GoldenResult:
    """Run the source model in onnxruntime (graph optimizations off) and the compiled program on
    the same inputs; integer and binary outputs must be equal, float outputs within 1e-5
    relative."""
    reference = run_reference(compilation.graph.model, dict(inputs))
    ours = run_program(compilation.module, inputs, runner)
    function = compilation.module.function("main")
    samples = next(iter(ours.values())).shape[0] if ours else 0
    mismatches: list[str] = []
    max_err = 0.0
    for name, value in zip(function.attributes["outputs"], function.return_op.operands):
        ref, got = np.asarray(reference[name]), np.asarray(ours[name])
        if ref.shape != got.shape:
            mismatches.append(f"output '{name}' has shape {got.shape}, onnxruntime gives {ref.shape}")
            continue
        exact_output = ref.dtype.kind in "iub" or _binary_valued(compilation.module, value)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        if diff.size:
            max_err = max(max_err, float(np.nanmax(diff)))
        if exact_output:
            bad = int(np.count_nonzero(got != ref))
        else:
            bad = int(np.count_nonzero(~np.isclose(got, ref, rtol=FLOAT_RTOL, atol=FLOAT_RTOL * max(1.0, float(np.abs(ref).max(initial=0))))))
        if bad:
            mismatches.append(f"output '{name}': {bad} of {ref.size} values differ (max abs error {float(diff.max()):.3g})")
    events = 0
    if compilation.sign_zero_policy != "exact":
        events = count_sign_zero_events(compilation, inputs)
    return GoldenResult(samples, not mismatches, max_err, events, mismatches)


def count_sign_zero_events(compilation: Compilation, inputs: Mapping[str, np.ndarray]) -> int:
    """How often an ONNX ``Sign`` that the compiled program resolves by the sign-zero policy
    (a fused binarizer with reachable ties) saw exactly 0, on ``inputs``: the source module,
    with those signs' outputs exposed, runs in the interpreter."""
    fused = {name for op in compilation.module.function("main").ops if op.name == "xbar.compare" for name in op.location.names}
    probe = clone_module(compilation.source)
    function = probe.function("main")
    signs = [op for op in function.ops if op.name == "bnn.sign" and op.attr("zero") == "zero" and op.location.names and op.location.names[0] in fused]
    if not signs:
        return 0
    function.ops[-1].drop_operand_uses()
    function.ops.pop()
    function.append(Return([op.result for op in signs]))
    outputs = run_program(probe, inputs, interpret_batch, outputs=[f"sign{i}" for i in range(len(signs))])
    return int(sum(np.count_nonzero(out == 0) for out in outputs.values()))



def _binary_valued(module: Module, value) -> bool:
    """Whether a returned value is integer-valued in the IR (then it must match exactly)."""
    while value.producer is not None and value.producer.name == "bnn.convert":
        value = value.producer.operands[0]
    return value.type.domain.is_integer
