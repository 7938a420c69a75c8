"""Window attributes shared by convolution and pooling."""

from __future__ import annotations


def window_pads(attrs: dict, size: tuple[int, ...], kernel: tuple[int, int], strides: tuple, dilations: tuple) -> tuple[int, ...]:
    """The explicit ``[top, left, bottom, right]`` pads of an ONNX window, resolving
    ``auto_pad`` (``VALID``, ``SAME_UPPER``, ``SAME_LOWER``) against the input ``size``."""
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", ""):
        return tuple(attrs.get("pads", (0, 0, 0, 0)))
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations):
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        small, large = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else large)
        end.append(large if auto_pad == "SAME_UPPER" else small)
    return (begin[0], begin[1], end[0], end[1])
