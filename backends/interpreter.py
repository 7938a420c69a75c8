"""The reference interpreter: runs a function op by op with the reference semantics of
:mod:`bnnc.backends.semantics` (registered per op class with :func:`implements`), checking
every result against the op's declared type (shape, numpy dtype of the domain and, for
``pm1``/``tern``/``bit``, the values themselves).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bnnc.ir import Domain, Module, Operation, TensorType
from bnnc.ir.diagnostics import plural

from .semantics import InterpreterError, implemented_ops, implements, semantics_of
from .semantics.core import DOMAIN_VALUES, to_domain

__all__ = ["InterpreterError", "interpret", "interpret_batch", "implements", "implemented_ops", "sample_count",
           "semantics_of", "to_domain"]


def interpret(module: Module, inputs: Sequence[np.ndarray], function: str = "main") -> list[np.ndarray]:
    """Run ``function`` of ``module`` on one set of ``inputs`` (one array per argument, of exactly
    the declared shape; values are converted to the argument's domain dtype, and a value outside
    the domain is refused). Returns one array per returned value, in its domain's dtype."""
    try:
        func = module.function(function)
    except KeyError:
        raise InterpreterError(f"module has no function @{function}") from None
    if len(inputs) != len(func.args):
        raise InterpreterError(f"@{function} takes {plural(len(func.args), 'input')}, got {len(inputs)}")

    env: dict[int, np.ndarray] = {}
    for i, (arg, array) in enumerate(zip(func.args, inputs)):
        what = f"argument {i} (%arg{i}: {arg.type}) of @{function}"
        env[id(arg)] = _frozen(_argument(array, arg.type, what))

    for op in func.ops:
        semantics = semantics_of(op.name)
        if semantics is None:
            raise InterpreterError.at(op, f"no interpreter semantics for op {op.name}")
        args = []
        for index, value in enumerate(op.operands):
            if id(value) not in env:
                raise InterpreterError.at(op, f"operand {index} is used before it is defined")
            args.append(env[id(value)])
        try:
            outputs = list(semantics(op, args))
        except InterpreterError:
            raise
        except Exception as e:  # a numpy/onnxruntime failure inside an op still names the op
            raise InterpreterError.at(op, f"{type(e).__name__}: {e}") from e
        if op.name == "return":
            return [np.array(a, copy=True) for a in outputs]
        if len(outputs) != len(op.results):
            raise InterpreterError.at(op, f"semantics produced {len(outputs)} results, the op declares {len(op.results)}")
        for value, array in zip(op.results, outputs):
            _check_result(op, value.index, array, value.type)
            env[id(value)] = _frozen(array)
    raise InterpreterError(f"function @{function} does not end in 'return'")


def interpret_batch(module: Module, inputs: Sequence[np.ndarray], function: str = "main") -> list[np.ndarray]:
    """:func:`interpret` over a batch: every input has an extra leading axis of samples; runs
    sample by sample and stacks each output along a new leading axis."""
    arrays = [np.asarray(x) for x in inputs]
    samples = sample_count(arrays, InterpreterError, "interpret_batch")
    if samples == 0:
        try:
            types = module.function(function).result_types
        except Exception as e:
            raise InterpreterError(str(e)) from None
        return [np.empty((0,) + t.shape, dtype=t.domain.dtype) for t in types]
    runs = [interpret(module, [a[s] for a in arrays], function) for s in range(samples)]
    return [np.stack(outs) for outs in zip(*runs)]


def sample_count(arrays: list[np.ndarray], error: type[Exception], who: str) -> int:
    """The common length of the leading sample axis of ``arrays`` (1 for no arrays)."""
    if any(a.ndim == 0 for a in arrays):
        raise error(f"{who} needs a leading sample axis on every input")
    counts = {a.shape[0] for a in arrays}
    if len(counts) > 1:
        raise error(f"inputs hold different numbers of samples: {[a.shape[0] for a in arrays]}")
    return counts.pop() if counts else 1


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view, so that no op's semantics can modify a value another op reads."""
    view = array.view()
    view.flags.writeable = False
    return view


def _argument(array: np.ndarray, declared: TensorType, what: str) -> np.ndarray:
    array = np.asarray(array)
    if tuple(array.shape) != declared.shape:
        raise InterpreterError(f"{what} has shape {tuple(array.shape)}, declared {declared.shape}")
    if array.dtype.kind not in "biuf":
        raise InterpreterError(f"{what} has dtype {array.dtype}, expected numbers")
    if declared.domain is Domain.F32:
        return array.astype(np.float32)  # a real input is rounded to float32, like an ONNX feed
    try:
        return to_domain(array, declared.domain)
    except ValueError as e:
        raise InterpreterError(f"{what}: {e}") from None


def _check_result(op: Operation, index: int, array: np.ndarray, declared: TensorType) -> None:
    if not isinstance(array, np.ndarray):
        raise InterpreterError.at(op, f"result {index} is a {type(array).__name__}, not an array")
    if tuple(array.shape) != declared.shape or array.dtype != declared.domain.dtype:
        raise InterpreterError.at(
            op,
            f"result {index} is {array.dtype}{list(array.shape)}, but its declared type {declared} "
            f"means {declared.domain.dtype}{list(declared.shape)}",
        )
    if not declared.domain.contains(array):
        raise InterpreterError.at(op, f"result {index} holds {_sample_outside(array, declared.domain)}, outside domain {declared.domain.value}")


def _sample_outside(array: np.ndarray, domain: Domain) -> str:
    flat = array.reshape(-1)
    bad = flat[~np.isin(flat, DOMAIN_VALUES[domain])]
    return f"the value {bad[0].item()!r}" if bad.size else "values"
