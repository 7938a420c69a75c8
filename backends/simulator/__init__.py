"""The batched simulator: runs a compiled module on N samples at once, with exactly the reference
interpreter's results (:mod:`bnnc.backends.interpreter` is the definition), orders of magnitude
faster.

Every value is held as a numpy array with a leading sample axis ``N`` followed by its declared
shape (whose own batch axis is 1), in its domain's dtype — the contract of
:func:`~bnnc.backends.interpreter.interpret_batch`. Every op runs once per batch (per chunk of
at most ``chunk`` samples): digital ``bnn`` ops reuse the interpreter's semantics where they are
already batch-correct (elementwise ops; ops whose axis 0 is independent run with ``N`` folded
into it), the ``xbar`` ops have batched kernels here, and a ``host.onnx`` partition runs once on
the whole batch when its graph can be given a symbolic batch axis (checked against per-sample
runs), otherwise sample by sample.

Integer path (``device=None``)
------------------------------
``xbar.mvm`` gives column counts (on-cells on driven rows), ``xbar.adc`` passes them through
(a count beyond the ADC's range is an error, as in the interpreter; skipped where the program
proves the range suffices), and sensing combines them into the signed value ``v`` of
:class:`bnnc.ir.dialects.xbar._Sensing`. Everything between a window and its sensing op is
linear and exact, which the simulator exploits without changing any result:

- an ``xbar.window`` whose result only array reads use stays a :class:`PortMatrix` (its input
  planes; im2col on demand; row tiles are ranges of it; xnor's complementary rows are never
  built: their cells become ``−G`` on the direct bits plus a per-position ``valid @ G``);
- array reads stay :class:`PendingReads` through proven-exact ADCs and accumulations, and the
  sensing op evaluates ``v = (Σ_b ω_b · bits_b) @ (Σ_tiles G · S)`` — bit-planes, row tiles
  and the scheme's column combination ``S`` folded — as one GEMM per window, the planes'
  weighted sum being one im2col of their weighted image;
- GEMMs run as onnxruntime ``MatMulInteger`` (uint8 × int8 → int32, exact) where large and
  safe, else float32 ``sgemm`` (exact below 2**24; see :func:`_integer_gemm`).

Any other consumer of a deferred value gets exactly the array the interpreter holds.

Analog path (a :class:`DeviceModel`)
-------------------------------------
Every array read is kept as column currents (amperes)::

    I[n, b, p, j] = v_read · Σ_k ports[n, b, p, k] · G[k, j]

with ``G`` the array's per-cell conductances (siemens): ideally ``g_off`` for an off cell,
``g_on`` for an on cell and ``g_mid = (g_on + g_off) / 2`` for an on cell of a refcol reference
column (the array's last column); :attr:`DeviceModel.conductance` may replace them per array.
With ``d`` the number of driven rows of a read (ports at V_read), ``I_base = d · g_off · v_read``
is its all-off current and ``ΔG = g_on − g_off`` the ideal on/off step.

- ADC (``xbar.adc``; implicitly, without saturation, where an untiled program's readout or
  multi-plane comparison reads currents): ``count = round((I − I_base) / (v_read · s_j))``,
  saturating at ``[0, 2**bits − 1]``, where
  ``s_j = ΔG`` for a data column and ``g_mid − g_off = ΔG / 2`` for a reference column (its ADC
  is calibrated to its own cells, so it reports the driven-row count ``c_ref`` that the integer
  model means).
- Comparator (``xbar.compare`` reading one offset-encoded plane straight from ``xbar.mvm``):
  the sensed current ``S`` and the current of one step of the integer raw value ``u`` are

  ============  ==========================================  ======================
  scheme        sensed current ``S``                        ``u`` (per raw unit)
  ============  ==========================================  ======================
  ``refcol``    ``I_j − I_ref`` (reference column current)  ``v_read · ΔG / 2``
  ``xnor``      ``I_j − I_base`` (the popcount current)     ``v_read · ΔG``
  ``diff``      ``I⁺_j − I⁻_j``                             ``v_read · ΔG``
  ============  ==========================================  ======================

  Ideally ``S = u · raw`` (``raw = 2c_j − c_ref``, ``c_j`` or ``c⁺ − c⁻``) and ``v = ω · raw``
  (``ω = 2``, the offset plane weight), so ``v ≥ T ⇔ raw ≥ r`` with ``r = ceil(T / ω)``. The
  comparator fires when ``S ≥ I_T + offset_j`` with the threshold current
  ``I_T = (r − 1/2) · u`` — half a step below the integer threshold, so that the ideal device
  gives exactly the integer results — and ``offset_j`` from
  :attr:`DeviceModel.comparator_offset`. Two levels give ``p = [S ≥ I_T1 + offset]`` and
  ``n = [S < I_T0 + offset]``. (xnor drives every valid tap, ``x̃`` or ``1 − x̃``, so its
  ``I_base + I_T`` is a fixed reference current per window class.)
- A comparator behind an ADC (row tiles or bit-planes summed digitally) is digital: it compares
  the accumulated counts exactly and has no offset.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from bnnc.ir import Domain, Function, Module, Operation, TensorType, Value
from bnnc.ir.schemes import SCHEMES, plane_weights
from bnnc.ir.shapes import window_attrs_output

from ..interpreter import sample_count
from ..onnx_session import reference_session
from ..semantics import InterpreterError, semantics_of
from ..semantics.bnn import spatial_classes, windows
from ..semantics.core import exact_cast, to_domain
from ..semantics.host import ONNX_TYPES, session_for

__all__ = ["ColumnCurrents", "DeviceModel", "SimulatorError", "simulate", "simulated_ops"]

SGEMM_EXACT_ROWS = 1 << 24
"""float32 represents every integer below 2**24: a GEMM of 0/1 matrices over fewer rows is exact."""


# --------------------------------------------------------------------------- errors


class SimulatorError(InterpreterError):
    """A program the simulator cannot run (an op without a kernel, a bad input, an ADC overflow);
    names the op and its ONNX node(s) like :class:`InterpreterError`."""

    @classmethod
    def wrap(cls, op: Operation, error: Exception) -> SimulatorError:
        """``error`` raised while running ``op``, as a SimulatorError naming ``op``."""
        if isinstance(error, InterpreterError):
            return cls(error.message, error.op_name or op.name, error.location or op.location,
                       error.source or op.source)
        return cls.at(op, f"{type(error).__name__}: {error}")


# --------------------------------------------------------------------------- device model

ConductanceHook = Callable[[Operation, np.ndarray], np.ndarray]
OffsetHook = Callable[[Operation], np.ndarray]


@dataclass
class DeviceModel:
    """The analog model of the arrays and their comparators (see the module docstring).

    - ``g_on``, ``g_off``: cell conductances (siemens) of the on and off states (R_on 10 kΩ,
      R_off 1 MΩ by default); ``v_read``: the port voltage (volts) of a driven row.
    - ``conductance(op, ideal)``: the actual per-cell conductances (siemens, shape ``[K, M]``)
      of the array read by ``xbar.mvm`` op ``op``, given its ideal ones (``g_off``/``g_on``,
      ``g_mid`` for on cells of a refcol reference column); called once per array per
      :func:`simulate` call; replicas of an array share its conductances.
    - ``comparator_offset(op)``: the input-referred offset (amperes) of each comparator of the
      ``xbar.compare`` op ``op`` — shape ``[M]`` (one per output column) or ``[L, M]`` (one per
      level); added to the threshold current. Only analog comparators have one.
    """

    g_on: float = 1 / 10e3
    g_off: float = 1 / 1e6
    v_read: float = 0.15
    conductance: ConductanceHook | None = None
    comparator_offset: OffsetHook | None = None

    @property
    def delta_g(self) -> float:
        """``ΔG = g_on − g_off``, the conductance step that one on-cell adds."""
        return self.g_on - self.g_off

    @property
    def g_mid(self) -> float:
        """The reference cells' conductance ``(g_on + g_off) / 2``."""
        return (self.g_on + self.g_off) / 2

    def ideal_cells(self, bits: np.ndarray, reference_column: bool) -> np.ndarray:
        """Ideal conductances (siemens, float64) of cell states ``bits`` ``[K, M]``; with
        ``reference_column`` the last column's on-cells are mid-conductance."""
        g = np.where(bits.astype(bool), self.g_on, self.g_off)
        if reference_column:
            g[:, -1] = np.where(bits[:, -1].astype(bool), self.g_mid, self.g_off)
        return g

    def column_steps(self, columns: int, reference_column: bool) -> np.ndarray:
        """``s_j``: the conductance an on-cell adds above ``g_off`` in each column (``ΔG``, or
        ``g_mid − g_off`` for a reference column) — an ADC's step per count."""
        steps = np.full(columns, self.delta_g)
        if reference_column:
            steps[-1] = self.g_mid - self.g_off
        return steps


