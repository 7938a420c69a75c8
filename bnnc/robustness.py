"""Monte Carlo over chips: how a compiled program behaves on non-ideal memristors.

:func:`robustness` samples ``chips`` chip instances of the compiled module under a
``[device]`` configuration (:mod:`bnnc.backends.simulator.chips`), runs every input on each
through the simulator's analog path, and compares with the ideal program (the integer path,
which the golden check proves equal to onnxruntime):

- **agreement** per chip: the fraction of samples whose top-1 class (a single output of
  ``[N, C]`` scores, ``C > 1``, or of ``[N, 1]`` integer class indices; for any other program
  the whole output) equals the ideal program's;
- **accuracy** per chip, when labels are given: the fraction of samples whose top-1 class is
  the label;
- per layer, over every chip, sample and comparator decision: **flip_rate**, the fraction of
  comparator decisions that differ from the ideal program's, and **min_margin_lsb**, the
  smallest signed distance of an analog comparator's sensed current from its threshold
  current in LSB (one on-cell's current step ``v_read · ΔG``), positive on the ideal
  decision's side (negative: a flip; null for layers whose comparators are digital, behind
  ADCs);
- **ir_drop**: the worst column-current error of the IR-drop model in LSB, the number of
  arrays at or above 0.5 LSB and those arrays, and the largest square array that stays under
  0.5 LSB at this wire resistance (:func:`~bnnc.backends.circuit.ir_drop_summary`, from what the
  simulator's device session records where it models wire resistance);
- with ``fault_aware``, every chip again with its known stuck cells folded into its
  thresholds and its spare rows and columns used (:mod:`~bnnc.backends.simulator.fault_fold`),
  the same figures under ``"fault_aware"``.

Statistics over chips are ``{"mean", "min", "p5", "max"}`` (p5: numpy's linear 5th
percentile). Chips run one after another, each on every sample at once: a chip whose device
is integer-representable (stuck cells, comparator offsets, fault-aware folding and spares
only) runs exactly on the integer path's kernels with its own cells
(:mod:`~bnnc.backends.simulator.integer_chips`, which gives the analog path's results), any
other on the analog path (batched float32 GEMMs); ``seconds_per_chip_sample`` is the wall time of the chip runs divided by chips × samples, and
``ideal_seconds_per_sample`` that of the ideal run per sample. Nothing here changes the
compiled program or the golden check's outcome.
"""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bnnc.backends.circuit import ir_drop_summary
from bnnc.backends.hardware import DeviceConfig, HardwareConfig, HardwareConfigError, default_hardware, load_hardware
from bnnc.backends.simulator import DeviceModel, simulate
from bnnc.backends.simulator.caches import structural, thresholds_per_position
from bnnc.backends.simulator.chips import Chip, ChipSampler, DeviceInputError
from bnnc.backends.simulator.deferred import PendingReads
from bnnc.backends.simulator.device import ColumnCurrents, DeviceSession, analog_margins
from bnnc.backends.simulator.fault_fold import stuck_cell_shifts
from bnnc.backends.simulator.integer_chips import array_macs, chip_cells, chip_margins
from bnnc.backends.simulator.packed import PackedBits
from bnnc.ir import Module, Operation
from bnnc.ir.analysis import crossbar_layers
from bnnc.ir.schemes import plane_weights

from .program import run_program

Stats = dict[str, float]


def device_config(device: DeviceConfig | str | Path | Mapping[str, Any] | None, hw: HardwareConfig) -> DeviceConfig:
    """The ``[device]`` configuration ``device`` stands for: a :class:`DeviceConfig`; a TOML
    file holding a ``[device]`` table (only that table); ``{key: value}`` of device keys
    (``"stuck_lrs"`` or ``"device.stuck_lrs"``); or None, the hardware's own ``[device]``."""
    if device is None:
        return hw.device
    if isinstance(device, DeviceConfig):
        return device
    if isinstance(device, Mapping):
        values = {k if k.startswith("device.") else f"device.{k}": v for k, v in device.items()}
        return default_hardware().with_values(values, origin="device").device
    loaded = load_hardware(device)
    other = [key for key, _ in loaded.origins if not key.startswith("device.")]
    if other:
        table, _, name = other[0].partition(".")
        raise HardwareConfigError(f"{device}: [{table}] {name}: a device file holds only the [device] table; "
                                  "give the other hardware figures with --hw", path=str(device), key=other[0])
    return loaded.device


def hardware_device(hw: HardwareConfig) -> DeviceModel:
    """The ideal device model of the hardware ``hw``: its cells' conductances and read voltage."""
    return DeviceModel(g_on=hw.cell.g_on_s, g_off=hw.cell.g_off_s, v_read=hw.read.voltage_v)


