"""The Python API and the final IR as the only record of a compilation: a report rebuilt from a
saved ``model.bir`` + ``model.npz`` equals the one written at compile time; per-layer array
geometry is costed as the IR says; the ``.bir`` path of the CLI reports like the ``.onnx`` one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.cli import main
from bnnc.frontend.reference import run_reference
from tests.models.zoo import ZOO, sample_inputs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
SCHEMES = ("refcol", "xnor", "diff", "auto")


def _without_timings(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "timings"}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", sorted(ZOO))
def test_report_rebuilt_from_the_saved_ir_equals_the_written_one(zoo_dir: Path, tmp_path: Path, name: str, scheme: str) -> None:
    compilation = bnnc.compile(zoo_dir / f"{name}.onnx", scheme=scheme)
    assert compilation.check(4).exact
    written = compilation.write(tmp_path / "out")
    assert _without_timings(json.loads((tmp_path / "out" / "report.json").read_text())) == _without_timings(written)
    rebuilt = bnnc.load(tmp_path / "out" / "model.bir").report
    assert _without_timings(rebuilt) == _without_timings(written)


def test_report_rebuilt_from_the_ir_keeps_hardware_overrides_and_replication(tmp_path: Path) -> None:
    hw_file = tmp_path / "chip.toml"
    hw_file.write_text("[read]\ntime_ns = 5.0\n[comparator]\npower_uw = 3.0\n")
    compilation = bnnc.compile(EXAMPLE, array=(64, 64), hw=hw_file, max_arrays=120)
    compilation.check(4)
    written = compilation.write(tmp_path / "out")
    assert written["hardware"]["parameters"]["read"]["time_ns"]["source"] == str(hw_file)
    assert written["hardware"]["parameters"]["array"]["rows"]["value"] == 64
    assert any(layer.get("replicas", 1) > 1 for layer in written["layers"])
    assert written["golden"]["exact"] and written["golden"]["inputs"] == 4
    assert _without_timings(bnnc.load(tmp_path / "out" / "model.bir").report) == _without_timings(written)


def test_the_api_compiles_simulates_and_checks_without_printing(capsys) -> None:
    compilation = bnnc.compile(EXAMPLE, array=(128, 128), scheme="auto")
    inputs = compilation.random_inputs(8, seed=3)
    outputs = compilation.simulate(inputs)
    reference = run_reference(compilation.model, inputs)
    for name, value in outputs.items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-5, atol=1e-5)
    result = compilation.check(inputs)
    assert result.exact and result.inputs == 8
    assert compilation.totals == compilation.report["totals"]
    assert compilation.totals["arrays"] == sum(layer["arrays"] for layer in compilation.report["layers"])
    assert capsys.readouterr() == ("", "")


def test_a_sweep_over_array_sizes_in_a_loop() -> None:
    """The README's notebook example: smaller arrays need more of them."""
    arrays = {}
    for size in (32, 64, 128):
        totals = bnnc.compile(EXAMPLE, array=(size, size)).totals
        arrays[size] = totals["arrays"]
        assert totals["energy_nj"] > 0 and totals["latency_ns"] > 0
    assert arrays[32] > arrays[64] > arrays[128]


def test_errors_are_bnnc_errors_with_the_cli_line(tmp_path: Path) -> None:
    with pytest.raises(bnnc.BnncError, match="missing.onnx: model: expected a readable ONNX file"):
        bnnc.compile(tmp_path / "missing.onnx")
    with pytest.raises(bnnc.BnncError, match="scheme must be one of"):
        bnnc.compile(EXAMPLE, scheme="bogus")
    with pytest.raises(bnnc.BnncError, match="tune the default pipeline"):
        bnnc.compile(EXAMPLE, pipeline="canonicalize", max_arrays=4)
    with pytest.raises(bnnc.BnncError, match="in pass replicate .after passes canonicalize.: replicate needs max-arrays=N or target-fps=F"):
        bnnc.compile(EXAMPLE, pipeline="canonicalize,replicate")
    with pytest.raises(bnnc.BnncError, match="missing.toml"):
        bnnc.compile(EXAMPLE, hw=tmp_path / "missing.toml")


