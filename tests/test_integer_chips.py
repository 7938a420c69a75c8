"""The exact integer path of integer-representable chips (bnnc.backends.simulator.integer_chips):
on the zoo's models and every scheme, a Monte Carlo over chips gives what the analog path (the
definition) gives on the same seed — every output, agreement, accuracy and flip rate; margins
within the analog path's float32 rounding — with every kind of stuck cell, comparator offsets,
fault-aware folding and spares; and where the integer path could decide otherwise (replicas
holding different cells, an ADC the chip could saturate, a comparator threshold on a step, a
device with variation) the chip runs on the analog path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bnnc
import bnnc.robustness as robustness_module
from bnnc.backends.hardware import DeviceConfig
from bnnc.backends.simulator import SimulatorError, simulate
from bnnc.backends.simulator import deferred, gemm, integer_chips, packed
from bnnc.backends.simulator.caches import thresholds_per_position
from bnnc.backends.simulator.chips import STUCK_HRS, STUCK_LRS, ChipSampler, arrays_of
from bnnc.backends.simulator.integer_chips import MARGIN_TOLERANCE_LSB, analog_comparator, chip_cells, raw_unit
from bnnc.robustness import hardware_device

DIGITS = Path(__file__).parent / "models" / "digits" / "digits_bnn.onnx"


def _lsb(c: bnnc.Compilation) -> float:
    return c.hw.read.voltage_v * c.hw.cell.delta_g_s


def _arguments(c: bnnc.Compilation, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    n = len(next(iter(inputs.values())))
    return [np.asarray(v).reshape((n,) + a.type.shape) for v, a in zip(inputs.values(), c.module.function("main").args)]


def _both_paths(c: bnnc.Compilation, config: DeviceConfig, inputs: dict[str, np.ndarray], monkeypatch, **options):
    """The Monte Carlo's report as it runs (integer path where it applies) and with every chip
    forced onto the analog path, and every chip cells the integer path ran."""
    ran = []

    def spy(*args, **kwargs):
        cells = chip_cells(*args, **kwargs)
        if cells is not None:
            ran.append(cells)
        return cells

    monkeypatch.setattr(robustness_module, "chip_cells", spy)
    exact = c.robustness(config, inputs=inputs, **options).to_json()
    monkeypatch.setattr(robustness_module, "chip_cells", lambda *args, **kwargs: None)
    analog = c.robustness(config, inputs=inputs, **options).to_json()
    return exact, analog, ran


def _assert_same(exact: dict, analog: dict) -> None:
    """Everything equal but the timings, margins within the analog path's rounding."""
    margins = []
    for report in (exact, analog):
        report.pop("seconds_per_chip_sample")
        report.pop("ideal_seconds_per_sample")
        layers = report.pop("layers") + (report["fault_aware"].pop("layers") if "fault_aware" in report else [])
        margins.append([layer.pop("min_margin_lsb") for layer in layers])
        report["all layers"] = layers
    assert exact == analog
    for a, b in zip(*margins):
        assert (a is None) == (b is None) and (a is None or abs(a - b) < MARGIN_TOLERANCE_LSB), (a, b)


CASES = [("digits", {}), ("cnn_pad1_stride1", {}), ("cnn_pad1_stride1", {"array": (32, 32)}),
         ("cnn_pad_value", {"array": (32, 32)}), ("uint8_input_cnn", {}), ("mlp_sign_w_graph", {"array": (32, 32)})]


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{'tiled' if o else 'untiled'}" for n, o in CASES])
@pytest.mark.parametrize("scheme", ["refcol", "xnor", "diff"])
@pytest.mark.parametrize("fault_aware", [False, True])
@pytest.mark.parametrize("engine", ["gemm", "packed", "integer-gemm"])
def test_integer_chips_give_the_analog_paths_results(zoo_dir: Path, monkeypatch, name: str, options: dict, scheme: str,
                                                     fault_aware: bool, engine: str) -> None:
    """``engine``: the chips' reads on byte GEMMs (a small Monte Carlo's), on the popcount
    kernels wherever they are profitable (every read's work taken to repay packing), or on
    ``MatMulInteger`` wherever it is exact (every read's work taken to repay its session)."""
    c = bnnc.compile(DIGITS if name == "digits" else zoo_dir / f"{name}.onnx", scheme=scheme, **options)
    config = DeviceConfig(stuck_hrs=0.05, stuck_lrs=0.05, comparator_offset_sigma=0.1 * _lsb(c), spare_rows=2, spare_cols=2)
    inputs = c.random_inputs(24, seed=4)
    packed_calls = []
    if engine == "packed":
        monkeypatch.setattr(integer_chips, "PACKED_MIN_MACS", 0)
        monkeypatch.setattr(deferred, "CHIP_PACKED_MIN_ROWS", 0)
        compare = packed.PackedWeights.compare
        monkeypatch.setattr(packed.PackedWeights, "compare", lambda *a: packed_calls.append(1) or compare(*a))
    integer_calls = []
    if engine == "integer-gemm":
        monkeypatch.setattr(integer_chips, "PACKED_MIN_MACS", 0)
        monkeypatch.setattr(deferred, "CHIP_PACKED_MIN_ROWS", 1 << 40)
        monkeypatch.setattr(deferred, "CHIP_INTEGER_GEMM_MACS", 0)
        run = gemm.MatMulInteger.__call__
        monkeypatch.setattr(gemm.MatMulInteger, "__call__", lambda *a: integer_calls.append(1) or run(*a))
    exact, analog, ran = _both_paths(c, config, inputs, monkeypatch, chips=3, seed=5, fault_aware=fault_aware)
    _assert_same(exact, analog)
    assert bool(packed_calls) == (engine == "packed")  # every model here has a profitable packed read
    assert bool(integer_calls) or engine != "integer-gemm"  # and a chip's read of bytes on cells it holds
    assert len(ran) >= (3 if fault_aware else 2)  # most chips ran exactly (a few may meet a threshold on a step)
    counts = np.concatenate([cells.counts[op].ravel() for cells in ran for op in cells.counts])
    assert {0, 1} <= set(np.unique(counts)) and (scheme != "refcol" or 2 in counts)  # a reference cell stuck on
    assert any(layer["flip_rate"] > 0 for layer in exact["all layers"])


