"""``pool-to-bits``: max-pooling in the bit domain.

A pool in front of a comparator (``bnn.compare(bnn.pool(y))``, as ``fuse-bn-binarize``
leaves a max-pool between a layer and its BatchNorm) moves behind it: every comparator is
"≥", so ``[max y ≥ T] = OR [y ≥ T]`` and ``[min y ≥ T] = AND [y ≥ T]``. Then every pool
whose input is ±1 or ternary becomes an OR/AND over bit-planes (``xbar.pool_bits``) between
``xbar.planes`` and ``xbar.decode``, which ``canonicalize`` cancels against the neighbouring
layers' planes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bnnc.ir import Domain, Operation
from bnnc.ir.analysis import layer_name
from bnnc.ir.dialects import bnn, xbar

from .base import register_pass
from .rewrite import PatternPass, RewritePattern, Rewriter

WINDOW = ("kernel", "strides", "pads", "dilations")


class CompareBeforePool(RewritePattern):
    """``compare(pool(y))`` → ``pool(compare(y))`` for a comparator with one threshold class."""

    op_type = bnn.Compare

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        pool = op.operands[0].producer
        if not isinstance(pool, bnn.Pool):
            return rewriter.fail(op, "its input is not a pool")
        if op.const_type("thresholds").shape[1] != 1:
            return rewriter.fail(op, "position-dependent thresholds do not commute with pooling")
        if len(pool.result.uses) != 1:
            return rewriter.fail(op, "the pooled integers have other users")
        module = op.module
        y = pool.operands[0]
        classes = module.add_constant(f"{op.const('classes')}.unpooled", np.zeros(y.type.shape[2:], np.int32), Domain.I32)
        compare = bnn.Compare.build([y], dict(op.attributes), [op.const("thresholds"), classes], op.location,
                                    [op.const_type("thresholds"), module.constants[classes].type])
        rewriter.insert_before(op, compare)
        pooled = bnn.Pool.build([compare.result], {k: pool.attr(k) for k in WINDOW}, [pool.const("direction")],
                                pool.location, [pool.const_type("direction")])
        rewriter.insert_before(op, pooled)
        rewriter.replace_op(op, [pooled.result])
        rewriter.erase_op(pool)
        return True


class PoolOnBits(RewritePattern):
    """A max-pool (``bnn.maxpool``) or max/min-pool (``bnn.pool``) of ±1/ternary values →
    ``decode(pool_bits(planes(x)))``."""

    op_type = (bnn.MaxPool, bnn.Pool)

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        x = op.operands[0]
        if x.type.domain not in (Domain.PM1, Domain.TERN):
            return rewriter.fail(op, f"it pools {x.type.domain.value} values, not binary ones")
        module = op.module
        if isinstance(op, bnn.Pool):
            direction = op.const("direction")
        else:
            direction = module.add_constant(f"{layer_name(op)}.direction",
                                            np.ones(x.type.shape[1], np.int8), Domain.PM1)
        planes = rewriter.insert_before(op, xbar.Planes.build([x], {}, [], op.location))
        pooled = rewriter.insert_before(op, xbar.PoolBits.build(
            [planes.result], {k: op.attr(k) for k in WINDOW}, [direction], op.location, [module.constants[direction].type]))
        decoded = rewriter.insert_before(op, xbar.Decode.build([pooled.result], {}, [], op.location))
        rewriter.replace_op(op, [decoded.result])
        return True


@register_pass
class PoolToBits(PatternPass):
    """Move max-pools behind comparators and turn pools of binary values into OR/AND over bit-planes."""

    name = "pool-to-bits"

    def patterns(self) -> Sequence[RewritePattern]:
        return [CompareBeforePool(), PoolOnBits()]
