"""Window geometry of binary layers: which taps of each output position read an input (not zero
padding), grouped into border classes, and the integer range a pre-activation can reach. A conv
padded with ±1 (``pad_value``) reads an input at every tap: one class, the full fan-in.

Shared by the passes that derive thresholds (``fuse-bn-binarize``) and fold the crossbar
mappings' correction terms into them (``sign-convert``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnnc.ir import Domain, Operation
from bnnc.ir.dialects import bnn
from bnnc.ir.shapes import window_output_shape


@dataclass(frozen=True)
class LayerGeometry:
    """For a conv (or a dense layer: one position, every tap valid): ``masks[k]`` is the
    ``[kh, kw]`` validity of class ``k``'s taps and ``class_of[p]`` the class of output
    position ``p`` (row-major)."""

    masks: np.ndarray     # [K, kh, kw] bool
    class_of: np.ndarray  # [P] int

    @property
    def classes(self) -> int:
        return self.masks.shape[0]


def valid_taps(op: Operation) -> np.ndarray:
    """``[OH, OW, kh, kw]``: whether each tap of each output position reads an input — the
    image, or a constant ±1 pad — rather than a zero pad."""
    if isinstance(op, bnn.Dense):
        return np.ones((1, 1, 1, 1), bool)
    _, _, height, width = op.operands[0].type.shape
    _, _, kh, kw = op.const_type("weight").shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = op.attr("strides"), op.attr("pads"), op.attr("dilations")
    oh, ow = window_output_shape(height, width, (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw))
    if op.attr("pad_value"):
        return np.ones((oh, ow, kh, kw), bool)
    rows = np.arange(oh)[:, None] * sh - pt + np.arange(kh)[None, :] * dh  # [OH, kh]
    cols = np.arange(ow)[:, None] * sw - pl + np.arange(kw)[None, :] * dw  # [OW, kw]
    row_ok = (rows >= 0) & (rows < height)
    col_ok = (cols >= 0) & (cols < width)
    return row_ok[:, None, :, None] & col_ok[None, :, None, :]


def geometry(op: Operation) -> LayerGeometry:
    """Border classes of a binary layer: positions whose valid-tap masks are equal."""
    taps = valid_taps(op)
    flat = taps.reshape(taps.shape[0] * taps.shape[1], -1)
    masks, class_of = np.unique(flat, axis=0, return_inverse=True)
    return LayerGeometry(masks.reshape((-1,) + taps.shape[2:]), class_of.reshape(-1))


def weight_matrix(op: Operation) -> np.ndarray:
    """The layer's ±1 weights as ``[Cout, Cin, kh, kw]`` (a dense layer as 1×1 taps)."""
    w = op.const_array("weight")
    return w.reshape(w.shape[0], w.shape[1], 1, 1) if w.ndim == 2 else w


def tap_counts(op: Operation, geo: LayerGeometry) -> tuple[np.ndarray, np.ndarray]:
    """``(plus, minus)``, each ``[C, K]``: how many +1 and −1 weights of each output channel
    fall on valid taps in each border class."""
    w = weight_matrix(op)
    plus_taps = (w > 0).sum(axis=1)  # [C, kh, kw]
    minus_taps = (w < 0).sum(axis=1)
    masks = geo.masks.reshape(geo.classes, -1).astype(np.int64)  # [K, taps]
    plus = plus_taps.reshape(w.shape[0], -1).astype(np.int64) @ masks.T
    minus = minus_taps.reshape(w.shape[0], -1).astype(np.int64) @ masks.T
    return plus, minus


@dataclass(frozen=True)
class Reach:
    """The pre-activations a channel can reach in a class: ``lo, lo + step, …, hi``
    (``[C, K]`` arrays; ``step`` 2 for ±1 inputs, whose sums keep the fan-in's parity)."""

    lo: np.ndarray
    hi: np.ndarray
    step: int

    def count(self) -> np.ndarray:
        return (self.hi - self.lo) // self.step + 1


def reach(op: Operation, geo: LayerGeometry) -> Reach:
    """Reachable integer sums of a binary layer per channel and border class, from its input
    domain: ±1 (parity of the valid fan-in), ternary (every integer), or 8-bit codes. With ±1
    pads the range is the full fan-in's, which covers every position (a border position's pad
    taps are constant, so it reaches a subset)."""
    plus, minus = tap_counts(op, geo)
    domain = op.operands[0].type.domain
    fan_in = plus + minus
    if domain is Domain.PM1:
        return Reach(-fan_in, fan_in, 2)
    if domain is Domain.TERN:
        return Reach(-fan_in, fan_in, 1)
    q_lo, q_hi = (0, 255) if domain is Domain.U8 else (-128, 127)
    return Reach(plus * q_lo - minus * q_hi, plus * q_hi - minus * q_lo, 1)
