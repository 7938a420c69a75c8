"""The cost model: on every zoo model, each layer's and the totals' energy and area by
component sum to the layer's and the model's figures, and the components are the same
everywhere; the report names what the model leaves out."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

import bnnc
from tests.models.zoo import ZOO

COMPONENTS = {"cells", "drivers", "sensing", "adc", "digital", "buffers", "interconnect", "leakage"}


@pytest.mark.parametrize("name", list(ZOO))
def test_breakdowns_sum_to_the_totals_on_every_zoo_model(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(ZOO[name].build(), path)
    report = bnnc.compile(path).report
    totals = report["totals"]
    for entry in [*report["layers"], totals]:
        assert set(entry["energy_breakdown_nj"]) == set(entry["area_breakdown_mm2"]) == COMPONENTS
        assert all(v >= 0 for v in [*entry["energy_breakdown_nj"].values(), *entry["area_breakdown_mm2"].values()])
        assert sum(entry["energy_breakdown_nj"].values()) == pytest.approx(entry["energy_nj"], rel=1e-12, abs=1e-15)
        assert sum(entry["area_breakdown_mm2"].values()) == pytest.approx(entry["area_mm2"], rel=1e-12, abs=1e-15)
    for component in COMPONENTS:
        assert totals["energy_breakdown_nj"][component] == pytest.approx(
            sum(e["energy_breakdown_nj"][component] for e in report["layers"]), rel=1e-12, abs=1e-15)
    assert totals["area_mm2"] == pytest.approx(sum(e["area_mm2"] for e in report["layers"]))
    assert report["not_modelled"] and all(isinstance(item, str) and item for item in report["not_modelled"])


def test_the_mnsim_profile_costs_a_tile_as_mnsim_does(tmp_path: Path) -> None:
    """``--hw mnsim``: a one-array layer occupies a whole tile of eight slots (PE_Num = 2,2 PEs of
    two arrays), each slot MNSIM-2.0's 256·256·1.44 µm² of cells plus 1150 µm² of driver per row
    (Crossbar.py) and a decoder of 8·255 transistors of 10·(130 nm)², and its input buffer the
    2 KB SRAM macro of Buffer.py at 90 nm (0.0405803 mm², 1.006428 mW of leakage over the run)."""
    from tests.test_report import small_model

    small_model(tmp_path / "small.onnx")
    report = bnnc.compile(tmp_path / "small.onnx", hw="mnsim", scheme="refcol").report
    (layer,) = report["layers"]
    assert layer["array"] == [256, 256] and layer["arrays"] == 1
    area, energy = layer["area_breakdown_mm2"], layer["energy_breakdown_nj"]
    assert area["cells"] == pytest.approx(8 * 256 * 256 * 1.44e-6)
    assert area["drivers"] == pytest.approx(8 * (256 * 1150 + 8 * 255 * 0.169) * 1e-6)
    assert area["buffers"] == pytest.approx(8 * 0.0405803)
    assert energy["leakage"] == pytest.approx(8 * 1.006428 * report["totals"]["latency_ns"] / 1000)  # mW · ns = pJ
    assert area["interconnect"] == energy["interconnect"] == 0
    parameters = report["hardware"]["parameters"]
    assert parameters["read"]["time_ns"]["value"] == 3.16 and "mnsim profile" in parameters["read"]["time_ns"]["source"]
    # a window: 3 ns of row drive (DAC latency (1 + 2) / 1 GS/s), 3.16 ns of read, 1 ns of sense
    # amplifier, a 2 ns digital cycle, after one 20 ns buffer write and one 20 ns buffer read, and
    # three register transfers of one 2 ns cycle each (PE_latency.py: the input register loaded and
    # driving the read, the output register written), and the 2 output bits sent on at 20 Gb/s
    assert layer["window_ns"] == pytest.approx(20 + 20 + 3 + 3.16 + 1 + 2 + 3 * 2 + 2 / 20)


@pytest.mark.parametrize("bits, capacity_kb, count", [
    (0, 2, 1), (4096, 2, 1), (16384, 2, 1), (16385, 4, 1), (16 * 8192, 16, 1), (600 * 8192, 512, 2)])
def test_sram_macros_are_chosen_by_size_as_mnsim_does(bits: int, capacity_kb: int, count: int) -> None:
    """Buffer.py lines 37-112: the smallest macro that holds the buffer (≤ 2 KB, 4 KB, …); beyond
    the 512 KB macro, as many of it as needed."""
    from bnnc.backends.sram import MNSIM_SRAM_90NM, macros_for

    macro, n = macros_for(bits, MNSIM_SRAM_90NM)
    assert (macro.capacity_bytes, n) == (capacity_kb * 1024, count)


def test_tiles_count_every_slot_of_a_layer(tmp_path: Path) -> None:
    """``array.arrays_per_tile``: a one-array layer in tiles of four costs four arrays' cells,
    drivers, sensing and buffers and leaks for four, while its digital logic stays one array's."""
    from tests.test_report import small_model

    small_model(tmp_path / "small.onnx")
    one = bnnc.compile(tmp_path / "small.onnx").report["layers"][0]
    four = bnnc.compile(tmp_path / "small.onnx", hw=bnnc.hardware(None).with_values({"array.arrays_per_tile": 4})).report["layers"][0]
    for component in ("cells", "drivers", "sensing", "buffers"):
        assert four["area_breakdown_mm2"][component] == pytest.approx(4 * one["area_breakdown_mm2"][component])
    assert four["area_breakdown_mm2"]["digital"] == pytest.approx(one["area_breakdown_mm2"]["digital"])
    assert four["energy_breakdown_nj"]["leakage"] == pytest.approx(4 * one["energy_breakdown_nj"]["leakage"])
    assert four["energy_breakdown_nj"]["cells"] == pytest.approx(one["energy_breakdown_nj"]["cells"])


