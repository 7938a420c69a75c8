"""Round-trip property tests of the textual IR.

Random modules are built programmatically: a function argument of random f32 type (NCHW or NC)
goes through a random sequence of ``bnn`` ops that fit the current value's type, with random
locations, attributes and constant names. Each module must verify, print, parse back to the same
text (``print(parse(print(m))) == print(m)``) and the same structure, both in memory and through
``save_bir``/``load_bir`` (large constants in the ``.npz``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnnc.ir import (
    UNKNOWN,
    Constant,
    Domain,
    Function,
    Location,
    Module,
    Return,
    TensorType,
    Value,
    load_bir,
    parse_module,
    print_module,
    save_bir,
)
from bnnc.ir.dialects import bnn
from bnnc.ir.printer import structurally_equal
from bnnc.ir.printer import DEFAULT_INLINE_LIMIT, external_constants

D = Domain
NUMERIC = {D.F32, D.I32, D.U8, D.I8, D.PM1, D.TERN}
ARRAY_INPUT = {D.PM1, D.TERN, D.U8, D.I8}
CONVERTIBLE = [D.F32, D.I64, D.I32, D.U8, D.I8, D.PM1, D.TERN]
MAX_ELEMENTS = 600
"""Keeps intermediate tensors small so that a whole run stays fast."""

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- basic strategies

SPECIAL_FLOATS = [
    math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-45, 5e-324, 1.7976931348623157e308,
    3.4028234663852886e38, -3.4028234663852886e38, 1e-5, 0.1, 1.0, -1.0, 2.0, 0.5,
]
floats64 = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats())

NASTY = '"\\\n\t\r\x01\x7f\u2028é漢😀 @%{}[](),:=/.<>-$'
"""Characters that a quoting bug would trip over."""

name_text = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(NASTY)), max_size=10
)
"""Free text for ONNX node names and strings (anything but lone surrogates, which a protobuf
string cannot hold)."""

identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.$-]{0,8}", fullmatch=True)
attr_key = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True)

QUOTED_NAMES = [
    "features.3.weight", "36", "a b", "0", "-x", "file", "allow_pickle", "arr_0", "x.npy", 'q"uote',
    "back\\slash", "ünïcödé", "😀", "", "new\nline", "Conv_2/W", "onnx::Conv_36", "@at", "%pct",
]
symbol_names = st.one_of(st.sampled_from(QUOTED_NAMES), identifier, name_text.filter(lambda s: "\x00" not in s))
"""Constant and function names. NUL is left out: zip member names (the .npz) cannot hold it."""

locations = st.one_of(
    st.just(UNKNOWN),
    name_text.map(Location.of),
    st.sampled_from(["Conv_2", 'Sign "3"', "a\\b", "Gemm\u00e9", ""]).map(Location.of),
    st.lists(name_text, min_size=2, max_size=3).map(lambda names: Location(tuple(names))),
)

attr_scalars = st.one_of(st.integers(), floats64, st.booleans(), name_text)
attr_values = st.recursive(attr_scalars, lambda children: st.lists(children, max_size=3), max_leaves=8)
attr_dicts = st.dictionaries(attr_key, attr_values, max_size=4)


# --------------------------------------------------------------------------- module builder


class Ctx:
    """What the op builders share while one function is being built."""

    def __init__(self, draw, module: Module, rng: np.random.Generator):
        self.draw = draw
        self.module = module
        self.rng = rng

    def loc(self) -> Location:
        return self.draw(locations)

    def const(self, data: np.ndarray, domain: Domain) -> tuple[str, TensorType]:
        """Add a constant under a random (possibly quoted) name; returns (symbol, type)."""
        symbol = self.module.add_constant(self.draw(symbol_names), data, domain)
        return symbol, self.module.constants[symbol].type

    def f32_data(self, shape: tuple[int, ...]) -> np.ndarray:
        data = (self.rng.standard_normal(shape) * 10.0 ** self.rng.integers(-3, 4)).astype(np.float32)
        if data.size and self.draw(st.booleans()):
            specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3.4028235e38, -1.0, 0.1], np.float32)
            flat = data.reshape(-1)
            picks = self.rng.integers(0, flat.size, size=min(flat.size, 4))
            flat[picks] = self.rng.choice(specials, size=picks.size)
        return data

    def pm1_data(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.choice(np.array([-1, 1], np.int8), size=shape)

    def maybe(self, attrs: dict, key: str, strategy) -> None:
        """Set ``attrs[key]`` from ``strategy`` half of the time (else the default applies)."""
        if self.draw(st.booleans()):
            attrs[key] = self.draw(strategy)


def _as_list_or_tuple(draw, values):
    return list(values) if draw(st.booleans()) else tuple(values)


def _window(ctx: Ctx, x: TensorType, max_kernel: int, pad_below_kernel: bool):
    """Random kernel, strides, pads and dilations that fit the spatial dims of ``x``."""
    draw = ctx.draw
    kernel, strides, dilations, pads_begin, pads_end = [], [], [], [], []
    for size in x.shape[2:]:
        k = draw(st.integers(1, max_kernel))
        d = draw(st.integers(1, 2))
        s = draw(st.integers(1, 3))
        limit = k - 1 if pad_below_kernel else 2
        pb, pe = draw(st.integers(0, limit)), draw(st.integers(0, limit))
        if size + pb + pe < d * (k - 1) + 1:  # does not fit: shrink to a 1-wide window
            k, d = 1, 1
            if pad_below_kernel:
                pb = pe = 0
        kernel.append(k)
        strides.append(s)
        dilations.append(d)
        pads_begin.append(pb)
        pads_end.append(pe)
    attrs: dict = {}
    if strides != [1, 1] or draw(st.booleans()):
        attrs["strides"] = _as_list_or_tuple(draw, strides)
    if pads_begin + pads_end != [0, 0, 0, 0] or draw(st.booleans()):
        attrs["pads"] = _as_list_or_tuple(draw, pads_begin + pads_end)
    if dilations != [1, 1] or draw(st.booleans()):
        attrs["dilations"] = _as_list_or_tuple(draw, dilations)
    return tuple(kernel), attrs


def _broadcast_shape(ctx: Ctx, x: TensorType) -> tuple[int, ...]:
    """A constant shape that broadcasts with ``x`` (sometimes growing the result)."""
    draw = ctx.draw
    rank = draw(st.integers(0, x.rank + 1))
    shape = []
    for i in range(rank):
        j = x.rank - rank + i  # aligned axis of x, negative when the constant has more axes
        if j < 0:
            shape.append(draw(st.integers(1, 2)))
        elif x.shape[j] == 1:
            shape.append(draw(st.integers(1, 3)))
        else:
            shape.append(draw(st.sampled_from([1, x.shape[j]])))
    shape = tuple(shape)
    out = np.broadcast_shapes(x.shape, shape)
    if int(np.prod(out)) > MAX_ELEMENTS:
        return ()
    return shape


def build_sign(ctx: Ctx, v: Value):
    attrs: dict = {}
    ctx.maybe(attrs, "zero", st.sampled_from(["zero", "pos", "neg"]))
    return bnn.Sign.build([v], attrs, location=ctx.loc())


def build_conv(ctx: Ctx, v: Value):
    x = v.type
    cout = ctx.draw(st.integers(1, 8))
    (kh, kw), attrs = _window(ctx, x, 3, pad_below_kernel=False)
    symbol, wtype = ctx.const(ctx.pm1_data((cout, x.shape[1], kh, kw)), D.PM1)
    return bnn.Conv.build([v], attrs, [symbol], ctx.loc(), const_types=[wtype])


def build_dense(ctx: Ctx, v: Value):
    m = ctx.draw(st.integers(1, 10))
    symbol, wtype = ctx.const(ctx.pm1_data((m, v.type.shape[1])), D.PM1)
    return bnn.Dense.build([v], {}, [symbol], ctx.loc(), const_types=[wtype])


def build_batchnorm(ctx: Ctx, v: Value):
    channels = v.type.shape[1]
    consts = [ctx.const(ctx.f32_data((channels,)), D.F32) for _ in range(4)]
    attrs: dict = {}
    ctx.maybe(attrs, "epsilon", st.one_of(st.just(1e-5), st.just(1e-3), floats64))
    return bnn.BatchNorm.build(
        [v], attrs, [s for s, _ in consts], ctx.loc(), const_types=[t for _, t in consts]
    )


def build_elementwise(cls):
    def build(ctx: Ctx, v: Value):
        symbol, ctype = ctx.const(ctx.f32_data(_broadcast_shape(ctx, v.type)), D.F32)
        attrs: dict = {}
        ctx.maybe(attrs, "const_first", st.booleans())
        return cls.build([v], attrs, [symbol], ctx.loc(), const_types=[ctype])

    build.__name__ = f"build_{cls.name}"
    return build


def build_maxpool(ctx: Ctx, v: Value):
    kernel, attrs = _window(ctx, v.type, 3, pad_below_kernel=True)
    attrs["kernel"] = _as_list_or_tuple(ctx.draw, kernel)
    return bnn.MaxPool.build([v], attrs, location=ctx.loc())


def _factorize(n: int) -> list[int]:
    factors, p = [], 2
    while p * p <= n:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    if n > 1:
        factors.append(n)
    return factors


def build_reshape(ctx: Ctx, v: Value):
    draw = ctx.draw
    size = v.type.size
    if size == 0:
        shape = draw(st.lists(st.integers(0, 3), max_size=3).map(lambda s: s + [0]))
        shape = draw(st.permutations(shape))
    else:
        factors = draw(st.permutations(_factorize(size)))
        rank = draw(st.integers(1 if factors else 0, 4))
        shape = [1] * rank
        for f in factors:
            shape[draw(st.integers(0, rank - 1))] *= f
    return bnn.Reshape.build([v], {"shape": _as_list_or_tuple(draw, shape)}, location=ctx.loc())


def build_transpose(ctx: Ctx, v: Value):
    perm = ctx.draw(st.permutations(range(v.type.rank)))
    return bnn.Transpose.build([v], {"perm": _as_list_or_tuple(ctx.draw, perm)}, location=ctx.loc())


THRESHOLD_OUTPUTS = [(2.0, -1.0), (1.0, 0.0), (1.0, -3.0), (1.0, 2.0), (2, -1), (-2.0, 1.0), (0.5, -0.0)]


def build_threshold(ctx: Ctx, v: Value):
    draw = ctx.draw
    x = v.type
    channels = x.shape[1] if x.rank >= 2 else 1
    rows = draw(st.sampled_from([1, channels]))
    levels = draw(st.sampled_from([1, 1, 2, 3, 15]))
    if draw(st.integers(0, 3)) == 0:
        data = np.sort(ctx.rng.integers(-50, 50, size=(rows, levels)), axis=1).astype(np.int32)
        symbol, ttype = ctx.const(data, D.I32)
    else:
        symbol, ttype = ctx.const(np.sort(ctx.f32_data((rows, levels)), axis=1), D.F32)
    attrs: dict = {}
    if draw(st.booleans()):
        attrs["out_scale"], attrs["out_bias"] = draw(st.sampled_from(THRESHOLD_OUTPUTS))
    else:
        ctx.maybe(attrs, "out_scale", floats64)
        ctx.maybe(attrs, "out_bias", floats64)
    return bnn.Threshold.build([v], attrs, [symbol], ctx.loc(), const_types=[ttype])


def build_convert(ctx: Ctx, v: Value):
    target = ctx.draw(st.sampled_from(CONVERTIBLE))
    # convert does not infer its result type: the target domain is the op's choice
    return bnn.Convert([v], [v.type.with_domain(target)], {}, [], ctx.loc())


def build_input_quant(ctx: Ctx, v: Value):
    draw = ctx.draw
    x = v.type
    consts = []
    for _ in range(2):
        rank = draw(st.integers(0, x.rank))
        shape = tuple(draw(st.sampled_from([1, d])) for d in x.shape[x.rank - rank :])
        consts.append(ctx.const(ctx.f32_data(shape), D.F32))
    attrs: dict = {}
    ctx.maybe(attrs, "bits", st.integers(1, 8))
    ctx.maybe(attrs, "signed", st.booleans())
    ctx.maybe(attrs, "narrow", st.booleans())
    ctx.maybe(attrs, "rounding", st.sampled_from(["half_even", "floor", "ceil", "trunc"]))
    ctx.maybe(attrs, "zp_after_round", st.booleans())
    return bnn.InputQuant.build([v], attrs, [s for s, _ in consts], ctx.loc(), const_types=[t for _, t in consts])


def _fits_window(t: TensorType) -> bool:
    return t.rank == 4 and t.size > 0


BUILDERS = [  # (builder, applies to the operand type, weight): the layers are favoured
    (build_sign, lambda t: t.domain in NUMERIC, 4),
    (build_conv, lambda t: t.domain in ARRAY_INPUT and _fits_window(t), 12),
    (build_dense, lambda t: t.domain in ARRAY_INPUT and t.rank == 2 and t.size > 0, 12),
    (build_batchnorm, lambda t: t.domain in NUMERIC and t.rank >= 2, 2),
    *[(build_elementwise(cls), lambda t: t.domain in NUMERIC, 1) for cls in (bnn.Add, bnn.Sub, bnn.Mul, bnn.Div)],
    (build_maxpool, lambda t: t.domain in NUMERIC and _fits_window(t), 2),
    (build_reshape, lambda t: True, 2),
    (build_transpose, lambda t: True, 1),
    (build_threshold, lambda t: t.domain in NUMERIC, 3),
    (build_convert, lambda t: t.domain in CONVERTIBLE, 1),
    (build_input_quant, lambda t: t.domain is D.F32, 2),
]


@st.composite
def arg_types(draw) -> TensorType:
    """The main argument: f32, NCHW or NC, small."""
    n = draw(st.integers(1, 2))
    if draw(st.booleans()):
        shape = (n, draw(st.integers(1, 4)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    else:
        shape = (n, draw(st.integers(1, 80)))
    return TensorType(D.F32, shape)


extra_arg_types = st.builds(
    TensorType, st.sampled_from(list(Domain)), st.lists(st.integers(0, 3), max_size=3).map(tuple)
)
"""Further arguments of any domain and rank, zero-sized dimensions included."""


def build_function(draw, module: Module, name: str) -> Function:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ctx = Ctx(draw, module, rng)
    arg_list = [draw(arg_types())] + draw(st.lists(extra_arg_types, max_size=2))
    attributes = draw(st.one_of(st.just({}), attr_dicts))
    function = module.add_function(Function(name, arg_list, attributes))
    pool: list[Value] = list(function.args)
    current = function.args[0]
    for _ in range(draw(st.integers(1, 10))):
        operand = current if draw(st.integers(0, 3)) else draw(st.sampled_from(pool))
        candidates = [b for b, fits, weight in BUILDERS if fits(operand.type) for _ in range(weight)]
        if not candidates:
            continue
        builder = draw(st.sampled_from(candidates))
        op = function.append(builder(ctx, operand))
        pool.extend(op.results)
        current = op.results[0]
    returned = [current] + draw(st.lists(st.sampled_from(pool), max_size=2))
    if draw(st.integers(0, 9)) == 0:
        returned = []
    function.append(Return(returned, location=draw(locations)))
    return function


@st.composite
def modules(draw) -> Module:
    module = Module(draw(st.one_of(st.none(), symbol_names)), draw(st.one_of(st.just({}), attr_dicts)))
    names = draw(st.lists(symbol_names, min_size=1, max_size=2, unique=True))
    for name in names:
        build_function(draw, module, name)
    if draw(st.booleans()):  # an unused constant of any domain, maybe rank 0 or empty
        domain = draw(st.sampled_from(list(Domain)))
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        module.add_constant(draw(symbol_names), random_data(rng, domain, shape), domain)
    return module


def random_data(rng: np.random.Generator, domain: Domain, shape: tuple[int, ...]) -> np.ndarray:
    """Random values of ``domain``, extremes included."""
    if domain is D.F32:
        return rng.standard_normal(shape).astype(np.float32)
    choices = {
        D.PM1: [-1, 1], D.TERN: [-1, 0, 1], D.BIT: [0, 1],
    }.get(domain)
    if choices is None:
        info = np.iinfo(domain.dtype)
        choices = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2]
    return rng.choice(np.array(choices, dtype=domain.dtype), size=shape)


# --------------------------------------------------------------------------- properties


def _check_same(parsed: Module, original: Module, inline_limit: int) -> None:
    parsed.verify()
    assert print_module(parsed, inline_limit) == print_module(original, inline_limit)
    assert print_module(parsed) == print_module(original)
    assert structurally_equal(parsed, original)
    assert structurally_equal(original, parsed)
    for symbol, constant in original.constants.items():
        got = parsed.constants[symbol]
        assert got.type == constant.type
        assert got.data.dtype == constant.data.dtype
        # bit-exact, NaN payloads aside: -0.0 must stay -0.0
        if constant.type.domain is D.F32:
            same = (got.data == constant.data) | (np.isnan(got.data) & np.isnan(constant.data))
            assert same.all() and (np.signbit(got.data) == np.signbit(constant.data)).all()


@SETTINGS
@given(modules(), st.sampled_from([0, 8, DEFAULT_INLINE_LIMIT, 10**9]))
def test_text_roundtrip(module: Module, inline_limit: int) -> None:
    module.verify()
    text = print_module(module, inline_limit)
    parsed = parse_module(text, "roundtrip.bir", constants=external_constants(module, inline_limit))
    assert print_module(parsed, inline_limit) == text
    _check_same(parsed, module, inline_limit)
    # a second round is a fixed point too
    again = parse_module(print_module(parsed, inline_limit), constants=external_constants(parsed, inline_limit))
    assert print_module(again, inline_limit) == text


@SETTINGS
@given(modules(), st.sampled_from([0, 8, DEFAULT_INLINE_LIMIT, 10**9]))
def test_file_roundtrip(module: Module, inline_limit: int) -> None:
    module.verify()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.bir"
        written = save_bir(module, path, inline_limit)
        external = external_constants(module, inline_limit)
        npz = path.with_suffix(".npz")
        assert npz.exists() == bool(external)
        assert set(written) == ({path, npz} if external else {path})
        assert path.read_text() == print_module(module, inline_limit)
        loaded = load_bir(path)
        _check_same(loaded, module, inline_limit)
        # saving what was loaded writes the same text
        path2 = Path(tmp) / "again.bir"
        save_bir(loaded, path2, inline_limit)
        assert path2.read_text() == path.read_text()


# --------------------------------------------------------------------------- targeted cases


def _single_op_module(build) -> Module:
    module = Module("m")
    function = module.add_function(Function("main", [TensorType(D.F32, (1, 4))]))
    op = function.append(build(module, function.args[0]))
    function.append(Return([op.result]))
    module.verify()
    return module


def _roundtrip_text(module: Module) -> Module:
    text = print_module(module, inline_limit=10**9)
    parsed = parse_module(text)
    assert print_module(parsed, inline_limit=10**9) == text
    assert structurally_equal(parsed, module)
    return parsed


def test_quoted_names_print_quoted():
    module = Module("a b", {"k": 'x"y'})
    for name in ("features.3.weight", "36", "a b", "file"):
        module.add_constant(name, np.zeros((80,), np.float32), D.F32)
    function = module.add_function(Function("main fn", [TensorType(D.F32, (1, 2))]))
    function.append(Return([function.args[0]], location=Location.of('Sign "3"', "a\\b")))
    text = print_module(module)
    assert 'module @"a b" attributes {k = "x\\"y"}' in text
    assert "const @features.3.weight : f32<80>" in text
    assert 'const @"36" : f32<80>' in text
    assert 'const @"a b" : f32<80>' in text
    assert 'func @"main fn"(%arg0: f32<1x2>) -> (f32<1x2>)' in text
    assert 'loc(fused["Sign \\"3\\"", "a\\\\b"])' in text
    with tempfile.TemporaryDirectory() as tmp:
        save_bir(module, Path(tmp) / "q.bir")
        assert structurally_equal(load_bir(Path(tmp) / "q.bir"), module)


def test_negative_zero_attribute_is_not_the_default():
    def build(module, x):
        symbol = module.add_constant("t", np.zeros((1, 1), np.float32), D.F32)
        return bnn.Threshold.build([x], {"out_bias": -0.0}, [symbol], const_types=[module.constants[symbol].type])

    module = _single_op_module(build)
    assert "out_bias = -0.0" in print_module(module)
    parsed = _roundtrip_text(module)
    assert math.copysign(1.0, parsed.function().ops[0].attr("out_bias")) == -1.0


def test_attributes_print_the_same_before_and_after_verify():
    module = Module()
    function = module.add_function(Function("main", [TensorType(D.PM1, (1, 2, 5, 5))]))
    symbol = module.add_constant("w", np.ones((3, 2, 3, 3), np.int8), D.PM1)
    conv = bnn.Conv.build(
        [function.args[0]], {"strides": [1, 1], "pads": [1, 1, 1, 1]}, [symbol],
        const_types=[module.constants[symbol].type],
    )
    function.append(conv)
    thr = module.add_constant("t", np.zeros((1, 1), np.float32), D.F32)
    op = bnn.Threshold.build([conv.result], {"out_scale": 2, "out_bias": -1}, [thr], const_types=[module.constants[thr].type])
    function.append(op)
    function.append(Return([op.result]))
    before = print_module(module)
    module.verify()
    assert print_module(module) == before
    assert "strides" not in before and "pads = [1, 1, 1, 1]" in before
    assert "{out_scale = 2.0, out_bias = -1.0}" in before
    assert op.result.type == TensorType(D.PM1, (1, 3, 5, 5))


@pytest.mark.parametrize("domain", list(Domain))
def test_constant_extremes_roundtrip(domain):
    rng = np.random.default_rng(0)
    module = Module()
    small = random_data(rng, domain, (3, 4))
    big = random_data(rng, domain, (9, 9))
    if domain is D.F32:
        small.reshape(-1)[:9] = [np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4028235e38, -3.4028235e38, 0.1, 1.1754944e-38]
    module.add_constant("small", small, domain)
    module.add_constant("big", big, domain)
    module.add_constant("scalar", small.reshape(-1)[:1].reshape(()), domain)
    module.add_constant("empty", small.reshape(-1)[:0].reshape((0, 3)), domain)
    module.verify()
    text = print_module(module)
    assert f"const @scalar : {domain.value}<> = dense<[" in text
    assert f"const @empty : {domain.value}<0x3> = dense<[]>" in text
    assert f"const @big : {domain.value}<9x9>\n" in text
    parsed = parse_module(text, constants=external_constants(module))
    _check_same(parsed, module, DEFAULT_INLINE_LIMIT)
    with tempfile.TemporaryDirectory() as tmp:
        save_bir(module, Path(tmp) / "c.bir")
        _check_same(load_bir(Path(tmp) / "c.bir"), module, DEFAULT_INLINE_LIMIT)


def test_structural_equality_is_not_vacuous():
    module = Module()
    function = module.add_function(Function("main", [TensorType(D.PM1, (1, 70))]))
    symbol = module.add_constant("w", np.ones((2, 70), np.int8), D.PM1)
    op = function.append(bnn.Dense.build([function.args[0]], consts=[symbol], const_types=[module.constants[symbol].type],
                                         location=Location.of("Gemm_0")))
    function.append(Return([op.result]))
    text = print_module(module)
    assert "@w : pm1<2x70>\n" in text  # external, not inline
    parsed = parse_module(text, constants=external_constants(module))
    assert structurally_equal(parsed, module)
    flipped = module.constants["w"].data.copy()  # (parse_module shares the arrays it is given)
    flipped[1, 69] = -1
    parsed.constants["w"] = Constant(module.constants["w"].type, flipped)  # data differs, text does not
    assert print_module(parsed) == text
    assert not structurally_equal(parsed, module)
    parsed.constants["w"] = Constant(module.constants["w"].type, module.constants["w"].data.copy())
    parsed.function().ops[0].location = Location.of("Gemm_1")
    assert not structurally_equal(parsed, module)


def test_npz_members_are_read_by_their_own_names(tmp_path: Path) -> None:
    """Symbols ``x`` and ``x.npy`` are the members ``x.npy`` and ``x.npy.npy``: numpy's own
    npz lookup would hand ``x``'s data to ``x.npy``."""
    module = Module("m")
    module.add_constant("x", np.arange(40, dtype=np.float32), Domain.F32)
    module.add_constant("x.npy", np.full((3, 20), 7, np.int32), Domain.I32)
    function = Function("main", [TensorType(Domain.F32, (1, 2))])
    function.append(Return([function.args[0]]))
    module.add_function(function)
    save_bir(module, tmp_path / "m.bir", inline_limit=0)
    loaded = load_bir(tmp_path / "m.bir")
    assert structurally_equal(loaded, module)
