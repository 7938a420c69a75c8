"""The circuit-level proof: bnnc's netlists run through real ngspice (``ngspice -b``), whose
column currents must equal bnnc's own mesh model (``NAME.expected.json``) within 1e-5 relative
per column — on random arrays from 4×4 to 32×32 and on a compiled model's arrays."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import bnnc
from bnnc.backends.circuit.spice import expected_json, expected_probes, netlist, parse_ngspice_output, probe_name
from bnnc.backends.simulator import DeviceModel
from bnnc.cli import main
from tests.conftest import require_tool
from tests.test_circuit import V_READ, random_cells

RELATIVE = 1e-5


def ngspice_probes(circuit: Path) -> dict[str, float]:
    """What ``ngspice -b`` prints for the netlist ``circuit``, as ``{name: value}``."""
    run = subprocess.run([require_tool("ngspice"), "-b", str(circuit)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return parse_ngspice_output(run.stdout)


def assert_agrees(circuit: Path, expected: dict[str, float]) -> None:
    printed = ngspice_probes(circuit)
    assert set(expected) <= set(printed), f"ngspice printed {sorted(printed)[:5]}…, expected names {sorted(expected)[:5]}…"
    for name, current in expected.items():
        assert printed[name] == pytest.approx(current, rel=RELATIVE, abs=1e-15), name


# (rows, cols, wire ohms): every size from 4×4 to 32×32 at the MNSIM wire, and the wire swept
CASES = [(4, 4, 2.82), (8, 5, 0.15), (16, 16, 2.82), (32, 32, 2.82), (32, 32, 50.0), (12, 20, 0.0), (24, 9, 10.0)]


@pytest.mark.parametrize("rows,cols,wire", CASES)
def test_ngspice_reproduces_the_mesh_currents(tmp_path: Path, rows: int, cols: int, wire: float) -> None:
    rng = np.random.default_rng(rows * 100 + cols)
    g = random_cells(rng, rows, cols)  # variation, stuck-on and open cells
    voltages = rng.choice([0.0, V_READ], rows)
    voltages[0] = V_READ
    circuit = tmp_path / "array.cir"
    circuit.write_text(netlist(g, wire, voltages, f"random {rows}x{cols}"))
    expected = expected_probes(g, wire, voltages)
    assert list(expected) == [probe_name(j) for j in range(cols)]
    assert_agrees(circuit, expected)
    if wire > 0:  # the proof has teeth: the ideal currents are far off in ngspice's eyes
        ideal = voltages @ g
        printed = ngspice_probes(circuit)
        assert max(abs(printed[probe_name(j)] - ideal[j]) / ideal[j] for j in range(cols) if ideal[j] > 0) > 10 * RELATIVE


def test_expected_json_holds_the_probes() -> None:
    data = json.loads(expected_json({"i(vsense0)": 1.5e-5}))
    assert data == {"probes": {"i(vsense0)": 1.5e-5}}


def test_parse_reads_name_value_lines_only() -> None:
    text = "Circuit: x\n\nNo. of Data Rows : 1\ni(vsense0) = 1.498305564603e-05\ni(vsense1) = -2.5e-07\nngspice-39 done\n"
    assert parse_ngspice_output(text) == {"i(vsense0)": 1.498305564603e-05, "i(vsense1)": -2.5e-07}


def test_compiled_model_arrays_agree_with_ngspice(tmp_path: Path, zoo_dir: Path) -> None:
    """End to end: the CLI compiles a zoo model onto 32×32 arrays and exports its arrays' first
    reads; ngspice reproduces each expected.json. A rerun with fewer arrays replaces the
    netlists and keeps the user's own files."""
    model = zoo_dir / "cnn_pad1_stride1.onnx"
    spice = tmp_path / "spice"
    args = [str(model), "-o", str(tmp_path / "out"), "--array", "32x32", "--no-check", "--export-spice", str(spice),
            "--wire-ohm", "2.82"]
    assert main(args) == 0
    circuits = sorted(spice.glob("*.cir"))
    arrays = [op for op in bnnc.load(tmp_path / "out" / "model.bir").module.function("main").ops if op.name == "xbar.mvm"]
    assert len(circuits) == len(arrays) >= 2
    for circuit in circuits[:4]:
        expected = json.loads(circuit.with_name(circuit.stem + ".expected.json").read_text())["probes"]
        assert_agrees(circuit, expected)
    (spice / "notes.txt").write_text("mine")
    assert main(args + ["--spice-arrays", "1"]) == 0
    assert sorted(p.name for p in spice.iterdir()) == sorted([circuits[0].name, circuits[0].stem + ".expected.json",
                                                               "notes.txt"])


