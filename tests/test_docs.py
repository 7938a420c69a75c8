"""The generated references in docs/ match the code."""

from __future__ import annotations

from pathlib import Path

from bnnc.docgen import op_reference, pass_reference
from bnnc.ir import registered_ops

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_ir_reference_is_current() -> None:
    assert (DOCS / "ir-reference.md").read_text() == op_reference(), "run: python -m bnnc.docgen docs"


def test_pass_reference_is_current() -> None:
    assert (DOCS / "passes.md").read_text() == pass_reference(), "run: python -m bnnc.docgen docs"


def test_every_op_is_documented_with_semantics() -> None:
    text = op_reference()
    for name, cls in registered_ops().items():
        if name != "return":
            assert f"### `{name}`" in text
            assert cls.__doc__ and len(cls.__doc__.strip()) > 20, f"{name} needs a docstring stating its semantics"
