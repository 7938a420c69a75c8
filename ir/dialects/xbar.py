"""The ``xbar`` dialect: the network mapped onto crossbar arrays — bits on input ports, cell
states, column counts and the comparator/ADC periphery.

Conventions: a tensor of bits carries a leading *plane* axis ``B``. A ±1 value is one plane in
offset encoding (``x = 2·bit − 1``: 0 V for −1, V_read for +1); a ternary value is two planes
``p = [x = +1]``, ``n = [x = −1]`` applied as two reads; a ``u8``/``i8`` value is eight planes,
least significant first (two's complement for ``i8``), applied bit-serially. Every port thus
sees a voltage of one sign. Cell states are bits too: 1 is the low-resistance (on) state.
"""

from __future__ import annotations

from ..attributes import AttrDef
from ..core import ConstDef, OperandDef, Operation, ResultDef, domains
from ..registry import register_op
from ..schemes import ENCODINGS, plane_weights
from ..schemes import SCHEMES as MAPPINGS
from ..shapes import window_output_shape
from ..types import Domain, TensorType, concatenated
from .bnn import FUSION_FACTS, _window_attrs

D = Domain
BIT = domains(D.BIT)
PLANES = {D.PM1: ("offset", 1), D.TERN: ("ternary", 2), D.U8: ("unsigned", 8), D.I8: ("twos", 8)}
"""How each value domain is applied to ports: encoding and number of bit-planes."""
PAD_BITS = {(D.PM1, 1): (1,), (D.PM1, -1): (0,), (D.TERN, 1): (1, 0), (D.TERN, -1): (0, 1)}
"""The planes of a ±1 pad value (``xbar.window``'s ``pad_bits``) per value domain, encoded as
``xbar.planes`` encodes that value."""
SCHEMES = tuple(MAPPINGS)


def _window_output(x: TensorType, attributes: dict) -> tuple[int, int]:
    """``(OH, OW)`` of a window or pool over planes ``[B, N, C, H, W]``."""
    return window_output_shape(x.shape[3], x.shape[4], attributes["kernel"], attributes["strides"],
                               attributes["pads"], attributes["dilations"])


