"""``report.json``: what a compiled model costs and how fast it runs, per layer and in total,
with the hardware it was computed for and the golden check. Schema: ``docs/report-schema.md``."""

from __future__ import annotations

from bnnc.ir.analysis import ProgramLayers
from bnnc.ir.schemes import SCHEMES

from .cost import COMPONENTS, NOT_MODELLED, breakdown, digital_cost, layer_costs
from .hardware import HardwareConfig
from .schedule import Schedule

REPORT_VERSION = 1
TIMELINE_KEYS = ("cycles", "start_cycle", "end_cycle", "window_ns", "register_transfers", "busy_ns", "line_buffer_bits")
"""What a layer entry takes from the schedule (the rest of the layer comes from the analysis)."""


def layer_entries(layers: ProgramLayers, schedule: Schedule, hw: HardwareConfig) -> list[dict]:
    """One entry per part of the program, in program order: crossbar layers (what the final IR
    says of them, their place on the timeline, their cost), each followed by the digital block
    working on its results (``target`` ``digital``: operations by unit, busy time, energy,
    area), and host partitions (not modelled: ``arrays`` 0, no energy)."""
    timeline = {layer["name"]: layer for layer in schedule.to_json()["layers"]}
    costs = layer_costs(layers, schedule, hw)
    stages = {stage.name: stage for stage in schedule.digital}
    blocks: dict[str | None, list[dict]] = {}
    for block in layers.digital:
        stage = stages[block.name]
        blocks.setdefault(block.after, []).append({
            "name": block.name, "target": "digital", "arrays": 0, "arrays_mnsim_style": 0,
            "busy_ns": stage.busy_ns, "end_cycle": schedule.cycles(stage.end_ns), **digital_cost(block, hw).to_json(),
        })
    entries = list(blocks.get(None, []))
    for layer in layers.crossbar:
        rows, cols = layer.array
        ties = layer.channels("ties")
        entry = {
            "name": layer.name,
            "target": "crossbar",
            "threshold_classes": layer.threshold_classes,
            "sign_zero_ties": bool(ties),
            "tie_channels": ties,
            "comparator_levels": layer.comparator_levels,
            "negated_channels": len(layer.channels("negated")),
            "constant_channels": len(layer.channels("constant")),
            "float_margin_channels": layer.channels("float_margin"),
            "scheme": layer.scheme.name,
            "encoding": layer.encoding,
            "readout": layer.readout,
            "fan_in": layer.fan_in,
            "outputs": layer.outputs,
            "array": [rows, cols],
            "arrays_by_scheme": {name: mapping.arrays_needed(layer.fan_in, layer.outputs, rows, cols)
                                 if mapping.outputs_in(cols) >= 1 else None for name, mapping in SCHEMES.items()},
            "tiles": list(layer.tiles),
            "replicas": layer.replicas,
            "arrays": layer.arrays,
            "sensing": layer.sensing_kind,
            "adc_bits": layer.adc_bits,
            "planes": layer.planes,
            "positions": layer.positions,
            "cells_used": layer.cells_used,
            "cells_allocated": layer.cells_allocated,
            "cell_utilization": layer.cells_used / layer.cells_allocated if layer.cells_allocated else 0.0,
            "reference_columns": layer.reference_columns,
        }
        entry.update({k: timeline[layer.name][k] for k in TIMELINE_KEYS})
        entry.update(costs[layer.name].to_json())
        entries.append(entry)
        entries.extend(blocks.get(layer.name, []))
    for op in layers.host:
        entries.append({"name": ", ".join(op.location.names), "target": "host", "arrays": 0,
                        "arrays_mnsim_style": 0, "energy_nj": 0.0, "energy_breakdown_nj": breakdown({}),
                        "area_mm2": 0.0, "area_breakdown_mm2": breakdown({})})
    return entries


def totals(entries: list[dict], schedule: Schedule, layers: ProgramLayers) -> dict:
    """Sums over the layers, and the figures of merit derived from them."""
    crossbar = [e for e in entries if e["target"] == "crossbar"]
    cells = sum(e.get("cells_used", 0) for e in crossbar)
    energy_nj = sum(e.get("energy_nj", 0.0) for e in entries)
    area_mm2 = sum(e.get("area_mm2", 0.0) for e in entries)
    ops = 2 * sum(e.get("binary_macs", 0) for e in crossbar)
    return {
        "arrays": sum(e.get("arrays", 0) for e in entries),
        "arrays_lower_bound": layers.arrays_lower_bound(),
        "arrays_packed": layers.arrays_packed(),
        "arrays_mnsim_style": sum(e.get("arrays_mnsim_style", 0) for e in entries),
        "cells_used": cells,
        "energy_nj": energy_nj,
        "energy_breakdown_nj": {c: sum(e["energy_breakdown_nj"][c] for e in entries) for c in COMPONENTS},
        "area_mm2": area_mm2,
        "area_breakdown_mm2": {c: sum(e["area_breakdown_mm2"][c] for e in entries) for c in COMPONENTS},
        "binary_ops": ops,
        "tops_per_w": ops / (energy_nj * 1e-9) / 1e12 if energy_nj else 0.0,
        "ips_per_mm2": schedule.throughput_ips / area_mm2 if area_mm2 else 0.0,
        "latency_ns": schedule.latency_ns,
        "latency_cycles": schedule.cycles(schedule.latency_ns),
        "period_ns": schedule.period_ns,
        "throughput_ips": schedule.throughput_ips,
        "bottleneck_layer": schedule.bottleneck,
        "binary_layers": len(crossbar),
        "digital_blocks": sum(e["target"] == "digital" for e in entries),
        "digital_ops": sum(sum(e["ops"].values()) for e in entries if e["target"] == "digital"),
        "host_partitions": sum(e["target"] == "host" for e in entries),
    }


def not_modelled() -> list[str]:
    """What the cost model leaves out (``report.json`` ``not_modelled``)."""
    return list(NOT_MODELLED)


def assumptions(hw: HardwareConfig) -> dict:
    return {"port_activity": hw.read.port_activity,
            "leakage": "buffer SRAM static power over the latency of one inference",
            "host_partitions": "not on the crossbar timeline; no energy or area",
            "digital_blocks": "float32 units as onnxruntime computes; a block streams its producer's results and adds "
                              "one position's share of its work to the latency"}
