"""``fuse-bn-binarize``: a binary layer's integer output ``y``, the affine/BatchNorm chain after
it and the binarizer become one comparator stage ``bnn.compare`` with exact integer thresholds.

The chain is evaluated with the interpreter's own float32 arithmetic (hence onnxruntime's) at
the reachable integers, so a threshold is right even where float rounding decides: every op
of the chain is monotone (affine steps, BatchNorm, ReLU and PReLU with non-negative slopes), so the binarizer's output is a step function of ``y`` whose steps
are found by bisection over the reachable values. A channel whose output falls as ``y`` grows
(a negative BatchNorm γ or scale) gets its weight row negated, so that every comparator is
"≥". A channel whose output is constant (γ = 0) keeps thresholds outside the reachable range.
Where an ONNX ``Sign`` can see exactly 0 (``BN(y) == 0.0`` for a reachable ``y``), the
``sign_zero`` policy decides: ``exact`` gives that layer a second comparator level (ternary
output), ``pos``/``neg`` send 0 to ±1, ``error`` refuses.

Positions whose chain constants differ (per-position constants, e.g. an input zero point over
a padded border) get their own threshold class. A max-pool inside the chain stays in front of
the comparator as a per-channel max/min pool (``pool-to-bits`` then moves it behind).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bnnc.ir import float32 as kernels
from bnnc.ir import BnncError
from bnnc.ir import Domain, Location, Module, Operation, Value
from bnnc.ir.analysis import layer_name
from bnnc.ir.dialects import bnn

from .base import Pass, PassContext, register_pass
from .geometry import geometry, reach

CHAIN_OPS = (bnn.Add, bnn.Sub, bnn.Mul, bnn.Div, bnn.PRelu, bnn.BatchNorm, bnn.Reshape, bnn.Convert, bnn.MaxPool)
LAYERS = (bnn.Conv, bnn.Dense)


class NoFusion(Exception):
    """Why a binarizer is left as it is (reported as a remark)."""


@dataclass
class Step:
    """One op of the chain as a function of a per-channel vector: ``apply(x, k)`` evaluates it
    for the constants of class ``k`` (each constant laid out ``[C, P]`` over the layer output)."""

    apply: Callable[[np.ndarray, np.ndarray], np.ndarray]
    constants: list[np.ndarray]
    after_pool: bool
    in_layer: bool = False
    """Part of the source layer's own float arithmetic (an input scale, α, a bias)."""


