"""Analysis of a mapped (``xbar``) program: its crossbar layers, digital blocks
(:mod:`bnnc.ir.periphery`) and host partitions, read off the IR alone — the one source of every per-layer figure that the schedule, the cost model, the
report and the ``replicate`` pass use.

A *crossbar layer* is the set of ``xbar.mvm`` array reads that carry the same layer name (the
first ONNX node of their location, see :func:`layer_name`), with the line buffer
(``xbar.window``) feeding them, the ADCs and accumulations after them and the sensing ops
(``xbar.compare`` / ``xbar.readout``, one per column tile) that end them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .core import Function, Module, Operation
from .dialects import host, xbar
from .periphery import DigitalBlock, digital_blocks, is_digital
from .schemes import SCHEMES, Scheme


def layer_name(op: Operation) -> str:
    """The name of the source layer an op belongs to: the first ONNX node of its location, or
    the op's own name where the location is unknown. Every pass and report uses this rule."""
    return op.location.names[0] if op.location.known else op.name


@dataclass(frozen=True)
class Timing:
    """The hardware figures a window's time depends on (nanoseconds)."""

    read_ns: float
    comparator_ns: float
    adc_ns: tuple[float, ...]
    """Time of one conversion of a ``b``-bit ADC at index ``b − 1``."""
    adc_share: int
    clock_ns: float
    periphery_lanes: int = 4
    """Lanes of each unit in a digital block (the default hardware's)."""
    buffer_ns: float = 0.0
    """Time of one line-buffer access of ``buffer_bits`` bits on the window's critical path (0:
    buffer reads overlap the array reads)."""
    buffer_bits: int = 64
    register_ns: float = 0.0
    """Time of one register transfer on the window's critical path (0: register transfers
    overlap the array reads); :meth:`CrossbarLayer.register_transfers` counts them."""
    transfer_ns_per_bit: float = 0.0
    """Time to move one output bit to the next layer on the window's critical path (0: the
    transfer overlaps the next window's reads)."""

    def adc_conversion_ns(self, bits: int) -> float:
        return self.adc_ns[min(bits, len(self.adc_ns)) - 1]


