"""The integer path's deferred values and their fusion: a window's ports kept as its input planes
(:class:`PortMatrix`), array reads not yet computed (:class:`PendingReads`), and the sensing
of pending reads as one exact GEMM per window (:func:`fused_value`), its plan made once per
sensing op, layout of the reads and versions of their cells."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, overload

import numpy as np

from bnnc.ir import Operation
from bnnc.ir.schemes import SCHEMES, plane_weights

from .caches import prepared, structural
from .cells import ChipCells
from .errors import SimulatorError
from .gemm import SGEMM_EXACT_ROWS, IntegerGemm
from .packed import Layout, PackedBits, PackedWeights, layout, pack_weights, packed_ports, profitable, worthwhile
from .windows import im2col, plane_ports, window_geometry


@dataclass(frozen=True)
class PortMatrix:
    """The integer path's form of an ``xbar.window`` result (or of a row-tile slice of it)
    that only array reads consume, kept as the window's input: ``image``, its planes
    ``[N, B, C, H, W]`` (uint8, or :class:`~.packed.PackedBits` as a comparator wrote them)
    and the ``window`` op; ``valid`` ``[P, K]`` (uint8) where the window also drives
    the complementary rows ``valid − bit``; the range ``[start, stop)`` of the op's port axis
    (``2K`` ports with complement) this value holds. im2col happens on demand, once per window
    (``cache`` is shared by its slices): :attr:`bits` per plane, or :meth:`plane_sum` of
    the planes' weighted sum in one go (im2col is linear: the pads of the sum hold the
    weighted sum of the planes' pad bits)."""

    image: np.ndarray | PackedBits
    window: Operation
    valid: np.ndarray | None
    start: int
    stop: int
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple:
        """What a read of this range computes from besides the cells: the window's geometry
        over the planes' image, whether it has complement rows, and the range."""
        geometry = self.cache.get("geometry")
        if geometry is None:
            geometry = self.cache["geometry"] = window_geometry(self.window, *self.image_shape[2:])
        return (geometry, self.valid is not None, self.start, self.stop)

    def narrowed(self, start: int, size: int) -> PortMatrix:
        """Ports ``[start, start + size)`` of this range (a row tile)."""
        return PortMatrix(self.image, self.window, self.valid, self.start + start, self.start + start + size, self.cache)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The planes' shape ``(N, B, C, H, W)``."""
        shape = self.image.shape
        return shape if isinstance(self.image, np.ndarray) else shape[:2] + shape[3:]

    @property
    def planes(self) -> np.ndarray:
        """The window's input planes, uint8 ``[N, B, C, H, W]``."""
        if isinstance(self.image, np.ndarray):
            return self.image
        if "planes" not in self.cache:
            self.cache["planes"] = self.image.resolve().reshape(self.image_shape)
        return self.cache["planes"]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.image_shape[:2] + (self.window.result.type.shape[1], self.stop - self.start)

    @property
    def width(self) -> int:
        """Direct ports per window, ``K = C·kh·kw`` (the same for every range of the window)."""
        width = self.cache.get("width")
        if width is None:
            kh, kw = self.window.attr("kernel")
            width = self.cache["width"] = self.image_shape[2] * kh * kw
        return width

    @property
    def bits(self) -> np.ndarray:
        """The direct ports of every plane, uint8 ``[N, B, P, K]``."""
        if "bits" not in self.cache:
            self.cache["bits"] = plane_ports(self.planes, self.window)
        return self.cache["bits"]

    def plane_sum(self, weights: list[int]) -> tuple[np.ndarray, int]:
        """``(X − shift, shift)``, ``[N, P, K]``: ``X = Σ_b ω_b · bits_b`` the ports' weighted
        sum over planes and ``shift = Σ_{ω<0} ω`` its least value, so that the result is
        uint8 (``Σ|ω| ≤ 255`` for every encoding); one plane gives its bits (ω is folded into
        the weights) and shift 0."""
        if self.planes.shape[1] == 1:
            return self.bits[:, 0], 0
        key = ("sum", tuple(weights))
        if key not in self.cache:
            shift = sum(w for w in weights if w < 0)
            total = weights[0] * self.planes[:, 0].astype(np.int16)
            for b, w in enumerate(weights[1:], 1):
                total += w * self.planes[:, b].astype(np.int16)
            dtype = np.uint8 if sum(abs(w) for w in weights) <= 255 else np.int16
            pad = sum(w * bit for w, bit in zip(weights, self.window.pad_plane_bits())) - shift
            self.cache[key] = (im2col((total - shift).astype(dtype), self.window, pad=pad), shift)
        return self.cache[key]

    def packed(self, how: Layout) -> np.ndarray:
        """The direct ports of every plane packed in layout ``how``: uint64 ``[N·P, B, Kw]``."""
        key = ("packed", how.order)
        if key not in self.cache:
            self.cache[key] = packed_ports(self.image, self.window, how)
        return self.cache[key]

    def resolve(self) -> np.ndarray:
        """The bits as the interpreter holds them: uint8 ``[N, B, P, stop − start]``."""
        direct = self.bits
        if self.valid is not None:
            direct = np.concatenate([direct, self.valid - direct], axis=-1)
        return direct[..., self.start : self.stop]


