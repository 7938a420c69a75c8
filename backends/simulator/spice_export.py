"""The circuit-level proof's netlists: every array of a program, as one ngspice netlist of its
first read on the first sample (:func:`spice_netlists`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from bnnc.ir import Module, Operation, Return, clone_module

from ..circuit.spice import expected_json, expected_probes, netlist
from .device import DeviceModel, DeviceSession, sensing_scheme
from .driver import simulate


def array_reads(module: Module, inputs: Sequence[np.ndarray], function: str = "main") -> list[tuple[Operation, np.ndarray]]:
    """Every ``xbar.mvm`` op of ``function`` (program order) with the ports ``[B, P, K]`` its
    reads drive on the first sample of ``inputs`` (arrays with a leading sample axis, as
    :func:`~.driver.simulate` takes them): a copy of the function that returns them is run."""
    mvms = [op for op in module.function(function).ops if op.name == "xbar.mvm"]
    if not mvms:
        return []
    probe = clone_module(module)
    body = probe.function(function)
    body.erase(body.return_op)
    body.append(Return([op.operands[0] for op in body.ops if op.name == "xbar.mvm"]))
    ports = simulate(probe, [np.asarray(x)[:1] for x in inputs], function)
    return [(op, p[0]) for op, p in zip(mvms, ports)]


def spice_netlists(module: Module, inputs: Sequence[np.ndarray], device: DeviceModel, arrays: int | None = None,
                   function: str = "main") -> dict[str, bytes]:
    """``{file name: bytes}``: per array (all, or the first ``arrays`` in program order), the
    netlist ``NAME.cir`` of its first read (plane 0, window 0) on the first sample of
    ``inputs`` — rows whose port is 1 driven at ``device.v_read``, the others at 0 V; the
    cells the device gives that array (its conductance hook: faults and variation included;
    replica 0 where a hook gives one array per replica); ``device.wire_ohm`` per segment — and
    beside it ``NAME.expected.json``, the column currents of bnnc's exact mesh model. ``NAME``
    is the array's index and its cell pattern's constant, e.g. ``003_L2.t0_1``."""
    session = DeviceSession(device)
    files: dict[str, bytes] = {}
    for index, (op, ports) in enumerate(array_reads(module, inputs, function)[:arrays]):
        scheme = sensing_scheme(op)
        ideal = op.const_type("conductance").shape
        g = np.asarray(session.conductances(op, scheme is not None and scheme.reference_column))
        g = g.reshape((-1,) + tuple(ideal))[0]
        voltages = device.v_read * ports[0, 0].astype(np.float64)
        name = f"{index:03d}_{re.sub(r'[^A-Za-z0-9._-]', '_', op.const('conductance'))}"
        title = f"bnnc array {name}: {op.location.describe() if op.location.known else op.name}, first read"
        files[f"{name}.cir"] = netlist(g, device.wire_ohm, voltages, title).encode()
        files[f"{name}.expected.json"] = expected_json(expected_probes(g, device.wire_ohm, voltages))
    return files

