"""The ``bnn`` dialect: the network level, with ONNX semantics and ±1 arithmetic.

Values are tensors in NCHW (images) or NC (vectors) layout; the channel axis is 1. Binary
values are ``pm1`` (±1) or, where ONNX ``Sign`` can output 0, ``tern``. Integer sums are
``i32``; real values are ``f32`` and every real-valued op rounds as float32 in the order
written, which is how onnxruntime evaluates the source graph.
"""

from __future__ import annotations

from typing import ClassVar

from ..attributes import AttrDef, AttrValue
from ..core import ConstDef, OperandDef, Operation, ResultDef, domains
from ..registry import register_op
from ..shapes import broadcast_shapes, window_output_shape
from ..types import Domain, TensorType, concatenated

D = Domain
REAL = domains(D.F32)
NUMERIC = domains(D.F32, D.I32, D.U8, D.I8, D.PM1, D.TERN)
ARRAY_INPUT = domains(D.PM1, D.TERN, D.U8, D.I8)
"""What a binary layer may read: ±1 (one read), ternary (two planes) or 8-bit integers
(bit-serial)."""


def _one(types: list[TensorType]) -> TensorType:
    return types[0]


@register_op
class Sign(Operation):
    """Binarize: ``y = +1 if x > 0, -1 if x < 0``; at ``x == 0`` the result follows ``zero``:
    ``"zero"`` gives 0 (ONNX ``Sign``; the result is ``tern``), ``"pos"`` gives +1 (QONNX
    ``BipolarQuant``, FINN, Brevitas; ``-0.0`` counts as 0), ``"neg"`` gives -1 (both ``pm1``)."""

    name = "bnn.sign"
    operand_defs = (OperandDef("input", NUMERIC),)
    result_defs = (ResultDef("output", domains(D.PM1, D.TERN)),)
    attr_defs = (AttrDef("zero", "str", "zero", choices=("zero", "pos", "neg"), doc="value at x == 0"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        domain = D.TERN if attributes["zero"] == "zero" else D.PM1
        return [_one(operand_types).with_domain(domain)]


def threshold_result_domain(levels: int, out_scale: float, out_bias: float) -> Domain:
    """Domain of ``out_scale * count + out_bias`` for a count in ``0..levels``."""
    if levels == 1 and {out_bias, out_scale + out_bias} == {-1.0, 1.0}:
        return D.PM1  # a binarizer: +1 at or above the threshold, or (out_scale −2) below it
    if out_scale == 1.0 and out_bias == 0.0 and levels <= 255:
        return D.U8
    if out_scale == 1.0 and float(out_bias).is_integer() and -128 <= out_bias and levels + out_bias <= 127:
        return D.I8
    return D.F32


@register_op
class Threshold(Operation):
    """Multi-threshold (FINN ``MultiThreshold``): ``y = out_scale * #{t in T[c] : x >= t} + out_bias``
    with thresholds ``T`` of shape ``[C, n]`` (one row per channel, channel axis 1) or ``[1, n]``
    (one row for all channels). One threshold with ``out_scale = 2, out_bias = -1`` is a
    binarizer with ``x == t`` going to +1; a comparator stage ``y >= T`` on integer sums is this
    op with ``i32`` thresholds. The result domain follows from ``n``, ``out_scale`` and
    ``out_bias`` (``pm1``, ``u8``, ``i8`` or else ``f32``)."""

    name = "bnn.threshold"
    operand_defs = (OperandDef("input", NUMERIC),)
    const_defs = (ConstDef("thresholds", domains(D.F32, D.I32)),)
    result_defs = (ResultDef("output", domains(D.PM1, D.U8, D.I8, D.F32)),)
    attr_defs = (AttrDef("out_scale", "float", 1.0), AttrDef("out_bias", "float", 0.0))

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x, t = operand_types[0], const_types[0]
        if t.rank != 2:
            raise ValueError(f"thresholds must be [C, n], got {t}")
        channels = x.shape[1] if x.rank >= 2 else 1
        if t.shape[0] not in (1, channels):
            raise ValueError(f"thresholds have {t.shape[0]} rows, input has {channels} channels")
        domain = threshold_result_domain(t.shape[1], attributes["out_scale"], attributes["out_bias"])
        return [x.with_domain(domain)]


def _matmul_result(x: TensorType, w: TensorType) -> TensorType:
    if x.rank != 2 or w.rank != 2:
        raise ValueError(f"dense needs input [N, K] and weight [M, K], got {x} and {w}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"input has {x.shape[1]} features, weight expects {w.shape[1]}")
    return TensorType(D.I32, (x.shape[0], w.shape[0]))


@register_op
class Dense(Operation):
    """Binary fully-connected layer: ``y[n, m] = sum_k x[n, k] * W[m, k]``, exact integer
    arithmetic. ``W`` is ±1 of shape ``[M, K]`` (out features × in features), or ternary where
    some weights are exactly 0 (a latent weight of 0 under ``sign``)."""

    name = "bnn.dense"
    operand_defs = (OperandDef("input", ARRAY_INPUT),)
    const_defs = (ConstDef("weight", domains(D.PM1, D.TERN)),)
    result_defs = (ResultDef("output", domains(D.I32)),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        return [_matmul_result(operand_types[0], const_types[0])]


def _window_attrs(spatial_default: tuple[int, ...] = (1, 1)) -> tuple[AttrDef, ...]:
    return (
        AttrDef("strides", "ints", spatial_default, length=2, doc="[stride_h, stride_w]"),
        AttrDef("pads", "ints", (0, 0, 0, 0), length=4, doc="[top, left, bottom, right], ONNX order"),
        AttrDef("dilations", "ints", (1, 1), length=2, doc="[dilation_h, dilation_w]"),
    )


def _window_output(x: TensorType, kernel: tuple[int, int], attributes: dict[str, AttrValue]) -> tuple[int, int]:
    if x.rank != 4:
        raise ValueError(f"expected an NCHW input, got {x}")
    return window_output_shape(x.shape[2], x.shape[3], kernel, attributes["strides"], attributes["pads"], attributes["dilations"])


@register_op
class Conv(Operation):
    """Binary 2-D convolution (ONNX ``Conv`` with ``group = 1``, cross-correlation):
    ``y[n, o, r, s] = Σ_{c, i, j} x'[n, c, r·sh + i·dh, s·sw + j·dw] · W[o, c, i, j]`` with ``W``
    ±1 of shape ``[Cout, Cin, kh, kw]`` (ternary where some weights are exactly 0) and ``x'`` the
    input padded by ``pads``, every padded position holding ``pad_value``. ``pad_value = 0`` is
    ONNX zero padding: zeros are neither -1 nor +1, so border windows sum over fewer taps.
    ``pad_value = ±1`` (a ``Pad(constant, value = ±1)`` merged into the conv, as Larq's
    ``pad_values``) makes the pads constant ±1 inputs: every window sums over all
    ``Cin·kh·kw`` taps; it needs a ±1 or ternary input. Exact integer arithmetic."""

    name = "bnn.conv"
    operand_defs = (OperandDef("input", ARRAY_INPUT),)
    const_defs = (ConstDef("weight", domains(D.PM1, D.TERN)),)
    result_defs = (ResultDef("output", domains(D.I32)),)
    attr_defs = _window_attrs() + (
        AttrDef("pad_value", "int", 0, doc="value of every padded position: 0 (ONNX zero padding), +1 or -1"),
    )

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x, w = operand_types[0], const_types[0]
        if w.rank != 4 or x.rank != 4 or w.shape[1] != x.shape[1]:
            raise ValueError(f"weight {w} does not fit input {x} (expected [Cout, {x.shape[1] if x.rank == 4 else '?'}, kh, kw])")
        oh, ow = _window_output(x, (w.shape[2], w.shape[3]), attributes)
        return [TensorType(D.I32, (x.shape[0], w.shape[0], oh, ow))]

    def verify_semantics(self) -> None:
        pad = self.attr("pad_value")
        if pad not in (-1, 0, 1):
            raise self.fail(f"pad_value must be 0, 1 or -1, got {pad}")
        if pad and self.operands[0].type.domain not in (D.PM1, D.TERN):
            raise self.fail(f"pad_value {pad} needs a pm1 or tern input, got {self.operands[0].type.domain.value}")


@register_op
class BatchNorm(Operation):
    """Inference batch normalization over channel axis 1, evaluated in float32 exactly as
    onnxruntime does: ``s = scale * (1 / sqrt(var + epsilon))``, ``b = bias - mean * s``,
    ``y = x * s + b`` (integer inputs are converted to float32 first)."""

    name = "bnn.batchnorm"
    operand_defs = (OperandDef("input", NUMERIC),)
    const_defs = tuple(ConstDef(n, REAL) for n in ("scale", "bias", "mean", "var"))
    result_defs = (ResultDef("output", REAL),)
    attr_defs = (AttrDef("epsilon", "float", 1e-5),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        if x.rank < 2:
            raise ValueError(f"batchnorm needs a channel axis, got {x}")
        for c in const_types:
            if c.shape != (x.shape[1],):
                raise ValueError(f"parameters must have shape [{x.shape[1]}], got {c}")
        return [x.with_domain(D.F32)]


def _broadcast_real(a: TensorType, b: TensorType) -> TensorType:
    """The float32 result of an elementwise op on ``a`` and ``b`` (ONNX/numpy broadcasting)."""
    shape = broadcast_shapes(a.shape, b.shape)
    if shape is None:
        raise ValueError(f"{a} and {b} do not broadcast")
    return TensorType(D.F32, shape)


class ElementwiseConst(Operation):
    """Base of the float32 elementwise ops with a constant: ``y = x op c`` (or ``c op x`` when
    ``const_first``), with ONNX/numpy broadcasting. Integer inputs are converted to float32
    first (exact below 2**24)."""

    operand_defs = (OperandDef("input", NUMERIC),)
    const_defs = (ConstDef("constant", REAL),)
    result_defs = (ResultDef("output", REAL),)
    attr_defs = (AttrDef("const_first", "bool", False, doc="compute c op x instead of x op c"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        return [_broadcast_real(operand_types[0], const_types[0])]


@register_op
class Add(ElementwiseConst):
    """``y = x + c`` in float32."""

    name = "bnn.add"


@register_op
class Sub(ElementwiseConst):
    """``y = x - c`` (``c - x`` when ``const_first``) in float32."""

    name = "bnn.sub"


@register_op
class Mul(ElementwiseConst):
    """``y = x * c`` in float32 (e.g. an XNOR-Net per-channel scale α or input preprocessing)."""

    name = "bnn.mul"


@register_op
class Div(ElementwiseConst):
    """``y = x / c`` (``c / x`` when ``const_first``) in float32."""

    name = "bnn.div"


@register_op
class MaxPool(Operation):
    """ONNX ``MaxPool`` (floor mode): the maximum over each window; padded positions never win.
    The element domain is kept."""

    name = "bnn.maxpool"
    operand_defs = (OperandDef("input", NUMERIC),)
    result_defs = (ResultDef("output", NUMERIC),)
    attr_defs = (AttrDef("kernel", "ints", length=2, doc="[kh, kw]"),) + _window_attrs()

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        oh, ow = _window_output(x, tuple(attributes["kernel"]), attributes)
        return [TensorType(x.domain, (x.shape[0], x.shape[1], oh, ow))]


@register_op
class Reshape(Operation):
    """Reinterpret the elements (row-major order) under a new static ``shape``; covers ONNX
    ``Reshape``, ``Flatten``, ``Squeeze`` and ``Unsqueeze``."""

    name = "bnn.reshape"
    operand_defs = (OperandDef("input"),)
    result_defs = (ResultDef("output"),)
    attr_defs = (AttrDef("shape", "ints"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        out = x.with_shape(tuple(attributes["shape"]))
        if out.size != x.size:
            raise ValueError(f"cannot reshape {x} ({x.size} elements) to {out.shape}")
        return [out]


@register_op
class Transpose(Operation):
    """Permute axes: ``y.shape[i] = x.shape[perm[i]]`` (ONNX ``Transpose``)."""

    name = "bnn.transpose"
    operand_defs = (OperandDef("input"),)
    result_defs = (ResultDef("output"),)
    attr_defs = (AttrDef("perm", "ints"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x, perm = operand_types[0], attributes["perm"]
        if sorted(perm) != list(range(x.rank)):
            raise ValueError(f"perm {list(perm)} is not a permutation of the {x.rank} axes")
        return [x.with_shape(tuple(x.shape[p] for p in perm))]


_CONVERTIBLE = {D.F32, D.I64, D.I32, D.U8, D.I8, D.PM1, D.TERN}


@register_op
class Convert(Operation):
    """Change the element domain keeping every value (e.g. ``pm1`` to ``f32`` for a graph output
    that ONNX types as float). The values must be representable in the result domain."""

    name = "bnn.convert"
    operand_defs = (OperandDef("input", frozenset(_CONVERTIBLE)),)
    result_defs = (ResultDef("output", frozenset(_CONVERTIBLE)),)

    def verify_semantics(self) -> None:
        if self.operands[0].type.shape != self.results[0].type.shape:
            raise self.fail("convert keeps the shape")


@register_op
class InputQuant(Operation):
    """Quantize real input to integer codes (ONNX ``QuantizeLinear``, QONNX ``Quant`` before its
    dequantization), in float32: QONNX order ``q = round(clip(x / scale + zero_point, lo, hi))``,
    or with ``zp_after_round`` the ONNX order ``q = clip(round(x / scale) + zero_point, lo, hi)``.
    ``round`` is half to even (``rounding`` may also be ``floor``, ``ceil`` or ``trunc``);
    ``[lo, hi]`` is the range of a ``bits``-bit signed or unsigned integer (``narrow`` drops the
    most negative value, or the largest for unsigned). The codes are applied to arrays
    bit-serially."""

    name = "bnn.input_quant"
    operand_defs = (OperandDef("input", REAL),)
    const_defs = (ConstDef("scale", REAL), ConstDef("zero_point", REAL))
    result_defs = (ResultDef("output", domains(D.U8, D.I8)),)
    attr_defs = (
        AttrDef("bits", "int", 8),
        AttrDef("signed", "bool", False),
        AttrDef("narrow", "bool", False),
        AttrDef("rounding", "str", "half_even", choices=("half_even", "floor", "ceil", "trunc")),
        AttrDef("zp_after_round", "bool", False, doc="ONNX QuantizeLinear order"),
    )

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        if not 1 <= attributes["bits"] <= 8:
            raise ValueError(f"bits must be 1..8, got {attributes['bits']}")
        x = operand_types[0]
        for c in const_types:
            if broadcast_shapes(x.shape, c.shape) != x.shape:
                raise ValueError(f"quantization parameter {c} does not broadcast to {x}")
        return [x.with_domain(D.I8 if attributes["signed"] else D.U8)]

    def code_range(self) -> tuple[int, int]:
        """The smallest and largest code."""
        bits, signed, narrow = self.attributes["bits"], self.attributes["signed"], self.attributes["narrow"]
        if signed:
            return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
        return 0, 2**bits - 1 - int(narrow)


FUSION_FACTS = (
    AttrDef("ties", "ints", (), doc="channels where a reachable pre-activation puts the source binarizer's input "
            "exactly on 0 (two levels resolve them exactly; one level resolves them by the sign-zero policy)"),
    AttrDef("negated", "ints", (), doc="channels whose weights were complemented to make a decreasing chain increasing"),
    AttrDef("constant", "ints", (), doc="channels whose output does not depend on the input (e.g. BatchNorm γ = 0)"),
    AttrDef("float_margin", "ints", (), doc="channels where onnxruntime's float32 accumulation of float-scaled terms "
            "may decide a sign differently from the exact integer"),
)
"""What threshold derivation found about each channel, kept on the comparator it produced (and
on the crossbar comparators after it): facts for the report — the semantics do not depend on
them. Channel indices count the op's own output channels."""


@register_op
class Compare(Operation):
    """The fused BatchNorm+binarize comparator stage on an integer pre-activation ``y``
    (channel axis 1): with ``k = classes[s]`` the threshold class of spatial position ``s``,
    one level (``T`` of shape ``[C, K, 1]``) gives ``+1 if y >= T[c, k, 0] else -1`` (``pm1``);
    two levels (``[C, K, 2]``, ``T0 <= T1``) give ``[y >= T0] + [y >= T1] - 1`` in {-1, 0, +1}
    (``tern``: an exact ONNX ``Sign`` where the BatchNorm output can be exactly 0). ``classes``
    has the shape of ``y``'s spatial dimensions (rank 0 for ``[N, C]``); classes stand for
    positions that need different thresholds (padded borders, position-dependent constants)."""

    name = "bnn.compare"
    operand_defs = (OperandDef("input", domains(D.I32)),)
    const_defs = (ConstDef("thresholds", domains(D.I32)), ConstDef("classes", domains(D.I32)))
    result_defs = (ResultDef("output", domains(D.PM1, D.TERN)),)
    attr_defs = FUSION_FACTS

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        y, t, classes = operand_types[0], const_types[0], const_types[1]
        if y.rank < 2 or t.rank != 3 or t.shape[0] != y.shape[1] or t.shape[2] not in (1, 2):
            raise ValueError(f"thresholds must be [C={y.shape[1] if y.rank >= 2 else '?'}, K, 1|2], got {t}")
        if classes.shape != y.shape[2:]:
            raise ValueError(f"classes must have the spatial shape {y.shape[2:]}, got {classes}")
        return [y.with_domain(D.PM1 if t.shape[2] == 1 else D.TERN)]

    def verify_semantics(self) -> None:
        classes, levels = self.const_array("classes"), self.const_type("thresholds").shape[1]
        if classes.size and (classes.min() < 0 or classes.max() >= levels):
            raise self.fail(f"class ids must lie in [0, {levels})")


@register_op
class Pool(Operation):
    """Per-channel max or min pooling (``direction[c]`` = +1: maximum, -1: minimum over each
    window's valid positions; pads never win). ONNX ``MaxPool`` is the all-+1 case; a maxpool
    that a comparator on a decreasing BatchNorm commutes past becomes a min-pool on the
    complemented column."""

    name = "bnn.pool"
    operand_defs = (OperandDef("input", NUMERIC),)
    const_defs = (ConstDef("direction", domains(D.PM1)),)
    result_defs = (ResultDef("output", NUMERIC),)
    attr_defs = MaxPool.attr_defs

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        if const_types[0].shape != (operand_types[0].shape[1],):
            raise ValueError(f"direction must have one entry per channel ({operand_types[0].shape[1]}), got {const_types[0]}")
        return MaxPool.infer_types(operand_types, const_types, attributes)


class ElementwiseTensors(Operation):
    """Base of the float32 elementwise ops on two computed tensors, with ONNX/numpy
    broadcasting (integer or binary operands are converted to float32 first, exactly).
    Digital periphery."""

    operand_defs = (OperandDef("lhs", NUMERIC), OperandDef("rhs", NUMERIC))
    result_defs = (ResultDef("output", REAL),)
    kind: ClassVar[str]
    """The float32 operation: ``add``, ``sub`` or ``mul``."""

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        return [_broadcast_real(operand_types[0], operand_types[1])]


@register_op
class AddTensors(ElementwiseTensors):
    """``y = a + b``: the real-valued shortcut of a residual block (Bi-Real, ReActNet style)."""

    name = "bnn.add_tensors"
    kind = "add"


@register_op
class SubTensors(ElementwiseTensors):
    """``y = a - b`` elementwise in float32 (see the base class for broadcasting)."""

    name = "bnn.sub_tensors"
    kind = "sub"


@register_op
class MulTensors(ElementwiseTensors):
    """``y = a * b``: a data-dependent scaling (XNOR-Net's input scale K, Real-to-Binary's
    squeeze-and-excitation gate)."""

    name = "bnn.mul_tensors"
    kind = "mul"


@register_op
class PRelu(Operation):
    """ONNX ``PRelu`` in float32: ``y = x`` where ``x >= 0``, ``y = slope * x`` where ``x < 0``,
    ``slope`` broadcast to ``x`` (per channel ``[C, 1, 1]``, or a scalar). ``Relu`` is slope 0,
    ``LeakyRelu(alpha)`` slope ``alpha``. Integer inputs are converted to float32 first."""

    name = "bnn.prelu"
    operand_defs = (OperandDef("input", NUMERIC),)
    const_defs = (ConstDef("slope", REAL),)
    result_defs = (ResultDef("output", REAL),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        if broadcast_shapes(x.shape, const_types[0].shape) != x.shape:
            raise ValueError(f"slope {const_types[0]} does not broadcast to {x}")
        return [x.with_domain(D.F32)]


@register_op
class Concat(Operation):
    """Concatenation of tensors of one domain along ``axis`` (ONNX ``Concat``): channel
    concatenation of binary values is wiring (the next layer's ports), of real features a copy."""

    name = "bnn.concat"
    operand_defs = (OperandDef("inputs", NUMERIC, variadic=True),)
    result_defs = (ResultDef("output", NUMERIC),)
    attr_defs = (AttrDef("axis", "int"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        return [concatenated(list(operand_types), attributes["axis"])]
