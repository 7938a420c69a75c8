"""The IR-drop models (``bnnc.backends.circuit``): the exact nodal solve against closed forms and
a dense solve of Kirchhoff's current law written out node by node, the wire_ohm → 0 limit, the
series' proven bound against the exact solve, the automatic choice, errors, the array-size
limit, and the simulator's mesh currents."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bnnc
from bnnc.backends.circuit import (CircuitError, NodalMesh, SeriesMesh, fully_driven_error_lsb, ir_drop_model,
                                   ir_drop_summary, largest_square_array)
from bnnc.backends.circuit import mesh as mesh_module
from bnnc.backends.simulator import DeviceModel, simulate
from bnnc.backends.simulator.device import DeviceSession, column_currents
from bnnc.ir import Domain, Function, Location, Module, Return, TensorType, lookup_op
from bnnc.program import run_program

G_ON, G_OFF, V_READ = 1e-4, 1e-6, 0.15
LSB = V_READ * (G_ON - G_OFF)


def random_cells(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """On/off cells with 20 % log-normal variation, some stuck on, some open (0 S)."""
    g = np.where(rng.random((rows, cols)) < 0.5, G_ON, G_OFF) * rng.lognormal(0, 0.2, (rows, cols))
    g[rng.random((rows, cols)) < 0.05] = G_ON
    g[rng.random((rows, cols)) < 0.02] = 0.0
    return g


def kcl_currents(g: np.ndarray, wire_ohm: float, voltages: np.ndarray) -> np.ndarray:
    """The column currents by a dense solve of Kirchhoff's current law, one equation per node
    written from the circuit: each row a driver then a segment to every cell, each column a
    segment between cells and one to the 0 V sense amplifier."""
    rows, cols = g.shape
    gw = 1.0 / wire_ohm
    index = {}
    for i in range(rows):
        for j in range(cols):
            index["r", i, j] = len(index)
            index["c", i, j] = len(index)
    a = np.zeros((len(index), len(index)))
    b = np.zeros(len(index))

    def resistor(node: tuple, other: tuple | None, conductance: float, fixed: float = 0.0) -> None:
        """A conductance between ``node`` and ``other`` (None: a node held at ``fixed`` volts)."""
        n = index[node]
        a[n, n] += conductance
        if other is None:
            b[n] += conductance * fixed
        else:
            m = index[other]
            a[m, m] += conductance
            a[n, m] -= conductance
            a[m, n] -= conductance

    for i in range(rows):
        resistor(("r", i, 0), None, gw, voltages[i])
        for j in range(1, cols):
            resistor(("r", i, j - 1), ("r", i, j), gw)
        for j in range(cols):
            resistor(("r", i, j), ("c", i, j), g[i, j])
    for j in range(cols):
        for i in range(1, rows):
            resistor(("c", i - 1, j), ("c", i, j), gw)
        resistor(("c", rows - 1, j), None, gw, 0.0)
    x = np.linalg.solve(a, b)
    return np.array([x[index["c", rows - 1, j]] * gw for j in range(cols)])


def test_one_cell_is_its_resistance_in_series_with_two_segments() -> None:
    for wire in (0.5, 2.82, 1e3):
        current = NodalMesh(np.array([[G_ON]]), wire).column_currents(np.array([[V_READ]]))
        assert current[0, 0] == pytest.approx(V_READ / (1 / G_ON + 2 * wire), rel=1e-12)


def test_two_cells_on_one_row_share_the_first_segment() -> None:
    """Cell 0 sees ``r`` to its driver; cell 1 ``2r`` of row wire; each ``r`` to its sense."""
    wire, r0, r1 = 10.0, 1e4, 2e4
    current = NodalMesh(np.array([[1 / r0, 1 / r1]]), wire).column_currents(np.array([[1.0]]))[0]
    # node voltage x at r[0,0]: (1 − x)/w = (x)/(r0 + w) + (x − 0)/(w + r1 + w)  (cell 1 branch: w, r1, w)
    x = (1 / wire) / (1 / wire + 1 / (r0 + wire) + 1 / (r1 + 2 * wire))
    assert current == pytest.approx([x / (r0 + wire), x / (r1 + 2 * wire)], rel=1e-12)


@pytest.mark.parametrize("rows,cols", [(1, 5), (4, 1), (3, 4), (6, 6), (7, 3)])
def test_nodal_solve_equals_the_dense_kirchhoff_solution(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * 10 + cols)
    g = random_cells(rng, rows, cols)
    for wire in (0.1, 2.82, 500.0):
        voltages = rng.choice([0.0, V_READ], (3, rows))
        mesh = NodalMesh(g, wire)
        expected = np.array([kcl_currents(g, wire, v) for v in voltages])
        assert np.allclose(mesh.column_currents(voltages), expected, rtol=1e-10, atol=1e-18)
        assert np.allclose(voltages @ mesh.transfer(), expected, rtol=1e-10, atol=1e-18)


@pytest.mark.parametrize("rows,cols", [(40, 24), (24, 40)])
def test_transfer_matrix_equals_direct_solves_of_every_read(rows: int, cols: int) -> None:
    """Tall and wide arrays: the transfer read off the factors against direct solves."""
    rng = np.random.default_rng(5)
    mesh = NodalMesh(random_cells(rng, rows, cols), 2.82)
    voltages = rng.choice([0.0, V_READ], (20, rows))
    direct = mesh.column_currents(voltages)
    assert np.allclose(voltages @ mesh.transfer(), direct, rtol=1e-10, atol=1e-18)


def test_zero_wire_is_the_ideal_model_and_small_wires_approach_it() -> None:
    rng = np.random.default_rng(1)
    g = random_cells(rng, 16, 12)
    voltages = rng.choice([0.0, V_READ], (8, 16))
    ideal = voltages @ g
    model = ir_drop_model(g, 0.0, V_READ, LSB)
    assert model.method == "ideal" and np.array_equal(voltages @ model.transfer, ideal)
    errors = [np.abs(NodalMesh(g, wire).column_currents(voltages) - ideal).max() for wire in (1e-2, 1e-3, 1e-4)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-5 * np.abs(ideal).max()
    assert errors[0] / errors[1] == pytest.approx(10, rel=0.05)  # first order in the wire resistance


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.floats(1e-3, 30.0), st.integers(0, 2**32 - 1))
def test_series_error_is_within_its_proven_bound(rows: int, cols: int, wire: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = random_cells(rng, rows, cols)
    series = SeriesMesh(g, wire)
    if series.contraction >= 1:
        with pytest.raises(CircuitError, match="does not converge"):
            series.column_currents(np.full((1, rows), V_READ), 2)
        return
    voltages = rng.choice([0.0, V_READ], (6, rows))
    voltages[0] = V_READ
    exact = NodalMesh(g, wire).column_currents(voltages)
    rounding = 1e-12 * np.abs(exact).max()  # of the exact solve itself
    for terms in range(5):
        error = np.abs(series.column_currents(voltages, terms) - exact).max()
        assert error <= series.bound(terms, V_READ) * (1 + 1e-9) + rounding


def test_series_converges_geometrically_to_the_exact_solve() -> None:
    rng = np.random.default_rng(2)
    g = random_cells(rng, 32, 32)
    series = SeriesMesh(g, 1.0)
    assert 0.01 < series.contraction < 0.5
    exact = NodalMesh(g, 1.0).column_currents(np.full((1, 32), V_READ))
    errors = [np.abs(series.column_currents(np.full((1, 32), V_READ), n) - exact).max() for n in range(6)]
    assert all(later < earlier * series.contraction * 1.01 for earlier, later in zip(errors, errors[1:]))


def test_model_choice_follows_the_bound() -> None:
    rng = np.random.default_rng(3)
    g = random_cells(rng, 32, 32)
    exact = NodalMesh(g, 2.82).transfer()
    assert ir_drop_model(g, 2.82, V_READ, LSB).method == "exact"  # contraction above 1: no series
    small = ir_drop_model(g, 0.001, V_READ, LSB)
    assert small.method == "series" and small.terms == 1 and 0 < small.bound <= 1e-3 * LSB
    reads = np.full((1, 32), V_READ)
    truth = NodalMesh(g, 0.001).column_currents(reads)
    assert np.abs(reads @ small.transfer - truth).max() <= small.bound
    assert ir_drop_model(g, 0.001, V_READ, LSB, tolerance_lsb=1e-12).method == "exact"  # beyond first order
    assert np.allclose(ir_drop_model(g, 2.82, V_READ, LSB).transfer, exact, rtol=1e-12)


def test_invalid_circuits_are_refused_with_one_line() -> None:
    g = np.full((3, 3), G_ON)
    bad = g.copy()
    bad[1, 1] = -1e-4
    for cells, wire, message in ((bad, 1.0, "finite and >= 0"), (g * np.nan, 1.0, "finite and >= 0"),
                                 (g, -1.0, "wire_ohm must be"), (g, float("inf"), "wire_ohm must be"),
                                 (np.ones(3), 1.0, r"\[rows, cols\]")):
        with pytest.raises(CircuitError, match=message):
            ir_drop_model(cells, wire, V_READ, LSB)
    with pytest.raises(CircuitError, match="needs wire_ohm > 0"):
        NodalMesh(g, 0.0)
    with pytest.raises(CircuitError, match="needs 3 drive voltages"):
        NodalMesh(g, 1.0).column_currents(np.zeros((1, 4)))


def test_an_ill_conditioned_solve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wire of 1e-15 Ω against 1 MΩ cells leaves float64 nothing of the cells' currents:
    forced through the exact solve with a residual tolerance no solve can meet, it is refused."""
    monkeypatch.setattr(mesh_module, "RESIDUAL_TOLERANCE", 0.0)
    with pytest.raises(CircuitError, match="ill-conditioned"):
        NodalMesh(np.full((4, 4), G_OFF), 1e-15).column_currents(np.full((1, 4), V_READ))


