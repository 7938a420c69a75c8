"""What the simulator derives from constants (float32 cells, GEMM weights of fused sensing,
per-position thresholds) follows every replacement of a constant: random bit flips injected
into the conductance constants of compiled zoo models, one after another, each replaced array
freed (so that Python may reuse its ``id()``), and after each injection the simulator agrees
with the reference interpreter bit for bit. A constant is replaced in each of the ways the IR
allows: a new :class:`Constant` under its symbol, new data assigned to it, or its ops
re-pointed to a new symbol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.backends.interpreter import interpret_batch
from bnnc.backends.simulator import simulate
from bnnc.ir import Constant, Domain, Module, constant_edit_count
from bnnc.samples import random_arguments

INJECTIONS = 60
SAMPLES = 8
CASES = [("cnn_pad1_stride1", "xnor", 32), ("cnn_pad1_stride1", "refcol", 128), ("cnn_pad0_stride1", "diff", 64),
         ("mlp_gemm_prebinarized", "refcol", 32), ("uint8_input_cnn", "xnor", 64)]
"""Row tiles with ADCs and accumulations, untiled fused comparators, every scheme, plain
(not windowed) array reads, eight-bit input planes."""


def identical(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    """Same dtypes, shapes and bytes."""
    return len(got) == len(expected) and all(
        g.dtype == e.dtype and g.shape == e.shape and g.tobytes() == e.tobytes() for g, e in zip(got, expected))


def conductance_symbols(module: Module) -> list[str]:
    return sorted({op.const("conductance") for op in module.function("main").ops if op.name == "xbar.mvm"})


def inject(module: Module, symbol: str, cells: np.ndarray, how: int) -> str:
    """Replace the cells of constant ``symbol`` by ``cells`` in way number ``how`` (mod 3); returns
    the symbol now holding them."""
    constant = module.constants[symbol]
    how %= 3
    if how == 0:
        module.constants[symbol] = Constant(constant.type, cells)
    elif how == 1:
        constant.data = cells
    else:
        new = module.add_constant(symbol, cells, constant.type.domain)
        for op in module.function("main").ops:
            op.consts = [new if s == symbol else s for s in op.consts]
        del module.constants[symbol]
        return new
    return symbol


def flipped(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``cells`` with a random 5 % of them (at least one) switched on↔off."""
    flips = rng.random(cells.shape) < 0.05
    flips.flat[rng.integers(cells.size)] = True
    return np.where(flips, 1 - cells, cells).astype(cells.dtype)


@pytest.mark.parametrize("name,scheme,rows", CASES)
def test_replaced_conductance_constants_are_simulated_like_the_interpreter(zoo_dir: Path, name: str, scheme: str,
                                                                            rows: int) -> None:
    module = bnnc.compile(zoo_dir / f"{name}.onnx", array=(rows, rows), scheme=scheme).module
    arguments = random_arguments(module.function("main"), SAMPLES, seed=31)
    symbols = conductance_symbols(module)
    rng = np.random.default_rng(7)
    assert identical(simulate(module, arguments), interpret_batch(module, arguments))
    disagreeing = []
    for injection in range(INJECTIONS):
        index = rng.integers(len(symbols))
        symbols[index] = inject(module, symbols[index], flipped(module.constants[symbols[index]].data, rng), injection)
        # the replaced array is freed here
        if not identical(simulate(module, arguments), interpret_batch(module, arguments)):
            disagreeing.append(injection)
    assert not disagreeing, f"{len(disagreeing)} of {INJECTIONS} injections disagree with the interpreter: {disagreeing}"


