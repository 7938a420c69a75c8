"""``report.json``: what a compiled model costs and how fast it runs, per layer and in total,
with the hardware it was computed for and the golden check. Schema: ``docs/report-schema.md``."""

from __future__ import annotations

import math

from bnnc.ir import Module

from .cost import DEFAULT_ACTIVITY, layer_costs
from .hardware import HardwareConfig
from .schedule import Schedule

REPORT_VERSION = 1
TIMELINE_KEYS = ("arrays", "tiles", "replicas", "sensing", "adc_bits", "cycles", "start_cycle", "end_cycle",
                 "window_ns", "busy_ns", "line_buffer_bits", "planes", "positions")


def layer_entries(module: Module, facts: dict, schedule: Schedule, hw: HardwareConfig) -> list[dict]:
    """One entry per source layer: crossbar layers (what the passes recorded, their place on
    the timeline, their cost) and host partitions (not modelled: ``arrays`` 0, no energy)."""
    timeline = {layer["name"]: layer for layer in schedule.to_json()["layers"]}
    costs = layer_costs(module, schedule.layers, facts, hw)
    entries = []
    for name, recorded in facts.get("layers", {}).items():
        entry = {"name": name, "target": "crossbar", **recorded}
        if name in timeline:
            entry.update({k: timeline[name][k] for k in TIMELINE_KEYS})
        if name in costs:
            entry.update(costs[name].to_json())
        entries.append(entry)
    for op in module.function("main").ops:
        if op.name == "host.onnx":
            entries.append({"name": ", ".join(op.location.names), "target": "host", "arrays": 0,
                            "arrays_mnsim_style": 0, "energy_nj": 0.0, "area_mm2": 0.0})
    return entries


def totals(entries: list[dict], schedule: Schedule, arrays_fact: dict | None) -> dict:
    """Sums over the layers, and the figures of merit derived from them."""
    crossbar = [e for e in entries if e["target"] == "crossbar"]
    rows, cols = (arrays_fact or {}).get("rows", 128), (arrays_fact or {}).get("cols", 128)
    cells = sum(e.get("cells_used", 0) for e in crossbar)
    energy_nj = sum(e.get("energy_nj", 0.0) for e in entries)
    area_mm2 = sum(e.get("area_mm2", 0.0) for e in entries)
    ops = 2 * sum(e.get("binary_macs", 0) for e in crossbar)
    return {
        "arrays": sum(e.get("arrays", 0) for e in entries),
        "arrays_lower_bound": math.ceil(cells / (rows * cols)) if cells else 0,
        "arrays_packed": (arrays_fact or {}).get("packed"),
        "arrays_mnsim_style": sum(e.get("arrays_mnsim_style", 0) for e in entries),
        "cells_used": cells,
        "energy_nj": energy_nj,
        "area_mm2": area_mm2,
        "binary_ops": ops,
        "tops_per_w": ops / (energy_nj * 1e-9) / 1e12 if energy_nj else 0.0,
        "ips_per_mm2": schedule.throughput_ips / area_mm2 if area_mm2 else 0.0,
        "latency_ns": schedule.latency_ns,
        "latency_cycles": schedule.cycles(schedule.latency_ns),
        "period_ns": schedule.period_ns,
        "throughput_ips": schedule.throughput_ips,
        "bottleneck_layer": schedule.bottleneck,
        "binary_layers": len(crossbar),
        "host_partitions": len(entries) - len(crossbar),
    }


def assumptions() -> dict:
    return {"port_activity": DEFAULT_ACTIVITY, "host_partitions": "not on the crossbar timeline; no energy or area"}
