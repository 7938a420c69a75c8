"""ngspice netlists of one array read (:func:`netlist`), the column currents bnnc's own mesh
model expects of them (:func:`expected_probes`), and the reader of what ``ngspice -b`` prints
(:func:`parse_ngspice_output`).

A netlist is the mesh of :mod:`bnnc.backends.circuit` as SPICE elements: ``Vdrv<i>`` the driver
of row ``i`` (DC V_read or 0 V), ``Rr<i>_<j>`` the row wire segment ending at cell ``(i, j)``
(``Rr<i>_0`` from the driver), ``Rc<i>_<j>`` the column wire segment leaving cell ``(i, j)``
toward the sense amplifier, ``Rg<i>_<j>`` the cell (``1/G``; a cell of conductance 0 is left
open), and ``Vsense<j>`` a 0 V source from the end of column ``j`` to ground standing for the
virtual ground, so that ngspice's ``i(vsense<j>)`` is the column current into the sense
amplifier. With ``wire_ohm = 0`` the wires are left out (every cell joins its driver's node to
its column's sense node). The ``.control`` block runs the DC operating point (``op``) and
prints each column current as ``i(vsense<j>) = VALUE`` with 12 digits, then quits."""

from __future__ import annotations

import json
import re

import numpy as np

from .errors import CircuitError
from .mesh import NodalMesh, check_cells

PRINT_DIGITS = 12


def probe_name(column: int) -> str:
    """The name ngspice prints for column ``column``'s current (it lower-cases vectors)."""
    return f"i(vsense{column})"


def netlist(g: np.ndarray, wire_ohm: float, voltages: np.ndarray, title: str) -> str:
    """The ngspice netlist of one read of an array with conductances ``g`` ``[K, M]`` (siemens),
    ``wire_ohm`` per segment and row drive voltages ``voltages`` ``[K]`` (volts); ``title`` is
    its first line (control characters are replaced)."""
    g = check_cells(g, wire_ohm)
    voltages = np.asarray(voltages, np.float64)
    rows, cols = g.shape
    if voltages.shape != (rows,) or not np.isfinite(voltages).all():
        raise CircuitError(f"a {rows}-row array needs {rows} finite drive voltages, got shape {list(voltages.shape)}")
    wire_ohm = float(wire_ohm)
    wired = wire_ohm > 0
    lines = ["* " + re.sub(r"[\x00-\x1f\x7f]", " ", title),
             f"* {rows}x{cols} crossbar read, wire {wire_ohm!r} ohm per segment (bnnc --export-spice)"]
    for i in range(rows):
        lines.append(f"Vdrv{i} d{i} 0 DC {float(voltages[i])!r}")
    for j in range(cols):
        lines.append(f"Vsense{j} s{j} 0 DC 0")
    for i in range(rows):
        for j in range(cols):
            row_node, column_node = (f"r{i}_{j}", f"c{i}_{j}") if wired else (f"d{i}", f"s{j}")
            if wired:
                lines.append(f"Rr{i}_{j} {f'd{i}' if j == 0 else f'r{i}_{j - 1}'} {row_node} {wire_ohm!r}")
                lines.append(f"Rc{i}_{j} {column_node} {f's{j}' if i == rows - 1 else f'c{i + 1}_{j}'} {wire_ohm!r}")
            if g[i, j] > 0:
                lines.append(f"Rg{i}_{j} {row_node} {column_node} {float(1.0 / g[i, j])!r}")
    lines += [".control", f"set numdgt={PRINT_DIGITS}", "op"]
    lines += [f"print {probe_name(j)}" for j in range(cols)]
    lines += ["quit", ".endc", ".end", ""]
    return "\n".join(lines)


def expected_probes(g: np.ndarray, wire_ohm: float, voltages: np.ndarray) -> dict[str, float]:
    """``{probe name: amperes}``: the column currents of the same read by bnnc's exact mesh
    model (:class:`~.mesh.NodalMesh`; the ideal ``V @ G`` where ``wire_ohm = 0``)."""
    g = check_cells(g, wire_ohm)
    v = np.asarray(voltages, np.float64)[None]
    currents = (v @ g if wire_ohm == 0 else NodalMesh(g, wire_ohm).column_currents(v))[0]
    return {probe_name(j): float(current) for j, current in enumerate(currents)}


def expected_json(probes: dict[str, float]) -> bytes:
    """The ``NAME.expected.json`` beside a netlist: ``{"probes": {name: amperes}}``."""
    return (json.dumps({"probes": probes}, indent=1, allow_nan=False) + "\n").encode()


_PRINTED = re.compile(r"^(\S+) = (\S+)$")


def parse_ngspice_output(text: str) -> dict[str, float]:
    """Every ``NAME = VALUE`` line ``ngspice -b`` printed, as ``{NAME: float}``."""
    found = {}
    for line in text.splitlines():
        match = _PRINTED.match(line.strip())
        if match:
            try:
                found[match.group(1)] = float(match.group(2))
            except ValueError:
                continue
    return found
