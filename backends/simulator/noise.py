"""The analog path's Gaussian draws, compiled (numba, cached on disk like :mod:`.popcount`;
imported only when a device first draws): read noise, ``out = current + sqrt(variance) · ε``
per column and read in one pass over the GEMM's result (:func:`add_read_noise`), and the chip
sampler's programming error and drift (:func:`standard_normals`), ε ~ N(0, 1).

ε comes from Marsaglia and Tsang's ziggurat (J. Stat. Softw. 5(8), 2000; 128 layers, the
exact tail by Marsaglia's method) over xoshiro256+ (Blackman and Vigna, 2018), inlined: numpy's
``Generator.standard_normal`` calls its bit generator through a pointer per draw and measured
7.6 ns per float32 normal on the shared machine (three times a 128-row tile's sgemm per
column), this 3.4 ns per noisy current, normal and arithmetic included. Each 64-bit output
gives the layer index from its low 7 bits and the signed 32-bit value from its high 32 bits
(less 2**31; separate bits: Doornik, 2005). A call seeds its generator with four words drawn
from the ``numpy`` generator it is given (a chip's own), so a seeded chip draws the same every
run, whatever else runs beside it."""

from __future__ import annotations

import numpy as np
from numba import njit


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, w, f)`` of the 128-layer ziggurat for a signed 32-bit value (Marsaglia and Tsang's
    ``zigset``): ``|hz| < k[i]`` accepts ``hz · w[i]`` at once; ``f`` is the density at the
    layers' edges."""
    m1 = 2147483648.0
    dn = tn = 3.442619855899
    vn = 9.91256303526217e-3
    k, w, f = np.zeros(128, np.int64), np.zeros(128), np.zeros(128)
    q = vn / np.exp(-0.5 * dn * dn)
    k[0], k[1] = int(dn / q * m1), 0
    w[0], w[127] = q / m1, dn / m1
    f[0], f[127] = 1.0, np.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = np.sqrt(-2.0 * np.log(vn / dn + np.exp(-0.5 * dn * dn)))
        k[i + 1] = int(dn / tn * m1)
        tn = dn
        f[i] = np.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


ZIG_K, ZIG_W, ZIG_F = _ziggurat_tables()
ZIG_R = 3.442619855899
"""The ziggurat's base layer edge: beyond it lies the tail."""


@njit(cache=True, nogil=True)
def _next(s):
    """xoshiro256+: the next 64-bit output of state ``s`` (uint64[4], advanced in place)."""
    result = s[0] + s[3]
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = (s[3] << np.uint64(45)) | (s[3] >> np.uint64(19))
    return result


@njit(cache=True, nogil=True)
def _uniform(s):
    """A float64 uniform in (0, 1) (53 bits, never 0: the tail takes its logarithm)."""
    return ((_next(s) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _normal_edge(s, k, w, f, i, hz):
    """The ziggurat's draw where layer ``i``'s rectangle rejected ``hz``: the wedge test, the
    tail beyond :data:`ZIG_R` (Marsaglia, 1964) for the base layer, else a fresh draw."""
    while True:
        x = hz * w[i]
        if i == 0:
            while True:
                x = -np.log(_uniform(s)) / 3.442619855899
                y = -np.log(_uniform(s))
                if y + y >= x * x:
                    break
            return 3.442619855899 + x if hz > 0 else -3.442619855899 - x
        if f[i] + _uniform(s) * (f[i - 1] - f[i]) < np.exp(-0.5 * x * x):
            return x
        bits = _next(s)
        i = np.int64(bits & np.uint64(127))
        hz = np.int64(bits >> np.uint64(32)) - np.int64(2147483648)
        if abs(hz) < k[i]:
            return hz * w[i]


@njit(cache=True, nogil=True)
def _add_noise(out, current, variance, seed, k, w, f):
    """``out = current + sqrt(variance) · ε`` with ε from the ziggurat: its rectangles here
    (about 97 % of draws), the rest in :func:`_normal_edge` (kept out of line: a draw function
    holding both measured 20 times slower)."""
    s = seed.copy()
    for r in range(out.shape[0]):
        for j in range(out.shape[1]):
            bits = _next(s)
            i = np.int64(bits & np.uint64(127))
            hz = np.int64(bits >> np.uint64(32)) - np.int64(2147483648)  # uniform over the signed 32-bit values
            epsilon = hz * w[i] if abs(hz) < k[i] else _normal_edge(s, k, w, f, i, hz)
            out[r, j] = current[r, j] + np.sqrt(variance[r, j]) * epsilon


def _seed(rng: np.random.Generator) -> np.ndarray:
    """Four words of xoshiro256+ state from ``rng`` (not all zero)."""
    seed = rng.integers(0, 2**64, size=4, dtype=np.uint64, endpoint=False)
    seed[0] |= np.uint64(1)
    return seed


def add_read_noise(out: np.ndarray, current: np.ndarray, variance: np.ndarray, rng: np.random.Generator) -> None:
    """``out = current + sqrt(variance) · ε`` elementwise (``[reads, M]``, float32 in the
    simulator; ``current`` and ``variance`` may be strided views), ε ~ N(0, 1) independent per
    entry, seeded from ``rng``."""
    _add_noise(out, current, variance, _seed(rng), ZIG_K, ZIG_W, ZIG_F)


def standard_normals(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draws of ε of ``shape`` (float64), seeded from ``rng``: the chip sampler's
    programming error and drift (:mod:`.chips`)."""
    out = np.empty(shape)
    flat = out.reshape(1, -1)
    add_read_noise(flat, np.broadcast_to(0.0, flat.shape), np.broadcast_to(1.0, flat.shape), rng)
    return out
