"""Tensor types of the bnnc IR: an element domain and a static shape.

Textual form: ``<domain><d0xd1x...>``, e.g. ``bit<1x128>``; a rank-0 tensor is ``f32<>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np


class Domain(Enum):
    """The set of values an element may take, and how it is stored in numpy."""

    F32 = "f32"    # real numbers, IEEE float32
    I64 = "i64"    # 64-bit integers (indices produced by host ops such as TopK)
    I32 = "i32"    # integer sums (crossbar column sums, accumulators)
    U8 = "u8"      # unsigned 8-bit integer inputs
    I8 = "i8"      # signed 8-bit integer inputs
    PM1 = "pm1"    # bipolar values in {-1, +1}
    TERN = "tern"  # ternary values in {-1, 0, +1} (ONNX Sign of a value that may be 0)
    BIT = "bit"    # {0, 1} encoding of pm1 on crossbar ports: 1 <-> +1, 0 <-> -1

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype that holds values of this domain."""
        return np.dtype(_DTYPES[self])

    @property
    def is_integer(self) -> bool:
        """True for every domain whose values are integers (all but f32)."""
        return self is not Domain.F32

    def contains(self, array: np.ndarray) -> bool:
        """Whether every element of ``array`` is a value of this domain."""
        allowed = _ALLOWED_VALUES.get(self)
        if allowed is None:
            return True
        array = np.asarray(array)
        if array.dtype.kind not in "iub":
            return bool(np.isin(array, allowed).all())
        if array.size == 0:
            return True
        # integers: a range check and one comparison per missing value (pm1: 0), without the
        # int64 temporaries of np.isin (8 bytes per weight)
        if not (int(array.min()) >= min(allowed) and int(array.max()) <= max(allowed)):
            return False
        gaps = sorted(set(range(min(allowed), max(allowed) + 1)) - set(allowed))  # pm1: 0
        return not any((array == gap).any() for gap in gaps)


_DTYPES = {
    Domain.F32: np.float32,
    Domain.I64: np.int64,
    Domain.I32: np.int32,
    Domain.U8: np.uint8,
    Domain.I8: np.int8,
    Domain.PM1: np.int8,
    Domain.TERN: np.int8,
    Domain.BIT: np.uint8,
}

_ALLOWED_VALUES = {
    Domain.PM1: np.array([-1, 1]),
    Domain.TERN: np.array([-1, 0, 1]),
    Domain.BIT: np.array([0, 1]),
}

BINARY_DOMAINS = frozenset({Domain.PM1, Domain.TERN, Domain.BIT})
"""Domains whose values can drive crossbar ports (directly or as two bit-planes)."""

INTEGER_INPUT_DOMAINS = frozenset({Domain.U8, Domain.I8})
"""Domains applied to arrays bit-serially, one bit-plane per read."""


@dataclass(frozen=True)
class TensorType:
    """A tensor with a static shape whose elements belong to ``domain``."""

    domain: Domain
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if any((not isinstance(d, int)) or d < 0 for d in self.shape):
            raise ValueError(f"tensor dimensions must be non-negative integers, got {self.shape}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(self.domain, tuple(shape))

    def with_domain(self, domain: Domain) -> TensorType:
        return TensorType(domain, self.shape)

    def __str__(self) -> str:
        return f"{self.domain.value}<{'x'.join(str(d) for d in self.shape)}>"

    @staticmethod
    def of_array(array: np.ndarray, domain: Domain) -> TensorType:
        return TensorType(domain, tuple(int(d) for d in array.shape))


def concatenated(types: list[TensorType], axis: int) -> TensorType:
    """The type of ``types`` concatenated along ``axis``: one domain and rank, equal sizes on
    every other axis (raises ``ValueError`` otherwise)."""
    first = types[0]
    if not 0 <= axis < first.rank:
        raise ValueError(f"axis {axis} is out of range for {first}")
    for t in types[1:]:
        if t.domain is not first.domain or t.rank != first.rank or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis
        ):
            raise ValueError(f"cannot concatenate {t} with {first} along axis {axis}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in types)
    return first.with_shape(tuple(shape))