@dataclass(frozen=True)
class ColumnCurrents:
    """One ``xbar.mvm``'s reads in the analog path: ``currents`` ``[N, B, P, M]`` (amperes),
    ``driven`` ``[N, B, P]`` rows at V_read per read, ``steps`` ``[M]`` the ADC step of each
    column (siemens, see :meth:`DeviceModel.column_steps`)."""

    currents: np.ndarray
    driven: np.ndarray
    steps: np.ndarray
    device: DeviceModel

    @property
    def baseline(self) -> np.ndarray:
        """``I_base = d · g_off · v_read``, ``[N, B, P, 1]``: the current of the driven rows
        were every cell off."""
        return (self.driven * (self.device.g_off * self.device.v_read))[..., None]

    def counts(self, bits: int | None = None) -> np.ndarray:
        """ADC conversion: ``round((I − I_base) / (v_read · s_j))`` as int32, saturating at
        ``[0, 2**bits − 1]`` for a ``bits``-bit ADC (unbounded for ``None``)."""
        counts = np.rint((self.currents - self.baseline) / (self.device.v_read * self.steps))
        if bits is not None:
            counts = np.clip(counts, 0, (1 << bits) - 1)
        return counts.astype(np.int32)

    def resolve(self) -> np.ndarray:
        """The counts an ideal ADC reads (for consumers that need integers)."""
        return self.counts()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.currents.shape


@dataclass(frozen=True)
class PortMatrix:
    """The integer path's form of an ``xbar.window`` result (or of a row-tile slice of it)
    that only array reads consume, kept as the window's input: ``planes`` ``[N, B, C, H, W]``
    (uint8) and the ``window`` op; ``valid`` ``[P, K]`` (uint8) where the window also drives
    the complementary rows ``valid − bit``; the range ``[start, stop)`` of the op's port axis
    (``2K`` ports with complement) this value holds. im2col happens on demand, once per window
    (``cache`` is shared by its slices): :attr:`bits` per plane, or :meth:`plane_sum` of
    the planes' weighted sum in one go (im2col is linear and pads are 0 in every plane)."""

    planes: np.ndarray
    window: Operation
    valid: np.ndarray | None
    start: int
    stop: int
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple:
        """What a read of this range computes from besides the cells: the window's geometry
        over the planes' image, whether it has complement rows, and the range."""
        return (_window_geometry(self.window, *self.planes.shape[2:]), self.valid is not None, self.start, self.stop)

    def narrowed(self, start: int, size: int) -> PortMatrix:
        """Ports ``[start, start + size)`` of this range (a row tile)."""
        return PortMatrix(self.planes, self.window, self.valid, self.start + start, self.start + start + size, self.cache)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.planes.shape[:2] + (self.window.result.type.shape[1], self.stop - self.start)

    @property
    def width(self) -> int:
        """Direct ports per window, ``K = C·kh·kw``."""
        kh, kw = self.window.attr("kernel")
        return self.planes.shape[2] * kh * kw

    @property
    def bits(self) -> np.ndarray:
        """The direct ports of every plane, uint8 ``[N, B, P, K]``."""
        if "bits" not in self.cache:
            n, planes, channels, height, width = self.planes.shape
            ports = _im2col(self.planes.reshape(n * planes, channels, height, width), self.window)
            self.cache["bits"] = ports.reshape(n, planes, ports.shape[1], ports.shape[2])
        return self.cache["bits"]

    def plane_sum(self, weights: list[int]) -> tuple[np.ndarray, int]:
        """``(X − shift, shift)``, ``[N, P, K]``: ``X = Σ_b ω_b · bits_b`` the ports' weighted
        sum over planes and ``shift = Σ_{ω<0} ω`` its least value, so that the result is
        uint8 (``Σ|ω| ≤ 255`` for every encoding); one plane gives its bits (ω is folded into
        the weights) and shift 0."""
        if self.planes.shape[1] == 1:
            return self.bits[:, 0], 0
        key = ("sum", tuple(weights))
        if key not in self.cache:
            shift = sum(w for w in weights if w < 0)
            total = weights[0] * self.planes[:, 0].astype(np.int16)
            for b, w in enumerate(weights[1:], 1):
                total += w * self.planes[:, b].astype(np.int16)
            dtype = np.uint8 if sum(abs(w) for w in weights) <= 255 else np.int16
            self.cache[key] = (_im2col((total - shift).astype(dtype), self.window, pad=-shift), shift)
        return self.cache[key]

    def resolve(self) -> np.ndarray:
        """The bits as the interpreter holds them: uint8 ``[N, B, P, stop − start]``."""
        direct = self.bits
        if self.valid is not None:
            direct = np.concatenate([direct, self.valid - direct], axis=-1)
        return direct[..., self.start : self.stop]


@dataclass(frozen=True)
class PendingReads:
    """The integer path's form of column counts ``[N, B, P, M']`` not yet computed: the sum,
    over ``reads`` (an ``xbar.mvm`` op and its :class:`PortMatrix`), of ``ports @ G``. Reads
    stay pending through ADCs the program proves exact and through accumulations, so that a
    sensing op folds bit-planes, row tiles and its scheme's column combination into one GEMM
    per window (:func:`_fused_value`); any other consumer gets the counts."""

    reads: tuple[tuple[Operation, PortMatrix], ...]
    shape: tuple[int, ...]

    def resolve(self) -> np.ndarray:
        """The counts, int32 (a sum wraps like the interpreter's int64 → int32)."""
        total = _counts_of_ports(*self.reads[0])
        for op, ports in self.reads[1:]:
            total += _counts_of_ports(op, ports)
        return total


Datum = Union[np.ndarray, ColumnCurrents, PortMatrix, PendingReads]
Kernel = Callable[["_Run", Operation, list[Datum]], list[Datum]]
_KERNELS: dict[str, Kernel] = {}
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "xbar.slice": (PortMatrix,),
    "xbar.mvm": (PortMatrix,),
    "xbar.adc": (ColumnCurrents, PendingReads),
    "xbar.accumulate": (PendingReads,),
    "xbar.compare": (ColumnCurrents, PendingReads),
    "xbar.readout": (PendingReads,),
    "return": (ColumnCurrents, PortMatrix, PendingReads),
}
"""The deferred forms each kernel takes as they are; every other op gets them resolved to the
arrays the interpreter holds."""


