"""The cycle-approximate schedule of a tiled crossbar program.

Each layer's arrays (all its tiles, times its replicas) read one group of ``replicas`` windows
per step; a step takes, per input bit-plane, an array read plus sensing (a 1-bit comparator,
or ADC conversions shared by ``adc_share`` columns) and then the digital work (accumulating
row tiles and planes, comparing). Layers are pipelined through line buffers: a window group
starts once the previous group is done and the producer layer has emitted every input
position the group's windows cover (row-major production order). The network input is
available at time 0; host partitions and digital elementwise ops are not on this timeline.

Results: per-layer start/end/busy times, the latency of one inference, the steady-state period
(the busiest layer: the pipeline's bottleneck) and throughput, array utilization over time and
line-buffer sizes — written as ``schedule.json`` and a Chrome/Perfetto ``trace.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from bnnc.ir import Operation, Value
from bnnc.ir.analysis import CrossbarLayer, ProgramLayers, Timing
from bnnc.ir.diagnostics import plural
from bnnc.ir.periphery import DigitalBlock
from bnnc.ir.dialects import bnn, xbar

from .hardware import HardwareConfig, default_hardware


ADC_WIDTHS = 16
"""ADC widths whose conversion time a :class:`Timing` lists (``xbar.adc`` allows 1..16 bits)."""


def timing_of(hw: HardwareConfig) -> Timing:
    """The schedule's view of a hardware configuration: an array read takes its word lines'
    drive (one row-driver sample, ``1 / periphery.row_driver_rate_gsps``) and the read itself;
    a register transfer takes ``digital.register_cycles`` clocks, an output bit's transfer
    ``1 / interconnect.bandwidth_gbps`` (Gb/s = bits per ns)."""
    return Timing(
        read_ns=1.0 / hw.periphery.row_driver_rate_gsps + hw.read.time_ns, comparator_ns=hw.comparator.decision_ns,
        adc_ns=tuple(hw.adc_conversion_ns(bits) for bits in range(1, ADC_WIDTHS + 1)),
        adc_share=hw.adc.share, clock_ns=hw.digital.clock_period_ns, periphery_lanes=hw.digital.periphery_lanes,
        buffer_ns=hw.buffer.access_ns, buffer_bits=hw.buffer.access_bits,
        register_ns=hw.digital.register_cycles * hw.digital.clock_period_ns,
        transfer_ns_per_bit=1.0 / hw.interconnect.bandwidth_gbps if hw.interconnect.bandwidth_gbps else 0.0,
    )


def default_timing() -> Timing:
    """The timing of the default hardware (DESIGN.md §6)."""
    return timing_of(default_hardware())


@dataclass
class LayerSchedule:
    """One layer's place on the timeline."""

    name: str
    positions: int
    planes: int
    tiles: tuple[int, int]
    replicas: int
    sensing: str
    adc_bits: int
    window_ns: float
    groups: int
    register_transfers: int = 0
    start_ns: float = 0.0
    end_ns: float = 0.0
    line_buffer_bits: int = 0
    producer: str | None = None
    group_end_ns: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def arrays(self) -> int:
        return self.tiles[0] * self.tiles[1] * self.replicas

    @property
    def busy_ns(self) -> float:
        return self.groups * self.window_ns

    @property
    def reads(self) -> int:
        """Array reads of one array per inference (one per plane and window group)."""
        return self.groups * self.planes


@dataclass
class DigitalStage:
    """A digital block's place on the timeline: it works on its producer layer's results as
    they come (``busy_ns`` per inference: its busiest unit's operations over the lanes, one per
    clock) and finishes one position's share of that work after the producer's last output."""

    name: str
    after: str | None
    busy_ns: float
    end_ns: float


