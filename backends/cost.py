"""Resource, energy and area model of a tiled crossbar program, per layer, by component.

Every figure comes from the hardware configuration (``backends/hardware.py``, each value with
its source) and the program itself (cell patterns, tiles, positions, planes); the one workload
assumption, the port activity (``read.port_activity``: the fraction of array reads in which a
port carries V_read), is a stated parameter. Energy per inference and area fall into the
components of :data:`COMPONENTS`, which sum to the layer's totals:

- ``cells``: ``activity · Σ_cells V²·G·t_read`` per read of each array (on cells at G_on, off
  cells at G_off, refcol reference cells at the mid conductance), times the reads (planes ×
  window positions); area rows × cols × cell area per array;
- ``drivers``: one word-line drive (``periphery.row_drive_energy_pj``) per row of each array
  and read in which the port is high; area a word-line driver per row, a bit-line (write)
  driver per column and a row decoder (``8 · (rows − 1)`` transistors) per array;
- ``sensing``: one comparator decision per output column and comparator level per read; area
  of the comparators (the analog sense amplifiers, and the digital comparators after an ADC
  accumulation);
- ``adc``: one conversion per physical column per read (``bits`` from the array's rows); area
  ``ceil(cols / share)`` ADCs per array, each with its ``share``:1 column multiplexer
  (``8 · (share − 1)`` transistors);
- ``digital``: for ADC layers an add per digitized column count and a digital comparison per
  output; an output register bit per comparator decision; adders and registers as area;
- ``buffers``: every input bit written once into the line buffer and read once per port drive;
  area of the line buffer plus ``buffer.bits_per_array`` of registers at each array; with
  ``buffer.macro_table`` set, each array's share of the line buffer is an SRAM macro chosen by
  size (:mod:`backends.sram`), whose dynamic energy per bit accessed and area are used instead;
- ``interconnect``: every bit read out of the buffer into the ports, and every output bit, moves
  the side of the layer's block (√ of the area of the other components) at
  ``interconnect.energy_pj_per_bit_mm``; area two buses (in and out) of ``bus_bits`` wires at
  ``wire_pitch_um`` over that length;
- ``leakage``: the static power of the layer's buffer bits (or macros) for the latency of one
  inference (no area of its own).

With ``array.arrays_per_tile`` above 1 a layer occupies whole tiles of that many array slots,
and its cells, drivers, sensing, ADCs, buffers and their leakage are counted for every slot: an
empty slot as an average array of the layer (MNSIM-2.0 counts whole tiles the same way).

Digital blocks between arrays (:mod:`bnnc.ir.periphery`) are costed per operation of each
unit (float32 adder and multiplier, integer adder, comparator) and per result register write,
with ``periphery_lanes`` of every unit they use as their area — all of it ``digital``.
What the model leaves out is listed in :data:`NOT_MODELLED`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bnnc.ir.analysis import CrossbarLayer, ProgramLayers
from bnnc.ir.periphery import DigitalBlock

from .hardware import HardwareConfig
from .schedule import LayerSchedule, Schedule
from .sram import SRAM_TABLES, macros_for

COMPONENTS = ("cells", "drivers", "sensing", "adc", "digital", "buffers", "interconnect", "leakage")
"""The components every energy and area breakdown has, in this order."""

NOT_MODELLED = (
    "programming (writing the weights into the cells) and its energy and time",
    "switching energy of the column multiplexers and decoders (their area is counted)",
    "leakage of drivers, sense amplifiers, ADCs and digital logic (only buffer SRAM leaks)",
    "a network-on-chip between layers: each layer has its own point-to-point buses",
    "control logic, instruction memory, clock tree and off-chip I/O (loading inputs, reading outputs)",
    "the OR/AND of max-pools on bits and other wiring-only ops",
    "IR drop and device non-idealities in energy and timing",
    "host partitions: no energy, area or time",
)
"""What the cost model does not count (``report.json`` ``not_modelled``)."""


def breakdown(values: dict[str, float]) -> dict[str, float]:
    """``values`` over every component of :data:`COMPONENTS` (missing ones 0)."""
    unknown = set(values) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown cost components {sorted(unknown)}; expected {COMPONENTS}")
    return {component: float(values.get(component, 0.0)) for component in COMPONENTS}


def _energy_and_area(energy_pj: dict[str, float], area_um2: dict[str, float]) -> dict:
    """Report fields: totals and breakdowns (every component) in nJ and mm²."""
    energy, area = breakdown(energy_pj), breakdown(area_um2)
    return {
        "energy_nj": sum(energy.values()) / 1000,
        "energy_breakdown_nj": {k: v / 1000 for k, v in energy.items()},
        "area_mm2": sum(area.values()) / 1e6,
        "area_breakdown_mm2": {k: v / 1e6 for k, v in area.items()},
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
    energy = sum(count * per_op[unit][0] for unit, count in work.items()) + results * WORD_BITS * d.register_energy_pj_per_bit
    area = sum(lanes * per_op[unit][1] for unit, count in work.items() if count) + lanes * WORD_BITS * d.register_area_um2_per_bit
    return DigitalCost(block.name, block.after, work, lanes, {"digital": energy}, {"digital": area})


def layer_costs(layers: ProgramLayers, schedule: Schedule, hw: HardwareConfig) -> dict[str, LayerCost]:
    """The cost of every crossbar layer of a tiled program."""
    timeline = {layer.name: layer for layer in schedule.layers}
    return {layer.name: _layer_cost(layer, timeline[layer.name], hw, schedule.latency_ns) for layer in layers.crossbar}


def _layer_cost(layer: CrossbarLayer, timed: LayerSchedule, hw: HardwareConfig, latency_ns: float) -> LayerCost:
    scheme = layer.scheme
    activity = hw.read.port_activity
    levels = layer.comparator_levels
    rows, cols = layer.array
    e_on, e_off = hw.cell_read_energy_on_pj, hw.cell_read_energy_off_pj
    replicas = layer.replicas
    window_reads = layer.planes * layer.positions  # reads of each array tile per inference
    array_pj = sensing_pj = adc_pj = driver_pj = 0.0
    comparators = adcs = columns_total = 0
    adc_read_pj = hw.adc(layer.adc_bits).energy_pj if layer.sensing_kind == "adc" else 0.0  # once: adc_bits scans every ADC
    for op in layer.reads:
        cells = op.const_array("conductance")
        on = int(cells.sum())
        ref_cells = cells.shape[0] if scheme.reference_column else 0
        on -= ref_cells  # the reference column's cells are mid-conductance, not on
        per_read = activity * (on * e_on + (cells.size - on - ref_cells) * e_off + ref_cells * (e_on + e_off) / 2)
        array_pj += per_read * window_reads
        driver_pj += activity * cells.shape[0] * window_reads * hw.periphery.row_drive_energy_pj
        columns = cells.shape[1]
        outputs = scheme.outputs_in(columns)
        columns_total += columns
        if layer.sensing_kind == "adc":
            adcs += hw.adcs_for(columns) * replicas
            adc_pj += window_reads * columns * adc_read_pj
        else:
            comparators += outputs * levels * replicas
            sensing_pj += window_reads * outputs * levels * hw.comparator.energy_pj
    outputs_total, fan_in = layer.outputs, layer.fan_in
    acc_bits = layer.accumulator_bits
    d = hw.digital
    digital_pj = layer.positions * outputs_total * max(levels, 1) * d.register_energy_pj_per_bit
    adders = 0
    if layer.sensing_kind == "adc":
        digital_pj += window_reads * columns_total * acc_bits * d.adder_energy_pj_per_bit
        digital_pj += layer.positions * outputs_total * max(levels, 1) * acc_bits * d.comparator_energy_pj_per_bit
        adders = adcs
        if levels:  # digital comparators after the accumulation
            comparators += outputs_total * levels * replicas
    port_reads = layer.positions * layer.port_bits
    arrays = layer.arrays
    mnsim = layer.tiles[0] * math.ceil(outputs_total / cols) * replicas if scheme.columns_per_output == 2 else arrays
    p = hw.periphery
    buffer_pj, buffer_area, leakage_mw = _buffers(layer, timed.line_buffer_bits, port_reads, hw)
    slots = -(-arrays // hw.array.arrays_per_tile) * hw.array.arrays_per_tile
    per_slot = slots / arrays  # an empty tile slot costs as much as an average array of the layer
    area = {
        "cells": arrays * rows * cols * hw.cell.area_um2,
        "drivers": arrays * (rows * p.row_driver_area_um2 + cols * p.column_driver_area_um2
                             + 8 * (rows - 1) * p.transistor_area_um2),
        "sensing": comparators * hw.comparator.area_um2,
        "adc": adcs * (hw.adc(max(layer.adc_bits, 1)).area_um2 + 8 * (hw.adc.share - 1) * p.transistor_area_um2) if adcs else 0.0,
        "buffers": buffer_area,
    }
    area = {key: value * per_slot for key, value in area.items()}
    area["digital"] = (adders * acc_bits * d.adder_area_um2_per_bit
                       + outputs_total * max(levels, 1) * replicas * d.register_area_um2_per_bit)
    side_mm = math.sqrt(sum(area.values())) / 1000  # the side of the layer's block
    wires = hw.interconnect
    area["interconnect"] = 2 * wires.bus_bits * wires.wire_pitch_um * side_mm * 1000
    output_bits = layer.positions * layer.output_bits
    energy = {
        "cells": array_pj, "drivers": driver_pj, "sensing": sensing_pj, "adc": adc_pj, "digital": digital_pj,
        "buffers": buffer_pj, "interconnect": (port_reads + output_bits) * wires.energy_pj_per_bit_mm * side_mm,
        "leakage": leakage_mw * per_slot * latency_ns,  # mW · ns = pJ
    }
    return LayerCost(
        name=layer.name, arrays_mnsim_style=mnsim, comparators=comparators, adcs=adcs, adders=adders,
        macs=layer.positions * fan_in * outputs_total, energy_pj=energy, area_um2=area,
    )


def _buffers(layer: CrossbarLayer, line_buffer_bits: int, port_reads: int, hw: HardwareConfig) -> tuple[float, float, float]:
    """A layer's buffers: (access energy pJ, area µm², leakage mW) of its line buffer, every input
    bit written once and every port bit read once, and its ``buffer.bits_per_array`` registers;
    per bit, or with ``buffer.macro_table`` each array's share of the line buffer in the SRAM
    macros that hold it (:mod:`backends.sram`)."""
    buf = hw.buffer
    register_bits = layer.arrays * buf.bits_per_array
    if buf.macro_table == "none":
        bits = line_buffer_bits + register_bits
        energy_pj = layer.input_bits * buf.write_energy_pj_per_bit + port_reads * buf.read_energy_pj_per_bit
        return energy_pj, bits * buf.area_um2_per_bit, bits * buf.leakage_nw_per_bit * 1e-6
    macro, count = macros_for(math.ceil(line_buffer_bits / layer.arrays), SRAM_TABLES[buf.macro_table])
    macros = layer.arrays * count
    energy_pj = layer.input_bits * macro.write_pj_per_bit + port_reads * macro.read_pj_per_bit
    return (energy_pj, macros * macro.area_um2 + register_bits * buf.area_um2_per_bit,
            macros * macro.leakage_mw + register_bits * buf.leakage_nw_per_bit * 1e-6)
