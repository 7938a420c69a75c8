"""Straight-through estimators that training code leaves in an exported graph.

Bi-Real Net's activation (Liu et al., ECCV 2018; ReActNet uses it too) is exported in eval mode
as ``(Sign(x) − p(x)) + p(x)`` with a piecewise polynomial ``p`` written with ``Less``, ``Cast``
and ``Mul`` nodes. In real arithmetic it is ``Sign(x)``; in float32 it is wherever

* ``x > 0`` gives ``p(x) ∈ [0, 2]`` and ``x < 0`` gives ``p(x) ∈ [−2, 0]``: then ``s − p`` is
  ``1 − p`` (or ``−1 − p``), exact for ``p ∈ [1/2, 2]`` (Sterbenz) and off by at most 2⁻²⁵
  below ``1/2``, which the second rounding of ``(1 − p) + p`` returns to 1 (the half-way case
  ties to 1, the even neighbour);
* ``x = ±0`` gives a finite ``p(x)``: ``(0 − p) + p`` is 0.

:func:`straight_through_signs` proves those ranges for every float32 ``x`` with
``|x| ≤`` :data:`LIMIT` (above it ``x · x`` may overflow to ``inf`` and the exported formula
gives NaN): the comparisons of ``x`` with constants split the line into pieces on which every
``Cast`` of a comparison is a constant; interval arithmetic with float32 rounding widened
outwards bounds ``p`` on a piece, a piece it cannot bound is bisected (over the float32
values, so near 0 geometrically), and a piece of at most :data:`EXHAUSTIVE` values is evaluated
value by value in float32 — the same IEEE operations onnxruntime performs.
"""

from __future__ import annotations

import numpy as np
import onnx

from .loader import OnnxGraph

LIMIT = np.float32(2.0**32)
"""The largest |x| the proof covers."""
EXHAUSTIVE = 1 << 14
"""A piece with at most this many float32 values is evaluated value by value."""
BUDGET = 20_000
"""The most pieces one proof may examine before giving up (the node then stays as it is)."""
ARITHMETIC = frozenset({"Add", "Sub", "Mul", "Neg"})
COMPARISONS = {"Less": np.less, "LessOrEqual": np.less_equal, "Greater": np.greater, "GreaterOrEqual": np.greater_equal}
ROUNDING = 2.0**-22
"""Relative widening per operation: float32 rounding (2⁻²⁴) with room for the float64
arithmetic that computes the bounds."""
TINY = 2.0**-148
"""Absolute widening per operation (float32 subnormal rounding)."""

Interval = tuple[float, float]
Mask = bool


def straight_through_signs(graph: OnnxGraph) -> dict[str, str]:
    """The ``Add`` outputs of ``graph`` proven equal to a ``Sign`` output (see the module
    docstring), mapped to that ``Sign`` output."""
    producers = {o: n for n in graph.nodes for o in n.output if o}
    proven: dict[str, str] = {}
    for node in graph.nodes:
        if node.op_type != "Add" or node.domain not in ("", "ai.onnx"):
            continue
        a, b = (graph.resolve(i) for i in node.input)
        for sub_name, p_name in ((a, b), (b, a)):
            sub = producers.get(sub_name)
            if sub is None or sub.op_type != "Sub" or graph.resolve(sub.input[1]) != p_name:
                continue
            sign = producers.get(graph.resolve(sub.input[0]))
            if sign is None or sign.op_type != "Sign":
                continue
            x = graph.resolve(sign.input[0])
            cone = _cone(graph, producers, p_name, x)
            if cone is not None and _proven(graph, cone, p_name, x):
                proven[node.output[0]] = sign.output[0]
                break
    return proven


def drop_straight_through(graph: OnnxGraph) -> None:
    """Alias each proven ``Add`` output to its ``Sign`` (:func:`straight_through_signs`) and
    remove the nodes only it read (the ``Sub``, the polynomial, its comparisons)."""
    proven = straight_through_signs(graph)
    if not proven:
        return
    graph.aliases.update(proven)
    live = {graph.resolve(o) for o in graph.outputs}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.nodes):
        outputs = [o for o in node.output if o]
        if node.output[0] in proven or not any(o in live for o in outputs):
            continue
        kept.append(node)
        live.update(graph.resolve(i) for i in node.input if i)
    graph.nodes[:] = kept[::-1]