def test_a_layer_on_its_own_array_size_is_costed_at_that_size(zoo_dir: Path) -> None:
    """A pipeline that tiles one layer onto 512 × 512 arrays: the IR records it, the report
    costs it there (cell utilization at most 1), and the program stays exact."""
    model = zoo_dir / "cnn_pad1_stride1.onnx"
    names = [layer["name"] for layer in bnnc.compile(model).report["layers"] if layer["target"] == "crossbar"]
    big = names[-1]
    pipeline = bnnc.default_pipeline().replace("tile{rows=128,cols=128}", f"tile{{rows=512,cols=512,layers={big}}},tile{{rows=128,cols=128}}")
    compilation = bnnc.compile(model, pipeline=pipeline)
    layers = {layer["name"]: layer for layer in compilation.report["layers"] if layer["target"] == "crossbar"}
    assert layers[big]["array"] == [512, 512]
    assert layers[big]["cells_allocated"] == layers[big]["arrays"] * 512 * 512
    assert all(layer["array"] == [128, 128] for name, layer in layers.items() if name != big)
    assert all(0 < layer["cell_utilization"] <= 1 for layer in layers.values())
    hw = compilation.hw
    assert layers[big]["area_breakdown_mm2"]["cells"] == pytest.approx(layers[big]["arrays"] * 512 * 512 * hw.cell.area_um2 / 1e6)
    assert compilation.check(sample_inputs(ZOO["cnn_pad1_stride1"], 16, seed=2)).exact


def test_the_bir_path_of_the_cli_writes_the_report_on_the_given_hardware(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "a"), "--json"]) == 0
    compiled = json.loads((tmp_path / "a" / "report.json").read_text())
    capsys.readouterr()
    bir = tmp_path / "a" / "model.bir"
    assert main([str(bir), "-o", str(tmp_path / "b")]) == 0
    rebuilt = json.loads((tmp_path / "b" / "report.json").read_text())
    assert _without_timings(rebuilt) == _without_timings(compiled)
    assert {p.name for p in (tmp_path / "b").iterdir()} >= {"report.json", "report.md", "report.html", "schedule.json", "trace.json", "model.bir"}
    capsys.readouterr()
    hw_file = tmp_path / "slow.toml"
    hw_file.write_text("[read]\ntime_ns = 40.0\n")
    assert main([str(bir), "--hw", str(hw_file), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["latency_ns"] > compiled["totals"]["latency_ns"]
    assert main([str(bir), "--hw", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_a_bir_compiled_for_other_hardware_names_the_mismatch(tmp_path: Path) -> None:
    compilation = bnnc.compile(EXAMPLE, array=(64, 64))
    compilation.write(tmp_path / "out")
    text = (tmp_path / "out" / "model.bir").read_text()
    (tmp_path / "out" / "model.bir").write_text(text.replace(compilation.hw.digest(), "0123456789abcdef"))
    with pytest.raises(bnnc.BnncError, match="records hardware 0123456789abcdef"):
        bnnc.load(tmp_path / "out" / "model.bir")
    assert bnnc.load(tmp_path / "out" / "model.bir", hw=compilation.hw).totals == compilation.totals


def test_the_readme_python_example_runs_verbatim(tmp_path: Path, monkeypatch, capsys) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## From Python.*?```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "examples").symlink_to(EXAMPLE.parent)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["array", "arrays", "energy", "nJ", "latency", "µs"] and len(table) == 4
    assert (tmp_path / "out" / "report.json").is_file()


def test_time_passes_on_an_onnx_model(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "--time-passes", "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "pass execution timing" in err and "fuse-bn-binarize" in err


def test_passes_run_on_saved_ir_are_recorded_in_its_report(tmp_path: Path) -> None:
    compilation = bnnc.compile(EXAMPLE)
    compilation.write(tmp_path / "a")
    assert main([str(tmp_path / "a" / "model.bir"), "-p", "dce", "-o", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["pipeline"] == compilation.pipeline + ",dce"


def test_scheme_all_json_carries_the_comparison(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "--scheme", "all", "--json", "-o", str(tmp_path / "out")]) == 0
    schemes = json.loads(capsys.readouterr().out)["schemes"]
    assert set(schemes) == {"refcol", "xnor", "diff", "auto"} and all(t["arrays"] > 0 for t in schemes.values())
