"""The figures: written as SVG, PDF and CSV through the output directory, deterministic, drawn
from the report (a layer's cost by component where the report has it, its total otherwise),
utilization readable when it is low, long layer names wrapped and kept whole, the comparison
chart when the report compares configurations."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import warnings
from pathlib import Path

import onnx
import pytest

from bench.models import cnv
from bnnc import api
from bnnc.cli import main
from bnnc.figures import figure_tables, render_figures
from bnnc.figures.plot import wrap_label
from bnnc.figures.tables import component_table, comparison_table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
FIGURES = ("layers", "components", "timeline", "utilization")


def long_named_cnv(path: Path) -> list[str]:
    """FINN's CNV with the long, slash-separated node names of a torch.onnx export; returns them."""
    model = cnv()
    names = []
    for i, node in enumerate(model.graph.node):
        if node.op_type in ("Conv", "Gemm"):
            node.name = f"/backbone/stage{i}/binary_block_with_a_rather_long_module_name.{i}/{node.op_type}"
            names.append(node.name)
    onnx.save(model, path)
    return names


@pytest.fixture(scope="module")
def cnv_out(tmp_path_factory) -> tuple[Path, list[str]]:
    """CNV (long layer names) compiled with --scheme all into an output directory."""
    tmp = tmp_path_factory.mktemp("cnv")
    names = long_named_cnv(tmp / "cnv.onnx")
    old = os.umask(0o022)
    try:
        assert main([str(tmp / "cnv.onnx"), "-o", str(tmp / "out"), "--scheme", "all", "--golden-inputs", "2", "-q"]) == 0
    finally:
        os.umask(old)
    return tmp / "out", names


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_every_figure_is_written_as_svg_pdf_and_csv_with_the_usual_mode(cnv_out) -> None:
    out, _ = cnv_out
    for name in (*FIGURES, "comparison"):
        for ext in ("svg", "pdf", "csv"):
            path = out / "figures" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
            assert path.stat().st_mode & 0o777 == 0o644, path
        assert (out / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        svg = (out / "figures" / f"{name}.svg").read_text()
        assert re.search(r'<svg\b[^>]*xmlns="http://www.w3.org/2000/svg"', svg)


def test_figure_data_is_the_report(cnv_out) -> None:
    out, _ = cnv_out
    report = json.loads((out / "report.json").read_text())
    costed = [layer for layer in report["layers"] if layer["target"] in ("crossbar", "digital")]
    rows = _rows(out / "figures" / "layers.csv")
    assert [r["layer"] for r in rows] == [layer["name"] for layer in costed]
    assert [int(r["arrays"]) for r in rows] == [layer["arrays"] for layer in costed]
    assert [float(r["energy_nj"]) for r in rows] == pytest.approx([layer["energy_nj"] for layer in costed])
    # the stacked components add up to each layer's total
    for row, layer in zip(_rows(out / "figures" / "components.csv"), costed):
        energy = sum(float(v) for k, v in row.items() if k.startswith("energy_"))
        area = sum(float(v) for k, v in row.items() if k.startswith("area_"))
        assert energy == pytest.approx(layer["energy_nj"]) and area == pytest.approx(layer["area_mm2"])
    compared = _rows(out / "figures" / "comparison.csv")
    assert {r["configuration"].split()[0] for r in compared} == set(report["schemes"])
    schedule = json.loads((out / "schedule.json").read_text())
    spans = _rows(out / "figures" / "timeline.csv")
    for layer in schedule["layers"]:
        mine = [r for r in spans if r["layer"] == layer["name"]]
        assert sum(int(r["windows"]) for r in mine) == layer["positions"]
        assert float(mine[0]["start_ns"]) == pytest.approx(layer["start_ns"], abs=1e-3)
        assert float(mine[-1]["end_ns"]) == pytest.approx(layer["end_ns"], abs=1e-3)


def test_a_low_utilization_gets_an_axis_of_its_own(cnv_out) -> None:
    """Unreplicated CNV keeps a few % of its arrays busy: the y axis ends near the peak, not at
    100 % (where the curve would be a flat line at 0)."""
    out, _ = cnv_out
    busy = [float(r["busy_percent"]) for r in _rows(out / "figures" / "utilization.csv")]
    peak = max(busy)
    assert 0 < peak < 20
    svg = (out / "figures" / "utilization.svg").read_text()
    ticks = [float(t) for t in re.findall(r"<!-- ([0-9.]+) % -->", svg)]
    assert ticks and peak <= max(ticks) * 1.25 and max(ticks) < 2 * peak
    assert "arrays busy (% of all)" in svg and "mean" in svg


def test_long_layer_names_are_wrapped_whole() -> None:
    name = "/backbone/stage12/binary_block_with_a_rather_long_module_name.12/Conv"
    lines = wrap_label(name).split("\n")
    assert len(lines) > 1 and all(len(line) <= 28 for line in lines)
    assert "".join(lines) == name
    unbroken = "x" * 70
    assert "".join(wrap_label(unbroken).split("\n")) == unbroken


def test_long_layer_names_appear_whole_in_the_figures(cnv_out) -> None:
    out, names = cnv_out
    svg = (out / "figures" / "layers.svg").read_text()
    for name in names:
        assert all(f"<!-- {line} -->" in svg for line in wrap_label(name).split("\n")), name


def test_figures_are_deterministic() -> None:
    c = api.compile(EXAMPLE)
    report, schedule = c._report()
    first, second = render_figures(report, schedule), render_figures(report, schedule)
    assert [f.name for f in first] == list(FIGURES)
    assert all(a.svg == b.svg and a.pdf == b.pdf and a.csv == b.csv for a, b in zip(first, second))


def test_the_pdf_is_cropped_to_the_svgs_box(cnv_out) -> None:
    """Both formats come from one layout and one measured box: the PDF page is the SVG's size."""
    out, _ = cnv_out
    for name in (*FIGURES, "comparison"):
        svg = (out / "figures" / f"{name}.svg").read_text()
        width, height = (float(v) for v in re.search(r'width="([0-9.]+)pt" height="([0-9.]+)pt"', svg).groups())
        box = re.search(rb"/MediaBox \[ *0 0 ([0-9.]+) ([0-9.]+) *\]", (out / "figures" / f"{name}.pdf").read_bytes())
        assert box, name
        assert (float(box.group(1)), float(box.group(2))) == pytest.approx((width, height), abs=1e-3), name


def test_components_fall_back_to_totals_and_comparison_takes_the_new_format() -> None:
    """A report whose layers carry no breakdown draws each layer's total as one component; a
    report with ``comparison`` entries (scheme, array, totals) gets the comparison chart."""
    c = api.compile(EXAMPLE)
    report, schedule = c._report()
    for layer in report["layers"]:
        layer.pop("energy_breakdown_nj", None)
        layer.pop("area_breakdown_mm2", None)
    table = component_table(report)
    assert table.columns == ("layer", "energy_total_nj", "area_total_mm2")
    costed = [layer for layer in report["layers"] if layer["target"] in ("crossbar", "digital")]
    assert table.column("energy_total_nj") == [layer["energy_nj"] for layer in costed]
    assert comparison_table(report) is None
    report["comparison"] = [{"scheme": "xnor", "array": [64, 64], "totals": report["totals"]},
                            {"scheme": "refcol", "array": [128, 128], "totals": report["totals"]}]
    assert comparison_table(report).column("configuration") == ["xnor 64×64", "refcol 128×128"]
    assert [name for name, _, _ in figure_tables(report, schedule)][-1] == "comparison"


def test_a_program_without_arrays_draws_every_figure_without_a_warning() -> None:
    """A pipeline that lowers nothing (``-p 'replicate{max-arrays=4}'``): no array is busy, the
    timeline has no row; every figure is still drawn, and matplotlib has nothing to warn about."""
    c = api.compile(EXAMPLE, pipeline="replicate{max-arrays=4}")
    report, schedule = c._report()
    assert report["totals"]["arrays"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = render_figures(report, schedule)
    assert [f.name for f in drawn] == list(FIGURES)
    assert b"no crossbar array is busy" in next(f.svg for f in drawn if f.name == "timeline")


def test_no_figures_skips_them(tmp_path: Path) -> None:
    assert main([str(EXAMPLE), "-o", str(tmp_path / "out"), "--no-figures", "--no-check", "-q"]) == 0
    assert not (tmp_path / "out" / "figures").exists()
    assert "Figures not drawn" in (tmp_path / "out" / "report.html").read_text()
