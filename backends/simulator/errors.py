"""The simulator's error: :class:`SimulatorError`."""

from __future__ import annotations

from bnnc.ir import Operation

from ..semantics import InterpreterError


class SimulatorError(InterpreterError):
    """A program the simulator cannot run (an op without a kernel, a bad input, an ADC overflow);
    names the op and its ONNX node(s) like :class:`InterpreterError`."""

    @classmethod
    def wrap(cls, op: Operation, error: Exception) -> SimulatorError:
        """``error`` raised while running ``op``, as a SimulatorError naming ``op``."""
        if isinstance(error, InterpreterError):
            located = cls.at(op, error.message)
            return cls(error.message, error.op_name or op.name, error.location or op.location,
                       error.source or op.source, error.model or located.model)
        return cls.at(op, f"{type(error).__name__}: {error}")
