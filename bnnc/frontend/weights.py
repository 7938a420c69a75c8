"""Recognizing binary weights: ``W = α_c · S`` with ``S`` in {-1, +1} and one α ≥ 0 per output
channel (XNOR-Net scaling, or a BatchNorm an exporter folded into the layer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BinaryWeights:
    """``weight = alpha[:, None, ...] * signs``: ``signs`` ±1 (int8), ``alpha`` ≥ 0 per output
    channel (axis 0); ``unit`` when every α is 1."""

    signs: np.ndarray
    alpha: np.ndarray

    @property
    def unit(self) -> bool:
        return bool((self.alpha == 1.0).all())


def split_binary(weight: np.ndarray) -> BinaryWeights | None:
    """Decompose ``weight`` (output channels on axis 0) or return None when some output
    channel holds more than one magnitude."""
    w = np.asarray(weight, dtype=np.float32)
    rows = w.reshape(w.shape[0], -1)
    magnitude = np.abs(rows)
    alpha = magnitude.max(axis=1) if rows.shape[1] else np.ones(rows.shape[0], np.float32)
    if not (magnitude == alpha[:, None]).all():
        return None
    signs = np.where(rows < 0, -1, 1).astype(np.int8).reshape(w.shape)
    return BinaryWeights(signs, alpha.astype(np.float32))


def distinct_values(weight: np.ndarray) -> int:
    return int(np.unique(np.asarray(weight)).size)
