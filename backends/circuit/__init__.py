"""Circuit models of one crossbar array with wire resistance (IR drop), and its export as an
ngspice netlist.

The mesh (every module here follows it): ``K`` rows × ``M`` columns; cell ``(i, j)`` a
conductance between row node ``r[i, j]`` and column node ``c[i, j]``; row ``i`` driven at its
left end by an ideal source — V_read for a driven row, 0 V for an undriven one (its driver
grounds it; no row floats) — through one wire segment, and one segment between adjacent cells;
column ``j`` sensed at its bottom end (after row ``K−1``, through one more segment) by a
virtual ground at 0 V, the transimpedance amplifier's input, whose current is the column
current. Every segment is ``wire_ohm``; with ``wire_ohm = 0`` the currents are the ideal
``Σ_i V_i G[i, j]`` exactly.

- :mod:`.mesh`: the exact sparse nodal analysis (factored once, solved for many reads);
- :mod:`.series`: the fast model, a perturbation series with a proven error bound;
- :mod:`.model`: the choice between them for the simulator, by that bound;
- :mod:`.limits`: the largest square array that stays under half an LSB, the arrays a run flags;
- :mod:`.spice`: ngspice netlists of an array read and the currents bnnc expects of them.
"""

from .errors import CircuitError
from .limits import HALF_LSB, fully_driven_error_lsb, ir_drop_summary, largest_square_array
from .mesh import NodalMesh
from .model import IRDropModel, ir_drop_model
from .series import SeriesMesh

__all__ = ["CircuitError", "HALF_LSB", "IRDropModel", "NodalMesh", "SeriesMesh", "fully_driven_error_lsb",
           "ir_drop_model", "ir_drop_summary", "largest_square_array"]
