"""The simulator's driver: :func:`simulate` checks the inputs and runs the samples in chunks,
each chunk a :class:`Run` of a function's cached execution plan (its values numbered by slot)
over the batched kernels registered with :func:`kernel`."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from bnnc.ir import Domain, Function, Module, Operation, TensorType, Value
from bnnc.ir.diagnostics import plural

from ..interpreter import sample_count
from ..semantics.core import to_domain
from .caches import structural
from .cells import ChipCells
from .deferred import PendingReads, PortMatrix
from .device import ColumnCurrents, DeviceModel, DeviceSession
from .errors import SimulatorError
from .packed import PackedBits


Datum = Union[np.ndarray, ColumnCurrents, PortMatrix, PendingReads, PackedBits]
"""A live value: the array the interpreter holds (with the sample axis), or a deferred form
that resolves to it."""

Kernel = Callable[["Run", Operation, list[Datum]], list[Datum]]
"""An op's batched kernel: ``(run, op, operands) -> results``."""

Observer = Callable[[DeviceSession, Operation, list[Datum], list[Datum]], None]
"""Called after every op of a chunk with ``(session, op, operands, results)`` (values as the
kernels see them, deferred forms included); must not modify them. An observer with a
``watches`` attribute (a set of op names) looks only at those ops: the integer path's plan
then keeps each fusion that absorbs none of them (see :data:`Fuser`) and calls the observer
for the watched ops only, a fused op with its operands as its fuser rebuilds them (deferred
forms); without ``watches`` it sees every op, on the unfused plan."""

_KERNELS: dict[str, Kernel] = {}
_ACCEPTS: dict[str, tuple[type, ...]] = {}
_PURE: set[str] = set()


def kernel(*names: str, accepts: tuple[type, ...] = (), pure: bool = False) -> Callable[[Kernel], Kernel]:
    """Decorator: register ``fn(run, op, args) -> results`` as the batched kernel of the ops
    ``names``; ``accepts`` are the deferred forms it takes as they are (every other op gets
    them resolved to the arrays the interpreter holds). A ``pure`` kernel checks nothing and
    does nothing but make its results: a plan leaves out its step where no step reads them
    (a fused step that does its work)."""

    def register(fn: Kernel) -> Kernel:
        for name in names:
            _KERNELS[name] = fn
            _ACCEPTS[name] = accepts
            if pure:
                _PURE.add(name)
        return fn

    return register


def simulated_ops() -> list[str]:
    """The names of every op the simulator can run, sorted."""
    return sorted(_KERNELS)


def simulate(
    module: Module,
    inputs: Sequence[np.ndarray],
    function: str = "main",
    device: DeviceModel | None = None,
    *,
    chunk: int | None = None,
    observe: Observer | None = None,
    cells: ChipCells | None = None,
) -> list[np.ndarray]:
    """Run ``function`` of ``module`` on a batch: every input has a leading sample axis ``N`` and
    otherwise its argument's declared shape; returns each result stacked along ``N``, in its
    domain's dtype — :func:`~bnnc.backends.interpreter.interpret_batch`'s contract and results.
    With ``device`` the arrays run through the analog model (see :mod:`bnnc.backends.simulator`),
    else on integer counts. Samples run in chunks of at most ``chunk`` (by default as many as keep
    the largest intermediate value near :data:`CHUNK_BYTES`), which bounds memory and keeps
    the working set in cache; results do not depend on it. ``observe`` sees every op's operands
    and results (or the ops it watches, :data:`Observer`), chunk by chunk in sample order. ``cells`` (without ``device``) runs a chip's
    cells on the integer path instead of the program's (:mod:`.integer_chips`)."""
    try:
        func = module.function(function)
    except KeyError:
        raise SimulatorError(f"module has no function @{function}") from None
    samples, arrays = _batched_arguments(func, inputs)
    if samples == 0:
        return [np.empty((0,) + t.shape, dtype=t.domain.dtype) for t in func.result_types]
    if cells is not None and device is not None:
        raise SimulatorError("a chip's cells run on the integer path: give cells or a device, not both")
    session = DeviceSession(device, cells)
    if chunk is not None:
        step = max(1, int(chunk))
    else:  # the smallest default chunk holds 16 samples: no need to size one for fewer
        step = samples if samples <= MIN_CHUNK else structural(func, ("chunk", device is not None),
                                                               lambda: _default_chunk(func, device is not None))
    watched = frozenset() if observe is None else getattr(observe, "watches", None)
    plan = _plan(func, fused=device is None and watched is not None, watched=frozenset(watched or ()))
    parts = [Run(func, session, [a[s : s + step] for a in arrays], plan, observe).execute()
             for s in range(0, samples, step)]
    if len(parts) == 1:
        return parts[0]
    return [np.concatenate(outs) for outs in zip(*parts)]