@dataclass
class CrossbarLayer:
    """One binary layer as the final IR maps it (see the module docstring)."""

    name: str
    reads: list[xbar.Mvm]
    window: xbar.Window | None = None
    adcs: list[xbar.Adc] = field(default_factory=list)
    sensing: list[Operation] = field(default_factory=list)

    @property
    def scheme(self) -> Scheme:
        return SCHEMES[self.sensing[0].attr("scheme")]

    @property
    def encoding(self) -> str:
        return self.sensing[0].attr("encoding")

    @property
    def planes(self) -> int:
        return self.reads[0].operands[0].type.shape[0]

    @property
    def positions(self) -> int:
        """Window positions per inference (1 for a dense layer)."""
        return self.reads[0].operands[0].type.shape[1]

    @property
    def tiles(self) -> tuple[int, int]:
        """Row tiles × column tiles."""
        tiles = [m.attr("tile") for m in self.reads]
        return 1 + max(t[0] for t in tiles), 1 + max(t[1] for t in tiles)

    @property
    def replicas(self) -> int:
        return self.reads[0].attr("replicas")

    @property
    def array(self) -> tuple[int, int]:
        """``(rows, cols)`` of the physical arrays (an untiled layer: its whole pattern)."""
        rows, cols = self.reads[0].attr("array")
        if (rows, cols) == (0, 0):
            return self.reads[0].const_type("conductance").shape
        return rows, cols

    @property
    def arrays(self) -> int:
        return len(self.reads) * self.replicas

    @property
    def sensing_kind(self) -> str:
        """``comparator`` where each column's 1-bit comparator senses one analog read, ``adc``
        where reads are digitized (row tiles or planes summed digitally, or a readout)."""
        return "adc" if self.adcs else "comparator"

    @property
    def readout(self) -> str:
        """``comparator`` if the layer ends in comparators (its bits feed the next layer),
        ``adc`` if its exact integer sums are read out."""
        return "comparator" if isinstance(self.sensing[0], xbar.Compare) else "adc"

    @property
    def adc_bits(self) -> int:
        return max((a.attr("bits") for a in self.adcs), default=0)

    @property
    def columns(self) -> int:
        """Physical columns of the widest array read."""
        return max(m.result.type.shape[2] for m in self.reads)

    @property
    def input_bits(self) -> int:
        """Bits of the layer input the line buffer takes in per inference (all planes)."""
        ports = self.reads[0].operands[0]
        source = ports.producer
        while source is not None and source.name == "xbar.slice":
            source = source.operands[0].producer
        value = source.operands[0] if source is not None and source.name == "xbar.window" else ports
        return math.prod(value.type.shape)

    @property
    def port_bits(self) -> int:
        """Port bits driven per window: all planes and row tiles of one column tile."""
        first_column = [op for op in self.reads if op.attr("tile")[1] == 0]
        return sum(op.operands[0].type.shape[0] * op.operands[0].type.shape[2] for op in first_column)

    @property
    def fan_in(self) -> int:
        """Weights per output (``C·kh·kw``)."""
        ports = self.window.result.type.shape[2] if self.window is not None else self.reads[0].operands[0].type.shape[2]
        return ports // 2 if self.scheme.complement_ports else ports

    @property
    def outputs(self) -> int:
        """Output channels (logical columns)."""
        return sum(s.const_type(s.const_defs[0].name).shape[0] for s in self.sensing)

    @property
    def accumulator_bits(self) -> int:
        """Bits of the exact integer sum of one output over all row tiles and planes (signed:
        ``ceil(log2(2 · fan_in · 2^(planes − 1) + 1)) + 1``)."""
        if not self.fan_in:
            return 1
        return max(1, math.ceil(math.log2(2 * self.fan_in * max(1, 2 ** (self.planes - 1)) + 1)) + 1)

    @property
    def output_bits(self) -> int:
        """Bits of one window's results: a bit per output and comparator level, or an
        :attr:`accumulator_bits` sum per output read out."""
        return self.outputs * (self.comparator_levels if self.readout == "comparator" else self.accumulator_bits)

    @property
    def threshold_classes(self) -> int:
        return self.sensing[0].const_type(self.sensing[0].const_defs[0].name).shape[1]

    @property
    def comparator_levels(self) -> int:
        """Comparators per output (2 for an exact ternary output); 0 for a readout."""
        return self.sensing[0].const_type("thresholds").shape[2] if self.readout == "comparator" else 0

    @property
    def cells_used(self) -> int:
        return sum(math.prod(m.const_type("conductance").shape) for m in self.reads) * self.replicas

    @property
    def cells_allocated(self) -> int:
        return self.arrays * math.prod(self.array)

    @property
    def reference_columns(self) -> int:
        return self.arrays if self.scheme.reference_column else 0

    def channels(self, fact: str) -> list[int]:
        """The layer's output channels listed in a fusion-fact attribute of its comparators
        (``ties``, ``negated``, ``constant``, ``float_margin``; see ``bnn.FUSION_FACTS``)."""
        found: list[int] = []
        first = 0
        for s in self.sensing:
            if fact in s.attributes:
                found.extend(first + c for c in s.attr(fact))
            first += s.const_type(s.const_defs[0].name).shape[0]
        return found

    @property
    def spatial(self) -> tuple[int, int]:
        """Output rows and columns (1×1 for a dense layer)."""
        sensing = self.sensing[0]
        shape = sensing.result.type.shape
        spatial = shape[3:] if isinstance(sensing, xbar.Compare) else shape[2:]
        return (spatial[0], spatial[1]) if len(spatial) == 2 else (1, 1)

    def conversion_rounds(self, timing: Timing) -> int:
        """ADC conversions in sequence per read, ``min(share, columns)`` (0 for comparators)."""
        return min(timing.adc_share, self.columns) if self.sensing_kind == "adc" else 0

    def register_transfers(self, timing: Timing) -> int:
        """Register transfers on a window's critical path: the input register is loaded with the
        window's port bits (1) and drives each plane's read (``planes``); with ADCs, each
        conversion round's results are latched for the shift-add of every plane (``planes ·
        rounds``); the outputs are written into the output register (1)."""
        return 2 + self.planes * (1 + self.conversion_rounds(timing))

    def window_ns(self, timing: Timing) -> float:
        """Time to serve one window group: per plane an array read and its sensing (a
        comparator decision, or ``min(share, columns)`` ADC conversions in sequence), then the
        digital work (one clock; with ADCs, an adder tree over row tiles and planes), after the
        window's new input bits are written into the line buffer and its port bits read out of it
        where that is not overlapped (``ceil(bits / buffer_bits)`` accesses of ``buffer_ns``
        each way), plus :meth:`register_transfers` of ``register_ns`` each and the transfer of
        the group's results (``replicas ·`` :attr:`output_bits` at ``transfer_ns_per_bit``)."""
        fetch = 0.0
        if timing.buffer_ns:
            written = math.ceil(self.input_bits / max(self.positions, 1))
            accesses = math.ceil(written / timing.buffer_bits) + math.ceil(self.port_bits / timing.buffer_bits)
            fetch = accesses * timing.buffer_ns
        if self.sensing_kind == "comparator":
            per_plane = timing.read_ns + timing.comparator_ns
            digital = timing.clock_ns
        else:
            per_plane = timing.read_ns + self.conversion_rounds(timing) * timing.adc_conversion_ns(self.adc_bits)
            digital = timing.clock_ns * (1 + math.ceil(math.log2(max(self.tiles[0], 1) * self.planes)))
        transfer = self.replicas * self.output_bits * timing.transfer_ns_per_bit
        return fetch + self.planes * per_plane + digital + self.register_transfers(timing) * timing.register_ns + transfer

    def window_groups(self) -> int:
        """Array reads per plane and inference: ``ceil(positions / replicas)``."""
        return math.ceil(self.positions / self.replicas)


