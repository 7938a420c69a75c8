"""The bit-packed integer path: a window's ports as uint64 words and the exact integer weights of
a fused sensing as bit-planes of packed words, multiplied by the compiled AND-popcount GEMM
(:mod:`.popcount`).

A dot product ``Σ_k x_k · W[k, j]`` of bits ``x`` and integer weights is unchanged by any
common permutation of ``k`` and by zero padding of ``x``, so the ports are packed in whichever
order is cheapest to build:

- ``taps``: tap-major, ``(i, j)`` then the channels packed into ``Cw = ⌈C/64⌉`` words — the
  image is packed once along its channels (channel-last) and the window gathers whole words,
  pads carrying the word of each plane's pad bit (bits beyond ``C`` zero);
- ``ports``: the ports in their own order ``(c, i, j)``, im2col'd as bytes and packed into
  ``⌈K/64⌉`` words — fewer words where ``C`` is far below a multiple of 64 (an RGB first layer).

Each weight column ``j`` is written ``W[:, j] = lo_j + scale_j · Σ_t 2^t · B_t[:, j]`` with bit
matrices ``B_t`` (``lo_j`` the column's least weight, ``scale_j`` the gcd of its steps; one
plane for the ±1-valued columns of every scheme), so that
``x · W[:, j] = lo_j · |x| + scale_j · Σ_t 2^t · |x & B_t[:, j]|``; bit-serial input planes
``b`` add up with their weights ``ω_b`` in the same kernel."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bnnc.ir import Operation

from .caches import structural
from .windows import output_size, plane_ports, tap_slices

MAX_WEIGHT_PLANES = 8
"""Weights needing more bit-planes than this stay with the byte GEMM (no scheme produces them)."""

POPCOUNT_ADVANTAGE = 4
"""How many times the popcount kernel's bit operations per second exceed the byte GEMM's
multiply-adds (measured 290–1080 GMAC/s against MatMulInteger's 125–200 and sgemm's 20–60 on
CNV's shapes, conservatively): a read runs packed when its input planes' words hold at most this
many bits per port, ``B · 64 · Kw ≤ 4 · K`` (an 8-plane RGB layer of 27 ports stays in bytes)."""


PACKED_MIN_MACS = 1 << 31
"""Until the compiled kernels have run once in this process, a read runs packed only once it
has done at least this many multiply-adds (this call's included; a batch-1 loop gets there
too): loading them costs numba's import and target setup, about 0.25 + 0.33 CPU-s measured
with the kernels cached on disk — more than a small run's byte GEMMs (a 16-sample golden check
of CNV: under 1 G multiply-adds in all, tens of ms). Once loaded, every profitable read runs
packed (results are the same either way)."""

_loaded = False


def worthwhile(macs: int) -> bool:
    """Whether a profitable read that has done ``macs`` multiply-adds runs packed (see
    :data:`PACKED_MIN_MACS`)."""
    return _loaded or macs >= PACKED_MIN_MACS


@dataclass(frozen=True)
class Layout:
    """How a window's ports are packed: ``order`` ``"taps"`` or ``"ports"`` and ``words`` per
    row, with ``bit[k]`` the bit index of port ``k`` (ports ordered ``(c, i, j)``)."""

    order: str
    words: int
    bit: np.ndarray


def layout(channels: int, kernel: tuple[int, int]) -> Layout:
    """The packing of ``channels × kh × kw`` ports with the fewer words (``taps`` on ties)."""
    kh, kw = kernel
    cw = -(-channels // 64)
    k = channels * kh * kw
    if kh * kw * cw <= -(-k // 64):
        c, tap = np.divmod(np.arange(k), kh * kw)
        return Layout("taps", kh * kw * cw, tap * cw * 64 + c)
    return Layout("ports", -(-k // 64), np.arange(k))


def profitable(planes: int, ports: int, words: int) -> bool:
    """Whether a read of ``planes`` input planes over ``ports`` ports packed in ``words`` words
    per row is cheaper as popcounts than as a byte GEMM (see :data:`POPCOUNT_ADVANTAGE`)."""
    return planes * 64 * words <= POPCOUNT_ADVANTAGE * ports


def _words(bits: np.ndarray, words: int) -> np.ndarray:
    """Bits ``[..., L]`` (uint8 0/1) packed little-endian along the last axis into ``words``
    uint64 words (zero beyond ``L``)."""
    packed = np.packbits(bits, axis=-1, bitorder="little")
    out = np.zeros(packed.shape[:-1] + (words * 8,), np.uint8)
    out[..., : packed.shape[-1]] = packed
    return out.view(np.uint64)


def packed_ports(image: np.ndarray | PackedBits, op: Operation, how: Layout) -> np.ndarray:
    """The direct ports of window ``op`` over its input — planes ``[N, B, C, H, W]`` (uint8) or
    packed bits — as words ``[N·P, B, Kw]`` in layout ``how``; each plane's pads carry its pad
    bit."""
    if how.order == "ports":
        planes = image if isinstance(image, np.ndarray) else image.resolve()[:, :, 0]
        n, b = planes.shape[:2]
        words = _words(plane_ports(planes, op), how.words)  # [N, B, P, Kw]
        return np.ascontiguousarray(words.transpose(0, 2, 1, 3)).reshape(-1, b, how.words)
    kh, kw = op.attr("kernel")
    cw = how.words // (kh * kw)
    if isinstance(image, PackedBits):
        c, words = image.channels, image.image()  # [N, B, H, W, Cw]
    else:
        c, words = image.shape[2], _words(image.transpose(0, 1, 3, 4, 2), cw)
    n, b, height, width, _ = words.shape
    out_h, out_w = output_size(op, height, width)
    fill = structural(op, ("pad words", c, cw),
                      lambda: np.stack([_words(np.full(c, bit, np.uint8), cw) for bit in op.pad_plane_bits()]))
    words = _pad_words(words, op, fill)
    out = np.empty((n, out_h, out_w, b, kh, kw, cw), np.uint64)
    for i, j, rows, cols in tap_slices(op, out_h, out_w):
        out[:, :, :, :, i, j] = words[:, :, rows, cols].transpose(0, 2, 3, 1, 4)
    return out.reshape(n * out_h * out_w, b, how.words)


@dataclass(frozen=True)
class PackedWeights:
    """Integer weights ``W`` ``[K, M]`` over a window's ports as packed bit-planes ``planes``
    ``[T, Kw, M]`` (word-major: word ``k`` of every column in a row) in layout ``how``, with ``W[:, j] = lo[j] + scale[j] · Σ_t 2^t B_t[:, j]``."""

    how: Layout
    planes: np.ndarray
    lo: np.ndarray
    scale: np.ndarray

    def __call__(self, x: np.ndarray, omega: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """``Σ_b omega[b] · x[:, b] @ W`` for packed ports ``x`` ``[R, B, Kw]``, in ``dtype``
        (int32 or int64, holding every result)."""
        global _loaded
        from .popcount import popcount_gemm

        out = np.empty((x.shape[0], self.planes.shape[2]), dtype)
        popcount_gemm(x, self.planes, omega, self.lo, self.scale, out)
        _loaded = True
        return out

    def compare(self, x: np.ndarray, omega: np.ndarray, thresholds: np.ndarray, samples: int) -> np.ndarray:
        """Comparators on ``v = Σ_b omega[b] · x[:, b] @ W`` (rows ``n · P + p``): one level
        ``[v ≥ T0]``, two levels ``[v ≥ T1]`` and ``[v < T0]`` (``thresholds`` ``[L, P, M]``
        int64, C-contiguous), as packed words ``[N, L, P, ⌈M/64⌉]``."""
        global _loaded
        from .popcount import popcount_compare

        levels, positions, columns = thresholds.shape
        out = np.empty((samples, levels, positions, -(-columns // 64)), np.uint64)
        popcount_compare(x, self.planes, omega, self.lo, self.scale, thresholds, out)
        _loaded = True
        return out


def pack_weights(weights: np.ndarray, ports: int, start: int, how: Layout) -> PackedWeights | None:
    """``weights`` ``[hi − start, M]`` on ports ``[start, hi)`` of ``ports`` (zero on the others),
    packed in layout ``how``; None where they are not integers or need more than
    :data:`MAX_WEIGHT_PLANES` planes. Small weights (every scheme's) are split in int16, each
    plane packed along the ports (about 5 ns a weight, a chip's plans pack anew)."""
    full = np.zeros((ports, weights.shape[1]), np.float64)
    full[start : start + weights.shape[0]] = weights
    largest = np.abs(full).max(initial=0)
    if largest >= 2**40 or not np.array_equal(full, np.round(full)):
        return None
    dtype = np.int16 if largest < 2**14 else np.int64  # steps below 2**15, or 2**41
    w = full.astype(dtype)
    lo = w.min(axis=0) if ports else np.zeros(w.shape[1], dtype)
    steps = w - lo
    scale = _column_gcds(steps)
    if (scale != 1).any():  # exact in float64: integers below 2**41, multiples of their column's scale
        steps = (steps / scale).astype(dtype)
    count = max(1, int(steps.max(initial=0)).bit_length())
    if count > MAX_WEIGHT_PLANES:
        return None
    columns = steps.T  # each plane packed along the ports, column-major: one row of words per column
    bits = np.zeros((count, w.shape[1], how.words * 64), np.uint8)
    for t in range(count):
        bits[t][:, how.bit] = (columns >> t) & 1
    words = np.packbits(bits, axis=-1, bitorder="little").view(np.uint64)  # [T, M, Kw]: port 64k + i at bit i of word k
    planes = np.ascontiguousarray(words.transpose(0, 2, 1))
    return PackedWeights(how, planes, lo.astype(np.int64), scale.astype(np.int64))


def _column_gcds(steps: np.ndarray) -> np.ndarray:
    """The gcd of each column of non-negative integers ``steps`` ``[K, M]`` (1 for a column of
    zeros). A column's largest power of two dividing every step is the lowest set bit of their
    OR; where the column holds that power itself, it is the gcd, without the reduction."""
    ored = np.bitwise_or.reduce(steps, axis=0)
    scale = ored & -ored  # the lowest set bit (0 for a column of zeros)
    others = ~(steps == scale).any(axis=0) & (scale != 0)
    if others.any():
        scale[others] = np.gcd.reduce(steps[:, others], axis=0)
    scale[scale == 0] = 1
    return scale


@dataclass(frozen=True)
class PackedBits:
    """A bit value that the interpreter holds as uint8 ``shape`` = ``[N, L, 1, C, *spatial]``
    (a comparator's levels, or a window's input planes), kept channel-last and packed:
    ``words`` ``[N, L, S, Cw]`` uint64 over the ``S`` spatial positions (row-major), channel
    ``c`` at bit ``c % 64`` of word ``c // 64``, bits beyond ``C`` zero. Comparators write
    it from their ``[N, P, M]`` results without a transpose, and a window packed in ``taps``
    order reads its words as they are."""

    words: np.ndarray
    shape: tuple[int, ...]

    @property
    def channels(self) -> int:
        return self.shape[3]

    @staticmethod
    def of(bits: np.ndarray, shape: tuple[int, ...]) -> PackedBits:
        """Channel-last bits ``[N, L, S, C]`` (bool or 0/1) of the value of ``shape``."""
        return PackedBits(_words(bits.view(np.uint8), -(-bits.shape[-1] // 64)), tuple(shape))

    def channel_last(self) -> np.ndarray:
        """The bits as uint8 ``[N, L, S, C]``."""
        return np.unpackbits(self.words.view(np.uint8), axis=-1, count=self.channels, bitorder="little")

    def resolve(self) -> np.ndarray:
        """The bits as the interpreter holds them: uint8 ``shape``."""
        return np.ascontiguousarray(self.channel_last().transpose(0, 1, 3, 2)).reshape(self.shape)

    def image(self) -> np.ndarray:
        """The words as an image ``[N, L, H, W, Cw]`` (``H = W = 1`` without spatial axes)."""
        height, width = (self.shape[4:] + (1, 1))[:2] if len(self.shape) < 6 else self.shape[4:6]
        return self.words.reshape(self.words.shape[:2] + (height, width, self.words.shape[-1]))

    def reshaped(self, shape: tuple[int, ...]) -> PackedBits | None:
        """The same bits under ``shape`` where the layout is unchanged — the same ``[N, L, 1, C]``
        prefix and positions, e.g. a dense layer's ``[L, 1, C]`` as ``[L, 1, C, 1, 1]`` — else None."""
        if tuple(shape[:4]) != self.shape[:4] or math.prod(shape[4:]) != math.prod(self.shape[4:]):
            return None
        return PackedBits(self.words, tuple(shape))


def concat_channels(parts: list[PackedBits], shape: tuple[int, ...]) -> PackedBits:
    """``parts`` concatenated along the channel axis (whole words where every part but the last
    fills its words; else each part's words ORed in at its bit offset once the compiled kernels
    are loaded, :func:`~.word_ops.or_words_at`, or through channel-last bytes)."""
    if all(p.channels % 64 == 0 for p in parts[:-1]):
        return PackedBits(np.concatenate([p.words for p in parts], axis=-1), tuple(shape))
    if not _loaded:
        return PackedBits.of(np.concatenate([p.channel_last() for p in parts], axis=-1), shape)
    from .word_ops import or_words_at

    lead = parts[0].words.shape[:-1]
    words = np.zeros(lead + (-(-sum(p.channels for p in parts) // 64),), np.uint64)
    rows, offset = words.reshape(-1, words.shape[-1]), 0
    for p in parts:
        or_words_at(rows, p.words.reshape(-1, p.words.shape[-1]), offset)
        offset += p.channels
    return PackedBits(words, tuple(shape))


def pool_words(bits: PackedBits, op: Operation, use_or: np.ndarray, shape: tuple[int, ...]) -> PackedBits:
    """``xbar.pool_bits`` on packed bits: per channel OR (where ``use_or``, for plane 0; the
    other plane takes the other one) or AND over each window, pads holding 0 for OR and 1 for
    AND — one compiled pass once the kernels are loaded (:func:`~.word_ops.pool_words`), else
    one word operation per kernel tap over strided views of the whole batch."""
    image = bits.image()  # [N, L, H, W, Cw]
    n, levels, height, width, cw = image.shape
    out_h, out_w = output_size(op, height, width)
    ones, masks, any_or, any_and = structural(op, ("pool masks", use_or.tobytes(), bits.channels, cw, levels),
                                              lambda: _pool_masks(use_or, bits.channels, cw, levels))
    if _loaded:  # one compiled pass over the words
        from .word_ops import pool_words as compiled

        out = np.empty((n, levels, out_h, out_w, cw), np.uint64)
        compiled(np.ascontiguousarray(image), structural(op, "pool geometry", lambda: _pool_geometry(op)), masks, ones, out)
        return PackedBits(out.reshape(n, levels, out_h * out_w, cw), tuple(shape))

    def reduce(combine: np.ufunc, pad: np.ndarray) -> np.ndarray:
        padded = _pad_words(image, op, np.broadcast_to(pad, (levels, cw)))
        result = None
        for _, _, rows, cols in tap_slices(op, out_h, out_w):
            tap = padded[:, :, rows, cols]
            result = tap.copy() if result is None else combine(result, tap, out=result)
        return result

    any_set = reduce(np.bitwise_or, np.zeros_like(ones)) if any_or else None
    all_set = reduce(np.bitwise_and, ones) if any_and else None
    out = np.zeros((n, levels, out_h, out_w, cw), np.uint64)
    for level, m in enumerate(masks):
        if any_set is not None:
            out[:, level] |= any_set[:, level] & m
        if all_set is not None:
            out[:, level] |= all_set[:, level] & (ones & ~m)
    return PackedBits(out.reshape(n, levels, out_h * out_w, cw), tuple(shape))


def _pool_masks(use_or: np.ndarray, channels: int, cw: int, levels: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """For :func:`pool_words`: every channel's bit as ``cw`` words, per plane the channels that
    OR (``[L, Cw]``; plane 0: ``use_or``, plane 1: the others), and whether any plane ORs or
    ANDs any channel."""
    ones = _words(np.ones(channels, np.uint8), cw)
    or_mask = _words(use_or.astype(np.uint8), cw)
    masks = np.stack([or_mask, ones & ~or_mask][:levels])
    return ones, masks, any(m.any() for m in masks), any((ones & ~m).any() for m in masks)


def _pool_geometry(op: Operation) -> tuple[int, ...]:
    """``(kh, kw, sh, sw, dh, dw, pt, pl)`` of the pooling ``op``."""
    (kh, kw), (sh, sw), (dh, dw) = op.attr("kernel"), op.attr("strides"), op.attr("dilations")
    return (kh, kw, sh, sw, dh, dw, *op.attr("pads")[:2])


def _pad_words(words: np.ndarray, op: Operation, fill: np.ndarray) -> np.ndarray:
    """An image of words ``[N, B, H, W, Cw]`` with ``op``'s pads ``[top, left, bottom, right]``
    holding ``fill[b]`` (``[B, Cw]``) in plane ``b``; the image itself without pads."""
    pt, pl, pb, pr = op.attr("pads")
    if not (pt or pl or pb or pr):
        return words
    n, b, height, width, cw = words.shape
    padded = np.empty((n, b, height + pt + pb, width + pl + pr, cw), np.uint64)
    padded[...] = fill[None, :, None, None, :]
    padded[:, :, pt : pt + height, pl : pl + width] = words
    return padded
