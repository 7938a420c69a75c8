"""Fault-aware compilation: a chip's known stuck cells folded into its comparator thresholds.

A stuck cell ``k`` of column ``j`` moves that column's count by ``Δc_kj = (g_stuck − g_ideal)
/ s_j`` (``s_j`` the column's step, :meth:`DeviceModel.column_steps`) whenever its row carries
V_read, so the sensed value of output ``j`` moves by

    Δv_j(x) = Σ_b ω_b Σ_k port_bk(x) · Δraw_kj,      Δraw = Δc @ S

(``ω_b`` the plane weights, ``S`` the scheme's column combination; summed over the row tiles
of the layer). This depends on the input bit on each stuck cell's row, so no threshold can
absorb it exactly. What a threshold can absorb is its input-independent part: the shift at the
ports' midpoint, every data port at ``½`` (for a ±1 input, ``2·x̃ = 1 + x``, so ``Δv`` splits
into ``Σ_k Δraw_k`` and the zero-mean ``Σ_k x_k · Δraw_k``), pad ports at the constant bit they
carry (exact), excluded pads at 0 — per window position, so border classes get their own
shift, and per replica. The fold makes each comparator decide ``v ≥ ceil(T + Δv̄)``
(:attr:`DeviceModel.threshold_shift`); what remains is the term linear in ``x``, zero at the
midpoint and in the mean where both values of a bit are equally likely. Ternary inputs
(``ω = [1, −1]``) have midpoint 0 and get no shift; 8-bit inputs take every bit at ``½``. Cell
variation, drift, read noise and comparator offsets are not known to a test of the chip and
are not folded.
"""

from __future__ import annotations

import numpy as np

from bnnc.ir import Module, Operation
from bnnc.ir.analysis import crossbar_layers
from bnnc.ir.schemes import SCHEMES, plane_weights

from ..semantics.bnn import spatial_classes
from .chips import STUCK_HRS, STUCK_LRS, Chip, ChipSampler
from .windows import im2col


def stuck_cell_shifts(module: Module, sampler: ChipSampler, chip: Chip) -> dict[Operation, np.ndarray]:
    """``{xbar.compare op: [M, P, L] threshold shifts}`` folding ``chip``'s stuck cells (see
    the module docstring); compare ops whose arrays hold no stuck cell are left out."""
    shifts = {}
    for layer in crossbar_layers(module.function("main")):
        for op in layer.sensing:
            if op.name != "xbar.compare":
                continue
            reads = _reads_of(op)
            if not any(chip.stuck[m].any() for m in reads):
                continue
            columns, _, levels = op.const_type("thresholds").shape
            positions = spatial_classes(op.const_array("classes")).size
            scheme = SCHEMES[op.attr("scheme")]
            weights = np.asarray(plane_weights(op.attr("encoding")), np.float64)
            shift = np.zeros((positions, columns))
            for mvm in reads:
                weighted = np.tensordot(weights, midpoint_ports(mvm), axes=1)  # [P, K]
                ideal = sampler.ideal_cells(mvm)
                codes = chip.stuck[mvm]
                g = np.where(codes == STUCK_HRS, sampler.base.g_off, np.where(codes == STUCK_LRS, sampler.base.g_on, ideal))
                steps = sampler.base.column_steps(ideal.shape[1], scheme.reference_column)
                raw = ((g - ideal) / steps) @ scheme.column_matrix(ideal.shape[1])  # [R, K, M]
                replicas = raw.shape[0]
                for r in range(replicas):
                    shift[r::replicas] += weighted[r::replicas] @ raw[r]
            shifts[op] = np.repeat(shift.T[:, :, None], levels, axis=2)
    return shifts


def _reads_of(op: Operation) -> list[Operation]:
    """The ``xbar.mvm`` ops whose counts reach sensing op ``op`` (through ADCs and sums)."""
    reads, frontier = [], [op.operands[0]]
    while frontier:
        producer = frontier.pop().producer
        if producer is None:
            continue
        if producer.name == "xbar.mvm":
            reads.append(producer)
        elif producer.name in ("xbar.adc", "xbar.accumulate"):
            frontier.extend(producer.operands)
    return reads


def midpoint_ports(mvm: Operation) -> np.ndarray:
    """``[B, P, K]``: the midpoint value of every port of array read ``mvm`` per plane and
    window position — ``½`` for a data port (and its complement row), the pad bit (or its
    complement) for a pad carrying one, 0 for an excluded pad. Ports that do not come from a
    window are data ports."""
    planes, positions, rows = mvm.operands[0].type.shape
    value, start = mvm.operands[0], 0
    while value.producer is not None and value.producer.name == "xbar.slice" and value.producer.attr("axis") == 2:
        start += value.producer.attr("start")
        value = value.producer.operands[0]
    window = value.producer
    if window is None or window.name != "xbar.window":
        return np.full((planes, positions, rows), 0.5)
    _, _, channels, height, width = window.operands[0].type.shape
    inside = im2col(np.ones((1, channels, height, width), np.uint8), window, 0)[0].astype(np.float64)  # [P, K]
    constant = bool(window.attr("pad_bits"))
    per_plane = []
    for bit in window.pad_plane_bits():
        direct = 0.5 * inside + (1 - inside) * (bit if constant else 0)
        parts = [direct]
        if window.attr("complement"):
            parts.append(0.5 * inside + (1 - inside) * ((1 - bit) if constant else 0))
        per_plane.append(np.concatenate(parts, axis=1))
    return np.stack(per_plane)[:, :, start : start + rows]