@dataclass
class ProgramLayers:
    """The crossbar layers (in program order), the digital blocks between them and the host
    partitions of a function."""

    crossbar: list[CrossbarLayer]
    digital: list[DigitalBlock]
    host: list[host.OnnxSubgraph]

    def arrays_lower_bound(self) -> int:
        """``ceil(cells / (rows · cols))`` per array geometry, summed."""
        cells: dict[tuple[int, int], int] = {}
        for layer in self.crossbar:
            cells[layer.array] = cells.get(layer.array, 0) + layer.cells_used
        return sum(math.ceil(c / (r * k)) for (r, k), c in cells.items() if c)

    def arrays_packed(self) -> int:
        """Arrays needed when tiles of different layers with the same array geometry may share
        one array in disjoint rows and columns (replicas counted as copies)."""
        by_geometry: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for layer in self.crossbar:
            shapes = [m.const_type("conductance").shape for m in layer.reads] * layer.replicas
            by_geometry.setdefault(layer.array, []).extend(shapes)
        return sum(pack_arrays(tiles, rows, cols) for (rows, cols), tiles in by_geometry.items())


def pack_arrays(tiles: list[tuple[int, int]], rows: int, cols: int) -> int:
    """Arrays needed when tiles may share one array in disjoint rows and columns (first fit,
    largest tiles first)."""
    free: list[list[int]] = []  # per array: [rows left, cols left]
    for k, m in sorted(tiles, key=lambda t: t[0] * t[1], reverse=True):
        for space in free:
            if space[0] >= k and space[1] >= m:
                space[0] -= k
                space[1] -= m
                break
        else:
            free.append([rows - k, cols - m])
    return len(free)


def program_layers(module: Module, function: str = "main") -> ProgramLayers:
    """The crossbar layers and host partitions of ``function``."""
    func = module.function(function)
    crossbar = crossbar_layers(func)
    owner = {id(s): layer.name for layer in crossbar for s in layer.sensing}
    hosted = [op for op in func.ops if isinstance(op, host.OnnxSubgraph) and not is_digital(op)]
    return ProgramLayers(crossbar, digital_blocks(func, owner), hosted)


def crossbar_layers(function: Function) -> list[CrossbarLayer]:
    """The crossbar layers of ``function`` in program order."""
    layers: dict[str, CrossbarLayer] = {}
    for op in function.ops:
        if isinstance(op, xbar.Mvm):
            layer = layers.setdefault(layer_name(op), CrossbarLayer(layer_name(op), []))
            layer.reads.append(op)
            source = op.operands[0].producer
            while isinstance(source, xbar.Slice):
                source = source.operands[0].producer
            if isinstance(source, xbar.Window):
                layer.window = source
    order = {id(op): i for i, op in enumerate(function.ops)}
    for layer in layers.values():
        frontier = [u.op for m in layer.reads for u in m.result.uses]
        seen: set[int] = set()
        while frontier:
            op = frontier.pop(0)
            if id(op) in seen:
                continue
            seen.add(id(op))
            if isinstance(op, (xbar.Compare, xbar.Readout)):
                layer.sensing.append(op)
            elif isinstance(op, (xbar.Adc, xbar.Accumulate)):
                if isinstance(op, xbar.Adc):
                    layer.adcs.append(op)
                frontier.extend(u.op for u in op.result.uses)
        layer.sensing.sort(key=lambda op: order[id(op)])
        if not layer.sensing:
            raise ValueError(f"the array reads of layer {layer.name} reach no comparator or readout")
    return list(layers.values())

