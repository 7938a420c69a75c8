"""The exact integer path of a chip whose device is integer-representable: the chip run as the
ideal program on its own cells, on the integer path's kernels (bit-packed AND-popcounts where
they pay), with the analog path's results.

With only stuck cells (at the finite on/off ratio), comparator offsets, fault-aware threshold
shifts and spare lines — no programming error, read noise, wire resistance or drift — every
cell's conductance is ``g_off + c · s_j`` with an integer count ``c``: 0 (off, or stuck off), 1
(on, or stuck on; a refcol reference column's mid-conductance cell) or 2 (a reference column's
cell stuck on: ``g_on − g_off = 2 (g_mid − g_off)``). A read's column current is then
``v_read · (g_off · d + s_j · Σ_k ports_k · c_kj)`` (``d`` the driven rows), so the analog
path's ADCs read the integer counts ``Σ_k ports_k · c_kj`` (its float32 currents err far below
the half step it rounds away) and its comparators decide on the integer raw value those counts
make. The chip therefore computes what the integer path computes with the counts ``c`` in place
of the conductance patterns (:class:`~.cells.ChipCells`, held by the simulator's
:class:`~.device.DeviceSession`) and its thresholds moved:

- a digital comparator (behind ADCs) decides ``v ≥ ceil(T + shift)`` in both paths;
- an analog comparator fires where ``u · raw ≥ I_T + offset``
  (:func:`~.device.comparator_limits`), that is ``raw ≥ ceil((I_T + offset) / u)``, the
  threshold ``ω · ceil((I_T + offset) / u)`` on ``v = ω · raw``.

:func:`chip_cells` gives a chip's :class:`~.cells.ChipCells`, or None where the integer path could
decide otherwise than the analog path — which then runs that chip: a device that is not
integer-representable; replicas of an array holding different cells (the integer path's
arrays have one cell pattern for every replica); an ADC that the chip's counts could saturate
(the analog path clips, the integer path's ADCs never need to); an analog comparator whose
``(I_T + offset) / u`` lies within the analog path's float32 rounding bound of a whole step
(there the float32 currents decide). Margins of analog comparators come out exact here
(:func:`chip_margins`), where the analog path's carry its float32 rounding (below
:data:`MARGIN_TOLERANCE_LSB` on every program the tests run).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bnnc.ir import Module, Operation
from bnnc.ir.schemes import plane_weights

from ..hardware import DeviceConfig
from .caches import thresholds_per_position
from .cells import ChipCells
from .chips import STUCK_HRS, STUCK_LRS, Chip, ChipSampler, drifts
from .deferred import PendingReads, fused_value
from .device import DeviceModel, comparator_limits, moved_thresholds, raw_unit, sensing_scheme
from .packed import PACKED_MIN_MACS

FLOAT32_UNIT = 2.0**-24
"""The unit roundoff of float32, the analog path's GEMMs and currents."""

MARGIN_TOLERANCE_LSB = 1e-3
"""How far (LSB) the analog path's margins may lie from the exact ones given here: its float32
currents err by at most about ``2 · K · 2**-24`` of a column's full current (``K`` rows)."""


def integer_representable(config: DeviceConfig) -> bool:
    """Whether every chip of ``config`` has integer cell counts (see the module docstring): no
    programming error, read noise, wire resistance or drift."""
    return config.program_sigma == 0 and config.read_sigma == 0 and config.wire_ohm == 0 and not drifts(config)


def chip_margins(cells: ChipCells, op: Operation, pending: PendingReads) -> list[np.ndarray] | None:
    """``u · raw − (I_T + offset)`` (amperes) of every analog comparator of ``op`` on the
    chip ``cells``' reads ``pending``, one ``[N, M, P]`` array per level as
    :func:`~.device.analog_margins` gives them; None where ``op`` is not analog."""
    if op not in cells.limits:
        return None
    limit, unit = cells.limits[op]
    v, _ = fused_value(op, pending)  # [N, P, M] = ω · raw
    omega = plane_weights(op.attr("encoding"))[0]
    sensed = v.transpose(0, 2, 1).astype(np.float64) * (unit / omega)
    return [sensed - limit[..., level] for level in range(limit.shape[2])]


def analog_comparator(op: Operation) -> bool:
    """Whether ``xbar.compare`` op ``op`` senses currents (one plane of positive weight read
    straight from an array) rather than ADC counts."""
    producer = op.operands[0].producer
    return (producer is not None and producer.name == "xbar.mvm" and op.operands[0].type.shape[0] == 1
            and plane_weights(op.attr("encoding"))[0] > 0)


