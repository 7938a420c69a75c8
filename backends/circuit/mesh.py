"""Exact nodal analysis of one crossbar array's resistive mesh (:class:`NodalMesh`).

The circuit (the convention of :mod:`bnnc.backends.circuit`): ``K`` rows × ``M`` columns; cell
``(i, j)`` is a conductance ``G[i, j]`` between row node ``r[i, j]`` and column node
``c[i, j]``. Row ``i`` is driven at its left end by an ideal voltage source ``V_i`` (V_read for a
driven row, 0 V for an undriven one: its driver holds it at ground, it does not float) through
one wire segment to ``r[i, 0]``, and ``r[i, j−1]``–``r[i, j]`` are joined by one segment each.
Column ``j`` runs from ``c[0, j]`` down to ``c[K−1, j]`` (one segment between adjacent cells)
and one more segment to its sense amplifier, a virtual ground (0 V) whose current is the column
current ``I_j``. Every segment is ``wire_ohm``. So each row has ``M`` segments, each column
``K``; the cell farthest from both its driver and its sense amplifier is ``(0, M−1)``.

With ``wire_ohm = 0`` every row node sits at ``V_i`` and every column node at 0 V, so
``I_j = Σ_i V_i · G[i, j]`` — the ideal model ``v_read · ports @ G`` exactly.

The ``2·K·M`` node voltages solve ``A x = b`` (``A`` the sparse, symmetric positive definite
nodal conductance matrix; ``b = V_i / wire_ohm`` at each ``r[i, 0]``). ``A`` is ordered by a
geometric nested dissection of the array and factored once (SuperLU, no pivoting, as ``A`` is
SPD); every solve reuses the factors. Because the circuit is linear in the drive voltages,
the column currents of any read are ``I = V @ T`` with the transfer matrix ``T[i, j]`` = the
current of column ``j`` per volt on row ``i`` alone (:meth:`NodalMesh.transfer`, read off the
factors: the drive and sense nodes are eliminated last)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scipy is imported where a mesh is first solved (~0.2 s), not on every run's start-up
    import scipy.sparse as sparse
    import scipy.sparse.linalg as sparse_linalg

from .errors import CircuitError

RESIDUAL_TOLERANCE = 1e-9
"""Largest accepted relative residual ``‖A x − b‖ / ‖b‖`` of a solve; beyond it the system is
too ill-conditioned for float64 and the solve is refused."""

SOLVE_CHUNK = 4
"""Right-hand sides per SuperLU call (measured: larger blocks are slower per right-hand side)."""


def check_cells(g: np.ndarray, wire_ohm: float) -> np.ndarray:
    """``g`` as a float64 ``[K, M]`` array of finite conductances ≥ 0 (siemens) with a finite
    ``wire_ohm`` ≥ 0; a :class:`CircuitError` otherwise."""
    g = np.asarray(g, np.float64)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise CircuitError(f"cell conductances must be a [rows, cols] array, got shape {list(g.shape)}")
    if not np.isfinite(g).all() or (g < 0).any():
        raise CircuitError("cell conductances must be finite and >= 0 siemens (a negative or infinite cell cannot be "
                           "simulated); check the device's conductance hook")
    if not (np.isfinite(wire_ohm) and wire_ohm >= 0):
        raise CircuitError(f"wire_ohm must be a finite resistance >= 0 ohms per segment, got {wire_ohm!r}")
    return g


class NodalMesh:
    """The mesh of one array with cell conductances ``g`` ``[K, M]`` (siemens) and ``wire_ohm``
    (> 0) per segment; factored on first use."""

    def __init__(self, g: np.ndarray, wire_ohm: float):
        self.g = check_cells(g, wire_ohm)
        if wire_ohm <= 0:
            raise CircuitError("nodal analysis needs wire_ohm > 0 (with 0 the ideal model is exact)")
        self.wire_ohm = float(wire_ohm)
        rows, cols = self.g.shape
        self.row_nodes = np.arange(rows * cols).reshape(rows, cols)
        self.column_nodes = self.row_nodes + rows * cols

    @property
    def shape(self) -> tuple[int, int]:
        return self.g.shape

    @cached_property
    def matrix(self) -> sparse.csc_matrix:
        """The nodal conductance matrix ``A`` (siemens), in natural node order: row nodes
        ``r[i, j]`` at ``i·M + j``, column nodes ``c[i, j]`` at ``K·M + i·M + j``."""
        import scipy.sparse as sparse

        gw = 1.0 / self.wire_ohm
        r, c = self.row_nodes, self.column_nodes
        a = np.concatenate([r[:, :-1].ravel(), c[:-1, :].ravel(), r.ravel()])
        b = np.concatenate([r[:, 1:].ravel(), c[1:, :].ravel(), c.ravel()])
        w = np.concatenate([np.full(r[:, :-1].size + c[:-1, :].size, gw), self.g.ravel()])
        n = 2 * r.size
        diagonal = np.bincount(a, w, n) + np.bincount(b, w, n)
        diagonal[r[:, 0]] += gw  # driver segments
        diagonal[c[-1, :]] += gw  # sense segments
        index = np.arange(n)
        return sparse.coo_matrix((np.concatenate([-w, -w, diagonal]),
                                  (np.concatenate([a, b, index]), np.concatenate([b, a, index]))), shape=(n, n)).tocsc()

    @cached_property
    def _order(self) -> np.ndarray:
        """Nested dissection of the nodes, the port nodes (drive ends, then sense ends) last."""
        ports = np.concatenate([self.row_nodes[:, 0], self.column_nodes[-1]])
        interior = np.ones(2 * self.row_nodes.size, bool)
        interior[ports] = False
        order = nested_dissection(self.row_nodes, self.column_nodes)
        return np.concatenate([order[interior[order]], ports])

    @cached_property
    def _factor(self) -> tuple[sparse_linalg.SuperLU, np.ndarray]:
        import scipy.sparse.linalg as sparse_linalg

        order = self._order
        permuted = self.matrix[order][:, order].tocsc()
        try:
            lu = sparse_linalg.splu(permuted, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                                    options={"SymmetricMode": True})
        except RuntimeError as e:
            raise CircuitError(f"the nodal system of a {self.shape[0]}x{self.shape[1]} array is singular ({e}); "
                               "check the cell conductances and wire_ohm") from None
        natural = np.arange(order.size)
        if not (np.array_equal(lu.perm_r, natural) and np.array_equal(lu.perm_c, natural)):
            raise CircuitError(f"the nodal system of a {self.shape[0]}x{self.shape[1]} array needed pivoting, so it is "
                               "not positive definite; check the cell conductances and wire_ohm")
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        return lu, position

    def node_voltages(self, voltages: np.ndarray) -> np.ndarray:
        """Node voltages ``[R, 2·K·M]`` (natural order) for ``R`` reads with row drive
        voltages ``voltages`` ``[R, K]`` (volts)."""
        voltages = np.atleast_2d(np.asarray(voltages, np.float64))
        if voltages.shape[1] != self.shape[0]:
            raise CircuitError(f"a {self.shape[0]}-row array needs {self.shape[0]} drive voltages per read, "
                               f"got {voltages.shape[1]}")
        lu, position = self._factor
        rhs = np.zeros((self.matrix.shape[0], voltages.shape[0]))
        rhs[position[self.row_nodes[:, 0]]] = voltages.T / self.wire_ohm
        solution = np.empty_like(rhs)
        for start in range(0, rhs.shape[1], SOLVE_CHUNK):
            solution[:, start:start + SOLVE_CHUNK] = lu.solve(np.ascontiguousarray(rhs[:, start:start + SOLVE_CHUNK]))
        x = solution[position].T
        self._check_residual(x, rhs[position].T)
        return x

    def _check_residual(self, x: np.ndarray, b: np.ndarray) -> None:
        residual = np.linalg.norm(x @ self.matrix.T - b, axis=1)
        scale = np.maximum(np.linalg.norm(b, axis=1), np.finfo(float).tiny)
        worst = float((residual / scale).max(initial=0.0))
        if not worst <= RESIDUAL_TOLERANCE:
            raise CircuitError(f"the nodal solve of a {self.shape[0]}x{self.shape[1]} array is ill-conditioned "
                               f"(relative residual {worst:.1e} > {RESIDUAL_TOLERANCE:.0e}); the ratio of wire to cell "
                               "conductance is beyond float64: check wire_ohm and the cell conductances")

    def column_currents(self, voltages: np.ndarray) -> np.ndarray:
        """Column currents ``[R, M]`` (amperes, into the sense amplifiers) of ``R`` reads by a
        direct solve each."""
        x = self.node_voltages(voltages)
        return x[:, self.column_nodes[-1]] / self.wire_ohm

    def transfer(self) -> np.ndarray:
        """``T`` ``[K, M]`` (siemens): ``I = V @ T`` for every read, ``T[i, j] = A⁻¹[r[i, 0],
        c[K−1, j]] / wire_ohm²``. The ``K + M`` port nodes (drive ends ``r[:, 0]``, sense ends
        ``c[K−1, :]``) are eliminated last, so the trailing blocks of the factors give their
        Schur complement ``S = L_pp U_pp``, and ``A⁻¹`` restricted to the ports is ``S⁻¹``: one
        dense ``(K + M)``-sized solve after the factorization. Checked against a direct solve
        of the read with every row at 1 V."""
        lu, position = self._factor
        rows, cols = self.shape
        ports = rows + cols
        schur = lu.L[-ports:, -ports:].toarray() @ lu.U[-ports:, -ports:].toarray()
        transfer = np.linalg.solve(schur, np.eye(ports)[:, rows:])[:rows] / self.wire_ohm**2
        direct = self.column_currents(np.ones((1, rows)))[0]
        scale = max(float(np.abs(direct).max()), np.finfo(float).tiny)
        if not np.abs(transfer.sum(axis=0) - direct).max() <= RESIDUAL_TOLERANCE * scale:
            raise CircuitError(f"the transfer matrix of a {rows}x{cols} array disagrees with a direct solve; the nodal "
                               "system is too ill-conditioned for float64: check wire_ohm and the cell conductances")
        return transfer


def nested_dissection(row_nodes: np.ndarray, column_nodes: np.ndarray, leaf: int = 16) -> np.ndarray:
    """A fill-reducing elimination order of the mesh's nodes: the array is halved across its
    longer side, each half ordered recursively, the separating line last. Across columns the
    row nodes of the middle column separate the halves (column wires run within a column);
    across rows the column nodes of the middle row do. Blocks of at most ``leaf`` cells are
    ordered cell by cell."""
    order: list[np.ndarray] = []

    def dissect(i0: int, i1: int, j0: int, j1: int) -> None:
        height, width = i1 - i0, j1 - j0
        if height * width <= leaf:
            order.append(np.stack([row_nodes[i0:i1, j0:j1], column_nodes[i0:i1, j0:j1]], axis=-1).ravel())
            return
        if width >= height:
            middle = (j0 + j1) // 2
            dissect(i0, i1, j0, middle)
            dissect(i0, i1, middle + 1, j1)
            order.extend([column_nodes[i0:i1, middle], row_nodes[i0:i1, middle]])
        else:
            middle = (i0 + i1) // 2
            dissect(i0, middle, j0, j1)
            dissect(middle + 1, i1, j0, j1)
            order.extend([row_nodes[middle, j0:j1], column_nodes[middle, j0:j1]])

    dissect(0, row_nodes.shape[0], 0, row_nodes.shape[1])
    return np.concatenate(order)
