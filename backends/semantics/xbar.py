"""Reference semantics of the ``xbar`` dialect.

Arrays of bits carry the plane axis first; see :mod:`bnnc.ir.dialects.xbar` for the encodings
and the sensing rule of each mapping scheme.
"""

from __future__ import annotations

import numpy as np

from bnnc.ir import Operation
from bnnc.ir.dialects import xbar as dialect
from bnnc.ir.schemes import SCHEMES, plane_weights

from .bnn import spatial_classes, windows
from .registry import implements


@implements(dialect.Planes)
def _planes(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """±1 → ``(x + 1) / 2``; ternary → ``[x = 1], [x = −1]``; 8-bit → its binary code, LSB first."""
    (x,) = args
    planes = op.result.type.shape[0]
    if planes == 1:
        stacked = ((x.astype(np.int16) + 1) // 2)[None]
    elif planes == 2:
        stacked = np.stack([x == 1, x == -1])
    else:
        code = x.astype(np.int16) & 0xFF  # two's complement code of i8, plain code of u8
        stacked = np.stack([(code >> b) & 1 for b in range(8)])
    return [stacked.astype(np.uint8)]


@implements(dialect.Decode)
def _decode(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """One plane → ``2·bit − 1``; two planes → ``p − n``."""
    (b,) = args
    value = 2 * b[0].astype(np.int8) - 1 if b.shape[0] == 1 else b[0].astype(np.int8) - b[1].astype(np.int8)
    return [value.astype(np.int8)]


@implements(dialect.Window)
def _window(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """im2col per plane, ports ordered (c, i, j); pads 0, or each plane's ``pad_bits``; with
    ``complement`` the complements of the driven ports follow (the valid ones, or every port
    when the pads carry constant bits)."""
    (x,) = args
    planes, _, channels, height, width = x.shape
    kernel = tuple(op.attr("kernel"))
    cols = np.concatenate([windows(plane.astype(np.int8), kernel, op, bit) for plane, bit in zip(x, op.pad_plane_bits())])
    positions = cols.shape[2] * cols.shape[3]  # cols: [B, C, OH, OW, kh, kw]
    ports = cols.transpose(0, 2, 3, 1, 4, 5).reshape(planes, positions, -1)
    if op.attr("complement"):
        driven = windows(np.ones((1, channels, height, width), np.int8), kernel, op, 1 if op.attr("pad_bits") else 0)
        driven = driven.transpose(0, 2, 3, 1, 4, 5).reshape(1, positions, -1)
        ports = np.concatenate([ports, driven - ports], axis=2)
    return [ports.astype(np.uint8)]


@implements(dialect.Mvm)
def _mvm(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Column counts ``ports @ G`` (exact: float64 GEMM on small integers)."""
    (ports,) = args
    g = op.const_array("conductance").astype(np.float64)
    return [(ports.astype(np.float64) @ g).astype(np.int32)]


def sensed_value(op: Operation, counts: np.ndarray) -> np.ndarray:
    """``v[p, j] = Σ_b ω_b · raw_b[p, j]`` (int64, shape ``[P, M]``): ``raw`` per scheme from the
    column counts, ``ω`` the plane weights of the encoding."""
    c = counts.astype(np.int64)
    raw = SCHEMES[op.attr("scheme")].combine(c)
    weights = np.array(plane_weights(op.attr("encoding")), np.int64).reshape(-1, 1, 1)
    return (weights * raw).sum(axis=0)


@implements(dialect.Compare)
def _xbar_compare(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """One level: ``[v >= T0]``; two levels: ``p = [v >= T1]``, ``n = [v < T0]``."""
    v = sensed_value(op, args[0])  # [P, M]
    t = op.const_array("thresholds").astype(np.int64)  # [M, K, L]
    k = spatial_classes(op.const_array("classes"))
    per_position = t[:, k, :].transpose(1, 0, 2)  # [P, M, L]
    if t.shape[2] == 1:
        planes = [v >= per_position[..., 0]]
    else:
        planes = [v >= per_position[..., 1], v < per_position[..., 0]]
    shape = op.result.type.shape[1:]
    return [np.stack([p.T.reshape(shape) for p in planes]).astype(np.uint8)]


@implements(dialect.Readout)
def _readout(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``y = v + offset[j, class]``, the exact pre-activation."""
    v = sensed_value(op, args[0])  # [P, M]
    offset = op.const_array("offset").astype(np.int64)  # [M, K]
    k = spatial_classes(op.const_array("classes"))
    y = v + offset[:, k].T
    return [y.T.reshape(op.result.type.shape).astype(np.int32)]


@implements(dialect.PoolBits)
def _pool_bits(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """OR (direction +1) or AND (−1) over the valid positions of each window; a ternary
    value's ``n`` plane takes the other one."""
    (b,) = args
    direction = op.const_array("direction").reshape(1, -1, 1, 1) > 0
    kernel = tuple(op.attr("kernel"))
    out = []
    for index, plane in enumerate(b):
        use_or = direction if index == 0 else ~direction
        any_set = windows(plane.astype(np.int8), kernel, op, 0).max(axis=(-2, -1))
        all_set = windows(plane.astype(np.int8), kernel, op, 1).min(axis=(-2, -1))
        out.append(np.where(use_or, any_set, all_set))
    return [np.stack(out).astype(np.uint8)]


@implements(dialect.Slice)
def _slice(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``x[start : start + size]`` along ``axis``."""
    (x,) = args
    index = [slice(None)] * x.ndim
    index[op.attr("axis")] = slice(op.attr("start"), op.attr("start") + op.attr("size"))
    return [np.ascontiguousarray(x[tuple(index)])]


@implements(dialect.Concat)
def _concat(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate(args, axis=op.attr("axis"))]


@implements(dialect.Adc)
def _adc(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Unchanged counts; a count beyond the ADC's range would be a mapping error."""
    (counts,) = args
    if counts.size and (counts.min() < 0 or counts.max() >= 1 << op.attr("bits")):
        raise ValueError(f"a column count of {counts.max()} does not fit a {op.attr('bits')}-bit ADC")
    return [counts]


@implements(dialect.Accumulate)
def _accumulate(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.sum(np.stack(args), axis=0, dtype=np.int64).astype(np.int32)]