def test_a_file_named_like_a_profile_is_read_as_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnsim").write_text("[array]\nrows = 64\n")
    assert bnnc.hardware("mnsim").array.rows == 64
    assert bnnc.hardware(None).array.rows == 128 and bnnc.hardware("mnsim").array.cols == 128


MNSIM_CNV = {"arrays": 70, "area_mm2": 52.1027, "energy_nj": 3878.33, "latency_ns": 288_725.0,
             "energy_leaking_over_the_run_nj": 23_295.2}
"""MNSIM 2.0's printed figures for FINN's CNV (8-bit input) at 256 × 256 with 1-bit sense amplifiers,
from the run of docs/mnsim-comparison.md; the last is its energy with its buffers' printed leakage
share (2376.7 nJ) replaced by their 75 macros' leakage over its latency (21 793.6 nJ)."""


def test_the_mnsim_comparison_page_states_what_bnnc_computes(tmp_path: Path) -> None:
    """docs/mnsim-comparison.md: its command's figures and differences are the page's, and those
    the page calls within 25 % of MNSIM's are, those it calls not within are not."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_models", Path(__file__).resolve().parents[1] / "bench" / "models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    onnx.save(models.cnv(), tmp_path / "cnv.onnx")
    t = bnnc.compile(tmp_path / "cnv.onnx", hw="mnsim", scheme="diff").totals
    page = (Path(__file__).resolve().parents[1] / "docs" / "mnsim-comparison.md").read_text()
    no_adc_area = t["area_mm2"] - t["area_breakdown_mm2"]["adc"]
    no_adc_energy = t["energy_nj"] - t["energy_breakdown_nj"]["adc"]
    leaking = MNSIM_CNV["energy_leaking_over_the_run_nj"]

    def diff(ours: float, theirs: float) -> str:
        return f"{100 * (ours / theirs - 1):+.1f} %".replace("-", "−")

    rows = {
        "arrays, MNSIM's way": (f"| {2 * t['arrays_mnsim_style']} ({t['arrays_mnsim_style']} PE pairs", 2 * t["arrays_mnsim_style"], MNSIM_CNV["arrays"], True),
        "arrays bnnc allocates": (f"| {t['arrays']} (`arrays`)", t["arrays"], MNSIM_CNV["arrays"], True),
        "area": (f"| {t['area_mm2']:.1f} mm²; {no_adc_area:.1f} mm² without the partial-sum ADCs", no_adc_area, MNSIM_CNV["area_mm2"], True),
        "energy per image, as MNSIM": (f"| {t['energy_nj'] / 1000:.2f} µJ |", t["energy_nj"], MNSIM_CNV["energy_nj"], False),
        "energy per image, MNSIM's buffers leaking": (
            f"| {t['energy_nj'] / 1000:.2f} µJ; {no_adc_energy / 1000:.2f} µJ without the partial-sum ADCs",
            no_adc_energy, leaking, True),
        "latency": (f"| {t['latency_ns'] / 1000:.1f} µs", t["latency_ns"], MNSIM_CNV["latency_ns"], False),
    }
    lines = page.splitlines()
    for label, (shown, ours, theirs, within) in rows.items():
        (line,) = [line for line in lines if line.startswith(f"| {label}")]
        assert shown in line, (label, shown)
        assert (abs(ours / theirs - 1) < 0.25) == within, label
        assert ("not within 25 %" not in line) == within, label
    assert diff(t["area_mm2"], MNSIM_CNV["area_mm2"]) in page and diff(no_adc_area, MNSIM_CNV["area_mm2"]) in page
    assert diff(t["energy_nj"], leaking) in page and diff(no_adc_energy, leaking) in page
    assert diff(t["latency_ns"], MNSIM_CNV["latency_ns"]) in page
    assert f"{t['energy_breakdown_nj']['leakage'] / 1000:.2f} µJ buffer leakage" in page


def test_saved_ir_of_a_profile_compilation_reports_the_same(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
    compiled = bnnc.compile(example, hw="mnsim")
    compiled.write(tmp_path / "out")
    loaded = bnnc.load(tmp_path / "out" / "model.bir").report
    assert loaded["totals"] == compiled.totals and loaded["hardware"] == compiled.report["hardware"]
