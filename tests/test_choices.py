"""Choices as results: ``--objective`` for ``--scheme auto``, ``--layer-config`` (per-layer
scheme, array size and replicas), and comparisons of schemes and array sizes in report.json,
``--json`` and report.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bnnc
from bnnc.choices import OBJECTIVES, objective_value
from bnnc.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"


@pytest.fixture(scope="module")
def uniform() -> dict[str, dict]:
    """The example's totals with every layer under one scheme, and under auto (fewest arrays)."""
    return {scheme: bnnc.compile(EXAMPLE, scheme=scheme).totals for scheme in ("refcol", "xnor", "diff", "auto")}


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if o != "arrays"])
def test_an_objective_is_never_worse_than_any_single_scheme(objective: str, uniform: dict[str, dict]) -> None:
    chosen = bnnc.compile(EXAMPLE, objective=objective)
    value = objective_value(chosen.totals, objective)
    assert all(value <= objective_value(totals, objective) * (1 + 1e-12) for totals in uniform.values())
    assert any(f"objective {objective}: candidates" in remark for remark in chosen.remarks)


def test_the_energy_objective_can_beat_the_fewest_arrays(uniform: dict[str, dict]) -> None:
    """On the example, auto (fewest arrays per layer) spends more energy than refcol everywhere,
    so the energy objective must not return auto's choice."""
    assert uniform["refcol"]["energy_nj"] < uniform["auto"]["energy_nj"]
    assert bnnc.compile(EXAMPLE, objective="energy").totals["energy_nj"] <= uniform["refcol"]["energy_nj"]


def test_an_objective_with_a_fixed_scheme_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(bnnc.BnncError, match="scheme auto"):
        bnnc.compile(EXAMPLE, scheme="xnor", objective="energy")
    assert main([str(EXAMPLE), "--scheme", "xnor", "--objective", "energy", "-o", str(tmp_path / "o")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_layer_config_sets_scheme_array_and_replicas(tmp_path: Path) -> None:
    (tmp_path / "layers.toml").write_text('[Conv_1]\nscheme = "xnor"\narray = "64x64"\nreplicas = 3\n'
                                          '[Gemm_0]\nscheme = "diff"\n')
    assert main([str(EXAMPLE), "--layer-config", str(tmp_path / "layers.toml"), "-o", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    layers = {e["name"]: e for e in report["layers"] if e["target"] == "crossbar"}
    assert (layers["Conv_1"]["scheme"], layers["Conv_1"]["array"], layers["Conv_1"]["replicas"]) == ("xnor", [64, 64], 3)
    assert layers["Conv_1"]["arrays"] == layers["Conv_1"]["tiles"][0] * layers["Conv_1"]["tiles"][1] * 3
    assert layers["Gemm_0"]["scheme"] == "diff" and layers["Gemm_0"]["array"] == [128, 128]
    assert layers["Conv_0"]["array"] == [128, 128] and layers["Conv_0"]["replicas"] == 1
    assert report["golden"]["exact"]  # the golden check ran on the configured program
    same = bnnc.compile(EXAMPLE, layer_config={"Conv_1": {"scheme": "xnor", "array": [64, 64], "replicas": 3},
                                               "Gemm_0": {"scheme": "diff"}})
    assert same.totals["arrays"] == report["totals"]["arrays"]


@pytest.mark.parametrize("text, named", [
    ('[Conv_99]\nscheme = "xnor"\n', "[Conv_99]: "),
    ('[Conv_1]\nfolding = 2\n', "[Conv_1] folding: unknown key"),
    ('[Conv_1]\nscheme = "best"\n', "[Conv_1] scheme: expected one of"),
    ('[Conv_1]\narray = "64"\n', "[Conv_1] array: expected"),
    ('[Conv_1]\nreplicas = 0\n', "[Conv_1] replicas: expected a whole number >= 1"),
    ('[Conv_1\n', "TOML syntax error"),
])
def test_a_bad_layer_config_is_one_line_naming_file_and_layer(text: str, named: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "layers.toml").write_text(text)
    assert main([str(EXAMPLE), "--layer-config", str(tmp_path / "layers.toml"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layers.toml" in err and named in err
    assert not (tmp_path / "o").exists()


def test_scheme_all_and_a_list_of_arrays_give_a_comparison(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "--scheme", "all", "--array", "64x64,128x128", "--no-check", "--json",
                 "-o", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert summary["comparison"] == report["comparison"]
    pairs = [(e["scheme"], tuple(e["array"])) for e in report["comparison"]]
    assert pairs == [(s, a) for a in ((64, 64), (128, 128)) for s in ("refcol", "xnor", "diff", "auto")]
    assert all(set(e) == {"scheme", "array", "totals"} for e in report["comparison"])
    # the compiled program is the first array size under auto; its entry is its own totals
    assert report["comparison"][3]["totals"] == report["totals"]
    # an entry is what a compilation of that scheme and array size reports
    alone = bnnc.compile(EXAMPLE, scheme="xnor", array=(128, 128)).totals
    assert report["comparison"][5]["totals"]["arrays"] == alone["arrays"]
    assert report["comparison"][5]["totals"]["energy_nj"] == pytest.approx(alone["energy_nj"])
    assert set(report["schemes"]) == {"refcol", "xnor", "diff", "auto"}
    assert report["schemes"]["xnor"] == report["comparison"][1]["totals"]
    assert "Schemes and array sizes compared" in (tmp_path / "out" / "report.md").read_text()


def test_a_list_of_arrays_compares_one_scheme(tmp_path: Path, capsys) -> None:
    assert main([str(EXAMPLE), "--scheme", "refcol", "--array", "64x64,256x256", "--no-check", "--json",
                 "-o", str(tmp_path / "out")]) == 0
    comparison = json.loads(capsys.readouterr().out)["comparison"]
    assert [(e["scheme"], e["array"]) for e in comparison] == [("refcol", [64, 64]), ("refcol", [256, 256])]
    assert comparison[0]["totals"]["arrays"] > comparison[1]["totals"]["arrays"]


def test_compare_from_python() -> None:
    c = bnnc.compile(EXAMPLE)
    assert c.report["comparison"] is None
    entries = c.compare(("refcol", "auto"), [(128, 128)])
    assert [e["scheme"] for e in entries] == ["refcol", "auto"] and entries[1]["totals"] == c.totals
    assert c.report["comparison"] == entries
