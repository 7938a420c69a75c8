"""Pareto optimality of design points on two objectives."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_optimal(points: Sequence[tuple[float, float]], maximize: tuple[bool, bool] = (False, False)) -> list[bool]:
    """For each point, whether no other point is at least as good on both objectives and
    better on one (``maximize`` says, per coordinate, whether larger is better). Equal points
    are all optimal or all not."""
    signed = [tuple(-v if m else v for v, m in zip(p, maximize)) for p in points]
    return [not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in signed) for p in signed]
