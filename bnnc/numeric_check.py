"""``--verify-each-numerically N``: the interpreter runs N random inputs through the module
before and after every pass; a pass that changes an output fails the pipeline, naming it."""

from __future__ import annotations

import numpy as np

from bnnc.backends.interpreter import interpret_batch
from bnnc.ir import Module
from bnnc.passes import Pass

from .samples import random_arguments

FLOAT_RTOL = 1e-5


class NumericMismatch(ValueError):
    """A pass changed what the program computes."""


def numeric_checker(samples: int, seed: int = 0):
    """A :class:`~bnnc.passes.PassManager` ``numeric_check``: integer outputs must stay equal,
    float outputs within 1e-5 relative."""

    def check(before: Module, after: Module, p: Pass) -> None:
        inputs = random_arguments(before.function("main"), samples, seed)
        expected = interpret_batch(before, inputs)
        got = interpret_batch(after, inputs)
        for index, (e, g) in enumerate(zip(expected, got)):
            if e.dtype.kind == "f":
                same = np.allclose(g, e, rtol=FLOAT_RTOL, atol=0, equal_nan=True)
            else:
                same = np.array_equal(g, e)
            if not same:
                differing = int(np.count_nonzero(~np.isclose(g, e, rtol=FLOAT_RTOL, atol=0)) if e.dtype.kind == "f" else np.count_nonzero(g != e))
                raise NumericMismatch(
                    f"the pass changed result {index} of @main on {differing} of {e.size} values "
                    f"({samples} random inputs, seed {seed})"
                )

    return check