@register_pass
class FuseBnBinarize(Pass):
    """Fuse each binary layer's affine/BatchNorm chain and binarizer into one comparator stage with exact integer thresholds."""

    name = "fuse-bn-binarize"
    sign_zero: Literal["exact", "pos", "neg", "error"] = "exact"

    def run(self, module: Module, context: PassContext) -> None:
        for function in module.functions:
            for op in function.walk():
                if op.parent is not function or not _is_binarizer(op):
                    continue
                try:
                    chain, layer = _trace(op)
                    facts = self._fuse(module, op, chain, layer)
                except NoFusion as why:
                    if context.debug:
                        context.remark(f"fuse-bn-binarize: {op.location.describe()} not fused: {why}")
                    continue
                if facts["float_margin"]:
                    shown = facts["float_margin"]
                    context.remark(
                        f"warning: layer {layer_name(layer)}: onnxruntime sums float-scaled terms in float32; in channels "
                        f"{list(shown[:8])}{' …' if len(shown) > 8 else ''} a reachable pre-activation lies within that rounding "
                        f"error of the threshold, so onnxruntime's binarized output may differ from the exact crossbar result there"
                    )
                if facts["ties"]:
                    policy = "a second comparator per column (ternary output)" if self.sign_zero == "exact" else f"ties sent to {self.sign_zero}"
                    context.remark(
                        f"fuse-bn-binarize: layer {layer_name(layer)}: Sign(0) is reachable in channels "
                        f"{list(facts['ties'])}: {policy}"
                    )

    # ------------------------------------------------------------------ fusion of one binarizer

    def _fuse(self, module: Module, binarizer: Operation, chain: list[Operation], layer: Operation) -> dict:
        y = layer.result
        y_shape = y.type.shape
        positions = math.prod(y_shape[2:])
        steps, pool = _steps(chain, binarizer, y_shape, layer)
        geo = geometry(layer)
        bounds = reach(layer, geo)
        # threshold classes: border class x the chain constants seen at each position
        if pool is not None:
            class_of = np.zeros(positions, np.int64)
            lo = bounds.lo.min(axis=1, keepdims=True)
            hi = bounds.hi.max(axis=1, keepdims=True)
            step = 1 if bounds.lo.shape[1] > 1 else bounds.step
            representative = np.zeros(1, np.int64)
        else:
            keys = np.concatenate(
                [geo.class_of[:, None].astype(np.float64)] + [c.T.astype(np.float64) for s in steps for c in s.constants], axis=1
            )
            _, first, class_of = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            class_of = class_of.reshape(-1)
            representative = first
            border = geo.class_of[first]
            lo, hi, step = bounds.lo[:, border], bounds.hi[:, border], bounds.step
        decide = _decider(binarizer, steps, self.sign_zero == "exact")
        thresholds, negate, ties, constant = _thresholds(decide, steps, representative, lo, hi, step, pool is not None)
        if ties.any() and self.sign_zero == "error":
            c, k = np.argwhere(ties)[0]
            raise BnncError(
                f"layer {layer_name(layer)} channel {c}: a reachable pre-activation makes the binarizer's "
                f"input exactly 0 (ONNX Sign(0) = 0); use --sign-zero=exact (a second comparator) or pos/neg"
            )
        at_risk = _rounding_risk(decide, steps, representative, lo, hi, step, thresholds, negate, layer)
        if not (ties.any() and self.sign_zero == "exact"):
            # "pos": a tie goes to +1, so +1 from the "≥ 0" level; "neg": from the "≥ +1" level
            thresholds = thresholds[..., 1:] if self.sign_zero == "neg" else thresholds[..., :1]
        oriented_lo = np.where(negate[:, None], -hi, lo)
        oriented_hi = np.where(negate[:, None], -lo, hi)
        thresholds, class_of = _merge_classes(thresholds, class_of, oriented_lo, oriented_hi, step)
        facts = {
            "ties": tuple(sorted({int(c) for c, _ in np.argwhere(ties)})),
            "negated": tuple(int(c) for c in np.flatnonzero(negate)),
            "constant": tuple(int(c) for c in np.flatnonzero(constant)),
            "float_margin": tuple(int(c) for c in at_risk),
        }
        self._rewrite(module, binarizer, chain, layer, thresholds, class_of.reshape(y_shape[2:]) if pool is None else None,
                      negate, pool, steps, facts)
        return facts

    def _rewrite(self, module, binarizer, chain, layer, thresholds, classes, negate, pool, steps, facts) -> None:
        function = binarizer.parent
        location = Location.fuse(layer.location, *(op.location for op in chain), binarizer.location)
        if negate.any():
            w = layer.const_array("weight").copy()
            w[negate] = -w[negate]
            layer.consts[0] = module.add_constant(f"{layer.consts[0]}.negated", w, layer.const_type("weight").domain)
        value: Value = layer.result
        anchor = binarizer
        if pool is not None:
            direction = np.where(_pool_direction(steps, negate), 1, -1).astype(np.int8)
            symbol = module.add_constant(f"{layer_name(layer)}.pool_direction", direction, Domain.PM1)
            attrs = {k: pool.attr(k) for k in ("kernel", "strides", "pads", "dilations")}
            pooled = bnn.Pool.build([value], attrs, [symbol], pool.location, [module.constants[symbol].type])
            function.insert_before(anchor, pooled)
            value = pooled.result
            classes = np.zeros(value.type.shape[2:], np.int32)
        t_symbol = module.add_constant(f"{layer_name(layer)}.thresholds", thresholds.astype(np.int32), Domain.I32)
        c_symbol = module.add_constant(f"{layer_name(layer)}.classes", np.asarray(classes, np.int32), Domain.I32)
        compare = bnn.Compare.build([value], facts, [t_symbol, c_symbol], location,
                                    [module.constants[t_symbol].type, module.constants[c_symbol].type])
        function.insert_before(anchor, compare)
        result = compare.result
        if result.type.shape != binarizer.result.type.shape:
            reshape = bnn.Reshape.build([result], {"shape": binarizer.result.type.shape}, [], binarizer.location)
            function.insert_before(anchor, reshape)
            result = reshape.result
        if result.type != binarizer.result.type:
            # an exact ONNX Sign whose ties are unreachable: the ternary value is in fact ±1
            convert = bnn.Convert([result], [binarizer.result.type], {}, [], binarizer.location)
            function.insert_before(anchor, convert)
            result = convert.result
        binarizer.result.replace_all_uses_with(result)
        for op in [binarizer, *reversed(chain)]:
            function.erase(op)


