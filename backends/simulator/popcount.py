"""The compiled AND-popcount GEMM of the bit-packed integer path (numba; imported only when a
packed read first runs). Kernels are compiled once per signature and cached on disk
(``cache=True``): next to this file in ``__pycache__`` when the package directory is
writable, else numba's user-wide cache (``~/.cache/numba``, or ``NUMBA_CACHE_DIR`` when set),
so a CLI run loads them instead of recompiling. One thread (no ``parallel``), the GIL released.

Measured on CNV's conv shapes (one thread, AMD EPYC with AVX-512 VPOPCNTDQ, shared machine):
360–1330 GMAC/s (bit multiply-adds) with the loop over columns innermost (vectorized), against
180–790 for scalar popcounts of four rows × two columns and 21–60 GMAC/s for numpy's float32
sgemm on the same 0/1 matrices; three weight words per pass over the columns then measured
390–1220 against 285–1035 for one (200704×9×64, 36864×18×128, 2304×18×256, in one process).
Comparators write their bits from a byte per column (one vectorized compare per row) packed
eight bytes at a time by a multiplication, inlined into the row loop: on CNV's layers (batch
128) the comparing kernel went from 19.1 ms to 9.7 ms, as fast as storing the sums (9.5 ms),
against scalar compare-and-set per column in a function called per row."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, word):
    """The number of set bits of a uint64 (LLVM's ``ctpop``: one ``popcnt`` instruction)."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@njit(cache=True, nogil=True, inline="always")
def _block_sums(x, w, omega, lo, scale, r0, block, ones, acc, counts):
    """``acc[i, j]`` for rows ``r0 + i`` (``i < block ≤ 4``) as :func:`popcount_gemm` defines
    them (entries ``i ≥ block`` are left meaningless): per three weight words ``k..k+2`` (then
    one at a time for the last ``Kw mod 3``), the four rows' words against contiguous runs of
    every column's words ``w[t, k, :]`` — the inner loop over columns vectorizes (AVX-512
    ``vpopcntq`` where the CPU has it), measured 1.3–2.3× four rows × two columns of scalar
    popcounts on CNV's conv shapes; taking three words per pass loads and stores the column
    counts a third as often, measured 1.2–1.5× one word per pass. ``ones`` ``[4, B]`` and
    ``counts`` ``[4, M]`` (uint64) are scratch. Inlined into its caller (numba IR), which saves
    the reference counting of ten array arguments per block of four rows."""
    planes, words = x.shape[1], x.shape[2]
    bitplanes, columns = w.shape[0], w.shape[2]
    last = x.shape[0] - 1
    ra, rb, rc, rd = r0, min(r0 + 1, last), min(r0 + 2, last), min(r0 + 3, last)
    for i in range(block):
        for b in range(planes):
            total = 0
            for k in range(words):
                total += _popcount(x[r0 + i, b, k])
            ones[i, b] = total
    acc[:, :] = 0
    for b in range(planes):
        weight = omega[b]
        for t in range(bitplanes):
            counts[:, :] = 0
            c0, c1, c2, c3 = counts[0], counts[1], counts[2], counts[3]
            for k in range(0, words - words % 3, 3):
                a0, a1, a2, a3 = x[ra, b, k], x[rb, b, k], x[rc, b, k], x[rd, b, k]
                b0, b1, b2, b3 = x[ra, b, k + 1], x[rb, b, k + 1], x[rc, b, k + 1], x[rd, b, k + 1]
                d0, d1, d2, d3 = x[ra, b, k + 2], x[rb, b, k + 2], x[rc, b, k + 2], x[rd, b, k + 2]
                wa, wb, wd = w[t, k], w[t, k + 1], w[t, k + 2]
                for j in range(columns):
                    p, q, s = wa[j], wb[j], wd[j]
                    c0[j] += _popcount(a0 & p) + _popcount(b0 & q) + _popcount(d0 & s)
                    c1[j] += _popcount(a1 & p) + _popcount(b1 & q) + _popcount(d1 & s)
                    c2[j] += _popcount(a2 & p) + _popcount(b2 & q) + _popcount(d2 & s)
                    c3[j] += _popcount(a3 & p) + _popcount(b3 & q) + _popcount(d3 & s)
            for k in range(words - words % 3, words):
                x0, x1, x2, x3 = x[ra, b, k], x[rb, b, k], x[rc, b, k], x[rd, b, k]
                wk = w[t, k]
                for j in range(columns):
                    word = wk[j]
                    c0[j] += _popcount(x0 & word)
                    c1[j] += _popcount(x1 & word)
                    c2[j] += _popcount(x2 & word)
                    c3[j] += _popcount(x3 & word)
            for i in range(4):
                for j in range(columns):
                    acc[i, j] += weight * scale[j] * (np.int64(counts[i, j]) << t)
        for i in range(4):
            for j in range(columns):
                acc[i, j] += weight * lo[j] * ones[i, b]


@njit(cache=True, nogil=True)
def popcount_gemm(x, w, omega, lo, scale, out):
    """``out[r, j] = Σ_b omega[b] · (lo[j] · |x[r, b]| + scale[j] · Σ_t 2^t · |x[r, b] & w[t, j]|)``
    with ``|·|`` the popcount over a row's words: ``x`` ``[R, B, Kw]`` uint64 (``B`` input
    bit-planes), ``w`` ``[T, Kw, M]`` uint64 (``T`` weight bit-planes, word-major), ``omega`` ``[B]``,
    ``lo`` and ``scale`` ``[M]`` int64; sums in int64, stored in ``out``'s dtype ``[R, M]``."""
    _rows(x, w, omega, lo, scale, None, out)


@njit(cache=True, nogil=True)
def popcount_compare(x, w, omega, lo, scale, thresholds, out):
    """Comparators on :func:`popcount_gemm`'s sums, written as packed bits: with row
    ``r = n · P + p`` (sample ``n``, window position ``p``) and ``v = sums[r, j]``, one level
    (``thresholds`` ``[1, P, M]``) sets bit ``j`` of ``out[n, 0, p]`` where ``v ≥ T0``; two
    levels (``[2, P, M]``) set it in ``out[n, 0, p]`` where ``v ≥ T1`` and in ``out[n, 1, p]``
    where ``v < T0``. ``out`` is ``[N, L, P, ⌈M/64⌉]`` uint64; each word is written once."""
    _rows(x, w, omega, lo, scale, thresholds, out)


_BYTE_BITS = np.uint64(0x0102040810204080)
"""``(b · _BYTE_BITS) >> 56`` for a word ``b`` of eight bytes, each 0 or 1, is the byte of
their bits (byte ``k`` → bit ``k``): the partial products of distinct bytes never meet."""


@njit(cache=True, nogil=True)
def _rows(x, w, omega, lo, scale, thresholds, out):
    """Every row's sums, four rows at a time: stored (``thresholds`` None, a branch numba
    compiles away) or compared (see :func:`popcount_compare`)."""
    rows, columns = x.shape[0], w.shape[2]
    ones = np.zeros((4, x.shape[1]), np.int64)
    acc = np.zeros((4, columns), np.int64)
    counts = np.zeros((4, columns), np.uint64)
    fired = np.zeros((2, -(-columns // 64) * 64), np.uint8)
    fired_words = fired.view(np.uint64)
    for r0 in range(0, rows, 4):
        block = min(4, rows - r0)
        _block_sums(x, w, omega, lo, scale, r0, block, ones, acc, counts)
        for i in range(block):
            if thresholds is None:
                for j in range(columns):
                    out[r0 + i, j] = acc[i, j]
            else:
                n, p = divmod(r0 + i, thresholds.shape[1])
                _fire_row(acc, i, p, thresholds, fired)
                _pack_row(fired_words, n, p, thresholds.shape[0], out)


@njit(cache=True, nogil=True)
def compare_sums(sums, thresholds, out):
    """:func:`popcount_compare`'s comparators on sums computed elsewhere: ``sums`` ``[R, M]``
    (rows ``n · P + p``; integers, or floats holding integers), thresholds ``[L, P, M]`` (int64)
    and ``out`` ``[N, L, P, ⌈M/64⌉]`` as there."""
    fired = np.zeros((2, out.shape[3] * 64), np.uint8)
    fired_words = fired.view(np.uint64)
    for row in range(sums.shape[0]):
        n, p = divmod(row, thresholds.shape[1])
        _fire_row(sums, row, p, thresholds, fired)
        _pack_row(fired_words, n, p, thresholds.shape[0], out)


@njit(cache=True, nogil=True, inline="always")
def _fire_row(sums, i, p, thresholds, fired):
    """Comparators on row ``i`` of ``sums`` ``[·, M]`` (int64) at window position ``p``
    (thresholds ``[L, P, M]``, see :func:`popcount_compare`) as a byte per column and level in
    ``fired`` (uint8 ``[2, ≥ M]``, rounded up to whole words, zero beyond ``M``): one vectorized
    compare per level. (With :func:`_pack_row`, two inlined steps: one inlined function doing
    both measured 1.6× slower.)"""
    if thresholds.shape[0] == 1:
        for j in range(sums.shape[1]):
            fired[0, j] = sums[i, j] >= thresholds[0, p, j]
    else:
        for j in range(sums.shape[1]):
            fired[0, j] = sums[i, j] >= thresholds[1, p, j]
            fired[1, j] = sums[i, j] < thresholds[0, p, j]


@njit(cache=True, nogil=True, inline="always")
def _pack_row(fired_words, n, p, levels, out):
    """:func:`_fire_row`'s bytes (``fired_words``, their uint64 view) as ``out[n, :levels, p]``'s
    words, eight bytes at a time."""
    for level in range(levels):
        for word in range(out.shape[3]):
            bits = np.uint64(0)
            for q in range(8):
                byte = (fired_words[level, word * 8 + q] * _BYTE_BITS) >> np.uint64(56)
                bits |= byte << np.uint64(8 * q)
            out[n, level, p, word] = bits