def test_export_uses_the_device_cells_and_drives_of_the_first_read(tmp_path: Path, zoo_dir: Path) -> None:
    """Through the API: a stuck-on conductance hook shows in every cell of the netlist; the
    drives are the first read's ports; the expected currents are the mesh's."""
    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32))
    stuck = DeviceModel(wire_ohm=1.0, conductance=lambda op, g: np.full_like(g, 2e-4))
    names = c.export_spice(tmp_path, c.random_inputs(2, seed=5), stuck, arrays=1)
    assert len(names) == 2
    text = (tmp_path / names[0]).read_text()
    cells = [line.split()[-1] for line in text.splitlines() if line.startswith("Rg")]
    assert cells and all(float(r) == pytest.approx(5000.0) for r in cells)
    drives = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("Vdrv")]
    assert set(drives) <= {0.0, stuck.v_read} and stuck.v_read in drives


@pytest.mark.parametrize("flags,message", [
    (["--spice-arrays", "0"], "--spice-arrays takes a whole number"),
    (["--wire-ohm", "-1"], "--wire-ohm takes a finite resistance"),
    (["--wire-ohm", "nan"], "--wire-ohm takes a finite resistance"),
])
def test_bad_export_options_exit_2_before_any_work(tmp_path: Path, zoo_dir: Path, capsys, flags, message) -> None:
    args = [str(zoo_dir / "cnn_pad1_stride1.onnx"), "-o", str(tmp_path / "out"), "--export-spice", str(tmp_path / "s")]
    assert main(args + flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_export_options_need_export_spice(tmp_path: Path, zoo_dir: Path, capsys) -> None:
    assert main([str(zoo_dir / "cnn_pad1_stride1.onnx"), "-o", str(tmp_path / "out"), "--spice-arrays", "2"]) == 2
    assert "give it too" in capsys.readouterr().err


def test_export_into_a_file_is_refused(tmp_path: Path, zoo_dir: Path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main([str(zoo_dir / "cnn_pad1_stride1.onnx"), "-o", str(tmp_path / "out"), "--export-spice", str(target)]) == 2
    assert "needs a directory" in capsys.readouterr().err and target.read_text() == "x"


def test_cli_export_holds_the_device_chip_cells(tmp_path: Path, zoo_dir: Path) -> None:
    """``--device``: the netlists hold chip 0's cells (a fifth stuck on, 5 % variation) and the
    table's wire resistance; ngspice still reproduces the expected currents."""
    device = tmp_path / "dev.toml"
    device.write_text("[device]\nstuck_lrs = 0.2\nprogram_sigma = 0.05\nwire_ohm = 2.82\n")
    model = zoo_dir / "cnn_pad1_stride1.onnx"
    spice = tmp_path / "spice"
    assert main([str(model), "-o", str(tmp_path / "out"), "--array", "32x32", "--no-check", "--device", str(device),
                 "--export-spice", str(spice), "--spice-arrays", "1"]) == 0
    circuit = sorted(spice.glob("*.cir"))[0]
    text = circuit.read_text()
    wires = {float(line.split()[-1]) for line in text.splitlines() if line.startswith(("Rr", "Rc"))}
    cells = np.array([float(line.split()[-1]) for line in text.splitlines() if line.startswith("Rg")])
    assert wires == {2.82}
    r_on, r_off = 10e3, 1e6
    assert len(np.unique(np.round(cells))) > 2  # variation: not just R_on and R_off
    near_on = np.abs(np.log(cells / r_on)) < 0.3
    assert 0.2 <= near_on.mean() <= 1.0 and (np.abs(np.log(cells / r_off)) < 0.3).any()
    assert_agrees(circuit, json.loads(circuit.with_name(circuit.stem + ".expected.json").read_text())["probes"])


def test_a_fault_map_is_read_once_for_the_monte_carlo_and_the_export(tmp_path: Path, zoo_dir: Path, monkeypatch) -> None:
    """``--chips`` with ``--export-spice``: one read of ``--fault-map`` serves both, and the
    exported chip holds its stuck cells (every cell of the first array stuck off: R_off)."""
    import bnnc
    from bnnc.backends.simulator import chips

    model = zoo_dir / "cnn_pad1_stride1.onnx"
    first = chips.arrays_of(bnnc.compile(model, array=(32, 32)).module)[0]
    np.savez(tmp_path / "map.npz", **{first.const("conductance"): np.full(first.const_type("conductance").shape, chips.STUCK_HRS)})
    reads = []
    real = chips.read_npz
    monkeypatch.setattr(chips, "read_npz", lambda path: reads.append(path) or real(path))
    spice = tmp_path / "spice"
    assert main([str(model), "-o", str(tmp_path / "out"), "--array", "32x32", "--no-check", "--chips", "1",
                 "--fault-map", str(tmp_path / "map.npz"), "--export-spice", str(spice), "--spice-arrays", "1"]) == 0
    assert reads == [tmp_path / "map.npz"]
    text = sorted(spice.glob("*.cir"))[0].read_text()
    cells = {float(line.split()[-1]) for line in text.splitlines() if line.startswith("Rg")}
    assert cells == {1e6}
