"""Tiling onto arrays, replication and the schedule: array counts on hand-computed cases,
exactness of tiled programs, and the schedule's invariants."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from bnnc.backends.schedule import build_schedule, default_timing, trace_events
from bnnc.cli import main
import bnnc
from bnnc.api import default_pipeline
from bnnc.ir import parse_module
from bnnc.ir.analysis import program_layers
from bnnc.ir.dialects import xbar
from bnnc.numeric_check import numeric_checker
from bnnc.passes import PassContext, PassManager
from tests.models.zoo import ZOO


def dense_module(fan_in: int, outputs: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    w = rng.choice([-1, 1], (outputs, fan_in))
    t = rng.integers(-2, 3, outputs)
    return f"""module {{
  const @w : pm1<{outputs}x{fan_in}> = dense<[{', '.join(map(str, w.ravel()))}]>
  const @t : i32<{outputs}x1x1> = dense<[{', '.join(map(str, t))}]>
  const @c : i32<> = dense<[0]>
  func @main(%x: pm1<1x{fan_in}>) -> (pm1<1x{outputs}>) {{
    %y = bnn.dense %x, @w : pm1<1x{fan_in}> -> i32<1x{outputs}> loc("L")
    %o = bnn.compare %y, @t, @c : i32<1x{outputs}> -> pm1<1x{outputs}> loc("L")
    return %o : pm1<1x{outputs}>
  }}
}}
"""


def conv_module(cin: int, cout: int, kernel: int, pad: int, size: int = 6, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    w = rng.choice([-1, 1], (cout, cin, kernel, kernel))
    out = size + 2 * pad - kernel + 1
    return f"""module {{
  const @w : pm1<{cout}x{cin}x{kernel}x{kernel}> = dense<[{', '.join(map(str, w.ravel()))}]>
  const @t : i32<{cout}x1x1> = dense<[{', '.join('0' for _ in range(cout))}]>
  const @c : i32<{out}x{out}> = dense<[{', '.join('0' for _ in range(out * out))}]>
  func @main(%x: pm1<1x{cin}x{size}x{size}>) -> (pm1<1x{cout}x{out}x{out}>) {{
    %y = bnn.conv %x, @w {{pads = [{pad}, {pad}, {pad}, {pad}]}} : pm1<1x{cin}x{size}x{size}> -> i32<1x{cout}x{out}x{out}> loc("L")
    %o = bnn.compare %y, @t, @c : i32<1x{cout}x{out}x{out}> -> pm1<1x{cout}x{out}x{out}> loc("L")
    return %o : pm1<1x{cout}x{out}x{out}>
  }}
}}
"""


def tile(text: str, scheme: str, rows: int = 128, cols: int = 128) -> tuple[dict, list]:
    """Map and tile a module, checking numerically that nothing changed; returns what the
    analysis of the final IR says of the layer, and its array reads."""
    module = parse_module(text)
    pipeline = f"sign-convert{{scheme={scheme},rows={rows},cols={cols}}},canonicalize,tile{{rows={rows},cols={cols}}},dce"
    PassManager.from_pipeline(pipeline, numeric_check=numeric_checker(16)).run(module, PassContext())
    (layer,) = program_layers(module).crossbar
    facts = {"arrays": layer.arrays, "tiles": list(layer.tiles), "sensing": layer.sensing_kind, "adc_bits": layer.adc_bits}
    return facts, [op for op in module.function().ops if isinstance(op, xbar.Mvm)]


@pytest.mark.parametrize(
    "fan_in, outputs, scheme, arrays, tiles, sensing",
    [
        (128, 10, "refcol", 1, [1, 1], "comparator"),  # fan-in exactly R
        (129, 10, "refcol", 2, [2, 1], "adc"),         # fan-in R + 1: two row tiles, partial sums through ADCs
        (64, 127, "refcol", 1, [1, 1], "comparator"),  # 127 outputs + the reference column fill 128 columns
        (64, 128, "refcol", 2, [1, 2], "comparator"),  # 128 outputs need a second array (and reference column)
        (64, 10, "xnor", 1, [1, 1], "comparator"),     # 2 x 64 rows fit
        (65, 10, "xnor", 2, [2, 1], "adc"),            # 130 rows do not
        (100, 64, "diff", 1, [1, 1], "comparator"),    # 64 column pairs fill 128 columns
        (100, 65, "diff", 2, [1, 2], "comparator"),
        (300, 300, "refcol", 9, [3, 3], "adc"),        # ceil(300/128) x ceil(300/127)
    ],
)
def test_dense_array_counts(fan_in, outputs, scheme, arrays, tiles, sensing) -> None:
    facts, reads = tile(dense_module(fan_in, outputs), scheme)
    assert (facts["arrays"], facts["tiles"], facts["sensing"]) == (arrays, tiles, sensing)
    assert len(reads) == arrays
    if sensing == "adc":  # a 128-row array's count needs ceil(log2(129)) = 8 bits
        assert facts["adc_bits"] == 8


@pytest.mark.parametrize(
    "cin, cout, kernel, pad, scheme, arrays, tiles",
    [
        (128, 16, 1, 0, "refcol", 1, [1, 1]),   # 1x1 conv: 128 ports
        (16, 16, 3, 1, "refcol", 2, [2, 1]),    # 3x3 conv: 144 ports
        (14, 40, 3, 1, "xnor", 2, [2, 1]),      # 2 x 126 rows
        (8, 100, 3, 0, "diff", 2, [1, 2]),      # 72 ports, 200 columns
    ],
)
def test_conv_array_counts(cin, cout, kernel, pad, scheme, arrays, tiles) -> None:
    facts, reads = tile(conv_module(cin, cout, kernel, pad), scheme)
    assert (facts["arrays"], facts["tiles"]) == (arrays, tiles)
    assert all(read.operands[0].type.shape[1] == (6 + 2 * pad - kernel + 1) ** 2 for read in reads)


def test_small_arrays_cut_rows_and_columns() -> None:
    facts, reads = tile(dense_module(70, 40), "refcol", rows=32, cols=16)
    assert facts["tiles"] == [3, 3] and facts["adc_bits"] == 6  # 32-row tiles: ceil(log2 33) bits
    assert sorted({tuple(r.const_type("conductance").shape) for r in reads}) == [(6, 11), (6, 16), (32, 11), (32, 16)]  # 15 + 15 + 10 outputs, each tile with its reference column


# ---------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    "fan_in, outputs, transfers",
    [
        # one 128-row array, comparators: input register loaded (1), driving the read (1), output register (1)
        (100, 10, 3),
        # three row tiles of 20 outputs + the reference column: 21 columns on ceil(21 / 8) ADCs take
        # min(8, 21) = 8 conversion rounds, each latched for the shift-add: 1 + 1 + 8 + 1
        (300, 20, 11),
    ],
)
def test_register_transfers_add_their_cycles_to_every_window(fan_in: int, outputs: int, transfers: int) -> None:
    """``digital.register_cycles`` = 3 at the default 1 GHz clock adds 3 ns per register transfer
    on the window's path, and nothing else changes."""
    from bnnc.backends.hardware import default_hardware
    from bnnc.backends.schedule import timing_of

    module = parse_module(dense_module(fan_in, outputs))
    PassManager.from_pipeline("sign-convert{scheme=refcol},canonicalize,tile{rows=128,cols=128},dce").run(module, PassContext())
    (layer,) = program_layers(module).crossbar
    base = default_hardware()
    slow = base.with_values({"digital.register_cycles": 3})
    assert timing_of(base).register_ns == 0
    assert layer.register_transfers(timing_of(slow)) == transfers
    assert layer.window_ns(timing_of(slow)) - layer.window_ns(timing_of(base)) == pytest.approx(3.0 * transfers)


