"""How large an array stays within half an LSB of IR drop: :func:`fully_driven_error_lsb`,
:func:`largest_square_array`, and the arrays a run flags (:func:`ir_drop_summary`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bnnc.ir import Operation

from .model import ir_drop_model

HALF_LSB = 0.5
"""An array whose worst column-current error from IR drop reaches this many LSB is flagged:
a comparator half a step from its threshold can decide wrongly."""


def fully_driven_error_lsb(size: int, wire_ohm: float, r_on: float, r_off: float) -> float:
    """The worst column-current error (LSB = ``v_read · ΔG``; the ratio does not depend on
    ``v_read``) of a ``size`` × ``size`` array with every cell on (``r_on``) and every row
    driven — the heaviest load an array carries (``r_off`` sets ΔG; random reads of random
    cells measure 3–4× less, ``bench/RESULTS.md``)."""
    g = np.full((size, size), 1.0 / r_on)
    lsb = 1.0 / r_on - 1.0 / r_off
    model = ir_drop_model(g, wire_ohm, 1.0, lsb)
    return float(np.abs(model.transfer.sum(axis=0) - g.sum(axis=0)).max() / lsb)


def largest_square_array(wire_ohm: float, r_on: float, r_off: float, limit_lsb: float = HALF_LSB,
                         largest: int = 1024) -> int:
    """The largest ``N`` (at most ``largest``) such that a fully driven, all-on ``N`` × ``N``
    array stays under ``limit_lsb`` (:func:`fully_driven_error_lsb`, which grows with ``N``);
    0 if not even 1 × 1 does. Found by doubling, then bisection."""
    if fully_driven_error_lsb(1, wire_ohm, r_on, r_off) >= limit_lsb:
        return 0
    low = 1
    while low < largest and fully_driven_error_lsb(min(2 * low, largest), wire_ohm, r_on, r_off) < limit_lsb:
        low = min(2 * low, largest)
    if low == largest:
        return largest
    high = min(2 * low, largest)  # fails
    while high - low > 1:
        middle = (low + high) // 2
        if fully_driven_error_lsb(middle, wire_ohm, r_on, r_off) < limit_lsb:
            low = middle
        else:
            high = middle
    return low


def ir_drop_summary(errors: Mapping[Operation, float], wire_ohm: float, r_on: float, r_off: float) -> dict:
    """What a report says of IR drop, from each ``xbar.mvm`` op's worst error in LSB (as
    ``DeviceSession.ir_drop_error_lsb`` records them): ``max_error_lsb``,
    ``arrays_over_half_lsb`` (how many reach :data:`HALF_LSB`), ``flagged`` (those arrays:
    their cell constant, ONNX node(s), size and error, worst first) and
    ``largest_square_under_half_lsb`` at this ``wire_ohm`` (None without wire resistance)."""
    flagged = sorted(((op, error) for op, error in errors.items() if error >= HALF_LSB), key=lambda item: -item[1])
    return {
        "max_error_lsb": float(max(errors.values(), default=0.0)),
        "arrays_over_half_lsb": len(flagged),
        "flagged": [{"array": op.const("conductance"), "node": op.location.describe(),
                     "rows": op.const_type("conductance").shape[0], "cols": op.const_type("conductance").shape[1],
                     "error_lsb": float(error)} for op, error in flagged],
        "largest_square_under_half_lsb": largest_square_array(wire_ohm, r_on, r_off) if wire_ohm > 0 else None,
    }