def _cone(graph: OnnxGraph, producers: dict[str, onnx.NodeProto], p: str, x: str) -> list[onnx.NodeProto] | None:
    """The nodes computing ``p`` from ``x`` alone, in graph order, or None when ``p`` reads
    another runtime tensor, a non-scalar constant or an op outside the supported set."""
    members: dict[int, onnx.NodeProto] = {}
    stack = [p]
    while stack:
        name = stack.pop()
        if name == x or name in graph.constants:
            if name in graph.constants and graph.constants[name].size != 1:
                return None
            continue
        node = producers.get(name)
        if node is None or node.domain not in ("", "ai.onnx"):
            return None
        if node.op_type not in ARITHMETIC and node.op_type not in COMPARISONS and node.op_type not in ("Cast", "Not"):
            return None
        if node.op_type in COMPARISONS and not any(graph.resolve(i) == x for i in node.input):
            return None
        if id(node) not in members:
            members[id(node)] = node
            stack.extend(graph.resolve(i) for i in node.input if i)
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    return sorted(members.values(), key=lambda n: order[id(n)])


def _breakpoints(graph: OnnxGraph, cone: list[onnx.NodeProto]) -> list[np.float32]:
    points = {np.float32(0.0)}
    for node in cone:
        if node.op_type in COMPARISONS:
            for i in node.input:
                if graph.resolve(i) in graph.constants:
                    points.add(np.float32(graph.constants[graph.resolve(i)].reshape(-1)[0]))
    return sorted(t for t in points if -LIMIT < t < LIMIT)


