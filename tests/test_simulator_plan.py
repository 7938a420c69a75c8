"""The simulator's execution plan — made once per function, with each sensing op fused with its
tiles' reads and a sign fused with its bit-planes — follows every edit of the IR made after a
simulation: the next simulation agrees with the reference interpreter on the edited module
bit for bit (the interpreter is the definition), and the IR counts its edits
(:func:`bnnc.ir.edit_count`) where the plan's validity is decided."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.backends.interpreter import interpret_batch
from bnnc.backends.simulator import SimulatorError, simulate
from bnnc.ir import Return, edit_count
from bnnc.samples import random_arguments


def identical(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return len(got) == len(expected) and all(
        g.dtype == e.dtype and g.shape == e.shape and g.tobytes() == e.tobytes() for g, e in zip(got, expected))


def test_edits_are_counted_and_verification_is_not_an_edit(zoo_dir: Path) -> None:
    module = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32)).module
    function = module.function("main")
    before = edit_count()
    module.verify()
    simulate(module, random_arguments(function, 2, seed=1))
    assert edit_count() == before
    last = function.ops[-1]
    for edit in (lambda: function.ops.pop(), lambda: function.ops.append(last),
                 lambda: last.set_operand(0, last.operands[0]),
                 lambda: function.ops[0].attributes.update(function.ops[0].attributes)):
        count = edit_count()
        edit()
        assert edit_count() > count


def test_plan_follows_a_new_return_value(zoo_dir: Path) -> None:
    """Returning an inner comparator's bits instead of the logits: the fused steps that made the
    old result are gone, the one that makes the new result runs."""
    module = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32), scheme="xnor").module
    function = module.function("main")
    arguments = random_arguments(function, 6, seed=3)
    assert identical(simulate(module, arguments), interpret_batch(module, arguments))
    inner = next(op for op in function.ops if op.name == "xbar.compare")
    old = function.ops[-1]
    old.drop_operand_uses()
    function.ops.pop()
    function.append(Return([inner.result]))
    got = simulate(module, arguments)
    assert got[0].shape == (6,) + inner.result.type.shape
    assert identical(got, interpret_batch(module, arguments))


def test_plan_follows_operand_and_attribute_edits_of_a_fused_sign(zoo_dir: Path) -> None:
    """The sign fused with its bit-planes reads a new operand and takes a new zero policy."""
    module = bnnc.compile(zoo_dir / "qonnx_bipolar_cnn.onnx").module
    function = module.function("main")
    sign = next(op for op in function.ops if op.name == "bnn.sign")
    assert sign.attr("zero") == "pos" and sign.result.uses[0].op.name == "xbar.planes"
    arguments = random_arguments(function, 16, seed=5)
    arguments[0][::2] = 0.0  # half the samples all zeros: sign(0) decides them
    arguments[0][1::4] *= -1
    assert identical(simulate(module, arguments), interpret_batch(module, arguments))
    sign.set_operand(0, function.args[0])  # the input itself, zeros included
    direct = simulate(module, arguments)
    assert identical(direct, interpret_batch(module, arguments))
    sign.attributes["zero"] = "neg"
    flipped = simulate(module, arguments)
    assert identical(flipped, interpret_batch(module, arguments))
    assert not identical(flipped, direct)


def test_plan_follows_an_adc_too_narrow_for_its_counts(zoo_dir: Path) -> None:
    """An ADC whose range the program proved sufficient is skipped by the fused step; once its
    bits are cut, the count that no longer fits is an error, as in the interpreter."""
    module = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32), scheme="xnor").module
    function = module.function("main")
    arguments = random_arguments(function, 4, seed=7)
    assert identical(simulate(module, arguments), interpret_batch(module, arguments))
    adcs = [op for op in function.ops if op.name == "xbar.adc"]
    assert adcs
    for adc in adcs:
        adc.attributes["bits"] = 1
    with pytest.raises(Exception):
        interpret_batch(module, arguments)
    with pytest.raises(SimulatorError, match="does not fit"):
        simulate(module, arguments)


def test_nan_into_a_fused_sign_is_refused_like_the_interpreter(zoo_dir: Path) -> None:
    module = bnnc.compile(zoo_dir / "mlp_sign_w_graph.onnx").module
    function = module.function("main")
    arguments = random_arguments(function, 3, seed=9)
    arguments[0][1].flat[0] = np.nan
    with pytest.raises(Exception, match="sign of NaN"):
        interpret_batch(module, arguments)
    with pytest.raises(SimulatorError, match="sign of NaN"):
        simulate(module, arguments)


def test_making_the_plan_is_linear_in_the_tiles(monkeypatch) -> None:
    """The digits MLP at 2×2 arrays (thousands of tiles reading a few windows): making the fused
    plan walks the uses of a window (and of its port slices) once, not once per tile read
    (quadratic: minutes on FINN's TFC at 2×2)."""
    from bnnc.backends.simulator import xbar

    c = bnnc.compile(Path(__file__).parent / "models" / "digits" / "digits_bnn.onnx", array=(2, 2))
    function = c.module.function("main")
    reads = sum(op.name == "xbar.mvm" for op in function.ops)
    walked = sum(op.name in ("xbar.window", "xbar.slice") for op in function.ops)
    asked: list[int] = []
    walk = xbar._only_array_reads
    monkeypatch.setattr(xbar, "_only_array_reads", lambda value: asked.append(1) or walk(value))
    inputs = random_arguments(function, 2, seed=0)
    assert identical(simulate(c.module, inputs), interpret_batch(c.module, inputs))
    assert reads > 1000 and len(asked) <= walked, (reads, walked, len(asked))