def test_a_windows_results_cross_the_interconnect_at_its_bandwidth() -> None:
    """``interconnect.bandwidth_gbps`` = 5: the 10 comparator bits of a window take 10 / 5 = 2 ns
    more; two replicas send two windows' bits per group, 4 ns."""
    from bnnc.backends.hardware import default_hardware
    from bnnc.backends.schedule import timing_of

    base = default_hardware()
    narrow = base.with_values({"interconnect.bandwidth_gbps": 5})
    assert timing_of(base).transfer_ns_per_bit == 0
    for replicas, extra in ((1, 2.0), (2, 4.0)):
        module = parse_module(conv_module(4, 10, 3, 1))
        pipeline = f"sign-convert{{scheme=refcol}},canonicalize,tile{{rows=128,cols=128}},set-replicas{{layers=L,replicas={replicas}}},dce"
        PassManager.from_pipeline(pipeline).run(module, PassContext())
        (layer,) = program_layers(module).crossbar
        assert (layer.replicas, layer.output_bits) == (replicas, 10)
        assert layer.window_ns(timing_of(narrow)) - layer.window_ns(timing_of(base)) == pytest.approx(extra)



@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sched") / "cnn.onnx"
    onnx.save(ZOO["cnn_pad1_stride1"].build(), path)
    return path


def schedule_of(path: Path, **pipeline) -> object:
    return build_schedule(program_layers(bnnc.compile(path, pipeline=default_pipeline(**pipeline)).module), default_timing())


def test_schedule_is_monotone_and_arrays_never_double_booked(cnn: Path) -> None:
    schedule = schedule_of(cnn, max_arrays=30)
    for layer in schedule.layers:
        ends = layer.group_end_ns
        starts = ends - layer.window_ns
        assert np.all(np.diff(ends) > 0) and layer.start_ns <= layer.end_ns
        assert np.all(starts[1:] >= ends[:-1] - 1e-9), "one array group serves one window group at a time"
    for producer, consumer in zip(schedule.layers, schedule.layers[1:]):
        assert consumer.start_ns >= producer.start_ns and consumer.end_ns >= producer.end_ns


