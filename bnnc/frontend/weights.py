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


def split_binary(weight: np.ndarray) -> BinaryWeights | None:
    """Decompose ``weight`` (output channels on axis 0) or return None when the non-zero
    magnitudes of some output channel spread by more than :data:`SPREAD` relative to their
    largest, which is that channel's α (a channel of zeros only has α = 1)."""
    w = np.asarray(weight, dtype=np.float32)
    rows = w.reshape(w.shape[0], -1)
    magnitude = np.abs(rows)
    alpha = magnitude.max(axis=1) if rows.shape[1] else np.zeros(rows.shape[0], np.float32)
    alpha = np.where(alpha > 0, alpha, np.float32(1.0)).astype(np.float32)
    nonzero = magnitude != 0
    if not np.isfinite(alpha).all() or (nonzero & (magnitude < alpha[:, None] * np.float32(1 - SPREAD))).any():
        return None
    signs = np.sign(rows).astype(np.int8).reshape(w.shape)
    return BinaryWeights(signs, alpha)


def distinct_values(weight: np.ndarray) -> int:
    return int(np.unique(np.asarray(weight)).size)