def _batched_arguments(func: Function, inputs: Sequence[np.ndarray]) -> tuple[int, list[np.ndarray]]:
    """The inputs checked against the declared argument types (after the sample axis) and
    converted to their domains' dtypes, and the number of samples."""
    arrays = [np.asarray(x) for x in inputs]
    if len(arrays) != len(func.args):
        raise SimulatorError(f"@{func.name} takes {plural(len(func.args), 'input')}, got {len(arrays)}")
    samples = sample_count(arrays, SimulatorError, "simulate")
    converted = []
    for i, (arg, array) in enumerate(zip(func.args, arrays)):
        what = f"argument {i} (%arg{i}: {arg.type}) of @{func.name}"
        if tuple(array.shape[1:]) != arg.type.shape:
            raise SimulatorError(f"{what} has shape {tuple(array.shape[1:])} per sample, declared {arg.type.shape}")
        if array.dtype.kind not in "biuf":
            raise SimulatorError(f"{what} has dtype {array.dtype}, expected numbers")
        if arg.type.domain is Domain.F32:
            converted.append(array.astype(np.float32))
            continue
        try:
            converted.append(to_domain(array, arg.type.domain))
        except ValueError as e:
            raise SimulatorError(f"{what}: {e}") from None
    return samples, converted


CHUNK_BYTES = 1 << 23
"""Default chunk of the analog path: as many samples as make the largest intermediate value
about this many bytes. 8 MiB measured best or near it on ``examples/bnn_cnn.onnx``, FINN TFC
and a CNV: smaller chunks keep buffers cached and reusable, larger ones spend less per op."""

INTEGER_CHUNK_BYTES = 1 << 25
"""The same for the integer path, whose largest values are a fused sensing's ``[N, P, M]``
int32 sums (its windows stay packed words, 8 bits per byte): on bench/'s CNV at batch 1024,
one thread, 41 samples per chunk (8 MiB) ran at 2281–2487 inferences/s, 82 at 2554, 164
(32 MiB) at 2651, 256 at 2438 — fewer chunks spend less per op until the sums leave the cache."""

MIN_CHUNK = 16