def test_bottleneck_time_is_the_steady_state_period(cnn: Path) -> None:
    schedule = schedule_of(cnn)
    busiest = max(schedule.layers, key=lambda layer: layer.busy_ns)
    assert schedule.bottleneck == busiest.name
    assert schedule.period_ns == busiest.busy_ns == busiest.groups * busiest.window_ns
    assert schedule.throughput_ips == pytest.approx(1e9 / busiest.busy_ns)


def test_a_layer_waits_for_the_rows_its_first_window_needs(cnn: Path) -> None:
    schedule = schedule_of(cnn)
    first, second = schedule.layers[0], schedule.layers[1]
    # cnn_pad1_stride1: 8x8 conv output, 2x2 max-pool to 4x4, then a 3x3 pad-1 conv: its first
    # window reads pooled rows 0-1, i.e. conv rows 0-3, up to column 3: 3 * 8 + 3 + 1 positions
    assert second.producer == first.name
    assert second.start_ns == pytest.approx(first.group_end_ns[3 * 8 + 3])


@pytest.mark.parametrize("layer_index", [0, 1])
def test_doubling_a_layers_replicas_never_makes_the_schedule_slower(cnn: Path, layer_index: int) -> None:
    module = bnnc.compile(cnn, pipeline=default_pipeline()).module
    base = build_schedule(program_layers(module), default_timing())
    name = base.layers[layer_index].name
    for replicas in (1, 2, 4, 8, 16):
        for op in module.function().ops:
            if isinstance(op, xbar.Mvm) and op.location.names[0] == name:
                op.attributes["replicas"] = replicas
        faster = build_schedule(program_layers(module), default_timing())
        assert faster.period_ns <= base.period_ns and faster.latency_ns <= base.latency_ns + 1e-9
        base = faster


def test_positions_not_a_multiple_of_replicas_finish_with_a_partial_group(cnn: Path) -> None:
    module = bnnc.compile(cnn, pipeline=default_pipeline()).module
    for op in module.function().ops:
        if isinstance(op, xbar.Mvm) and op.location.names[0] == "Conv_0":
            op.attributes["replicas"] = 5  # 64 windows: 12 groups of 5 and one of 4
    layer = build_schedule(program_layers(module), default_timing()).layers[0]
    assert layer.groups == math.ceil(64 / 5) == 13


def test_replicate_respects_the_budget_and_improves_the_period(cnn: Path) -> None:
    plain = schedule_of(cnn)
    for budget in (20, 40, 80):
        schedule = schedule_of(cnn, max_arrays=budget)
        assert sum(layer.arrays for layer in schedule.layers) <= budget
        assert schedule.period_ns < plain.period_ns


def test_target_fps_uses_no_more_arrays_than_needed(cnn: Path) -> None:
    plain = schedule_of(cnn)
    target = 2.5 * plain.throughput_ips
    schedule = schedule_of(cnn, target_fps=target)
    assert schedule.throughput_ips >= target
    arrays = sum(layer.arrays for layer in schedule.layers)
    looser = schedule_of(cnn, max_arrays=arrays - 1)
    assert looser.throughput_ips < target  # one array fewer cannot reach it


def test_trace_is_valid_chrome_json_and_stays_small(cnn: Path) -> None:
    schedule = schedule_of(cnn, max_arrays=12)
    trace = trace_events(schedule, max_events_per_layer=8)
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert events and all(e["dur"] > 0 and e["ts"] >= 0 for e in events)
    assert len(events) <= 2 * 8 * len(schedule.layers)
    covered = sum(e["args"]["windows"] for e in events if e["pid"] == 1)
    assert covered == sum(layer.positions for layer in schedule.layers)


def test_cli_writes_schedule_trace_and_report_fields(cnn: Path, tmp_path: Path, capsys) -> None:
    assert main([str(cnn), "--array", "64x64", "--max-arrays", "24", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "arrays" in out and "inferences/s" in out and "bottleneck" in out
    report = json.loads((tmp_path / "report.json").read_text())
    schedule = json.loads((tmp_path / "schedule.json").read_text())
    trace = json.loads((tmp_path / "trace.json").read_text())
    totals = report["totals"]
    assert totals["arrays"] <= 24 and totals["arrays"] == sum(layer["arrays"] for layer in report["layers"])
    assert totals["latency_ns"] == schedule["latency_ns"] and totals["bottleneck_layer"] == schedule["bottleneck_layer"]
    assert totals["arrays_lower_bound"] <= totals["arrays"]
    for layer in report["layers"]:
        if layer["target"] == "crossbar":
            assert {"arrays", "tiles", "replicas", "sensing", "adc_bits", "cycles", "start_cycle", "end_cycle"} <= set(layer)
    assert trace["traceEvents"]
