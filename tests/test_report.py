"""The report: totals are sums of the layers, energies and areas agree with an independent
computation from the hardware configuration, array counts match hand counts, and the HTML
report renders in a real browser."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from bnnc.backends.hardware import default_hardware
from bnnc.cli import main
from tests.models.builders import single_io_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "models"
FINN_TFC = SHARED / "finn_tfc_w1a1" / "model.onnx"


def small_model(path: Path) -> np.ndarray:
    """One ±1 dense layer (fan-in 3, 2 outputs) on a bipolar input, BatchNorm, Sign."""
    w = np.array([[1, -1, 1], [1, 1, -1]], np.float32)
    inits = [numpy_helper.from_array(w.T.copy(), "w")] + [
        numpy_helper.from_array(np.array(v, np.float32), n)
        for n, v in (("g", [1.0, 1.0]), ("b", [0.0, 0.0]), ("m", [0.5, -0.5]), ("v", [1.0, 1.0]))
    ]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"]),
             helper.make_node("BatchNormalization", ["y", "g", "b", "m", "v"], ["z"]),
             helper.make_node("Sign", ["z"], ["out"])]
    onnx.save(single_io_model(nodes, inits, "x", [1, 3], "out", [1, 2]), path)
    return w


def compile_report(tmp_path: Path, model: Path, *flags: str) -> dict:
    assert main([str(model), "-o", str(tmp_path / "out"), *flags]) == 0
    return json.loads((tmp_path / "out" / "report.json").read_text())


def test_totals_are_sums_of_the_layers(tmp_path: Path) -> None:
    report = compile_report(tmp_path, Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx", "--max-arrays", "30")
    layers, totals = report["layers"], report["totals"]
    for key in ("arrays", "energy_nj", "area_mm2", "arrays_mnsim_style"):
        assert totals[key] == pytest.approx(sum(layer[key] for layer in layers))
    assert totals["binary_ops"] == 2 * sum(layer.get("binary_macs", 0) for layer in layers)
    assert totals["tops_per_w"] == pytest.approx(totals["binary_ops"] / (totals["energy_nj"] * 1e-9) / 1e12)
    assert totals["ips_per_mm2"] == pytest.approx(totals["throughput_ips"] / totals["area_mm2"])
    for layer in layers:
        assert layer["energy_nj"] == pytest.approx(sum(layer["energy_breakdown_nj"].values()))
        assert layer["area_mm2"] == pytest.approx(sum(layer["area_breakdown_mm2"].values()))
    for component, value in totals["energy_breakdown_nj"].items():
        assert value == pytest.approx(sum(layer["energy_breakdown_nj"][component] for layer in layers))
    assert sum(totals["energy_breakdown_nj"].values()) == pytest.approx(totals["energy_nj"])
    assert sum(totals["area_breakdown_mm2"].values()) == pytest.approx(totals["area_mm2"])
    assert report["not_modelled"] and "## Not modelled" in (tmp_path / "out" / "report.md").read_text()


def test_energy_and_area_of_a_small_layer_from_the_configuration(tmp_path: Path) -> None:
    """Every component of one small layer, from the cited figures of DESIGN.md §6 and
    backends/hardware.py worked out by hand (not read back from the configuration)."""
    w = small_model(tmp_path / "small.onnx")
    report = compile_report(tmp_path, tmp_path / "small.onnx", "--scheme", "refcol")
    (layer,) = report["layers"]
    energy, area = layer["energy_breakdown_nj"], layer["area_breakdown_mm2"]
    assert set(energy) == set(area) == {"cells", "drivers", "sensing", "adc", "digital", "buffers", "interconnect", "leakage"}
    # refcol on one 128x128 array: cells w̃ (3 x 2) plus a reference column of 3 mid cells,
    # read once per inference with each port driven half the time (0.15 V, 10 ns, 10 kΩ / 1 MΩ)
    on = int((w > 0).sum())
    off = w.size - on
    v, t, g_on, g_off = 0.15, 10e-9, 1e-4, 1e-6
    array_j = 0.5 * v * v * t * (on * g_on + off * g_off + 3 * (g_on + g_off) / 2)
    assert energy["cells"] == pytest.approx(array_j * 1e9)
    # three word lines, each high half the time: 3.9 µW at 1 GS/s (ISAAC 1-bit DAC) per drive
    assert energy["drivers"] == pytest.approx(0.5 * 3 * 3.9e-6 / 1e9 * 1e9)
    # one comparator decision per output (2), one per read; 1.63 µW at 1 GS/s; no ADC
    assert energy["sensing"] == pytest.approx(2 * 1.63e-6 / 1e9 * 1e9) and energy["adc"] == 0
    # two output register bits at 0.009 pJ (Aladdin)
    assert energy["digital"] == pytest.approx(2 * 0.009e-3)
    # three input bits written into the buffer and read once onto the ports, 0.15625 pJ/bit each
    assert energy["buffers"] == pytest.approx(6 * 0.15625e-3)
    # buffer bits (the line buffer and ISAAC's 2304 register bits per array) leak 187.28 nW each
    # for the latency of the inference
    bits = layer["line_buffer_bits"] + 2304
    assert energy["leakage"] == pytest.approx(bits * 187.28e-9 * report["totals"]["latency_ns"] * 1e-9 * 1e9)
    assert layer["sensing"] == "comparator" and layer["comparators"] == 2 and layer["arrays"] == 1
    # area: one 128x128 array of 1.44 µm² cells; a 55.81 µm² driver per row and per column and a
    # 127-stage decoder of 8 transistors of 0.04225 µm² each; two 1 µm² comparators; two 5.98 µm²
    # register bits; the buffer bits at 0.2392578125 µm² (PUMA)
    cells, drivers = 128 * 128 * 1.44, 256 * 55.81 + 8 * 127 * 0.04225
    assert area["cells"] == pytest.approx(cells * 1e-6) and area["drivers"] == pytest.approx(drivers * 1e-6)
    assert area["sensing"] == pytest.approx(2e-6) and area["adc"] == 0
    assert area["digital"] == pytest.approx(2 * 5.98e-6)
    assert area["buffers"] == pytest.approx(bits * 0.2392578125e-6)
    # interconnect: 3 port bits and 2 output bits over the side of the block at 0.0404 pJ/(bit·mm);
    # two 64-wire buses of 0.14 µm pitch over that side
    side_um = math.sqrt(cells + drivers + 2 + 2 * 5.98 + bits * 0.2392578125)
    assert energy["interconnect"] == pytest.approx(5 * 0.0404e-3 * side_um / 1000)
    assert area["interconnect"] == pytest.approx(2 * 64 * 0.14 * side_um * 1e-6)
    assert layer["energy_nj"] == pytest.approx(sum(energy.values()))


def test_every_hardware_figure_is_reported_with_its_source(tmp_path: Path) -> None:
    small_model(tmp_path / "small.onnx")
    report = compile_report(tmp_path, tmp_path / "small.onnx")
    parameters = report["hardware"]["parameters"]
    assert parameters["adc"]["power_6bit_mw"]["source"] and parameters["cell"]["r_on_ohm"]["value"] == 1e4
    assert all(entry["source"] for group in parameters.values() for entry in group.values())


def test_a_hardware_file_changes_the_figures(tmp_path: Path) -> None:
    small_model(tmp_path / "small.onnx")
    base = compile_report(tmp_path, tmp_path / "small.onnx")
    (tmp_path / "hw.toml").write_text("[read]\ntime_ns = 20\n[array]\nrows = 64\ncols = 64\n")
    changed = compile_report(tmp_path, tmp_path / "small.onnx", "--hw", str(tmp_path / "hw.toml"))
    assert changed["layers"][0]["energy_breakdown_nj"]["cells"] == pytest.approx(2 * base["layers"][0]["energy_breakdown_nj"]["cells"])
    assert changed["layers"][0]["area_breakdown_mm2"]["cells"] == pytest.approx(base["layers"][0]["area_breakdown_mm2"]["cells"] / 4)
    assert changed["hardware"]["digest"] != base["hardware"]["digest"]


def test_bad_hardware_file_is_one_line_with_exit_2(tmp_path: Path, capsys) -> None:
    small_model(tmp_path / "small.onnx")
    (tmp_path / "hw.toml").write_text("[array]\nrows = 1\n")
    assert main([str(tmp_path / "small.onnx"), "--hw", str(tmp_path / "hw.toml"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hw.toml" in err and "rows" in err


def test_print_default_hw_round_trips(tmp_path: Path, capsys) -> None:
    assert main(["--print-default-hw"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "default.toml").write_text(text)
    from bnnc.backends.hardware import load_hardware

    assert load_hardware(tmp_path / "default.toml") == default_hardware()
    assert "MNSIM" in text and "NeuroSim" in text


@pytest.mark.skipif(not FINN_TFC.exists(), reason=f"third-party models not found at {SHARED}")
def test_finn_tfc_array_count_matches_a_hand_count(tmp_path: Path) -> None:
    report = compile_report(tmp_path, FINN_TFC, "--array", "128x128", "--scheme", "refcol")
    # 784-64-64-64-10 with one reference column per array (127 outputs per array):
    # layer 1: ceil(784 / 128) = 7 row tiles x ceil(64 / 127) = 1 -> 7 arrays (ADCs: 7 partial sums)
    # layers 2, 3: 64 rows, 64 + 1 columns -> 1 array each (comparators)
    # layer 4: 64 rows, 10 + 1 columns -> 1 array (ADC readout of the logits)
    hand = {"MatMul_0": 7, "MatMul_1": 1, "MatMul_2": 1, "MatMul_3": 1}
    crossbar = {layer["name"]: layer for layer in report["layers"] if layer["target"] == "crossbar"}
    assert {name: layer["arrays"] for name, layer in crossbar.items()} == hand
    assert report["totals"]["arrays"] == 10
    assert crossbar["MatMul_0"]["sensing"] == "adc" and crossbar["MatMul_1"]["sensing"] == "comparator"
    assert crossbar["MatMul_3"]["sensing"] == "adc"


def test_scheme_all_compares_the_mappings(tmp_path: Path) -> None:
    small_model(tmp_path / "small.onnx")
    report = compile_report(tmp_path, tmp_path / "small.onnx", "--scheme", "all")
    assert set(report["schemes"]) == {"refcol", "xnor", "diff", "auto"}
    assert all(totals["arrays"] >= 1 for totals in report["schemes"].values())
    assert "Mapping schemes compared" in (tmp_path / "out" / "report.md").read_text()


def test_digital_blocks_between_arrays_are_counted_from_the_configuration(zoo_dir: Path, tmp_path: Path) -> None:
    """Bi-Real style block: Conv_1's integer sums are read out, BatchNorm, the residual add and
    the ternary sign of the sum run in the digital block behind Conv_1."""
    report = compile_report(tmp_path, zoo_dir / "residual_block.onnx")
    entries = report["layers"]
    block = next(e for e in entries if e["target"] == "digital" and "Add_0" in e["name"])
    assert block["after"] == "Conv_1" and entries[entries.index(block) - 1]["name"] == "Conv_1"
    elements = 8 * 6 * 6  # BatchNormalization_1, Add_0 and Sign_2 each produce 1x8x6x6
    assert block["ops"] == {"fp_add": 2 * elements, "fp_mul": elements, "int_add": 0, "compare": 2 * elements}
    d = default_hardware().digital
    expected_pj = (2 * elements * d.fp_add_energy_pj + elements * d.fp_mul_energy_pj
                   + 2 * elements * 32 * d.comparator_energy_pj_per_bit + 3 * elements * 32 * d.register_energy_pj_per_bit)
    assert block["energy_nj"] == pytest.approx(expected_pj / 1000)
    lanes = d.periphery_lanes
    assert block["area_mm2"] == pytest.approx(lanes * (d.fp_add_area_um2 + d.fp_mul_area_um2 + 32 * d.comparator_area_um2_per_bit
                                                       + 32 * d.register_area_um2_per_bit) / 1e6)
    assert block["busy_ns"] == pytest.approx(math.ceil(2 * elements / lanes) * d.clock_period_ns)
    totals = report["totals"]
    assert totals["energy_nj"] == pytest.approx(sum(e["energy_nj"] for e in entries))
    assert totals["digital_blocks"] == sum(e["target"] == "digital" for e in entries) >= 2
    assert totals["digital_ops"] == sum(sum(e["ops"].values()) for e in entries if e["target"] == "digital")
    assert totals["period_ns"] >= block["busy_ns"]


def test_trace_svg_and_markdown_details(tmp_path: Path) -> None:
    """Perfetto puts tid 0 on the process track (a layer's slices would land on another's), an
    SVG copied out of the page needs its namespace, report.md states the golden check in words."""
    compile_report(tmp_path, Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx")
    trace = json.loads((tmp_path / "out" / "trace.json").read_text())["traceEvents"]
    assert all(event["tid"] >= 1 for event in trace if "tid" in event)
    page = (tmp_path / "out" / "report.html").read_text()
    tags = re.findall(r"<svg\b[^>]*>", page)
    assert tags and all('xmlns="http://www.w3.org/2000/svg"' in tag for tag in tags)
    assert "bit-exact against onnxruntime on 16 inputs" in (tmp_path / "out" / "report.md").read_text()
