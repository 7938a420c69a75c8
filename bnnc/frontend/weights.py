"""Recognizing binary weights: ``W = α_c · S`` with ``S`` in {-1, +1} (or {-1, 0, +1}: exact
zeros, e.g. ``sign`` of a latent weight that is 0) and one α > 0 per output channel (XNOR-Net
scaling, or a BatchNorm an exporter folded into the layer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnnc.ir import Domain

SPREAD = 1e-6
"""The relative spread of the non-zero magnitudes of one output channel that still counts as
one α: the float32 rounding that a weight formula evaluated in the graph (``α · sign(W)``,
``α · sign(W) − clip(W) + clip(W)``) leaves, a few units in the last place."""


@dataclass(frozen=True)
class BinaryWeights:
    """``weight ≈ alpha[:, None, ...] * signs``: ``signs`` ±1 or 0 (int8), ``alpha`` > 0 per
    output channel (axis 0); ``unit`` when every α is 1."""

    signs: np.ndarray
    alpha: np.ndarray

    @property
    def unit(self) -> bool:
        return bool((self.alpha == 1.0).all())

    @property
    def domain(self) -> Domain:
        """``pm1``, or ``tern`` where some weight is exactly 0."""
        return Domain.TERN if (self.signs == 0).any() else Domain.PM1


BLOCK = 1 << 20
"""Weights examined at a time (whole output channels): the float temporaries of the check
stay a few MB however large the layer (a 9.4 M-weight conv otherwise took ~150 MB of them)."""


def split_binary(weight: np.ndarray) -> BinaryWeights | None:
    """Decompose ``weight`` (output channels on axis 0) or return None when the non-zero
    magnitudes of some output channel spread by more than :data:`SPREAD` relative to their
    largest, which is that channel's α (a channel of zeros only has α = 1). Channels are
    examined :data:`BLOCK` weights at a time."""
    w = np.asarray(weight, dtype=np.float32)
    rows = w.reshape(w.shape[0], -1)
    signs = np.empty(rows.shape, np.int8)
    alpha = np.ones(rows.shape[0], np.float32)
    step = max(1, BLOCK // max(1, rows.shape[1]))
    for start in range(0, rows.shape[0] if rows.shape[1] else 0, step):
        block = rows[start : start + step]
        magnitude = np.abs(block)
        largest = magnitude.max(axis=1)
        largest = np.where(largest > 0, largest, np.float32(1.0)).astype(np.float32)
        if not np.isfinite(largest).all() or ((magnitude != 0) & (magnitude < largest[:, None] * np.float32(1 - SPREAD))).any():
            return None
        alpha[start : start + step] = largest
        signs[start : start + step] = np.sign(block)
    return BinaryWeights(signs.reshape(w.shape), alpha)


def distinct_values(weight: np.ndarray) -> int:
    return int(np.unique(np.asarray(weight)).size)
