"""Port encodings and the three crossbar mappings of ±1 weights onto one-sign ports (``../shared/DESIGN.md`` §4),
one object each: how many columns and rows a layer occupies, its cell pattern, the correction
that turns column counts into the ±1 dot product, and how the sensed columns combine.

With ``x̃ = (x + 1) / 2`` on the ports (0 V or V_read) and ``w̃ = (w + 1) / 2``:

- ``refcol``: one cell ``w̃`` per weight and one reference column of mid-conductance cells in
  every array; ``Σ x̃·w = 2·c_j − c_ref``;
- ``xnor``: rows ``x̃`` and ``1 − x̃``, cells ``w̃`` and ``1 − w̃``; the column count is the XNOR
  popcount, ``y = 2·c_j − N``;
- ``diff``: columns ``w̃`` and ``1 − w̃`` side by side; ``Σ x̃·w = c⁺ − c⁻``.

A weight of 0 (a latent weight exactly 0 under ``sign``) has both of its cells off under xnor
and diff; refcol cannot map it.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

ENCODINGS = ("offset", "ternary", "unsigned", "twos")
"""How a value is applied to ports as bit-planes: offset (±1: ``x = 2·bit − 1``), ternary (two
planes ``p − n``), unsigned and twos (8-bit codes, least significant plane first)."""


def plane_weights(encoding: str) -> list[int]:
    """The weight of each plane's dot product in the value's dot product."""
    return {"offset": [2], "ternary": [1, -1], "unsigned": [1 << b for b in range(8)],
            "twos": [1 << b for b in range(7)] + [-128]}[encoding]


class Scheme:
    """One mapping. Subclasses fill in the class attributes and the methods marked per scheme."""

    name: ClassVar[str]
    reference_column: ClassVar[bool] = False
    """Every array holds one reference column (the last) of mid-conductance cells."""
    complement_ports: ClassVar[bool] = False
    """Each input also drives a complementary row ``1 − x̃`` (the window doubles the ports)."""
    columns_per_output: ClassVar[int] = 1
    maps_zero_weights: ClassVar[bool] = True
    """A weight of 0 can be mapped (both of its cells off)."""

    def physical_columns(self, outputs: int) -> int:
        """Array columns a layer of ``outputs`` logical columns occupies before tiling."""
        return outputs * self.columns_per_output + (1 if self.reference_column else 0)

    def physical_rows(self, fan_in: int) -> int:
        """Array rows (ports) a fan-in of ``fan_in`` weights occupies."""
        return 2 * fan_in if self.complement_ports else fan_in

    def outputs_per_array(self, cols: int) -> int:
        """Logical outputs one array of ``cols`` columns holds."""
        per = (cols - (1 if self.reference_column else 0)) // self.columns_per_output
        if per < 1:
            raise ValueError(f"an array of {cols} columns cannot hold one {self.name} output")
        return per

    def outputs_in(self, columns: int) -> int:
        """Logical outputs served by ``columns`` physical columns of one array (or layer)."""
        return (columns - (1 if self.reference_column else 0)) // self.columns_per_output

    def arrays_needed(self, fan_in: int, outputs: int, rows: int, cols: int) -> int:
        """Arrays of ``rows × cols`` a layer of ``fan_in`` × ``outputs`` weights occupies."""
        return math.ceil(self.physical_rows(fan_in) / rows) * math.ceil(outputs / self.outputs_per_array(cols))

    def column_indices(self, outputs: np.ndarray, total: int) -> np.ndarray:
        """Indices into a layer's column pattern (``total`` columns) of the physical columns that
        serve the logical ``outputs`` (in order; the reference column, if any, last)."""
        k = self.columns_per_output
        picked = (k * outputs[:, None] + np.arange(k)[None, :]).reshape(-1)
        return np.append(picked, total - 1) if self.reference_column else picked

    def cells(self, w: np.ndarray) -> np.ndarray:
        """Cell states ``[K', M']`` (1 = on) for weights ``w`` ``[M, K]`` in {−1, 0, +1}."""
        raise NotImplementedError

    def correction(self, encoding: str, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
        """``e`` with ``y = v + e`` for the sensed value ``v`` (see :meth:`combine`), per output
        and border class; ``plus``/``minus`` count the +1/−1 weights on each class's valid taps."""
        raise NotImplementedError

    def column_matrix(self, columns: int) -> np.ndarray:
        """``S`` ``[M', M]`` (float64) with ``raw = counts @ S`` over ``columns`` physical columns."""
        raise NotImplementedError

    def combine(self, counts: np.ndarray, axis: int = -1) -> np.ndarray:
        """Column counts (``axis``: physical columns) → the raw per-output value."""
        raise NotImplementedError


