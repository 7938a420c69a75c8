"""Random program inputs of the right kind for each function argument's domain."""

from __future__ import annotations

import numpy as np

from bnnc.ir import Domain, Function


def random_arguments(function: Function, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` samples per argument, stacked on a leading axis, in the argument's domain:
    integers for u8/i8, ±1 for pm1, {−1, 0, 1} for tern, and for real arguments a mix of
    normal values, a grid of eighths in [0, 1] (which hits exact ties such as 0.5 in
    ``2x − 1``) and exact zeros."""
    rng = np.random.default_rng(seed)
    arrays = []
    for arg in function.args:
        shape = (count,) + arg.type.shape
        domain = arg.type.domain
        if domain is Domain.U8:
            data = rng.integers(0, 256, shape)
        elif domain is Domain.I8:
            data = rng.integers(-128, 128, shape)
        elif domain is Domain.PM1:
            data = rng.choice([-1, 1], shape)
        elif domain is Domain.TERN:
            data = rng.integers(-1, 2, shape)
        elif domain is Domain.BIT:
            data = rng.integers(0, 2, shape)
        elif domain in (Domain.I32, Domain.I64):
            data = rng.integers(-8, 9, shape)
        else:
            normal = rng.standard_normal(shape)
            grid = rng.integers(0, 9, shape) / 8.0
            data = np.where(rng.random(shape) < 0.5, normal, grid)
            data[rng.random(shape) < 0.05] = 0.0
        arrays.append(data.astype(domain.dtype))
    return arrays
