"""Resource, energy and area model of a tiled crossbar program, per layer.

Every figure comes from the hardware configuration (``backends/hardware.py``, each value with
its source) and the program itself (cell patterns, tiles, positions, planes); the one workload
assumption, the port activity (the fraction of array reads in which a port carries V_read), is
a stated parameter. Per inference and layer:

- array reads: ``activity · Σ_cells V²·G·t_read`` per read of each array (on cells at G_on,
  off cells at G_off, refcol reference cells at the mid conductance), times the reads
  (planes × window positions);
- sensing: one comparator decision per output column and comparator level per read, or one
  ADC conversion per physical column per read (``bits`` from the array's rows);
- digital: for ADC layers an add per digitized column count and a digital comparison per
  output; an output register bit per comparator decision;
- buffers: every input bit written once into the line buffer and read once per port drive.

Area: cells (rows × cols × cell area per array), comparators, ADCs (``cols / share`` per
array), adders and output registers, and line-buffer SRAM.

Digital blocks between arrays (:mod:`bnnc.ir.periphery`) are costed per operation of each
unit (float32 adder and multiplier, integer adder, comparator) and per result register write,
with ``periphery_lanes`` of every unit they use as their area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bnnc.ir.analysis import CrossbarLayer, ProgramLayers
from bnnc.ir.periphery import DigitalBlock

from .hardware import HardwareConfig
from .schedule import LayerSchedule, Schedule

DEFAULT_ACTIVITY = 0.5
"""Port activity assumed when nothing better is known: a binary input is 1 half the time."""


def _energy_and_area(energy_pj: dict[str, float], area_um2: dict[str, float]) -> dict:
    """Report fields: totals and breakdowns in nJ and mm²."""
    return {
        "energy_nj": sum(energy_pj.values()) / 1000,
        "energy_breakdown_nj": {k: v / 1000 for k, v in energy_pj.items()},
        "area_mm2": sum(area_um2.values()) / 1e6,
        "area_breakdown_mm2": {k: v / 1e6 for k, v in area_um2.items()},
    }


@dataclass
class LayerCost:
    """The cost of one crossbar layer per inference (energies in pJ, areas in µm²); what the
    layer is (arrays, cells, ADC bits) the analysis says (:class:`CrossbarLayer`)."""

    name: str
    arrays_mnsim_style: int
    comparators: int
    adcs: int
    adders: int
    macs: int
    energy_pj: dict[str, float]
    area_um2: dict[str, float]

    def to_json(self) -> dict:
        return {
            "arrays_mnsim_style": self.arrays_mnsim_style,
            "comparators": self.comparators,
            "adcs": self.adcs,
            "adders": self.adders,
            "binary_macs": self.macs,
            **_energy_and_area(self.energy_pj, self.area_um2),
        }


@dataclass
class DigitalCost:
    """The cost of one digital block per inference (energies in pJ, areas in µm²)."""

    name: str
    after: str | None
    work: dict[str, int]
    lanes: int
    energy_pj: dict[str, float]
    area_um2: dict[str, float]

    def to_json(self) -> dict:
        return {
            "after": self.after,
            "ops": self.work,
            "lanes": self.lanes,
            **_energy_and_area(self.energy_pj, self.area_um2),
        }


WORD_BITS = 32
"""Width of the digital periphery's integers, floats and registers."""


def digital_cost(block: DigitalBlock, hw: HardwareConfig) -> DigitalCost:
    """Energy: each operation at its unit's energy, each result written once to a 32-bit
    register. Area: ``lanes`` of every unit the block uses, and one register word per lane."""
    d = hw.digital
    per_op = {"fp_add": (d.fp_add_energy_pj, d.fp_add_area_um2), "fp_mul": (d.fp_mul_energy_pj, d.fp_mul_area_um2),
              "int_add": (WORD_BITS * d.adder_energy_pj_per_bit, WORD_BITS * d.adder_area_um2_per_bit),
              "compare": (WORD_BITS * d.comparator_energy_pj_per_bit, WORD_BITS * d.comparator_area_um2_per_bit)}
    work = block.work()
    lanes = d.periphery_lanes
    results = sum(math.prod(r.type.shape) for op in block.ops for r in op.results)
    energy = {unit: count * per_op[unit][0] for unit, count in work.items()}
    energy["registers"] = results * WORD_BITS * d.register_energy_pj_per_bit
    area = {unit: lanes * per_op[unit][1] if count else 0.0 for unit, count in work.items()}
    area["registers"] = lanes * WORD_BITS * d.register_area_um2_per_bit
    return DigitalCost(block.name, block.after, work, lanes, energy, area)


