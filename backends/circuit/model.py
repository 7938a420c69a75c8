"""The IR-drop model the simulator uses for one array: :func:`ir_drop_model` picks the fast
series (:mod:`.series`) where its proven bound is within the tolerance, else the exact nodal
solve (:mod:`.mesh`), and gives the array's transfer matrix either way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh import NodalMesh, check_cells
from .series import SeriesMesh

TOLERANCE_LSB = 1e-3
"""Default accuracy asked of the fast model, in LSB (one on-cell's current step, ``v_read · ΔG``):
far below the half LSB at which an array is flagged."""


@dataclass(frozen=True)
class IRDropModel:
    """How one array's column currents are computed: ``transfer`` ``[K, M]`` (siemens, ``I =
    V @ transfer`` for drive voltages ``V``), the ``method`` (``"ideal"`` for ``wire_ohm = 0``,
    ``"series"`` with ``terms`` iterations, ``"exact"``) and ``bound`` (amperes), the largest
    error of any column current of any read against the exact mesh (0 for exact and ideal)."""

    transfer: np.ndarray
    method: str
    terms: int
    bound: float


def ir_drop_model(g: np.ndarray, wire_ohm: float, v_read: float, lsb: float,
                  tolerance_lsb: float = TOLERANCE_LSB) -> IRDropModel:
    """The model of an array with conductances ``g`` ``[K, M]`` (siemens) and ``wire_ohm`` per
    segment, read at ``v_read`` (volts) with one LSB = ``lsb`` amperes: the series with the
    fewest iterations whose bound over every read (each row at 0 or ``v_read``) is at most
    ``tolerance_lsb`` LSB, when there is one (the series converges and needs at most
    :data:`~.series.MAX_TERMS` iterations); the exact nodal solve otherwise."""
    g = check_cells(g, wire_ohm)
    if wire_ohm == 0:
        return IRDropModel(g.copy(), "ideal", 0, 0.0)
    series = SeriesMesh(g, wire_ohm)
    terms = series.terms_for(tolerance_lsb * lsb, v_read)
    if terms is not None:
        return IRDropModel(series.transfer(terms), "series", terms, series.bound(terms, v_read))
    return IRDropModel(NodalMesh(g, wire_ohm).transfer(), "exact", 0, 0.0)