def device_json(config: DeviceConfig) -> dict[str, dict[str, Any]]:
    """Every device key with its value, unit and source (as ``report.json``'s hardware lists them)."""
    parameters = HardwareConfig(device=config).to_json()["parameters"]["device"]
    return {key: {k: v for k, v in entry.items() if k in ("value", "unit", "source")} for key, entry in parameters.items()}


def sweep_values(text: str) -> tuple[str, list[float]]:
    """``KEY=v1,v2,...`` (``--device-sweep``) as the device key and its values."""
    key, sep, values = text.partition("=")
    key = key.strip().removeprefix("device.")
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if not sep or not key or not numbers:
        raise DeviceInputError(f"--device-sweep takes KEY=v1,v2,... with a [device] key, e.g. stuck_lrs=0,0.01,0.1; got '{text}'")
    if f"device.{key}" not in HardwareConfig.keys():
        keys = ", ".join(k.removeprefix("device.") for k in HardwareConfig.keys() if k.startswith("device."))
        raise DeviceInputError(f"--device-sweep: '{key}' is not a [device] key; expected one of {keys}")
    return key, numbers


LABELS = "labels"
"""The key of the optional integer labels in an inputs .npz (robustness accuracy)."""


def split_labels(arrays: Mapping[str, np.ndarray], inputs: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """``arrays`` (an inputs .npz) without the labels under :data:`LABELS`, and those labels
    (None when absent, or when the model has an input of that name: then they are input data)."""
    arrays = dict(arrays)
    labels = arrays.pop(LABELS, None) if LABELS not in inputs else None
    return arrays, labels


def check_labels(labels: Any, samples: int, origin: str = "labels") -> np.ndarray:
    """``labels`` as int64 ``[samples]``; :class:`DeviceInputError` naming ``origin`` unless
    they are one integer per sample."""
    array = np.asarray(labels)
    if array.dtype.kind == "f" and np.isfinite(array).all() and np.array_equal(array, np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu" or array.shape != (samples,):
        raise DeviceInputError(f"{origin}: expected {samples} integer class labels (one per sample), got "
                               f"{array.dtype} of shape {list(array.shape)}")
    return array.astype(np.int64)


def check_chips(chips: Any) -> int:
    if isinstance(chips, bool) or not isinstance(chips, (int, np.integer)) or chips < 1:
        raise DeviceInputError(f"--chips (chips=) takes a whole number of chips >= 1, got {chips!r}")
    return int(chips)


def stats(values: Sequence[float]) -> Stats:
    """``{"mean", "min", "p5", "max"}`` of per-chip figures."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "min": float(v.min()), "p5": float(np.percentile(v, 5)), "max": float(v.max())}


@dataclass
class ChipResult:
    """One chip's figures (one row of the CSV)."""

    chip: int
    agreement: float
    accuracy: float | None
    stuck_hrs: float
    stuck_lrs: float
    seconds: float
    fault_aware_agreement: float | None = None
    fault_aware_accuracy: float | None = None
    integer_path: bool = False
    """Whether the chip ran on the exact integer path (else the analog path)."""


@dataclass
class _LayerTally:
    flips: int = 0
    decisions: int = 0
    margin: float | None = None

    def add_margin(self, value: float) -> None:
        self.margin = value if self.margin is None else min(self.margin, value)


@dataclass
class Robustness:
    """The outcome of one Monte Carlo (one device configuration): per-chip results, per-layer
    tallies, the IR-drop errors seen; :meth:`to_json` is the ``"robustness"`` entry of the
    report."""

    chips: int
    samples: int
    seed: int
    device: DeviceConfig
    rows: list[ChipResult]
    layers: dict[str, _LayerTally]
    fault_layers: dict[str, _LayerTally] | None
    ir_drop: dict[str, Any]
    seconds_per_chip_sample: float
    ideal_seconds_per_sample: float
    ideal_accuracy: float | None
    sweep: list[tuple[float, Robustness]] = field(default_factory=list)
    sweep_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = self._figures()
        out = {"chips": self.chips, "samples": self.samples, "seed": self.seed, "device": device_json(self.device), **out}
        if self.sweep_key is not None:
            out["sweep"] = {"key": self.sweep_key,
                            "points": [{"value": value, **point._figures()} for value, point in self.sweep]}
        return out

    def _figures(self) -> dict[str, Any]:
        rows = self.rows
        out: dict[str, Any] = {"agreement": stats([r.agreement for r in rows])}
        per_chip: dict[str, list[float]] = {"agreement": [r.agreement for r in rows]}
        if self.ideal_accuracy is not None:
            out["accuracy"] = stats([r.accuracy for r in rows])
            out["ideal_accuracy"] = self.ideal_accuracy
            per_chip["accuracy"] = [r.accuracy for r in rows]
        out["layers"] = _layers_json(self.layers)
        out["ir_drop"] = self.ir_drop
        if self.fault_layers is not None:
            fault: dict[str, Any] = {"agreement": stats([r.fault_aware_agreement for r in rows])}
            if self.ideal_accuracy is not None:
                fault["accuracy"] = stats([r.fault_aware_accuracy for r in rows])
            fault["layers"] = _layers_json(self.fault_layers)
            out["fault_aware"] = fault
            per_chip["fault_aware_agreement"] = [r.fault_aware_agreement for r in rows]
            if self.ideal_accuracy is not None:
                per_chip["fault_aware_accuracy"] = [r.fault_aware_accuracy for r in rows]
        out["per_chip"] = per_chip
        out["seconds_per_chip_sample"] = self.seconds_per_chip_sample
        out["ideal_seconds_per_sample"] = self.ideal_seconds_per_sample
        return out

    def csv(self) -> str:
        """One row per chip (and sweep point): chip, swept value, agreement, accuracy, stuck
        fractions, fault-aware figures, seconds."""
        header = ["chip", "sweep_key", "sweep_value", "agreement", "accuracy", "stuck_hrs_fraction",
                  "stuck_lrs_fraction", "fault_aware_agreement", "fault_aware_accuracy", "seconds"]
        out = io.StringIO()
        out.write(",".join(header) + "\n")
        points = [(None, self)] + [(value, point) for value, point in self.sweep]
        for value, point in points:
            for r in point.rows:
                cells = [r.chip, self.sweep_key if value is not None else "", "" if value is None else value,
                         r.agreement, r.accuracy, r.stuck_hrs, r.stuck_lrs, r.fault_aware_agreement,
                         r.fault_aware_accuracy, r.seconds]
                out.write(",".join("" if c is None else f"{c:.6g}" if isinstance(c, float) else str(c) for c in cells) + "\n")
        return out.getvalue()


def _layers_json(layers: Mapping[str, _LayerTally]) -> list[dict[str, Any]]:
    return [{"name": name, "flip_rate": t.flips / t.decisions if t.decisions else 0.0,
             "min_margin_lsb": t.margin} for name, t in layers.items()]


def robustness(module: Module, hw: HardwareConfig, device: DeviceConfig, chips: int, inputs: Mapping[str, np.ndarray],
               labels: np.ndarray | None = None, seed: int = 0, fault_aware: bool = False,
               fault_map: Mapping[str, np.ndarray] | None = None,
               sweep: tuple[str, Sequence[float]] | None = None, labels_name: str = "labels") -> Robustness:
    """The Monte Carlo of the module docstring on ``inputs`` (ONNX-named, samples stacked);
    ``sweep = (key, values)`` repeats it with the device key set to each value; errors about
    the labels name them ``labels_name``."""
    chips = check_chips(chips)
    base = hardware_device(hw)
    start = time.perf_counter()
    ideal_watch = _Watch(module, None, base)
    ideal = run_program(module, inputs, functools.partial(simulate, observe=ideal_watch))
    ideal_seconds = time.perf_counter() - start
    samples = len(next(iter(ideal.values())))
    top1 = _top1(ideal)
    if labels is not None:
        if top1 is None:
            raise DeviceInputError(f"{labels_name}: accuracy needs a classifier (one output of [N, C] class scores)")
        labels = check_labels(labels, samples, labels_name)
    run = functools.partial(_monte_carlo, module, base, chips, inputs, labels, seed, fault_aware, fault_map, ideal,
                            ideal_watch.decisions, ideal_seconds / samples)
    result = run(device)
    if sweep is not None:
        key, values = sweep
        result.sweep_key = key
        for value in values:
            point = HardwareConfig(device=device).with_values({f"device.{key}": value}, origin="--device-sweep").device
            result.sweep.append((value, run(point)))
    return result


def _monte_carlo(module: Module, base: DeviceModel, chips: int, inputs: Mapping[str, np.ndarray],
                 labels: np.ndarray | None, seed: int, fault_aware: bool, fault_map: Mapping[str, np.ndarray] | None,
                 ideal: dict[str, np.ndarray], decisions: dict[Operation, _Decisions], ideal_per_sample: float,
                 config: DeviceConfig) -> Robustness:
    sampler = ChipSampler(module, config, base, seed, fault_map)
    samples = len(next(iter(ideal.values())))
    ideal_top1 = _top1(ideal)
    layers: dict[str, _LayerTally] = {}
    fault_layers: dict[str, _LayerTally] | None = {} if fault_aware else None
    ir_drop: dict[Operation, float] = {}
    rows = []
    chip_seconds = 0.0
    work = chips * samples * array_macs(module) * (2 if fault_aware else 1)
    for index in range(chips):
        start = time.perf_counter()
        chip = sampler.chip(index)
        run = _chip_run(sampler, chip, work=work)
        agreement, accuracy = _run_chip(module, run, inputs, ideal, ideal_top1, labels, decisions, layers, ir_drop, base)
        chip_seconds += time.perf_counter() - start
        hrs, lrs = chip.stuck_fraction()
        row = ChipResult(index, agreement, accuracy, hrs, lrs, time.perf_counter() - start, integer_path="cells" in run)
        if fault_layers is not None:
            repaired = sampler.repaired(chip)
            run = _chip_run(sampler, repaired, stuck_cell_shifts(module, sampler, repaired), work)
            row.fault_aware_agreement, row.fault_aware_accuracy = _run_chip(
                module, run, inputs, ideal, ideal_top1, labels, decisions, fault_layers, ir_drop, base)
        rows.append(row)
    ideal_accuracy = None if labels is None else float(np.mean(ideal_top1 == labels))
    return Robustness(chips, samples, seed, config, rows, layers, fault_layers,
                      ir_drop_summary(ir_drop, config.wire_ohm, 1 / base.g_on, 1 / base.g_off),
                      chip_seconds / (chips * samples),
                      ideal_per_sample, ideal_accuracy)


def _chip_run(sampler: ChipSampler, chip: Chip, shifts: Mapping[Operation, np.ndarray] | None = None,
              work: int = 0) -> dict[str, Any]:
    """How :func:`simulate` runs ``chip`` (with threshold ``shifts``, in a Monte Carlo of
    ``work`` multiply-adds): ``{"cells": ...}``, its cells on the exact integer path where that
    gives the analog path's results (:func:`~bnnc.backends.simulator.integer_chips.chip_cells`),
    else ``{"device": ...}``, its device model on the analog path."""
    cells = chip_cells(sampler, chip, shifts, work)
    return {"cells": cells} if cells is not None else {"device": chip.device(shifts)}


def _run_chip(module: Module, run: dict[str, Any], inputs: Mapping[str, np.ndarray], ideal: dict[str, np.ndarray],
              ideal_top1: np.ndarray | None, labels: np.ndarray | None, decisions: dict[Operation, _Decisions],
              layers: dict[str, _LayerTally], ir_drop: dict[Operation, float], base: DeviceModel) -> tuple[float, float | None]:
    """One chip (run as :func:`_chip_run` says) on every sample: its agreement and accuracy;
    its flips and margins added to ``layers``, its IR-drop errors to ``ir_drop`` (worst over
    chips)."""
    watch = _Watch(module, decisions, base, layers)
    outputs = run_program(module, inputs, functools.partial(simulate, observe=watch, **run))
    for op, error in watch.ir_drop.items():
        ir_drop[op] = max(ir_drop.get(op, 0.0), error)
    top1 = _top1(outputs)
    if ideal_top1 is not None:
        agreement = float(np.mean(top1 == ideal_top1))
    else:
        same = np.ones(len(next(iter(ideal.values()))), bool)
        for name, value in ideal.items():
            same &= (outputs[name] == value).reshape(len(same), -1).all(axis=1)
        agreement = float(same.mean())
    accuracy = None if labels is None else float(np.mean(top1 == labels))
    return agreement, accuracy


def _top1(outputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The top-1 class per sample of a classifier — a single output of ``[N, C]`` scores
    (``C > 1``: its argmax) or of ``[N, 1]`` integer class indices (a TopK's) — else None."""
    if len(outputs) != 1:
        return None
    (scores,) = outputs.values()
    if scores.ndim == 2 and scores.shape[1] == 1 and scores.dtype.kind in "iu":
        return scores[:, 0].astype(np.int64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        return None
    return np.argmax(scores, axis=1)


class _Watch:
    """The simulator observer of one run: with ``decisions`` None it records every
    ``xbar.compare``'s outputs (the ideal run), otherwise it counts the decisions that differ
    from them per layer, the analog comparators' margins (in LSB of the cells of ``base``), and
    (at the end) the device session's IR-drop errors. It watches only the comparators and the
    return (:data:`watches`), so the integer path runs its fused plan under it."""

    watches = frozenset({"xbar.compare", "return"})

    def __init__(self, module: Module, decisions: dict[Operation, _Decisions] | None, base: DeviceModel,
                 layers: dict[str, _LayerTally] | None = None):
        self.record = decisions is None
        self.decisions: dict[Operation, _Decisions] = {} if decisions is None else decisions
        self.parts: dict[Operation, list[np.ndarray | PackedBits]] = {}
        self.cursor: dict[Operation, int] = {}
        self.layers = layers if layers is not None else {}
        self.names = _layer_names(module)
        self.ir_drop: dict[Operation, float] = {}
        self.lsb = base.v_read * base.delta_g

    def __call__(self, session: DeviceSession, op: Operation, args: list, outputs: list) -> None:
        if op.name == "return":
            if self.record:
                self.decisions.update({o: _Decisions(p) for o, p in self.parts.items()})
            self.ir_drop = dict(getattr(session, "ir_drop_error_lsb", {}))
            return
        if op.name != "xbar.compare":
            return
        fired = outputs[0]  # bits, or packed words
        if self.record:
            self.parts.setdefault(op, []).append(fired)
            return
        start, count = self.cursor.get(op, 0), fired.shape[0]
        self.cursor[op] = start + count
        recorded = self.decisions[op]
        tally = self.layers.setdefault(self.names.get(op, op.name), _LayerTally())
        tally.flips += recorded.flips(start, fired)
        tally.decisions += math.prod(fired.shape)
        x = args[0]
        margins = None
        if isinstance(x, ColumnCurrents) and x.currents.shape[1] == 1 and plane_weights(op.attr("encoding"))[0] > 0:
            margins = analog_margins(session, op, x, thresholds_per_position(op, "thresholds"))
        elif session.cells is not None and isinstance(x, PendingReads):
            margins = chip_margins(session.cells, op, x)
        if margins is not None:
            tally.add_margin(_min_margin(margins, recorded.bits()[start : start + count]) / self.lsb)


def _layer_names(module: Module) -> dict[Operation, str]:
    """The crossbar layer's name of every sensing op of ``module``, kept until an IR is edited."""
    return structural(module, "layer names", lambda: {op: layer.name for layer in crossbar_layers(module.function("main"))
                                                      for op in layer.sensing})


class _Decisions:
    """One ``xbar.compare``'s outputs in the ideal run over every sample, from its chunks'
    ``parts``: packed words where every part is packed (a chip's packed outputs are compared
    word by word), else bits."""

    def __init__(self, parts: list[np.ndarray | PackedBits]):
        self.words = None
        self._bits: np.ndarray | None = None
        if all(isinstance(p, PackedBits) for p in parts):
            self.words = np.concatenate([p.words for p in parts])
            self.shape = (len(self.words),) + parts[0].shape[1:]
        else:
            self._bits = np.concatenate([p if isinstance(p, np.ndarray) else p.resolve() for p in parts])

    def bits(self) -> np.ndarray:
        """Every sample's outputs as bits (uint8, the op's result shape)."""
        if self._bits is None:
            self._bits = PackedBits(self.words, self.shape).resolve()
        return self._bits

    def flips(self, start: int, fired: np.ndarray | PackedBits) -> int:
        """How many of the outputs ``fired`` of samples ``start, start + 1, ...`` differ from these."""
        if self.words is not None and isinstance(fired, PackedBits):  # bits beyond the channels are 0 in both
            return int(np.bitwise_count(fired.words ^ self.words[start : start + fired.shape[0]]).sum())
        bits = fired if isinstance(fired, np.ndarray) else fired.resolve()
        return int(np.count_nonzero(bits != self.bits()[start : start + len(bits)]))


def _min_margin(margins: list[np.ndarray], ideal: np.ndarray) -> float:
    """The smallest signed margin (amperes) of an op's analog comparators on this chunk —
    ``margins`` as :func:`~bnnc.backends.simulator.device.analog_margins` gives them —,
    positive where the chip decides as the ideal program (``ideal`` its output planes)."""
    n, levels = ideal.shape[0], ideal.shape[1]
    planes = ideal.reshape(n, levels, margins[0].shape[1], -1).astype(bool)
    if len(margins) == 1:
        signed = [np.where(planes[:, 0], margins[0], -margins[0])]
    else:  # p = [S >= limit_1], n = [S < limit_0]
        signed = [np.where(planes[:, 0], margins[1], -margins[1]), np.where(planes[:, 1], -margins[0], margins[0])]
    return float(min(s.min(initial=np.inf) for s in signed))