def layer_costs(layers: ProgramLayers, schedule: Schedule, hw: HardwareConfig,
                activity: float = DEFAULT_ACTIVITY) -> dict[str, LayerCost]:
    """The cost of every crossbar layer of a tiled program."""
    timeline = {layer.name: layer for layer in schedule.layers}
    return {layer.name: _layer_cost(layer, timeline[layer.name], hw, activity) for layer in layers.crossbar}


def _layer_cost(layer: CrossbarLayer, timed: LayerSchedule, hw: HardwareConfig, activity: float) -> LayerCost:
    scheme = layer.scheme
    levels = layer.comparator_levels
    rows, cols = layer.array
    e_on, e_off = hw.cell_read_energy_on_pj, hw.cell_read_energy_off_pj
    replicas = layer.replicas
    window_reads = layer.planes * layer.positions  # reads of each array tile per inference
    array_pj = sensing_pj = 0.0
    comparators = adcs = columns_total = 0
    adc_pj = hw.adc(layer.adc_bits).energy_pj if layer.sensing_kind == "adc" else 0.0  # once: adc_bits scans every ADC
    for op in layer.reads:
        cells = op.const_array("conductance")
        on = int(cells.sum())
        ref_cells = cells.shape[0] if scheme.reference_column else 0
        on -= ref_cells  # the reference column's cells are mid-conductance, not on
        per_read = activity * (on * e_on + (cells.size - on - ref_cells) * e_off + ref_cells * (e_on + e_off) / 2)
        array_pj += per_read * window_reads
        columns = cells.shape[1]
        outputs = scheme.outputs_in(columns)
        columns_total += columns
        if layer.sensing_kind == "adc":
            adcs += hw.adcs_for(columns) * replicas
            sensing_pj += window_reads * columns * adc_pj
        else:
            comparators += outputs * levels * replicas
            sensing_pj += window_reads * outputs * levels * hw.comparator.energy_pj
    outputs_total, fan_in = layer.outputs, layer.fan_in
    acc_bits = max(1, math.ceil(math.log2(2 * fan_in * max(1, 2 ** (layer.planes - 1)) + 1)) + 1) if fan_in else 1
    d = hw.digital
    digital_pj = layer.positions * outputs_total * max(levels, 1) * d.register_energy_pj_per_bit
    adders = 0
    if layer.sensing_kind == "adc":
        digital_pj += window_reads * columns_total * acc_bits * d.adder_energy_pj_per_bit
        digital_pj += layer.positions * outputs_total * max(levels, 1) * acc_bits * d.comparator_energy_pj_per_bit
        adders = adcs
        if levels:  # digital comparators after the accumulation
            comparators += outputs_total * levels * replicas
    buffer_pj = _input_bits(layer.reads) * hw.buffer.write_energy_pj_per_bit + layer.positions * _ports(layer.reads) * hw.buffer.read_energy_pj_per_bit
    arrays = layer.arrays
    mnsim = layer.tiles[0] * math.ceil(outputs_total / cols) * replicas if scheme.columns_per_output == 2 else arrays
    area = {
        "arrays": arrays * rows * cols * hw.cell.area_um2,
        "comparators": comparators * hw.comparator.area_um2,
        "adcs": adcs * hw.adc(max(layer.adc_bits, 1)).area_um2 if adcs else 0.0,
        "digital": adders * acc_bits * d.adder_area_um2_per_bit + outputs_total * max(levels, 1) * replicas * d.register_area_um2_per_bit,
        "buffers": timed.line_buffer_bits * hw.buffer.area_um2_per_bit,
    }
    return LayerCost(
        name=layer.name, arrays_mnsim_style=mnsim, comparators=comparators, adcs=adcs, adders=adders,
        macs=layer.positions * fan_in * outputs_total,
        energy_pj={"arrays": array_pj, "sensing": sensing_pj, "digital": digital_pj, "buffers": buffer_pj},
        area_um2=area,
    )


def _input_bits(reads: list) -> int:
    """Bits of the layer input the line buffer holds per inference (all planes)."""
    ports = reads[0].operands[0]
    source = ports.producer
    while source is not None and source.name == "xbar.slice":
        source = source.operands[0].producer
    if source is not None and source.name == "xbar.window":
        return int(np.prod(source.operands[0].type.shape))
    return int(np.prod(ports.type.shape))


def _ports(reads: list) -> int:
    """Port bits driven per window (all planes and row tiles of one column tile)."""
    first_column = [op for op in reads if op.attr("tile")[1] == 0]
    return sum(op.operands[0].type.shape[0] * op.operands[0].type.shape[2] for op in first_column)