def test_comparator_offsets_move_the_integer_thresholds(monkeypatch) -> None:
    """Offsets of several half steps: chips whose thresholds keep off the steps run exactly,
    their analog comparators' thresholds moved by whole steps, with the analog path's results."""
    c = bnnc.compile(DIGITS, scheme="xnor")
    config = DeviceConfig(stuck_lrs=0.02, comparator_offset_sigma=2 * _lsb(c))
    exact, analog, ran = _both_paths(c, config, c.random_inputs(32, seed=1), monkeypatch, chips=6, seed=3)
    _assert_same(exact, analog)
    assert ran
    moved = [op for cells in ran for op in cells.limits
             if not np.array_equal(cells.thresholds[op], thresholds_per_position(op, "thresholds"))]
    assert moved and exact["all layers"][0]["flip_rate"] > 0


def _sampler(c: bnnc.Compilation, **config) -> ChipSampler:
    return ChipSampler(c.module, DeviceConfig(**config), hardware_device(c.hw), seed=2)


def test_replicas_with_different_cells_take_the_analog_path(zoo_dir: Path, monkeypatch) -> None:
    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", max_arrays=200)
    assert any(op.attr("replicas") > 1 for op in arrays_of(c.module))
    sampler = _sampler(c, stuck_lrs=0.05)
    assert chip_cells(sampler, sampler.chip(0)) is None
    first = sampler.chip(0)  # one tested chip's map, the same cells on every replica: exact again
    fault_map = {op.const("conductance"): first.stuck[op][0] for op in arrays_of(c.module)}
    mapped = ChipSampler(c.module, DeviceConfig(), hardware_device(c.hw), 2, fault_map)
    cells = chip_cells(mapped, mapped.chip(0))
    assert cells is not None
    x = _arguments(c, c.random_inputs(8, seed=0))
    got = simulate(c.module, x, cells=cells)
    expected = simulate(c.module, x, device=mapped.chip(0).device())
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    exact, analog, ran = _both_paths(c, DeviceConfig(), c.random_inputs(8, seed=0), monkeypatch, chips=2, fault_map=fault_map)
    _assert_same(exact, analog)
    assert len(ran) == 2


def test_an_adc_the_chip_could_saturate_takes_the_analog_path(zoo_dir: Path, monkeypatch) -> None:
    """Every reference cell stuck on counts 2 per driven row: twice the rows overflow the
    ADC sized for them, which the analog path clips."""
    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", scheme="refcol", array=(32, 32))
    assert chip_cells(_sampler(c, stuck_lrs=0.01), _sampler(c, stuck_lrs=0.01).chip(0)) is not None
    full = _sampler(c, stuck_lrs=1.0)
    assert chip_cells(full, full.chip(0)) is None
    exact, analog, ran = _both_paths(c, DeviceConfig(stuck_lrs=1.0), c.random_inputs(8), monkeypatch, chips=1)
    assert not ran
    _assert_same(exact, analog)


def test_a_threshold_on_a_step_takes_the_analog_path() -> None:
    """An offset of half a raw step puts an analog comparator's firing current on a whole
    step, where the analog path's float32 currents decide."""
    c = bnnc.compile(DIGITS, scheme="refcol")
    sampler = _sampler(c, stuck_hrs=0.01, comparator_offset_sigma=1e-3 * _lsb(c))
    chip = sampler.chip(0)
    assert chip_cells(sampler, chip) is not None
    op = next(op for op, _ in sampler.comparators if analog_comparator(op))
    chip.offsets[op] = np.full_like(chip.offsets[op], raw_unit(sampler.base, op) / 2)
    assert chip_cells(sampler, chip) is None


