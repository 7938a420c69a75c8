"""The analog path: the device model (:class:`DeviceModel`), an array read as column currents
(:class:`ColumnCurrents`), what the device's hooks return during one :func:`~bnnc.backends.simulator.simulate` call
(:class:`DeviceSession`), and the comparators that sense currents directly
(:func:`analog_fires`). The model is described in :mod:`bnnc.backends.simulator`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bnnc.ir import Operation
from bnnc.ir.schemes import SCHEMES, Scheme, plane_weights

from ..circuit import IRDropModel, ir_drop_model
from .caches import prepared, structural
from .cells import ChipCells
from .errors import SimulatorError


ConductanceHook = Callable[[Operation, np.ndarray], np.ndarray]
OffsetHook = Callable[[Operation], np.ndarray]
ShiftHook = Callable[[Operation], np.ndarray]


@dataclass
class DeviceModel:
    """The analog model of the arrays and their comparators (see :mod:`bnnc.backends.simulator`).

    - ``g_on``, ``g_off``: cell conductances (siemens) of the on and off states (R_on 10 kΩ,
      R_off 1 MΩ by default); ``v_read``: the port voltage (volts) of a driven row.
    - ``conductance(op, ideal)``: the actual per-cell conductances (siemens) of the array read
      by ``xbar.mvm`` op ``op``, given its ideal ones ``[K, M]`` (``g_off``/``g_on``, ``g_mid``
      for on cells of a refcol reference column); called once per array per :func:`simulate`
      call. Shape ``[K, M]`` (every replica of the array has these cells) or ``[R, K, M]`` for
      the op's ``R = replicas`` copies, replica ``r`` reading the window positions ``p`` with
      ``p mod R = r`` (the schedule's groups of ``R`` consecutive windows).
    - ``comparator_offset(op)``: the input-referred offset (amperes) of each comparator of the
      ``xbar.compare`` op ``op`` — shape ``[M]`` (one per output column), ``[L, M]`` (one per
      level) or ``[R, L, M]`` (one per replica of the array it senses); added to the threshold
      current. Only analog comparators have one.
    - ``threshold_shift(op)``: ``[M, P, L]`` shifts (in units of the sensed value ``v``,
      fractional allowed) of every comparator threshold of ``xbar.compare`` op ``op`` at every
      window position, or None for none: an analog comparator's threshold current moves by ``shift · u / ω``, a
      digital one decides ``v ≥ ceil(T + shift)``. Fault-aware compilation folds a chip's known
      stuck cells into its thresholds this way.
    - ``read_sigma``: relative read noise of every cell, drawn per array read from ``rng``:
      ``G · (1 + read_sigma · ε)``, ε ~ N(0, 1) per cell and read. A column's current then has
      ``N(0, read_sigma² · v_read² · Σ_k ports_k · G_kj²)`` added — that sum's exact
      distribution, drawn once per column and read (by :mod:`.noise`, seeded from ``rng``).
    - ``wire_ohm``: the resistance (ohms) of one wire segment between adjacent cells, rows and
      columns (IR drop; :mod:`bnnc.backends.circuit` gives the mesh). 0, the default, is the
      ideal ``v_read · ports @ G``; above 0 the column currents come from the mesh.
    """

    g_on: float = 1 / 10e3
    g_off: float = 1 / 1e6
    v_read: float = 0.15
    conductance: ConductanceHook | None = None
    comparator_offset: OffsetHook | None = None
    wire_ohm: float = 0.0
    threshold_shift: ShiftHook | None = None
    read_sigma: float = 0.0
    rng: np.random.Generator | None = None

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
    """One ``xbar.mvm``'s reads in the analog path: ``currents`` ``[N, B, P, M]`` (amperes; float32 from the ohmic model),
    ``driven`` ``[N, B, P]`` rows at V_read per read, ``steps`` ``[M]`` the ADC step of each
    column (siemens, see :meth:`DeviceModel.column_steps`), ``replicas`` the copies of the
    array that read the positions (``p mod replicas``)."""

    currents: np.ndarray
    driven: np.ndarray
    steps: np.ndarray
    device: DeviceModel
    replicas: int = 1

    @property
    def baseline(self) -> np.ndarray:
        """``I_base = d · g_off · v_read``, ``[N, B, P, 1]``: the current of the driven rows
        were every cell off."""
        return (self.driven * self.currents.dtype.type(self.device.g_off * self.device.v_read))[..., None]

    def counts(self, bits: int | None = None) -> np.ndarray:
        """ADC conversion: ``round((I − I_base) / (v_read · s_j))`` as int32, saturating at
        ``[0, 2**bits − 1]`` for a ``bits``-bit ADC (unbounded for ``None``)."""
        scale = (1 / (self.device.v_read * self.steps)).astype(self.currents.dtype)
        counts = np.subtract(self.currents, self.baseline)
        counts *= scale
        np.rint(counts, out=counts)
        if bits is not None:
            np.clip(counts, 0, (1 << bits) - 1, out=counts)
        return counts.astype(np.int32)

    def resolve(self) -> np.ndarray:
        """The counts an ideal ADC reads (for consumers that need integers)."""
        return self.counts()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.currents.shape


class DeviceSession:
    """A device model (or None, the integer path, on the program's cells or a chip's) during one :func:`~bnnc.backends.simulator.simulate` call: what its
    hooks return, asked once per op (its chunks and an array's replicas share it)."""

    def __init__(self, device: DeviceModel | None, cells: ChipCells | None = None):
        self.device = device
        self.cells = cells
        """With ``device`` None: a chip's cells on the integer path (:mod:`.integer_chips`), or
        None for the compiled program's own."""
        self._conductances: dict[Operation, np.ndarray] = {}
        self._offsets: dict[Operation, np.ndarray] = {}
        self._ir_drop: dict[Operation, list[IRDropModel]] = {}
        self.ir_drop_error_lsb: dict[Operation, float] = {}
        """Per ``xbar.mvm`` op read with ``wire_ohm > 0``: the worst ``|I_mesh − I_ideal|`` over
        every read run, in LSB (``v_read · ΔG``, one on-cell's current step)."""
        self._shifts: dict[Operation, np.ndarray | None] = {}
        self._single: dict[Operation, np.ndarray] = {}

    def conductances(self, op: Operation, reference: bool) -> np.ndarray:
        """The per-cell conductances ``[R, K, M]`` of the ``R`` copies (``R = 1`` where the
        replicas share cells) of the array ``xbar.mvm`` op ``op`` reads: ideal (the last column
        a reference column where ``reference``), or what the device's hook makes of them."""
        device = self.device
        if op not in self._conductances:
            ideal = prepared(op, ("ideal cells", device.g_on, device.g_off, reference),
                             lambda: device.ideal_cells(op.const_array("conductance"), reference))
            g = ideal if device.conductance is None else np.asarray(device.conductance(op, ideal.copy()), np.float64)
            replicas = op.attr("replicas")
            if g.shape == ideal.shape:
                g = g[None]
            if g.shape not in ((1,) + ideal.shape, (replicas,) + ideal.shape) or not np.isfinite(g).all():
                raise SimulatorError.at(op, f"the conductance hook returned {g.dtype}{list(g.shape)} (finite values "
                                            f"of shape {list(ideal.shape)} or {[replicas, *ideal.shape]} expected)")
            self._conductances[op] = g
        return self._conductances[op]

    def ir_drop(self, op: Operation, reference: bool) -> list[IRDropModel]:
        """The IR-drop models of the ``R`` copies of the array ``xbar.mvm`` op ``op`` reads
        (their actual conductances, the device's ``wire_ohm``), built once per op: the exact
        nodal solve or the fast series where its bound allows
        (:func:`~bnnc.backends.circuit.ir_drop_model`)."""
        if op not in self._ir_drop:
            device = self.device
            self._ir_drop[op] = [ir_drop_model(g, device.wire_ohm, device.v_read, device.v_read * device.delta_g)
                                 for g in self.conductances(op, reference)]
        return self._ir_drop[op]

    def single_precision(self, op: Operation, g: np.ndarray, reference: bool) -> np.ndarray:
        """``[R, K, W]`` float32 weights of one GEMM per replica that gives every column
        figure a read of ``op``'s conductances ``g`` needs, side by side: ``v_read · G`` (the
        ohmic currents, amperes), then ``(read_sigma · v_read)² · G²`` where the device has read
        noise (the variance of each column's current per driven row), then ``v_read · T`` (the
        mesh's transfer matrices) where ``wire_ohm > 0``, then a column of ones (the driven
        rows, exact below 2**24 rows; cheaper in the GEMM than a sum of its own). A current over
        ``K`` rows then errs by about ``K · 6e-8`` of one on-cell's current, far below the half
        step (0.5 LSB) that every comparator and ADC decision keeps."""
        if op not in self._single:
            device = self.device
            parts = [device.v_read * g]
            if device.read_sigma > 0:
                parts.append((device.read_sigma * device.v_read) ** 2 * (g * g))
            if device.wire_ohm > 0:
                parts.append(device.v_read * np.stack([m.transfer for m in self.ir_drop(op, reference)]))
            parts.append(np.ones(g.shape[:2] + (1,)))
            self._single[op] = np.ascontiguousarray(np.concatenate(parts, axis=2), dtype=np.float32)
        return self._single[op]

    def comparator_offsets(self, op: Operation, columns: int, levels: int, replicas: int = 1) -> np.ndarray:
        """``[R, M, L]`` offsets (amperes) of ``xbar.compare`` op ``op`` from the device's hook
        (zeros without one; ``R`` is 1 where the replicas' comparators share them)."""
        device = self.device
        if op not in self._offsets:
            offset = np.zeros((1, columns, levels))
            if device is not None and device.comparator_offset is not None:
                given = np.asarray(device.comparator_offset(op), np.float64)
                if given.shape == (columns,):
                    offset = np.repeat(given[None, :, None], levels, axis=2)
                elif given.shape == (levels, columns):
                    offset = given.T[None].copy()
                elif given.shape == (replicas, levels, columns):
                    offset = given.transpose(0, 2, 1).copy()
                else:
                    raise SimulatorError.at(op, f"the comparator offset hook returned shape {list(given.shape)}, "
                                                f"expected [{columns}], [{levels}, {columns}] or "
                                                f"[{replicas}, {levels}, {columns}]")
            self._offsets[op] = offset
        return self._offsets[op]

    def threshold_shifts(self, op: Operation, shape: tuple[int, int, int]) -> np.ndarray | None:
        """The ``[M, P, L]`` threshold shifts of ``xbar.compare`` op ``op`` from the device's
        hook, or None without one."""
        device = self.device
        if device is None or device.threshold_shift is None:
            return None
        if op not in self._shifts:
            given = device.threshold_shift(op)
            if given is None:
                self._shifts[op] = None
                return None
            given = np.asarray(given, np.float64)
            if given.shape != shape or not np.isfinite(given).all():
                raise SimulatorError.at(op, f"the threshold shift hook returned {given.dtype}{list(given.shape)} "
                                            f"(finite values of shape {list(shape)} expected)")
            self._shifts[op] = given
        return self._shifts[op]


def column_currents(session: DeviceSession, op: Operation, ports: np.ndarray) -> ColumnCurrents:
    """``I = v_read · ports @ G`` (float32) with the actual conductances of the array that
    ``xbar.mvm`` op ``op`` reads (replica ``r`` reading positions ``p mod R = r``), plus the
    read noise where the device has some; with ``wire_ohm > 0``, ``I = v_read · ports @ T`` with
    the mesh's transfer matrix ``T`` (:meth:`DeviceSession.ir_drop`), recording the worst error
    against the ideal currents in :attr:`DeviceSession.ir_drop_error_lsb`. One GEMM per replica
    gives every figure (:meth:`DeviceSession.single_precision`); the read noise is added in one
    compiled pass per replica, in replica order, seeded from the device's generator
    (:mod:`.noise`)."""
    device = session.device
    assert device is not None
    scheme = sensing_scheme(op)
    reference = scheme is not None and scheme.reference_column
    g = session.conductances(op, reference)
    replicas, rows, columns = g.shape
    weights = session.single_precision(op, g, reference)
    noisy, wired = device.read_sigma > 0, device.wire_ohm > 0
    if noisy and device.rng is None:
        raise SimulatorError.at(op, "a device with read noise needs a random generator (DeviceModel.rng)")
    lsb = device.v_read * device.delta_g
    currents = np.empty(ports.shape[:3] + (columns,), np.float32) if replicas > 1 else None
    driven = np.empty(ports.shape[:3], np.float32)
    for r in range(replicas):
        part = ports[:, :, r::replicas]
        flat = np.ascontiguousarray(part, dtype=np.float32).reshape(-1, rows)
        out = flat @ weights[r]  # [reads, W]: currents, variances, mesh currents, driven rows side by side
        current = out[:, -columns - 1 : -1] if wired else out[:, :columns]
        if wired:
            worst = float(np.abs(current - out[:, :columns]).max(initial=0.0)) / lsb
            session.ir_drop_error_lsb[op] = max(worst, session.ir_drop_error_lsb.get(op, 0.0))
        if noisy:  # N(0, read_sigma² · v_read² · Σ_k ports_k · G_kj²) per column and read
            from .noise import add_read_noise  # compiled: loaded when a noisy read first runs

            noisy_current = np.empty(current.shape, np.float32)
            add_read_noise(noisy_current, current, out[:, columns : 2 * columns], device.rng)
            current = noisy_current
        shaped = current.reshape(part.shape[:3] + (columns,))
        if currents is None:
            currents = shaped
        else:
            currents[:, :, r::replicas] = shaped
        driven[:, :, r::replicas] = out[:, -1].reshape(part.shape[:3])
    return ColumnCurrents(currents, driven, device.column_steps(columns, reference), device, replicas)


def sensing_scheme(mvm: Operation) -> Scheme | None:
    """The mapping scheme of the sensing op that reads ``mvm``'s columns (through ADCs and
    accumulations), or None when nothing senses them; found once until an IR is edited (a
    chip's cells look it up per array)."""
    return structural(mvm, "sensing scheme", lambda: _sensing_scheme(mvm))


def _sensing_scheme(mvm: Operation) -> Scheme | None:
    """:func:`sensing_scheme`, found along ``mvm``'s uses."""
    value = mvm.result
    while True:
        users = [u.op for u in value.uses]
        if not users:
            return None
        user = users[0]
        if user.name in ("xbar.compare", "xbar.readout"):
            return SCHEMES[user.attr("scheme")]
        if user.name not in ("xbar.adc", "xbar.accumulate"):
            return None
        value = user.result


def analog_fires(session: DeviceSession, op: Operation, x: ColumnCurrents, thresholds: np.ndarray) -> list[np.ndarray]:
    """The comparators of ``xbar.compare`` op ``op`` in current units, ``S ≥ I_T + offset``
    (see :mod:`bnnc.backends.simulator`): one ``[N, M, P]`` mask per level, for one read's
    currents ``x`` and the thresholds ``[M, P, L]`` at every window position."""
    margins = analog_margins(session, op, x, thresholds)
    if len(margins) == 1:
        return [margins[0] >= 0]
    return [margins[1] >= 0, margins[0] < 0]


def shifted_thresholds(session: DeviceSession, op: Operation, thresholds: np.ndarray) -> np.ndarray:
    """The integer thresholds ``[M, P, L]`` of ``xbar.compare`` op ``op`` moved by the device's
    threshold shifts: ``v ≥ T + shift ⇔ v ≥ ceil(T + shift)`` for the integer ``v`` the ideal
    program senses, so a moved threshold still lies half a step from every ideal value."""
    return moved_thresholds(thresholds, session.threshold_shifts(op, thresholds.shape))


def moved_thresholds(thresholds: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    """``ceil(T + shift)`` (int64) of integer thresholds ``[M, P, L]``, or ``T`` itself for no shift."""
    return thresholds if shift is None else np.ceil(thresholds + shift).astype(np.int64)


def analog_margins(session: DeviceSession, op: Operation, x: ColumnCurrents, thresholds: np.ndarray) -> list[np.ndarray]:
    """``S − (I_T + offset)`` (amperes) of every comparator of ``xbar.compare`` op ``op``: one
    ``[N, M, P]`` array per level (see :func:`analog_fires`), the threshold currents moved by
    the device's threshold shifts."""
    device = x.device
    scheme = SCHEMES[op.attr("scheme")]
    currents = np.ascontiguousarray(x.currents[:, 0].transpose(0, 2, 1))  # [N, M', P]
    if scheme.reference_column:  # S = I_j − I_ref
        sensed = currents[:, :-1] - currents[:, -1:]
    elif scheme.complement_ports:  # S = I − I_base, the popcount current
        sensed = currents - x.baseline[:, 0].transpose(0, 2, 1)
    else:  # S = the scheme's combination of the currents (I⁺ − I⁻: the baselines cancel)
        sensed = scheme.combine(currents, axis=1)
    offsets = session.comparator_offsets(op, thresholds.shape[0], thresholds.shape[2], x.replicas)  # [R, M, L]
    limit = comparator_limits(op, shifted_thresholds(session, op, thresholds), offsets, raw_unit(device, op))
    return [sensed - limit[..., level] for level in range(limit.shape[2])]


def raw_unit(device: DeviceModel, op: Operation) -> float:
    """``u``: the sensed current of one step of the integer raw value of analog comparator
    ``op`` (``v_read · ΔG``, half that for refcol, whose ``I_j − I_ref`` steps by half an
    on-cell)."""
    unit = device.v_read * device.delta_g
    return unit / 2 if SCHEMES[op.attr("scheme")].reference_column else unit


def comparator_limits(op: Operation, thresholds: np.ndarray, offsets: np.ndarray, unit: float) -> np.ndarray:
    """``I_T + offset`` ``[M, P, L]`` (amperes): the current at which each analog comparator of
    ``op`` fires, for its integer thresholds ``[M, P, L]`` on ``v`` (already moved by any
    threshold shifts), offsets ``[R, M, L]`` (replica ``p mod R`` at position ``p``) and raw
    unit ``unit`` (:func:`raw_unit`): ``(ceil(T / ω) − 1/2) · u + offset``."""
    omega = plane_weights(op.attr("encoding"))[0]
    steps = -((-thresholds) // omega)  # ceil(T / ω): v ≥ T ⇔ raw ≥ steps
    threshold_current = (steps - 0.5) * unit  # [M, P, L]
    positions = thresholds.shape[1]
    return threshold_current + offsets[np.arange(positions) % len(offsets)].transpose(1, 0, 2)