class RefCol(Scheme):
    name = "refcol"
    reference_column = True
    maps_zero_weights = False  # one cell per weight stands for ±1; a 0 has no cell state

    def cells(self, w: np.ndarray) -> np.ndarray:
        if (w == 0).any():
            raise ValueError("refcol maps each weight to one cell (±1); weights of 0 need xnor or diff")
        on = (w.T > 0).astype(np.uint8)
        return np.concatenate([on, np.ones((on.shape[0], 1), np.uint8)], axis=1)

    def correction(self, encoding: str, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
        return -(plus - minus) if encoding == "offset" else np.zeros_like(plus)

    def column_matrix(self, columns: int) -> np.ndarray:
        s = np.zeros((columns, columns - 1))
        s[np.arange(columns - 1), np.arange(columns - 1)] = 2
        s[-1] = -1
        return s

    def combine(self, counts: np.ndarray, axis: int = -1) -> np.ndarray:
        return 2 * _part(counts, axis, slice(None, -1)) - _part(counts, axis, slice(-1, None))


class Xnor(Scheme):
    name = "xnor"
    complement_ports = True

    def cells(self, w: np.ndarray) -> np.ndarray:
        return np.concatenate([(w.T > 0), (w.T < 0)], axis=0).astype(np.uint8)

    def correction(self, encoding: str, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
        if encoding == "offset":  # y = 2·popcount − N
            return -(plus + minus)
        return -minus * sum(plane_weights(encoding))  # Σ bit·w = popcount − #(−1 weights), per plane

    def column_matrix(self, columns: int) -> np.ndarray:
        return np.eye(columns)

    def combine(self, counts: np.ndarray, axis: int = -1) -> np.ndarray:
        return counts


class Diff(Scheme):
    name = "diff"
    columns_per_output = 2

    def cells(self, w: np.ndarray) -> np.ndarray:
        paired = np.empty((w.shape[1], 2 * w.shape[0]), np.uint8)
        paired[:, 0::2], paired[:, 1::2] = (w.T > 0), (w.T < 0)
        return paired

    def correction(self, encoding: str, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
        return -(plus - minus) if encoding == "offset" else np.zeros_like(plus)

    def column_matrix(self, columns: int) -> np.ndarray:
        s = np.zeros((columns, columns // 2))
        s[0::2][np.arange(columns // 2), np.arange(columns // 2)] = 1
        s[1::2][np.arange(columns // 2), np.arange(columns // 2)] = -1
        return s

    def combine(self, counts: np.ndarray, axis: int = -1) -> np.ndarray:
        return _part(counts, axis, slice(0, None, 2)) - _part(counts, axis, slice(1, None, 2))


def _part(array: np.ndarray, axis: int, index: slice) -> np.ndarray:
    where = [slice(None)] * array.ndim
    where[axis] = index
    return array[tuple(where)]


SCHEMES: dict[str, Scheme] = {s.name: s for s in (RefCol(), Xnor(), Diff())}
"""Every mapping by name, in the order reports list them."""


def scheme(name: str) -> Scheme:
    """The mapping called ``name``."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown crossbar mapping '{name}' (expected one of {', '.join(SCHEMES)})") from None
