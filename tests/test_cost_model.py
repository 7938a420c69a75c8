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


def test_the_mnsim_profile_costs_an_array_as_mnsim_does(tmp_path: Path) -> None:
    """``--hw mnsim``: one 256 × 256 array costs MNSIM-2.0's 256·256·1.44 µm² of cells plus
    1150 µm² of driver per row (Crossbar.py), and its decoder 8·255 transistors of 10·(130 nm)²."""
    from tests.test_report import small_model

    small_model(tmp_path / "small.onnx")
    report = bnnc.compile(tmp_path / "small.onnx", hw="mnsim", scheme="refcol").report
    (layer,) = report["layers"]
    assert layer["array"] == [256, 256] and layer["arrays"] == 1
    assert layer["area_breakdown_mm2"]["cells"] == pytest.approx(256 * 256 * 1.44e-6)
    assert layer["area_breakdown_mm2"]["drivers"] == pytest.approx((256 * 1150 + 8 * 255 * 0.169) * 1e-6)
    # one 16 KB input buffer per PE of two arrays at 0.616313686 mm² per 16 KB (Buffer.py, 90 nm)
    assert layer["area_breakdown_mm2"]["buffers"] == pytest.approx(
        (layer["line_buffer_bits"] + 65536) * 0.616313686 / 131072, rel=1e-4)
    assert layer["energy_breakdown_nj"]["interconnect"] == layer["area_breakdown_mm2"]["interconnect"] == 0
    parameters = report["hardware"]["parameters"]
    assert parameters["read"]["time_ns"]["value"] == 3.16 and "mnsim profile" in parameters["read"]["time_ns"]["source"]
    # a window: 3 ns of row drive (DAC latency (1 + 2) / 1 GS/s), 3.16 ns of read, 1 ns of sense
    # amplifier, a 2 ns digital cycle, after one 20 ns buffer write and one 20 ns buffer read, and
    # three register transfers of one 2 ns cycle each (PE_latency.py: the input register loaded and
    # driving the read, the output register written), and the 2 output bits sent on at 20 Gb/s
    assert layer["window_ns"] == pytest.approx(20 + 20 + 3 + 3.16 + 1 + 2 + 3 * 2 + 2 / 20)


def test_a_file_named_like_a_profile_is_read_as_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnsim").write_text("[array]\nrows = 64\n")
    assert bnnc.hardware("mnsim").array.rows == 64
    assert bnnc.hardware(None).array.rows == 128 and bnnc.hardware("mnsim").array.cols == 128


MNSIM_CNV = {"arrays": 70, "area_mm2": 52.1, "energy_nj": 3820.0, "latency_ns": 281_500.0}
"""MNSIM 2.0's figures for FINN's CNV at 256 × 256 with 1-bit sense amplifiers (DESIGN.md §6)."""


def test_the_mnsim_comparison_page_states_what_bnnc_computes(tmp_path: Path) -> None:
    """docs/mnsim-comparison.md: its command's figures are the page's, and those the page calls
    within 25 % of MNSIM's are."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_models", Path(__file__).resolve().parents[1] / "bench" / "models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    onnx.save(models.cnv(), tmp_path / "cnv.onnx")
    t = bnnc.compile(tmp_path / "cnv.onnx", hw="mnsim", scheme="diff").totals
    page = (Path(__file__).resolve().parents[1] / "docs" / "mnsim-comparison.md").read_text()
    for shown in (f"| 68 ({t['arrays_mnsim_style']} pairs", f"| {t['arrays']} (`arrays`)", f"| {t['area_mm2']:.1f} mm²",
                  f"| {t['energy_nj'] / 1000:.2f} µJ", f"| {t['latency_ns'] / 1000:.1f} µs",
                  f"{(t['energy_nj'] - t['energy_breakdown_nj']['adc']) / 1000:.2f} µJ without the partial-sum ADCs"):
        assert shown in page, shown
    assert 2 * t["arrays_mnsim_style"] == 68
    assert abs(2 * t["arrays_mnsim_style"] / MNSIM_CNV["arrays"] - 1) < 0.25
    assert abs(t["arrays"] / MNSIM_CNV["arrays"] - 1) < 0.25
    assert abs(t["area_mm2"] / MNSIM_CNV["area_mm2"] - 1) < 0.25
    assert abs((t["energy_nj"] - t["energy_breakdown_nj"]["adc"]) / MNSIM_CNV["energy_nj"] - 1) < 0.25
    assert abs(t["latency_ns"] / MNSIM_CNV["latency_ns"] - 1) < 0.25


def test_saved_ir_of_a_profile_compilation_reports_the_same(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
    compiled = bnnc.compile(example, hw="mnsim")
    compiled.write(tmp_path / "out")
    loaded = bnnc.load(tmp_path / "out" / "model.bir").report
    assert loaded["totals"] == compiled.totals and loaded["hardware"] == compiled.report["hardware"]
