"""bnnc: compile binarized neural networks (ONNX) onto memristor crossbar arrays.

Packages: :mod:`bnnc.ir` (the IR), :mod:`bnnc.passes` (pass API and passes),
:mod:`bnnc.backends` (interpreter, simulator, schedule, reports), :mod:`bnnc.frontend`
(ONNX import)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bnnc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
