"""``canonicalize``: local simplifications that every later pass may assume."""

from __future__ import annotations

from collections.abc import Sequence

from bnnc.ir import Domain, Operation
from bnnc.ir.dialects import bnn, xbar

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


class PlanesOfDecode(RewritePattern):
    """``planes(decode(b))`` is ``b``: a comparator's output bits drive the next ports as they are."""

    op_type = xbar.Planes

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        decode = op.operands[0].producer
        if not isinstance(decode, xbar.Decode):
            return rewriter.fail(op, "its input is not decoded from planes")
        rewriter.replace_op(op, [decode.operands[0]])
        return True


class ReshapeBeforeDecode(RewritePattern):
    """``reshape(decode(b))`` → ``decode(reshape(b))``: decoding sinks towards digital users,
    so that it can cancel against the next layer's planes."""

    op_type = bnn.Reshape

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        decode = op.operands[0].producer
        if not isinstance(decode, xbar.Decode):
            return rewriter.fail(op, "its input is not decoded from planes")
        planes = decode.operands[0]
        shape = (planes.type.shape[0],) + tuple(op.attr("shape"))
        reshaped = rewriter.insert_before(op, bnn.Reshape.build([planes], {"shape": shape}, [], op.location))
        decoded = rewriter.insert_before(op, xbar.Decode.build([reshaped.result], {}, [], decode.location))
        rewriter.replace_op(op, [decoded.result])
        if not decode.result.uses:
            rewriter.erase_op(decode)
        return True


class NarrowTernaryUsers(RewritePattern):
    """``convert`` of ±1 values to ``tern`` (an ONNX ``Sign`` whose zero turned out unreachable)
    sinks into its users: a binary layer reads the ±1 values directly (one plane per read
    instead of two), a reshape/pool/transpose runs on ±1 values and converts afterwards."""

    op_type = bnn.Convert

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        x = op.operands[0]
        if not (x.type.domain is Domain.PM1 and op.result.type.domain is Domain.TERN):
            return rewriter.fail(op, "it is not a widening from ±1 to ternary")
        changed = False
        for use in list(op.result.uses):
            user = use.op
            if isinstance(user, (bnn.Conv, bnn.Dense)):
                user.set_operand(use.index, x)
            elif isinstance(user, (bnn.Reshape, bnn.Transpose, bnn.MaxPool, bnn.Pool)):
                narrowed = type(user).build([x], dict(user.attributes), list(user.consts), user.location,
                                            [user.module.constants[c].type for c in user.consts])
                rewriter.insert_before(user, narrowed)
                widened = rewriter.insert_before(
                    user, bnn.Convert([narrowed.result], [user.result.type], {}, [], op.location))
                rewriter.replace_op(user, [widened.result])
            else:
                continue
            changed = True
        if not op.result.uses:
            rewriter.erase_op(op)
        return changed or rewriter.fail(op, "no user can take ±1 values instead")


@register_pass
class Canonicalize(PatternPass):
    """Remove identity reshapes, transposes and converts; merge chains of reshapes; cancel bit-plane decoding against re-encoding."""

    name = "canonicalize"

    def patterns(self) -> Sequence[RewritePattern]:
        return [
            RemoveIdentityReshape(), FoldReshapeChain(), RemoveIdentityTranspose(), RemoveIdentityConvert(),
            PlanesOfDecode(), ReshapeBeforeDecode(), NarrowTernaryUsers(),
        ]
