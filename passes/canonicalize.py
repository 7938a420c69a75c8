"""``canonicalize``: local simplifications that every later pass may assume."""

from __future__ import annotations

from collections.abc import Sequence

from bnnc.ir import Operation
from bnnc.ir.dialects import bnn

from .base import register_pass
from .rewrite import PatternPass, RewritePattern, Rewriter


class RemoveIdentityReshape(RewritePattern):
    """``bnn.reshape`` to the shape it already has is a no-op."""

    op_type = bnn.Reshape

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        if op.operands[0].type != op.result.type:
            return rewriter.fail(op, "the shape changes")
        rewriter.replace_op(op, [op.operands[0]])
        return True


class FoldReshapeChain(RewritePattern):
    """``reshape(reshape(x))`` is one reshape of ``x``."""

    op_type = bnn.Reshape

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        producer = op.operands[0].producer
        if not isinstance(producer, bnn.Reshape):
            return rewriter.fail(op, "the input is not produced by a reshape")
        op.set_operand(0, producer.operands[0])
        if not producer.result.uses:
            rewriter.erase_op(producer)
        return True


class RemoveIdentityTranspose(RewritePattern):
    """``bnn.transpose`` with the identity permutation is a no-op."""

    op_type = bnn.Transpose

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        if list(op.attr("perm")) != list(range(op.result.type.rank)):
            return rewriter.fail(op, "the permutation is not the identity")
        rewriter.replace_op(op, [op.operands[0]])
        return True


class RemoveIdentityConvert(RewritePattern):
    """``bnn.convert`` to the domain the value already has is a no-op."""

    op_type = bnn.Convert

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        if op.operands[0].type != op.result.type:
            return rewriter.fail(op, "the domain changes")
        rewriter.replace_op(op, [op.operands[0]])
        return True


@register_pass
class Canonicalize(PatternPass):
    """Remove identity reshapes, transposes and converts; merge chains of reshapes."""

    name = "canonicalize"

    def patterns(self) -> Sequence[RewritePattern]:
        return [RemoveIdentityReshape(), FoldReshapeChain(), RemoveIdentityTranspose(), RemoveIdentityConvert()]
