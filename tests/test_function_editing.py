"""Editing a function's op list: inserting before or after any op, appending and erasing
keep exactly the order a plain list would have, in O(log n) per edit (ops carry sort keys;
tiling inserts thousands of ops at one place), and a list edited directly still works."""

from __future__ import annotations

import random

import pytest

from bnnc.ir import Function, TensorType
from bnnc.ir.dialects import bnn
from bnnc.ir.types import Domain


def _sign(function: Function) -> bnn.Sign:
    return bnn.Sign.build([function.args[0]])


@pytest.mark.parametrize("seed", range(5))
def test_edits_keep_the_order_a_list_would_have(seed: int) -> None:
    rng = random.Random(seed)
    function = Function("f", [TensorType(Domain.F32, (1, 4))])
    reference: list = []
    hot = None  # one anchor that takes thousands of inserts, as the tile pass does
    for _ in range(3000):
        choice = rng.random()
        op = _sign(function)
        if not reference or choice < 0.1:
            function.append(op)
            reference.append(op)
        elif choice < 0.7:
            hot = hot if hot in reference and rng.random() < 0.9 else rng.choice(reference)
            function.insert_before(hot, op)
            reference.insert(reference.index(hot), op)
        elif choice < 0.9:
            anchor = rng.choice(reference)
            function.insert_after(anchor, op)
            reference.insert(reference.index(anchor) + 1, op)
        else:
            victim = rng.choice(reference)
            function.erase(victim)
            reference.remove(victim)
    assert [id(op) for op in function.ops] == [id(op) for op in reference]
    assert all(a._order < b._order for a, b in zip(function.ops, function.ops[1:]))


def test_a_list_edited_directly_still_finds_its_ops() -> None:
    function = Function("f", [TensorType(Domain.F32, (1, 4))])
    first, second, third = (function.append(_sign(function)) for _ in range(3))
    function.ops[:] = [third, first, second]  # keys now out of order
    late = _sign(function)
    function.insert_before(second, late)
    assert function.ops == [third, first, late, second]
    with pytest.raises(ValueError, match="is not in function"):
        function.insert_after(_sign(function), _sign(function))
