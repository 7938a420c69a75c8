"""Batched kernels of the ``xbar`` dialect: bit-planes, windows (kept as port matrices where only
array reads use them), slices, pooling of bits, array reads (pending, counted, or as currents),
ADCs, accumulation and sensing (comparators and readouts, fused with the reads they sense)."""

from __future__ import annotations

import math
import weakref

import numpy as np

from bnnc.ir import Operation, Value, constant_edit_count, edit_count
from bnnc.ir.schemes import SCHEMES, plane_weights

from ..semantics.bnn import sign_masks
from .caches import structural, thresholds_per_position
from .deferred import (PackedComparison, PendingReads, PortMatrix, RangedReads, ReadLayout, cells_of, derived,
                       fused_comparison, fused_value, packed_comparison, read_layout)
from .device import ColumnCurrents, analog_fires, column_currents, shifted_thresholds
from .driver import Datum, Kernel, Operands, Run, fuses, kernel
from .packed import PackedBits, concat_channels, pool_words
from .errors import SimulatorError
from .gemm import SGEMM_EXACT_ROWS
from .windows import plane_ports, valid_ports, window_reduce


# --------------------------------------------------------------------------- planes and windows


@kernel("xbar.planes")
def _planes(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """±1 → ``(x + 1) / 2``; ternary → ``[x = 1], [x = −1]``; 8-bit → binary code, LSB first;
    the plane axis follows the sample axis."""
    (x,) = args
    planes = op.result.type.shape[0]
    if planes == 1:
        stacked = ((x.astype(np.int16) + 1) // 2)[:, None]
    elif planes == 2:
        stacked = np.stack([x == 1, x == -1], axis=1)
    else:  # each plane shifted and masked in place, in bytes (int16 planes then a stack: 20x as long at batch 256)
        code = np.ascontiguousarray(x.view(np.uint8) if x.dtype.itemsize == 1 else (x.astype(np.int16) & 0xFF).astype(np.uint8))
        out = np.empty((x.shape[0], 8) + x.shape[1:], np.uint8)
        for bit in range(8):
            np.bitwise_and(np.right_shift(code, bit), 1, out=out[:, bit])
        return [out]
    return [stacked.astype(np.uint8)]


@fuses("xbar.planes")
def _signed_planes(op: Operation) -> tuple[tuple[Operation, ...], tuple[Value, ...], Kernel, tuple[type, ...], None] | None:
    """``bnn.sign`` then ``xbar.planes`` in one step, straight to packed bits: one plane holds
    ``[sign(x) = 1]`` (``(s + 1) / 2`` of ±1, or of a ternary 0), two planes ``[sign(x) = 1]`` and
    ``[sign(x) = −1]`` — where the sign's result only feeds the planes and its input has the
    ``[1, C, *spatial]`` form of packed bits (not where an observer watches the planes)."""
    sign = op.operands[0].producer
    shape = op.operands[0].type.shape
    if sign is None or sign.name != "bnn.sign" or len(shape) < 2 or shape[0] != 1:
        return None
    planes = op.result.type.shape[0]
    channels, positions = shape[1], math.prod(shape[2:])
    held = weakref.ref(sign)  # a cached plan must not keep its function alive

    def packed(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
        positive, negative = sign_masks(held(), args[0].reshape(run.samples, channels, positions))
        bits = np.stack([positive, negative][:planes], axis=1).transpose(0, 1, 3, 2)  # [N, L, S, C]
        return [PackedBits.of(np.ascontiguousarray(bits), (run.samples,) + op.result.type.shape)]

    return (sign,), tuple(sign.operands), packed, (), None


@kernel("xbar.decode")
def _decode(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """One plane → ``2·bit − 1``; two planes → ``p − n``."""
    (b,) = args
    if b.shape[1] == 1:
        return [(2 * b[:, 0].astype(np.int8) - 1).astype(np.int8)]
    return [(b[:, 0].astype(np.int8) - b[:, 1].astype(np.int8)).astype(np.int8)]


@kernel("xbar.window", accepts=(PackedBits,))
def _window(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """The line buffer over every sample and plane at once: im2col ``[N, B, P, K]`` (pads 0, or
    each plane's pad bit), with ``complement`` followed by ``valid − bit``. In the integer path,
    a result that only array reads use stays a :class:`~.deferred.PortMatrix` (im2col on
    demand, complement implicit; packed bits stay packed)."""
    (x,) = args
    n, planes, _, channels, height, width = x.shape
    valid = valid_ports(op, channels, height, width) if op.attr("complement") else None
    if run.device is None and _window_read_only(op):
        kh, kw = op.attr("kernel")
        ports = channels * kh * kw * (2 if valid is not None else 1)
        image = x if isinstance(x, PackedBits) else x.reshape(n, planes, channels, height, width)
        return [PortMatrix(image, op, valid, 0, ports)]
    if isinstance(x, PackedBits):
        x = x.resolve()
    ports = plane_ports(x.reshape(n, planes, channels, height, width), op)
    if valid is not None:
        ports = np.concatenate([ports, np.broadcast_to(valid, ports.shape) - ports], axis=3)
    return [ports]


def _window_read_only(op: Operation) -> bool:
    """:func:`_only_array_reads` of the window ``op``'s result, kept until an IR is edited."""
    return structural(op, "read only", lambda: _only_array_reads(op.result))


def _only_array_reads(value: Value) -> bool:
    """Whether every use of ``value`` is an ``xbar.mvm``, directly or through port-axis slices."""
    def read_by_arrays(op: Operation) -> bool:
        if op.name == "xbar.slice":
            return op.attr("axis") == 2 and _only_array_reads(op.result)
        return op.name == "xbar.mvm"

    return bool(value.uses) and all(read_by_arrays(use.op) for use in value.uses)


@kernel("xbar.slice", accepts=(PortMatrix,), pure=True)
def _slice(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """``x[start : start + size]`` along ``axis`` (a view; a port matrix narrows its range)."""
    (x,) = args
    start, size, axis = op.attr("start"), op.attr("size"), op.attr("axis")
    if isinstance(x, PortMatrix):
        if axis == 2:
            return [x.narrowed(start, size)]
        x = x.resolve()
    index = [slice(None)] * x.ndim
    index[axis + 1] = slice(start, start + size)
    return [x[tuple(index)]]


@kernel("xbar.concat", accepts=(PackedBits,))
def _concat(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """Along ``axis``; packed bits concatenated along their channels stay packed."""
    shape = (run.samples,) + op.result.type.shape
    if op.attr("axis") == 2 and all(isinstance(a, PackedBits) for a in args):
        return [concat_channels(args, shape)]
    args = [a.resolve() if isinstance(a, PackedBits) else a for a in args]
    return [np.concatenate(args, axis=op.attr("axis") + 1)]


@kernel("xbar.pool_bits", accepts=(PackedBits,))
def _pool_bits(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """OR (direction +1) or AND (−1) over each window's valid positions; a ternary value's
    ``n`` plane takes the other one (on packed words where the bits are packed)."""
    (b,) = args
    direction = op.const_array("direction") > 0
    if isinstance(b, PackedBits):
        return [pool_words(b, op, direction, (run.samples,) + op.result.type.shape)]
    n, planes, _, channels, height, width = b.shape
    out = []
    for index in range(planes):  # at most two planes
        use_or = direction if index == 0 else ~direction
        out.append(_pool_plane(b[:, index, 0], use_or, op))
    return [np.stack(out, axis=1)[:, :, None]]


def _pool_plane(x: np.ndarray, use_or: np.ndarray, op: Operation) -> np.ndarray:
    """One plane ``[N, C, H, W]`` pooled: OR where ``use_or[c]``, AND elsewhere."""
    if use_or.all():
        return window_reduce(x, op, 0, np.bitwise_or)
    if not use_or.any():
        return window_reduce(x, op, 1, np.bitwise_and)
    any_set = window_reduce(x, op, 0, np.bitwise_or)
    all_set = window_reduce(x, op, 1, np.bitwise_and)
    return np.where(use_or.reshape(1, -1, 1, 1), any_set, all_set).astype(np.uint8)


# --------------------------------------------------------------------------- array reads


@kernel("xbar.mvm", accepts=(PortMatrix,))
def _mvm(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """Array reads over the batch: reads of a :class:`~.deferred.PortMatrix` stay pending for the sensing
    op; other ports give counts ``ports @ G`` by float32 GEMM (exact below 2**24 rows); with a
    device model, the column currents ``v_read · ports @ G``."""
    (ports,) = args
    if run.device is not None:
        return [column_currents(run.session, op, ports)]
    cells = run.session.cells
    if isinstance(ports, PortMatrix):
        return [PendingReads(((op, ports),), (run.samples,) + op.result.type.shape, cells=cells)]
    n, planes, positions, rows = ports.shape
    pattern = cells_of(op, cells)
    if rows >= SGEMM_EXACT_ROWS:
        g = pattern.astype(np.float64)
        counts = ports.reshape(-1, rows).astype(np.float64) @ g
    else:
        g = derived(op, cells, "g32", lambda: pattern.astype(np.float32))
        counts = ports.reshape(-1, rows).astype(np.float32) @ g
    return [counts.astype(np.int32).reshape(n, planes, positions, g.shape[1])]


@kernel("xbar.adc", accepts=(ColumnCurrents, PendingReads))
def _adc(run: Run, op: Operation, args: list[Datum]) -> list[np.ndarray]:
    """Integer path: counts unchanged, one beyond the ADC's range is an error. Analog path:
    currents converted to counts, saturating at the range."""
    (counts,) = args
    bits = op.attr("bits")
    if isinstance(counts, ColumnCurrents):
        return [counts.counts(bits)]
    bound = _count_bound(op.operands[0])
    if bound is not None and bound < 1 << bits:  # the program proves every count fits
        return [counts]
    if isinstance(counts, PendingReads):
        counts = counts.resolve()
    if counts.size and (counts.min() < 0 or counts.max() >= 1 << bits):
        raise SimulatorError.at(op, f"a column count of {counts.max()} does not fit a {bits}-bit ADC")
    return [counts]


@kernel("xbar.accumulate", accepts=(PendingReads,))
def _accumulate(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """Digital sum of partial counts (int32 wraps like the interpreter's int64 → int32);
    pending reads stay pending, as one sum."""
    if all(isinstance(a, PendingReads) for a in args):
        return [PendingReads(tuple(read for a in args for read in a.reads), args[0].shape, cells=args[0].cells)]
    args = [a.resolve() if isinstance(a, PendingReads) else a for a in args]
    total = args[0].astype(np.int32, copy=True)
    for partial in args[1:]:
        total += partial
    return [total]


def _count_bound(value: Value) -> int | None:
    """An upper bound of the column counts ``value`` holds, from the program: an array read
    counts at most its rows, an ADC at most its range, a sum at most the sum; None if unknown."""
    op = value.producer
    if op is None:
        return None
    if op.name == "xbar.mvm":
        return op.operands[0].type.shape[-1]
    if op.name == "xbar.adc":
        inner = _count_bound(op.operands[0])
        return (1 << op.attr("bits")) - 1 if inner is None else min(inner, (1 << op.attr("bits")) - 1)
    if op.name == "xbar.accumulate":
        bounds = [_count_bound(v) for v in op.operands]
        return None if None in bounds else sum(bounds)
    return None


# --------------------------------------------------------------------------- sensing


def _sensed_value(op: Operation, counts: np.ndarray, bound: int | None = None) -> np.ndarray:
    """``v[n, j, p] = Σ_b ω_b · raw_b[p, j]`` from counts ``[N, B, P, M']`` (see
    ``xbar._Sensing``), laid out ``[N, M, P]`` like the sensing ops' results, in the narrowest
    of int16/int32/int64 that holds every ``|v| ≤ bound + 1`` (``bound`` from
    :func:`_value_bound`). The planes combine first (``raw`` is linear in the counts), then the
    columns, along contiguous rows."""
    weights = plane_weights(op.attr("encoding"))
    if bound is None:
        bound = _value_bound(op, counts)
    dtype = next(t for t in (np.int16, np.int32, np.int64) if bound < np.iinfo(t).max)
    c = counts.astype(dtype, copy=False)
    combined = c[:, 0] * dtype(weights[0])
    for b in range(1, len(weights)):
        if weights[b] == 1:
            combined += c[:, b]
        elif weights[b] == -1:
            combined -= c[:, b]
        else:
            combined += c[:, b] * dtype(weights[b])
    columns = np.ascontiguousarray(combined.transpose(0, 2, 1))  # [N, M', P]
    return SCHEMES[op.attr("scheme")].combine(columns, axis=1)


def _value_bound(op: Operation, counts: np.ndarray) -> int:
    """A bound of ``|v|`` (and of every partial sum computing it) for the sensing op ``op``:
    ``3 · Σ|ω| · (largest count)`` (refcol's ``2·x_j − x_ref`` reaches it), with the largest
    count known from the program where possible."""
    largest = _count_bound(op.operands[0])
    if largest is None:
        largest = int(np.abs(counts).max(initial=0))
    return 3 * largest * sum(abs(w) for w in plane_weights(op.attr("encoding")))


@kernel("xbar.compare", accepts=(ColumnCurrents, PendingReads))
def _compare(run: Run, op: Operation, args: list[Datum]) -> list[np.ndarray]:
    """One level: ``[v >= T0]``; two levels: ``p = [v >= T1]``, ``n = [v < T0]`` — on counts,
    or in current units where the comparator senses one array read directly."""
    (x,) = args
    cells = run.session.cells
    thresholds = thresholds_per_position(op, "thresholds") if cells is None else cells.thresholds[op]  # [M, P, L]
    if isinstance(x, ColumnCurrents):
        if x.currents.shape[1] == 1 and plane_weights(op.attr("encoding"))[0] > 0:
            return [_comparator_planes(run, op, analog_fires(run.session, op, x, thresholds))]
        x = x.counts()
    if run.device is not None:
        thresholds = shifted_thresholds(run.session, op, thresholds)
    if isinstance(x, PendingReads):
        packed = fused_comparison(op, x, thresholds)
        if packed is not None:
            return [packed]
        v, bound = fused_value(op, x)  # [N, P, M]
        t = derived(op, cells, ("thresholds", bound, v.dtype), lambda: _clipped_thresholds(thresholds, bound, v.dtype))
        fired = [v >= t[..., 0]] if t.shape[2] == 1 else [v >= t[..., 1], v < t[..., 0]]
        return [PackedBits.of(np.stack(fired, axis=1), (run.samples,) + op.result.type.shape)]
    bound = _value_bound(op, x)
    v = _sensed_value(op, x, bound)  # [N, M, P], |v| <= bound
    # thresholds beyond ±bound decide alike at ±(bound + 1): v's narrow dtype holds them
    t = np.clip(thresholds, -bound - 1, bound + 1).astype(v.dtype)
    fired = [v >= t[..., 0]] if t.shape[2] == 1 else [v >= t[..., 1], v < t[..., 0]]
    return [_comparator_planes(run, op, fired)]


@fuses("xbar.compare", "xbar.readout")
def _fused_reads(op: Operation) -> tuple[tuple[Operation, ...], tuple[Value, ...], Kernel, tuple[type, ...], Operands] | None:
    """The integer path's sensing of array reads in one step: where every value between the
    sensing op ``op`` and its reads' port ranges is pending reads (array reads of a window that
    only array reads use, through ADCs the program proves exact and accumulations), the step
    reads the port ranges (port matrices) and senses them as the ops in between would leave
    them — no step per tile. A comparator whose reads run packed keeps its route
    (:class:`~.deferred.PackedComparison`) until an IR or a constant is edited: its next calls
    go straight to the kernel. An observer sees the op with its operand as the unfused plan
    gives it, the pending reads of the port ranges."""
    absorbed: list[Operation] = []
    reads: list[tuple[Operation, Value, int, int]] = []
    if not _pending_chain(op.operands[0], absorbed, reads):
        return None
    windows = list(dict.fromkeys(window for _, window, _, _ in reads))
    # the array reads held weakly: a cached plan must not keep its function alive
    ranges = tuple((weakref.ref(mvm), windows.index(window), start, stop) for mvm, window, start, stop in reads)
    sense = _compare if op.name == "xbar.compare" else _readout
    shape = op.operands[0].type.shape
    known: list[ReadLayout] = []  # the reads' layout, the same every call: made on the first
    route: list[tuple[tuple[int, int], PackedComparison]] = []  # a comparator's packed route and when it was made

    def pending_reads(run: Run, ports: list[Datum]) -> list[Datum]:
        return [PendingReads(RangedReads(ranges, ports), (run.samples,) + shape, known[0] if known else None,
                             run.session.cells)]

    def sensed(run: Run, op: Operation, ports: list[Datum]) -> list[Datum]:
        ideal = run.session.cells is None  # a chip's cells (simulate(cells=...)): its own plans, no kept route
        if ideal and route and route[0][0] == (edit_count(), constant_edit_count()):
            return [route[0][1](ports[0], run.samples)]
        (pending,) = pending_reads(run, ports)
        if not known:
            known.append(read_layout(pending))
        if ideal and op.name == "xbar.compare" and len(ports) == 1:
            packed = packed_comparison(op, pending, thresholds_per_position(op, "thresholds"))
            if packed is not None:
                route[:] = [((edit_count(), constant_edit_count()), packed)]
                return [packed(ports[0], run.samples)]
        return sense(run, op, [pending])

    return tuple(absorbed), tuple(windows), sensed, (PortMatrix,), pending_reads


def _pending_chain(value: Value, absorbed: list[Operation], reads: list[tuple[Operation, Value, int, int]]) -> bool:
    """Whether ``value`` is pending reads in the integer path (see :func:`_fused_reads`); the ops
    computing it go to ``absorbed`` and its reads — ``xbar.mvm``, the window's result and the
    range ``[start, stop)`` of its ports read — to ``reads``, in the order the kernels would
    sum them."""
    op = value.producer
    if op is None:
        return False
    if op.name == "xbar.accumulate":
        absorbed.append(op)
        return all(_pending_chain(v, absorbed, reads) for v in op.operands)
    if op.name == "xbar.adc":
        bound = _count_bound(op.operands[0])
        absorbed.append(op)
        return bound is not None and bound < 1 << op.attr("bits") and _pending_chain(op.operands[0], absorbed, reads)
    ports = _port_range(op.operands[0]) if op.name == "xbar.mvm" else None
    if ports is not None:
        absorbed.append(op)
        reads.append((op, *ports))
        return True
    return False


def _port_range(value: Value) -> tuple[Value, int, int] | None:
    """Where ``value`` is a port matrix in the integer path — a window's result that only array
    reads use, or a port-axis slice of one —: that result and the range ``[start, stop)`` of its
    ports ``value`` holds; else None."""
    op = value.producer
    if op is not None and op.name == "xbar.slice" and op.attr("axis") == 2:
        outer = _port_range(op.operands[0])
        return None if outer is None else (outer[0], outer[1] + op.attr("start"), outer[1] + op.attr("start") + op.attr("size"))
    if op is not None and op.name == "xbar.window" and _window_read_only(op):
        return value, 0, value.type.shape[-1]
    return None


def _clipped_thresholds(thresholds: np.ndarray, bound: int, dtype: np.dtype) -> np.ndarray:
    """``[M, P, L]`` thresholds as ``[P, M, L]`` in ``dtype``, clipped to ``±(bound + 1)`` —
    values beyond decide alike for every ``|v| ≤ bound`` and stay exact in float32."""
    return np.ascontiguousarray(np.clip(thresholds, -bound - 1, bound + 1).transpose(1, 0, 2)).astype(dtype)


def _comparator_planes(run: Run, op: Operation, fired: list[np.ndarray]) -> np.ndarray:
    """Comparator outputs ``[N, M, P]`` per level → the result ``[N, L, 1, M, …spatial]``."""
    shape = op.result.type.shape  # (L, 1, M, ...spatial)
    out = np.empty((run.samples,) + shape, np.uint8)
    for level, plane in enumerate(fired):
        out[:, level, 0] = plane.reshape((run.samples,) + shape[2:])
    return out


@kernel("xbar.readout", accepts=(PendingReads,))
def _readout(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """``y = v + offset[j, class]``, the exact pre-activation."""
    if isinstance(args[0], PendingReads):
        v, _ = fused_value(op, args[0])  # [N, P, M], exact integers
        offset = thresholds_per_position(op, "offset")  # [M, P]
        y = (v.astype(np.int64) + offset.T).astype(np.int32)
        return [np.ascontiguousarray(y.transpose(0, 2, 1)).reshape((run.samples,) + op.result.type.shape)]
    v = _sensed_value(op, args[0], max(_value_bound(op, args[0]), 2**16))  # [N, M, P], at least int32
    offset = thresholds_per_position(op, "offset")  # [M, P]
    return [(v + offset).astype(np.int32).reshape((run.samples,) + op.result.type.shape)]