# ---------------------------------------------------------------------- chain tracing


def _is_binarizer(op: Operation) -> bool:
    if isinstance(op, bnn.Sign):
        return True
    if isinstance(op, bnn.Threshold):
        return op.const_type("thresholds").shape[1] == 1 and op.result.type.domain is Domain.PM1
    return False


def _trace(binarizer: Operation) -> tuple[list[Operation], Operation]:
    """The ops between a binary layer and ``binarizer`` (first to last) and the layer."""
    chain: list[Operation] = []
    value = binarizer.operands[0]
    pools = 0
    while True:
        op = value.producer
        if op is None:
            raise NoFusion("its input does not come from a binary layer")
        if len(value.uses) != 1:
            raise NoFusion(f"{op.name} at {op.location.describe()} has other users")
        if isinstance(op, LAYERS):
            chain.reverse()
            return chain, op
        if not isinstance(op, CHAIN_OPS):
            raise NoFusion(f"{op.name} at {op.location.describe()} is not an affine, BatchNorm, reshape or max-pool step")
        pools += isinstance(op, bnn.MaxPool)
        if pools > 1:
            raise NoFusion("more than one max-pool between the layer and the binarizer")
        chain.append(op)
        value = op.operands[0]


def _layout(array: np.ndarray, shape: tuple[int, ...], y_shape: tuple[int, ...], pooled_shape: tuple[int, ...] | None) -> np.ndarray:
    """A constant broadcast to an op's input ``shape``, as ``[C, P]`` over the layer output."""
    full = np.broadcast_to(np.asarray(array), shape)
    if pooled_shape is None:
        return np.ascontiguousarray(full.reshape(y_shape)[0].reshape(y_shape[1], -1))
    per_position = full.reshape(pooled_shape)[0].reshape(pooled_shape[1], -1)
    if not (per_position == per_position[:, :1]).all():
        raise NoFusion("a constant after the max-pool varies across positions")
    return np.ascontiguousarray(per_position[:, :1])


def _steps(chain: list[Operation], binarizer: Operation, y_shape: tuple[int, ...], layer: Operation) -> tuple[list[Step], Operation | None]:
    steps: list[Step] = []
    pool: Operation | None = None
    for op in chain:
        shape = op.operands[0].type.shape
        pooled = pool.result.type.shape if pool is not None else None
        if isinstance(op, bnn.MaxPool):
            if shape != y_shape:
                raise NoFusion("the max-pool does not read the layer's output layout")
            pool = op
        elif isinstance(op, (bnn.Add, bnn.Sub, bnn.Mul, bnn.Div)):
            kind, first = op.name.split(".")[1], op.attr("const_first")
            c = _layout(op.const_array("constant"), shape, y_shape, pooled)
            in_layer = op.location == layer.location and all(s.in_layer for s in steps)
            steps.append(Step(lambda x, c, kind=kind, first=first: kernels.elementwise(kind, x, c, first), [c], pool is not None, in_layer))
        elif isinstance(op, bnn.PRelu):
            slope = op.const_array("slope")
            if (slope < 0).any():
                raise NoFusion(f"{op.location.describe()}: a PRelu with a negative slope is not monotone")
            a = _layout(slope, shape, y_shape, pooled)
            steps.append(Step(lambda x, a: kernels.prelu(x, a), [a], pool is not None))
        elif isinstance(op, bnn.BatchNorm):
            s, b = kernels.batchnorm_affine(*(op.const_array(n) for n in ("scale", "bias", "mean", "var")), op.attr("epsilon"))
            channel = (1, -1) + (1,) * (len(shape) - 2)
            s_full = _layout(s.reshape(channel), shape, y_shape, pooled)
            b_full = _layout(b.reshape(channel), shape, y_shape, pooled)
            steps.append(Step(lambda x, s, b: kernels.batchnorm(x, s, b), [s_full, b_full], pool is not None))
    if isinstance(binarizer, bnn.Threshold):
        shape = binarizer.operands[0].type.shape
        t = binarizer.const_array("thresholds")
        rows = t.reshape((1, -1) + (1,) * (len(shape) - 2)) if len(shape) >= 2 else t.reshape(())
        pooled = pool.result.type.shape if pool is not None else None
        steps.append(Step(None, [_layout(rows, shape, y_shape, pooled)], pool is not None))  # read by the decider
    return steps, pool