class RangedReads(Sequence[tuple[Operation, PortMatrix]]):
    """Array reads of port ranges: read ``i`` is ``(ranges[i][0](), windows[w].narrowed(start,
    stop − start))`` for ``ranges[i] = (mvm, w, start, stop)`` — an ``xbar.mvm`` op held weakly,
    the index of the port matrix it reads and its range —, each made when first used (a
    sensing that runs packed looks at its windows' first reads only)."""

    def __init__(self, ranges: tuple[tuple[weakref.ReferenceType, int, int, int], ...], windows: Sequence[PortMatrix]):
        self._ranges = ranges
        self._windows = windows
        self._made: list[tuple[Operation, PortMatrix] | None] = [None] * len(ranges)

    def __len__(self) -> int:
        return len(self._ranges)

    @overload
    def __getitem__(self, index: int) -> tuple[Operation, PortMatrix]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[Operation, PortMatrix], ...]: ...

    def __getitem__(self, index: int | slice) -> tuple[Operation, PortMatrix] | tuple[tuple[Operation, PortMatrix], ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        read = self._made[index]
        if read is None:
            mvm, w, start, stop = self._ranges[index]
            read = self._made[index] = (mvm(), self._windows[w].narrowed(start, stop - start))
        return read


@dataclass(frozen=True)
class PendingReads:
    """The integer path's form of column counts ``[N, B, P, M']`` not yet computed: the sum,
    over ``reads`` (an ``xbar.mvm`` op and its :class:`PortMatrix`), of ``ports @ G``. Reads
    stay pending through ADCs the program proves exact and through accumulations, so that a
    sensing op folds bit-planes, row tiles and its scheme's column combination into one GEMM
    per window (:func:`fused_value`); any other consumer gets the counts."""

    reads: Sequence[tuple[Operation, PortMatrix]]
    shape: tuple[int, ...]
    layout: ReadLayout | None = field(default=None, compare=False)
    """The reads' :class:`ReadLayout` where it is known already (a fused step's reads are the
    same every call), else made when a sensing needs it."""
    cells: ChipCells | None = field(default=None, compare=False)
    """A chip's cells the arrays hold instead of their conductance patterns (None: the
    program's own; :mod:`.integer_chips`)."""

    def resolve(self) -> np.ndarray:
        """The counts, int32 (a sum wraps like the interpreter's int64 → int32)."""
        total = _counts_of_ports(*self.reads[0], self.cells)
        for op, ports in self.reads[1:]:
            total += _counts_of_ports(op, ports, self.cells)
        return total



def cells_of(mvm: Operation, cells: ChipCells | None) -> np.ndarray:
    """The cells ``[K, M]`` that array ``mvm`` reads: its conductance pattern, or the chip
    ``cells``' counts."""
    return mvm.const_array("conductance") if cells is None else cells.cells(mvm)


def derived(op: Operation, cells: ChipCells | None, key: Hashable, build: Callable[[], Any],
            also: Callable[[], Sequence[str]] = tuple) -> Any:
    """``build()`` kept as :func:`~.caches.prepared` keeps it for the program's cells
    (``cells`` None), or for as long as the chip ``cells`` is run."""
    return prepared(op, key, build, also) if cells is None else cells.prepared(op, key, build)


@dataclass(frozen=True)
class ReadLayout:
    """What the fusion plan of pending reads depends on besides their cells: per read, the key of
    its port range (:attr:`PortMatrix.key`) and the index of the window it is a range of
    (windows in order of first read); and each window's first read."""

    keys: tuple[tuple, ...]
    windows: tuple[int, ...]
    firsts: tuple[int, ...]


def read_layout(pending: PendingReads) -> ReadLayout:
    """The :class:`ReadLayout` of ``pending``."""
    caches: list[dict] = []
    firsts, indices = [], []
    for read, (_, ports) in enumerate(pending.reads):
        index = next((i for i, cache in enumerate(caches) if cache is ports.cache), len(caches))
        if index == len(caches):
            caches.append(ports.cache)
            firsts.append(read)
        indices.append(index)
    return ReadLayout(tuple(ports.key for _, ports in pending.reads), tuple(indices), tuple(firsts))


def _counts_of_ports(op: Operation, ports: PortMatrix, cells: ChipCells | None = None) -> np.ndarray:
    """Counts of a read of ``ports`` (with the chip ``cells``, or the program's) without materializing complementary rows: a complement
    row ``k`` carries ``valid[p, k] − bit[k]``, so its cells add ``valid @ G`` (a per-position
    constant) and ``−G`` on ``bit[k]``'s row. The direct and complement parts of the range
    become one GEMM on the direct bits with signed weights (or two, where merging their row
    ranges would cost more) — exact: float32 sums of at most 2**24 terms in {−1, 0, 1}."""
    n, planes, positions, width = ports.bits.shape
    if width >= SGEMM_EXACT_ROWS:
        raise SimulatorError.at(op, f"a window of {width} ports is beyond exact float32 counting")
    g = cells_of(op, cells)
    pieces, constant = derived(op, cells, ("ports", ports.key), lambda: _port_weights(g, ports, width))
    sums = None
    for lo, hi, weights in pieces:
        partial = ports.bits[..., lo:hi].reshape(-1, hi - lo).astype(np.float32) @ weights
        sums = partial if sums is None else sums + partial
    counts = sums.reshape(n, planes, positions, -1).astype(np.int32)
    if constant is not None:
        counts += constant
    return counts


GemmPiece = tuple[int, int, np.ndarray]
"""``(lo, hi, W)``: direct-bit rows ``[lo, hi)`` times weights ``W``."""


def _port_weights(cells: np.ndarray, ports: PortMatrix, width: int,
                  dtype: type = np.float32) -> tuple[list[GemmPiece], np.ndarray | None]:
    """The GEMM pieces over direct bits (weights in ``dtype``, which holds ``±cells``), and the
    ``[P, M]`` int32 constant of the complement rows (None without), that give the counts of
    ``ports``' range read with ``cells``."""
    g = cells.astype(dtype, copy=False)
    start, stop = ports.start, ports.stop
    if stop <= width:  # direct ports only
        return [(start, stop, g)], None
    split = max(0, width - start)  # cells on direct ports, then cells on complement ports
    c_lo, c_hi = max(start, width) - width, stop - width  # complement ports as direct-bit rows
    g_direct, g_complement = g[:split], g[split:]
    constant = (ports.valid[:, c_lo:c_hi].astype(np.float32) @ g_complement.astype(np.float32, copy=False)).astype(np.int32)
    if not split:
        return [(c_lo, c_hi, -g_complement)], constant
    lo, hi = min(start, c_lo), max(start + split, c_hi)
    if hi - lo > split + (c_hi - c_lo):  # far apart: two GEMMs
        return [(start, start + split, g_direct), (c_lo, c_hi, -g_complement)], constant
    merged = np.zeros((hi - lo, g.shape[1]), dtype)  # overlapping: one GEMM, weights summed
    merged[start - lo : start + split - lo] += g_direct
    merged[c_lo - lo : c_hi - lo] -= g_complement
    return [(lo, hi, merged)], constant


@dataclass
class _FusedGroup:
    """One window's share of a fused sensing: ``v += X[..., lo:hi] @ weights + constant``
    where ``X = Σ_b ω_b · bits_b`` (plane weights folded into the weights for one plane),
    ``gemm`` holding the weights; ``how`` the packing of the window's ports where the
    AND-popcount GEMM over packed ports is cheaper (:mod:`.packed`), else None; ``shifted``
    the constant terms and comparators made so far (:meth:`shifted_constant`,
    :meth:`sums_comparator`)."""

    lo: int
    hi: int
    width: int
    gemm: IntegerGemm
    constant: np.ndarray | None
    how: Layout | None
    shifted: dict[tuple, np.ndarray] = field(default_factory=dict)
    macs: int = 0
    """Multiply-adds of this group's GEMMs so far (see :func:`~.packed.worthwhile`)."""
    comparator: PackedComparison | None = None
    """The packed comparison (its thresholds less the complement constant), made once: a plan
    lives as long as its op's constants (thresholds included) are the same."""

    @cached_property
    def packed(self) -> PackedWeights | None:
        """The weights packed for the popcount GEMM (made when first needed), or None where
        that GEMM is not cheaper or not exact here."""
        return None if self.how is None else pack_weights(self.gemm.weights, self.width, self.lo, self.how)

    def sums_comparator(self, shift: int, thresholds: np.ndarray, bound: int) -> np.ndarray:
        """Thresholds ``[M, P, L]`` on ``v`` as thresholds ``[L, P, M]`` (int64) on the sums
        ``(X − shift) @ weights``, less :meth:`shifted_constant` and clipped to ``±(bound + 1)``
        (the sums' magnitude is at most ``bound``: beyond, every threshold decides alike) —
        made once per shift."""
        key = ("comparator", shift)
        if key not in self.shifted:
            per_position = thresholds.transpose(2, 1, 0).astype(np.int64) - self.shifted_constant(shift, np.dtype(np.int64))
            self.shifted[key] = np.ascontiguousarray(np.clip(per_position, -bound - 1, bound + 1))
        return self.shifted[key]

    def shifted_constant(self, shift: int, dtype: np.dtype) -> np.ndarray:
        """The ``[P, M]`` term added to ``(X − shift) @ weights``: ``constant + shift · Σ_rows weights``
        (made once per shift and dtype)."""
        if (shift, dtype) not in self.shifted:
            total = self.gemm.weights.sum(axis=0) * shift
            if self.constant is not None:
                total = total + self.constant
            self.shifted[shift, dtype] = np.asarray(total).astype(dtype)
        return self.shifted[shift, dtype]


def fused_value(op: Operation, pending: PendingReads) -> tuple[np.ndarray, int]:
    """The sensed value ``v`` ``[N, P, M]`` (exact integers, int32 or float) of sensing op
    ``op`` over pending reads, and a bound of ``|v|``. ``v`` is linear in the counts, so
    ``v = Σ_b ω_b · S(Σ_reads bits_b @ G)`` — with ``S`` the scheme's column combination — is
    one GEMM per window: ``(Σ_b ω_b · bits_b) @ (Σ_reads G · S)``, complement rows folded as in
    :func:`_counts_of_ports` (see :class:`~.gemm.IntegerGemm` and :mod:`.packed` for the
    engines)."""
    groups, bound, windows = _fused_plan(op, pending)
    n, planes, positions = pending.shape[:3]
    value = None
    for group, ports in zip(groups, windows):
        macs = _macs(ports, pending, group)
        packed = _runs_packed(group, macs, pending.cells, n * positions)
        group.macs += macs
        if packed:
            dtype = np.int32 if bound < 2**31 else np.int64
            part = group.packed(ports.packed(group.how), _omega(op, planes), dtype).reshape(n, positions, -1)
            shift = 0
        else:
            x, shift = ports.plane_sum(plane_weights(op.attr("encoding")))
            x = x[..., group.lo : group.hi].reshape(-1, group.hi - group.lo)
            part = group.gemm(x, bound).reshape(n, positions, -1)
        if group.constant is not None or shift:
            part = part + group.shifted_constant(shift, part.dtype)
        value = part if value is None else value + part
    return value, bound


@dataclass(frozen=True)
class PackedComparison:
    """A comparator's route through the AND-popcount kernel (:func:`packed_comparison`): its
    window's packed weights, the ports' layout, the input planes' weights and the thresholds
    less the complement constant ``[L, P, M]``, for results of declared shape ``shape``. It
    holds until an IR or a constant is edited (:func:`~bnnc.ir.edit_count`,
    :func:`~bnnc.ir.constant_edit_count`): the kernels, once loaded, stay."""

    weights: PackedWeights
    how: Layout
    omega: np.ndarray
    thresholds: np.ndarray
    shape: tuple[int, ...]

    def __call__(self, ports: PortMatrix, samples: int) -> PackedBits:
        """The comparator's result over the window ``ports`` (of ``samples`` samples) as packed bits."""
        words = self.weights.compare(ports.packed(self.how), self.omega, self.thresholds, samples)
        return PackedBits(words, (samples,) + self.shape)


def packed_comparison(op: Operation, pending: PendingReads, thresholds: np.ndarray,
                      plan: FusedPlan | None = None) -> PackedComparison | None:
    """The comparator ``op``'s route straight to packed bits through the popcount kernel —
    thresholds ``[M, P, L]`` (less the complement constant) applied per row, no ``v`` array —
    where its reads are of one window and run packed; else None (see :func:`fused_value`).
    ``plan``: its :func:`_fused_plan` where the caller has it already."""
    groups, _, windows = plan or _fused_plan(op, pending)
    if len(groups) != 1:
        return None
    group = groups[0]
    macs = _macs(windows[0], pending, group)
    if not _runs_packed(group, macs, pending.cells, pending.shape[0] * pending.shape[2]):
        return None
    group.macs += macs
    if group.comparator is None:  # v = sums + constant ≥ T  ⇔  sums ≥ T − constant
        per_position = thresholds.transpose(2, 1, 0).astype(np.int64)  # [L, P, M]
        if group.constant is not None:
            per_position = per_position - np.asarray(group.constant).astype(np.int64)
        group.comparator = PackedComparison(group.packed, group.how, _omega(op, pending.shape[1]),
                                            np.ascontiguousarray(per_position), op.result.type.shape)
    return group.comparator


def fused_comparison(op: Operation, pending: PendingReads, thresholds: np.ndarray) -> PackedBits | None:
    """The comparator ``op``'s result as packed bits where its reads are of one window: by
    :func:`packed_comparison`'s route, or — once the compiled kernels are loaded — its byte
    GEMM's sums compared by :func:`~.popcount.compare_sums` (thresholds less the constant
    terms, no ``v`` array, no byte per bit); else None."""
    plan = _fused_plan(op, pending)
    route = packed_comparison(op, pending, thresholds, plan)
    groups, bound, windows = plan
    if route is not None:
        return route(windows[0], pending.shape[0])
    if len(groups) != 1 or not worthwhile(0):
        return None
    from .popcount import compare_sums

    group, ports = groups[0], windows[0]
    group.macs += _macs(ports, pending, group)
    x, shift = ports.plane_sum(plane_weights(op.attr("encoding")))
    sums = group.gemm(x[..., group.lo : group.hi].reshape(-1, group.hi - group.lo), bound)
    comparator = group.sums_comparator(shift, thresholds, bound)
    levels, positions, columns = comparator.shape
    words = np.empty((pending.shape[0], levels, positions, -(-columns // 64)), np.uint64)
    compare_sums(sums, comparator, words)
    return PackedBits(words, (pending.shape[0],) + op.result.type.shape)


FusedPlan = tuple[list[_FusedGroup], int, list[PortMatrix]]
"""A sensing op's fused groups, the bound of ``|v|`` and the windows its groups read (:func:`_fused_plan`)."""


def _fused_plan(op: Operation, pending: PendingReads) -> FusedPlan:
    """The fusion plan of sensing op ``op`` (made once per layout of its reads and versions of
    their cells), its bound of ``|v|``, and the windows its groups read."""
    layout = pending.layout or read_layout(pending)
    windows = [pending.reads[read][1] for read in layout.firsts]
    key = ("fused", op.attr("scheme"), op.attr("encoding"), layout)
    groups, bound = derived(op, pending.cells, key, lambda: _fusion_plan(op, pending, windows),
                            also=lambda: [mvm.const("conductance") for mvm, _ in pending.reads])
    return groups, bound, windows


def _macs(ports: PortMatrix, pending: PendingReads, group: _FusedGroup) -> int:
    """Multiply-adds of ``group``'s GEMM over ``ports`` for the samples ``pending`` holds."""
    n, planes, positions = pending.shape[:3]
    return n * positions * planes * ports.width * group.gemm.weights.shape[1]


CHIP_PACKED_MIN_ROWS = 512
"""A chip's fused plans are made anew for each chip, so packing their weights (about 5 ns per
weight, :func:`~.packed.pack_weights`) repays only a GEMM of enough rows (samples × window
positions), each saving about 0.01–0.02 ns per weight over sgemm: a chip's read runs packed
from this many rows per call. Measured on bench/'s CNV (its fifth conv's two tiles read 576
rows: 1.7 ms of sgemm each against 0.8 ms packing; about 1.5 ms of CPU less per chip of the
Monte Carlo than from 1024 rows) and SFC (450 rows per dense read: from 256 rows, about 0.4 ms
more per chip)."""


CHIP_INTEGER_GEMM_MACS = 1 << 26
"""A chip's fused GEMM whose cells repay loading the compiled kernels
(:attr:`~.cells.ChipCells.repays_loading`: its Monte Carlo's reads are beyond
:data:`~.gemm.INTEGER_GEMM_MACS` too, so onnxruntime is loaded) runs on ``MatMulInteger`` from
this many multiply-adds in one call: its session, made anew per chip, costs about 0.35 ms of
CPU, about what a call of 2**25 multiply-adds saves over sgemm. Measured on bench/'s CNV (its
RGB first conv, 99.5 M multiply-adds over 64 samples: 2.6 ms of sgemm, 1.0 ms on
``MatMulInteger``); SFC's reads (at most 45 M) stay on sgemm."""


def _runs_packed(group: _FusedGroup, macs: int, cells: ChipCells | None, rows: int) -> bool:
    """Whether ``group``'s GEMM runs on packed words this time, doing ``macs`` multiply-adds
    over ``rows`` rows (see :func:`~.packed.worthwhile`: the multiply-adds done so far and this
    call's; a chip's reads count its whole Monte Carlo's, :attr:`~.cells.ChipCells.repays_loading`,
    and run packed from :data:`CHIP_PACKED_MIN_ROWS` rows)."""
    if group.how is None:
        return False
    if cells is None:
        return worthwhile(group.macs + macs) and group.packed is not None
    return cells.repays_loading and rows >= CHIP_PACKED_MIN_ROWS and group.packed is not None


def _omega(op: Operation, planes: int) -> np.ndarray:
    """The input planes' weights in the packed kernel (one plane: 1, its weight is in the cells);
    kept until an IR is edited (the kernels only read it)."""
    return structural(op, ("omega", planes),
                      lambda: np.array(plane_weights(op.attr("encoding")) if planes > 1 else [1], np.int64))


def _fusion_plan(op: Operation, pending: PendingReads, windows: list[PortMatrix]) -> tuple[list[_FusedGroup], int]:
    """Per window (in ``windows`` order): the summed weights ``G · S`` of its reads over the
    direct-bit rows they use and the complement constant, with plane weights folded in for
    one plane; and the bound of ``|v|`` (``Σ|ω|`` times, per window, the sum over rows of the
    largest ``|weight|`` plus the largest ``|constant|``). The reads' weights are summed in
    int32 (cells count at most 2) before the scheme combines their columns once (it is linear,
    with integer coefficients). A chip's GEMMs take ``MatMulInteger`` from
    :data:`CHIP_INTEGER_GEMM_MACS` where its cells repay loading the kernels."""
    weights = plane_weights(op.attr("encoding"))
    planes = pending.shape[1]
    scale = weights[0] if planes == 1 else 1
    total = sum(abs(w) for w in weights)
    combine = SCHEMES[op.attr("scheme")].combine  # linear in the columns: ``x @ column_matrix``
    from_macs = CHIP_INTEGER_GEMM_MACS if pending.cells is not None and pending.cells.repays_loading else None
    groups, bound = [], 0.0
    for window in windows:
        reads = [(mvm, ports) for mvm, ports in pending.reads if ports.cache is window.cache]
        width = reads[0][1].width
        pieces, constant = [], None
        for mvm, ports in reads:
            parts, c = _port_weights(cells_of(mvm, pending.cells), ports, width, np.int8)  # counts 0-2: no float copy
            pieces += parts
            if c is not None:
                constant = (0 if constant is None else constant) + c
        lo, hi = min(p[0] for p in pieces), max(p[1] for p in pieces)
        raw = np.zeros((hi - lo, pieces[0][2].shape[1]), np.int32)  # |Σ| ≤ 2 per piece
        for start, stop, w in pieces:
            raw[start - lo : stop - lo] += w
        summed = combine(raw, axis=1)
        if constant is not None:
            constant = combine(constant.astype(np.float64), axis=1) * (scale if planes == 1 else sum(weights))
        how = layout(window.image_shape[2], tuple(window.window.attr("kernel")))
        gemm = IntegerGemm(summed if scale == 1 else summed * scale, from_macs)
        groups.append(_FusedGroup(lo, hi, width, gemm, constant, how if profitable(planes, width, how.words) else None))
        bound += total * np.abs(summed).max(axis=1).sum() + (np.abs(constant).max() if constant is not None else 0)
    return groups, int(bound) + 1
