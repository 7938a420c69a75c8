"""Batched kernels of the ``bnn`` dialect: the reference semantics run once per batch, where they
are batch-correct as written (elementwise ops) or once the samples fold into an axis that is
independent in them (axis 0)."""

from __future__ import annotations

import numpy as np

from bnnc.ir import Operation

from ..semantics import semantics_of
from .driver import Datum, Run, kernel
from .packed import PackedBits


@kernel("bnn.add", "bnn.sub", "bnn.mul", "bnn.div", "bnn.sign", "bnn.convert", "bnn.input_quant", "bnn.prelu")
def _elementwise(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Elementwise ops (with broadcast constants) are batch-correct as the interpreter writes
    them, once the input has the result's rank after the sample axis."""
    x = args[0]
    missing = op.results[0].type.rank - op.operands[0].type.rank
    if missing > 0:
        x = x.reshape(x.shape[:1] + (1,) * missing + x.shape[1:])
    return semantics_of(op.name)(op, [x])


@kernel("bnn.add_tensors", "bnn.sub_tensors", "bnn.mul_tensors")
def _elementwise_tensors(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Both operands carry the sample axis; align their ranks with the result's, then apply."""
    rank = op.results[0].type.rank
    aligned = [a.reshape(a.shape[:1] + (1,) * (rank - (a.ndim - 1)) + a.shape[1:]) for a in args]
    return semantics_of(op.name)(op, aligned)


@kernel("bnn.conv", "bnn.dense", "bnn.threshold", "bnn.batchnorm", "bnn.maxpool", "bnn.pool", "bnn.compare")
def _folded(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """Ops whose axis 0 is independent (a batch axis): the samples fold into it and the
    interpreter's semantics run once."""
    x = args[0]
    declared = op.operands[0].type.shape
    folded = x.reshape((-1,) + declared[1:]) if declared else x
    (out,) = semantics_of(op.name)(op, [folded])
    return [out.reshape((run.samples,) + op.results[0].type.shape)]


@kernel("bnn.concat")
def _concat(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate(args, axis=op.attr("axis") + 1)]


@kernel("bnn.reshape", accepts=(PackedBits,))
def _reshape(run: Run, op: Operation, args: list[Datum]) -> list[Datum]:
    """A reshape; packed bits stay packed where their layout is unchanged (a dense layer's
    ``[L, 1, C]`` as ``[L, 1, C, 1, 1]``)."""
    shape = (run.samples,) + tuple(op.attr("shape"))
    if isinstance(args[0], PackedBits):
        same = args[0].reshaped(shape)
        return [same if same is not None else args[0].resolve().reshape(shape)]
    return [args[0].reshape(shape)]


@kernel("bnn.transpose")
def _transpose(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(args[0], (0,) + tuple(p + 1 for p in op.attr("perm")))]
