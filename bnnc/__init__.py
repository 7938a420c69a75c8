"""bnnc: compile binarized neural networks (ONNX) onto memristor crossbar arrays.

The Python API (:mod:`bnnc.api`): :func:`compile`, :func:`load`, :class:`Compilation`,
:func:`compare_schemes`, :func:`hardware`, :func:`sweep` (:mod:`bnnc.sweeps`); errors are :class:`BnncError` subclasses.
Packages: :mod:`bnnc.ir` (the IR), :mod:`bnnc.passes` (pass API and passes),
:mod:`bnnc.backends` (interpreter, simulator, schedule, reports), :mod:`bnnc.frontend`
(ONNX import). The API loads on first use, so ``import bnnc.ir`` stays light.

onnxruntime's telemetry (a device id under ``~/.cache/Microsoft`` and a record per session
under ``$TMPDIR``) is switched off here, before any module of the package can import
onnxruntime; an ``ORT_DISABLE_TELEMETRY`` already set in the environment is kept."""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from importlib import import_module  # noqa: E402

_API = ("compile", "load", "Compilation", "compare_schemes", "hardware", "default_pipeline", "DEFAULT_PIPELINE")
_LAZY = {"BnncError": "bnnc.errors", "GoldenMismatch": "bnnc.errors", "__version__": "bnnc.version",
         "sweep": "bnnc.sweeps", **{name: "bnnc.api" for name in _API}}

__all__ = ["BnncError", "GoldenMismatch", "__version__", "sweep", *_API]


def __getattr__(name: str) -> object:
    """Every public name loads on first use: ``import bnnc`` itself imports nothing heavy, so
    the ``bnnc`` command (:mod:`bnnc.entry`) is in control before numpy or onnx load."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bnnc' has no attribute {name!r}")
