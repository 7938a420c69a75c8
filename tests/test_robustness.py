"""Device non-idealities: the chip sampler, the Monte Carlo over chips, fault-aware folding,
and their CLI and API. The ideal device is checked against the reference interpreter (itself
golden-checked against onnxruntime); the limits (every cell stuck) against what the mapping
schemes' algebra derives; fault fractions against binomial bounds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

import bnnc
from bnnc.backends.hardware import DeviceConfig, HardwareConfigError
from bnnc.backends.interpreter import interpret_batch
from bnnc.backends.simulator import DeviceModel, simulate
from bnnc.backends.simulator.chips import STUCK_HRS, STUCK_LRS, ChipSampler, arrays_of, wrong_cells
from bnnc.backends.simulator.fault_fold import midpoint_ports
from bnnc.backends.simulator.caches import thresholds_per_position
from bnnc.cli import main
from bnnc.program import run_program

DIGITS = Path(__file__).parent / "models" / "digits"
MODEL = DIGITS / "digits_bnn.onnx"


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    data = np.load(DIGITS / "digits_test.npz")
    return {"bits": data["bits"][:96], "labels": data["labels"][:96]}


@pytest.fixture(scope="module", params=["refcol", "xnor", "diff"])
def compiled(request) -> bnnc.Compilation:
    return bnnc.compile(MODEL, scheme=request.param)


def _base(c: bnnc.Compilation) -> DeviceModel:
    return DeviceModel(g_on=c.hw.cell.g_on_s, g_off=c.hw.cell.g_off_s, v_read=c.hw.read.voltage_v)


def _arguments(c: bnnc.Compilation, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    (name,) = c.inputs
    return [inputs[name].reshape((-1,) + c.module.function("main").args[0].type.shape)]


# --------------------------------------------------------------------------- the ideal device


@pytest.mark.parametrize("name", ["cnn_pad1_stride1", "cnn_pad_value", "uint8_input_cnn", "mlp_sign_w_graph"])
@pytest.mark.parametrize("scheme", ["refcol", "xnor", "diff"])
def test_an_ideal_chip_is_bit_identical_to_the_interpreter(zoo_dir: Path, name: str, scheme: str) -> None:
    """All-zero device, 32×32 arrays (row tiles, ADCs), replicas under a budget, padding."""
    c = bnnc.compile(zoo_dir / f"{name}.onnx", scheme=scheme, array=(32, 32), max_arrays=200)
    x = c.random_inputs(12, seed=3)
    arguments = [np.asarray(v).reshape((12,) + a.type.shape) for v, a in zip(x.values(), c.module.function("main").args)]
    chip = ChipSampler(c.module, DeviceConfig(), _base(c), seed=5).chip(0)
    got = simulate(c.module, arguments, device=chip.device())
    expected = interpret_batch(c.module, arguments)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and np.array_equal(g, e)


def test_replicas_are_separate_cells(zoo_dir: Path) -> None:
    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", max_arrays=200)
    replicated = [op for op in arrays_of(c.module) if op.attr("replicas") > 1]
    assert replicated, "the budget should replicate a layer"
    chip = ChipSampler(c.module, DeviceConfig(program_sigma=0.1), _base(c), seed=0).chip(0)
    for op in replicated:
        g = chip.conductances[op]
        assert g.shape[0] == op.attr("replicas") and not np.array_equal(g[0], g[1])
    x = c.random_inputs(6, seed=1)
    arguments = [np.asarray(v).reshape((6,) + a.type.shape) for v, a in zip(x.values(), c.module.function("main").args)]
    expected = interpret_batch(c.module, arguments)
    lsb = c.hw.read.voltage_v * c.hw.cell.delta_g_s
    offsets = {}
    for sigma in (1e-4 * lsb, 10 * lsb):  # per replica, level and column: far below / far above half a step
        sampler = ChipSampler(c.module, DeviceConfig(comparator_offset_sigma=sigma), _base(c), seed=0)
        chip = sampler.chip(0)
        offsets[sigma] = [chip.offsets[op].shape for op, _ in sampler.comparators]
        got = simulate(c.module, arguments, device=chip.device())
        assert all(np.array_equal(g, e) for g, e in zip(got, expected)) == (sigma < lsb)
    assert any(shape[0] > 1 for shape in offsets[10 * lsb])


# --------------------------------------------------------------------------- sampling


def test_chips_are_seeded_and_independent_of_the_chip_count(digits) -> None:
    c = bnnc.compile(MODEL)
    config = DeviceConfig(program_sigma=0.05, stuck_hrs=0.01, stuck_lrs=0.02, comparator_offset_sigma=1e-7)
    a = ChipSampler(c.module, config, _base(c), seed=7)
    b = ChipSampler(c.module, config, _base(c), seed=7)
    other = ChipSampler(c.module, config, _base(c), seed=8)
    for op in arrays_of(c.module):
        assert np.array_equal(a.chip(3).conductances[op], b.chip(3).conductances[op])
        assert not np.array_equal(a.chip(3).conductances[op], a.chip(2).conductances[op])
        assert not np.array_equal(a.chip(3).conductances[op], other.chip(3).conductances[op])
    inputs = {"bits": digits["bits"]}
    config = DeviceConfig(stuck_lrs=0.05, read_sigma=0.05)
    first = c.robustness(config, chips=3, inputs=inputs, labels=digits["labels"], seed=11)
    again = c.robustness(config, chips=3, inputs=inputs, labels=digits["labels"], seed=11)
    more = c.robustness(config, chips=5, inputs=inputs, labels=digits["labels"], seed=11)
    assert [r.accuracy for r in first.rows] == [r.accuracy for r in again.rows] == [r.accuracy for r in more.rows[:3]]
    assert first.layers == again.layers


def test_programming_error_and_drift_follow_their_laws() -> None:
    c = bnnc.compile(MODEL, scheme="diff")
    sigma = 0.2
    chip = ChipSampler(c.module, DeviceConfig(program_sigma=sigma), _base(c), seed=0).chip(0)
    ratios = np.concatenate([np.log(chip.conductances[op] / ChipSampler(c.module, DeviceConfig(), _base(c), 0).ideal_cells(op)).ravel()
                             for op in arrays_of(c.module)])
    assert abs(ratios.mean()) < 5 * sigma / math.sqrt(ratios.size) and abs(ratios.std() / sigma - 1) < 0.05
    drift = DeviceConfig(drift_nu=0.05, drift_t_seconds=2000.0)
    chip = ChipSampler(c.module, drift, _base(c), seed=0).chip(0)
    for op in arrays_of(c.module):
        ideal = ChipSampler(c.module, DeviceConfig(), _base(c), 0).ideal_cells(op)
        assert np.allclose(chip.conductances[op], ideal * (2000.0 / 20.0) ** -0.05, rtol=1e-12)


def test_each_kind_of_draw_has_its_own_stream() -> None:
    """A parameter at zero draws nothing and leaves the other kinds' draws as they were."""
    c = bnnc.compile(MODEL, scheme="xnor")
    both = ChipSampler(c.module, DeviceConfig(program_sigma=0.1, stuck_lrs=0.05), _base(c), seed=3).chip(1)
    stuck = ChipSampler(c.module, DeviceConfig(stuck_lrs=0.05), _base(c), seed=3).chip(1)
    varied = ChipSampler(c.module, DeviceConfig(program_sigma=0.1), _base(c), seed=3).chip(1)
    for op in arrays_of(c.module):
        assert np.array_equal(both.stuck[op], stuck.stuck[op]) and (stuck.stuck[op] != 0).any()
        works = both.stuck[op] == 0
        assert np.array_equal(both.conductances[op][works], varied.conductances[op][works])
        assert not np.array_equal(both.conductances[op], stuck.conductances[op])