def test_every_assignment_of_a_constants_data_takes_a_new_version() -> None:
    module = Module()
    symbol = module.add_constant("cells", np.array([[1, 0], [0, 1]]), Domain.BIT)
    constant = module.constants[symbol]
    seen = [constant.version]
    module.replace_constant(symbol, np.array([[0, 1], [1, 0]]))
    assert module.constants[symbol] is constant and constant.data.dtype == np.uint8
    assert constant.data.tolist() == [[0, 1], [1, 0]]
    seen.append(constant.version)
    constant.data = np.array([[1, 1], [1, 1]], np.uint8)
    seen.append(constant.version)
    seen.append(Constant(constant.type, constant.data).version)  # same array, another constant
    assert len(set(seen)) == len(seen)
    with pytest.raises(ValueError, match=r"constant @cells is bit<2x2>, the new data has shape \(3,\)"):
        module.replace_constant(symbol, np.ones(3))



def test_every_change_of_what_constant_operands_refer_to_is_counted(zoo_dir: Path) -> None:
    module = bnnc.compile(zoo_dir / "mlp_gemm_prebinarized.onnx", array=(32, 32), scheme="refcol").module
    mvm = next(op for op in module.function("main").ops if op.name == "xbar.mvm")
    symbol = mvm.const("conductance")
    cells = module.constants[symbol].data
    changes = [
        lambda: module.replace_constant(symbol, 1 - cells),
        lambda: setattr(module.constants[symbol], "data", cells),
        lambda: module.constants.__setitem__("copy", module.constants[symbol]),
        lambda: mvm.consts.__setitem__(0, "copy"),
        lambda: setattr(mvm, "consts", [symbol]),
        lambda: module.constants.pop("copy"),
        lambda: setattr(module, "constants", dict(module.constants)),
        lambda: module.add_function(module.functions.pop()),
    ]
    for index, change in enumerate(changes):
        before = constant_edit_count()
        change()
        assert constant_edit_count() > before, f"change {index} is not counted"
    before = constant_edit_count()
    module.verify()
    simulate(module, random_arguments(module.function("main"), 2, seed=1))
    assert constant_edit_count() == before


def test_a_constant_replaced_after_a_cached_call_changes_the_result(zoo_dir: Path) -> None:
    """Cached derivations are skipped only while no constant changed: a call after a
    replacement (or after an earlier constant is put back under its symbol, which takes no new
    version) simulates the constants now in place."""
    module = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32), scheme="xnor").module
    arguments = random_arguments(module.function("main"), SAMPLES, seed=3)
    symbol = conductance_symbols(module)[0]
    original = module.constants[symbol]
    first = simulate(module, arguments)
    assert identical(simulate(module, arguments), first)
    module.constants[symbol] = Constant(original.type, 1 - original.data)
    replaced = simulate(module, arguments)
    assert identical(replaced, interpret_batch(module, arguments)) and not identical(replaced, first)
    module.constants[symbol] = original
    assert identical(simulate(module, arguments), first)


def test_a_packed_comparators_kept_route_follows_its_thresholds(zoo_dir: Path, monkeypatch) -> None:
    """A comparator that ran packed goes straight to the kernel on its next calls (its route is
    not planned again) until a constant changes: thresholds given new data after such a call
    are the ones the next call compares with, as in the interpreter."""
    from bnnc.backends.simulator import packed, xbar

    monkeypatch.setattr(packed, "PACKED_MIN_MACS", 0)
    planned = []
    monkeypatch.setattr(xbar, "packed_comparison",
                        lambda *args, original=xbar.packed_comparison: planned.append(args[0]) or original(*args))
    module = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32), scheme="xnor").module
    arguments = random_arguments(module.function("main"), SAMPLES, seed=5)
    first = simulate(module, arguments)
    assert planned and identical(first, interpret_batch(module, arguments))
    routes = len(planned)
    assert identical(simulate(module, arguments), first) and len(planned) == routes
    compare = next(op for op in module.function("main").ops if op.name == "xbar.compare" and op in planned)
    thresholds = module.constants[compare.const("thresholds")]
    thresholds.data = thresholds.data + 3
    moved = simulate(module, arguments)
    assert len(planned) > routes and identical(moved, interpret_batch(module, arguments)) and not identical(moved, first)