def test_largest_square_array_is_the_last_size_under_half_an_lsb() -> None:
    for ratio in (1e-5, 1e-4):
        wire = ratio * 1e4
        n = largest_square_array(wire, 1e4, 1e6)
        assert 2 <= n < 128
        assert fully_driven_error_lsb(n, wire, 1e4, 1e6) < 0.5 <= fully_driven_error_lsb(n + 1, wire, 1e4, 1e6)
    assert largest_square_array(1e-2, 1e4, 1e6) > largest_square_array(1e-1, 1e4, 1e6)
    assert largest_square_array(1e-9, 1e4, 1e6, largest=64) == 64
    assert largest_square_array(1e4, 1e4, 1e6) == 0


def test_fully_driven_error_grows_with_the_array_and_the_wire() -> None:
    errors = [fully_driven_error_lsb(n, 2.82, 1e4, 1e6) for n in (8, 16, 32)]
    assert errors[0] < errors[1] < errors[2]
    assert fully_driven_error_lsb(16, 0.282, 1e4, 1e6) < errors[1]


# --------------------------------------------------------------------------- the simulator


def one_array_module(cells: np.ndarray) -> Module:
    """``main(ports) = adc(mvm(ports))``, a 12-bit ADC on one array."""
    module = Module()
    symbol = module.add_constant("cells", cells, Domain.BIT)
    func = module.add_function(Function("main", [TensorType(Domain.BIT, (1, 1, cells.shape[0]))]))
    cell_type = module.constants[symbol].type
    mvm = func.append(lookup_op("xbar.mvm").build(func.args, {}, [symbol], Location.of("Gemm_0"), [cell_type]))
    adc = func.append(lookup_op("xbar.adc").build(mvm.results, {"bits": 12}, [], Location.of("Gemm_0")))
    func.append(Return(adc.results))
    return module


