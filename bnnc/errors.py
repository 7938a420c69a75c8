"""User-facing errors: a model or input bnnc cannot handle, reported as one clear line and exit
code 2 (no traceback unless ``--debug``)."""

from __future__ import annotations


class BnncError(Exception):
    """An error in the user's input (model, IR file, options) with a message that says what was
    expected and what to do. The CLI prints it and exits with :attr:`exit_code`."""

    exit_code = 2


class GoldenMismatch(BnncError):
    """The compiled program does not compute what onnxruntime computes on the source model."""

    exit_code = 3
