"""Semantics of the core IR's op (``return``) and what every dialect's semantics share: arrays
converted into a value domain exactly (:func:`to_domain`), or refused."""

from __future__ import annotations

import numpy as np

from bnnc.ir import Domain, Operation, Return

from .registry import InterpreterError, implements

DOMAIN_VALUES = {Domain.PM1: np.array([-1, 1]), Domain.TERN: np.array([-1, 0, 1]), Domain.BIT: np.array([0, 1])}
"""The domains restricted to a few values (the others are their dtype's whole range)."""


def to_domain(array: np.ndarray, domain: Domain) -> np.ndarray:
    """``array`` converted to ``domain``'s dtype keeping every value exactly; raises
    ``ValueError`` naming a value that the domain cannot represent (0.5 for an integer domain,
    300 for ``u8``, 0 for ``pm1``, 2**24 + 1 for ``f32``). NaN and infinities convert only to
    ``f32``."""
    array = np.asarray(array)
    cast, exact = exact_cast(array, domain.dtype)
    allowed = DOMAIN_VALUES.get(domain)
    if allowed is not None:
        exact &= np.isin(cast, allowed)
    if not exact.all():
        bad = array.reshape(-1)[~exact.reshape(-1)][0].item()
        raise ValueError(f"value {bad!r} is not in domain {domain.value}")
    return cast


def exact_cast(array: np.ndarray, dtype: np.dtype | type) -> tuple[np.ndarray, np.ndarray]:
    """``array.astype(dtype)`` and a mask of the elements it kept exactly (a round trip back
    to the source dtype gives them back; NaN survives only between float types)."""
    with np.errstate(invalid="ignore", over="ignore"):
        converted = array.astype(dtype)
        back = converted.astype(array.dtype)
    exact = back == array
    if array.dtype.kind == "f":
        if converted.dtype.kind == "f":
            exact |= np.isnan(array) & np.isnan(back)
        else:
            exact &= np.isfinite(array)
    return converted, exact


def converted(op: Operation, array: np.ndarray, domain: Domain) -> np.ndarray:
    """:func:`to_domain` for a result of ``op``: a value outside ``domain`` is an
    :class:`InterpreterError` naming ``op``."""
    try:
        return to_domain(array, domain)
    except ValueError as e:
        raise InterpreterError.at(op, str(e)) from None


@implements(Return)
def _return(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """The function's results."""
    return list(args)
