"""The golden check: the compiled program against onnxruntime on the source model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from bnnc.backends.interpreter import interpret_batch
from bnnc.backends.simulator import simulate
from bnnc.frontend.reference import run_reference
from bnnc.ir import Module, Return, Value, clone_module
from bnnc.ir.diagnostics import plural
from bnnc.ir.dialects import bnn, xbar

from .program import run_program


@dataclass
class GoldenResult:
    """Outcome of comparing the compiled program with onnxruntime on the source model."""

    inputs: int
    exact: bool
    max_abs_err: float
    sign_zero_events: int
    mismatches: list[str]
    outputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """The compiled program's outputs on the checked inputs (ONNX output names)."""

    def to_json(self) -> dict:
        return {"inputs": self.inputs, "exact": self.exact, "max_abs_err": self.max_abs_err, "sign_zero_events": self.sign_zero_events}

    def summary(self) -> str:
        if self.sign_zero_events:
            events = f"; {self.sign_zero_events} Sign(0) events resolved by the --sign-zero policy"
        else:
            events = ""
        if self.exact:
            return f"bit-exact against onnxruntime on {plural(self.inputs, 'input')} (float outputs within 1e-5 relative, max abs error {self.max_abs_err:.3g}){events}"
        return f"MISMATCH against onnxruntime on {plural(self.inputs, 'input')}: " + "; ".join(self.mismatches) + events


FLOAT_RTOL = 1e-5


def golden_check(module: Module, source: Module, model: onnx.ModelProto, inputs: Mapping[str, np.ndarray],
                 runner: Callable = simulate) -> GoldenResult:
    """Run the source ``model`` in onnxruntime (graph optimizations off) and the compiled
    program ``module`` on the same inputs; integer and binary outputs must be equal, float
    outputs within 1e-5 relative. Where the program resolves reachable Sign(0) ties by a
    sign-zero policy, the events are counted on the ``source`` module (the imported IR)."""
    ours = run_program(module, inputs, runner)  # first: it checks the inputs' names and shapes
    reference = run_reference(model, dict(inputs))
    function = module.function("main")
    samples = next(iter(ours.values())).shape[0] if ours else 0
    mismatches: list[str] = []
    max_err = 0.0
    for name, value in zip(function.attributes["outputs"], function.return_op.operands):
        ref, got = np.asarray(reference[name]), np.asarray(ours[name])
        if ref.shape != got.shape:
            mismatches.append(f"output '{name}' has shape {got.shape}, onnxruntime gives {ref.shape}")
            continue
        exact_output = ref.dtype.kind in "iub" or _binary_valued(value)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        if diff.size:
            max_err = max(max_err, float(np.nanmax(diff)))
        if exact_output:
            bad = int(np.count_nonzero(got != ref))
        else:
            bad = int(np.count_nonzero(~np.isclose(got, ref, rtol=FLOAT_RTOL, atol=FLOAT_RTOL * max(1.0, float(np.abs(ref).max(initial=0))))))
        if bad:
            mismatches.append(f"output '{name}': {bad} of {ref.size} values differ (max abs error {float(diff.max()):.3g})")
    return GoldenResult(samples, not mismatches, max_err, count_sign_zero_events(module, source, inputs), mismatches, ours)


def policy_resolved_layers(module: Module) -> set[str]:
    """The ONNX nodes fused into comparators that resolve reachable Sign(0) ties by the
    sign-zero policy (``ties`` listed, one level) instead of exactly."""
    return {
        name for op in module.function("main").ops
        if isinstance(op, (bnn.Compare, xbar.Compare)) and op.attr("ties") and op.const_type("thresholds").shape[2] == 1
        for name in op.location.names
    }


def count_sign_zero_events(module: Module, source: Module, inputs: Mapping[str, np.ndarray]) -> int:
    """How often an ONNX ``Sign`` that the compiled program resolves by the sign-zero policy saw
    exactly 0, on ``inputs``: the ``source`` module, with those signs' outputs exposed, runs in
    the interpreter."""
    resolved = policy_resolved_layers(module)
    if not resolved:
        return 0
    probe = clone_module(source)
    function = probe.function("main")
    signs = [op for op in function.ops if op.name == "bnn.sign" and op.attr("zero") == "zero" and op.location.names and op.location.names[0] in resolved]
    if not signs:
        return 0
    function.ops[-1].drop_operand_uses()
    function.ops.pop()
    function.append(Return([op.result for op in signs]))
    outputs = run_program(probe, inputs, interpret_batch, outputs=[f"sign{i}" for i in range(len(signs))])
    return int(sum(np.count_nonzero(out == 0) for out in outputs.values()))


def _binary_valued(value: Value) -> bool:
    """Whether a returned value is integer-valued in the IR (then it must match exactly)."""
    while value.producer is not None and value.producer.name == "bnn.convert":
        value = value.producer.operands[0]
    return value.type.domain.is_integer
