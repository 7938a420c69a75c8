"""Shape arithmetic shared by op type inference and the interpreter."""

from __future__ import annotations


def conv_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis (floor mode)."""
    effective = dilation * (kernel - 1) + 1
    return (size + pad_begin + pad_end - effective) // stride + 1


def window_output_shape(
    height: int, width: int, kernel: tuple[int, int], strides: tuple[int, int],
    pads: tuple[int, int, int, int], dilations: tuple[int, int],
) -> tuple[int, int]:
    """``(OH, OW)`` of a convolution or pooling window over a ``height × width`` image (floor
    mode; ``pads`` in ONNX order ``[top, left, bottom, right]``). Raises ``ValueError`` where a
    stride or dilation is below 1, a pad negative, or the window does not fit the padded image."""
    (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw) = kernel, strides, pads, dilations
    if min(sh, sw, dh, dw) < 1 or min(pt, pl, pb, pr) < 0 or min(kh, kw) < 1:
        raise ValueError("kernel sizes, strides and dilations must be >= 1 and pads >= 0")
    oh = conv_output_size(height, kh, sh, pt, pb, dh)
    ow = conv_output_size(width, kw, sw, pl, pr, dw)
    if oh < 1 or ow < 1:
        raise ValueError(f"window {kh}x{kw} does not fit the padded input {height}x{width}")
    return oh, ow


def window_attrs_output(op, height: int, width: int) -> tuple[int, int]:
    """:func:`window_output_shape` for an op with ``kernel``, ``strides``, ``pads`` and
    ``dilations`` attributes."""
    return window_output_shape(height, width, *(tuple(op.attr(a)) for a in ("kernel", "strides", "pads", "dilations")))


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """Numpy/ONNX multidirectional broadcast of two shapes, or None if incompatible."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + a
    b = (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)