# ---------------------------------------------------------------------- decisions and thresholds


def _evaluate(steps: list[Step], values: np.ndarray, k: int, upto_pool: bool = False, perturb: np.ndarray | None = None) -> np.ndarray:
    """The chain at per-channel ``values`` (int64 ``[C]``) for class ``k``; ``perturb`` is added
    to the source layer's float output (after its own steps), to probe rounding margins."""
    x: np.ndarray = values.astype(np.float64)  # an integer y, exact in float64 until a float op
    for index, step in enumerate(steps):
        if step.apply is None or (upto_pool and step.after_pool):
            break
        x = step.apply(x, *[c[:, min(k, c.shape[1] - 1)] for c in step.constants])
        if perturb is not None and step.in_layer and not (index + 1 < len(steps) and steps[index + 1].in_layer):
            x = (x + perturb).astype(np.float32)
    return x


def _decider(binarizer: Operation, steps: list[Step], exact_ties: bool) -> Callable[[np.ndarray, int], np.ndarray]:
    """``decide(values, k)``: the binarizer's output (−1, 0 for an exact tie, +1) at per-channel
    integer pre-activations."""
    if isinstance(binarizer, bnn.Threshold):
        scale, bias = binarizer.attr("out_scale"), binarizer.attr("out_bias")
        threshold = steps[-1].constants[0]

        def decide_threshold(values: np.ndarray, k: int, perturb: np.ndarray | None = None) -> np.ndarray:
            z = _evaluate(steps, values, k, perturb=perturb)
            t = threshold[:, min(k, threshold.shape[1] - 1)]
            # with no float step before it, the threshold compares the integer sum itself
            z_dtype = np.dtype(np.int64) if steps[0].apply is None else z.dtype
            common = kernels.compare_dtype(z_dtype, t.dtype)
            hit = z.astype(common) >= t.astype(common)
            return np.where(hit, scale + bias, bias).astype(np.int64)

        return decide_threshold
    at_zero = {"zero": 0 if exact_ties else None, "pos": 1, "neg": -1}[binarizer.attr("zero")]

    def decide_sign(values: np.ndarray, k: int, perturb: np.ndarray | None = None) -> np.ndarray:
        z = _evaluate(steps, values, k, perturb=perturb)
        if np.isnan(z).any():
            raise NoFusion("the chain yields NaN (e.g. a negative BatchNorm variance)")
        tie = 0 if at_zero is None else at_zero
        return np.where(z > 0, 1, np.where(z < 0, -1, tie)).astype(np.int64)

    return decide_sign


def _first_index(predicate: Callable[[np.ndarray], np.ndarray], count: np.ndarray) -> np.ndarray:
    """Per channel, the smallest index ``i`` in ``[0, count)`` with ``predicate(i)`` true
    (``count`` where there is none), for predicates monotone in ``i``."""
    lo = np.zeros_like(count)
    hi = count.copy()
    while (lo < hi).any():
        mid = (lo + hi) // 2
        active = lo < hi
        hit = predicate(np.minimum(mid, count - 1)) & active
        hi = np.where(hit, mid, hi)
        lo = np.where(active & ~hit, mid + 1, lo)
    return lo


