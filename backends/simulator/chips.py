"""Chip instances of a compiled module: what a ``[device]`` configuration
(:class:`~bnnc.backends.hardware.DeviceConfig`) makes of every physical cell and comparator of
one chip, drawn from a seed, as the hooks of a :class:`~.device.DeviceModel`.

A chip is sampled per physical array, after sign conversion and tiling: every ``xbar.mvm``
op's cell pattern ``[K, M]`` exists ``R = replicas`` times (separate cells, separate draws;
replica ``r`` reads the window positions ``p mod R = r``). Chip-static draws, per array in
order, each kind from its own stream of the chip's seed (so that a parameter at zero, whose
draws are skipped, leaves the other kinds' draws alone):

1. stuck cells: ``u ~ U(0, 1)`` per cell; stuck in the high-resistance (off) state where
   ``u < stuck_hrs``, in the low-resistance (on) state where ``stuck_hrs ≤ u < stuck_hrs +
   stuck_lrs`` (no draws where both are 0) — or taken from a fault map
   (:func:`read_fault_map`), the map a tested chip gives;
2. spares (``spare_rows``/``spare_cols`` per array): the stuck states of that many spare rows
   and columns, used only by fault-aware repair (:meth:`Chip.repaired`);
3. programming error: ``G = G0 · exp(program_sigma · ε)``, ε ~ N(0, 1) (log-normal, median
   ``G0``; drawn by :mod:`.noise`, only where ``program_sigma > 0``); a stuck cell is not
   programmed and has its state's nominal conductance (``g_off`` or ``g_on``);
4. drift: ``G · (max(t, t0) / t0)^−ν`` with ``ν ~ N(drift_nu, drift_nu_sigma²)`` per cell,
   clipped at 0 (drawn only where drift applies);

then per analog comparator of every ``xbar.compare`` op (per replica of the array it senses,
per level and output column) an input-referred offset ``N(0, comparator_offset_sigma²)``
amperes. Read noise is drawn per array read by the simulator from the chip's own generator
(:attr:`DeviceModel.read_sigma`). Chip ``i`` of seed ``s`` is ``SeedSequence(s).spawn(i +
1)[i]``, whose children ``spawn(5)`` are the streams of stuck cells, spares, programming
error, drift and comparator offsets, the chip's read-noise generator drawing from the chip's
sequence itself: the same chip whatever the number of chips run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bnnc.ir import BnncError, Module, Operation
from bnnc.ir.analysis import crossbar_layers
from bnnc.ir.parser import NPZ_ERRORS, read_npz

from ..hardware import DeviceConfig
from .device import DeviceModel, sensing_scheme

WORKS, STUCK_HRS, STUCK_LRS = 0, 1, 2
"""Codes of a fault map's cells: programmable, stuck off (high resistance), stuck on (low)."""


class DeviceInputError(BnncError):
    """A device configuration, fault map or Monte Carlo input that bnnc cannot use (exit 2)."""


def arrays_of(module: Module) -> list[Operation]:
    """The ``xbar.mvm`` ops (physical arrays, each ``replicas`` times) of ``main``, in order."""
    return [op for layer in crossbar_layers(module.function("main")) for op in layer.reads]


