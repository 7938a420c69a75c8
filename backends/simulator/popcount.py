"""The compiled AND-popcount GEMM of the bit-packed integer path (numba; imported only when a
packed read first runs). Kernels are compiled once per signature and cached on disk
(``cache=True``): next to this file in ``__pycache__`` when the package directory is
writable, else numba's user-wide cache (``~/.cache/numba``, or ``NUMBA_CACHE_DIR`` when set),
so a CLI run loads them instead of recompiling. One thread (no ``parallel``), the GIL released.

Measured on CNV's conv shapes (one thread, AMD EPYC, shared machine): 290–1080 GMAC/s (bit
multiply-adds) with four rows sharing each weight word, against 21–60 GMAC/s for numpy's
float32 sgemm on the same 0/1 matrices."""

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


@njit(cache=True, nogil=True)
def _block_sums(x, w, omega, lo, scale, r0, block, ones, acc):
    """``acc[i, j]`` for rows ``r0 + i`` (``i < block ≤ 4``) as :func:`popcount_gemm` defines
    them; four rows share each weight word."""
    planes, words = x.shape[1], x.shape[2]
    bitplanes, columns = w.shape[0], w.shape[1]
    for i in range(block):
        for b in range(planes):
            total = 0
            for k in range(words):
                total += _popcount(x[r0 + i, b, k])
            ones[i, b] = total
    for j in range(columns):
        acc0 = np.int64(0)
        acc1 = np.int64(0)
        acc2 = np.int64(0)
        acc3 = np.int64(0)
        for b in range(planes):
            s0 = np.int64(0)
            s1 = np.int64(0)
            s2 = np.int64(0)
            s3 = np.int64(0)
            for t in range(bitplanes):
                p0 = np.uint64(0)
                p1 = np.uint64(0)
                p2 = np.uint64(0)
                p3 = np.uint64(0)
                if block == 4:
                    for k in range(words):
                        wk = w[t, j, k]
                        p0 += _popcount(x[r0, b, k] & wk)
                        p1 += _popcount(x[r0 + 1, b, k] & wk)
                        p2 += _popcount(x[r0 + 2, b, k] & wk)
                        p3 += _popcount(x[r0 + 3, b, k] & wk)
                else:
                    for k in range(words):
                        wk = w[t, j, k]
                        p0 += _popcount(x[r0, b, k] & wk)
                        if block > 1:
                            p1 += _popcount(x[r0 + 1, b, k] & wk)
                        if block > 2:
                            p2 += _popcount(x[r0 + 2, b, k] & wk)
                s0 += np.int64(p0) << t
                s1 += np.int64(p1) << t
                s2 += np.int64(p2) << t
                s3 += np.int64(p3) << t
            acc0 += omega[b] * (lo[j] * ones[0, b] + scale[j] * s0)
            acc1 += omega[b] * (lo[j] * ones[1, b] + scale[j] * s1)
            acc2 += omega[b] * (lo[j] * ones[2, b] + scale[j] * s2)
            acc3 += omega[b] * (lo[j] * ones[3, b] + scale[j] * s3)
        acc[0, j] = acc0
        acc[1, j] = acc1
        acc[2, j] = acc2
        acc[3, j] = acc3


@njit(cache=True, nogil=True)
def popcount_gemm(x, w, omega, lo, scale, out):
    """``out[r, j] = Σ_b omega[b] · (lo[j] · |x[r, b]| + scale[j] · Σ_t 2^t · |x[r, b] & w[t, j]|)``
    with ``|·|`` the popcount over a row's words: ``x`` ``[R, B, Kw]`` uint64 (``B`` input
    bit-planes), ``w`` ``[T, M, Kw]`` uint64 (``T`` weight bit-planes), ``omega`` ``[B]``,
    ``lo`` and ``scale`` ``[M]`` int64; sums in int64, stored in ``out``'s dtype ``[R, M]``."""
    _rows(x, w, omega, lo, scale, None, out)


@njit(cache=True, nogil=True)
def popcount_compare(x, w, omega, lo, scale, thresholds, out):
    """Comparators on :func:`popcount_gemm`'s sums, written as packed bits: with row
    ``r = n · P + p`` (sample ``n``, window position ``p``) and ``v = sums[r, j]``, one level
    (``thresholds`` ``[P, M, 1]``) sets bit ``j`` of ``out[n, 0, p]`` where ``v ≥ T0``; two
    levels set it in ``out[n, 0, p]`` where ``v ≥ T1`` and in ``out[n, 1, p]`` where
    ``v < T0``. ``out`` is ``[N, L, P, ⌈M/64⌉]`` uint64; each word is written once."""
    _rows(x, w, omega, lo, scale, thresholds, out)


@njit(cache=True, nogil=True)
def _rows(x, w, omega, lo, scale, thresholds, out):
    """Every row's sums, four rows at a time: stored (``thresholds`` None, a branch numba
    compiles away) or compared (see :func:`popcount_compare`)."""
    rows, columns = x.shape[0], w.shape[1]
    ones = np.zeros((4, x.shape[1]), np.int64)
    acc = np.zeros((4, columns), np.int64)
    for r0 in range(0, rows, 4):
        block = min(4, rows - r0)
        _block_sums(x, w, omega, lo, scale, r0, block, ones, acc)
        for i in range(block):
            if thresholds is None:
                for j in range(columns):
                    out[r0 + i, j] = acc[i, j]
            else:
                _compare_row(acc, i, r0 + i, thresholds, out)


@njit(cache=True, nogil=True)
def _compare_row(acc, i, row, thresholds, out):
    """The comparator bits of ``acc[i]`` (row ``row``) into ``out`` (see :func:`popcount_compare`)."""
    columns = acc.shape[1]
    positions, levels = thresholds.shape[0], thresholds.shape[2]
    n, p = divmod(row, positions)
    for word in range(out.shape[3]):
        first = np.uint64(0)
        second = np.uint64(0)
        for j in range(word * 64, min(columns, word * 64 + 64)):
            bit = np.uint64(1) << np.uint64(j - word * 64)
            v = acc[i, j]
            if levels == 1:
                if v >= thresholds[p, j, 0]:
                    first |= bit
            else:
                if v >= thresholds[p, j, 1]:
                    first |= bit
                if v < thresholds[p, j, 0]:
                    second |= bit
        out[n, 0, p, word] = first
        if levels > 1:
            out[n, 1, p, word] = second