@dataclass
class Schedule:
    layers: list[LayerSchedule]
    clock_ns: float
    digital: list[DigitalStage] = field(default_factory=list)

    @property
    def latency_ns(self) -> float:
        return max([layer.end_ns for layer in self.layers] + [stage.end_ns for stage in self.digital], default=0.0)

    def _stages(self) -> list[tuple[str, float]]:
        return [(layer.name, layer.busy_ns) for layer in self.layers] + [(s.name, s.busy_ns) for s in self.digital]

    @property
    def period_ns(self) -> float:
        """Steady-state time between inferences: the busiest pipeline stage's time (a crossbar
        layer or a digital block)."""
        return max((busy for _, busy in self._stages()), default=0.0)

    @property
    def bottleneck(self) -> str | None:
        stages = self._stages()
        return max(stages, key=lambda stage: stage[1])[0] if stages else None

    @property
    def throughput_ips(self) -> float:
        return 1e9 / self.period_ns if self.period_ns else 0.0

    def cycles(self, ns: float) -> int:
        return int(math.ceil(ns / self.clock_ns - 1e-9))

    def utilization(self, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """``(bin start times, fraction of all arrays busy)`` over one inference."""
        total = sum(layer.arrays for layer in self.layers) or 1
        edges = np.linspace(0.0, self.latency_ns or 1.0, bins + 1)
        busy = np.zeros(bins)
        for layer in self.layers:
            ends = layer.group_end_ns
            starts = ends - layer.window_ns
            overlap = np.clip(np.minimum(ends[:, None], edges[None, 1:]) - np.maximum(starts[:, None], edges[None, :-1]), 0, None)
            busy += overlap.sum(axis=0) * layer.arrays
        width = edges[1] - edges[0]
        return edges[:-1], busy / (width * total)

    def to_json(self) -> dict:
        times, utilization = self.utilization()
        return {
            "clock_ns": self.clock_ns,
            "latency_ns": self.latency_ns,
            "latency_cycles": self.cycles(self.latency_ns),
            "period_ns": self.period_ns,
            "throughput_ips": self.throughput_ips,
            "bottleneck_layer": self.bottleneck,
            "layers": [
                {
                    "name": layer.name,
                    "positions": layer.positions,
                    "planes": layer.planes,
                    "tiles": list(layer.tiles),
                    "replicas": layer.replicas,
                    "arrays": layer.arrays,
                    "sensing": layer.sensing,
                    "adc_bits": layer.adc_bits,
                    "window_ns": layer.window_ns,
                    "register_transfers": layer.register_transfers,
                    "window_groups": layer.groups,
                    "reads_per_array": layer.reads,
                    "busy_ns": layer.busy_ns,
                    "start_ns": layer.start_ns,
                    "end_ns": layer.end_ns,
                    "start_cycle": self.cycles(layer.start_ns),
                    "end_cycle": self.cycles(layer.end_ns),
                    "cycles": self.cycles(layer.end_ns - layer.start_ns),
                    "line_buffer_bits": layer.line_buffer_bits,
                    "waits_for": layer.producer,
                }
                for layer in self.layers
            ],
            "digital": [{"name": s.name, "after": s.after, "busy_ns": s.busy_ns, "end_ns": s.end_ns,
                         "end_cycle": self.cycles(s.end_ns)} for s in self.digital],
            "utilization": {"time_ns": times.round(3).tolist(), "busy_fraction": utilization.round(4).tolist()},
        }


# ---------------------------------------------------------------------- reading the program


def _producer(value: Value, sensing_owner: dict[int, str]) -> tuple[str | None, list[Operation]]:
    """The layer whose comparator bits reach ``value`` and the ops in between (nearest first)."""
    path: list[Operation] = []
    op = value.producer
    while op is not None:
        if id(op) in sensing_owner:
            return sensing_owner[id(op)], path
        path.append(op)
        if not op.operands:
            return None, path
        op = op.operands[0].producer
    return None, path


def _need(consumer: CrossbarLayer, out_rows: int, out_cols: int, path: list[Operation], producer_shape: tuple[int, int]) -> np.ndarray:
    """For each of the consumer's windows (row-major), how many of the producer's output
    positions (row-major) must exist before it can be read."""
    positions = out_rows * out_cols
    p_rows, p_cols = producer_shape
    full = np.full(positions, p_rows * p_cols)
    window = consumer.window
    if window is None or window.attr("kernel") == (1, 1) and window.operands[0].type.shape[3:] == (1, 1):
        return full  # dense: the whole input
    rows, cols = _window_reach(window, out_rows, out_cols)
    for op in path:  # from the consumer back towards the producer
        if isinstance(op, xbar.PoolBits):
            rows, cols = _pool_reach(op, rows, cols)
        elif isinstance(op, (xbar.Concat, xbar.Planes, xbar.Decode, xbar.Window, xbar.Slice)):
            continue
        elif isinstance(op, bnn.Reshape) and op.operands[0].type.shape[-2:] == op.result.type.shape[-2:]:
            continue
        else:
            return full
    rows = np.clip(rows, 0, p_rows - 1)
    cols = np.clip(cols, 0, p_cols - 1)
    return rows * p_cols + cols + 1


def _window_reach(window: Operation, out_rows: int, out_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Last input row and column each window position covers."""
    (kh, kw), (sh, sw), (pt, pl, _, _), (dh, dw) = (window.attr(k) for k in ("kernel", "strides", "pads", "dilations"))
    oy, ox = np.divmod(np.arange(out_rows * out_cols), out_cols)
    return oy * sh - pt + (kh - 1) * dh, ox * sw - pl + (kw - 1) * dw


def _pool_reach(pool: Operation, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (kh, kw), (sh, sw), (pt, pl, _, _), (dh, dw) = (pool.attr(k) for k in ("kernel", "strides", "pads", "dilations"))
    return np.maximum(rows, 0) * sh - pt + (kh - 1) * dh, np.maximum(cols, 0) * sw - pl + (kw - 1) * dw


def build_schedule(layers: ProgramLayers, timing: Timing) -> Schedule:
    """Lay the crossbar layers of a (tiled) program on a timeline."""
    found = layers.crossbar
    owner = {id(s): layer.name for layer in found for s in layer.sensing}
    owner.update({id(u.op): owner[id(s)] for layer in found for s in layer.sensing for u in s.result.uses if isinstance(u.op, xbar.Concat)})
    by_name: dict[str, LayerSchedule] = {}
    shapes: dict[str, tuple[int, int]] = {}
    result = []
    for layer in found:
        positions, replicas = layer.positions, layer.replicas
        item = LayerSchedule(
            name=layer.name, positions=positions, planes=layer.planes, tiles=layer.tiles, replicas=replicas,
            sensing=layer.sensing_kind, adc_bits=layer.adc_bits, window_ns=layer.window_ns(timing),
            groups=layer.window_groups(), register_transfers=layer.register_transfers(timing),
        )
        out_rows, out_cols = layer.spatial
        shapes[layer.name] = (out_rows, out_cols)
        ready = np.zeros(positions)  # when each window's input exists
        if layer.window is not None:
            producer, path = _producer(layer.window.operands[0], owner)
            if producer is not None and producer in by_name:
                item.producer = producer
                need = _need(layer, out_rows, out_cols, path, shapes[producer])
                produced = np.repeat(by_name[producer].group_end_ns, by_name[producer].replicas)[: by_name[producer].positions]
                ready = produced[np.clip(need, 1, produced.size) - 1]
            item.line_buffer_bits = _line_buffer_bits(layer.window, layer.planes)
        group_ready = np.maximum.reduceat(ready, np.arange(0, positions, replicas)) if positions else ready
        # e_g = max(e_{g-1}, ready_g) + T  <=>  e_g = (g + 1)·T + max_{j <= g}(ready_j − j·T)
        index = np.arange(item.groups)
        item.group_end_ns = (index + 1) * item.window_ns + np.maximum.accumulate(group_ready - index * item.window_ns)
        item.start_ns = float(item.group_end_ns[0] - item.window_ns)
        item.end_ns = float(item.group_end_ns[-1])
        by_name[layer.name] = item
        result.append(item)
    return Schedule(result, timing.clock_ns, [_digital_stage(block, by_name, timing) for block in layers.digital])


def _digital_stage(block: DigitalBlock, layers: dict[str, LayerSchedule], timing: Timing) -> DigitalStage:
    cycles = max(math.ceil(count / timing.periphery_lanes) for count in block.work().values())
    busy = cycles * timing.clock_ns
    ready = layers[block.after].end_ns if block.after is not None else 0.0
    return DigitalStage(block.name, block.after, busy, ready + busy / block.positions)


def _line_buffer_bits(window: Operation, planes: int) -> int:
    """Bits a layer buffers between producer and its ports: ``(dilated kernel rows − 1)``
    full input rows plus one dilated kernel row, per channel and plane (the whole input for
    dense layers)."""
    _, _, channels, height, width = window.operands[0].type.shape
    (kh, kw), (dh, dw) = window.attr("kernel"), window.attr("dilations")
    if (kh, kw) == (1, 1) and (height, width) == (1, 1):
        return planes * channels
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    return planes * channels * ((span_h - 1) * width + span_w)


# ---------------------------------------------------------------------- Chrome/Perfetto trace


def trace_events(schedule: Schedule, max_events_per_layer: int = 64) -> dict:
    """A Chrome trace (Trace Event format; ui.perfetto.dev, ``chrome://tracing``): process 1
    has one track per layer with its window groups, process 2 one per layer's array group with
    its reads; runs of back-to-back groups become one complete (``X``) event, and a layer with
    more runs than ``max_events_per_layer`` is summarized in that many events whose ``args``
    give the windows and busy time they stand for.

    What today's Perfetto JSON importer needs (``json_trace_tokenizer.cc``): ``ts`` and
    ``dur`` in µs (it rounds them to whole ns, so both are written as whole ns / 1000 and the
    slices of one track never overlap); a ``tid`` of 0 becomes the pid, and a tid equal to a
    pid is that process's main thread, so the tids are unique over the trace, start after the
    pids and are named by ``thread_name`` (ordered by ``thread_sort_index``) metadata;
    no ``displayTimeUnit`` (older importers read it as the unit of ``ts``). Write it with
    :func:`trace_json` (UTF-8: the importer rejects escaped surrogate pairs)."""
    events: list[dict] = [
        {"ph": "M", "pid": LAYER_PID, "name": "process_name", "args": {"name": "layers"}},
        {"ph": "M", "pid": ARRAY_PID, "name": "process_name", "args": {"name": "array groups"}},
    ]
    count = len(schedule.layers)
    for index, layer in enumerate(schedule.layers):
        layer_tid, array_tid = ARRAY_PID + 1 + index, ARRAY_PID + 1 + count + index
        arrays = plural(layer.arrays, "array")
        for pid, tid, name in ((LAYER_PID, layer_tid, layer.name),
                               (ARRAY_PID, array_tid, f"{layer.name}: {arrays} ({layer.tiles[0]}×{layer.tiles[1]} tiles × {layer.replicas})")):
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": index}})
        for start, end, windows, busy in layer_runs(layer, max_events_per_layer):
            start_ns, end_ns = round(start), round(end)
            common = {"ts": start_ns / 1000, "dur": (end_ns - start_ns) / 1000, "ph": "X"}
            args = {"windows": windows, "busy_ns": round(busy, 3), "reads_per_array": windows // layer.replicas * layer.planes}
            events.append({**common, "pid": LAYER_PID, "tid": layer_tid, "name": f"{layer.name} windows", "args": args})
            events.append({**common, "pid": ARRAY_PID, "tid": array_tid, "name": f"{layer.sensing} reads", "args": args})
    return {"traceEvents": events}


LAYER_PID, ARRAY_PID = 1, 2
"""The trace's two processes: layers, and their array groups."""


def trace_json(trace: dict) -> bytes:
    """``trace`` as the bytes of ``trace.json``: strict JSON in UTF-8 (names unescaped)."""
    return (json.dumps(trace, indent=1, allow_nan=False, ensure_ascii=False) + "\n").encode()


def layer_runs(layer: LayerSchedule, limit: int) -> list[tuple[float, float, int, float]]:
    """``(start_ns, end_ns, windows, busy_ns)`` of each run of back-to-back window groups of
    ``layer``, in time order and disjoint; more than ``limit`` runs are merged into ``limit``
    consecutive spans."""
    ends = layer.group_end_ns
    starts = ends - layer.window_ns
    breaks = np.flatnonzero(starts[1:] > ends[:-1] + 1e-9) + 1
    bounds = np.split(np.arange(ends.size), breaks)
    if len(bounds) > limit:
        bounds = np.array_split(np.arange(ends.size), limit)
    runs = []
    for group in bounds:
        if group.size:
            windows = min(layer.positions, int(group[-1] + 1) * layer.replicas) - int(group[0]) * layer.replicas
            runs.append((float(starts[group[0]]), float(ends[group[-1]]), windows, float(group.size * layer.window_ns)))
    return runs
