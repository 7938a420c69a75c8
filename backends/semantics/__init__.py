"""Reference semantics: the executable definition of what every IR op computes, one module per
dialect (:mod:`.bnn`, :mod:`.xbar`, :mod:`.host`; :mod:`.core` for ``return``), each function
registered by op class in :mod:`.registry`. :mod:`bnnc.backends.interpreter` runs them.

Every compiler pass is checked against these modules, so they are written to be read: one small
function per op, taking the op and its operand arrays and returning its result arrays.
Conventions shared by every op:

- a value is a numpy array in its domain's dtype (:attr:`Domain.dtype`);
- ``f32`` arithmetic is float32, in the order the op's docstring writes it, one rounding per
  ONNX operation — that is how onnxruntime evaluates the source graph, and binary outputs
  (a sign after a batchnorm) are compared with it bit-exactly;
- integer sums (``bnn.conv``, ``bnn.dense``) are exact.

A new dialect adds a module here with its semantics beside its ops' classes::

    @implements(xbar.Mvm)
    def _mvm(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
        ...

Importing this package registers every dialect's semantics.
"""

from . import bnn, core, host, xbar  # noqa: F401  (registers each dialect's semantics)
from .registry import InterpreterError, OpSemantics, implemented_ops, implements, semantics_of

__all__ = ["InterpreterError", "OpSemantics", "implemented_ops", "implements", "semantics_of"]