def _kernel(*names: str) -> Callable[[Kernel], Kernel]:
    def register(fn: Kernel) -> Kernel:
        for name in names:
            _KERNELS[name] = fn
        return fn

    return register


def simulated_ops() -> list[str]:
    """The names of every op the simulator can run, sorted."""
    return sorted(_KERNELS)


# --------------------------------------------------------------------------- driver


def simulate(
    module: Module,
    inputs: Sequence[np.ndarray],
    function: str = "main",
    device: DeviceModel | None = None,
    *,
    chunk: int | None = None,
) -> list[np.ndarray]:
    """Run ``function`` of ``module`` on a batch: every input has a leading sample axis ``N`` and
    otherwise its argument's declared shape; returns each result stacked along ``N``, in its
    domain's dtype — :func:`~bnnc.backends.interpreter.interpret_batch`'s contract and results.
    With ``device`` the arrays run through the analog model (see the module docstring), else
    on integer counts. Samples run in chunks of at most ``chunk`` (by default as many as keep
    the largest intermediate value near :data:`CHUNK_BYTES`), which bounds memory and keeps
    the working set in cache; results do not depend on it."""
    try:
        func = module.function(function)
    except KeyError:
        raise SimulatorError(f"module has no function @{function}") from None
    samples, arrays = _batched_arguments(func, inputs)
    if samples == 0:
        return [np.empty((0,) + t.shape, dtype=t.domain.dtype) for t in func.result_types]
    session = _Session(device)
    if chunk is not None:
        step = max(1, int(chunk))
    else:  # the smallest default chunk holds 16 samples: no need to size one for fewer
        step = samples if samples <= MIN_CHUNK else _default_chunk(func, device is not None)
    parts = [_Run(func, session, [a[s : s + step] for a in arrays]).execute() for s in range(0, samples, step)]
    if len(parts) == 1:
        return parts[0]
    return [np.concatenate(outs) for outs in zip(*parts)]


def _batched_arguments(func: Function, inputs: Sequence[np.ndarray]) -> tuple[int, list[np.ndarray]]:
    """The inputs checked against the declared argument types (after the sample axis) and
    converted to their domains' dtypes, and the number of samples."""
    arrays = [np.asarray(x) for x in inputs]
    if len(arrays) != len(func.args):
        raise SimulatorError(f"@{func.name} takes {len(func.args)} inputs, got {len(arrays)}")
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
"""Default chunk: as many samples as make the largest intermediate value about this many
bytes. 8 MiB measured best or near it on ``examples/bnn_cnn.onnx``, FINN TFC and a CNV:
smaller chunks keep buffers cached and reusable, larger ones spend less per op."""


MIN_CHUNK = 16