def _default_chunk(func: Function, analog: bool) -> int:
    """Samples per chunk such that the largest value of ``func`` takes about
    :data:`CHUNK_BYTES` (analog path: currents, 8 bytes per column) or
    :data:`INTEGER_CHUNK_BYTES` (integer path: array reads as the fused sensing holds them,
    one plane of 4 bytes per column; windows and their slices, which only array reads use,
    never materialized), between 16 and 4096 samples."""
    largest = 1
    for op in func.ops:
        for value in op.results:
            size = value.type.size * value.type.domain.dtype.itemsize
            if op.name in ("xbar.mvm", "xbar.adc", "xbar.accumulate") and value.type.rank:
                size = value.type.size * 8 if analog else value.type.size // value.type.shape[0] * 4
            elif op.name in ("xbar.window", "xbar.slice") and not analog:
                size = 1
            largest = max(largest, size)
    budget = CHUNK_BYTES if analog else INTEGER_CHUNK_BYTES
    return int(min(4096, max(MIN_CHUNK, budget // largest)))


Operands = Callable[["Run", list[Datum]], list[Datum]]
"""``(run, values of a fused step's reads) -> the fused op's operands`` (deferred forms), for
an observer that watches the op."""

Fuser = Callable[[Operation], Union[tuple[tuple[Operation, ...], tuple[Value, ...], Kernel, tuple[type, ...],
                                          Union[Operands, None]], None]]
"""A fusion of the integer path's plan (no device; an observer, if any, watching none of the
absorbed ops): for an op, ``(absorbed, reads, kernel, accepts, operands)`` — the ops before it
whose work its step does, the values that step reads instead of its operands, its kernel
``(run, op, values of reads) -> results``, the deferred forms that kernel takes, and how to
rebuild the op's operands from the reads for an observer (None: the fusion is left out where
an observer watches the op) — or None where the op does not fuse. An absorbed op's results
must be used only by absorbed ops and the fused op (the plan checks it)."""

_FUSERS: dict[str, Fuser] = {}


def fuses(*names: str) -> Callable[[Fuser], Fuser]:
    """Decorator: register a :data:`Fuser` for the ops ``names``."""

    def register(fn: Fuser) -> Fuser:
        for name in names:
            _FUSERS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class _Step:
    """One step of a function's execution plan: an op (weakly: a cached plan must not keep its
    function alive), its kernel, the slots its operands are read from (None for a value that
    is not the function's), its results' slots, declared types and indices, the slots dead
    after it, the deferred forms its kernel takes, and whether an observer sees it. A fused
    step runs its op and the ops it absorbed (see :data:`Fuser`) at once; ``rebuild`` gives
    its op's operands from the values it reads (None: it reads the op's operands)."""

    op: weakref.ReferenceType
    kernel: Kernel | None
    operands: tuple[int | None, ...]
    results: tuple[tuple[int, TensorType, int], ...]
    frees: tuple[int, ...]
    accepts: tuple[type, ...]
    observed: bool = True
    rebuild: Operands | None = None


def _slots(func: Function) -> Callable[[Value], int | None]:
    """The function's values numbered — slots: the arguments, then every op's results in
    order —: a value's slot, None for a value that is not the function's."""
    first: dict[Operation, int] = {}
    slots = len(func.args)
    for op in func.ops:
        first[op] = slots
        slots += len(op.results)

    def slot(value: Value) -> int | None:
        if value.owner is None:
            return value.index if value.index < len(func.args) and func.args[value.index] is value else None
        start = first.get(value.owner)
        return None if start is None else start + value.index

    return slot


def _plan(func: Function, fused: bool, watched: frozenset[str] = frozenset()) -> list[_Step]:
    """The function's steps (``fused``: with the integer path's fusions, see :data:`Fuser`,
    but those that would hide an op named in ``watched`` from an observer; every step is
    observed where ``watched`` is empty), made once per function and kept while no IR is
    edited (:func:`~bnnc.ir.edit_count`: any change of an op list, an operand or an attribute
    anywhere makes it again)."""
    return structural(func, ("plan", fused, watched),
                      lambda: _steps(func, _fusions(func, watched) if fused else {}, watched))


Fusion = tuple[tuple[Value, ...], Kernel, tuple[type, ...], Union[Operands, None]]
"""A fused op's reads, kernel, accepted forms and operands for an observer (see :data:`Fuser`)."""


def _fusions(func: Function, watched: frozenset[str] = frozenset()) -> dict[Operation, Fusion | None]:
    """The fused ops of ``func`` (their reads, kernels, accepted forms and operands for an
    observer) and the ops they absorb (mapped to None), without the fusions that would hide an
    op named in ``watched`` from an observer."""
    fusions: dict[Operation, Fusion | None] = {}
    for op in func.ops:
        fuser = _FUSERS.get(op.name)
        found = fuser(op) if fuser is not None else None
        if found is None:
            continue
        absorbed, reads, fused_kernel, accepts, operands = found
        if any(a.name in watched for a in absorbed) or (op.name in watched and operands is None):
            continue
        inside = set(absorbed) | {op}
        if any(a in fusions or a.parent is not func or any(u.op not in inside for r in a.results for u in r.uses)
               for a in absorbed):
            continue
        fusions[op] = (reads, fused_kernel, accepts, operands)
        fusions.update(dict.fromkeys(absorbed))
    return fusions


def _steps(func: Function, fusions: dict[Operation, Fusion | None], watched: frozenset[str] = frozenset()) -> list[_Step]:
    """The plan: a step per op that is not absorbed by a fusion, each with the slots it reads,
    the slots dead after it, and whether an observer watching ``watched`` (empty: every op)
    sees it."""
    slot = _slots(func)
    staged = []
    for op in func.ops:
        if op in fusions and fusions[op] is None:
            continue
        reads, fused_kernel, accepts, rebuild = fusions.get(op) or (
            op.operands, _KERNELS.get(op.name), _ACCEPTS.get(op.name, ()), None)
        staged.append((op, tuple(map(slot, reads)), fused_kernel, accepts, rebuild))
    read: set[int | None] = set()
    kept = []
    for entry in reversed(staged):  # pure steps whose results no step reads go
        op, operands = entry[:2]
        if op.name in _PURE and not any(slot(v) in read for v in op.results):
            continue
        read.update(operands)
        kept.append(entry)
    staged = kept[::-1]
    last: dict[int, int] = {}
    for index, (op, operands, *_) in enumerate(staged):
        for s in operands:
            if s is not None:
                last[s] = len(staged) if op.name == "return" else index
    steps = []
    for index, (op, operands, step_kernel, accepts, rebuild) in enumerate(staged):
        first = slot(op.results[0]) if op.results else None
        results = tuple((first + v.index, v.type, v.index) for v in op.results)
        dead = {v for v in operands if v is not None and last.get(v) == index}
        dead |= {r for r, _, _ in results if r not in last}
        steps.append(_Step(weakref.ref(op), step_kernel, operands, results, tuple(sorted(dead)), accepts,
                           not watched or op.name in watched, rebuild))
    return steps


class Run:
    """One chunk of samples through a function: the environment of live values (arrays, or
    :class:`~.deferred.PortMatrix` / :class:`~.deferred.PendingReads` /
    :class:`~.device.ColumnCurrents` between windows, array reads and sensing), by slot."""

    def __init__(self, func: Function, session: DeviceSession, arrays: list[np.ndarray], plan: list[_Step],
                 observe: Observer | None = None):
        self.func = func
        self.plan = plan
        self.observe = observe
        self.session = session
        self.device = session.device
        self.samples = int(arrays[0].shape[0]) if arrays else 1
        self.env: dict[int | None, Datum] = dict(enumerate(arrays))

    def execute(self) -> list[np.ndarray]:
        env = self.env
        for step in self.plan:
            op = step.op()
            if step.kernel is None:
                raise SimulatorError.at(op, f"no simulator kernel for op {op.name}")
            try:
                args = [env[v] for v in step.operands]
            except KeyError:
                index = next(i for i, v in enumerate(step.operands) if v not in env)
                raise SimulatorError.at(op, f"operand {index} is used before it is defined") from None
            args = [a if type(a) is np.ndarray or isinstance(a, step.accepts) else a.resolve() for a in args]
            try:
                outputs = step.kernel(self, op, args)
            except SimulatorError:
                raise
            except Exception as e:  # numpy, onnxruntime or interpreter failures still name the op
                raise SimulatorError.wrap(op, e) from e
            if self.observe is not None and step.observed:
                self.observe(self.session, op, args if step.rebuild is None else step.rebuild(self, args), outputs)
            if op.name == "return":
                return [self._final(a) for a in outputs]
            if len(outputs) != len(step.results):
                raise SimulatorError.at(op, f"kernel produced {len(outputs)} results, the op declares {len(op.results)}")
            for (key, declared, index), array in zip(step.results, outputs):
                self._check(op, index, declared, array)
                env[key] = array
            for key in step.frees:
                del env[key]
        raise SimulatorError(f"function @{self.func.name} does not end in 'return'")

    def _check(self, op: Operation, index: int, declared: TensorType, array: Datum) -> None:
        """Result ``index``'s shape and dtype against its declared type (values are the kernels'
        business: they follow the interpreter, which checks them)."""
        if type(array) is np.ndarray:
            if array.shape[1:] == declared.shape and array.dtype == declared.domain.dtype and array.shape[0] == self.samples:
                return
            shape, dtype = array.shape, array.dtype
        elif isinstance(array, (ColumnCurrents, PortMatrix, PendingReads, PackedBits)):
            shape, dtype = array.shape, type(array).__name__
            if shape == (self.samples,) + declared.shape:
                return
        else:
            shape, dtype = (), type(array).__name__
        raise SimulatorError.at(
            op, f"result {index} is {dtype}{list(shape)}, but its declared type {declared} means "
            f"{declared.domain.dtype}{[self.samples, *declared.shape]}")

    @staticmethod
    def _final(array: Datum) -> np.ndarray:
        if type(array) is not np.ndarray:
            array = array.resolve()
        return np.array(array, copy=True, order="C")


@kernel("return", accepts=(ColumnCurrents, PortMatrix, PendingReads, PackedBits))
def _return(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    return list(args)
