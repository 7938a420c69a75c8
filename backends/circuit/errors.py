"""The circuit models' error: :class:`CircuitError`."""

from __future__ import annotations

from bnnc.ir import BnncError


class CircuitError(BnncError):
    """A crossbar circuit that cannot be solved as asked: invalid conductances or wire
    resistance, a singular or ill-conditioned nodal system, a series model that does not
    converge. One line naming what was wrong and what to do; exit code 2."""