def test_simulator_reads_currents_through_the_mesh() -> None:
    rng = np.random.default_rng(4)
    bits = (rng.random((24, 10)) < 0.6).astype(np.uint8)
    module = one_array_module(bits)
    ports = (rng.random((30, 1, 1, 24)) < 0.7).astype(np.uint8)
    integer = simulate(module, [ports])[0]
    assert np.array_equal(simulate(module, [ports], device=DeviceModel(wire_ohm=0.0))[0], integer)
    assert np.array_equal(simulate(module, [ports], device=DeviceModel(wire_ohm=1e-6))[0], integer)

    device = DeviceModel(wire_ohm=20.0)
    op = module.function("main").ops[0]
    session = DeviceSession(device)
    currents = column_currents(session, op, ports)
    g = np.where(bits.astype(bool), device.g_on, device.g_off)
    drives = device.v_read * ports[:, 0, 0].astype(np.float64)
    exact = NodalMesh(g, device.wire_ohm).column_currents(drives)
    # the simulator's column currents are float32 (backends/simulator/device.py)
    assert np.allclose(currents.currents[:, 0, 0], exact, rtol=1e-6, atol=0)
    worst = np.abs(exact - drives @ g).max() / (device.v_read * device.delta_g)
    assert session.ir_drop_error_lsb[op] == pytest.approx(worst, rel=1e-5) and worst > 0.5
    counts = simulate(module, [ports], device=device)[0]
    expected = np.rint((exact - ports[:, 0, 0].sum(1, keepdims=True) * device.g_off * device.v_read)
                       / (device.v_read * device.delta_g))
    assert np.array_equal(counts[:, 0, 0], expected) and not np.array_equal(counts, integer)