@dataclass
class Chip:
    """One chip: per array its stuck-cell codes ``[R, K, M]`` (what a test of the chip
    reports), its conductances ``[R, K, M]`` (siemens; drawn by ``programmed`` when first
    asked for — the exact integer path never needs them), its spares' stuck codes, and per
    comparator op its offsets ``[R, L, M]`` (amperes); ``rng`` draws its read noise."""

    index: int
    base: DeviceModel
    config: DeviceConfig
    stuck: dict[Operation, np.ndarray]
    programmed: Callable[[], dict[Operation, np.ndarray]] = field(repr=False)
    offsets: dict[Operation, np.ndarray]
    rng: np.random.Generator
    spare_rows: dict[Operation, np.ndarray] = field(default_factory=dict)
    spare_cols: dict[Operation, np.ndarray] = field(default_factory=dict)
    _conductances: dict[Operation, np.ndarray] | None = field(default=None, init=False, repr=False)

    @property
    def conductances(self) -> dict[Operation, np.ndarray]:
        """Per array the conductances ``[R, K, M]`` (siemens), drawn once (from the chip's own
        streams: the same whenever they are first asked for)."""
        if self._conductances is None:
            self._conductances = self.programmed()
        return self._conductances

    def device(self, shifts: Mapping[Operation, np.ndarray] | None = None) -> DeviceModel:
        """The chip as the simulator's device model (with threshold ``shifts`` per compare op,
        e.g. :func:`~.fault_fold.stuck_cell_shifts`)."""
        return replace(
            self.base,
            conductance=lambda op, ideal: self.conductances[op],
            comparator_offset=(lambda op: self.offsets[op]) if self.offsets else None,
            threshold_shift=(lambda op: shifts.get(op)) if shifts else None,
            read_sigma=self.config.read_sigma,
            rng=self.rng,
            wire_ohm=self.config.wire_ohm,
        )

    def stuck_fraction(self) -> tuple[float, float]:
        """The fractions of this chip's cells stuck off and stuck on."""
        cells = sum(s.size for s in self.stuck.values()) or 1
        hrs = sum(np.count_nonzero(s == STUCK_HRS) for s in self.stuck.values())
        lrs = sum(np.count_nonzero(s == STUCK_LRS) for s in self.stuck.values())
        return hrs / cells, lrs / cells


