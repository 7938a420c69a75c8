"""``tile``: cut every layer's conductance pattern into ``rows × cols`` arrays.

Rows (ports) split into row tiles, outputs into column tiles; refcol keeps a reference column
in every array (``cols − 1`` outputs per array), diff keeps each output's two columns together
(``cols // 2`` outputs). Where a layer's fan-in fits one array and its input is one plane, each
column's 1-bit comparator senses the analog current directly; otherwise every array read is
digitized by an ADC of ``ceil(log2(rows + 1))`` bits and the partial sums (row tiles, bit-planes)
are accumulated digitally before the comparison. ``pack`` lets small layers share arrays (in
disjoint rows and columns); both counts are reported either way.
"""

from __future__ import annotations

import math

import numpy as np

from bnnc.ir import Domain, Module, Operation, Value
from bnnc.ir.dialects import xbar
from bnnc.ir.schemes import SCHEMES

from .base import Pass, PassContext, register_pass

SENSING = (xbar.Compare, xbar.Readout)


def adc_bits(rows: int) -> int:
    """Bits an ADC needs for a column count of up to ``rows``."""
    return max(1, math.ceil(math.log2(rows + 1)))


def layer_of(op: Operation) -> str:
    return op.location.names[0] if op.location.known else op.name


def pack_arrays(tiles: list[tuple[int, int]], rows: int, cols: int) -> int:
    """Arrays needed when tiles of different layers may share one array in disjoint rows and
    columns (first fit, largest tiles first)."""
    free: list[list[int]] = []  # per array: [rows left, cols left]
    for k, m in sorted(tiles, key=lambda t: t[0] * t[1], reverse=True):
        for space in free:
            if space[0] >= k and space[1] >= m:
                space[0] -= k
                space[1] -= m
                break
        else:
            free.append([rows - k, cols - m])
    return len(free)


@register_pass
class Tile(Pass):
    """Cut each layer's cells into rows×cols arrays: comparators where one array and one plane suffice, ADCs and digital accumulation otherwise."""

    name = "tile"
    rows: int = 128
    cols: int = 128
    pack: bool = False

    def run(self, module: Module, context: PassContext) -> None:
        facts = context.facts.setdefault("layers", {})
        shapes: list[tuple[int, int]] = []
        for function in module.functions:
            for op in function.walk():
                if isinstance(op, SENSING) and op.parent is function and isinstance(op.operands[0].producer, xbar.Mvm):
                    info, tiles = self._tile(module, op)
                    facts.setdefault(layer_of(op.operands[0].producer), {}).update(info)
                    shapes.extend(tiles)
        dense = len(shapes)
        packed = pack_arrays(shapes, self.rows, self.cols)
        context.facts["arrays"] = {"dense": dense, "packed": packed, "pack": self.pack, "rows": self.rows, "cols": self.cols}

    def _tile(self, module: Module, sensing: Operation) -> tuple[dict, list[tuple[int, int]]]:
        mvm = sensing.operands[0].producer
        function = sensing.parent
        if len(mvm.result.uses) != 1:
            raise ValueError(f"the column counts of {mvm.location.describe()} have other users")
        ports, pattern = mvm.operands[0], mvm.const_array("conductance")
        planes, _, fan_rows = ports.type.shape
        scheme = sensing.attr("scheme")
        table = sensing.const_array(sensing.const_defs[0].name)
        outputs = table.shape[0]
        mapping = SCHEMES[scheme]
        per_array = mapping.outputs_per_array(self.cols)
        row_starts = list(range(0, fan_rows, self.rows))
        # a comparator senses one analog read; sums over row tiles or bit-planes, and readouts,
        # go through ADCs
        digital = len(row_starts) > 1 or planes > 1 or isinstance(sensing, xbar.Readout)
        name = layer_of(mvm)
        location = mvm.location
        replicas = mvm.attr("replicas")

        def insert(op: Operation) -> Value:
            return function.insert_before(sensing, op).result

        row_ports = [
            insert(xbar.Slice.build([ports], {"axis": 2, "start": s, "size": min(self.rows, fan_rows - s)}, [], location))
            if len(row_starts) > 1 else ports
            for s in row_starts
        ]
        pieces: list[Value] = []
        shapes: list[tuple[int, int]] = []
        for j, first in enumerate(range(0, outputs, per_array)):
            outs = np.arange(first, min(first + per_array, outputs))
            columns = mapping.column_indices(outs, pattern.shape[1])
            partials = []
            for r, (start, slice_ports) in enumerate(zip(row_starts, row_ports)):
                cells = pattern[start : start + self.rows][:, columns]
                symbol = module.add_constant(f"{name}.t{r}_{j}", cells, Domain.BIT)
                counts = insert(xbar.Mvm.build([slice_ports], {"tile": (r, j), "replicas": replicas}, [symbol], location,
                                               [module.constants[symbol].type]))
                if digital:
                    counts = insert(xbar.Adc.build([counts], {"bits": adc_bits(cells.shape[0])}, [], location))
                partials.append(counts)
                shapes.append(cells.shape)
            counts = insert(xbar.Accumulate.build(partials, {}, [], location)) if len(partials) > 1 else partials[0]
            part_table = module.add_constant(f"{sensing.const(sensing.const_defs[0].name)}.t{j}", table[outs], Domain.I32)
            consts = [part_table, sensing.const("classes")]
            pieces.append(insert(type(sensing).build([counts], dict(sensing.attributes), consts, sensing.location,
                                                     [module.constants[c].type for c in consts])))
        axis = 2 if isinstance(sensing, xbar.Compare) else 1
        result = insert(xbar.Concat.build(pieces, {"axis": axis}, [], sensing.location)) if len(pieces) > 1 else pieces[0]
        sensing.result.replace_all_uses_with(result)
        function.erase(sensing)
        function.erase(mvm)
        col_tiles = len(pieces)
        info = {
            "tiles": [len(row_starts), col_tiles],
            "replicas": replicas,
            "arrays": len(row_starts) * col_tiles * replicas,
            "sensing": "adc" if digital else "comparator",
            "adc_bits": max(adc_bits(min(self.rows, fan_rows - s)) for s in row_starts) if digital else 0,
            "planes": int(planes),
            "cells_used": sum(k * m for k, m in shapes),
            "cells_allocated": len(shapes) * self.rows * self.cols,
            "reference_columns": len(shapes) if mapping.reference_column else 0,
        }
        return info, shapes
