"""Source locations: the ONNX node names an IR op came from.

Textual form: ``loc("Conv_2")`` for one node, ``loc(fused["BatchNormalization_2", "Sign_3"])``
for an op that several nodes were fused into. An op with no known origin prints no location.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """The ONNX node names an op stems from; empty when unknown."""

    names: tuple[str, ...] = ()

    @staticmethod
    def of(*names: str) -> Location:
        return Location(tuple(names))

    @staticmethod
    def fuse(*locations: Location) -> Location:
        """The location of an op made from several: all names, in order, without repeats."""
        names: list[str] = []
        for location in locations:
            names.extend(n for n in location.names if n not in names)
        return Location(tuple(names))

    @property
    def known(self) -> bool:
        return bool(self.names)

    def describe(self) -> str:
        """Human-readable form for diagnostics, e.g. ``node 'Conv_2'``."""
        if not self.names:
            return "unknown location"
        if len(self.names) == 1:
            return f"node '{self.names[0]}'"
        return "nodes " + ", ".join(f"'{n}'" for n in self.names)

    def __str__(self) -> str:
        if not self.names:
            return "loc(unknown)"
        if len(self.names) == 1:
            return f"loc({json.dumps(self.names[0])})"
        return "loc(fused[" + ", ".join(json.dumps(n) for n in self.names) + "])"


UNKNOWN = Location()
