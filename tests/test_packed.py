"""The simulator's bit-packed integer path against plain integer arithmetic and against the
reference interpreter: the compiled AND-popcount GEMM (odd widths, several input and weight
bit-planes, row counts off its four-row blocks), packed windows in both port orders (pads
carrying pad bits, strides, channels not a multiple of 64), packed comparator outputs through
reshapes, concatenations and pooling, and every zoo model under every scheme with the packed
kernels forced on every read, and forced off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.backends.interpreter import interpret_batch
from bnnc.backends.simulator import packed, simulate, windows
from bnnc.ir import Domain, Function, Location, Module, Return, TensorType, lookup_op
from bnnc.samples import random_arguments
from tests.models.zoo import ZOO
from tests.test_simulator import SCHEMES, assert_identical, pipeline


def _bits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 2, shape).astype(np.uint8)


@pytest.mark.parametrize("rows", [1, 3, 4, 7])
@pytest.mark.parametrize("ports,planes", [(1, 1), (63, 1), (64, 2), (65, 8), (130, 3)])
def test_popcount_gemm_is_the_integer_product(rows: int, ports: int, planes: int) -> None:
    """``Σ_b ω_b · x_b @ W`` for integer weights of several bit-planes (negative ones too)."""
    rng = np.random.default_rng(ports * 10 + rows)
    x = _bits(rng, (rows, planes, ports))
    w = rng.integers(-5, 9, (ports, 6))
    omega = rng.integers(-128, 128, planes)
    how = packed.layout(ports, (1, 1))
    weights = packed.pack_weights(w.astype(np.float64), ports, 0, how)
    assert weights is not None and (ports == 1 or weights.planes.shape[0] > 1)
    out = weights(np.ascontiguousarray(packed._words(x, how.words)), omega.astype(np.int64), np.int64)
    expected = sum(int(omega[b]) * (x[:, b].astype(np.int64) @ w) for b in range(planes))
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("levels", [1, 2])
def test_packed_comparison_is_the_comparators_on_the_sums(levels: int) -> None:
    """Rows ``n · P + p`` (7 samples × 3 positions: not a multiple of four rows), 70 columns
    (two words), per-position offsets (folded into the thresholds) and thresholds: ``[v ≥ T0]``,
    or ``[v ≥ T1]`` and ``[v < T0]``."""
    rng = np.random.default_rng(levels)
    samples, positions, ports, columns = 7, 3, 100, 70
    x = _bits(rng, (samples * positions, 2, ports))
    w = rng.choice([-1, 1], (ports, columns))
    omega = np.array([1, -1], np.int64)
    how = packed.layout(ports, (1, 1))
    weights = packed.pack_weights(w.astype(np.float64), ports, 0, how)
    offset = rng.integers(-5, 6, (positions, columns))
    t = np.sort(rng.integers(-12, 13, (positions, columns, levels)), axis=-1)
    words = weights.compare(np.ascontiguousarray(packed._words(x, how.words)), omega,
                            np.ascontiguousarray((t - offset[..., None]).transpose(2, 0, 1)), samples)
    v = (x[:, 0].astype(np.int64) @ w - x[:, 1].astype(np.int64) @ w).reshape(samples, positions, columns) + offset
    fired = [v >= t[..., 0]] if levels == 1 else [v >= t[..., 1], v < t[..., 0]]
    got = packed.PackedBits(words, (samples, levels, 1, columns, positions)).channel_last()
    assert np.array_equal(got, np.stack(fired, axis=1).astype(np.uint8))


def test_weight_columns_are_split_by_their_steps_gcd() -> None:
    """Each column's least weight and the gcd of its steps, by hand: a multiple of a power of two
    held in the column (6 = 2·3 is not one: the reduction), ±1 (2), no steps (1), coprime steps
    (1); the planes hold the steps over the gcd, 5 at most: three planes."""
    w = np.array([[0, -1, 7, 4, 0, 3], [6, 1, 7, 10, 2, 5], [12, 1, 7, 4, 4, 8], [6, -1, 7, 4, 6, 3]])
    how = packed.layout(4, (1, 1))
    weights = packed.pack_weights(w.astype(np.float64), 4, 0, how)
    assert weights is not None
    assert weights.lo.tolist() == [0, -1, 7, 4, 0, 3] and weights.scale.tolist() == [6, 2, 1, 6, 2, 1]
    bits = (weights.planes[:, 0, None, :] >> np.arange(4, dtype=np.uint64)[None, :, None]) & np.uint64(1)  # [T, K, M]
    assert weights.planes.shape[0] == 3
    steps = (bits.astype(np.int64) << np.arange(3)[:, None, None]).sum(axis=0)
    assert np.array_equal(steps, [[0, 0, 0, 0, 0, 0], [1, 1, 0, 1, 1, 2], [2, 1, 0, 0, 2, 5], [1, 0, 0, 0, 3, 0]])


def test_weights_beyond_the_kernel_stay_with_the_byte_gemm() -> None:
    how = packed.layout(4, (1, 1))
    assert packed.pack_weights(np.array([[0.5], [1], [0], [1]]), 4, 0, how) is None
    assert packed.pack_weights(np.array([[0], [1 << 9], [0], [1]], np.float64), 4, 0, how) is None


def _window_op(channels: int, kernel: tuple[int, int], pads: tuple[int, ...], strides: tuple[int, int],
               pad_bits: tuple[int, ...] | None, planes: int, size: tuple[int, int]):
    """An ``xbar.window`` over ``planes`` planes of a ``channels × size`` image."""
    func = Function("main", [TensorType(Domain.BIT, (planes, 1, channels) + size)])
    attrs = {"kernel": kernel, "pads": pads, "strides": strides}
    if pad_bits is not None:
        attrs["pad_bits"] = pad_bits
    return func.append(lookup_op("xbar.window").build(func.args, attrs, [], Location.of("Window_0"), []))


@pytest.mark.parametrize("channels", [3, 64, 65, 130])
@pytest.mark.parametrize("kernel,pads,strides,pad_bits", [
    ((3, 3), (1, 1, 1, 1), (1, 1), None),
    ((3, 3), (1, 1, 1, 1), (1, 1), (1, 0)),
    ((3, 2), (2, 0, 1, 2), (2, 1), (0, 1)),
    ((1, 1), (0, 0, 0, 0), (1, 1), None),
])
def test_packed_windows_give_the_ports_products(channels: int, kernel, pads, strides, pad_bits) -> None:
    """Both port orders, from bytes and from packed bits, give ``ports @ W`` of the byte im2col
    (each plane's pads carrying its pad bit)."""
    rng = np.random.default_rng(channels)
    op = _window_op(channels, kernel, pads, strides, pad_bits, 2, (5, 6))
    planes = _bits(rng, (3, 2, channels, 5, 6))
    ports = windows.plane_ports(planes, op)  # [N, B, P, K]
    k = ports.shape[-1]
    w = rng.choice([-1, 1], (k, 7))
    expected = np.stack([ports[:, b].astype(np.int64) @ w for b in range(2)], axis=1)  # [N, B, P, M]
    image = packed.PackedBits.of(planes.transpose(0, 1, 3, 4, 2).reshape(3, 2, 30, channels), (3, 2, 1, channels, 5, 6))
    assert np.array_equal(image.resolve()[:, :, 0], planes)
    layouts = {packed.layout(channels, kernel).order, "ports"}
    for order in layouts:
        how = packed.layout(channels, kernel) if order != "ports" else packed.Layout("ports", -(-k // 64), np.arange(k))
        weights = packed.pack_weights(w.astype(np.float64), k, 0, how)
        for source in (planes, image):
            if how.order == "ports" and not isinstance(source, np.ndarray):
                continue
            x = packed.packed_ports(source, op, how)  # [N·P, B, Kw]
            for b in range(2):
                got = weights(np.ascontiguousarray(x[:, b : b + 1]), np.ones(1, np.int64), np.int64)
                assert np.array_equal(got.reshape(3, -1, 7), expected[:, b]), (order, type(source))


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("parts", [(127, 127, 2), (64, 64, 5), (1,), (3, 70, 61, 130)])
def test_packed_bits_concatenate_along_channels(parts: tuple[int, ...], compiled: bool, monkeypatch) -> None:
    """Whole words, or parts at any bit offset (unpacked and packed again, or ORed in shifted
    by the compiled kernel once the kernels are loaded)."""
    monkeypatch.setattr(packed, "_loaded", compiled)
    rng = np.random.default_rng(sum(parts))
    arrays = [_bits(rng, (4, 2, 1, c, 3, 3)) for c in parts]
    values = [packed.PackedBits.of(a[:, :, 0].reshape(4, 2, c, 9).transpose(0, 1, 3, 2), a.shape)
              for a, c in zip(arrays, parts)]
    total = np.concatenate(arrays, axis=3)
    joined = packed.concat_channels(values, total.shape)
    assert np.array_equal(joined.resolve(), total)
    flat = packed.PackedBits.of(total.reshape(4, 2, -1, 9).transpose(0, 1, 3, 2), total.shape)
    assert joined.reshaped((4, 2, 1, sum(parts), 9)) is not None
    assert flat.reshaped((4, 2, 1, sum(parts) * 9)) is None  # channels would change meaning


def _pool_module(channels: int, levels: int, direction: np.ndarray, pads: tuple[int, ...]) -> Module:
    """Bits through a 2×2 (or 3×3 padded) ``xbar.pool_bits`` with mixed directions."""
    module = Module("pool")
    symbol = module.add_constant("direction", direction, Domain.PM1)
    func = module.add_function(Function("main", [TensorType(Domain.BIT, (levels, 1, channels, 6, 6))]))
    kernel = (3, 3) if any(pads) else (2, 2)
    pool = func.append(lookup_op("xbar.pool_bits").build(
        func.args, {"kernel": kernel, "strides": (2, 2), "pads": pads}, [symbol], Location.of("MaxPool_0"),
        [module.constants[symbol].type]))
    func.append(Return([pool.result]))
    module.verify()
    return module


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1)])
@pytest.mark.parametrize("mix", ["or", "and", "mixed"])
def test_packed_pooling_is_the_interpreters(levels: int, pads: tuple[int, ...], mix: str, compiled: bool,
                                            monkeypatch) -> None:
    """numpy's word operations per tap, or the compiled pass once the kernels are loaded."""
    monkeypatch.setattr(packed, "_loaded", compiled)
    rng = np.random.default_rng(levels)
    channels = 70
    direction = {"or": np.ones(channels), "and": -np.ones(channels), "mixed": rng.choice([-1, 1], channels)}[mix]
    module = _pool_module(channels, levels, direction.astype(np.int64), pads)
    op = module.function("main").ops[0]
    x = _bits(rng, (5, levels, 1, channels, 6, 6))
    bits = packed.PackedBits.of(x[:, :, 0].reshape(5, levels, channels, 36).transpose(0, 1, 3, 2), x.shape)
    out = packed.pool_words(bits, op, direction > 0, (5,) + op.result.type.shape)
    assert_identical([out.resolve()], interpret_batch(module, [x]))


