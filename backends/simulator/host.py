"""The ``host.onnx`` kernel: a partition run by onnxruntime once per batch where its graph takes
a symbolic batch axis (checked against per-sample runs), otherwise sample by sample with the
reference semantics."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from bnnc.ir import Module, Operation

from ..onnx_session import reference_session
from ..semantics import semantics_of
from ..semantics.core import exact_cast, to_domain
from ..semantics.host import ONNX_TYPES, session_for
from .driver import Run, kernel


class _HostPartition:
    """A ``host.onnx`` model run on a whole batch where possible: a copy of the model whose
    graph inputs and outputs have a symbolic batch axis instead of the fixed 1, used for a
    batch size once its results equal per-sample runs bit for bit on up to :attr:`PROBES`
    samples spread over the batch (first and last included); otherwise (or when anything
    fails) the interpreter's per-sample run. Made for one version of the model constant
    (:attr:`bnnc.ir.Constant.version`)."""

    PROBES = 8

    def __init__(self, data: np.ndarray, version: int):
        self.data = data
        self.version = version
        self.session: Any = None
        self.usable: bool | None = None  # None: not tried yet
        self.verified: set[int] = set()

    def run(self, op: Operation, args: list[np.ndarray], samples: int) -> list[np.ndarray]:
        if samples == 1 or not self._batchable(op):
            return self._per_sample(op, args, samples)
        try:
            outputs = self._batched(op, args, samples)
        except Exception:
            self.usable = False
            return self._per_sample(op, args, samples)
        if samples not in self.verified:
            probes = np.unique(np.linspace(0, samples - 1, min(samples, self.PROBES)).round().astype(int))
            expected = self._per_sample(op, [a[probes] for a in args], len(probes))
            if not all(o[probes].dtype == e.dtype and o[probes].tobytes() == e.tobytes() for o, e in zip(outputs, expected)):
                self.usable = False
                return self._per_sample(op, args, samples)
            self.verified.add(samples)
        return outputs

    @staticmethod
    def _per_sample(op: Operation, args: list[np.ndarray], samples: int) -> list[np.ndarray]:
        semantics = semantics_of(op.name)
        runs = [semantics(op, [a[s, ...] for a in args]) for s in range(samples)]  # [s, ...]: a 0-d sample stays an array
        return [np.stack(outs) for outs in zip(*runs)]

    def _batchable(self, op: Operation) -> bool:
        if self.usable is None:
            self.usable = False
            types = [v.type for v in op.operands] + [v.type for v in op.results]
            if all(t.rank >= 1 and t.shape[0] == 1 for t in types):
                self.session = _symbolic_batch_session(self.data)
                self.usable = self.session is not None
        return self.usable

    def _batched(self, op: Operation, args: list[np.ndarray], samples: int) -> list[np.ndarray]:
        specs = self.session.get_inputs()
        if len(specs) != len(args) or len(self.session.get_outputs()) != len(op.results):
            raise ValueError("operand/result counts differ from the model's")
        feeds = {}
        for spec, array, value in zip(specs, args, op.operands):
            converted, exact = exact_cast(array, ONNX_TYPES[spec.type])
            if not exact.all():
                raise ValueError(f"operand does not convert exactly to {spec.type}")
            feeds[spec.name] = converted.reshape((samples,) + value.type.shape[1:])
        outputs = self.session.run(None, feeds)
        return [to_domain(np.asarray(out).reshape((samples,) + r.type.shape), r.type.domain)
                for out, r in zip(outputs, op.results)]


def _symbolic_batch_session(data: np.ndarray) -> Any:
    """An onnxruntime session (as the interpreter's: no optimizations, one thread) on the model
    with a symbolic first axis on every graph input and output that had a fixed 1; None where a
    graph input or output has no such axis or the model no longer checks (onnx shape inference,
    strict)."""
    import onnx

    try:
        model = onnx.load_from_string(data.tobytes())
        for info in list(model.graph.input) + list(model.graph.output):
            dims = info.type.tensor_type.shape.dim
            if not dims:
                return None
            if dims[0].HasField("dim_value") and dims[0].dim_value == 1:
                dims[0].dim_param = "bnnc_samples"
            elif not dims[0].HasField("dim_param"):
                return None
        del model.graph.value_info[:]
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        return reference_session(model.SerializeToString(), log_severity=4)  # a failed batched run falls back quietly
    except Exception:
        return None


_HOSTS: weakref.WeakKeyDictionary[Module, dict[str, _HostPartition]] = weakref.WeakKeyDictionary()


@kernel("host.onnx")
def _host(run: Run, op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """The partition through onnxruntime, once per batch where the model allows it."""
    module, symbol = op.module, op.const("model")
    constant = module.constant(symbol)
    per_module = _HOSTS.setdefault(module, {})
    partition = per_module.get(symbol)
    if partition is None or partition.version != constant.version:
        partition = per_module[symbol] = _HostPartition(constant.data, constant.version)
    session_for(op)  # the interpreter's per-sample session, created (and its errors raised) once
    return partition.run(op, args, run.samples)