@pytest.mark.parametrize("key", ["program_sigma", "read_sigma", "wire_ohm"])
def test_a_device_with_variation_takes_the_analog_path(key: str) -> None:
    c = bnnc.compile(DIGITS)
    sampler = _sampler(c, stuck_hrs=0.01, **{key: 0.01})
    assert chip_cells(sampler, sampler.chip(0)) is None
    drifting = _sampler(c, drift_nu=0.05, drift_t_seconds=100.0)
    assert chip_cells(drifting, drifting.chip(0)) is None
    assert chip_cells(_sampler(c, drift_nu=0.05), _sampler(c, drift_nu=0.05).chip(0)) is not None  # no time: no drift


def test_stuck_codes_become_cell_counts() -> None:
    c = bnnc.compile(DIGITS, scheme="refcol")
    sampler = _sampler(c, stuck_hrs=0.2, stuck_lrs=0.2)
    chip = sampler.chip(0)
    cells = chip_cells(sampler, chip)
    for op in arrays_of(c.module):
        codes, bits, counts = chip.stuck[op][0], op.const_array("conductance"), cells.counts[op]
        works = codes == 0
        assert np.array_equal(counts[works], bits[works])
        assert (counts[codes == STUCK_HRS] == 0).all()
        assert (counts[:, :-1][codes[:, :-1] == STUCK_LRS] == 1).all()
        assert (counts[:, -1][codes[:, -1] == STUCK_LRS] == 2).all()  # the reference column: g_on = 2 reference steps
        g = chip.conductances[op][0]
        steps = sampler.base.column_steps(g.shape[1], True)
        assert np.allclose((g - sampler.base.g_off) / steps, counts, rtol=0, atol=1e-9)


def test_cells_and_a_device_are_not_both_given() -> None:
    c = bnnc.compile(DIGITS)
    sampler = _sampler(c)
    with pytest.raises(SimulatorError, match="not both"):
        simulate(c.module, _arguments(c, c.random_inputs(2)), device=sampler.chip(0).device(),
                 cells=chip_cells(sampler, sampler.chip(0)))


def test_a_chips_cells_never_take_the_programs_kept_packed_route(zoo_dir: Path, monkeypatch) -> None:
    """The integer path keeps a comparator's packed route (its packed weights) from call to call;
    a chip's cells run without an observer must still read the chip's cells, not the kept route."""
    monkeypatch.setattr(packed, "PACKED_MIN_MACS", 0)  # every read runs packed: the route is kept
    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", scheme="xnor")
    x = _arguments(c, c.random_inputs(16, seed=0))
    for _ in range(2):
        ideal = simulate(c.module, x)
    sampler = _sampler(c, stuck_lrs=0.2, stuck_hrs=0.2)
    cells = chip_cells(sampler, sampler.chip(0))
    assert cells is not None
    got = simulate(c.module, x, cells=cells)
    expected = simulate(c.module, x, device=sampler.chip(0).device())
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    assert not all(np.array_equal(g, i) for g, i in zip(got, ideal))


def test_a_monte_carlos_integer_chips_run_the_fused_plan(zoo_dir: Path, monkeypatch) -> None:
    """The Monte Carlo's observer watches only the comparators and the return, so the ideal run
    and every integer chip run the integer path's fused plan: no step of its own for an array
    read, an ADC or an accumulation (a tiled program has all three), a step per comparator —
    and the report is the analog path's (margins included: the observer gets each fused
    comparator's pending reads)."""
    from bnnc.backends.simulator import driver

    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32))
    ops = [op.name for op in c.module.function("main").ops]
    assert {"xbar.mvm", "xbar.adc", "xbar.accumulate"} <= set(ops)
    plans = []
    plan = driver._plan

    def spy(*args, **kwargs):
        steps = plan(*args, **kwargs)
        plans.append([step.op().name for step in steps])
        return steps

    monkeypatch.setattr(driver, "_plan", spy)
    config = DeviceConfig(stuck_hrs=0.05, stuck_lrs=0.05, comparator_offset_sigma=0.1 * _lsb(c))
    exact, analog, ran = _both_paths(c, config, c.random_inputs(8, seed=1), monkeypatch, chips=2, seed=3)
    _assert_same(exact, analog)
    assert len(ran) == 2 and len(plans) == 6  # per Monte Carlo: the ideal run and two chips
    for steps in plans[:3]:
        assert not {"xbar.mvm", "xbar.adc", "xbar.accumulate"} & set(steps)
        assert steps.count("xbar.compare") == ops.count("xbar.compare")
    assert all("xbar.mvm" in steps for steps in plans[4:])  # the analog path's chips: unfused
