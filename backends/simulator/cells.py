"""What the integer path runs instead of the compiled program's cells when it runs a chip
(:mod:`.integer_chips` makes it): the chip's cell counts, its comparators' thresholds, and
what the kernels derive from them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bnnc.ir import Operation


@dataclass
class ChipCells:
    """A chip on the integer path: per ``xbar.mvm`` op the count of every cell ``[K, M]``
    (int8, the same for every replica), per ``xbar.compare`` op whose thresholds the chip moves
    its thresholds ``[M, P, L]`` on ``v`` (int64), per analog comparator its firing currents
    ``[M, P, L]`` and raw unit (for :func:`~.integer_chips.chip_margins`); ``derived`` holds
    what the integer path derives from these cells (its fused plans), for as long as the chip
    is run."""

    counts: dict[Operation, np.ndarray]
    thresholds: dict[Operation, np.ndarray]
    limits: dict[Operation, tuple[np.ndarray, float]]
    repays_loading: bool = False
    """Whether the reads of every chip run with these cells' Monte Carlo together repay loading
    the compiled popcount kernels (:data:`~.packed.PACKED_MIN_MACS`; each chip's fused plans,
    made anew, count only their own multiply-adds)."""
    derived: dict[tuple[Operation, Hashable], Any] = field(default_factory=dict, repr=False)

    def cells(self, mvm: Operation) -> np.ndarray:
        """The counts ``[K, M]`` of array ``mvm``'s cells (the integer path's conductance pattern)."""
        return self.counts[mvm]

    def prepared(self, op: Operation, key: Hashable, build: Callable[[], Any]) -> Any:
        """``build()`` for ``op`` and ``key``, made once per chip (the counterpart of
        :func:`~.caches.prepared` for the chip's cells)."""
        slot = (op, key)
        if slot not in self.derived:
            self.derived[slot] = build()
        return self.derived[slot]