def _proven(graph: OnnxGraph, cone: list[onnx.NodeProto], p: str, x: str) -> bool:
    points = _breakpoints(graph, cone)
    singles = [*points, np.float32(-0.0)]
    if not all(_holds(x_value, _evaluate(graph, cone, p, x, np.array([x_value], np.float32))[0]) for x_value in singles):
        return False
    bounds = [-LIMIT, *points, LIMIT]
    pieces = []
    for lo, hi in zip(bounds, bounds[1:]):
        lo_in = np.nextafter(lo, np.float32(np.inf)) if lo != -LIMIT else lo
        hi_in = np.nextafter(hi, np.float32(-np.inf)) if hi != LIMIT else hi
        if lo_in <= hi_in:
            pieces.append((lo_in, hi_in))
    budget = BUDGET
    while pieces:
        budget -= 1
        if budget < 0:
            return False
        lo, hi = pieces.pop()
        positive = lo > 0
        value = _bound(graph, cone, p, x, lo, hi)
        if value is not None and ((0.0 <= value[0] and value[1] <= 2.0) if positive else (-2.0 <= value[0] and value[1] <= 0.0)):
            continue
        first, last = _ordinal(lo), _ordinal(hi)
        if last - first < EXHAUSTIVE:
            xs = _from_ordinals(np.arange(first, last + 1, dtype=np.int64))
            ps = _evaluate(graph, cone, p, x, xs)
            if not _holds_all(positive, ps):
                return False
            continue
        middle = _from_ordinals(np.array([(first + last) // 2], np.int64))[0]
        pieces += [(lo, middle), (np.nextafter(middle, np.float32(np.inf)), hi)]
    return True


def _holds(x: np.float32, p: np.float32) -> bool:
    if x == 0:
        return bool(np.isfinite(p))
    return bool(0.0 <= p <= 2.0) if x > 0 else bool(-2.0 <= p <= 0.0)


def _holds_all(positive: bool, ps: np.ndarray) -> bool:
    return bool(((ps >= 0) & (ps <= 2)).all() if positive else ((ps >= -2) & (ps <= 0)).all())


def _ordinal(value: np.float32) -> int:
    """The position of a float32 in the order of all float32 values (±0 at 0)."""
    bits = int(np.array([value], np.float32).view(np.int32)[0])
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF)


def _from_ordinals(ordinals: np.ndarray) -> np.ndarray:
    bits = np.where(ordinals >= 0, ordinals, (-ordinals) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def _evaluate(graph: OnnxGraph, cone: list[onnx.NodeProto], p: str, x: str, xs: np.ndarray) -> np.ndarray:
    """``p`` at each float32 of ``xs``, with the IEEE float32 operations of the nodes."""
    values: dict[str, np.ndarray] = {x: xs}

    def read(name: str) -> np.ndarray:
        name = graph.resolve(name)
        return values[name] if name in values else graph.constants[name].reshape(()).astype(np.float32)

    with np.errstate(all="ignore"):
        for node in cone:
            args = [read(i) for i in node.input]
            if node.op_type in COMPARISONS:
                out = COMPARISONS[node.op_type](*args)
            elif node.op_type == "Not":
                out = ~args[0]
            elif node.op_type == "Cast":
                out = args[0].astype(np.float32) if _to_float(node) else args[0].astype(bool)
            elif node.op_type == "Neg":
                out = -args[0]
            else:
                out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[node.op_type](*args).astype(np.float32)
            values[node.output[0]] = np.broadcast_to(out, xs.shape)
    return values[p]


def _bound(graph: OnnxGraph, cone: list[onnx.NodeProto], p: str, x: str, lo: np.float32, hi: np.float32) -> Interval | None:
    """Bounds of ``p`` over the float32 ``x`` in ``[lo, hi]`` (every comparison constant on the
    piece), or None where the bounds are not finite or a comparison is not constant."""
    values: dict[str, Interval | Mask] = {x: (float(lo), float(hi))}

    def read(name: str) -> Interval | Mask:
        name = graph.resolve(name)
        if name in values:
            return values[name]
        c = float(graph.constants[name].reshape(-1)[0])
        return (c, c)

    for node in cone:
        args = [read(i) for i in node.input]
        if node.op_type in COMPARISONS:
            (a_lo, a_hi), (b_lo, b_hi) = args  # one side is the piece, the other a constant
            corners = {bool(COMPARISONS[node.op_type](a, b)) for a in (a_lo, a_hi) for b in (b_lo, b_hi)}
            if len(corners) != 1:
                return None
            out: Interval | Mask = corners.pop()
        elif node.op_type == "Not":
            out = not args[0]
        elif node.op_type == "Cast":
            to_float = _to_float(node)
            if isinstance(args[0], bool):
                out = (float(args[0]), float(args[0])) if to_float else args[0]
            elif to_float:
                out = args[0]
            else:
                return None
        elif node.op_type == "Neg":
            out = (-args[0][1], -args[0][0])
        else:
            out = _arithmetic(node.op_type, args[0], args[1])
        if isinstance(out, tuple) and not (np.isfinite(out[0]) and np.isfinite(out[1]) and max(abs(out[0]), abs(out[1])) < 3e38):
            return None
        values[node.output[0]] = out
    result = values[p]
    return result if isinstance(result, tuple) else None


def _to_float(cast: onnx.NodeProto) -> bool:
    """Whether a ``Cast`` converts to float32 (else, in a cone, to bool)."""
    return next(onnx.helper.get_attribute_value(a) for a in cast.attribute if a.name == "to") == onnx.TensorProto.FLOAT


def _arithmetic(op: str, a: Interval, b: Interval) -> Interval:
    """``a op b`` over intervals, widened outwards for float32 rounding; exact where both are
    points (float32 arithmetic) or a factor is exactly 0 or 1 or a term exactly 0."""
    if a[0] == a[1] and b[0] == b[1]:
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
        v = float(fn(np.float32(a[0]), np.float32(b[0])))
        return (v, v)
    if op == "Mul":
        for u, v in ((a, b), (b, a)):
            if u == (0.0, 0.0):
                return (0.0, 0.0)
            if u == (1.0, 1.0):
                return v
        products = [p * q for p in a for q in b]
        lo, hi = min(products), max(products)
    elif op == "Add":
        if a == (0.0, 0.0) or b == (0.0, 0.0):
            return b if a == (0.0, 0.0) else a
        lo, hi = a[0] + b[0], a[1] + b[1]
    else:
        if b == (0.0, 0.0):
            return a
        lo, hi = a[0] - b[1], a[1] - b[0]
    return (lo - abs(lo) * ROUNDING - TINY, hi + abs(hi) * ROUNDING + TINY)