def _thresholds(decide, steps, representative, lo, hi, step, pooled) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds ``[C, K, 2]`` (levels ``≥ 0`` and ``≥ +1`` of the decision) in the oriented
    domain, the channels to negate, tie flags ``[C, K]`` and constant-channel flags ``[C]``."""
    channels, classes = lo.shape
    low_end = np.stack([decide(lo[:, k], representative[k]) for k in range(classes)], axis=1)
    high_end = np.stack([decide(hi[:, k], representative[k]) for k in range(classes)], axis=1)
    falling = (high_end < low_end).any(axis=1)
    rising = (high_end > low_end).any(axis=1)
    if (falling & rising).any():
        c = int(np.argmax(falling & rising))
        raise NoFusion(f"channel {c} rises in one threshold class and falls in another")
    sign = np.where(falling, -1, 1)  # orientation: y' = sign * y
    thresholds = np.zeros((channels, classes, 2), np.int64)
    ties = np.zeros((channels, classes), bool)
    for k in range(classes):
        # oriented values: v'(i) = start + step * i, increasing in i
        start = np.where(sign > 0, lo[:, k], -hi[:, k])
        count = (hi[:, k] - lo[:, k]) // step + 1

        def at(i: np.ndarray) -> np.ndarray:
            oriented = start + step * i
            return decide(sign * oriented, representative[k])

        first_nonneg = _first_index(lambda i: at(i) >= 0, count)
        first_pos = _first_index(lambda i: at(i) >= 1, count)
        thresholds[:, k, 0] = start + step * first_nonneg
        thresholds[:, k, 1] = start + step * first_pos
        ties[:, k] = first_nonneg < first_pos
    constant = (low_end == high_end).all(axis=1)
    return thresholds, falling, ties, constant


FLOAT32_UNIT = 2.0**-24


def _exact_in_float(steps: list[Step], layer: Operation) -> bool:
    """Whether onnxruntime computes the layer's float output exactly: its own steps only scale
    by powers of two and add integers, and every partial sum of the exported (scaled) weights
    is representable."""
    for step in steps:
        if not step.in_layer:
            break
        for constant in step.constants:
            mantissa, _ = np.frexp(constant.astype(np.float64))
            if not np.all((mantissa == 0.5) | (mantissa == -0.5) | (mantissa == 0) | (constant == np.round(constant))):
                return False
    return True


def _rounding_risk(decide, steps, representative, lo, hi, step, thresholds, negate, layer) -> list[int]:
    """Channels where onnxruntime's float accumulation (error up to ``N·u·Σ|terms|``) can move
    a reachable pre-activation across the binarizer's threshold."""
    if _exact_in_float(steps, layer):
        return []
    extreme = np.maximum(np.abs(lo), np.abs(hi)).max(axis=1)  # |y| bound, [C]
    terms = int(np.prod(layer.const_type("weight").shape[1:]))
    layer_steps = [s for s in steps if s.in_layer]
    magnitude = np.maximum(np.abs(_evaluate(layer_steps, extreme, 0)), np.abs(_evaluate(layer_steps, -extreme, 0)))
    bound = (terms * FLOAT32_UNIT * magnitude.astype(np.float64) * 1.01).astype(np.float32)
    sign = np.where(negate, -1, 1)
    risky: set[int] = set()
    for k in range(lo.shape[1]):
        for level in range(thresholds.shape[2]):
            for offset in (0, -step):
                oriented = thresholds[:, k, level] + offset
                values = np.clip(sign * oriented, lo[:, k], hi[:, k])
                plain = decide(values, representative[k])
                for delta in (bound, -bound):
                    risky.update(int(c) for c in np.flatnonzero(decide(values, representative[k], delta) != plain))
    return sorted(risky)


def _merge_classes(thresholds: np.ndarray, class_of: np.ndarray, lo: np.ndarray, hi: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge threshold classes that decide alike. On class ``k``'s reachable range
    ``lo, lo + step, …, hi`` (in the comparator's orientation) a threshold ``t`` with
    ``lo < t <= hi`` can be any ``t'`` in ``(t - step, t]``, ``t <= lo`` means "always"
    (any ``t' <= lo`` does), ``t > hi`` "never"
    (any ``t' > hi``); a channel whose classes admit one common threshold gets it everywhere,
    and classes that then agree on every channel become one."""
    lo3, hi3 = lo[..., None], hi[..., None]
    always, never = thresholds <= lo3, thresholds > hi3
    low = np.where(always, -np.inf, np.where(never, hi3 + 1, thresholds - step + 1)).max(axis=1)  # [C, L]
    high = np.where(always, lo3, np.where(never, np.inf, thresholds)).min(axis=1)
    common = np.where(np.isfinite(high), high, low)
    shared = (low <= high) & np.isfinite(common)
    canonical = np.where(always, lo.min(), np.where(never, hi.max() + 1, thresholds))
    canonical = np.where(shared[:, None, :], common[:, None, :], canonical).astype(np.int64)
    unique, inverse = np.unique(canonical.transpose(1, 0, 2), axis=0, return_inverse=True)
    return unique.transpose(1, 0, 2), inverse.reshape(-1)[class_of]


def _pool_direction(steps: list[Step], negate: np.ndarray) -> np.ndarray:
    """Whether each channel's pool is a max (True) or a min: max where the steps before the
    pool and the orientation of the comparator agree in direction."""
    before = [s for s in steps if not s.after_pool and s.apply is not None]
    if not before:
        rising = np.ones(negate.shape, bool)
    else:
        low = _evaluate(before, np.full(negate.shape, -1, np.int64), 0)
        high = _evaluate(before, np.full(negate.shape, 1, np.int64), 0)
        rising = high >= low
    return rising != negate