@register_op
class Planes(Operation):
    """Split values into bit-planes for the ports (see the module docstring): ``pm1`` → one
    plane ``(x + 1) / 2``, ``tern`` → ``[x = +1], [x = −1]``, ``u8``/``i8`` → eight planes of
    the (two's complement) binary code, least significant first."""

    name = "xbar.planes"
    operand_defs = (OperandDef("input", frozenset(PLANES)),)
    result_defs = (ResultDef("output", BIT),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        return [TensorType(D.BIT, (PLANES[x.domain][1],) + x.shape)]


@register_op
class Decode(Operation):
    """Back from planes to values for digital consumers: one offset-encoded plane → ``pm1``
    (``2·bit − 1``), two planes ``p, n`` → ``tern`` (``p − n``)."""

    name = "xbar.decode"
    operand_defs = (OperandDef("input", BIT),)
    result_defs = (ResultDef("output", domains(D.PM1, D.TERN)),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        b = operand_types[0]
        if b.rank < 1 or b.shape[0] not in (1, 2):
            raise ValueError(f"decode takes one (±1) or two (ternary) planes, got {b}")
        return [TensorType(D.PM1 if b.shape[0] == 1 else D.TERN, b.shape[1:])]


@register_op
class Window(Operation):
    """The line buffer: im2col of bit-planes ``[B, 1, C, H, W]`` into ``[B, P, K]`` port vectors,
    ``P = OH·OW`` window positions (row-major), ``K = C·kh·kw`` ports ordered (c, i, j) like the
    weight rows. With ``pad_bits`` empty, pad ports carry 0 (no voltage) and take no part in the
    window; otherwise ``pad_bits[b]`` is the constant bit every pad port of plane ``b`` carries
    (a ±1 pad value in the planes' encoding: +1 ↦ ``[1]``, −1 ↦ ``[0]`` offset-encoded,
    ``[1, 0]`` / ``[0, 1]`` ternary), so pads are inputs like any other. With ``complement`` each
    window also drives the complementary rows ``1 − bit`` of its valid ports — of every port
    when the pads carry constant bits; excluded pads stay 0 on both rows: ``K' = 2K``, as the
    xnor mapping needs. A dense layer is a 1×1 window over ``[B, 1, K, 1, 1]``."""

    name = "xbar.window"
    operand_defs = (OperandDef("input", BIT),)
    result_defs = (ResultDef("output", BIT),)
    attr_defs = (AttrDef("kernel", "ints", length=2),) + _window_attrs() + (
        AttrDef("complement", "bool", False),
        AttrDef("pad_bits", "ints", (), doc="per plane, the constant bit of the pad ports; empty: pads carry no voltage"),
    )

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        if x.rank != 5 or x.shape[1] != 1:
            raise ValueError(f"window takes planes [B, 1, C, H, W], got {x}")
        oh, ow = _window_output(x, attributes)
        kh, kw = attributes["kernel"]
        ports = x.shape[2] * kh * kw * (2 if attributes["complement"] else 1)
        return [TensorType(D.BIT, (x.shape[0], oh * ow, ports))]

    def verify_semantics(self) -> None:
        bits, planes = self.attr("pad_bits"), self.operands[0].type.shape[0]
        if bits and (len(bits) != planes or any(b not in (0, 1) for b in bits)):
            raise self.fail(f"pad_bits must be one bit per plane ({planes}), got {list(bits)}")

    def pad_plane_bits(self) -> tuple[int, ...]:
        """The bit each plane's pad ports carry (0 where the pads carry no voltage)."""
        return self.attr("pad_bits") or (0,) * self.operands[0].type.shape[0]


@register_op
class Mvm(Operation):
    """Array reads, one per plane and window: ``counts[b, p, j] = Σ_k ports[b, p, k] · G[k, j]``
    — the number of on-cells in column ``j`` on the rows that carry V_read, i.e. the column
    current above the all-off baseline in units of ΔG = G_on − G_off. ``G`` is one bit per cell:
    before tiling a layer's whole pattern, after ``tile`` one array's (``tile`` = [row tile,
    column tile]) on a physical array of ``array`` = [rows, cols] (each layer may have its own).
    ``replicas`` copies of the array serve that many windows per read."""

    name = "xbar.mvm"
    operand_defs = (OperandDef("input", BIT),)
    const_defs = (ConstDef("conductance", BIT),)
    result_defs = (ResultDef("output", domains(D.I32)),)
    attr_defs = (
        AttrDef("tile", "ints", (0, 0), length=2, doc="[row tile, column tile] of the layer"),
        AttrDef("replicas", "int", 1, doc="copies of this array; windows per read"),
        AttrDef("array", "ints", (0, 0), length=2,
                doc="[rows, cols] of the physical arrays the layer is tiled onto; [0, 0] before tiling"),
    )

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x, g = operand_types[0], const_types[0]
        if x.rank != 3 or g.rank != 2 or x.shape[2] != g.shape[0]:
            raise ValueError(f"mvm needs ports [B, P, K] and conductances [K, M], got {x} and {g}")
        return [TensorType(D.I32, (x.shape[0], x.shape[1], g.shape[1]))]

    def verify_semantics(self) -> None:
        rows, cols = self.attr("array")
        k, m = self.const_type("conductance").shape
        if (rows, cols) != (0, 0) and (k > rows or m > cols):
            raise self.fail(f"a {k}x{m} cell pattern does not fit its {rows}x{cols} array")
        if self.attr("replicas") < 1:
            raise self.fail("replicas must be at least 1")


def _sensed_shape(counts: TensorType, scheme: str, spatial_classes: TensorType, outputs: int) -> tuple[int, ...]:
    if counts.rank != 3:
        raise ValueError(f"expected column counts [B, P, M'], got {counts}")
    columns = MAPPINGS[scheme].physical_columns(outputs)
    if columns != counts.shape[2]:
        raise ValueError(f"{scheme} with {outputs} outputs reads {columns} columns, got {counts.shape[2]}")
    positions = 1
    for d in spatial_classes.shape:
        positions *= d
    if positions != counts.shape[1]:
        raise ValueError(f"classes {spatial_classes} do not cover the {counts.shape[1]} window positions")
    return (1, outputs) + spatial_classes.shape


class _Sensing(Operation):
    """Shared by compare and readout: the signed column value ``v[p, j] = Σ_b ω_b · raw_b[p, j]``
    where ``raw`` combines column counts per scheme — refcol ``2·c[j] − c[ref]`` (the reference
    column, last, holds mid-conductance cells), xnor ``c[j]`` (the popcount), diff
    ``c[2j] − c[2j+1]`` — and ``ω`` are the plane weights of the input encoding (offset [2],
    ternary [1, −1], unsigned [1, 2, …, 128], twos [1, …, 64, −128])."""

    operand_defs = (OperandDef("input", domains(D.I32)),)
    attr_defs = (
        AttrDef("scheme", "str", choices=SCHEMES),
        AttrDef("encoding", "str", choices=ENCODINGS),
    )

    def verify_semantics(self) -> None:
        if len(plane_weights(self.attr("encoding"))) != self.operands[0].type.shape[0]:
            raise self.fail(f"encoding {self.attr('encoding')} has {len(plane_weights(self.attr('encoding')))} planes, "
                            f"the counts have {self.operands[0].type.shape[0]}")
        classes, table = self.const_array("classes"), self.const_type(self.const_defs[0].name)
        if classes.size and (classes.min() < 0 or classes.max() >= table.shape[1]):
            raise self.fail(f"class ids must lie in [0, {table.shape[1]})")


@register_op
class Compare(_Sensing):
    """The 1-bit periphery (see :class:`_Sensing` for ``v``): with ``k = classes[s]``, one
    level gives one offset-encoded plane ``[v >= T[j, k, 0]]``; two levels give the ternary
    planes ``p = [v >= T[j, k, 1]]``, ``n = [v < T[j, k, 0]]``. The result, ``[L, 1, M, …]``,
    is the next layer's port input as it is."""

    name = "xbar.compare"
    const_defs = (ConstDef("thresholds", domains(D.I32)), ConstDef("classes", domains(D.I32)))
    result_defs = (ResultDef("output", BIT),)
    attr_defs = _Sensing.attr_defs + FUSION_FACTS

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        t, classes = const_types
        if t.rank != 3 or t.shape[2] not in (1, 2):
            raise ValueError(f"thresholds must be [M, K, 1|2], got {t}")
        shape = _sensed_shape(operand_types[0], attributes["scheme"], classes, t.shape[0])
        return [TensorType(D.BIT, (t.shape[2],) + shape)]


@register_op
class Readout(_Sensing):
    """The ADC path: the exact ±1-domain pre-activation ``y[0, j, s] = v[p, j] + offset[j, k]``
    (``k = classes[s]``) — used where no comparator follows (a last layer, logits)."""

    name = "xbar.readout"
    const_defs = (ConstDef("offset", domains(D.I32)), ConstDef("classes", domains(D.I32)))
    result_defs = (ResultDef("output", domains(D.I32)),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        offset, classes = const_types
        if offset.rank != 2:
            raise ValueError(f"offset must be [M, K], got {offset}")
        return [TensorType(D.I32, _sensed_shape(operand_types[0], attributes["scheme"], classes, offset.shape[0]))]


@register_op
class PoolBits(Operation):
    """Max/min pooling in the bit domain: with ``direction[c]`` = +1 (max) the first plane is
    the OR over each window's valid positions, −1 (min) the AND; a ternary value's second plane
    (``n``) takes the other one. Pads never count."""

    name = "xbar.pool_bits"
    operand_defs = (OperandDef("input", BIT),)
    const_defs = (ConstDef("direction", domains(D.PM1)),)
    result_defs = (ResultDef("output", BIT),)
    attr_defs = (AttrDef("kernel", "ints", length=2),) + _window_attrs()

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x = operand_types[0]
        if x.rank != 5 or x.shape[0] not in (1, 2) or const_types[0].shape != (x.shape[2],):
            raise ValueError(f"pool_bits takes planes [1|2, N, C, H, W] and one direction per channel, got {x}")
        oh, ow = _window_output(x, attributes)
        return [TensorType(D.BIT, x.shape[:3] + (oh, ow))]


@register_op
class Slice(Operation):
    """``x[..., start : start + size, ...]`` along ``axis``: the ports one row tile drives."""

    name = "xbar.slice"
    operand_defs = (OperandDef("input"),)
    result_defs = (ResultDef("output"),)
    attr_defs = (AttrDef("axis", "int"), AttrDef("start", "int"), AttrDef("size", "int"))

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        x, axis, start, size = operand_types[0], attributes["axis"], attributes["start"], attributes["size"]
        if not 0 <= axis < x.rank or start < 0 or size < 1 or start + size > x.shape[axis]:
            raise ValueError(f"slice [{start}, {start + size}) of axis {axis} does not fit {x}")
        shape = list(x.shape)
        shape[axis] = size
        return [x.with_shape(tuple(shape))]


@register_op
class Concat(Operation):
    """Concatenation along ``axis`` (column tiles back into one layer output)."""

    name = "xbar.concat"
    operand_defs = (OperandDef("inputs", variadic=True),)
    result_defs = (ResultDef("output"),)
    attr_defs = (AttrDef("axis", "int"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        return [concatenated(list(operand_types), attributes["axis"])]


@register_op
class Adc(Operation):
    """Digitize column counts with a ``bits``-bit ADC: the value is unchanged (a count never
    exceeds the rows of its array, and ``bits = ceil(log2(rows + 1))``), the op marks where
    partial sums leave the analog domain."""

    name = "xbar.adc"
    operand_defs = (OperandDef("input", domains(D.I32)),)
    result_defs = (ResultDef("output", domains(D.I32)),)
    attr_defs = (AttrDef("bits", "int"),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        if not 1 <= attributes["bits"] <= 16:
            raise ValueError(f"ADC bits must be 1..16, got {attributes['bits']}")
        return [operand_types[0]]


@register_op
class Accumulate(Operation):
    """Digital sum of digitized partial counts of the row tiles of one column tile."""

    name = "xbar.accumulate"
    operand_defs = (OperandDef("inputs", domains(D.I32), variadic=True),)
    result_defs = (ResultDef("output", domains(D.I32)),)

    @classmethod
    def infer_types(cls, operand_types, const_types, attributes):
        if any(t != operand_types[0] for t in operand_types):
            raise ValueError("accumulated partial sums must have one type")
        return [operand_types[0]]
