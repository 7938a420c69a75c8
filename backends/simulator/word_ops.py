"""Compiled operations on packed bits (numba; used only once the compiled kernels are loaded, see
:func:`~.packed.worthwhile`, else :mod:`.packed` does them with numpy): pooling of words and
channel concatenation at any bit offset. One pass over the words instead of a dozen numpy calls
(pooling) or an unpack and repack of every part (concatenation of 127-channel column tiles):
measured on CNV at batch 1, per step (the driver's share included), pooling 22–27 µs → 10–13 µs
and concatenation 10–13 µs → 7–10 µs. Cached on disk like :mod:`.popcount`."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def pool_words(image, geometry, masks, ones, out):
    """``out[n, l, y, x] = (OR over the window & masks[l]) | (AND over the window & ones & ~masks[l])``
    for the words ``image`` ``[N, L, H, W, Cw]`` (uint64) and windows ``geometry``
    ``(kh, kw, sh, sw, dh, dw, pt, pl)`` over ``out`` ``[N, L, OH, OW, Cw]``: window taps in the
    pads are left out (they hold 0 for OR, 1 for AND, neither of which changes the result)."""
    samples, levels, height, width, cw = image.shape
    kh, kw, sh, sw, dh, dw, pt, pl = geometry
    out_h, out_w = out.shape[2], out.shape[3]
    for n in range(samples):
        for level in range(levels):
            for oy in range(out_h):
                for ox in range(out_w):
                    for word in range(cw):
                        any_set = np.uint64(0)
                        all_set = ~np.uint64(0)
                        for i in range(kh):
                            y = oy * sh + i * dh - pt
                            if y < 0 or y >= height:
                                continue
                            for j in range(kw):
                                x = ox * sw + j * dw - pl
                                if x < 0 or x >= width:
                                    continue
                                value = image[n, level, y, x, word]
                                any_set |= value
                                all_set &= value
                        mask = masks[level, word]
                        out[n, level, oy, ox, word] = (any_set & mask) | (all_set & ones[word] & ~mask)


@njit(cache=True, nogil=True)
def or_words_at(out, part, offset):
    """``out[r] |= part[r] << offset`` for rows of words (uint64, bit ``c`` of a row at bit
    ``c % 64`` of word ``c // 64``): ``part`` ``[R, Wp]`` ORed into ``out`` ``[R, Wo]`` from bit
    ``offset`` on (``part``'s bits shifted past ``out``'s last word must be zero)."""
    first, shift = offset // 64, offset % 64
    for r in range(part.shape[0]):
        for k in range(part.shape[1]):
            value = part[r, k]
            if shift == 0:
                out[r, first + k] |= value
            else:
                out[r, first + k] |= value << np.uint64(shift)
                if first + k + 1 < out.shape[1]:
                    out[r, first + k + 1] |= value >> np.uint64(64 - shift)
