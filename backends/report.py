"""``report.json``: what a compiled model costs and how fast it runs, per layer and in total,
with the golden check. Schema version 1; documented in ``docs/report-schema.md``."""

from __future__ import annotations

import math

from bnnc.ir import Module

from .schedule import Schedule

REPORT_VERSION = 1


def layer_entries(module: Module, facts: dict, schedule: Schedule) -> list[dict]:
    """One entry per source layer: crossbar layers (what the passes recorded, and their place
    on the timeline) and host partitions."""
    timeline = {layer["name"]: layer for layer in schedule.to_json()["layers"]}
    entries = []
    for name, recorded in facts.get("layers", {}).items():
        entry = {"name": name, "target": "crossbar", **recorded}
        slot = timeline.get(name)
        if slot is not None:
            entry.update({k: slot[k] for k in ("arrays", "tiles", "replicas", "sensing", "adc_bits", "cycles", "start_cycle",
                                                "end_cycle", "window_ns", "busy_ns", "line_buffer_bits", "planes", "positions")})
        entries.append(entry)
    for op in module.function("main").ops:
        if op.name == "host.onnx":
            entries.append({"name": ", ".join(op.location.names), "target": "host", "arrays": 0})
    return entries


def totals(entries: list[dict], schedule: Schedule, arrays_fact: dict | None) -> dict:
    crossbar = [e for e in entries if e["target"] == "crossbar"]
    rows, cols = (arrays_fact or {}).get("rows", 128), (arrays_fact or {}).get("cols", 128)
    cells = sum(e.get("cells_used", 0) * e.get("replicas", 1) for e in crossbar)
    return {
        "arrays": sum(e.get("arrays", 0) for e in entries),
        "arrays_lower_bound": math.ceil(cells / (rows * cols)) if cells else 0,
        "arrays_packed": (arrays_fact or {}).get("packed"),
        "cells_used": cells,
        "latency_ns": schedule.latency_ns,
        "latency_cycles": schedule.cycles(schedule.latency_ns),
        "period_ns": schedule.period_ns,
        "throughput_ips": schedule.throughput_ips,
        "bottleneck_layer": schedule.bottleneck,
        "binary_layers": len(crossbar),
        "host_partitions": len(entries) - len(crossbar),
    }
