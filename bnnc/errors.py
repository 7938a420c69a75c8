"""User-facing errors: a model or input bnnc cannot handle, reported as one clear line and exit
code 2 (no traceback unless ``--debug``)."""

from __future__ import annotations


from bnnc.ir.diagnostics import BnncError

__all__ = ["BnncError", "GoldenMismatch"]


class GoldenMismatch(BnncError):
    """The compiled program does not compute what onnxruntime computes on the source model."""

    exit_code = 3