def chip_cells(sampler: ChipSampler, chip: Chip, shifts: Mapping[Operation, np.ndarray] | None = None,
               work: int = 0) -> ChipCells | None:
    """``chip`` (of ``sampler``, with threshold ``shifts`` per compare op) on the integer
    path, or None where that could decide otherwise than the analog path (see the module
    docstring); ``work``: the multiply-adds of every array read of the Monte Carlo it belongs
    to (:func:`array_macs` per sample), which may repay loading the popcount kernels."""
    if not integer_representable(chip.config):
        return None
    base = sampler.base
    counts = {}
    for mvm in sampler.arrays:
        codes = chip.stuck[mvm]
        if any(not np.array_equal(codes[0], codes[r]) for r in range(1, codes.shape[0])):
            return None
        counts[mvm] = _counts(mvm, codes[0])
    for op in sampler.module.function("main").ops:
        if op.name == "xbar.adc" and op.operands[0].producer in counts and _may_saturate(counts[op.operands[0].producer], op):
            return None
    thresholds, limits = {}, {}
    for op, _ in sampler.comparators:
        t = moved_thresholds(thresholds_per_position(op, "thresholds"), (shifts or {}).get(op))
        if analog_comparator(op):
            unit = raw_unit(base, op)
            limit = comparator_limits(op, t, _offsets(op, chip), unit)
            steps = limit / unit
            if (np.abs(steps - np.rint(steps)) <= _rounding_bound(base, counts[op.operands[0].producer], unit)).any():
                return None
            t = (plane_weights(op.attr("encoding"))[0] * np.ceil(steps)).astype(np.int64)
            limits[op] = (limit, unit)
        thresholds[op] = t
    return ChipCells(counts, thresholds, limits, repays_loading=work >= PACKED_MIN_MACS)


def array_macs(module: Module) -> int:
    """The multiply-adds of every array read of ``module``'s ``main`` for one sample (planes ×
    window positions × rows × columns)."""
    return sum(math.prod(op.operands[0].type.shape) * op.result.type.shape[-1]
               for op in module.function("main").ops if op.name == "xbar.mvm")


def _counts(mvm: Operation, codes: np.ndarray) -> np.ndarray:
    """The counts ``[K, M]`` (int8) of array ``mvm``'s cells with stuck ``codes``: its
    pattern's bits, 0 where stuck off, 1 where stuck on (2 in a refcol reference column)."""
    assert (STUCK_HRS, STUCK_LRS) == (1, 2)  # a stuck cell's count is its code // 2
    counts = mvm.const_array("conductance") & (codes == 0).view(np.uint8)
    counts |= codes >> 1
    counts = counts.view(np.int8)
    scheme = sensing_scheme(mvm)
    if scheme is not None and scheme.reference_column:
        counts[codes[:, -1] == STUCK_LRS, -1] = 2
    return counts


def _may_saturate(counts: np.ndarray, adc: Operation) -> bool:
    """Whether some read of cells ``counts`` ``[K, M]`` could count beyond the range of ``adc``
    (every row driven: each column's sum; a column of 0/1 cells counts at most ``K``)."""
    limit = 1 << adc.attr("bits")
    rows = counts.shape[0]
    if rows < limit:  # only the cells counting 2 (a reference column's, the last) can go beyond
        return int(counts[:, -1].sum(dtype=np.int64)) >= limit
    return int(counts.sum(axis=0, dtype=np.int64).max(initial=0)) >= limit


def _offsets(op: Operation, chip: Chip) -> np.ndarray:
    """The chip's offsets ``[R, M, L]`` of comparator op ``op`` (zeros ``[1, M, L]`` without)."""
    if op in chip.offsets:
        return chip.offsets[op].transpose(0, 2, 1)
    columns, _, levels = op.const_type("thresholds").shape
    return np.zeros((1, columns, levels))


def _rounding_bound(base: DeviceModel, counts: np.ndarray, unit: float) -> float:
    """A bound, in raw units ``u``, of the analog path's float32 error in a sensed current
    read from cells ``counts`` ``[K, M]``: each of the (at most two) column currents it combines
    errs by at most ``(K + 2) · 2**-24`` times the current of every row driven (a float32
    sum's bound, the weights' and the baseline's rounding included), doubled for margin."""
    rows = counts.shape[0]
    largest = base.v_read * (rows * base.g_off + counts.sum(axis=0, dtype=np.int64).max(initial=0) * base.delta_g)
    return 4 * (rows + 2) * FLOAT32_UNIT * largest / unit
