"""``--export-spice``: a compilation's arrays as ngspice netlists in a directory, written as a
whole (:func:`export_spice`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
import numpy as np

from bnnc.backends.hardware import DeviceConfig, HardwareConfig
from bnnc.backends.simulator import DeviceModel
from bnnc.backends.simulator.chips import ChipSampler
from bnnc.backends.simulator.spice_export import spice_netlists
from bnnc.ir import BnncError, Module
from bnnc.ir.atomic import replace_directory_atomically

from .program import random_inputs, run_program
from .robustness import hardware_device

__all__ = ["DeviceModel", "check_spice_options", "chip_device", "export_spice"]

SPICE_SUFFIXES = (".cir", ".expected.json")
"""What an export writes: an earlier export's files with these endings are dropped on a
rerun; anything else in the directory is the user's and is kept."""


def chip_device(module: Module, hw: HardwareConfig, config: DeviceConfig, seed: int = 0,
                faults: Mapping[str, np.ndarray] | None = None) -> DeviceModel:
    """Chip 0 (of seed ``seed``) of the ``[device]`` configuration ``config`` as a device model
    of ``module``'s arrays on ``hw``'s cells: its variation, stuck cells (``faults``, a fault
    map as :func:`~bnnc.backends.simulator.chips.read_fault_map` reads it, where given) and
    wire resistance — the cells an exported netlist holds."""
    return ChipSampler(module, config, hardware_device(hw), seed, faults).chip(0).device()


def check_spice_options(out_dir: str | Path, arrays: int | None, wire_ohm: float | None) -> None:
    """Refuse, before any work, an export directory that is a file, a count of arrays below 1
    or a wire resistance that is negative or not finite."""
    if arrays is not None and (isinstance(arrays, bool) or not isinstance(arrays, int) or arrays < 1):
        raise BnncError(f"--spice-arrays takes a whole number of arrays >= 1, got {arrays!r}")
    if wire_ohm is not None and not (isinstance(wire_ohm, int | float) and np.isfinite(wire_ohm) and wire_ohm >= 0):
        raise BnncError(f"--wire-ohm takes a finite resistance >= 0 ohms per wire segment, got {wire_ohm!r}")
    target = Path(out_dir)
    if str(out_dir) in ("", ".") or (target.exists() and not target.is_dir()):
        raise BnncError(f"--export-spice {out_dir}: needs a directory of its own (its netlists are replaced as a whole)")


def export_spice(module: Module, hw: HardwareConfig, out_dir: str | Path, inputs: Mapping[str, np.ndarray] | None = None,
                 device: DeviceModel | None = None, arrays: int | None = None) -> list[str]:
    """Replace the netlists in ``out_dir`` by those of the arrays of the compiled ``module``
    (see :meth:`bnnc.api.Compilation.export_spice`; ``device`` defaults to ``hw``'s cells);
    returns the file names written, sorted."""
    device = device or hardware_device(hw)
    check_spice_options(out_dir, arrays, device.wire_ohm)
    target = Path(out_dir)
    samples = random_inputs(module, 1) if inputs is None else inputs
    files: dict[str, bytes] = {}

    def netlists(module, stacked):  # run_program's input checks and stacking, then the export
        files.update(spice_netlists(module, stacked, device, arrays))
        return []

    run_program(module, samples, netlists)
    earlier = frozenset(n for n in (os.listdir(target) if target.is_dir() else ()) if n.endswith(SPICE_SUFFIXES))
    replace_directory_atomically(target, files, earlier)
    return sorted(files)
