"""``canonicalize``: local simplifications that every later pass may assume."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bnnc.ir import Domain, Operation, float32
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


class PlanesOfConcat(RewritePattern):
    """``planes(concat(a, b, …))`` → ``concat(planes(a), planes(b), …)``: a channel concatenation
    of binary values is wiring; each part's bits (a comparator's output, as it is, once the
    planes cancel against its decode) drive its share of the next layer's ports."""

    op_type = xbar.Planes

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        concat = op.operands[0].producer
        if not isinstance(concat, bnn.Concat):
            return rewriter.fail(op, "its input is not a concatenation")
        parts = [rewriter.insert_before(op, xbar.Planes.build([v], {}, [], op.location)).result for v in concat.operands]
        joined = rewriter.insert_before(op, xbar.Concat.build(parts, {"axis": concat.attr("axis") + 1}, [], concat.location))
        rewriter.replace_op(op, [joined.result])
        if not concat.result.uses:
            rewriter.erase_op(concat)
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


class SignOfShiftedSign(RewritePattern):
    """``sign(sign(x) + c)`` → ``sign(x)`` with the zero rule the shift implies, where the
    float32 arithmetic keeps −1 ↦ −1 and +1 ↦ +1 for every element of ``c`` and sends 0 to the
    same value everywhere: Larq's ``sign(sign(x) + 0.1)`` is a binarizer with 0 ↦ +1, so its
    result is ±1 (one bit-plane), not ternary. Also ``sub`` and ``c + sign(x)``."""

    op_type = bnn.Sign

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        shift = op.operands[0].producer
        if not isinstance(shift, (bnn.Add, bnn.Sub)):
            return rewriter.fail(op, "its input is not a sign shifted by a constant")
        inner = shift.operands[0].producer
        if not isinstance(inner, bnn.Sign) or shift.result.type.shape != inner.result.type.shape:
            return rewriter.fail(op, "the shifted value is not a sign of the same shape")
        kind = "add" if isinstance(shift, bnn.Add) else "sub"
        at_zero = {"zero": 0.0, "pos": 1.0, "neg": -1.0}[op.attr("zero")]

        def outer(v: float) -> set[float]:
            y = float32.elementwise(kind, np.float32(v), shift.const_array("constant"), shift.attr("const_first"))
            return set(np.where(y == 0, at_zero, np.sign(y)).reshape(-1).tolist())

        middle = outer(0.0)
        if outer(-1.0) != {-1.0} or outer(1.0) != {1.0} or (inner.attr("zero") == "zero" and len(middle) != 1):
            return rewriter.fail(op, "the shift does not keep ±1 and send 0 to one value")
        zero = {1.0: "pos", -1.0: "neg", 0.0: "zero"}[middle.pop()] if inner.attr("zero") == "zero" else inner.attr("zero")
        sign = rewriter.insert_before(op, bnn.Sign.build([inner.operands[0]], {"zero": zero}, [], op.location))
        result = sign.result
        if result.type != op.result.type:
            result = rewriter.insert_before(op, bnn.Convert([result], [op.result.type], {}, [], op.location)).result
        rewriter.replace_op(op, [result])
        for dead in (shift, inner):  # left alive, they would be other users of x (no fusion with its layer)
            if not dead.result.uses:
                rewriter.erase_op(dead)
        return True


@register_pass
class Canonicalize(PatternPass):
    """Remove identity reshapes, transposes and converts; merge chains of reshapes; cancel bit-plane decoding against re-encoding; concatenate bits as wiring; turn shifted signs into binarizers."""

    name = "canonicalize"

    def patterns(self) -> Sequence[RewritePattern]:
        return [
            RemoveIdentityReshape(), FoldReshapeChain(), RemoveIdentityTranspose(), RemoveIdentityConvert(),
            PlanesOfDecode(), PlanesOfConcat(), ReshapeBeforeDecode(), NarrowTernaryUsers(), SignOfShiftedSign(),
        ]
