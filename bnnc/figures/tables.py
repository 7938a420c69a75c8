"""The data behind each figure, as a table (written beside the figure as CSV).

Every table is computed from ``report.json``'s dict (and, for the timeline and utilization,
from the schedule), so a figure and its CSV always say the same thing. Per-component costs
come from a layer's ``energy_breakdown_nj`` / ``area_breakdown_mm2`` where the report has
them; a layer without one counts as a single ``total`` component.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from bnnc.backends.schedule import Schedule, layer_runs

TIMELINE_RUNS = 400
"""Bars per layer on the timeline at most; more runs of back-to-back windows are merged."""

UTILIZATION_BINS = 200


@dataclass(frozen=True)
class Table:
    """Columns (names carry their unit: ``energy_nj``) and rows of one figure's data."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]

    def column(self, name: str) -> list:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue().encode()


def costed_layers(report: dict) -> list[dict]:
    """The layers that have a cost: crossbar layers and the digital blocks between them."""
    return [layer for layer in report["layers"] if layer["target"] in ("crossbar", "digital")]


def layer_label(layer: dict) -> str:
    return layer["name"] + (" (digital)" if layer["target"] == "digital" else "")


def layer_table(report: dict) -> Table:
    """Arrays, energy per inference and area of each costed layer."""
    rows = tuple((layer_label(layer), layer["target"], int(layer.get("arrays", 0)), float(layer.get("energy_nj", 0.0)),
                  float(layer.get("area_mm2", 0.0))) for layer in costed_layers(report))
    return Table(("layer", "target", "arrays", "energy_nj", "area_mm2"), rows)


def breakdown(layer: dict, key: str, total_key: str) -> dict[str, float]:
    """A layer's cost by component (``key``: ``energy_breakdown_nj`` or ``area_breakdown_mm2``),
    or its total (``total_key``) as one ``total`` component where the report has no breakdown."""
    parts = layer.get(key)
    if parts:
        return {str(name): float(value) for name, value in parts.items()}
    return {"total": float(layer.get(total_key, 0.0))}


def _components(layers: Sequence[dict], key: str, total_key: str) -> list[str]:
    names: dict[str, None] = {}
    for layer in layers:
        names.update(dict.fromkeys(breakdown(layer, key, total_key)))
    return list(names)


COMPONENT_COSTS = (("energy", "energy_breakdown_nj", "energy_nj", "nj"), ("area", "area_breakdown_mm2", "area_mm2", "mm2"))
"""(quantity, breakdown key, total key, unit suffix) of the two by-component figures."""


def component_table(report: dict) -> Table:
    """Energy and area of each costed layer by component: columns ``energy_<part>_nj`` and
    ``area_<part>_mm2``."""
    layers = costed_layers(report)
    columns, getters = ["layer"], []
    for quantity, key, total_key, unit in COMPONENT_COSTS:
        for part in _components(layers, key, total_key):
            columns.append(f"{quantity}_{part}_{unit}")
            getters.append((key, total_key, part))
    rows = tuple((layer_label(layer), *(breakdown(layer, key, total).get(part, 0.0) for key, total, part in getters))
                 for layer in layers)
    return Table(tuple(columns), rows)


def timeline_table(schedule: Schedule) -> Table:
    """Each crossbar layer's busy intervals (runs of back-to-back window groups) in ns."""
    rows = tuple((layer.name, round(start, 3), round(end, 3), windows)
                 for layer in schedule.layers for start, end, windows, _ in layer_runs(layer, TIMELINE_RUNS))
    return Table(("layer", "start_ns", "end_ns", "windows"), rows)


def utilization_table(schedule: Schedule) -> Table:
    """The share of all arrays busy over one inference, in ``UTILIZATION_BINS`` time bins."""
    times, busy = schedule.utilization(bins=UTILIZATION_BINS)
    width = (schedule.latency_ns or 1.0) / UTILIZATION_BINS
    return Table(("start_ns", "end_ns", "busy_percent"),
                 tuple((round(float(t), 3), round(float(t) + width, 3), round(100 * float(b), 6)) for t, b in zip(times, busy)))


COMPARED = ("arrays", "energy_nj", "area_mm2", "latency_ns", "throughput_ips")
"""The totals a comparison shows (report.md's and report.html's tables, comparison.csv)."""

COMPARISON_FIGURES = (("arrays", "arrays"), ("energy_nj", "energy (nJ)"), ("area_mm2", "area (mm²)"), ("latency_ns", "latency (ns)"))
"""(totals key, axis label) of each panel of the comparison chart."""


def comparison_entries(report: dict) -> list[dict]:
    """``report["comparison"]`` (``{"scheme", "array", "totals"}`` each); where the report only
    has ``schemes`` (totals by scheme at the report's own array size), those."""
    if report.get("comparison"):
        return list(report["comparison"])
    parameters = report.get("hardware", {}).get("parameters", {}).get("array", {})
    array = [parameters.get("rows", {}).get("value"), parameters.get("cols", {}).get("value")]
    return [{"scheme": scheme, "array": array, "totals": totals} for scheme, totals in (report.get("schemes") or {}).items()]


def configuration_label(entry: dict) -> str:
    array = entry.get("array")
    size = "×".join(str(v) for v in array) if isinstance(array, list | tuple) and all(v is not None for v in array) else ""
    return f"{entry['scheme']} {size}".strip()


def comparison_table(report: dict) -> Table | None:
    """The totals of every compared configuration, or None if the report compares none."""
    entries = comparison_entries(report)
    if not entries:
        return None
    return Table(("configuration", *COMPARED),
                 tuple((configuration_label(e), *(e["totals"].get(k, 0) for k in COMPARED)) for e in entries))