def test_the_compiled_normal_draws_follow_the_standard_normal_law() -> None:
    """The ziggurat's draws (bnnc.backends.simulator.noise): Kolmogorov–Smirnov against N(0, 1),
    the tail beyond the base layer's edge (3.44) at its probability, the same draws from the
    same seed, and ``current + sqrt(variance) · ε`` elementwise."""
    from scipy import stats

    from bnnc.backends.simulator.noise import ZIG_R, add_read_noise, standard_normals

    count = 400_000
    x = standard_normals((count,), np.random.default_rng(5))
    assert stats.kstest(x, "norm").pvalue > 1e-3
    tail, expected = (np.abs(x) > ZIG_R).sum(), 2 * stats.norm.sf(ZIG_R) * count
    assert abs(tail - expected) < 5 * math.sqrt(expected)
    assert np.array_equal(x, standard_normals((count,), np.random.default_rng(5)))
    assert not np.array_equal(x, standard_normals((count,), np.random.default_rng(6)))
    current = np.tile(np.array([[1.0, -2.0, 0.0]], np.float32), (count // 4, 1))
    variance = np.tile(np.array([[0.25, 4.0, 0.0]], np.float32), (count // 4, 1))
    out = np.empty_like(current)
    add_read_noise(out, current, variance, np.random.default_rng(7))
    assert np.array_equal(out[:, 2], current[:, 2])
    assert np.allclose(out.mean(axis=0), current[0], atol=5 * 2 / math.sqrt(count // 4))
    assert np.allclose(out.std(axis=0), np.sqrt(variance[0]), rtol=0.01)


def test_read_noise_is_drawn_per_read_with_the_cells_spread() -> None:
    """``G·(1 + σε)`` per cell and read: a column's current has spread ``σ·v·sqrt(Σ_k G_kj²)``
    on a read driving every row."""
    from bnnc.backends.simulator.device import DeviceSession, column_currents

    c = bnnc.compile(MODEL, scheme="diff")
    op = arrays_of(c.module)[0]
    chip = ChipSampler(c.module, DeviceConfig(program_sigma=0.3, read_sigma=0.1), _base(c), seed=0).chip(0)
    device = chip.device()
    rows = op.const_type("conductance").shape[0]
    ports = np.ones((2000, 1, 1, rows), np.uint8)
    currents = column_currents(DeviceSession(device), op, ports).currents[:, 0, 0]  # [reads, M]
    g = chip.conductances[op][0]
    expected = 0.1 * device.v_read * np.sqrt((g * g).sum(axis=0))
    assert np.allclose(currents.mean(axis=0), device.v_read * g.sum(axis=0), rtol=0, atol=4 * expected.max() / math.sqrt(2000))
    assert np.allclose(currents.std(axis=0) / expected, 1, atol=0.12)


@pytest.mark.parametrize("hrs, lrs", [(0.05, 0.1), (0.001, 0.0), (0.3, 0.7)])
def test_sampled_fault_fractions_lie_within_binomial_bounds(hrs: float, lrs: float) -> None:
    c = bnnc.compile(MODEL, scheme="xnor")
    sampler = ChipSampler(c.module, DeviceConfig(stuck_hrs=hrs, stuck_lrs=lrs), _base(c), seed=1)
    cells = sum(sampler.ideal_cells(op).size * op.attr("replicas") for op in sampler.arrays)
    for index in range(3):
        got_hrs, got_lrs = sampler.chip(index).stuck_fraction()
        for got, p in ((got_hrs, hrs), (got_lrs, lrs)):
            sigma = math.sqrt(p * (1 - p) / cells)
            assert abs(got - p) <= 5 * sigma + 1e-12, (got, p, cells)


@pytest.mark.parametrize("state", ["stuck_hrs", "stuck_lrs"])
def test_every_cell_stuck_gives_the_derived_input_independent_decisions(compiled: bnnc.Compilation, digits, state: str) -> None:
    """With every cell in one state, refcol's ``I_j − I_ref`` and diff's ``I⁺ − I⁻`` are 0, and
    xnor's popcount is 0 (all off) or the N driven rows (all on): every comparator decides
    ``0 ≥ T`` (xnor all on: ``2N ≥ T``) whatever the input, and so does every output."""
    c = compiled
    chip = ChipSampler(c.module, DeviceConfig(**{state: 1.0}), _base(c), seed=0).chip(0)
    seen: dict = {}

    def observe(session, op, args, outputs):
        if op.name == "xbar.compare":
            seen.setdefault(op, []).append(outputs[0])

    out = simulate(c.module, _arguments(c, digits), device=chip.device(), observe=observe)
    assert all(np.array_equal(out[0][0], row) for row in out[0])  # the logits do not depend on the input
    for op, parts in seen.items():
        scheme = op.attr("scheme")
        fired = np.concatenate(parts)  # [N, L, 1, M]
        t = thresholds_per_position(op, "thresholds")[:, 0, :]  # [M, L]
        v = 2 * _valid_taps(op) if scheme == "xnor" and state == "stuck_lrs" else 0
        assert fired.shape[1] == 1
        assert np.array_equal(fired[:, 0, 0], np.broadcast_to(v >= t[:, 0], fired[:, 0, 0].shape)), op


def _valid_taps(op) -> int:
    """The fan-in N of a dense compare op (every one of its N taps drives one xnor row)."""
    from bnnc.backends.simulator.fault_fold import _reads_of

    return sum(m.operands[0].type.shape[-1] for m in _reads_of(op)) // 2


# --------------------------------------------------------------------------- fault-aware


def test_spares_replace_the_worst_lines() -> None:
    c = bnnc.compile(MODEL, scheme="diff")
    config = DeviceConfig(stuck_lrs=0.02, stuck_hrs=0.02, spare_cols=8, spare_rows=8)
    sampler = ChipSampler(c.module, config, _base(c), seed=2)
    chip = sampler.chip(0)
    repaired = sampler.repaired(chip)
    base = _base(c)
    before = sum(int(wrong_cells(chip.stuck[op], sampler.ideal_cells(op), base).sum()) for op in sampler.arrays)
    after = sum(int(wrong_cells(repaired.stuck[op], sampler.ideal_cells(op), base).sum()) for op in sampler.arrays)
    assert after < before
    for op in sampler.arrays:  # a cell off the moved lines keeps its programmed conductance
        kept = (repaired.stuck[op] == chip.stuck[op]).all(axis=1, keepdims=True) & (
            repaired.stuck[op] == chip.stuck[op]).all(axis=2, keepdims=True)
        assert np.array_equal(chip.conductances[op][kept], repaired.conductances[op][kept])


def test_midpoint_ports_of_a_dense_layer_are_one_half() -> None:
    c = bnnc.compile(MODEL, scheme="xnor")
    for op in arrays_of(c.module):
        assert np.all(midpoint_ports(op) == 0.5)


def test_fault_aware_folding_raises_accuracy_under_stuck_cells(digits) -> None:
    c = bnnc.compile(MODEL, scheme="xnor")
    r = c.robustness({"stuck_lrs": 0.05}, chips=4, inputs={"bits": digits["bits"]}, labels=digits["labels"], seed=0,
                     fault_aware=True)
    j = r.to_json()
    assert j["fault_aware"]["accuracy"]["mean"] > j["accuracy"]["mean"]
    assert j["layers"][0]["flip_rate"] > j["fault_aware"]["layers"][0]["flip_rate"]


def test_a_class_index_output_is_a_classifier(zoo_dir: Path) -> None:
    c = bnnc.compile(zoo_dir / "mlp_gemm_prebinarized.onnx")
    x = c.random_inputs(20, seed=2)
    (classes,) = c.simulate(x).values()
    r = c.robustness({"stuck_lrs": 0.2}, chips=3, inputs=x, labels=classes[:, 0], seed=0).to_json()
    assert r["ideal_accuracy"] == 1.0 and r["accuracy"] == r["agreement"] and r["agreement"]["min"] < 1


def test_fault_aware_without_faults_changes_nothing(digits) -> None:
    c = bnnc.compile(MODEL, scheme="refcol")
    r = c.robustness({"program_sigma": 0.05}, chips=2, inputs={"bits": digits["bits"]}, seed=0, fault_aware=True)
    assert [row.agreement for row in r.rows] == [row.fault_aware_agreement for row in r.rows]


def test_a_fault_map_fixes_the_stuck_cells(tmp_path: Path, digits) -> None:
    c = bnnc.compile(MODEL, scheme="diff")
    sampled = ChipSampler(c.module, DeviceConfig(stuck_lrs=0.03), _base(c), seed=4).chip(0)
    members = {op.const("conductance"): sampled.stuck[op][0] for op in arrays_of(c.module)}
    np.savez(tmp_path / "chip.npz", **members)
    by_map = c.robustness(DeviceConfig(), chips=2, inputs={"bits": digits["bits"]}, seed=9, fault_map=tmp_path / "chip.npz")
    direct = c.robustness(DeviceConfig(stuck_lrs=0.03), chips=1, inputs={"bits": digits["bits"]}, seed=4)
    assert by_map.rows[0].agreement == by_map.rows[1].agreement == direct.rows[0].agreement
    assert by_map.rows[0].stuck_lrs == pytest.approx(direct.rows[0].stuck_lrs)
    assert all(np.array_equal(np.asarray(v) == STUCK_LRS, sampled.stuck[op][0] == STUCK_LRS)
               for op, v in zip(arrays_of(c.module), members.values()))
    assert STUCK_HRS not in np.concatenate([v.ravel() for v in members.values()])


# --------------------------------------------------------------------------- API and CLI


def test_api_report_csv_and_html(tmp_path: Path, digits) -> None:
    c = bnnc.compile(MODEL)
    c.robustness({"stuck_hrs": 0.01, "read_sigma": 0.02}, chips=3, inputs={"bits": digits["bits"]}, labels=digits["labels"],
                 seed=1, sweep="stuck_lrs=0,0.02")
    report = c.write(tmp_path / "out")
    r = report["robustness"]
    assert (r["chips"], r["samples"], r["seed"]) == (3, 96, 1)
    assert set(r["agreement"]) == set(r["accuracy"]) == {"mean", "min", "p5", "max"}
    assert r["device"]["stuck_hrs"]["value"] == 0.01 and r["device"]["stuck_hrs"]["source"]
    assert {layer["name"] for layer in r["layers"]} and all(0 <= layer["flip_rate"] <= 1 for layer in r["layers"])
    assert r["ir_drop"] == {"max_error_lsb": 0.0, "arrays_over_half_lsb": 0, "flagged": [],
                            "largest_square_under_half_lsb": None}
    assert [p["value"] for p in r["sweep"]["points"]] == [0.0, 0.02] and r["sweep"]["key"] == "stuck_lrs"
    rows = (tmp_path / "out" / "robustness.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 3
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Robustness (Monte Carlo over chips)" in html and html.count("<svg") >= 3
    assert "Robustness" in (tmp_path / "out" / "report.md").read_text()


def test_cli_monte_carlo_with_labels(tmp_path: Path, digits, capsys) -> None:
    np.savez(tmp_path / "data.npz", bits=digits["bits"][:40], labels=digits["labels"][:40])
    (tmp_path / "dev.toml").write_text("[device]\nstuck_lrs = 0.01\nprogram_sigma = 0.02\n")
    code = main([str(MODEL), "--inputs", str(tmp_path / "data.npz"), "--device", str(tmp_path / "dev.toml"),
                 "--chips", "2", "--seed", "3", "--fault-aware", "-o", str(tmp_path / "out")])
    assert code == 0
    r = json.loads((tmp_path / "out" / "report.json").read_text())["robustness"]
    assert r["samples"] == 40 and "accuracy" in r and "fault_aware" in r
    assert "robustness over 2 chips" in capsys.readouterr().out


def test_cli_monte_carlo_on_saved_ir(tmp_path: Path, digits) -> None:
    assert main([str(MODEL), "-o", str(tmp_path / "first")]) == 0
    np.savez(tmp_path / "data.npz", bits=digits["bits"][:30], labels=digits["labels"][:30])
    code = main([str(tmp_path / "first" / "model.bir"), "--inputs", str(tmp_path / "data.npz"), "--chips", "2",
                 "--device-sweep", "stuck_hrs=0.1", "-o", str(tmp_path / "again")])
    assert code == 0
    r = json.loads((tmp_path / "again" / "report.json").read_text())["robustness"]
    assert r["samples"] == 30 and r["ideal_accuracy"] > 0.8 and r["sweep"]["points"][0]["accuracy"]["mean"] < r["ideal_accuracy"]


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err
    return err


@pytest.mark.parametrize("text, key", [("program_sigma = -0.1", "program_sigma"), ("stuck_lrs = 1.5", "stuck_lrs"),
                                       ("stuck_hrs = 0.6\nstuck_lrs = 0.6", "stuck_lrs"), ("read_sigma = \"x\"", "read_sigma")])
def test_bad_device_values_exit_2_naming_the_key(tmp_path: Path, capsys, text: str, key: str) -> None:
    (tmp_path / "dev.toml").write_text(f"[device]\n{text}\n")
    err = _error([str(MODEL), "--device", str(tmp_path / "dev.toml"), "--chips", "2", "-o", str(tmp_path / "out")], capsys)
    assert "dev.toml" in err and key in err


def test_bad_monte_carlo_inputs_exit_2(tmp_path: Path, digits, capsys) -> None:
    out = ["-o", str(tmp_path / "out")]
    assert "--chips" in _error([str(MODEL), "--chips", "0", *out], capsys)
    assert "needs --chips" in _error([str(MODEL), "--fault-aware", *out], capsys)
    np.savez(tmp_path / "short.npz", bits=digits["bits"][:10], labels=digits["labels"][:9])
    err = _error([str(MODEL), "--inputs", str(tmp_path / "short.npz"), "--chips", "1", *out], capsys)
    assert "short.npz: labels" in err
    np.savez(tmp_path / "floaty.npz", bits=digits["bits"][:10], labels=np.full(10, 0.5))
    assert "floaty.npz: labels" in _error([str(MODEL), "--inputs", str(tmp_path / "floaty.npz"), "--chips", "1", *out], capsys)
    c = bnnc.compile(MODEL)
    first = arrays_of(c.module)[0]
    np.savez(tmp_path / "map.npz", **{first.const("conductance"): np.zeros((3, 3), np.uint8)})
    err = _error([str(MODEL), "--chips", "1", "--fault-map", str(tmp_path / "map.npz"), *out], capsys)
    assert "map.npz" in err and first.const("conductance") in err
    assert "not a [device] key" in _error([str(MODEL), "--chips", "1", "--device-sweep", "nope=1,2", *out], capsys)
    (tmp_path / "hw.toml").write_text("[array]\nrows = 64\n")
    assert "only the [device] table" in _error([str(MODEL), "--chips", "1", "--device", str(tmp_path / "hw.toml"), *out], capsys)
    assert not (tmp_path / "out").exists()


def test_api_rejects_bad_arguments(digits) -> None:
    c = bnnc.compile(MODEL)
    with pytest.raises(bnnc.BnncError, match="chips"):
        c.robustness(chips=0, inputs=4)
    with pytest.raises(HardwareConfigError, match="stuck_hrs"):
        c.robustness({"stuck_hrs": -1}, chips=1, inputs=4)
    with pytest.raises(bnnc.BnncError, match="labels"):
        c.robustness(chips=1, inputs={"bits": digits["bits"][:5]}, labels=np.arange(4))


def test_the_golden_check_is_unchanged_by_the_monte_carlo(tmp_path: Path, capsys) -> None:
    assert main([str(MODEL), "--chips", "1", "--device-sweep", "stuck_lrs=0.5", "--json", "-o", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["golden"]["exact"] is True
    summary = json.loads(capsys.readouterr().out)
    assert summary["robustness"]["chips"] == 1 and summary["golden"]["exact"] is True


def test_the_digits_fixture_is_what_its_generator_describes() -> None:
    model = onnx.load(MODEL)
    assert [i.name for i in model.graph.input] == ["bits"] and model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    data = np.load(DIGITS / "digits_test.npz")
    assert data["bits"].shape == (360, 64) and data["labels"].shape == (360,)
    c = bnnc.compile(MODEL)
    logits = run_program(c.module, {"bits": data["bits"]})["logits"]
    assert np.mean(np.argmax(logits, axis=1) == data["labels"]) > 0.9
    assert c.check({"bits": data["bits"]}).exact


def test_wire_resistance_is_reported_per_array(digits) -> None:
    """With MNSIM's 2.82 Ω wires the digits BNN's 128-row arrays are far over half an LSB: the
    arrays whose reads drive rows are flagged, worst first (a read with no row driven has no
    IR drop), and the largest square array under 0.5 LSB is named."""
    c = bnnc.compile(MODEL)
    r = c.robustness({"wire_ohm": 2.82}, chips=1, inputs={"bits": digits["bits"][:8]}).to_json()["ir_drop"]
    arrays = [op for op in c.module.function("main").ops if op.name == "xbar.mvm"]
    assert 1 <= r["arrays_over_half_lsb"] == len(r["flagged"]) <= len(arrays)
    assert {a["array"] for a in r["flagged"]} <= {op.const("conductance") for op in arrays}
    errors = [a["error_lsb"] for a in r["flagged"]]
    assert errors == sorted(errors, reverse=True) and r["max_error_lsb"] == errors[0] > 0.5
    assert 1 <= r["largest_square_under_half_lsb"] < max(a["rows"] for a in r["flagged"])