def _default_chunk(func: Function, analog: bool) -> int:
    """Samples per chunk such that the largest value of ``func`` — counts as the fused sensing
    holds them (one plane, 4 bytes per column) in the integer path, currents (8 bytes) in
    the analog one — takes about :data:`CHUNK_BYTES` (between 16 and 4096 samples)."""
    largest = 1
    for op in func.ops:
        for value in op.results:
            size = value.type.size * value.type.domain.dtype.itemsize
            if op.name in ("xbar.mvm", "xbar.adc", "xbar.accumulate") and value.type.rank:
                size = value.type.size * 8 if analog else value.type.size // value.type.shape[0] * 4
            largest = max(largest, size)
    return int(min(4096, max(MIN_CHUNK, CHUNK_BYTES // largest)))


class _Session:
    """State shared by the chunks of one :func:`simulate` call: the device model and what its
    hooks returned (called once per op)."""

    def __init__(self, device: DeviceModel | None):
        self.device = device
        self.hooked: dict[Operation, np.ndarray] = {}


@dataclass(frozen=True)
class _Step:
    """One op of a function's execution plan: the op (weakly: a cached plan must not keep its
    function alive), its kernel, the slots its operands are read from (None for a value that
    is not the function's), its results' slots, declared types and indices, and the slots dead
    after it."""

    op: weakref.ReferenceType
    kernel: Kernel | None
    operands: tuple[int | None, ...]
    results: tuple[tuple[int, TensorType, int], ...]
    frees: tuple[int, ...]
    accepts: tuple[type, ...]


Wiring = tuple[int, tuple[tuple[tuple[int | None, ...], tuple[TensorType, ...]], ...]]
"""A function's structure as its plan reads it: the number of arguments and, per op, its
operands' slots and its results' types."""

_PLANS: weakref.WeakKeyDictionary[Function, tuple[Wiring, list[_Step]]] = weakref.WeakKeyDictionary()


def _wiring(func: Function) -> Wiring:
    """The function's values numbered — slots: the arguments, then every op's results in
    order — and each op's operands as slots."""
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

    return len(func.args), tuple((tuple(map(slot, op.operands)), tuple(v.type for v in op.results)) for op in func.ops)


def _plan(func: Function) -> list[_Step]:
    """The function's steps, built once per function and rebuilt when its ops, their operands
    or their result types change."""
    wiring = _wiring(func)
    cached = _PLANS.get(func)
    if cached is not None and cached[0] == wiring and all(s.op() is op for s, op in zip(cached[1], func.ops)):
        return cached[1]
    last: dict[int, int] = {}
    for index, (operands, _) in enumerate(wiring[1]):
        for slot in operands:
            if slot is not None:
                last[slot] = len(func.ops) if func.ops[index].name == "return" else index
    steps = []
    slot = wiring[0]
    for index, (op, (operands, _)) in enumerate(zip(func.ops, wiring[1])):
        results = tuple((slot + v.index, v.type, v.index) for v in op.results)
        slot += len(op.results)
        dead = {v for v in operands if v is not None and last.get(v) == index}
        dead |= {r for r, _, _ in results if r not in last}
        steps.append(_Step(weakref.ref(op), _KERNELS.get(op.name), operands, results, tuple(sorted(dead)),
                           _ACCEPTS.get(op.name, ())))
    _PLANS[func] = (wiring, steps)
    return steps


class _Run:
    """One chunk of samples through a function: the environment of live values (arrays, or
    :class:`PortMatrix` / :class:`ColumnCurrents` between windows, array reads and sensing)."""

    def __init__(self, func: Function, session: _Session, arrays: list[np.ndarray]):
        self.func = func
        self.session = session
        self.device = session.device
        self.samples = int(arrays[0].shape[0]) if arrays else 1
        self.env: dict[int | None, Datum] = dict(enumerate(arrays))

    def execute(self) -> list[np.ndarray]:
        env = self.env
        for step, op in zip(_plan(self.func), self.func.ops):
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
        elif isinstance(array, (ColumnCurrents, PortMatrix, PendingReads)):
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


# --------------------------------------------------------------------------- per-op constants

ConstantKey = tuple[str, int]
"""A constant's symbol and its data's version (:attr:`bnnc.ir.Constant.version`)."""

_PREPARED: weakref.WeakKeyDictionary[Operation, dict[Hashable, tuple[tuple[ConstantKey, ...], Any]]] = \
    weakref.WeakKeyDictionary()


def _constant_key(op: Operation, name: str) -> ConstantKey:
    """The symbol and version of ``op``'s constant operand ``name``."""
    symbol = op.const(name)
    return symbol, op.module.constant(symbol).version


def _prepared(op: Operation, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()`` — derived from ``op``'s constants (and what ``key`` names) — computed once
    per op and kept while its constant operands refer to the same symbols and versions."""
    stamp = tuple((s, op.module.constant(s).version) for s in op.consts)
    per_op = _PREPARED.setdefault(op, {})
    cached = per_op.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    value = build()
    per_op[key] = (stamp, value)
    return value


def _thresholds_per_position(op: Operation, table: str) -> np.ndarray:
    """``T[:, classes[s]]`` (int64): each output column's thresholds ``[M, P, L]`` (or offsets
    ``[M, P]`` for a readout) at every window position."""

    def build() -> np.ndarray:
        t = op.const_array(table).astype(np.int64)
        return np.ascontiguousarray(t[:, spatial_classes(op.const_array("classes"))])

    return _prepared(op, table, build)


# --------------------------------------------------------------------------- bnn ops


@_kernel("bnn.add", "bnn.sub", "bnn.mul", "bnn.div", "bnn.sign", "bnn.convert", "bnn.input_quant")
def _elementwise(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Elementwise ops (with broadcast constants) are batch-correct as the interpreter writes
    them, once the input has the result's rank after the sample axis."""
    x = args[0]
    missing = op.results[0].type.rank - op.operands[0].type.rank
    if missing > 0:
        x = x.reshape(x.shape[:1] + (1,) * missing + x.shape[1:])
    return semantics_of(op.name)(op, [x])


@_kernel("bnn.add_tensors")
def _add_tensors(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Both operands carry the sample axis; align their ranks with the result's, then add."""
    rank = op.results[0].type.rank
    aligned = [a.reshape(a.shape[:1] + (1,) * (rank - (a.ndim - 1)) + a.shape[1:]) for a in args]
    return semantics_of(op.name)(op, aligned)


@_kernel("bnn.conv", "bnn.dense", "bnn.threshold", "bnn.batchnorm", "bnn.maxpool", "bnn.pool", "bnn.compare")
def _folded(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Ops whose axis 0 is independent (a batch axis): the samples fold into it and the
    interpreter's semantics run once."""
    x = args[0]
    declared = op.operands[0].type.shape
    folded = x.reshape((-1,) + declared[1:]) if declared else x
    (out,) = semantics_of(op.name)(op, [folded])
    return [out.reshape((run.samples,) + op.results[0].type.shape)]


@_kernel("bnn.reshape")
def _reshape(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [args[0].reshape((run.samples,) + tuple(op.attr("shape")))]


@_kernel("bnn.transpose")
def _transpose(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(args[0], (0,) + tuple(p + 1 for p in op.attr("perm")))]


@_kernel("return")
def _return(run: _Run, op: Operation, args: list[Datum]) -> list[Datum]:
    return list(args)


# --------------------------------------------------------------------------- xbar: planes and windows


@_kernel("xbar.planes")
def _planes(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """±1 → ``(x + 1) / 2``; ternary → ``[x = 1], [x = −1]``; 8-bit → binary code, LSB first;
    the plane axis follows the sample axis."""
    (x,) = args
    planes = op.result.type.shape[0]
    if planes == 1:
        stacked = ((x.astype(np.int16) + 1) // 2)[:, None]
    elif planes == 2:
        stacked = np.stack([x == 1, x == -1], axis=1)
    else:
        code = x.astype(np.int16) & 0xFF
        stacked = np.stack([(code >> b) & 1 for b in range(8)], axis=1)
    return [stacked.astype(np.uint8)]


@_kernel("xbar.decode")
def _decode(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """One plane → ``2·bit − 1``; two planes → ``p − n``."""
    (b,) = args
    if b.shape[1] == 1:
        return [(2 * b[:, 0].astype(np.int8) - 1).astype(np.int8)]
    return [(b[:, 0].astype(np.int8) - b[:, 1].astype(np.int8)).astype(np.int8)]


def _valid_ports(op: Operation, channels: int, height: int, width: int) -> np.ndarray:
    """``[P, K]`` uint8: 1 where a window's port lies inside the image (0 on pads)."""

    def build() -> np.ndarray:
        ones = np.ones((1, channels, height, width), np.uint8)
        cols = windows(ones, tuple(op.attr("kernel")), op, 0)  # [1, C, OH, OW, kh, kw]
        positions = cols.shape[2] * cols.shape[3]
        return np.ascontiguousarray(cols.transpose(0, 2, 3, 1, 4, 5).reshape(positions, -1))

    return _prepared(op, ("valid", _window_geometry(op, channels, height, width)), build)


def _window_geometry(op: Operation, channels: int, height: int, width: int) -> tuple:
    """The image's shape and the window op's kernel, strides, pads and dilations."""
    return (channels, height, width) + tuple(tuple(op.attr(a)) for a in ("kernel", "strides", "pads", "dilations"))


def _output_size(op: Operation, height: int, width: int) -> tuple[int, int]:
    """``(OH, OW)`` of ``op``'s windows over an ``height × width`` image (floor mode)."""
    try:
        return window_attrs_output(op, height, width)
    except ValueError as e:
        raise SimulatorError.at(op, str(e)) from None


def _tap_slices(op: Operation, out_h: int, out_w: int) -> list[tuple[int, int, slice, slice]]:
    """For each kernel tap ``(i, j)``, the rows and columns of the padded image it reads at
    every window position (strided by the window stride, offset by the dilated tap)."""
    (kh, kw), (sh, sw), (dh, dw) = op.attr("kernel"), op.attr("strides"), op.attr("dilations")
    return [
        (i, j, slice(i * dh, i * dh + sh * (out_h - 1) + 1, sh), slice(j * dw, j * dw + sw * (out_w - 1) + 1, sw))
        for i in range(kh)
        for j in range(kw)
    ]


def _padded(x: np.ndarray, op: Operation, value: int, channels_last: bool = False) -> np.ndarray:
    """``[S, C, H, W]`` with the ONNX pads ``[top, left, bottom, right]`` filled by ``value``
    (as ``[S, H', W', C]`` with ``channels_last``)."""
    pt, pl, pb, pr = op.attr("pads")
    if not (pt or pl or pb or pr):
        return x.transpose(0, 2, 3, 1) if channels_last else x
    if channels_last:
        return np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _im2col(x: np.ndarray, op: Operation, pad: int = 0) -> np.ndarray:
    """``[S, C, H, W]`` planes → ``[S, P, C·kh·kw]`` port vectors (ports ordered (c, i, j),
    pads ``pad``, ``x``'s dtype). One strided copy per kernel tap — never a loop over samples or
    positions; measured 2-4x faster than copying the 6-D sliding-window view at once, whose
    innermost run is only ``kw`` elements long."""
    kh, kw = op.attr("kernel")
    s, c, height, width = x.shape
    out_h, out_w = _output_size(op, height, width)
    padded = _padded(x, op, pad, channels_last=True)  # [S, H', W', C]
    if (kh, kw) == (1, 1):  # one tap: the ports are the (strided) pixels, channel-last
        rows, cols = _tap_slices(op, out_h, out_w)[0][2:]
        return np.ascontiguousarray(padded[:, rows, cols, :]).reshape(s, out_h * out_w, c)
    out = np.empty((s, out_h, out_w, c, kh, kw), x.dtype)
    for i, j, rows, cols in _tap_slices(op, out_h, out_w):
        out[..., i, j] = padded[:, rows, cols, :]
    return out.reshape(s, out_h * out_w, c * kh * kw)


@_kernel("xbar.window")
def _window(run: _Run, op: Operation, args: list[np.ndarray]) -> list[Datum]:
    """The line buffer over every sample and plane at once: im2col ``[N, B, P, K]`` (pads 0),
    with ``complement`` followed by ``valid − bit``. In the integer path, a result that only
    array reads use stays a :class:`PortMatrix` (im2col on demand, complement implicit)."""
    (x,) = args
    n, planes, _, channels, height, width = x.shape
    valid = _valid_ports(op, channels, height, width) if op.attr("complement") else None
    if run.device is None and _only_array_reads(op.result):
        kh, kw = op.attr("kernel")
        ports = channels * kh * kw * (2 if valid is not None else 1)
        return [PortMatrix(x.reshape(n, planes, channels, height, width), op, valid, 0, ports)]
    ports = _im2col(x.reshape(n * planes, channels, height, width), op)
    ports = ports.reshape(n, planes, ports.shape[1], ports.shape[2])
    if valid is not None:
        ports = np.concatenate([ports, np.broadcast_to(valid, ports.shape) - ports], axis=3)
    return [ports]


def _only_array_reads(value: Value) -> bool:
    """Whether every use of ``value`` is an ``xbar.mvm``, directly or through port-axis slices."""
    def read_by_arrays(op: Operation) -> bool:
        if op.name == "xbar.slice":
            return op.attr("axis") == 2 and _only_array_reads(op.result)
        return op.name == "xbar.mvm"

    return bool(value.uses) and all(read_by_arrays(use.op) for use in value.uses)


@_kernel("xbar.slice")
def _slice(run: _Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """``x[start : start + size]`` along ``axis`` (a view; a port matrix narrows its range)."""
    (x,) = args
    start, size, axis = op.attr("start"), op.attr("size"), op.attr("axis")
    if isinstance(x, PortMatrix):
        if axis == 2:
            return [x.narrowed(start, size)]
        x = x.resolve()
    index = [slice(None)] * x.ndim
    index[axis + 1] = slice(start, start + size)
    return [x[tuple(index)]]


@_kernel("xbar.concat")
def _concat(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate(args, axis=op.attr("axis") + 1)]


@_kernel("xbar.pool_bits")
def _pool_bits(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """OR (direction +1) or AND (−1) over each window's valid positions; a ternary value's
    ``n`` plane takes the other one."""
    (b,) = args
    n, planes, _, channels, height, width = b.shape
    direction = op.const_array("direction") > 0
    out = []
    for index in range(planes):  # at most two planes
        use_or = direction if index == 0 else ~direction
        out.append(_pool_plane(b[:, index, 0], use_or, op))
    return [np.stack(out, axis=1)[:, :, None]]


def _pool_plane(x: np.ndarray, use_or: np.ndarray, op: Operation) -> np.ndarray:
    """One plane ``[N, C, H, W]`` pooled: OR where ``use_or[c]``, AND elsewhere."""
    if use_or.all():
        return _window_reduce(x, op, 0, np.bitwise_or)
    if not use_or.any():
        return _window_reduce(x, op, 1, np.bitwise_and)
    any_set = _window_reduce(x, op, 0, np.bitwise_or)
    all_set = _window_reduce(x, op, 1, np.bitwise_and)
    return np.where(use_or.reshape(1, -1, 1, 1), any_set, all_set).astype(np.uint8)


def _window_reduce(x: np.ndarray, op: Operation, pad: int, combine: np.ufunc) -> np.ndarray:
    """``combine`` (OR / AND of bits) over each pooling window, pads holding ``pad``: one
    elementwise step per kernel tap over strided views of the whole batch."""
    out_h, out_w = _output_size(op, x.shape[2], x.shape[3])
    padded = _padded(x, op, pad)
    result = None
    for _, _, rows, cols in _tap_slices(op, out_h, out_w):
        tap = padded[:, :, rows, cols]
        result = tap.copy() if result is None else combine(result, tap, out=result)
    return result


# --------------------------------------------------------------------------- xbar: array reads


@_kernel("xbar.mvm")
def _mvm(run: _Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """Array reads over the batch: reads of a :class:`PortMatrix` stay pending for the sensing
    op; other ports give counts ``ports @ G`` by float32 GEMM (exact below 2**24 rows); with a
    device model, the column currents ``v_read · ports @ G``."""
    (ports,) = args
    if run.device is not None:
        return [_column_currents(run, op, ports)]
    if isinstance(ports, PortMatrix):
        return [PendingReads(((op, ports),), (run.samples,) + op.result.type.shape)]
    n, planes, positions, rows = ports.shape
    if rows >= SGEMM_EXACT_ROWS:
        g = op.const_array("conductance").astype(np.float64)
        counts = ports.reshape(-1, rows).astype(np.float64) @ g
    else:
        g = _prepared(op, "g32", lambda: op.const_array("conductance").astype(np.float32))
        counts = ports.reshape(-1, rows).astype(np.float32) @ g
    return [counts.astype(np.int32).reshape(n, planes, positions, g.shape[1])]


def _counts_of_ports(op: Operation, ports: PortMatrix) -> np.ndarray:
    """Counts of a read of ``ports`` without materializing complementary rows: a complement
    row ``k`` carries ``valid[p, k] − bit[k]``, so its cells add ``valid @ G`` (a per-position
    constant) and ``−G`` on ``bit[k]``'s row. The direct and complement parts of the range
    become one GEMM on the direct bits with signed weights (or two, where merging their row
    ranges would cost more) — exact: float32 sums of at most 2**24 terms in {−1, 0, 1}."""
    n, planes, positions, width = ports.bits.shape
    if width >= SGEMM_EXACT_ROWS:
        raise SimulatorError.at(op, f"a window of {width} ports is beyond exact float32 counting")
    pieces, constant = _prepared(op, ("ports", ports.key), lambda: _port_weights(op.const_array("conductance"), ports, width))
    sums = None
    for lo, hi, weights in pieces:
        partial = ports.bits[..., lo:hi].reshape(-1, hi - lo).astype(np.float32) @ weights
        sums = partial if sums is None else sums + partial
    counts = sums.reshape(n, planes, positions, -1).astype(np.int32)
    if constant is not None:
        counts += constant
    return counts


GemmPiece = tuple[int, int, np.ndarray]
"""``(lo, hi, W)``: direct-bit rows ``[lo, hi)`` times weights ``W``."""


def _port_weights(cells: np.ndarray, ports: PortMatrix, width: int) -> tuple[list[GemmPiece], np.ndarray | None]:
    """The GEMM pieces over direct bits, and the ``[P, M]`` int32 constant of the complement
    rows (None without), that give the counts of ``ports``' range read with ``cells``."""
    g = cells.astype(np.float32)
    start, stop = ports.start, ports.stop
    if stop <= width:  # direct ports only
        return [(start, stop, g)], None
    split = max(0, width - start)  # cells on direct ports, then cells on complement ports
    c_lo, c_hi = max(start, width) - width, stop - width  # complement ports as direct-bit rows
    g_direct, g_complement = g[:split], g[split:]
    constant = (ports.valid[:, c_lo:c_hi].astype(np.float32) @ g_complement).astype(np.int32)
    if not split:
        return [(c_lo, c_hi, -g_complement)], constant
    lo, hi = min(start, c_lo), max(start + split, c_hi)
    if hi - lo > split + (c_hi - c_lo):  # far apart: two GEMMs
        return [(start, start + split, g_direct), (c_lo, c_hi, -g_complement)], constant
    merged = np.zeros((hi - lo, g.shape[1]), np.float32)  # overlapping: one GEMM, weights summed
    merged[start - lo : start + split - lo] += g_direct
    merged[c_lo - lo : c_hi - lo] -= g_complement
    return [(lo, hi, merged)], constant


def _column_currents(run: _Run, op: Operation, ports: np.ndarray) -> ColumnCurrents:
    """``I = v_read · ports @ G`` (float64) with the array's actual conductances."""
    device = run.device
    assert device is not None
    reference = _scheme_of(op) == "refcol"
    g = _array_conductances(run, op, reference)
    n, planes, positions, rows = ports.shape
    currents = device.v_read * (ports.reshape(-1, rows).astype(np.float64) @ g)
    return ColumnCurrents(
        currents.reshape(n, planes, positions, g.shape[1]),
        ports.sum(axis=-1, dtype=np.int64),
        device.column_steps(g.shape[1], reference),
        device,
    )


def _array_conductances(run: _Run, op: Operation, reference: bool) -> np.ndarray:
    """The array's per-cell conductances: ideal, or what the device's hook makes of them (once
    per :func:`simulate` call)."""
    session, device = run.session, run.device
    if op not in session.hooked:
        ideal = device.ideal_cells(op.const_array("conductance"), reference)
        g = ideal if device.conductance is None else np.asarray(device.conductance(op, ideal.copy()), np.float64)
        if g.shape != ideal.shape or not np.isfinite(g).all():
            raise SimulatorError.at(op, f"the conductance hook returned {g.dtype}{list(g.shape)} (finite values "
                                        f"of shape {list(ideal.shape)} expected)")
        session.hooked[op] = g
    return session.hooked[op]


def _scheme_of(mvm: Operation) -> str | None:
    """The mapping scheme of the sensing op that reads ``mvm``'s columns (through ADCs and
    accumulations), or None when nothing senses them."""
    value = mvm.result
    while True:
        users = [u.op for u in value.uses]
        if not users:
            return None
        user = users[0]
        if user.name in ("xbar.compare", "xbar.readout"):
            return user.attr("scheme")
        if user.name not in ("xbar.adc", "xbar.accumulate"):
            return None
        value = user.result


@_kernel("xbar.adc")
def _adc(run: _Run, op: Operation, args: list[Datum]) -> list[np.ndarray]:
    """Integer path: counts unchanged, one beyond the ADC's range is an error. Analog path:
    currents converted to counts, saturating at the range."""
    (counts,) = args
    bits = op.attr("bits")
    if isinstance(counts, ColumnCurrents):
        return [counts.counts(bits)]
    bound = _count_bound(op.operands[0])
    if bound is not None and bound < 1 << bits:  # the program proves every count fits
        return [counts]
    if isinstance(counts, PendingReads):
        counts = counts.resolve()
    if counts.size and (counts.min() < 0 or counts.max() >= 1 << bits):
        raise SimulatorError.at(op, f"a column count of {counts.max()} does not fit a {bits}-bit ADC")
    return [counts]


@_kernel("xbar.accumulate")
def _accumulate(run: _Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """Digital sum of partial counts (int32 wraps like the interpreter's int64 → int32);
    pending reads stay pending, as one sum."""
    if all(isinstance(a, PendingReads) for a in args):
        return [PendingReads(tuple(read for a in args for read in a.reads), args[0].shape)]
    args = [a.resolve() if isinstance(a, PendingReads) else a for a in args]
    total = args[0].astype(np.int32, copy=True)
    for partial in args[1:]:
        total += partial
    return [total]


# --------------------------------------------------------------------------- xbar: sensing


def _sensed_value(op: Operation, counts: np.ndarray, bound: int | None = None) -> np.ndarray:
    """``v[n, j, p] = Σ_b ω_b · raw_b[p, j]`` from counts ``[N, B, P, M']`` (see
    ``xbar._Sensing``), laid out ``[N, M, P]`` like the sensing ops' results, in the narrowest
    of int16/int32/int64 that holds every ``|v| ≤ bound + 1`` (``bound`` from
    :func:`_value_bound`). The planes combine first (``raw`` is linear in the counts), then the
    columns, along contiguous rows."""
    weights = plane_weights(op.attr("encoding"))
    if bound is None:
        bound = _value_bound(op, counts)
    dtype = next(t for t in (np.int16, np.int32, np.int64) if bound < np.iinfo(t).max)
    c = counts.astype(dtype, copy=False)
    combined = c[:, 0] * dtype(weights[0])
    for b in range(1, len(weights)):
        if weights[b] == 1:
            combined += c[:, b]
        elif weights[b] == -1:
            combined -= c[:, b]
        else:
            combined += c[:, b] * dtype(weights[b])
    columns = np.ascontiguousarray(combined.transpose(0, 2, 1))  # [N, M', P]
    return SCHEMES[op.attr("scheme")].combine(columns, axis=1)


def _value_bound(op: Operation, counts: np.ndarray) -> int:
    """A bound of ``|v|`` (and of every partial sum computing it) for the sensing op ``op``:
    ``3 · Σ|ω| · (largest count)`` (refcol's ``2·x_j − x_ref`` reaches it), with the largest
    count known from the program where possible."""
    largest = _count_bound(op.operands[0])
    if largest is None:
        largest = int(np.abs(counts).max(initial=0))
    return 3 * largest * sum(abs(w) for w in plane_weights(op.attr("encoding")))


@dataclass
class _FusedGroup:
    """One window's share of a fused sensing: ``v += X[..., lo:hi] @ weights + constant``
    where ``X = Σ_b ω_b · bits_b`` (plane weights folded into ``weights`` for one plane);
    ``engine`` is the integer GEMM made for ``weights`` when first needed, ``shifted`` the
    constant terms made so far (:meth:`shifted_constant`)."""

    lo: int
    hi: int
    weights: np.ndarray
    constant: np.ndarray | None
    engine: Any = None
    shifted: dict[tuple[int, np.dtype], np.ndarray] = field(default_factory=dict)

    def shifted_constant(self, shift: int, dtype: np.dtype) -> np.ndarray:
        """The ``[P, M]`` term added to ``(X − shift) @ weights``: ``constant + shift · Σ_rows weights``
        (made once per shift and dtype)."""
        if (shift, dtype) not in self.shifted:
            total = self.weights.sum(axis=0) * shift
            if self.constant is not None:
                total = total + self.constant
            self.shifted[shift, dtype] = np.asarray(total).astype(dtype)
        return self.shifted[shift, dtype]


INTEGER_GEMM_MACS = 1 << 22
"""Below this many multiply-adds an array read runs as numpy sgemm (onnxruntime's call costs
more than it saves)."""


def _integer_gemm(group: _FusedGroup, x: np.ndarray, bound: int) -> np.ndarray:
    """``x @ group.weights`` exactly, by the fastest engine that is exact here: onnxruntime's
    ``MatMulInteger`` (MLAS, u8 × s8 → i32: ~3.5x numpy sgemm on AVX-512 VNNI) for uint8
    ``x`` and int8 weights whose products cannot saturate MLAS' 16-bit pair sums
    (``2 · 255 · max|w| < 2**15``, conservatively); else float32 sgemm while ``bound`` is
    below 2**24, float64 beyond."""
    rows, k = x.shape
    w = group.weights
    if x.dtype == np.uint8 and rows * k * w.shape[1] >= INTEGER_GEMM_MACS and np.abs(w).max(initial=0) <= 64:
        if group.engine is None:
            group.engine = _MatMulInteger(w.astype(np.int8))
        return group.engine(np.ascontiguousarray(x))
    dtype = np.float32 if bound < SGEMM_EXACT_ROWS else np.float64
    return x.astype(dtype) @ w.astype(dtype)


class _MatMulInteger:
    """``x (uint8) @ weights (int8) → int32`` by onnxruntime (one ``MatMulInteger`` node, the
    weights an initializer MLAS packs once); intra-op threads as ``OMP_NUM_THREADS`` /
    ``OPENBLAS_NUM_THREADS`` say (onnxruntime's default when neither is set)."""

    def __init__(self, weights: np.ndarray):
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        k, m = weights.shape
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["x", "w"], ["y"])], "read",
            [helper.make_tensor_value_info("x", TensorProto.UINT8, ["rows", k])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, ["rows", m])],
            initializer=[numpy_helper.from_array(weights, "w")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": x})[0]


def _threads() -> int:
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def _fused_value(op: Operation, pending: PendingReads) -> tuple[np.ndarray, int]:
    """The sensed value ``v`` ``[N, P, M]`` (exact integers, int32 or float) of sensing op
    ``op`` over pending reads, and a bound of ``|v|``. ``v`` is linear in the counts, so
    ``v = Σ_b ω_b · S(Σ_reads bits_b @ G)`` — with ``S`` the scheme's column combination — is
    one GEMM per window: ``(Σ_b ω_b · bits_b) @ (Σ_reads G · S)``, complement rows folded as in
    :func:`_counts_of_ports` (see :func:`_integer_gemm` for the engine)."""
    windows = _windows_read(pending)
    layout = tuple((_constant_key(mvm, "conductance"), ports.key, _window_index(windows, ports))
                   for mvm, ports in pending.reads)
    groups, bound = _prepared(op, ("fused", layout), lambda: _fusion_plan(op, pending, windows))
    n, planes, positions = pending.shape[:3]
    value = None
    for group, ports in zip(groups, windows):
        x, shift = ports.plane_sum(plane_weights(op.attr("encoding")))
        x = x[..., group.lo : group.hi].reshape(-1, group.hi - group.lo)
        part = _integer_gemm(group, x, bound).reshape(n, positions, -1)
        if group.constant is not None or shift:
            part = part + group.shifted_constant(shift, part.dtype)
        value = part if value is None else value + part
    return value, bound


def _windows_read(pending: PendingReads) -> list[PortMatrix]:
    """One port matrix of each window that ``pending`` reads (its row tiles share one im2col
    cache), in the order of the reads."""
    windows: list[PortMatrix] = []
    for _, ports in pending.reads:
        if not any(w.cache is ports.cache for w in windows):
            windows.append(ports)
    return windows


def _window_index(windows: list[PortMatrix], ports: PortMatrix) -> int:
    """The index in ``windows`` of the window ``ports`` is a range of."""
    return next(i for i, w in enumerate(windows) if w.cache is ports.cache)


def _fusion_plan(op: Operation, pending: PendingReads, windows: list[PortMatrix]) -> tuple[list[_FusedGroup], int]:
    """Per window (in ``windows`` order): the summed weights ``G · S`` of its reads over the
    direct-bit rows they use and the complement constant, with plane weights folded in for
    one plane; and the bound of ``|v|`` (``Σ|ω|`` times, per window, the sum over rows of the
    largest ``|weight|`` plus the largest ``|constant|``)."""
    weights = plane_weights(op.attr("encoding"))
    planes = pending.shape[1]
    scale = weights[0] if planes == 1 else 1
    total = sum(abs(w) for w in weights)
    combine = SCHEMES[op.attr("scheme")].column_matrix(pending.shape[3])
    groups, bound = [], 0.0
    for window in windows:
        reads = [(mvm, ports) for mvm, ports in pending.reads if ports.cache is window.cache]
        width = reads[0][1].width
        pieces, constant = [], None
        for mvm, ports in reads:
            parts, c = _port_weights(mvm.const_array("conductance"), ports, width)
            pieces += parts
            if c is not None:
                constant = (0 if constant is None else constant) + c.astype(np.float64) @ combine
        lo, hi = min(p[0] for p in pieces), max(p[1] for p in pieces)
        summed = np.zeros((hi - lo, combine.shape[1]))
        for start, stop, w in pieces:
            summed[start - lo : stop - lo] += w.astype(np.float64) @ combine
        if constant is not None:
            constant = constant * (scale if planes == 1 else sum(weights))
        groups.append(_FusedGroup(lo, hi, summed * scale, constant))
        bound += total * np.abs(summed).max(axis=1).sum() + (np.abs(constant).max() if constant is not None else 0)
    return groups, int(bound) + 1


def _count_bound(value: Value) -> int | None:
    """An upper bound of the column counts ``value`` holds, from the program: an array read
    counts at most its rows, an ADC at most its range, a sum at most the sum; None if unknown."""
    op = value.producer
    if op is None:
        return None
    if op.name == "xbar.mvm":
        return op.operands[0].type.shape[-1]
    if op.name == "xbar.adc":
        inner = _count_bound(op.operands[0])
        return (1 << op.attr("bits")) - 1 if inner is None else min(inner, (1 << op.attr("bits")) - 1)
    if op.name == "xbar.accumulate":
        bounds = [_count_bound(v) for v in op.operands]
        return None if None in bounds else sum(bounds)
    return None


@_kernel("xbar.compare")
def _compare(run: _Run, op: Operation, args: list[Datum]) -> list[np.ndarray]:
    """One level: ``[v >= T0]``; two levels: ``p = [v >= T1]``, ``n = [v < T0]`` — on counts,
    or in current units where the comparator senses one array read directly."""
    (x,) = args
    thresholds = _thresholds_per_position(op, "thresholds")  # [M, P, L]
    if isinstance(x, ColumnCurrents):
        if x.currents.shape[1] == 1 and plane_weights(op.attr("encoding"))[0] > 0:
            return [_comparator_planes(run, op, _analog_fires(run, op, x, thresholds))]
        x = x.counts()
    if isinstance(x, PendingReads):
        v, bound = _fused_value(op, x)  # [N, P, M]
        t = _prepared(op, ("thresholds", bound, v.dtype), lambda: _clipped_thresholds(thresholds, bound, v.dtype))
        fired = [v >= t[..., 0]] if t.shape[2] == 1 else [v >= t[..., 1], v < t[..., 0]]
        return [_comparator_planes(run, op, [f.transpose(0, 2, 1) for f in fired])]
    bound = _value_bound(op, x)
    v = _sensed_value(op, x, bound)  # [N, M, P], |v| <= bound
    # thresholds beyond ±bound decide alike at ±(bound + 1): v's narrow dtype holds them
    t = np.clip(thresholds, -bound - 1, bound + 1).astype(v.dtype)
    fired = [v >= t[..., 0]] if t.shape[2] == 1 else [v >= t[..., 1], v < t[..., 0]]
    return [_comparator_planes(run, op, fired)]


def _clipped_thresholds(thresholds: np.ndarray, bound: int, dtype: np.dtype) -> np.ndarray:
    """``[M, P, L]`` thresholds as ``[P, M, L]`` in ``dtype``, clipped to ``±(bound + 1)`` —
    values beyond decide alike for every ``|v| ≤ bound`` and stay exact in float32."""
    return np.ascontiguousarray(np.clip(thresholds, -bound - 1, bound + 1).transpose(1, 0, 2)).astype(dtype)


def _comparator_planes(run: _Run, op: Operation, fired: list[np.ndarray]) -> np.ndarray:
    """Comparator outputs ``[N, M, P]`` per level → the result ``[N, L, 1, M, …spatial]``."""
    shape = op.result.type.shape  # (L, 1, M, ...spatial)
    out = np.empty((run.samples,) + shape, np.uint8)
    for level, plane in enumerate(fired):
        out[:, level, 0] = plane.reshape((run.samples,) + shape[2:])
    return out


def _analog_fires(run: _Run, op: Operation, x: ColumnCurrents, thresholds: np.ndarray) -> list[np.ndarray]:
    """The comparators in current units: ``S ≥ I_T + offset`` (see the module docstring)."""
    device = x.device
    scheme = op.attr("scheme")
    currents = np.ascontiguousarray(x.currents[:, 0].transpose(0, 2, 1))  # [N, M', P]
    unit = device.v_read * device.delta_g
    if scheme == "refcol":  # S = I_j − I_ref
        sensed, unit = currents[:, :-1] - currents[:, -1:], unit / 2
    elif scheme == "diff":  # S = I⁺ − I⁻
        sensed = currents[:, 0::2] - currents[:, 1::2]
    else:  # S = I − I_base, the popcount current
        sensed = currents - x.baseline[:, 0].transpose(0, 2, 1)
    omega = plane_weights(op.attr("encoding"))[0]
    steps = -((-thresholds) // omega)  # ceil(T / ω): v ≥ T ⇔ raw ≥ steps
    threshold_current = (steps - 0.5) * unit  # [M, P, L]
    limit = threshold_current + _comparator_offsets(run, op, thresholds.shape[0], thresholds.shape[2])[:, None, :]
    if limit.shape[2] == 1:
        return [sensed >= limit[..., 0]]
    return [sensed >= limit[..., 1], sensed < limit[..., 0]]


def _comparator_offsets(run: _Run, op: Operation, columns: int, levels: int) -> np.ndarray:
    """``[M, L]`` offsets (amperes) from the device's hook (zeros without one), once per call."""
    session, device = run.session, run.device
    if op not in session.hooked:
        offset = np.zeros((columns, levels))
        if device is not None and device.comparator_offset is not None:
            given = np.asarray(device.comparator_offset(op), np.float64)
            if given.shape == (columns,):
                offset = np.repeat(given[:, None], levels, axis=1)
            elif given.shape == (levels, columns):
                offset = given.T.copy()
            else:
                raise SimulatorError.at(op, f"the comparator offset hook returned shape {list(given.shape)}, "
                                            f"expected [{columns}] or [{levels}, {columns}]")
        session.hooked[op] = offset
    return session.hooked[op]


@_kernel("xbar.readout")
def _readout(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``y = v + offset[j, class]``, the exact pre-activation."""
    if isinstance(args[0], PendingReads):
        v, _ = _fused_value(op, args[0])  # [N, P, M], exact integers
        offset = _thresholds_per_position(op, "offset")  # [M, P]
        y = (v.astype(np.int64) + offset.T).astype(np.int32)
        return [np.ascontiguousarray(y.transpose(0, 2, 1)).reshape((run.samples,) + op.result.type.shape)]
    v = _sensed_value(op, args[0], max(_value_bound(op, args[0]), 2**16))  # [N, M, P], at least int32
    offset = _thresholds_per_position(op, "offset")  # [M, P]
    return [(v + offset).astype(np.int32).reshape((run.samples,) + op.result.type.shape)]


# --------------------------------------------------------------------------- host partitions


class _HostPartition:
    """A ``host.onnx`` model run on a whole batch where possible: a copy of the model whose
    graph inputs and outputs have a symbolic batch axis instead of the fixed 1, used for a
    batch size once its results equal per-sample runs bit for bit on up to :attr:`PROBES`
    samples spread over the batch (first and last included); otherwise (or when anything
    fails) the interpreter's per-sample run. Made for one version of the model constant
    (:attr:`bnnc.ir.Constant.version`)."""

    PROBES = 8

    def __init__(self, data: np.ndarray, version: int):
        self.data = data
        self.version = version
        self.session: Any = None
        self.usable: bool | None = None  # None: not tried yet
        self.verified: set[int] = set()

    def run(self, op: Operation, args: list[np.ndarray], samples: int) -> list[np.ndarray]:
        if samples == 1 or not self._batchable(op):
            return self._per_sample(op, args, samples)
        try:
            outputs = self._batched(op, args, samples)
        except Exception:
            self.usable = False
            return self._per_sample(op, args, samples)
        if samples not in self.verified:
            probes = np.unique(np.linspace(0, samples - 1, min(samples, self.PROBES)).round().astype(int))
            expected = self._per_sample(op, [a[probes] for a in args], len(probes))
            if not all(o[probes].dtype == e.dtype and o[probes].tobytes() == e.tobytes() for o, e in zip(outputs, expected)):
                self.usable = False
                return self._per_sample(op, args, samples)
            self.verified.add(samples)
        return outputs

    @staticmethod
    def _per_sample(op: Operation, args: list[np.ndarray], samples: int) -> list[np.ndarray]:
        semantics = semantics_of(op.name)
        runs = [semantics(op, [a[s] for a in args]) for s in range(samples)]
        return [np.stack(outs) for outs in zip(*runs)]

    def _batchable(self, op: Operation) -> bool:
        if self.usable is None:
            self.usable = False
            types = [v.type for v in op.operands] + [v.type for v in op.results]
            if all(t.rank >= 1 and t.shape[0] == 1 for t in types):
                self.session = _symbolic_batch_session(self.data)
                self.usable = self.session is not None
        return self.usable

    def _batched(self, op: Operation, args: list[np.ndarray], samples: int) -> list[np.ndarray]:
        specs = self.session.get_inputs()
        if len(specs) != len(args) or len(self.session.get_outputs()) != len(op.results):
            raise ValueError("operand/result counts differ from the model's")
        feeds = {}
        for spec, array, value in zip(specs, args, op.operands):
            converted, exact = exact_cast(array, ONNX_TYPES[spec.type])
            if not exact.all():
                raise ValueError(f"operand does not convert exactly to {spec.type}")
            feeds[spec.name] = converted.reshape((samples,) + value.type.shape[1:])
        outputs = self.session.run(None, feeds)
        return [to_domain(np.asarray(out).reshape((samples,) + r.type.shape), r.type.domain)
                for out, r in zip(outputs, op.results)]


def _symbolic_batch_session(data: np.ndarray) -> Any:
    """An onnxruntime session (as the interpreter's: no optimizations, one thread) on the model
    with a symbolic first axis on every graph input and output that had a fixed 1; None where a
    graph input or output has no such axis or the model no longer checks (onnx shape inference,
    strict)."""
    import onnx

    try:
        model = onnx.load_from_string(data.tobytes())
        for info in list(model.graph.input) + list(model.graph.output):
            dims = info.type.tensor_type.shape.dim
            if not dims:
                return None
            if dims[0].HasField("dim_value") and dims[0].dim_value == 1:
                dims[0].dim_param = "bnnc_samples"
            elif not dims[0].HasField("dim_param"):
                return None
        del model.graph.value_info[:]
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        return reference_session(model.SerializeToString())
    except Exception:
        return None


_HOSTS: weakref.WeakKeyDictionary[Module, dict[str, _HostPartition]] = weakref.WeakKeyDictionary()


@_kernel("host.onnx")
def _host(run: _Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """The partition through onnxruntime, once per batch where the model allows it."""
    module, symbol = op.module, op.const("model")
    constant = module.constant(symbol)
    per_module = _HOSTS.setdefault(module, {})
    partition = per_module.get(symbol)
    if partition is None or partition.version != constant.version:
        partition = per_module[symbol] = _HostPartition(constant.data, constant.version)
    session_for(op)  # the interpreter's per-sample session, created (and its errors raised) once
    return partition.run(op, args, run.samples)

