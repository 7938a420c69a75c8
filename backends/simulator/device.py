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
from .errors import SimulatorError


ConductanceHook = Callable[[Operation, np.ndarray], np.ndarray]
OffsetHook = Callable[[Operation], np.ndarray]


@dataclass
class DeviceModel:
    """The analog model of the arrays and their comparators (see :mod:`bnnc.backends.simulator`).

    - ``g_on``, ``g_off``: cell conductances (siemens) of the on and off states (R_on 10 kΩ,
      R_off 1 MΩ by default); ``v_read``: the port voltage (volts) of a driven row.
    - ``conductance(op, ideal)``: the actual per-cell conductances (siemens, shape ``[K, M]``)
      of the array read by ``xbar.mvm`` op ``op``, given its ideal ones (``g_off``/``g_on``,
      ``g_mid`` for on cells of a refcol reference column); called once per array per
      :func:`simulate` call; replicas of an array share its conductances.
    - ``comparator_offset(op)``: the input-referred offset (amperes) of each comparator of the
      ``xbar.compare`` op ``op`` — shape ``[M]`` (one per output column) or ``[L, M]`` (one per
      level); added to the threshold current. Only analog comparators have one.
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


class DeviceSession:
    """A device model (or None, the integer path) during one :func:`~bnnc.backends.simulator.simulate` call: what its
    hooks return, asked once per op (its chunks and an array's replicas share it)."""

    def __init__(self, device: DeviceModel | None):
        self.device = device
        self._conductances: dict[Operation, np.ndarray] = {}
        self._offsets: dict[Operation, np.ndarray] = {}
        self._ir_drop: dict[Operation, IRDropModel] = {}
        self.ir_drop_error_lsb: dict[Operation, float] = {}
        """Per ``xbar.mvm`` op read with ``wire_ohm > 0``: the worst ``|I_mesh − I_ideal|`` over
        every read run, in LSB (``v_read · ΔG``, one on-cell's current step)."""

    def conductances(self, op: Operation, reference: bool) -> np.ndarray:
        """The per-cell conductances of the array ``xbar.mvm`` op ``op`` reads: ideal (the last
        column a reference column where ``reference``), or what the device's hook makes of them."""
        device = self.device
        if op not in self._conductances:
            ideal = device.ideal_cells(op.const_array("conductance"), reference)
            g = ideal if device.conductance is None else np.asarray(device.conductance(op, ideal.copy()), np.float64)
            if g.shape != ideal.shape or not np.isfinite(g).all():
                raise SimulatorError.at(op, f"the conductance hook returned {g.dtype}{list(g.shape)} (finite values "
                                            f"of shape {list(ideal.shape)} expected)")
            self._conductances[op] = g
        return self._conductances[op]

    def ir_drop(self, op: Operation, reference: bool) -> IRDropModel:
        """The IR-drop model of the array ``xbar.mvm`` op ``op`` reads (its actual
        conductances, the device's ``wire_ohm``), built once per op: the exact nodal solve or
        the fast series where its bound allows (:func:`~bnnc.backends.circuit.ir_drop_model`)."""
        if op not in self._ir_drop:
            device = self.device
            self._ir_drop[op] = ir_drop_model(self.conductances(op, reference), device.wire_ohm, device.v_read,
                                              device.v_read * device.delta_g)
        return self._ir_drop[op]

    def comparator_offsets(self, op: Operation, columns: int, levels: int) -> np.ndarray:
        """``[M, L]`` offsets (amperes) of ``xbar.compare`` op ``op`` from the device's hook
        (zeros without one)."""
        device = self.device
        if op not in self._offsets:
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
            self._offsets[op] = offset
        return self._offsets[op]


def column_currents(session: DeviceSession, op: Operation, ports: np.ndarray) -> ColumnCurrents:
    """``I = v_read · ports @ G`` (float64) with the actual conductances of the array that
    ``xbar.mvm`` op ``op`` reads; with ``wire_ohm > 0``, ``I = v_read · ports @ T`` with the
    mesh's transfer matrix ``T`` (:meth:`DeviceSession.ir_drop`), recording the worst error
    against the ideal currents in :attr:`DeviceSession.ir_drop_error_lsb`."""
    device = session.device
    assert device is not None
    scheme = sensing_scheme(op)
    reference = scheme is not None and scheme.reference_column
    g = session.conductances(op, reference)
    n, planes, positions, rows = ports.shape
    drives = ports.reshape(-1, rows).astype(np.float64)
    currents = device.v_read * (drives @ g)
    if device.wire_ohm > 0:
        ideal, currents = currents, device.v_read * (drives @ session.ir_drop(op, reference).transfer)
        worst = float(np.abs(currents - ideal).max(initial=0.0)) / (device.v_read * device.delta_g)
        session.ir_drop_error_lsb[op] = max(worst, session.ir_drop_error_lsb.get(op, 0.0))
    return ColumnCurrents(
        currents.reshape(n, planes, positions, g.shape[1]),
        ports.sum(axis=-1, dtype=np.int64),
        device.column_steps(g.shape[1], reference),
        device,
    )


def sensing_scheme(mvm: Operation) -> Scheme | None:
    """The mapping scheme of the sensing op that reads ``mvm``'s columns (through ADCs and
    accumulations), or None when nothing senses them."""
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
    device = x.device
    scheme = SCHEMES[op.attr("scheme")]
    currents = np.ascontiguousarray(x.currents[:, 0].transpose(0, 2, 1))  # [N, M', P]
    unit = device.v_read * device.delta_g
    if scheme.reference_column:  # S = I_j − I_ref: one raw step is half an on-cell
        sensed, unit = currents[:, :-1] - currents[:, -1:], unit / 2
    elif scheme.complement_ports:  # S = I − I_base, the popcount current
        sensed = currents - x.baseline[:, 0].transpose(0, 2, 1)
    else:  # S = the scheme's combination of the currents (I⁺ − I⁻: the baselines cancel)
        sensed = scheme.combine(currents, axis=1)
    omega = plane_weights(op.attr("encoding"))[0]
    steps = -((-thresholds) // omega)  # ceil(T / ω): v ≥ T ⇔ raw ≥ steps
    threshold_current = (steps - 0.5) * unit  # [M, P, L]
    limit = threshold_current + session.comparator_offsets(op, thresholds.shape[0], thresholds.shape[2])[:, None, :]
    if limit.shape[2] == 1:
        return [sensed >= limit[..., 0]]
    return [sensed >= limit[..., 1], sensed < limit[..., 0]]