def _compile(zoo_dir: Path, name: str, scheme: str, rows: int | None):
    return bnnc.compile(zoo_dir / f"{name}.onnx", pipeline=pipeline(scheme, rows))


@pytest.mark.parametrize("advantage", [10**9, 0], ids=["packed-everywhere", "bytes-everywhere"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_zoo_model_with_the_packed_kernels_forced_on_and_off(zoo_dir: Path, scheme: str, advantage: int,
                                                                   monkeypatch) -> None:
    """Every read packed (bit-serial 8-bit inputs included) or none: the interpreter's results,
    tiled (row tiles summed in one packed GEMM) and untiled."""
    monkeypatch.setattr(packed, "POPCOUNT_ADVANTAGE", advantage)
    monkeypatch.setattr(packed, "PACKED_MIN_MACS", 0)
    calls = []  # the input planes of every packed GEMM (sums, or comparisons on them)
    for method in ("__call__", "compare"):
        original = getattr(packed.PackedWeights, method)
        monkeypatch.setattr(packed.PackedWeights, method,
                            lambda self, x, *rest, original=original: calls.append(x.shape[1]) or original(self, x, *rest))
    for name in sorted(ZOO):
        for rows in (32, None):
            try:
                compilation = _compile(zoo_dir, name, scheme, rows)
            except bnnc.BnncError:
                continue  # a model this scheme cannot map (refcol and zero weights)
            arguments = random_arguments(compilation.module.function("main"), 5, seed=23)
            assert_identical(simulate(compilation.module, arguments), interpret_batch(compilation.module, arguments))
    assert (max(calls) == 8) if advantage else not calls