class ChipSampler:
    """Draws chips of ``module`` under ``config`` from ``seed`` (see the module docstring);
    ``fault_map`` fixes every chip's stuck cells (arrays it leaves out have none)."""

    def __init__(self, module: Module, config: DeviceConfig, base: DeviceModel, seed: int,
                 fault_map: Mapping[str, np.ndarray] | None = None):
        self.module = module
        self.config = config
        self.base = base
        self.seed = int(seed)
        self.fault_map = dict(fault_map) if fault_map is not None else None
        self.arrays = arrays_of(module)
        layers = crossbar_layers(module.function("main"))
        self.comparators = [(op, layer.reads[0].attr("replicas") if op.operands[0].producer in layer.reads else 1)
                            for layer in layers for op in layer.sensing if op.name == "xbar.compare"]
        self._ideal = {op: base.ideal_cells(op.const_array("conductance"), _has_reference(op)) for op in self.arrays}

    def ideal_cells(self, op: Operation) -> np.ndarray:
        """The ideal conductances ``[K, M]`` of array ``op``."""
        return self._ideal[op]

    def chip(self, index: int) -> Chip:
        """Chip ``index`` (deterministic in the seed and the index alone)."""
        sequence = np.random.SeedSequence(self.seed).spawn(index + 1)[index]
        stuck_rng, spare_rng, program_rng, drift_rng, offset_rng = map(np.random.default_rng, sequence.spawn(5))
        c = self.config
        stuck, spare_rows, spare_cols = {}, {}, {}
        for op in self.arrays:
            ideal = self._ideal[op]
            shape = (op.attr("replicas"),) + ideal.shape
            stuck[op] = self._stuck(op, stuck_rng, shape)
            spare_rows[op] = _stuck_codes(spare_rng, (shape[0], c.spare_rows, shape[2]), c)
            spare_cols[op] = _stuck_codes(spare_rng, (shape[0], shape[1], c.spare_cols), c)

        def programmed() -> dict[Operation, np.ndarray]:
            return {op: self.program(self._ideal[op], stuck[op], program_rng, drift_rng) for op in self.arrays}

        offsets = {}
        if c.comparator_offset_sigma > 0:
            for op, replicas in self.comparators:
                levels, columns = op.const_type("thresholds").shape[2], op.const_type("thresholds").shape[0]
                offsets[op] = c.comparator_offset_sigma * offset_rng.standard_normal((replicas, levels, columns))
        return Chip(index, self.base, c, stuck, programmed, offsets, np.random.default_rng(sequence),
                    spare_rows, spare_cols)

    def program(self, ideal: np.ndarray, stuck: np.ndarray, program_rng: np.random.Generator,
                drift_rng: np.random.Generator) -> np.ndarray:
        """Conductances ``[R, K, M]`` of cells meant to be ``ideal`` ``[K, M]`` with ``stuck``
        codes: programming error, stuck states, drift (draws 3 and 4 of the module docstring,
        from their streams)."""
        c, base = self.config, self.base
        if c.program_sigma > 0 or c.drift_nu > 0:
            from .noise import standard_normals  # compiled: loaded when a chip first draws
        if c.program_sigma > 0:  # in place: G0 · exp(σε)
            g = standard_normals(stuck.shape, program_rng)
            g *= c.program_sigma
            np.exp(g, out=g)
            g *= ideal
        else:
            g = np.array(np.broadcast_to(ideal, stuck.shape), np.float64)
        g[stuck == STUCK_HRS] = base.g_off
        g[stuck == STUCK_LRS] = base.g_on
        if drifts(c):
            nu = np.maximum(c.drift_nu + c.drift_nu_sigma * standard_normals(stuck.shape, drift_rng), 0.0)
            g *= (c.drift_t_seconds / c.drift_t0_seconds) ** -nu
        return g

    def _stuck(self, op: Operation, rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
        if self.fault_map is None:
            return _stuck_codes(rng, shape, self.config)
        given = self.fault_map.get(op.const("conductance"))
        return np.zeros(shape, np.uint8) if given is None else np.broadcast_to(given, shape).copy()

    def repaired(self, chip: Chip) -> Chip:
        """``chip`` after fault-aware repair with its spares: per array and replica, the
        columns (then the rows) with the most *wrong* stuck cells (stuck in a state whose
        conductance is not the cell's ideal one) move to the spare columns (rows) that would
        hold fewer, worst first; a spare line's cells are programmed like any cell (their own
        draws), every other cell keeps its conductance. Without spares, ``chip`` itself."""
        if not (self.config.spare_rows or self.config.spare_cols):
            return chip
        program_rng, drift_rng = map(np.random.default_rng, np.random.SeedSequence([self.seed, chip.index, 1]).spawn(2))
        stuck, moves = dict(chip.stuck), {}
        for op in self.arrays:
            ideal = self._ideal[op]
            codes = chip.stuck[op].copy()
            moved = np.zeros(codes.shape, bool)
            for r in range(codes.shape[0]):
                moved[r] |= _move_worst(codes[r], ideal, chip.spare_cols[op][r], axis=1, base=self.base)
                moved[r] |= _move_worst(codes[r], ideal, chip.spare_rows[op][r], axis=0, base=self.base)
            if moved.any():
                stuck[op] = codes
                moves[op] = moved

        def programmed() -> dict[Operation, np.ndarray]:
            conductances = dict(chip.conductances)
            for op, moved in moves.items():
                programmed = self.program(self._ideal[op], stuck[op], program_rng, drift_rng)
                conductances[op] = np.where(moved, programmed, conductances[op])
            return conductances

        return replace(chip, stuck=stuck, programmed=programmed)


def wrong_cells(codes: np.ndarray, ideal: np.ndarray, base: DeviceModel) -> np.ndarray:
    """Where stuck ``codes`` hold a cell at a conductance other than its ``ideal`` one (a
    refcol reference column's mid-conductance cell is wrong in either stuck state)."""
    return ((codes == STUCK_HRS) & (ideal != base.g_off)) | ((codes == STUCK_LRS) & (ideal != base.g_on))


def _move_worst(codes: np.ndarray, ideal: np.ndarray, spares: np.ndarray, axis: int, base: DeviceModel) -> np.ndarray:
    """Move the lines (``axis`` 1: columns, 0: rows) of ``codes`` ``[K, M]`` with the most
    wrong cells onto the spare lines ``spares`` where a spare would hold fewer, in place;
    returns the mask of the cells now on spares."""
    moved = np.zeros(codes.shape, bool)
    per_line = wrong_cells(codes, ideal, base).sum(axis=1 - axis)
    free = list(range(spares.shape[axis]))
    for line in np.argsort(-per_line, kind="stable"):
        if not free or per_line[line] == 0:
            break
        target = np.take(ideal, [line], axis=axis)
        wrong = {s: int(wrong_cells(np.take(spares, [s], axis=axis), target, base).sum()) for s in free}
        best = min(free, key=wrong.__getitem__)
        if wrong[best] < per_line[line]:
            where = (slice(None), line) if axis == 1 else (line, slice(None))
            codes[where] = spares[(slice(None), best) if axis == 1 else (best, slice(None))]
            moved[where] = True
            free.remove(best)
    return moved


def drifts(config: DeviceConfig) -> bool:
    """Whether ``config``'s cells drift (draw 4 of the module docstring applies)."""
    return config.drift_nu > 0 and config.drift_t_seconds > config.drift_t0_seconds


def _stuck_codes(rng: np.random.Generator, shape: tuple[int, ...], config: DeviceConfig) -> np.ndarray:
    """Stuck codes of ``shape`` from one uniform draw per cell: HRS below ``stuck_hrs``, LRS in
    the next ``stuck_lrs`` (no draws, every cell works, where both are 0; none where ``shape``
    holds no cell, as without spares — a draw of no numbers advances no stream, and skipping it
    saves ~1 ms of a CNV chip's 296 empty spare lines)."""
    if (config.stuck_hrs == 0 and config.stuck_lrs == 0) or 0 in shape:
        return np.zeros(shape, np.uint8)
    u = rng.random(shape, dtype=np.float32)
    assert (STUCK_HRS, STUCK_LRS) == (1, 2)  # 2·[u < hrs + lrs] − [u < hrs]: one pass fewer
    codes = (u < config.stuck_hrs + config.stuck_lrs).view(np.uint8) * np.uint8(2)
    codes -= (u < config.stuck_hrs).view(np.uint8)
    return codes


def _has_reference(op: Operation) -> bool:
    scheme = sensing_scheme(op)
    return scheme is not None and scheme.reference_column


def read_fault_map(path: str | Path, module: Module) -> dict[str, np.ndarray]:
    """A tested chip's stuck cells from an ``.npz``: one member per array, named by the array's
    conductance constant (``Gemm_0.t3_0``, as ``model.bir`` lists them), holding codes
    ``0`` (works), ``1`` (stuck off, HRS), ``2`` (stuck on, LRS), shaped like that constant
    ``[K, M]`` or ``[R, K, M]`` for its ``R`` replicas. Arrays it does not name have no stuck
    cells. Raises :class:`DeviceInputError` naming the file and member."""
    try:
        members = read_npz(path)
    except NPZ_ERRORS as e:
        raise DeviceInputError(f"{path}: cannot read the fault map ({e}); expected an .npz written by numpy.savez") from None
    return check_fault_map(members, module, str(path))


def check_fault_map(members: Mapping[str, np.ndarray], module: Module, path: str = "fault_map") -> dict[str, np.ndarray]:
    """``members`` checked as :func:`read_fault_map` checks a file's (``path`` names them in
    errors)."""
    arrays = {op.const("conductance"): op for op in arrays_of(module)}
    result = {}
    for name, codes in members.items():
        codes = np.asarray(codes)
        op = arrays.get(name)
        if op is None:
            known = ", ".join(list(arrays)[:6]) + (", ..." if len(arrays) > 6 else "")
            raise DeviceInputError(f"{path}: member '{name}' names no array of this program; expected the arrays' "
                                   f"conductance constants ({known})")
        shape = op.const_type("conductance").shape
        replicas = op.attr("replicas")
        if codes.shape not in (shape, (replicas,) + shape):
            raise DeviceInputError(f"{path}: member '{name}' has shape {list(codes.shape)}; expected {list(shape)} "
                                   f"or {[replicas, *shape]} (one code per cell)")
        if codes.dtype.kind not in "iub" or codes.size and (codes.min() < 0 or codes.max() > 2):
            raise DeviceInputError(f"{path}: member '{name}' must hold integer codes 0 (works), 1 (stuck off, HRS) "
                                   f"or 2 (stuck on, LRS)")
        result[name] = codes.astype(np.uint8)
    return result