@pytest.mark.parametrize("terms", [0, 1])
def test_series_transfer_is_the_series_of_every_read(terms: int) -> None:
    rng = np.random.default_rng(6)
    series = SeriesMesh(random_cells(rng, 20, 14), 1.0)
    voltages = rng.choice([0.0, V_READ], (10, 20))
    assert np.allclose(voltages @ series.transfer(terms), series.column_currents(voltages, terms), rtol=1e-12, atol=1e-20)


def test_compiled_model_through_the_mesh(zoo_dir) -> None:
    """A tiny wire changes no decision; a large one records an error of more than half an LSB
    and changes outputs; every array's worst error is recorded."""
    c = bnnc.compile(zoo_dir / "cnn_pad1_stride1.onnx", array=(32, 32))
    inputs = c.random_inputs(8, seed=3)
    mvms = [op for op in c.module.function("main").ops if op.name == "xbar.mvm"]
    ideal = run_program(c.module, inputs)

    def runner(wire: float):
        return lambda module, stacked: simulate(module, stacked, device=DeviceModel(wire_ohm=wire))

    tiny = run_program(c.module, inputs, runner(1e-7))
    assert all(np.array_equal(tiny[k], ideal[k]) for k in ideal)
    session = DeviceSession(DeviceModel(wire_ohm=40.0))
    for op in mvms:
        bits = (np.random.default_rng(0).random((4, 1, 1, op.const_type("conductance").shape[0])) < 0.5).astype(np.uint8)
        column_currents(session, op, bits)
    assert set(session.ir_drop_error_lsb) == set(mvms) and max(session.ir_drop_error_lsb.values()) > 0.5
    summary = ir_drop_summary(session.ir_drop_error_lsb, 40.0, 1e4, 1e6)
    over = [op for op in mvms if session.ir_drop_error_lsb[op] >= 0.5]
    assert summary["arrays_over_half_lsb"] == len(over) == len(summary["flagged"]) >= 1
    assert summary["max_error_lsb"] == summary["flagged"][0]["error_lsb"] == max(session.ir_drop_error_lsb.values())
    assert {f["array"] for f in summary["flagged"]} == {op.const("conductance") for op in over}
    assert summary["largest_square_under_half_lsb"] == largest_square_array(40.0, 1e4, 1e6)
    assert ir_drop_summary({}, 0.0, 1e4, 1e6) == {"max_error_lsb": 0.0, "arrays_over_half_lsb": 0, "flagged": [],
                                                   "largest_square_under_half_lsb": None}
    large = run_program(c.module, inputs, runner(40.0))
    assert any(not np.array_equal(large[k], ideal[k]) for k in ideal)
