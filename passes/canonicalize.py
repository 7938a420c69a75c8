"""``canonicalize``: local simplifications that every later pass may assume."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bnnc.ir import Domain, Location, Operation, float32
from bnnc.ir.analysis import layer_name
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


STEPS = (bnn.Add, bnn.Sub, bnn.Mul, bnn.Div)
CODE_RANGE = {Domain.U8: (0, 255), Domain.I8: (-128, 127)}


def _per_channel(constant: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``constant`` broadcast to ``shape`` as one value per channel (axis 1), or None if it
    varies along another axis."""
    full = np.broadcast_to(np.asarray(constant, np.float32), shape)
    channels = shape[1] if len(shape) >= 2 else 1
    per = full.reshape(channels, -1) if len(shape) < 2 else np.moveaxis(full, 1, 0).reshape(channels, -1)
    return per[:, 0].copy() if (per == per[:, :1]).all() else None


def integer_binarizer(op: Operation, rewriter: Rewriter) -> bool:
    """Rewrite a ±1 binarizer of a float32 chain of constant steps on 8-bit codes into one
    threshold on the codes. Every code is evaluated (256 per channel, float32 as onnxruntime
    computes the chain), so the result is exact; it needs the decisions to be a step function
    of the code in each channel, rising in all channels or falling in all (constant channels
    fit either), and no exact 0 under ONNX ``Sign``."""
    chain: list[Operation] = []
    value = op.operands[0]
    while isinstance(value.producer, STEPS) and len(value.uses) == 1 and value.type.shape == op.operands[0].type.shape:
        chain.append(value.producer)
        value = value.producer.operands[0]
    if not chain or value.type.domain not in CODE_RANGE or value.type.shape != op.operands[0].type.shape:
        return rewriter.fail(op, "its input is not a chain of constant steps on 8-bit codes")
    shape = value.type.shape
    lo, hi = CODE_RANGE[value.type.domain]
    z: np.ndarray = np.arange(lo, hi + 1, dtype=np.float64)[None, :]
    for step in reversed(chain):
        c = _per_channel(step.const_array("constant"), shape)
        if c is None:
            return rewriter.fail(op, f"{step.location.describe()}: a constant varies within a channel")
        z = float32.elementwise(step.name.split(".")[1], z, c[:, None], step.attr("const_first"))
    if isinstance(op, bnn.Sign):
        if op.attr("zero") == "zero" and (z == 0).any():
            return rewriter.fail(op, "a code makes the sign's input exactly 0 (a ternary result)")
        at_zero = {"zero": 0, "pos": 1, "neg": -1}[op.attr("zero")]
        decided = np.where(z > 0, 1, np.where(z < 0, -1, at_zero))
    else:
        t = _per_channel(op.const_array("thresholds")[:, 0].reshape((1, -1) + (1,) * (len(shape) - 2)) if len(shape) >= 2
                         else op.const_array("thresholds")[:, 0], shape)
        common = float32.compare_dtype(z.dtype, op.const_type("thresholds").domain.dtype)
        hit = z.astype(common) >= t[:, None].astype(common)
        decided = np.where(hit, op.attr("out_scale") + op.attr("out_bias"), op.attr("out_bias")).astype(np.int64)
    steps = np.diff(decided, axis=1)
    rising, falling = (steps > 0).any(axis=1), (steps < 0).any(axis=1)
    if (rising & falling).any() or (rising.any() and falling.any()):
        return rewriter.fail(op, "the decision is not one step in the same direction in every channel")
    sign = -1 if falling.any() else 1
    fires = decided == sign  # rising: +1 from the threshold on; falling: −1 from it on
    first = np.where(fires.any(axis=1), fires.argmax(axis=1), hi - lo + 1) + lo
    thresholds = np.where(fires.all(axis=1), lo, first).astype(np.int32).reshape(-1, 1)
    if (thresholds == thresholds[0]).all():
        thresholds = thresholds[:1]  # one row serves every channel
    module = op.module
    symbol = module.add_constant(f"{layer_name(op)}.code_thresholds", thresholds, Domain.I32)
    binarized = rewriter.insert_before(op, bnn.Threshold.build(
        [value], {"out_scale": 2.0 * sign, "out_bias": -1.0 * sign}, [symbol], Location.fuse(*(s.location for s in reversed(chain)), op.location),
        [module.constants[symbol].type]))
    result = binarized.result
    if result.type != op.result.type:
        result = rewriter.insert_before(op, bnn.Convert([result], [op.result.type], {}, [], op.location)).result
    rewriter.replace_op(op, [result])
    for step in chain:
        if not step.result.uses:
            rewriter.erase_op(step)
    return True


class SignOfCodes(RewritePattern):
    """A sign of constant steps on 8-bit codes is one threshold on the codes (see
    :func:`integer_binarizer`)."""

    op_type = bnn.Sign

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        return integer_binarizer(op, rewriter)


class ThresholdOfCodes(RewritePattern):
    """A one-level ±1 threshold of constant steps on 8-bit codes (FINN's pixel binarizer after
    ``x / 255 · 2 − 1``) is one threshold on the codes (see :func:`integer_binarizer`)."""

    op_type = bnn.Threshold

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        if op.const_type("thresholds").shape[1] != 1 or op.result.type.domain is not Domain.PM1:
            return rewriter.fail(op, "it is not a one-level ±1 binarizer")
        return integer_binarizer(op, rewriter)


@register_pass
class Canonicalize(PatternPass):
    """Remove identity reshapes, transposes and converts; merge chains of reshapes; cancel bit-plane decoding against re-encoding; concatenate bits as wiring; turn shifted signs into binarizers; binarize 8-bit codes with one threshold."""

    name = "canonicalize"

    def patterns(self) -> Sequence[RewritePattern]:
        return [
            RemoveIdentityReshape(), FoldReshapeChain(), RemoveIdentityTranspose(), RemoveIdentityConvert(),
            PlanesOfDecode(), PlanesOfConcat(), ReshapeBeforeDecode(), NarrowTernaryUsers(), SignOfShiftedSign(),
            SignOfCodes(), ThresholdOfCodes(),
        ]
