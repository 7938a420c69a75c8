"""The fast IR-drop model: the mesh's perturbation series in the wire resistance, truncated
with a proven error bound (:class:`SeriesMesh`).

Let ``u[i, j]`` be the voltage across cell ``(i, j)`` and ``c = G ∘ u`` the cell currents.
Along row ``i``, segment ``s`` (``s = 0`` joins the driver to cell 0) carries the currents of
cells ``s … M−1``; along column ``j``, segment ``t`` (``t = K−1`` joins the last cell to the
sense amplifier) those of cells ``0 … t``. Hence, exactly,

    u = V − r · H c,   (H c)[i, j] = Σ_j' (min(j, j') + 1) c[i, j'] + Σ_i' (K − max(i, i')) c[i', j]

(``r`` = wire_ohm, ``V[i, j] = V_i``), i.e. ``c = D^½ (I + A)⁻¹ D^½ V`` with ``D = diag(G)`` and
``A = r D^½ H D^½`` symmetric positive semidefinite. ``H`` is the Kronecker sum of two
"min" kernels, whose largest eigenvalue on ``N`` points is ``1 / (4 sin²(π / (4N + 2)))``
(the inverse of the path Laplacian with one grounded end), so

    ‖A‖ ≤ ε = r · max(G) · (λ(M) + λ(K)).

The fixed-point iteration ``u ← V − r H (G ∘ u)`` from ``u = V`` gives after ``n`` steps the
series ``Σ_{m ≤ n} (−A)^m`` exactly, whose remainder is ``D^½ (−A)^{n+1} (I + A)⁻¹ D^½ V``;
as ``A``'s eigenvalues lie in ``[0, ε]``, every column current is within

    |ΔI_j| ≤ ε^{n+1} / (1 + ε) · sqrt(Σ_i G[i, j]) · sqrt(Σ_ij G[i, j] V_i²)

of the exact mesh — with every row driven at V_read the worst read. The bound is a priori:
``n`` is chosen from it before any work; with ``ε ≥ 1`` the series need not converge and the
model refuses (:class:`~bnnc.backends.circuit.CircuitError`). The simulator uses at most one
iteration (:data:`MAX_TERMS`), whose transfer matrix has a closed form."""

from __future__ import annotations

import math

import numpy as np

from .errors import CircuitError
from .mesh import check_cells

MAX_TERMS = 1
"""The most iterations :func:`bnnc.backends.circuit.ir_drop_model` uses: the first-order
transfer matrix has a closed form costing ``O(K·M)``, while each further iteration costs
``O(K²·M)``, more than the whole exact factorization (measured, ``bench/irdrop.py``: 0.4 s
for 3 iterations against 0.14 s exact at 128×128)."""


def min_kernel_norm(points: int) -> float:
    """The largest eigenvalue of ``L[j, j'] = min(j, j') + 1`` on ``points`` points: the wire
    path's resistance kernel in units of one segment."""
    return 1.0 / (4.0 * math.sin(math.pi / (4 * points + 2)) ** 2)


def wire_drops(c: np.ndarray, wire_ohm: float) -> np.ndarray:
    """``r · H c`` for cell currents ``c`` ``[..., K, M]``: the voltage each cell loses to the
    row wire from its driver plus the voltage its column wire lifts it above the sense
    amplifier."""
    return wire_ohm * (np.cumsum(_suffix_sums(c, -1), axis=-1) + _suffix_sums(np.cumsum(c, axis=-2), -2))


def _suffix_sums(x: np.ndarray, axis: int) -> np.ndarray:
    """``y[k] = Σ_{k' ≥ k} x[k']`` along ``axis`` (the total minus the prefix before ``k``)."""
    prefix = np.cumsum(x, axis=axis)
    total = np.take(prefix, [-1], axis=axis)
    return total - prefix + x


class SeriesMesh:
    """The truncated series for an array with conductances ``g`` ``[K, M]`` and ``wire_ohm``."""

    def __init__(self, g: np.ndarray, wire_ohm: float):
        self.g = check_cells(g, wire_ohm)
        self.wire_ohm = float(wire_ohm)
        rows, cols = self.g.shape
        self.contraction = self.wire_ohm * float(self.g.max()) * (min_kernel_norm(cols) + min_kernel_norm(rows))
        """``ε``, the bound of ``‖A‖``; the series converges for ``ε < 1``."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.g.shape

    def bound(self, terms: int, voltages: np.ndarray | float) -> float:
        """The largest error (amperes) of any column current after ``terms`` iterations, for
        row drive voltages ``voltages`` ``[K]`` (or every row at one voltage)."""
        v2 = np.broadcast_to(np.asarray(voltages, np.float64) ** 2, (self.shape[0],))
        eps = self.contraction
        energy = float(v2 @ self.g.sum(axis=1))
        return eps ** (terms + 1) / (1 + eps) * math.sqrt(float(self.g.sum(axis=0).max()) * energy)

    def terms_for(self, tolerance: float, v_read: float, most: int = MAX_TERMS) -> int | None:
        """The fewest iterations whose bound, for every row driven at ``v_read``, is at most
        ``tolerance`` (amperes); None when the series diverges (``ε ≥ 1``) or needs more than
        ``most``."""
        if self.contraction >= 1.0:
            return None
        return next((n for n in range(most + 1) if self.bound(n, v_read) <= tolerance), None)

    def cell_currents(self, voltages: np.ndarray, terms: int) -> np.ndarray:
        """Cell currents ``[R, K, M]`` after ``terms`` iterations for ``R`` reads' drive
        voltages ``[R, K]``; refuses a divergent series."""
        if self.contraction >= 1.0:
            raise CircuitError(f"the IR-drop series of a {self.shape[0]}x{self.shape[1]} array does not converge "
                               f"(contraction bound {self.contraction:.3g} >= 1 at wire_ohm {self.wire_ohm:g}); "
                               "use the exact nodal solve")
        v = np.asarray(voltages, np.float64)[:, :, None]
        u = np.broadcast_to(v, v.shape[:1] + self.shape)
        for _ in range(terms):
            u = v - wire_drops(self.g * u, self.wire_ohm)
        return self.g * u

    def column_currents(self, voltages: np.ndarray, terms: int) -> np.ndarray:
        """Column currents ``[R, M]`` (amperes) after ``terms`` iterations."""
        return self.cell_currents(np.atleast_2d(voltages), terms).sum(axis=1)

    def transfer(self, terms: int) -> np.ndarray:
        """``T`` ``[K, M]`` (siemens) with ``I ≈ V @ T`` after ``terms`` ≤ :data:`MAX_TERMS`
        iterations, in closed form: from unit drives, one iteration gives
        ``G ∘ (1 − r·H G)`` (both kernels are symmetric). The series is linear in the drives,
        so every read's error obeys :meth:`bound`."""
        if not 0 <= terms <= MAX_TERMS:
            raise ValueError(f"the series transfer has a closed form up to {MAX_TERMS} iteration, got {terms}")
        return self.g * (1 - terms * wire_drops(self.g, self.wire_ohm))
